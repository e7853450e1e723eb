//! `gatewayctl run`: hand the container's CMD over to s6 (start
//! `gateway-<profile>`), then exec the heartbeat by absolute path, so an
//! empty or clobbered PATH can never kill the container; or, when opted out,
//! supervised, or not under s6, run COMMAND in the foreground.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::action::Action;
use crate::control;
use crate::error::{self, Error, Warning};
use crate::hold;
use crate::out;
use crate::profile::{HermesHome, Name};
use crate::s6::scandir::{self, ScanDir};
use crate::s6::svstat::ServiceState;
use crate::s6::{S6, Supervision};

/// Where the heartbeat is looked for last, fixed at build time
/// (`HERMES_HEARTBEAT_PATH`, set by `make static` from PREFIX).
const BUILT_IN_HEARTBEAT: &str = match option_env!("HERMES_HEARTBEAT_PATH") {
    Some(path) => path,
    None => "/usr/local/bin/hermes-heartbeat",
};
const HEARTBEAT_NAME: &str = "hermes-heartbeat";

/// What `run` was asked to do.
pub struct Request<'a> {
    pub home: &'a HermesHome,
    /// `-p/--profile`, already checked.
    pub profile: Option<Name>,
    /// The scan directory named by `--scandir` or the environment, if any.
    pub scandir: Option<PathBuf>,
    pub no_supervise: bool,
    pub command: Vec<OsString>,
}

/// Runs `gatewayctl run`. Returns only on failure: on success the process
/// has become the heartbeat or COMMAND, or holds in-process until stopped.
/// It writes its own lines (the breadcrumb, a warning per heartbeat that
/// cannot be exec'd), since nothing returns after an exec.
pub fn hand_over(req: Request<'_>) -> Error {
    match try_hand_over(req) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn try_hand_over(req: Request<'_>) -> Result<std::convert::Infallible, Error> {
    // The recursion guard: this is the supervised gateway, started by its
    // s6 run script. It runs COMMAND, and is never refused.
    if env_is_set("HERMES_S6_SUPERVISED_CHILD") {
        return exec_foreground(&req.command);
    }
    let opted_out = req.no_supervise || env_is_truthy("HERMES_GATEWAY_NO_SUPERVISE");
    let scandir = match req.scandir {
        Some(path) => ScanDir::at(path)?,
        None if scandir::under_s6_overlay() => ScanDir::container(),
        None => return exec_foreground(&req.command),
    };
    let profile = req.home.choose(req.profile)?;
    if opted_out {
        // Two gateways on one profile corrupt its state: refuse while the
        // supervised one is up.
        let s6 = S6::connect(scandir, &[])?;
        if s6.scandir.registered(&profile).is_ok()
            && matches!(
                s6.read_state(&profile)?,
                Supervision::Supervised(ServiceState { up: true, .. })
            )
        {
            return Err(Error::AlreadySupervised);
        }
        return exec_foreground(&req.command);
    }
    let s6 = S6::connect(scandir, control::programs(Action::Start, None))?;
    let acted = control::gateway(&s6, req.home, &profile, Action::Start, None);
    if let Some(w) = &acted.warning {
        out::warning(w);
    }
    acted.result?;
    out::stderr(format_args!(
        "✓ {} is running under s6 supervision; this CMD process now only keeps the container alive. \
         To run the gateway in the foreground instead, pass --no-supervise or set HERMES_GATEWAY_NO_SUPERVISE=1.",
        profile.service()
    ));
    for candidate in heartbeat_candidates() {
        // A relative name would make exec search PATH: exactly what `run`
        // must never depend on.
        let failure = if candidate.is_absolute() {
            Command::new(&candidate).exec().to_string()
        } else {
            "not an absolute path".to_owned()
        };
        out::warning(&Warning(format!(
            "cannot exec {}: {failure}; trying the next place",
            error::shown(&candidate.to_string_lossy())
        )));
    }
    hold::forever().map_err(Error::HoldFailed)
}

/// Execs COMMAND through PATH (execvp). 127 when not found, 126 when it
/// cannot be executed.
fn exec_foreground(command: &[OsString]) -> Result<std::convert::Infallible, Error> {
    let Some((program, args)) = command.split_first() else {
        return Err(Error::usage(
            "run needs a COMMAND to run in the foreground here",
        ));
    };
    let source = Command::new(program).args(args).exec();
    Err(Error::Exec {
        program: program.to_string_lossy().into_owned(),
        source,
    })
}

/// Where the heartbeat may be, in order: `$HERMES_HEARTBEAT`, beside our
/// own executable (`/proc/self/exe`, else an absolute argv[0]), then the
/// built-in path. Duplicates are dropped.
pub fn heartbeat_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("HERMES_HEARTBEAT").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(path));
    }
    let own = std::env::current_exe().ok().or_else(|| {
        std::env::args_os()
            .next()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    });
    if let Some(dir) = own.as_deref().and_then(Path::parent) {
        candidates.push(dir.join(HEARTBEAT_NAME));
    }
    candidates.push(PathBuf::from(BUILT_IN_HEARTBEAT));
    let mut unique = Vec::new();
    for c in candidates {
        if !unique.contains(&c) {
            unique.push(c);
        }
    }
    unique
}

fn env_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// `1`, `true` or `yes`, in any case (surrounding blanks ignored); anything
/// else, `0`, `false`, `no`, `off`, empty or garbage, is not an opt-out.
pub fn env_is_truthy(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| is_truthy(&v))
}

fn is_truthy(value: &str) -> bool {
    let v = value.trim();
    ["1", "true", "yes"]
        .iter()
        .any(|t| v.eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthy_values() {
        for yes in [
            "1", "true", "TRUE", "yes", "Yes", " yes ", "\tyes\t", " 1\t",
        ] {
            assert!(is_truthy(yes), "{yes:?}");
        }
        for no in [
            "", "0", "false", "no", "off", "on", "ON", "garbage", "2", "y",
        ] {
            assert!(!is_truthy(no), "{no:?}");
        }
    }

    #[test]
    fn built_in_heartbeat_is_the_last_candidate() {
        let c = heartbeat_candidates();
        assert_eq!(c.last(), Some(&PathBuf::from(BUILT_IN_HEARTBEAT)));
    }
}
