//! Writing lines to stdout and stderr without ever panicking: `println!`
//! panics when stdout is a closed pipe (`gatewayctl list | head -1`). The
//! shapes of the lines live here too: `✗ ` before an error, `⚠ ` before a
//! warning.

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::Mutex;

use crate::error::{Error, Warning};

/// The first error writing to stdout, other than a closed pipe.
static STDOUT_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);

/// A result line on stdout. A closed pipe is a reader that has seen enough:
/// ignored. Any other error (a full disk) is kept for [`stdout_error`].
pub fn stdout(line: impl Display) {
    let mut out = io::stdout().lock();
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            let mut first = STDOUT_ERROR
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            first.get_or_insert(e);
        }
    }
}

/// The first error that lost a result line, if any.
pub fn stdout_error() -> Option<io::Error> {
    STDOUT_ERROR
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// A message line on stderr; a write error is ignored (nowhere to report it).
/// Control characters (a newline or an escape sequence in a path, a profile
/// name or s6's output) are escaped, so every message stays one line.
pub fn stderr(line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{}", one_line(&line.to_string()));
}

/// `✗ <error>` on stderr.
pub fn error(error: &Error) {
    stderr(format_args!("✗ {error}"));
}

/// `⚠ <warning>` on stderr.
pub fn warning(warning: &Warning) {
    stderr(format_args!("⚠ {warning}"));
}

/// `text` with control characters shown escaped (`\n`, `\u{1b}`).
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\x1b[31m\tc"), "a\\nb\\u{1b}[31m\\tc");
        assert_eq!(one_line("plain ✓ text"), "plain ✓ text");
        // C1 controls too: U+009B is a one-character CSI to many terminals.
        assert_eq!(one_line("a\u{9b}2Jb\u{85}c"), "a\\u{9b}2Jb\\u{85}c");
    }
}
