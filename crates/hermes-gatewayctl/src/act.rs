//! `start`, `stop` and `restart`, of one gateway or of all of them.

use std::time::Duration;

use crate::cli::Action;
use crate::error::{self, Error, Warning};
use crate::interrupt;
use crate::out;
use crate::parallel;
use crate::planned_stop;
use crate::profile::{self, Homes};
use crate::s6::S6;
use crate::state::{self, Desired};

/// What `--all` prints when there is nothing to act on (exit 0).
pub const NONE_REGISTERED: &str = "No profile gateways registered under s6";

/// The s6 programs an action runs (a restart reads the state first; a
/// `--wait` is run by s6-svwait, or by s6-svc for a restart).
pub fn programs(action: Action, wait: Option<Duration>) -> &'static [&'static str] {
    match (action, wait) {
        (Action::Start | Action::Stop, None) => &["s6-svc"],
        (Action::Start | Action::Stop, Some(_)) => &["s6-svc", "s6-svwait"],
        (Action::Restart, None) => &["s6-svc", "s6-svstat"],
        (Action::Restart, Some(_)) => &["s6-svc", "s6-svstat", "s6-svwait"],
    }
}

/// The desired state an action leaves behind.
fn desired(action: Action) -> Desired {
    match action {
        Action::Stop => Desired::Stopped,
        Action::Start | Action::Restart => Desired::Running,
    }
}

/// What acting on one gateway came to.
#[derive(Debug)]
pub struct Acted {
    /// s6 took the command (and the desired state was recorded, or a
    /// warning says why not).
    pub sent: bool,
    pub warning: Option<Warning>,
    pub result: Result<(), Error>,
}

impl Acted {
    fn failed(result: Error) -> Acted {
        Acted {
            sent: false,
            warning: None,
            result: Err(result),
        }
    }

    /// Nothing was sent for lack of a process slot (RLIMIT_NPROC): trying
    /// again once others are done may work.
    pub fn is_busy(&self) -> bool {
        !self.sent && self.result.as_ref().is_err_and(Error::is_busy)
    }
}

/// Acts on one registered profile and records its desired state, holding
/// the profile's lock throughout (see [`state::lock_profile`]). A stop first
/// tells a Hermes gateway that it is planned (see [`planned_stop`]). The
/// desired state is recorded as soon as s6 has taken the command, before any
/// `--wait`: what s6 was told and what the next boot reads then agree, even
/// when the wait times out or is interrupted.
pub fn act(s6: &S6, homes: &Homes, profile: &str, action: Action, wait: Option<Duration>) -> Acted {
    if let Some(signal) = interrupt::signal() {
        return Acted::failed(Error::Interrupted {
            signal,
            verb: action.verb(),
            service: Some(profile::service(profile)),
            sent: 0,
            of: 1,
        });
    }
    if let Err(e) = s6.scandir.registered(profile) {
        return Acted::failed(e);
    }
    let home = homes.profile_home(profile);
    let _serialised = state::lock_profile(&home, S6::control_bound(wait));
    let announced = match action {
        Action::Stop => planned_stop::announce(&home),
        Action::Start | Action::Restart => None,
    };
    let pending = match s6.send(profile, action, wait) {
        Ok(pending) => pending,
        Err(e) => {
            // The stop was never sent: no SIGTERM is coming for the marker.
            if let Some(marker) = announced {
                marker.withdraw();
            }
            return Acted::failed(e);
        }
    };
    let warning = state::record(&home, desired(action));
    let result = pending.map_or(Ok(()), |pending| s6.wait(profile, &pending));
    Acted {
        sent: true,
        warning,
        result,
    }
}

/// One gateway: a confirmation line on success.
///
/// # Errors
/// The gateway is not registered, s6 failed, or the command was interrupted.
pub fn one(
    s6: &S6,
    homes: &Homes,
    profile: &str,
    action: Action,
    wait: Option<Duration>,
) -> Result<(), Error> {
    let acted = act(s6, homes, profile, action, wait);
    if let Some(w) = &acted.warning {
        error::warn(w);
    }
    acted.result?;
    out::stdout(format_args!(
        "✓ {} {} under s6",
        action.done(),
        profile::service(profile)
    ));
    Ok(())
}

/// Every registered gateway, concurrently; a failure never skips the rest.
/// Returns whether all succeeded.
///
/// # Errors
/// The scan directory cannot be listed, or the command was interrupted.
pub fn all(s6: &S6, homes: &Homes, action: Action, wait: Option<Duration>) -> Result<bool, Error> {
    let profiles = s6.scandir.profiles()?;
    if profiles.is_empty() {
        out::stdout(NONE_REGISTERED);
        return Ok(true);
    }
    let workers = if wait.is_some() {
        // Waiting costs nothing: every gateway waits at once.
        parallel::Workers::Idle
    } else {
        parallel::Workers::Busy
    };
    let results = parallel::map(&profiles, workers, Acted::is_busy, |p| {
        act(s6, homes, p, action, wait)
    });
    let mut succeeded = 0;
    let mut sent = 0;
    let mut interrupted_by = None;
    let mut failures = Vec::new();
    for (p, acted) in profiles.iter().zip(results) {
        sent += usize::from(acted.sent);
        if let Some(w) = &acted.warning {
            error::warn(w);
        }
        match acted.result {
            Ok(()) => succeeded += 1,
            Err(Error::Interrupted { signal, .. }) => interrupted_by = Some(signal),
            Err(e) => failures.push((p, e)),
        }
    }
    if interrupted_by.is_none() {
        out::stdout(format_args!(
            "✓ {} {succeeded} profile gateway(s) under s6",
            action.done()
        ));
    }
    for (p, e) in &failures {
        out::stderr(format_args!(
            "✗ Could not {} {}: {e}",
            action.verb(),
            profile::service(p)
        ));
    }
    if let Some(signal) = interrupted_by {
        return Err(Error::Interrupted {
            signal,
            verb: action.verb(),
            service: None,
            sent,
            of: profiles.len(),
        });
    }
    Ok(failures.is_empty())
}
