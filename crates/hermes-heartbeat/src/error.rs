//! The heartbeat's one error type. Each error renders as its exact one-line
//! message (`render` plays `Display`'s part: the message quotes raw argv
//! bytes, which need not be UTF-8, and `core::fmt` would cost the size budget),
//! and [`exit_code`] is the one place that maps errors to exit codes.

use crate::cli::{NAME, UsageError};
use crate::line::Line;

/// Exit code of a usage error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code of a failed start-up system call.
pub const EXIT_STARTUP: i32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<'a> {
    /// The command line was not understood.
    Usage(UsageError<'a>),
    /// A system call between blocking signals and the first wait failed:
    /// what was being done, and the errno.
    Startup { doing: &'static str, errno: i32 },
}

impl Error<'_> {
    /// Writes the whole message line (without its newline).
    pub fn render(&self, line: &mut Line) {
        match *self {
            Error::Usage(ref usage) => usage.render(line),
            Error::Startup { doing, errno } => {
                line.push(NAME.as_bytes())
                    .push(b": ")
                    .push(doing.as_bytes())
                    .push(b" (errno ")
                    .push_u32(errno.unsigned_abs())
                    .push(b")");
            }
        }
    }
}

impl<'a> From<UsageError<'a>> for Error<'a> {
    fn from(e: UsageError<'a>) -> Self {
        Error::Usage(e)
    }
}

/// The exit code each error ends the heartbeat with.
pub fn exit_code(e: &Error<'_>) -> i32 {
    match e {
        Error::Usage(_) => EXIT_USAGE,
        Error::Startup { .. } => EXIT_STARTUP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(e: &Error<'_>) -> std::vec::Vec<u8> {
        let mut line = Line::new();
        e.render(&mut line);
        line.finish().to_vec()
    }

    #[test]
    fn startup_error_is_one_line_with_errno_and_exit_1() {
        let e = Error::Startup {
            doing: "cannot chdir to /",
            errno: 13,
        };
        assert_eq!(
            rendered(&e),
            b"hermes-heartbeat: cannot chdir to / (errno 13)\n"
        );
        assert_eq!(exit_code(&e), 1);
    }

    #[test]
    fn usage_error_renders_as_the_usage_line_and_exits_2() {
        let e = Error::from(UsageError::UnknownShort(b'x'));
        let out = rendered(&e);
        assert!(out.starts_with(b"hermes-heartbeat: unknown option '-x'; usage: "));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(exit_code(&e), 2);
    }
}
