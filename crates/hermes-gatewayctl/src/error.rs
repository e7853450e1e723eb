//! Every way gatewayctl can fail, with the exact user-facing line as its
//! `Display` (without the leading `✗ `, which `report` adds), and the one
//! mapping from errors to exit codes.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use hermes_heartbeat::signals;

use crate::usage::USAGE;

/// Exit codes, shared with the heartbeat (see README, "Exit codes").
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
/// `run`: COMMAND exists but cannot be executed.
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// `run`: COMMAND was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug)]
pub enum Error {
    /// Bad command line: unknown command/option, missing value, conflict.
    Usage(String),
    /// A profile name that does not match `^[a-z0-9][a-z0-9_-]{0,63}$`.
    InvalidProfile(String),
    /// No `--scandir` and PID 1 is not s6-svscan with /run/s6/basedir.
    NotUnderS6,
    /// The named scan directory has no `.s6-svscan/`.
    NotAScanDir(PathBuf),
    /// The scan directory cannot be listed.
    ScanDirUnreadable { path: PathBuf, source: io::Error },
    /// No executable s6 program in any place looked at.
    ProgramNotFound {
        program: &'static str,
        looked_in: Vec<PathBuf>,
    },
    /// `gateway-<profile>` is not in the scan directory.
    GatewayNotRegistered(String),
    /// An s6 program could not be started at all.
    S6Spawn {
        program: &'static str,
        service: String,
        source: io::Error,
    },
    /// An s6 program ran and failed.
    S6Failed {
        program: &'static str,
        action: &'static str,
        service: String,
        rc: i32,
        stderr: String,
    },
    /// An s6 program overran its time bound and was killed.
    S6TimedOut {
        program: &'static str,
        action: &'static str,
        service: String,
        limit: Duration,
    },
    /// `--wait` gave up: the service did not reach the state in time.
    WaitTimedOut {
        service: String,
        verb: &'static str,
        limit: Duration,
    },
    /// SIGINT, SIGTERM or SIGHUP came while acting: `sent` of the `of`
    /// commands had been taken by s6 (and recorded); one gateway's
    /// `service`, or `None` for `--all`.
    Interrupted {
        signal: i32,
        verb: &'static str,
        service: Option<String>,
        sent: usize,
        of: usize,
    },
    /// Results could not be written to stdout (not a closed pipe).
    Stdout(io::Error),
    /// `register`: the slot exists already.
    AlreadyRegistered {
        profile: crate::profile::Name,
        dir: PathBuf,
    },
    /// A slot could not be written, published or removed.
    Slot { service: String, source: io::Error },
    /// `register --template DIR`: DIR is no service directory.
    NotATemplate(PathBuf),
    /// `reconcile`: HERMES_HOME is not a directory.
    NoHermesHome(PathBuf),
    /// `unregister`: the slot's supervisors did not go when told to.
    SupervisorsStayed(String),
    /// A batched command failed as a whole for this gateway (`why`).
    Batch { service: String, why: String },
    /// `s6-svstat` printed something we cannot read.
    BadStatus { service: String, output: String },
    /// `run` with an opt-out while the supervised gateway is up.
    AlreadySupervised,
    /// `run`: the foreground COMMAND could not be executed.
    Exec { program: String, source: io::Error },
    /// `run`: no heartbeat could be exec'd and the in-process hold could not
    /// install its signal handlers (a failed system call: exit 1).
    HoldFailed(io::Error),
}

