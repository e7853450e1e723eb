//! The command line, parsed as lexopt's own examples do: one loop per
//! level (the options before the command, then the command's own), each
//! filling plain variables; help and version are returned as values.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::action::Action;
use crate::error::{Error, shown};

/// `--wait` without `-T`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// The longest `-T` accepted (one day): s6 takes milliseconds as an int.
const MAX_WAIT_SECS: f64 = 86_400.0;

/// One profile (named on the command line, or resolved later) or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    One(Option<String>),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Act {
        action: Action,
        target: Target,
        wait: Option<Duration>,
    },
    Status {
        target: Target,
        json: bool,
    },
    List {
        json: bool,
    },
    Run {
        no_supervise: bool,
        command: Vec<OsString>,
    },
    Reconcile {
        dry_run: bool,
        json: bool,
        template: Option<PathBuf>,
        /// `UID:GID`, not yet checked.
        owner: Option<String>,
    },
    Register {
        profile: String,
        start: bool,
        template: Option<PathBuf>,
        /// `UID:GID`, not yet checked.
        owner: Option<String>,
    },
    Unregister {
        profile: String,
        wait: Duration,
    },
    Check {
        profile: Option<String>,
        json: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `-p/--profile`, not yet validated.
    pub profile: Option<String>,
    /// `--scandir`.
    pub scandir: Option<PathBuf>,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Args(Args),
    Help,
    Version,
}

/// Which command's options are being parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Act(Action),
    Status,
    List,
    Run,
    Reconcile,
    Register,
    Unregister,
    Check,
}

