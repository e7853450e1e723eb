//! Talking to s6: the scan directory, the programs, and the operations
//! gatewayctl needs (read a service's state, send it a command, wait for a
//! state), each run by absolute path with a time bound.

pub mod locate;
pub mod runner;
pub mod scandir;
pub mod svstat;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Action;
use crate::error::Error;
use crate::interrupt;
use crate::profile;
use runner::{OnInterrupt, Outcome};
use scandir::ScanDir;
use svstat::Status;

/// Bound on one s6 program run that does not wait for a state.
const PROGRAM_BOUND: Duration = Duration::from_secs(5);
/// s6-svwait's and s6-svlisten1's exit code when the timeout expired.
const RC_WAIT_TIMEOUT: i32 = 99;
/// Longest piece of s6's stderr kept in a message.
const STDERR_SHOWN: usize = 300;

/// A service's state as far as s6 knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervision {
    Supervised(Status),
    /// A service directory that no s6-supervise runs.
    Unsupervised,
}

/// The state a `--wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// Up; and ready, where the service notifies readiness.
    Up { ready: bool },
    /// Down, with its finish script done.
    Down,
    /// Killed and back up (ready, where it notifies readiness).
    Restarted { ready: bool },
}

/// A wait still to run after a command was sent (see [`S6::send`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    action: Action,
    wanted: Wanted,
    limit: Duration,
}

/// How one s6 program run ended, when it ran to its end.
struct Run {
    rc: i32,
    stdout: String,
    stderr: String,
}

enum Ran {
    Exited(Run),
    Interrupted,
}

/// s6 at one scan directory, and where its programs are.
#[derive(Debug, Clone)]
pub struct S6 {
    pub scandir: ScanDir,
    bindirs: Vec<PathBuf>,
}

impl S6 {
    /// s6 at `scandir`, with its programs looked up in `HERMES_S6_BINDIR`
    /// or the usual places.
    pub fn new(scandir: ScanDir) -> S6 {
        S6 {
            scandir,
            bindirs: locate::search_dirs(),
        }
    }

