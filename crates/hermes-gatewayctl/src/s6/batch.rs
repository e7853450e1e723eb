//! One command to many gateways with as few `s6-svc` runs as possible.
//!
//! From s6 2.14 on, `s6-svc` takes several service directories and says of
//! each one it could not control `s6-svc: warning: unable to control DIR:
//! REASON`, so one run does what one per gateway did. 2.11 acts on the first
//! directory only: whether the `s6-svc` found is of the new kind is read
//! from its usage line, once, and a batch is never handed to an old one.

use std::ffi::OsStr;
use std::path::PathBuf;

use super::runner::{End, OnInterrupt};
use super::{PROGRAM_BOUND, Program, S6, trim};
use crate::action::Action;
use crate::error::Error;
use crate::profile::Name;

/// Longest argument list given to one `s6-svc` run, in bytes: far under
/// any ARG_MAX (128 KiB at least), so a batch never fails for its size.
const ARGS_PER_RUN: usize = 64 * 1024;
/// The start of the line 2.14+ writes for a directory it could not control.
const UNABLE: &str = "s6-svc: warning: unable to control ";

impl S6 {
    /// True when the `s6-svc` found takes several service directories at
    /// once (its usage line says `servicedirs...`). Asked once; anything
    /// that goes wrong asking means no.
    pub fn takes_many(&self) -> bool {
        *self.takes_many.get_or_init(|| {
            let Ok(path) = self.path(Program::Svc) else {
                return false;
            };
            let none: [&OsStr; 0] = [];
            super::runner::run_bounded(path, &none, PROGRAM_BOUND, OnInterrupt::Finish)
                .is_ok_and(|o| o.stderr.contains("servicedirs..."))
        })
    }

    /// Sends `command` (like `["-d"]`) for `action` to the gateways of
    /// `profiles`, in as few `s6-svc` runs as the argument list allows, and
    /// says for each whether s6 took it: a directory named in a warning
    /// line failed with that line as its reason; a run that failed without
    /// naming any (it could not start, overran, was interrupted) failed for
    /// all of its directories.
    pub fn send_many(
        &self,
        profiles: &[&Name],
        action: Action,
        command: &[&str],
    ) -> Vec<Result<(), Error>> {
        let dirs: Vec<PathBuf> = profiles
            .iter()
            .map(|p| self.scandir.service_dir(p))
            .collect();
        let mut results = Vec::with_capacity(dirs.len());
        let mut start = 0;
        while start < dirs.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < dirs.len()
                && (end == start || bytes + dirs[end].as_os_str().len() < ARGS_PER_RUN)
            {
                bytes += dirs[end].as_os_str().len() + 1;
                end += 1;
            }
            results.extend(self.send_one_run(
                &profiles[start..end],
                &dirs[start..end],
                action,
                command,
            ));
            start = end;
        }
        results
    }

    fn send_one_run(
        &self,
        profiles: &[&Name],
        dirs: &[PathBuf],
        action: Action,
        command: &[&str],
    ) -> Vec<Result<(), Error>> {
        let verb = action.verb();
        let mut args: Vec<&OsStr> = command.iter().map(OsStr::new).collect();
        args.extend(dirs.iter().map(|d| d.as_os_str()));
        let subject = format!("{} gateway(s)", dirs.len());
        let outcome = match self.run(
            Program::Svc,
            &subject,
            &args,
            PROGRAM_BOUND,
            OnInterrupt::Finish,
        ) {
            Ok(outcome) => outcome,
            Err(e) => return all_failed(profiles, &e),
        };
        let rc = match outcome.end {
            End::Exited(0) => return profiles.iter().map(|_| Ok(())).collect(),
            End::Exited(rc) => rc,
            end => {
                let failed =
                    super::unfinished(Program::Svc, verb, profiles[0], end, PROGRAM_BOUND, 0);
                return all_failed(profiles, &failed);
            }
        };
        let named: Vec<Option<&str>> = dirs
            .iter()
            .map(|dir| {
                let prefix = format!("{UNABLE}{}: ", dir.display());
                outcome.stderr.lines().find(|l| l.starts_with(&prefix))
            })
            .collect();
        let any_named = named.iter().any(Option::is_some);
        profiles
            .iter()
            .zip(named)
            .map(|(p, line)| match (line, any_named) {
                (None, true) => Ok(()),
                (Some(line), _) => Err(Error::S6Failed {
                    program: "s6-svc",
                    action: verb,
                    service: p.service(),
                    rc,
                    stderr: trim(line),
                }),
                (None, false) => Err(Error::S6Failed {
                    program: "s6-svc",
                    action: verb,
                    service: p.service(),
                    rc,
                    stderr: trim(&outcome.stderr),
                }),
            })
            .collect()
    }
}

/// The same failure, `why`, for each gateway of a run that failed as a whole.
fn all_failed(profiles: &[&Name], why: &Error) -> Vec<Result<(), Error>> {
    let why = why.to_string();
    profiles
        .iter()
        .map(|p| {
            Err(Error::Batch {
                service: p.service(),
                why: why.clone(),
            })
        })
        .collect()
}