impl Error {
    /// The exit code for this error: the one place errors become codes.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::InvalidProfile(_) | Error::NotATemplate(_) => EXIT_USAGE,
            Error::Exec { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                EXIT_NOT_FOUND
            }
            Error::Exec { .. } => EXIT_NOT_EXECUTABLE,
            Error::Interrupted { signal, .. } => u8::try_from(128 + signal).unwrap_or(EXIT_FAILED),
            _ => EXIT_FAILED,
        }
    }

    /// An s6 program could not be started for lack of a process slot
    /// (RLIMIT_NPROC): it may start once others have ended.
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::S6Spawn { source, .. } if source.kind() == io::ErrorKind::WouldBlock)
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) => {
                write!(f, "{message}; {USAGE} (see gatewayctl --help)")
            }
            Error::InvalidProfile(name) => write!(
                f,
                "invalid profile name {}: use 1-64 characters of a-z 0-9 _ -, starting with a letter or digit",
                shown(name)
            ),
            Error::NotUnderS6 => f.write_str(
                "not under s6 supervision (PID 1 is not s6-svscan with /run/s6/basedir); \
                 pass --scandir DIR or set S6_PROFILE_GATEWAY_SCANDIR",
            ),
            Error::NotAScanDir(dir) => {
                write!(
                    f,
                    "{} is not an s6 scan directory (no .s6-svscan/)",
                    dir.display()
                )
            }
            Error::ScanDirUnreadable { path, source } => {
                write!(
                    f,
                    "cannot read the scan directory {}: {source}",
                    path.display()
                )
            }
            Error::ProgramNotFound { program, looked_in } => {
                let dirs: Vec<String> = looked_in.iter().map(|d| d.display().to_string()).collect();
                write!(f, "{program} not found (looked in {})", dirs.join(", "))
            }
            Error::GatewayNotRegistered(profile) => write!(
                f,
                "no such gateway '{profile}': register it with `hermes profile create {profile}` first, \
                 or pass an existing profile name via `-p <name>`"
            ),
            Error::S6Spawn {
                program,
                service,
                source,
            } => {
                write!(f, "cannot start {program} for '{service}': {source}")
            }
            Error::S6Failed {
                program,
                action,
                service,
                rc,
                stderr,
            } => {
                write!(f, "{program} {action} on '{service}' failed (rc={rc})")?;
                if stderr.is_empty() {
                    Ok(())
                } else {
                    write!(f, ": {stderr}")
                }
            }
            Error::S6TimedOut {
                program,
                action,
                service,
                limit,
            } => {
                write!(
                    f,
                    "{program} {action} on '{service}' timed out after {}s",
                    secs(*limit)
                )
            }
            Error::WaitTimedOut {
                service,
                verb,
                limit,
            } => {
                write!(
                    f,
                    "{service} did not {verb} within {}s (--timeout)",
                    secs(*limit)
                )
            }
            Error::Interrupted {
                signal,
                verb,
                service,
                sent,
                of,
            } => {
                let by = signal_name(*signal);
                match (service, sent) {
                    (Some(service), 0) => {
                        write!(
                            f,
                            "interrupted by {by}: the {verb} was not sent to {service}"
                        )
                    }
                    (Some(service), _) => write!(
                        f,
                        "interrupted by {by}: the {verb} was sent to {service} and recorded; \
                         no longer waiting for it"
                    ),
                    (None, _) => write!(
                        f,
                        "interrupted by {by}: {verb} sent to {sent} of {of} profile gateway(s) \
                         and recorded; no longer waiting for them"
                    ),
                }
            }
            Error::Stdout(source) => write!(f, "cannot write to standard output: {source}"),
            Error::AlreadyRegistered { profile, dir } => write!(
                f,
                "profile gateway '{profile}' already registered at {}",
                dir.display()
            ),
            Error::Slot { service, source } => {
                write!(f, "cannot write the slot {service}: {source}")
            }
            Error::NotATemplate(dir) => write!(
                f,
                "{} is not a service directory template (no executable run file)",
                dir.display()
            ),
            Error::NoHermesHome(dir) => {
                write!(f, "HERMES_HOME {} is not a directory", dir.display())
            }
            Error::Batch { service, why } => write!(f, "{why} (for {service})"),
            Error::SupervisorsStayed(service) => write!(
                f,
                "the s6-supervise of {service} did not exit when s6-svscan was told to drop it; \
                 left the slot in place"
            ),
            Error::BadStatus { service, output } => {
                write!(
                    f,
                    "cannot read the s6-svstat output for '{service}': {}",
                    shown(output)
                )
            }
            Error::AlreadySupervised => f.write_str(
                "A gateway is already running under s6 (container supervisor) for this profile. \
                 Stop it first with `gatewayctl stop`, or run without the opt-out to use it.",
            ),
            Error::Exec { program, source } => {
                let why = match source.kind() {
                    io::ErrorKind::NotFound => "not found".to_owned(),
                    io::ErrorKind::PermissionDenied => {
                        "permission denied (not executable)".to_owned()
                    }
                    _ => source.to_string(),
                };
                write!(f, "cannot run {}: {why}", shown(program))
            }
            Error::HoldFailed(source) => {
                write!(f, "cannot keep the CMD process alive in-process: {source}")
            }
        }
    }
}