/// Parses the arguments after argv[0]. `-p`, `--scandir`, `--help` and
/// `--version` are taken before or after the command; the command's own
/// options only where the synopsis has them:
///
/// ```text
/// start|stop|restart [PROFILE | --all] [-w] [-T SECS]   (no start --all)
/// status [PROFILE | --all] [--json]
/// list [--json]
/// run [--no-supervise] [--] [COMMAND [ARGS...]]
/// reconcile [--dry-run] [--json] [--template DIR] [--owner UID:GID]
/// register PROFILE [--start] [--template DIR] [--owner UID:GID]
/// unregister PROFILE [-T SECS]
/// check [PROFILE] [--json]
/// ```
///
/// For `run`, the first value starts COMMAND and everything after it is
/// passed on untouched.
///
/// # Errors
/// `Error::Usage` for anything that is not a valid command line; profile
/// names are checked later (`profile::Name::parse`), before anything runs.
pub fn parse<I>(args: I) -> Result<Parsed, Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut parser = lexopt::Parser::from_iter(
        std::iter::once(OsString::from("gatewayctl")).chain(args.into_iter().map(Into::into)),
    );
    let mut profile = None;
    let mut scandir = None;
    let name = loop {
        match parser.next().map_err(usage)? {
            None => return Err(Error::usage("missing command")),
            Some(Short('p') | Long("profile")) => profile = Some(value(&mut parser)?),
            Some(Long("scandir")) => scandir = Some(parser.value().map_err(usage)?.into()),
            Some(Short('h') | Long("help")) => return Ok(Parsed::Help),
            Some(Short('V') | Long("version")) => return Ok(Parsed::Version),
            Some(Value(v)) => break string(v),
            Some(other) => return Err(usage(other.unexpected())),
        }
    };
    let kind = match name.as_str() {
        "start" => Kind::Act(Action::Start),
        "stop" => Kind::Act(Action::Stop),
        "restart" => Kind::Act(Action::Restart),
        "status" => Kind::Status,
        "list" => Kind::List,
        "run" => Kind::Run,
        "reconcile" => Kind::Reconcile,
        "register" => Kind::Register,
        "unregister" => Kind::Unregister,
        "check" => Kind::Check,
        "help" => return Ok(Parsed::Help),
        _ => return Err(Error::usage(format!("unknown command {}", shown(&name)))),
    };
    let acts = matches!(kind, Kind::Act(_));
    let waits = acts || kind == Kind::Unregister;
    let names_one = matches!(
        kind,
        Kind::Act(_) | Kind::Status | Kind::Register | Kind::Unregister | Kind::Check
    );
    let mut named = None;
    let mut all = false;
    let mut json = false;
    let mut wait = None;
    let mut no_supervise = false;
    let mut command = Vec::new();
    let mut dry_run = false;
    let mut start = false;
    let mut template = None;
    let mut owner = None;
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('p') | Long("profile") => profile = Some(value(&mut parser)?),
            Long("scandir") => scandir = Some(parser.value().map_err(usage)?.into()),
            Short('h') | Long("help") => return Ok(Parsed::Help),
            Short('V') | Long("version") => return Ok(Parsed::Version),
            Short('w') | Long("wait") if acts => wait = wait.or(Some(DEFAULT_WAIT)),
            Short('T') | Long("timeout") if waits => {
                wait = Some(timeout(parser.value().map_err(usage)?)?);
            }
            Long("all") if kind == Kind::Act(Action::Start) => {
                return Err(Error::usage(
                    "start --all is not supported (start gateways one by one)",
                ));
            }
            Long("all") if acts || kind == Kind::Status => all = true,
            Long("json")
                if matches!(
                    kind,
                    Kind::Status | Kind::List | Kind::Reconcile | Kind::Check
                ) =>
            {
                json = true;
            }
            Long("no-supervise") if kind == Kind::Run => no_supervise = true,
            Long("dry-run") if kind == Kind::Reconcile => dry_run = true,
            Long("start") if kind == Kind::Register => start = true,
            Long("template") if matches!(kind, Kind::Register | Kind::Reconcile) => {
                template = Some(parser.value().map_err(usage)?.into());
            }
            Long("owner") if matches!(kind, Kind::Register | Kind::Reconcile) => {
                owner = Some(value(&mut parser)?);
            }
            Value(program) if kind == Kind::Run => {
                command.push(program);
                command.extend(parser.raw_args().map_err(usage)?);
                break;
            }
            Value(v) if names_one && named.is_none() => {
                named = Some(string(v));
            }
            other => return Err(usage(other.unexpected())),
        }
    }
    let target = if all {
        if let Some(p) = named.as_ref().or(profile.as_ref()) {
            return Err(Error::usage(format!(
                "--all and a profile ({}) exclude each other",
                shown(p)
            )));
        }
        Target::All
    } else {
        Target::One(named)
    };
    let command = match kind {
        Kind::Act(action) => Command::Act {
            action,
            target,
            wait,
        },
        Kind::Status => Command::Status { target, json },
        Kind::List => Command::List { json },
        Kind::Run => Command::Run {
            no_supervise,
            command,
        },
        Kind::Reconcile => Command::Reconcile {
            dry_run,
            json,
            template,
            owner,
        },
        Kind::Register | Kind::Unregister => {
            let Target::One(Some(profile)) = target else {
                return Err(Error::usage(format!("{name} needs a PROFILE")));
            };
            if kind == Kind::Register {
                Command::Register {
                    profile,
                    start,
                    template,
                    owner,
                }
            } else {
                Command::Unregister {
                    profile,
                    wait: wait.unwrap_or(DEFAULT_WAIT),
                }
            }
        }
        Kind::Check => Command::Check {
            profile: match target {
                Target::One(p) => p,
                Target::All => None,
            },
            json,
        },
    };
    Ok(Parsed::Args(Args {
        profile,
        scandir,
        command,
    }))
}

fn value(parser: &mut lexopt::Parser) -> Result<String, Error> {
    parser.value().map(string).map_err(usage)
}

/// `-T SECS`: a positive number of seconds, fractions allowed.
fn timeout(value: OsString) -> Result<Duration, Error> {
    let text = string(value);
    match text.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= MAX_WAIT_SECS => Ok(Duration::from_secs_f64(secs)),
        _ => Err(Error::usage(format!(
            "bad --timeout {} (want seconds, more than 0 and at most {MAX_WAIT_SECS})",
            shown(&text)
        ))),
    }
}

/// Argument text; bytes that are not UTF-8 become U+FFFD, which no valid
/// profile or command name contains, so they are rejected later as invalid.
fn string(value: OsString) -> String {
    value.to_string_lossy().into_owned()
}

