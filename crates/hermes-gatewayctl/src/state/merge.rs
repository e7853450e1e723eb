//! Merging gatewayctl's two members into the text of a state file that
//! Hermes's Python gateway writes too. Only the top-level object is read,
//! lexically: its keys are decoded to find `desired_state` and
//! `updated_at`, and every other member's key and value text is copied as
//! it was. Nothing is parsed into numbers or strings, so whatever Python
//! writes or accepts (`NaN`, `1e999`, integers past 64 bits, lone surrogate
//! escapes, nesting past any parser's depth limit) comes back byte for byte.

/// The text is no top-level JSON object, even read leniently: there is no
/// member that could be kept, and no safe place to put ours.
#[derive(Debug, PartialEq, Eq)]
pub struct NotAnObject;

/// gatewayctl's members of the state file.
#[derive(Debug, Clone, Copy)]
pub struct Owned<'a> {
    pub desired_state: &'a str,
    pub updated_at: u64,
}

/// Which of gatewayctl's members a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    DesiredState,
    UpdatedAt,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Appends to `out` the state file `text` with `owned` in it, written
/// compactly as Python writes it (`{"k":v,...}`, no newline). Each owned
/// member takes the place of its first occurrence (Python keeps the last of
/// duplicate keys, so later ones would undo ours: they are dropped) or goes
/// last. A leading UTF-8 BOM stays; no text at all (or only whitespace)
/// gives a fresh object.
///
/// # Errors
/// `text` is not a top-level object; `out` may then hold part of one.
pub fn merge(text: &[u8], owned: Owned<'_>, out: &mut Vec<u8>) -> Result<(), NotAnObject> {
    let mut scan = Scan { text, at: 0 };
    if text.starts_with(BOM) {
        out.extend_from_slice(BOM);
        scan.at = BOM.len();
    }
    scan.skip_whitespace();
    out.push(b'{');
    let mut written = Written::default();
    if !scan.is_at_end() {
        scan.require(b'{')?;
        scan.skip_whitespace();
        if !scan.eat(b'}') {
            loop {
                let key = scan.string()?;
                scan.skip_whitespace();
                scan.require(b':')?;
                scan.skip_whitespace();
                let value = scan.value()?;
                match owned_member(key) {
                    Some(member) => written.owned(out, member, owned),
                    None => written.other(out, key, value),
                }
                scan.skip_whitespace();
                if scan.eat(b'}') {
                    break;
                }
                scan.require(b',')?;
                scan.skip_whitespace();
            }
        }
        scan.skip_whitespace();
        if !scan.is_at_end() {
            return Err(NotAnObject);
        }
    }
    written.owned(out, Member::DesiredState, owned);
    written.owned(out, Member::UpdatedAt, owned);
    out.push(b'}');
    Ok(())
}

/// The members written so far.
#[derive(Default)]
struct Written {
    any: bool,
    desired_state: bool,
    updated_at: bool,
}

impl Written {
    fn separate(&mut self, out: &mut Vec<u8>) {
        if self.any {
            out.push(b',');
        }
        self.any = true;
    }

    fn other(&mut self, out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
        self.separate(out);
        out.extend_from_slice(key);
        out.push(b':');
        out.extend_from_slice(value);
    }

    /// Writes `member` unless it is written already. It is written whole,
    /// its key plain, so that the file reads as Python would write it.
    fn owned(&mut self, out: &mut Vec<u8>, member: Member, owned: Owned<'_>) {
        let done = match member {
            Member::DesiredState => &mut self.desired_state,
            Member::UpdatedAt => &mut self.updated_at,
        };
        if std::mem::replace(done, true) {
            return;
        }
        self.separate(out);
        match member {
            Member::DesiredState => {
                // Our values are plain ASCII words: nothing to escape.
                out.extend_from_slice(b"\"desired_state\":\"");
                out.extend_from_slice(owned.desired_state.as_bytes());
                out.push(b'"');
            }
            Member::UpdatedAt => {
                out.extend_from_slice(b"\"updated_at\":");
                out.extend_from_slice(owned.updated_at.to_string().as_bytes());
            }
        }
    }
}