/// `2`, `0.5`: seconds as the user would have typed them.
fn secs(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs}")
    }
}

/// User input quoted for a one-line message: control characters escaped,
/// long input cut.
pub fn shown(input: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = input
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if input.chars().count() > MAX {
        out.push_str("...");
    }
    format!("'{out}'")
}

/// A problem that does not fail the action (the state file could not be written).
#[derive(Debug)]
pub struct Warning(pub String);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of an interrupting signal, from the heartbeat's table.
fn signal_name(signo: i32) -> &'static str {
    match signals::classify(signo, false) {
        signals::Action::Exit { name, .. } => name,
        signals::Action::Reap | signals::Action::Ignore => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invalid_profile_hint_states_the_rule() {
        assert_eq!(
            Error::InvalidProfile("A".into()).to_string(),
            "invalid profile name 'A': use 1-64 characters of a-z 0-9 _ -, \
             starting with a letter or digit"
        );
    }

    #[test]
    fn codes() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::InvalidProfile("A".into()).exit_code(), 2);
        assert_eq!(Error::NotUnderS6.exit_code(), 1);
        let nf = Error::Exec {
            program: "x".into(),
            source: io::ErrorKind::NotFound.into(),
        };
        assert_eq!(nf.exit_code(), 127);
        let pd = Error::Exec {
            program: "x".into(),
            source: io::ErrorKind::PermissionDenied.into(),
        };
        assert_eq!(pd.exit_code(), 126);
        let hold = Error::HoldFailed(io::ErrorKind::PermissionDenied.into());
        assert_eq!(hold.exit_code(), 1);
    }

    #[test]
    fn unknown_profile_line_is_the_python_clis() {
        assert_eq!(
            Error::GatewayNotRegistered("typo".into()).to_string(),
            "no such gateway 'typo': register it with `hermes profile create typo` first, \
             or pass an existing profile name via `-p <name>`"
        );
    }

    #[test]
    fn seconds_are_shown_as_typed() {
        assert_eq!(secs(Duration::from_secs(2)), "2");
        assert_eq!(secs(Duration::from_millis(500)), "0.5");
    }

    #[test]
    fn an_interruption_exits_128_plus_signum() {
        let by = |signal| Error::Interrupted {
            signal,
            verb: "stop",
            service: None,
            sent: 2,
            of: 3,
        };
        assert_eq!(by(2).exit_code(), 130);
        assert_eq!(by(15).exit_code(), 143);
        assert_eq!(
            by(1).to_string(),
            "interrupted by SIGHUP: stop sent to 2 of 3 profile gateway(s) and recorded; \
             no longer waiting for them"
        );
    }

    #[test]
    fn shown_keeps_one_line() {
        assert_eq!(shown("a\nb"), "'a\\nb'");
        assert!(shown(&"x".repeat(500)).ends_with("...'"));
    }

    #[test]
    fn shown_cuts_past_80_characters_and_only_then() {
        let eighty = "é".repeat(80);
        assert_eq!(shown(&eighty), format!("'{eighty}'"));
        assert_eq!(shown(&format!("{eighty}x")), format!("'{eighty}...'"));
    }
}
