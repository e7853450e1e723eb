//! One message line built in a fixed buffer, so it reaches stderr in a single
//! `write` (no allocation, no interleaving with other writers).

/// Longest line the heartbeat ever prints; longer input is cut.
pub const CAPACITY: usize = 320;

/// Longest piece of user input quoted in a message.
const QUOTED_MAX: usize = 48;

pub struct Line {
    buf: [u8; CAPACITY],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    pub const fn new() -> Self {
        Line {
            buf: [0; CAPACITY],
            len: 0,
        }
    }

    /// Appends bytes, silently cutting what does not fit (one byte is kept
    /// for the final newline).
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            if self.len + 1 >= CAPACITY {
                break;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }

    /// Appends user input in quotes, with control bytes shown as `?` so the
    /// message stays one line whatever argv held, and long input cut.
    pub fn push_quoted(&mut self, input: &[u8]) -> &mut Self {
        self.push(b"'");
        for &b in input.iter().take(QUOTED_MAX) {
            let shown = if b < 0x20 || b == 0x7f { b'?' } else { b };
            self.push(&[shown]);
        }
        if input.len() > QUOTED_MAX {
            self.push(b"...");
        }
        self.push(b"'")
    }

    pub fn push_u32(&mut self, mut n: u32) -> &mut Self {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    /// The line with its terminating newline.
    pub fn finish(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_one_line_with_numbers() {
        let mut l = Line::new();
        l.push(b"exiting ").push_u32(143);
        assert_eq!(l.finish(), b"exiting 143\n");
        let mut z = Line::new();
        z.push_u32(0).push(b" ").push_u32(u32::MAX);
        assert_eq!(z.finish(), b"0 4294967295\n");
    }

    #[test]
    fn quoted_input_has_no_control_bytes_and_is_cut() {
        let mut l = Line::new();
        l.push_quoted(b"a\nb\x1b");
        assert_eq!(l.finish(), b"'a?b?'\n");
        let long = [b'x'; 500];
        let mut l = Line::new();
        l.push_quoted(&long);
        let out = l.finish();
        assert_eq!(out.len(), 1 + QUOTED_MAX + 3 + 1 + 1);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn overflow_is_cut_and_still_ends_with_newline() {
        let mut l = Line::new();
        for _ in 0..100 {
            l.push(b"0123456789");
        }
        let out = l.finish();
        assert_eq!(out.len(), CAPACITY);
        assert_eq!(out.last(), Some(&b'\n'));
    }
}
