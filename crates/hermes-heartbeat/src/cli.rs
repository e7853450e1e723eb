//! Command-line parsing, over raw argv bytes (not necessarily UTF-8), with no
//! allocation. The usage text lives here once and serves `--help` and every
//! usage error.

use crate::line::Line;

pub const NAME: &str = "hermes-heartbeat";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The synopsis, shared by `--help` and every usage error.
pub const USAGE: &str = "usage: hermes-heartbeat [-s|--subreaper] [-q|--quiet] [-z|--exit-zero] [-r|--ready-fd N] | -h|--help | -V|--version";

pub const HELP: &str = "\
Blocks signals and sleeps with zero wake-ups until asked to stop; reaps zombies.

  -s, --subreaper     reap orphans of descendants even when not PID 1
  -q, --quiet         print nothing when exiting
  -z, --exit-zero     exit 0 on a termination signal instead of 128+signum
  -r, --ready-fd N    write a newline to fd N once signals are blocked, then close it
                      (never blocking: retried while N's pipe is full)
  -h, --help          print this help and exit
  -V, --version       print the version and exit

SIGTERM, SIGINT, SIGHUP and SIGQUIT end it with 143, 130, 129 and 131.
Exit codes: 0 help/version or -z; 1 start-up system call failed; 2 usage error.
";

/// What the heartbeat should do once started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Config {
    pub subreaper: bool,
    pub quiet: bool,
    pub exit_zero: bool,
    pub ready_fd: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    Help,
    Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageError<'a> {
    UnknownOption(&'a [u8]),
    UnknownShort(u8),
    MissingValue(&'static str),
    BadReadyFd(&'a [u8]),
    UnexpectedArgument(&'a [u8]),
}

impl UsageError<'_> {
    /// Writes the one-line message: what was wrong, then the synopsis.
    pub fn render(&self, line: &mut Line) {
        line.push(NAME.as_bytes()).push(b": ");
        match *self {
            UsageError::UnknownOption(opt) => line.push(b"unknown option ").push_quoted(opt),
            UsageError::UnknownShort(c) => line.push(b"unknown option ").push_quoted(&[b'-', c]),
            UsageError::MissingValue(opt) => line
                .push(b"option '")
                .push(opt.as_bytes())
                .push(b"' needs a value"),
            UsageError::BadReadyFd(v) => line
                .push(b"bad ready fd ")
                .push_quoted(v)
                .push(b" (want a file descriptor number)"),
            UsageError::UnexpectedArgument(a) => line.push(b"unexpected argument ").push_quoted(a),
        };
        line.push(b"; ").push(USAGE.as_bytes());
    }
}

/// Parses the arguments after argv[0]. Short options may be clustered
/// (`-sq`, `-r3`); long options take `--ready-fd N` or `--ready-fd=N`;
/// `-h`/`-V` win as soon as they are seen.
pub fn parse<'a, I>(args: I) -> Result<Command, UsageError<'a>>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut config = Config::default();
    let mut args = args.into_iter();
    let mut options_done = false;
    while let Some(arg) = args.next() {
        if options_done || arg.len() < 2 || arg[0] != b'-' {
            return Err(UsageError::UnexpectedArgument(arg));
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            if long.is_empty() {
                options_done = true;
                continue;
            }
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(i) => (&long[..i], Some(&long[i + 1..])),
                None => (long, None),
            };
            let flag = match name {
                b"subreaper" => &mut config.subreaper,
                b"quiet" => &mut config.quiet,
                b"exit-zero" => &mut config.exit_zero,
                b"help" if inline.is_none() => return Ok(Command::Help),
                b"version" if inline.is_none() => return Ok(Command::Version),
                b"ready-fd" => {
                    let value = inline.or_else(|| args.next());
                    config.ready_fd = Some(ready_fd(value, "--ready-fd")?);
                    continue;
                }
                _ => return Err(UsageError::UnknownOption(arg)),
            };
            if inline.is_some() {
                return Err(UsageError::UnknownOption(arg));
            }
            *flag = true;
            continue;
        }
        // A cluster of short options: -s -q -z -h -V, and -r taking the rest
        // of the cluster or the next argument as its value.
        for (i, &c) in arg.iter().enumerate().skip(1) {
            match c {
                b's' => config.subreaper = true,
                b'q' => config.quiet = true,
                b'z' => config.exit_zero = true,
                b'h' => return Ok(Command::Help),
                b'V' => return Ok(Command::Version),
                b'r' => {
                    let rest = &arg[i + 1..];
                    let value = if rest.is_empty() {
                        args.next()
                    } else {
                        Some(rest)
                    };
                    config.ready_fd = Some(ready_fd(value, "-r")?);
                    break;
                }
                _ => return Err(UsageError::UnknownShort(c)),
            }
        }
    }
    Ok(Command::Run(config))
}

/// A file descriptor number: decimal digits only, within `0..=i32::MAX`.
fn ready_fd<'a>(value: Option<&'a [u8]>, option: &'static str) -> Result<i32, UsageError<'a>> {
    let value = value.ok_or(UsageError::MissingValue(option))?;
    if value.is_empty() || value.len() > 10 {
        return Err(UsageError::BadReadyFd(value));
    }
    let mut n: i64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(UsageError::BadReadyFd(value));
        }
        n = n * 10 + i64::from(b - b'0');
    }
    i32::try_from(n).map_err(|_| UsageError::BadReadyFd(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|a| a.as_bytes())).map_err(|e| {
            let mut l = Line::new();
            e.render(&mut l);
            String::from_utf8_lossy(l.finish()).into_owned()
        })
    }

    fn config(args: &[&str]) -> Config {
        match run(args) {
            Ok(Command::Run(c)) => c,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn no_arguments_is_plain_run() {
        assert_eq!(config(&[]), Config::default());
    }

    #[test]
    fn short_long_and_clustered_flags() {
        let all = Config {
            subreaper: true,
            quiet: true,
            exit_zero: true,
            ready_fd: None,
        };
        assert_eq!(config(&["-s", "-q", "-z"]), all);
        assert_eq!(config(&["--subreaper", "--quiet", "--exit-zero"]), all);
        assert_eq!(config(&["-sqz"]), all);
    }

    #[test]
    fn ready_fd_in_every_spelling() {
        for args in [
            &["-r", "5"][..],
            &["-r5"],
            &["--ready-fd", "5"],
            &["--ready-fd=5"],
            &["-sr5"],
            &["-sr", "5"],
        ] {
            assert_eq!(config(args).ready_fd, Some(5), "{args:?}");
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(run(&["-h"]), Ok(Command::Help));
        assert_eq!(run(&["--help"]), Ok(Command::Help));
        assert_eq!(run(&["-V"]), Ok(Command::Version));
        assert_eq!(run(&["-s", "--version"]), Ok(Command::Version));
    }

    #[test]
    fn usage_errors_are_one_line_with_the_synopsis() {
        for args in [
            &["-x"][..],
            &["--nope"],
            &["-r"],
            &["-r", "abc"],
            &["-r", "-1"],
            &["-r", "99999999999"],
            &["--ready-fd="],
            &["--quiet=yes"],
            &["extra"],
            &["-"],
            &["--", "-s"],
            &["-s\nq"],
        ] {
            let err = run(args).expect_err("should be a usage error");
            assert!(err.ends_with('\n'), "{err:?}");
            assert_eq!(err.matches('\n').count(), 1, "{err:?}");
            assert!(err.starts_with("hermes-heartbeat: "), "{err:?}");
            assert!(err.contains(USAGE), "{err:?}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: every input is either accepted or
        // rejected with a line, never a panic.
        let mut seed: u32 = 0x9e37_79b9;
        for _ in 0..20_000 {
            let mut argv: Vec<Vec<u8>> = Vec::new();
            for _ in 0..(seed % 4) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let len = (seed % 12) as usize;
                let alphabet = b"-srqzhV=0123456789\xff\n ";
                let arg = (0..len)
                    .map(|i| alphabet[((seed >> (i % 24)) as usize + i) % alphabet.len()])
                    .collect();
                argv.push(arg);
            }
            let _ = parse(argv.iter().map(|a| a.as_slice()));
        }
    }
}