/// The value text of the last member of the top-level object `text` named
/// by each of `names` (Python keeps the last of duplicate keys), read as
/// Python's `json.loads` would: a leading BOM is no object.
///
/// # Errors
/// `text` is not a top-level object.
pub fn values<'t, const N: usize>(
    text: &'t [u8],
    names: [&str; N],
) -> Result<[Option<&'t [u8]>; N], NotAnObject> {
    let mut found = [None; N];
    let mut scan = Scan { text, at: 0 };
    scan.skip_whitespace();
    scan.require(b'{')?;
    scan.skip_whitespace();
    if !scan.eat(b'}') {
        loop {
            let key = scan.string()?;
            scan.skip_whitespace();
            scan.require(b':')?;
            scan.skip_whitespace();
            let value = scan.value()?;
            if let Some(decoded) = short_key(key) {
                for (slot, name) in found.iter_mut().zip(names) {
                    if decoded.as_slice() == name.as_bytes() {
                        *slot = Some(value);
                    }
                }
            }
            scan.skip_whitespace();
            if scan.eat(b'}') {
                break;
            }
            scan.require(b',')?;
            scan.skip_whitespace();
        }
    }
    scan.skip_whitespace();
    if scan.is_at_end() {
        Ok(found)
    } else {
        Err(NotAnObject)
    }
}

/// Which owned member the key text `key` (quotes included) names.
fn owned_member(key: &[u8]) -> Option<Member> {
    match short_key(key)?.as_slice() {
        b"desired_state" => Some(Member::DesiredState),
        b"updated_at" => Some(Member::UpdatedAt),
        _ => None,
    }
}

/// The key text `key` (quotes included) decoded, when it is a short ASCII
/// name as all the keys gatewayctl looks for are: escapes count
/// (`"desired\u005fstate"` is `desired_state` to Python too).
fn short_key(key: &[u8]) -> Option<ShortKey> {
    const LONGEST: usize = 16;
    let inner = key.get(1..key.len().checked_sub(1)?)?;
    let mut decoded = [0u8; LONGEST];
    let mut len = 0;
    let mut bytes = inner.iter().copied();
    while let Some(byte) = bytes.next() {
        let byte = match byte {
            b'\\' => match bytes.next()? {
                b'u' => {
                    let mut unit = 0u32;
                    for _ in 0..4 {
                        unit = unit * 16 + char::from(bytes.next()?).to_digit(16)?;
                    }
                    // Our keys are ASCII: any other code unit is some other key.
                    u8::try_from(unit).ok().filter(u8::is_ascii)?
                }
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                escaped => escaped,
            },
            byte => byte,
        };
        *decoded.get_mut(len)? = byte;
        len += 1;
    }
    Some(ShortKey { decoded, len })
}

/// A decoded key of at most 16 bytes.
struct ShortKey {
    decoded: [u8; 16],
    len: usize,
}

impl ShortKey {
    fn as_slice(&self) -> &[u8] {
        &self.decoded[..self.len]
    }
}

/// A lexical reader of JSON text: strings (with their escapes), brackets
/// balanced by kind, and bare tokens, with no value ever decoded.
struct Scan<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn is_at_end(&self) -> bool {
        self.at >= self.text.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn require(&mut self, byte: u8) -> Result<(), NotAnObject> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(NotAnObject)
        }
    }

    /// JSON's whitespace, the only kind Python's parser skips.
    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.at += 1;
        }
    }

    /// The text from `start` to here.
    fn since(&self, start: usize) -> Result<&'a [u8], NotAnObject> {
        self.text.get(start..self.at).ok_or(NotAnObject)
    }

    /// A string here, quotes included.
    fn string(&mut self) -> Result<&'a [u8], NotAnObject> {
        let start = self.at;
        self.require(b'"')?;
        loop {
            match self.peek().ok_or(NotAnObject)? {
                b'"' => break,
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        self.since(start)
    }

    /// A member's value here: a string, a bracketed group, or a bare token
    /// (a number, `true`, `NaN`, ...).
    fn value(&mut self) -> Result<&'a [u8], NotAnObject> {
        let start = self.at;
        match self.peek().ok_or(NotAnObject)? {
            b'"' => return self.string(),
            b'{' | b'[' => self.group()?,
            _ => {
                while self.peek().is_some_and(|b| !is_delimiter(b)) {
                    self.at += 1;
                }
            }
        }
        let value = self.since(start)?;
        if value.is_empty() {
            return Err(NotAnObject);
        }
        Ok(value)
    }

    /// A bracketed group here, to its matching bracket. The open brackets
    /// are kept one bit each, so that depth costs next to no memory.
    fn group(&mut self) -> Result<(), NotAnObject> {
        let mut open = Brackets::default();
        loop {
            match self.peek().ok_or(NotAnObject)? {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' => open.push(true),
                b'[' => open.push(false),
                b'}' => open.pop(true)?,
                b']' => open.pop(false)?,
                _ => {}
            }
            self.at += 1;
            if open.is_empty() {
                return Ok(());
            }
        }
    }
}

