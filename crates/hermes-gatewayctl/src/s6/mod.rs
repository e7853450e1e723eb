//! The s6 adapter: a scan directory, the s6 programs (each looked up once,
//! by absolute path), and the operations gatewayctl needs: read a service's
//! state, send it a command, wait for a state. Every program run is bounded
//! in time (see [`runner`]).

mod batch;
pub mod locate;
pub mod runner;
pub mod scandir;
pub mod svstat;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::action::Action;
use crate::error::Error;
use crate::profile::Name;
use runner::{End, OnInterrupt, Outcome};
use scandir::ScanDir;
use svstat::ServiceState;

/// Bound on one s6 program run that does not wait for a state.
const PROGRAM_BOUND: Duration = Duration::from_secs(5);

/// `s6-svc` options: down, up, and kill then up (a restart).
pub const DOWN: &[&str] = &["-d"];
pub const UP: &[&str] = &["-u"];
pub const KILL_AND_UP: &[&str] = &["-r", "-u"];

/// s6-svwait's and s6-svlisten1's exit code when the timeout expired.
const RC_WAIT_TIMEOUT: i32 = 99;
/// Longest piece of s6's stderr kept in a message.
const STDERR_SHOWN: usize = 300;

/// The s6 programs gatewayctl runs (the discriminant indexes `S6::paths`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Svc,
    Svstat,
    Svwait,
    Svok,
    Svscanctl,
}

impl Program {
    pub fn name(self) -> &'static str {
        match self {
            Program::Svc => "s6-svc",
            Program::Svstat => "s6-svstat",
            Program::Svwait => "s6-svwait",
            Program::Svok => "s6-svok",
            Program::Svscanctl => "s6-svscanctl",
        }
    }
}

/// A service's state as far as s6 knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervision {
    Supervised(ServiceState),
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

/// s6 at one scan directory, and where its programs are.
#[derive(Debug)]
pub struct S6 {
    pub scandir: ScanDir,
    bindirs: Vec<PathBuf>,
    /// Each program's path, looked up at most once, by [`Program`].
    paths: [OnceLock<Option<PathBuf>>; 5],
    /// Whether s6-svc takes several service directories (see `batch`).
    takes_many: OnceLock<bool>,
}

impl S6 {
    /// s6 at `scandir`, with its programs looked up in `HERMES_S6_BINDIR`
    /// or the usual places. The programs in `needed` are looked up now, so
    /// that a missing one is one error line, not one per gateway; any other
    /// on its first use.
    ///
    /// # Errors
    /// `ProgramNotFound` for the first needed one missing.
    pub fn connect(scandir: ScanDir, needed: &[Program]) -> Result<S6, Error> {
        let s6 = S6 {
            scandir,
            bindirs: locate::search_dirs(),
            paths: Default::default(),
            takes_many: OnceLock::new(),
        };
        for program in needed {
            s6.path(*program)?;
        }
        Ok(s6)
    }

    fn path(&self, program: Program) -> Result<&PathBuf, Error> {
        self.paths[program as usize]
            .get_or_init(|| locate::find(program.name(), &self.bindirs))
            .as_ref()
            .ok_or_else(|| Error::ProgramNotFound {
                program: program.name(),
                looked_in: self.bindirs.clone(),
            })
    }

    /// Reads the state of `gateway-<profile>`.
    ///
    /// # Errors
    /// s6-svstat could not run, failed, or printed something unreadable.
    pub fn read_state(&self, profile: &Name) -> Result<Supervision, Error> {
        let dir = self.scandir.service_dir(profile);
        let args = [
            OsStr::new("-o"),
            OsStr::new(svstat::FIELDS),
            dir.as_os_str(),
        ];
        let outcome = self.run(
            Program::Svstat,
            &profile.service(),
            &args,
            PROGRAM_BOUND,
            OnInterrupt::Finish,
        )?;
        match outcome.end {
            End::Exited(0) => svstat::parse(&outcome.stdout)
                .map(Supervision::Supervised)
                .ok_or(Error::BadStatus {
                    service: profile.service(),
                    output: outcome.stdout,
                }),
            End::Exited(svstat::RC_NOT_SUPERVISED) => Ok(Supervision::Unsupervised),
            End::Exited(rc) => Err(failed(Program::Svstat, "status", profile, rc, &outcome)),
            End::TimedOut | End::Interrupted => Err(unfinished(
                Program::Svstat,
                "status",
                profile,
                outcome.end,
                PROGRAM_BOUND,
                0,
            )),
        }
    }