    /// Checks up front that the programs a command will run exist, so a
    /// missing one is one error line, not one per gateway.
    ///
    /// # Errors
    /// `ProgramNotFound` for the first one missing.
    pub fn require(&self, programs: &[&'static str]) -> Result<(), Error> {
        programs.iter().try_for_each(|p| self.program(p).map(drop))
    }

    fn program(&self, name: &'static str) -> Result<PathBuf, Error> {
        locate::find(name, &self.bindirs)
    }

    /// Reads the state of `gateway-<profile>`.
    ///
    /// # Errors
    /// s6-svstat could not run, failed, or printed something unreadable.
    pub fn status(&self, profile: &str) -> Result<Supervision, Error> {
        let dir = self.scandir.service_dir(profile);
        let args = [
            OsStr::new("-o"),
            OsStr::new(svstat::FIELDS),
            dir.as_os_str(),
        ];
        let run = match self.run(
            "s6-svstat",
            "status",
            profile,
            &args,
            PROGRAM_BOUND,
            OnInterrupt::Finish,
        )? {
            Ran::Exited(run) => run,
            Ran::Interrupted => return Err(interrupted("status", profile, 0)),
        };
        match run.rc {
            0 => svstat::parse(&run.stdout)
                .map(Supervision::Supervised)
                .ok_or(Error::BadStatus {
                    service: profile::service(profile),
                    output: run.stdout,
                }),
            svstat::RC_NOT_SUPERVISED => Ok(Supervision::Unsupervised),
            rc => Err(Error::S6Failed {
                program: "s6-svstat",
                action: "status",
                service: profile::service(profile),
                rc,
                stderr: trim(&run.stderr),
            }),
        }
    }

    /// The longest a [`S6::send`] and its [`S6::wait`] can take together: a
    /// restart reads the state and sends a command, then waits; each run is
    /// bounded.
    pub fn control_bound(wait: Option<Duration>) -> Duration {
        PROGRAM_BOUND + PROGRAM_BOUND + wait.map_or(Duration::ZERO, |w| w + PROGRAM_BOUND)
    }

    /// Starts, stops or restarts `gateway-<profile>`, in two steps: this one
    /// gives the command to s6 and returns once s6 has taken it (or failed
    /// to); the returned [`Pending`] wait, for `wait`, is then run with
    /// [`S6::wait`]. The caller records the new desired state in between, so
    /// an interrupted or timed-out wait never leaves the record behind what
    /// s6 was told, and a failure to send (no supervisor, no permission) is
    /// always s6-svc's own.
    ///
    /// # Errors
    /// s6-svc failed, overran its bound, or the command was interrupted
    /// before anything was sent.
    pub fn send(
        &self,
        profile: &str,
        action: Action,
        wait: Option<Duration>,
    ) -> Result<Option<Pending>, Error> {
        let dir = self.scandir.service_dir(profile);
        let ready = dir.join("notification-fd").is_file();
        // A restart of a gateway that is down is a start: `-r` only signals
        // a running process.
        let restart_up = action == Action::Restart
            && matches!(
                self.status(profile)?,
                Supervision::Supervised(Status { up: true, .. })
            );
        let (command, wanted): (&[&str], Wanted) = match action {
            Action::Stop => (&["-d"], Wanted::Down),
            // A wait for a restart must listen before the kill is sent, or a
            // fast restart is missed: `-u` now (s6 wants it up from here on),
            // and the wait sends `-r` once it listens.
            Action::Restart if restart_up && wait.is_some() => {
                (&["-u"], Wanted::Restarted { ready })
            }
            Action::Restart if restart_up => (&["-r", "-u"], Wanted::Restarted { ready }),
            Action::Start | Action::Restart => (&["-u"], Wanted::Up { ready }),
        };
        let mut args: Vec<&OsStr> = command.iter().map(OsStr::new).collect();
        args.push(dir.as_os_str());
        match self.run(
            "s6-svc",
            action.verb(),
            profile,
            &args,
            PROGRAM_BOUND,
            OnInterrupt::Finish,
        )? {
            Ran::Exited(run) if run.rc == 0 => Ok(wait.map(|limit| Pending {
                action,
                wanted,
                limit,
            })),
            Ran::Exited(run) => Err(Error::S6Failed {
                program: "s6-svc",
                action: action.verb(),
                service: profile::service(profile),
                rc: run.rc,
                stderr: trim(&run.stderr),
            }),
            Ran::Interrupted => Err(interrupted(action.verb(), profile, 0)),
        }
    }

    /// Waits until `gateway-<profile>` is in the state `pending` names: up
    /// (and ready, where it notifies readiness), really down (finish script
    /// done), or restarted.
    ///
    /// # Errors
    /// The state was not reached in time (`WaitTimedOut`), the wait failed
    /// (the supervisor died), overran its bound, or was interrupted.
    pub fn wait(&self, profile: &str, pending: &Pending) -> Result<(), Error> {
        let dir = self.scandir.service_dir(profile);
        let millis = pending
            .limit
            .as_millis()
            .clamp(1, u128::from(u32::MAX))
            .to_string();
        // s6-svwait for a state; a restart listens with s6-svc -w, which
        // sends the `-r` once it listens.
        let (program, options): (&'static str, &[&str]) = match pending.wanted {
            Wanted::Up { ready: true } => ("s6-svwait", &["-U", "-t", &millis]),
            Wanted::Up { ready: false } => ("s6-svwait", &["-u", "-t", &millis]),
            Wanted::Down => ("s6-svwait", &["-D", "-t", &millis]),
            Wanted::Restarted { ready: true } => ("s6-svc", &["-wR", "-T", &millis, "-r"]),
            Wanted::Restarted { ready: false } => ("s6-svc", &["-wr", "-T", &millis, "-r"]),
        };
        let mut args: Vec<&OsStr> = options.iter().map(OsStr::new).collect();
        args.push(dir.as_os_str());
        let verb = pending.action.verb();
        let bound = pending.limit + PROGRAM_BOUND;
        match self.run(program, verb, profile, &args, bound, OnInterrupt::Abandon)? {
            Ran::Exited(run) if run.rc == 0 => Ok(()),
            Ran::Exited(run) if run.rc == RC_WAIT_TIMEOUT => Err(Error::WaitTimedOut {
                service: profile::service(profile),
                verb,
                limit: pending.limit,
            }),
            Ran::Exited(run) => Err(Error::S6Failed {
                program,
                action: verb,
                service: profile::service(profile),
                rc: run.rc,
                stderr: trim(&run.stderr),
            }),
            Ran::Interrupted => Err(interrupted(verb, profile, 1)),
        }
    }

    /// Runs one s6 program.
    fn run(
        &self,
        program: &'static str,
        action: &'static str,
        profile: &str,
        args: &[&OsStr],
        bound: Duration,
        on_interrupt: OnInterrupt,
    ) -> Result<Ran, Error> {
        let path = self.program(program)?;
        match runner::run_bounded(&path, args, bound, on_interrupt) {
            Ok(Outcome::Exited { rc, stdout, stderr }) => {
                Ok(Ran::Exited(Run { rc, stdout, stderr }))
            }
            Ok(Outcome::Interrupted) => Ok(Ran::Interrupted),
            Ok(Outcome::TimedOut) => Err(Error::S6TimedOut {
                program,
                action,
                service: profile::service(profile),
                limit: bound,
            }),
            Err(source) => Err(Error::S6Spawn {
                program,
                service: profile::service(profile),
                source,
            }),
        }
    }
}

/// The error for a command interrupted after `sent` of its one command
/// went to s6.
fn interrupted(verb: &'static str, profile: &str, sent: usize) -> Error {
    Error::Interrupted {
        signal: interrupt::signal().unwrap_or(0),
        verb,
        service: Some(profile::service(profile)),
        sent,
        of: 1,
    }
}

/// s6's stderr as one line: lines joined with `; `, cut to a readable length.
fn trim(stderr: &str) -> String {
    let joined = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let mut line = joined;
    if line.chars().count() > STDERR_SHOWN {
        line = line.chars().take(STDERR_SHOWN).collect::<String>() + "...";
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_becomes_one_cut_line() {
        assert_eq!(trim("s6-svc: fatal: a\n\n  b  \n"), "s6-svc: fatal: a; b");
        let flood = "x".repeat(10_000);
        assert_eq!(trim(&flood).chars().count(), STDERR_SHOWN + 3);
    }
}