/// A stack of open brackets, a bit each: set for `{`, clear for `[`.
#[derive(Default)]
struct Brackets {
    bits: Vec<u64>,
    depth: usize,
}

impl Brackets {
    fn is_empty(&self) -> bool {
        self.depth == 0
    }

    fn push(&mut self, brace: bool) {
        let (word, bit) = (self.depth / 64, self.depth % 64);
        if word == self.bits.len() {
            self.bits.push(0);
        }
        if let Some(w) = self.bits.get_mut(word) {
            *w = (*w & !(1u64 << bit)) | (u64::from(brace) << bit);
        }
        self.depth += 1;
    }

    /// Closes the innermost bracket, which must be of the same kind.
    fn pop(&mut self, brace: bool) -> Result<(), NotAnObject> {
        let top = self.depth.checked_sub(1).ok_or(NotAnObject)?;
        let word = self.bits.get(top / 64).ok_or(NotAnObject)?;
        if (word >> (top % 64)) & 1 != u64::from(brace) {
            return Err(NotAnObject);
        }
        self.depth = top;
        Ok(())
    }
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// What ends a bare token.
fn is_delimiter(byte: u8) -> bool {
    is_whitespace(byte) || matches!(byte, b'"' | b',' | b':' | b'[' | b']' | b'{' | b'}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOPPED: Owned<'static> = Owned {
        desired_state: "stopped",
        updated_at: 1_700_000_000,
    };
    const OURS: &str = r#""desired_state":"stopped","updated_at":1700000000"#;

    fn merged(text: &[u8]) -> Result<String, NotAnObject> {
        let mut out = Vec::new();
        merge(text, STOPPED, &mut out)?;
        Ok(String::from_utf8(out).unwrap_or_else(|e| panic!("{e}")))
    }

    fn merged_ok(text: &str) -> String {
        merged(text.as_bytes()).unwrap_or_else(|_| panic!("not merged: {text:?}"))
    }

    #[test]
    fn values_python_writes_or_accepts_come_back_byte_for_byte() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let deeper = format!("{}{}", "{\"a\":".repeat(300), "}".repeat(300));
        for value in [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e999",
            "-0.0",
            "1.5E+3",
            "123456789012345678901234567890123456789",
            "-98765432109876543210",
            r#""\ud800""#,
            r#""\udfff\ud800 \u0000 \"quoted\" \\""#,
            "\"ünïcödé ✓ 🚀\"",
            "true",
            "null",
            "[]",
            "{}",
            r#"[1, "a]", {"b": "}"}, [NaN]]"#,
            "{ \"nested\" : [ 1 ,\n 2 ] }",
            &deep,
            &deeper,
        ] {
            let text = format!("{{\"x\": {value}, \"desired_state\": \"running\"}}");
            assert_eq!(
                merged_ok(&text),
                format!("{{\"x\":{value},{OURS}}}"),
                "{value}"
            );
        }
    }

    #[test]
    fn other_keys_keep_their_text_order_and_duplicates() {
        let text = r#"{"b\u0041r": 1, "zeta": 2, "zeta": 3, "\ud800": 4, "": 5}"#;
        assert_eq!(
            merged_ok(text),
            format!(r#"{{"b\u0041r":1,"zeta":2,"zeta":3,"\ud800":4,"":5,{OURS}}}"#)
        );
    }

    #[test]
    fn owned_members_take_the_place_of_the_first_and_later_ones_go() {
        let text = r#"{"a":1,"updated_at":"2024-01-01T00:00:00","b":2,"desired_state":"running","updated_at":5,"desired_state":null,"c":3}"#;
        assert_eq!(
            merged_ok(text),
            r#"{"a":1,"updated_at":1700000000,"b":2,"desired_state":"stopped","c":3}"#
        );
    }

    #[test]
    fn escaped_owned_keys_are_found() {
        let text = r#"{"desired\u005fstate":"running","\u0075pdated_at":1,"desired_state":"x"}"#;
        assert_eq!(
            merged_ok(text),
            r#"{"desired_state":"stopped","updated_at":1700000000}"#
        );
        let text = r#"{"desired\u005Fstate":"running"}"#;
        assert_eq!(merged_ok(text), format!("{{{OURS}}}"), "upper-case hex");
    }

    #[test]
    fn keys_that_only_look_like_ours_are_other_keys() {
        for key in [
            r#""desired_state ""#,
            r#""Desired_state""#,
            r#""desired_stat""#,
            r#""desired_state\u0000""#,
            r#""desired\u05fstate""#,
            r#""updated_at_""#,
            r#""\u0000updated_at""#,
        ] {
            let text = format!("{{{key}:1}}");
            assert_eq!(merged_ok(&text), format!("{{{key}:1,{OURS}}}"), "{key}");
        }
    }

    #[test]
    fn whitespace_goes_and_a_bom_stays() {
        let text = " \r\n\t{ \"a\" :\n\t1 ,\r\n \"b\"\t: [ 1 , 2 ] } \n\n";
        assert_eq!(
            merged_ok(text),
            format!("{{\"a\":1,\"b\":[ 1 , 2 ],{OURS}}}")
        );
        let text = "\u{feff}{\"a\": 1}\n";
        assert_eq!(merged_ok(text), format!("\u{feff}{{\"a\":1,{OURS}}}"));
        assert_eq!(merged_ok("{}"), format!("{{{OURS}}}"));
        assert_eq!(merged_ok("{ \n }"), format!("{{{OURS}}}"));
    }

    #[test]
    fn no_text_at_all_is_a_fresh_object() {
        for text in ["", " ", "\n\n", " \t\r\n "] {
            assert_eq!(merged_ok(text), format!("{{{OURS}}}"), "{text:?}");
        }
        assert_eq!(merged_ok("\u{feff}\n"), format!("\u{feff}{{{OURS}}}"));
    }

    #[test]
    fn a_merged_file_merges_again_to_itself() {
        let text = r#"{"x":NaN,"desired_state":"running","y":[1e999],"updated_at":1}"#;
        let once = merged_ok(text);
        assert_eq!(merged_ok(&once), once);
    }

    #[test]
    fn anything_but_an_object_is_not_merged() {
        let deep_unclosed = format!("{{\"a\":{}", "[".repeat(10_000));
        for text in [
            "not json",
            "null",
            "[\"desired_state\", \"running\"]",
            "\"desired_state\"",
            "42",
            "{",
            "}",
            "{\"desired_state\": \"running\",",
            "{\"desired_state\": \"running\"",
            "{\"a\": 1,}",
            "{,}",
            "{\"a\" 1}",
            "{\"a\": }",
            "{\"a\": 1 2}",
            "{\"a\": 1}}",
            "{\"a\": 1} {}",
            "{\"a\": 1} x",
            "{a: 1}",
            "{1: 1}",
            "{\"a\": [1}",
            "{\"a\": {\"b\": 1]}",
            "{\"a\": [1]]}",
            "{\"a\": \"unterminated}",
            "{\"a\": \"ends in a backslash\\",
            "{\"a\\\": 1}",
            "\u{feff}\u{feff}{}",
            "\u{a0}{}",
            "{}\u{a0}",
            &deep_unclosed,
        ] {
            assert_eq!(merged(text.as_bytes()), Err(NotAnObject), "{text:?}");
        }
    }

    #[test]
    fn bytes_that_are_no_utf_8_are_copied_too() {
        let text = b"{\"a\":\"\xff\xfe\",\"\xc3\":\x80}";
        let mut out = Vec::new();
        assert_eq!(merge(text, STOPPED, &mut out), Ok(()));
        let mut expected = b"{\"a\":\"\xff\xfe\",\"\xc3\":\x80,".to_vec();
        expected.extend_from_slice(OURS.as_bytes());
        expected.push(b'}');
        assert_eq!(out, expected);
    }

    #[test]
    fn every_cut_of_an_object_is_refused_or_merged_without_a_panic() {
        let text = "\u{feff} {\"a\" : [1, {\"b\": \"x\\\"]}\"}], \"desired\\u005fstate\": NaN } ";
        for end in 0..=text.len() {
            let Some(cut) = text.as_bytes().get(..end) else {
                panic!("{end}")
            };
            // Whole: up to the closing brace; blank: nothing, or a BOM and a space.
            let whole = end + 1 >= text.len();
            let blank = [0, 3, 4].contains(&end);
            let result = merged(cut);
            assert_eq!(result.is_ok(), whole || blank, "{cut:?}: {result:?}");
        }
    }
}