    /// The longest a [`S6::send`] and its [`S6::wait`] can take together: a
    /// restart reads the state and sends a command, then waits; each run is
    /// bounded.
    pub fn control_bound(wait: Option<Duration>) -> Duration {
        PROGRAM_BOUND + PROGRAM_BOUND + wait.map_or(Duration::ZERO, |w| w + PROGRAM_BOUND)
    }

    /// The `s6-svc` options that carry out `action` on `gateway-<profile>`
    /// at once: [`DOWN`], [`UP`], or for a restart of a gateway that is up
    /// [`KILL_AND_UP`]. A restart of a gateway that is down is a start: `-r`
    /// only signals a running process.
    ///
    /// # Errors
    /// A restart's `s6-svstat` failed.
    pub fn command(
        &self,
        profile: &Name,
        action: Action,
    ) -> Result<&'static [&'static str], Error> {
        Ok(match action {
            Action::Stop => DOWN,
            Action::Start => UP,
            Action::Restart => match self.read_state(profile)? {
                Supervision::Supervised(ServiceState { up: true, .. }) => KILL_AND_UP,
                _ => UP,
            },
        })
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
        profile: &Name,
        action: Action,
        wait: Option<Duration>,
    ) -> Result<Option<Pending>, Error> {
        let dir = self.scandir.service_dir(profile);
        let ready = dir.join("notification-fd").is_file();
        let command = self.command(profile, action)?;
        let (command, wanted) = match command {
            _ if action == Action::Stop => (command, Wanted::Down),
            // A wait for a restart must listen before the kill is sent, or a
            // fast restart is missed: `-u` now (s6 wants it up from here on),
            // and the wait sends `-r` once it listens.
            KILL_AND_UP if wait.is_some() => (UP, Wanted::Restarted { ready }),
            KILL_AND_UP => (command, Wanted::Restarted { ready }),
            _ => (command, Wanted::Up { ready }),
        };
        let mut args: Vec<&OsStr> = command.iter().map(OsStr::new).collect();
        args.push(dir.as_os_str());
        let verb = action.verb();
        let outcome = self.run(
            Program::Svc,
            &profile.service(),
            &args,
            PROGRAM_BOUND,
            OnInterrupt::Finish,
        )?;
        match outcome.end {
            End::Exited(0) => Ok(wait.map(|limit| Pending {
                action,
                wanted,
                limit,
            })),
            End::Exited(rc) => Err(failed(Program::Svc, verb, profile, rc, &outcome)),
            end => Err(unfinished(
                Program::Svc,
                verb,
                profile,
                end,
                PROGRAM_BOUND,
                0,
            )),
        }
    }

    /// Waits until `gateway-<profile>` is in the state `pending` names: up
    /// (and ready, where it notifies readiness), really down (finish script
    /// done), or restarted.
    ///
    /// # Errors
    /// The state was not reached in time (`WaitTimedOut`), the wait failed
    /// (the supervisor died), overran its bound, or was interrupted.
    pub fn wait(&self, profile: &Name, pending: &Pending) -> Result<(), Error> {
        let dir = self.scandir.service_dir(profile);
        let millis = pending
            .limit
            .as_millis()
            .clamp(1, u128::from(u32::MAX))
            .to_string();
        // s6-svwait for a state; a restart listens with s6-svc -w, which
        // sends the `-r` once it listens.
        let (program, options): (Program, &[&str]) = match pending.wanted {
            Wanted::Up { ready: true } => (Program::Svwait, &["-U", "-t", &millis]),
            Wanted::Up { ready: false } => (Program::Svwait, &["-u", "-t", &millis]),
            Wanted::Down => (Program::Svwait, &["-D", "-t", &millis]),
            Wanted::Restarted { ready: true } => (Program::Svc, &["-wR", "-T", &millis, "-r"]),
            Wanted::Restarted { ready: false } => (Program::Svc, &["-wr", "-T", &millis, "-r"]),
        };
        let mut args: Vec<&OsStr> = options.iter().map(OsStr::new).collect();
        args.push(dir.as_os_str());
        let verb = pending.action.verb();
        let bound = pending.limit + PROGRAM_BOUND;
        let outcome = self.run(
            program,
            &profile.service(),
            &args,
            bound,
            OnInterrupt::Abandon,
        )?;
        match outcome.end {
            End::Exited(0) => Ok(()),
            End::Exited(RC_WAIT_TIMEOUT) => Err(Error::WaitTimedOut {
                service: profile.service(),
                verb,
                limit: pending.limit,
            }),
            End::Exited(rc) => Err(failed(program, verb, profile, rc, &outcome)),
            end => Err(unfinished(program, verb, profile, end, bound, 1)),
        }
    }

    /// Whether an s6-supervise runs on the service directory `dir`.
    ///
    /// # Errors
    /// s6-svok could not run or failed otherwise.
    pub fn is_supervised(&self, profile: &Name, dir: &Path) -> Result<bool, Error> {
        let outcome = self.run(
            Program::Svok,
            &profile.service(),
            &[dir.as_os_str()],
            PROGRAM_BOUND,
            OnInterrupt::Finish,
        )?;
        match outcome.end {
            End::Exited(0) => Ok(true),
            End::Exited(1) => Ok(false),
            End::Exited(rc) => Err(failed(Program::Svok, "check", profile, rc, &outcome)),
            end => Err(unfinished(
                Program::Svok,
                "check",
                profile,
                end,
                PROGRAM_BOUND,
                0,
            )),
        }
    }

    /// Tells s6-svscan to rescan its directory now (`s6-svscanctl -a`), and
    /// with `drop_removed`, to drop the supervisors of slots that are gone
    /// (`-an`).
    ///
    /// # Errors
    /// s6-svscanctl failed (no s6-svscan listening), with its reason.
    pub fn rescan(&self, drop_removed: bool) -> Result<(), Error> {
        let flag = if drop_removed { "-an" } else { "-a" };
        let subject = self.scandir.path.display().to_string();
        let args = [OsStr::new(flag), self.scandir.path.as_os_str()];
        let outcome = self.run(
            Program::Svscanctl,
            &subject,
            &args,
            PROGRAM_BOUND,
            OnInterrupt::Finish,
        )?;
        match outcome.end {
            End::Exited(0) => Ok(()),
            End::Exited(rc) => Err(Error::S6Failed {
                program: Program::Svscanctl.name(),
                action: "rescan",
                service: subject,
                rc,
                stderr: trim(&outcome.stderr),
            }),
            _ => Err(Error::S6TimedOut {
                program: Program::Svscanctl.name(),
                action: "rescan",
                service: subject,
                limit: PROGRAM_BOUND,
            }),
        }
    }

    /// Runs one s6 program about `subject` (a service, or the scan
    /// directory).
    fn run(
        &self,
        program: Program,
        subject: &str,
        args: &[&OsStr],
        bound: Duration,
        on_interrupt: OnInterrupt,
    ) -> Result<Outcome, Error> {
        let path = self.path(program)?;
        runner::run_bounded(path, args, bound, on_interrupt).map_err(|source| Error::S6Spawn {
            program: program.name(),
            service: subject.to_owned(),
            source,
        })
    }
}

/// An s6 program that ran and failed, in its own words.
fn failed(
    program: Program,
    action: &'static str,
    profile: &Name,
    rc: i32,
    outcome: &Outcome,
) -> Error {
    Error::S6Failed {
        program: program.name(),
        action,
        service: profile.service(),
        rc,
        stderr: trim(&outcome.stderr),
    }
}

/// An s6 program that overran `bound`, or was interrupted after `sent` of
/// its one command went to s6.
fn unfinished(
    program: Program,
    action: &'static str,
    profile: &Name,
    end: End,
    bound: Duration,
    sent: usize,
) -> Error {
    match crate::interrupt::signal() {
        Some(signal) if end == End::Interrupted => Error::Interrupted {
            signal,
            verb: action,
            service: Some(profile.service()),
            sent,
            of: 1,
        },
        _ => Error::S6TimedOut {
            program: program.name(),
            action,
            service: profile.service(),
            limit: bound,
        },
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