fn usage(err: lexopt::Error) -> Error {
    Error::usage(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, Error> {
        parse(list.iter().map(OsString::from))
    }

    fn command(list: &[&str]) -> Command {
        match args(list) {
            Ok(Parsed::Args(a)) => a.command,
            other => panic!("{list:?} gave {other:?}"),
        }
    }

    fn usage_error(list: &[&str]) -> String {
        match args(list) {
            Err(e @ Error::Usage(_)) => e.to_string(),
            other => panic!("{list:?} gave {other:?}"),
        }
    }

    #[test]
    fn actions_with_profile_all_and_wait() {
        assert_eq!(
            command(&["stop", "coder"]),
            Command::Act {
                action: Action::Stop,
                target: Target::One(Some("coder".into())),
                wait: None
            }
        );
        assert_eq!(
            command(&["restart", "--all", "-w"]),
            Command::Act {
                action: Action::Restart,
                target: Target::All,
                wait: Some(DEFAULT_WAIT)
            }
        );
        assert_eq!(
            command(&["start", "-T", "2.5"]),
            Command::Act {
                action: Action::Start,
                target: Target::One(None),
                wait: Some(Duration::from_millis(2500))
            }
        );
    }

    #[test]
    fn timeout_wins_over_wait_in_either_order_and_the_last_timeout_wins() {
        let wait = |list: &[&str]| match command(list) {
            Command::Act { wait, .. } => wait,
            other => panic!("{list:?} gave {other:?}"),
        };
        let two = Some(Duration::from_secs(2));
        assert_eq!(wait(&["stop", "-T", "2", "-w"]), two);
        assert_eq!(wait(&["stop", "--wait", "--timeout", "2"]), two);
        assert_eq!(wait(&["stop", "-T", "5", "-T", "2"]), two);
        assert_eq!(
            wait(&["stop", "-T", "86400"]),
            Some(Duration::from_secs(86400))
        );
        // A value pasted with blanks around it (`-T " 2 "`) is still seconds.
        assert_eq!(wait(&["stop", "-T", " 2 "]), two);
        assert_eq!(wait(&["stop", "--timeout=\t2\n"]), two);
    }

    #[test]
    fn global_options_before_or_after_the_command() {
        for list in [
            &["-p", "coder", "stop"][..],
            &["stop", "-p", "coder"],
            &["stop", "--profile=coder"],
        ] {
            match args(list) {
                Ok(Parsed::Args(a)) => assert_eq!(a.profile.as_deref(), Some("coder"), "{list:?}"),
                other => panic!("{list:?} gave {other:?}"),
            }
        }
        match args(&["--scandir", "/x", "list"]) {
            Ok(Parsed::Args(a)) => assert_eq!(a.scandir, Some(PathBuf::from("/x"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_and_version_are_values() {
        assert_eq!(args(&["--help"]).ok(), Some(Parsed::Help));
        assert_eq!(args(&["help"]).ok(), Some(Parsed::Help));
        assert_eq!(args(&["stop", "-h"]).ok(), Some(Parsed::Help));
        assert_eq!(args(&["-V"]).ok(), Some(Parsed::Version));
        assert_eq!(args(&["stop", "--version"]).ok(), Some(Parsed::Version));
    }

    #[test]
    fn run_passes_everything_after_the_command_untouched() {
        assert_eq!(
            command(&["run", "--no-supervise", "--", "hermes", "-p", "--all"]),
            Command::Run {
                no_supervise: true,
                command: vec!["hermes".into(), "-p".into(), "--all".into()]
            }
        );
        assert_eq!(
            command(&["run", "sh", "-c", "x"]),
            Command::Run {
                no_supervise: false,
                command: vec!["sh".into(), "-c".into(), "x".into()]
            }
        );
        assert_eq!(
            command(&["run"]),
            Command::Run {
                no_supervise: false,
                command: vec![]
            }
        );
        assert_eq!(
            command(&["run", "--", "sh", "--", "-x"]),
            Command::Run {
                no_supervise: false,
                command: vec!["sh".into(), "--".into(), "-x".into()]
            }
        );
    }

    #[test]
    fn usage_errors() {
        for list in [
            &[][..],
            &["frobnicate"],
            &["stop", "--bogus"],
            &["stop", "-p"],
            &["stop", "a", "b"],
            &["stop", "--all", "coder"],
            &["-p", "coder", "stop", "--all"],
            &["status", "--all", "--profile", "coder"],
            &["start", "--all"],
            &["stop", "-T", "0"],
            &["stop", "-T", "soon"],
            &["stop", "-T", "86401"],
            &["stop", "-T", "1e20"],
            &["stop", "-T", "inf"],
            &["stop", "-T", "NaN"],
            &["stop", "-T", "-1"],
            &["list", "extra"],
            &["status", "--wait"],
        ] {
            let e = usage_error(list);
            assert!(e.contains(crate::usage::USAGE), "{list:?}: {e}");
            assert!(!e.contains('\n'), "{list:?}: {e}");
        }
    }
}
