//! Writing lines to stdout and stderr without ever panicking: `println!`
//! panics when stdout is a closed pipe (`gatewayctl list | head -1`).

use std::fmt::Display;
use std::io::{self, Write};

/// A result line on stdout; a write error (closed pipe) is ignored.
pub fn stdout(line: impl Display) {
    let _ = writeln!(io::stdout().lock(), "{line}");
}

/// A message line on stderr; a write error is ignored (nowhere to report it).
pub fn stderr(line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
