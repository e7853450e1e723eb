//! Talking to s6: the scan directory, the programs, and the two operations
//! gatewayctl needs (read a service's state, send it a command), each run
//! by absolute path with a time bound.

pub mod locate;
pub mod runner;
pub mod scandir;
pub mod svstat;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::Action;
use crate::error::Error;
use crate::profile;
use runner::Outcome;
use scandir::ScanDir;
use svstat::Status;

/// Bound on one s6 program run without `--wait`.
const PROGRAM_BOUND: Duration = Duration::from_secs(5);
/// s6-svlisten1's exit code when `-T` expired.
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
        programs
            .iter()
            .try_for_each(|p| locate::find(p, &self.bindirs).map(drop))
    }

    /// Reads the state of `gateway-<profile>`.
    ///
    /// # Errors
    /// s6-svstat could not run, failed, or printed something unreadable.
    pub fn status(&self, profile: &str) -> Result<Supervision, Error> {
        let service = profile::service(profile);
        let dir = self.scandir.service_dir(profile);
        let args = [
            Path::new("-o").as_os_str(),
            Path::new(svstat::FIELDS).as_os_str(),
            dir.as_os_str(),
        ];
        match self.run(
            "s6-svstat",
            &locate::find("s6-svstat", &self.bindirs)?,
            "status",
            &service,
            &args,
            PROGRAM_BOUND,
        )? {
            (0, stdout) => {
                svstat::parse(&stdout)
                    .map(Supervision::Supervised)
                    .ok_or(Error::BadStatus {
                        service,
                        output: stdout,
                    })
            }
            (svstat::RC_NOT_SUPERVISED, _) => Ok(Supervision::Unsupervised),
            (rc, stderr) => Err(Error::S6Failed {
                program: "s6-svstat",
                action: "status",
                service,
                rc,
                stderr,
            }),
        }
    }

    /// The longest [`S6::control`] can take: a restart reads the state, then
    /// runs s6-svc, each bounded.
    pub fn control_bound(wait: Option<Duration>) -> Duration {
        PROGRAM_BOUND + wait.map_or(PROGRAM_BOUND, |w| w + PROGRAM_BOUND)
    }

    /// Starts, stops or restarts `gateway-<profile>`, optionally waiting
    /// (`wait`) until it is up (and ready, where it notifies readiness),
    /// really down (finish script done), or restarted.
    ///
    /// # Errors
    /// s6-svc failed, overran its bound, or `--wait` timed out.
    pub fn control(
        &self,
        profile: &str,
        action: Action,
        wait: Option<Duration>,
    ) -> Result<(), Error> {
        let svc = locate::find("s6-svc", &self.bindirs)?;
        let service = profile::service(profile);
        let dir = self.scandir.service_dir(profile);
        let notifies = dir.join("notification-fd").is_file();
        // A restart of a gateway that is down is a start: `-r` only signals
        // a running process.
        let restart_up = action == Action::Restart
            && matches!(
                self.status(profile)?,
                Supervision::Supervised(Status { up: true, .. })
            );
        let (command, wait_flag): (&[&str], &str) = match action {
            Action::Stop => (&["-d"], "-wD"),
            Action::Restart if restart_up => (&["-r", "-u"], if notifies { "-wR" } else { "-wr" }),
            Action::Start | Action::Restart => (&["-u"], if notifies { "-wU" } else { "-wu" }),
        };
        let mut args: Vec<String> = Vec::new();
        if let Some(limit) = wait {
            args.extend([
                wait_flag.to_owned(),
                "-T".to_owned(),
                limit.as_millis().max(1).to_string(),
            ]);
        }
        args.extend(command.iter().map(|c| (*c).to_owned()));
        let mut args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        args.push(dir.as_os_str());
        let bound = wait.map_or(PROGRAM_BOUND, |w| w + PROGRAM_BOUND);
        match self.run("s6-svc", &svc, action.verb(), &service, &args, bound)? {
            (0, _) => Ok(()),
            (RC_WAIT_TIMEOUT, _) if wait.is_some() => Err(Error::WaitTimedOut {
                service,
                verb: action.verb(),
                secs: wait.map(format_secs).unwrap_or_default(),
            }),
            (rc, stderr) => Err(Error::S6Failed {
                program: "s6-svc",
                action: action.verb(),
                service,
                rc,
                stderr,
            }),
        }
    }

    /// Runs one s6 program; gives `(rc, stdout)` on success (rc 0) and
    /// `(rc, trimmed stderr)` otherwise.
    fn run(
        &self,
        program: &'static str,
        path: &Path,
        action: &'static str,
        service: &str,
        args: &[&std::ffi::OsStr],
        bound: Duration,
    ) -> Result<(i32, String), Error> {
        match runner::run_bounded(path, args, bound) {
            Ok(Outcome::Exited { rc: 0, stdout, .. }) => Ok((0, stdout)),
            Ok(Outcome::Exited { rc, stderr, .. }) => Ok((rc, trim(&stderr))),
            Ok(Outcome::TimedOut) => Err(Error::S6TimedOut {
                program,
                action,
                service: service.to_owned(),
                secs: format_secs(bound),
            }),
            Err(source) => Err(Error::S6Spawn {
                program,
                service: service.to_owned(),
                source,
            }),
        }
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

/// `2`, `0.5`: seconds as the user would have typed them.
fn format_secs(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs}")
    }
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

    #[test]
    fn seconds_are_shown_as_typed() {
        assert_eq!(format_secs(Duration::from_secs(2)), "2");
        assert_eq!(format_secs(Duration::from_millis(500)), "0.5");
    }
}
