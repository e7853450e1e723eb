//! `start`, `stop` and `restart`, of one gateway or of all of them.

use std::time::Duration;

use crate::cli::Action;
use crate::error::{self, Error, Warning};
use crate::out;
use crate::parallel;
use crate::planned_stop;
use crate::profile::{self, Homes};
use crate::s6::S6;
use crate::state::{self, Desired};

/// What `--all` prints when there is nothing to act on (exit 0).
pub const NONE_REGISTERED: &str = "No profile gateways registered under s6";

/// The s6 programs an action runs (a restart reads the state first).
pub fn programs(action: Action) -> &'static [&'static str] {
    match action {
        Action::Start | Action::Stop => &["s6-svc"],
        Action::Restart => &["s6-svc", "s6-svstat"],
    }
}

/// The desired state an action leaves behind.
fn desired(action: Action) -> Desired {
    match action {
        Action::Stop => Desired::Stopped,
        Action::Start | Action::Restart => Desired::Running,
    }
}

/// Acts on one registered profile and records its desired state, holding
/// the profile's lock throughout (see [`state::lock_profile`]). A stop first
/// tells a Hermes gateway that it is planned (see [`planned_stop`]).
///
/// # Errors
/// The gateway is not registered, or s6 failed.
pub fn act(
    s6: &S6,
    homes: &Homes,
    profile: &str,
    action: Action,
    wait: Option<Duration>,
) -> Result<Option<Warning>, Error> {
    s6.scandir.registered(profile)?;
    let home = homes.profile_home(profile);
    let _serialised = state::lock_profile(&home, S6::control_bound(wait));
    let announced = match action {
        Action::Stop => planned_stop::announce(&home),
        Action::Start | Action::Restart => None,
    };
    match s6.control(profile, action, wait) {
        Ok(()) => Ok(state::record(&home, desired(action))),
        // s6-svc sends the command before it waits: s6 now wants the new
        // state even though the wait gave up, so the record follows s6 (the
        // next boot must not undo a stop that s6 took).
        Err(timeout @ Error::WaitTimedOut { .. }) => {
            if let Some(w) = state::record(&home, desired(action)) {
                error::warn(&w);
            }
            Err(timeout)
        }
        // The stop was never sent: no SIGTERM is coming for the marker.
        Err(e) => {
            if let Some(marker) = announced {
                marker.withdraw();
            }
            Err(e)
        }
    }
}

/// One gateway: a confirmation line on success.
///
/// # Errors
/// The gateway is not registered, or s6 failed.
pub fn one(
    s6: &S6,
    homes: &Homes,
    profile: &str,
    action: Action,
    wait: Option<Duration>,
) -> Result<(), Error> {
    if let Some(w) = act(s6, homes, profile, action, wait)? {
        error::warn(&w);
    }
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
/// The scan directory cannot be listed.
pub fn all(s6: &S6, homes: &Homes, action: Action, wait: Option<Duration>) -> Result<bool, Error> {
    let profiles = s6.scandir.profiles()?;
    if profiles.is_empty() {
        out::stdout(NONE_REGISTERED);
        return Ok(true);
    }
    let results = parallel::map(&profiles, |p| act(s6, homes, p, action, wait));
    let mut succeeded = 0;
    let mut failures = Vec::new();
    for (p, result) in profiles.iter().zip(results) {
        match result {
            Ok(warning) => {
                succeeded += 1;
                if let Some(w) = warning {
                    error::warn(&w);
                }
            }
            Err(e) => failures.push((p, e)),
        }
    }
    out::stdout(format_args!(
        "✓ {} {succeeded} profile gateway(s) under s6",
        action.done()
    ));
    for (p, e) in &failures {
        out::stderr(format_args!(
            "✗ Could not {} {}: {e}",
            action.verb(),
            profile::service(p)
        ));
    }
    Ok(failures.is_empty())
}
