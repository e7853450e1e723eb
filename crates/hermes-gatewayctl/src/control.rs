//! `start`, `stop` and `restart`, of one gateway or of all of them.

use std::time::Duration;

use crate::action::Action;
use crate::error::{Error, Warning};
use crate::interrupt;
use crate::parallel;
use crate::planned_stop;
use crate::profile::{HermesHome, Name};
use crate::report::{Line, NONE_REGISTERED, Report};
use crate::s6::{Program, S6};
use crate::state::{self, Desired};

/// The s6 programs an action runs, to be found before any gateway is acted
/// on (a restart reads the state first; a `--wait` is run by s6-svwait, or
/// by s6-svc for a restart).
pub fn programs(action: Action, wait: Option<Duration>) -> &'static [Program] {
    match (action, wait) {
        (Action::Start | Action::Stop, None) => &[Program::Svc],
        (Action::Start | Action::Stop, Some(_)) => &[Program::Svc, Program::Svwait],
        (Action::Restart, None) => &[Program::Svc, Program::Svstat],
        (Action::Restart, Some(_)) => &[Program::Svc, Program::Svstat, Program::Svwait],
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

/// Acts on one registered gateway and records its desired state, holding
/// the profile's lock throughout (see [`state::lock_profile`]). A stop first
/// tells a Hermes gateway that it is planned (see [`planned_stop`]). The
/// desired state is recorded as soon as s6 has taken the command, before any
/// `--wait`: what s6 was told and what the next boot reads then agree, even
/// when the wait times out or is interrupted.
pub fn gateway(
    s6: &S6,
    home: &HermesHome,
    profile: &Name,
    action: Action,
    wait: Option<Duration>,
) -> Acted {
    if let Some(signal) = interrupt::signal() {
        return Acted::failed(Error::Interrupted {
            signal,
            verb: action.verb(),
            service: Some(profile.service()),
            sent: 0,
            of: 1,
        });
    }
    if let Err(e) = s6.scandir.registered(profile) {
        return Acted::failed(e);
    }
    let profile_home = home.of(profile);
    let _serialised = state::lock_profile(&profile_home, S6::control_bound(wait));
    let announced = match action {
        Action::Stop => planned_stop::announce(&profile_home),
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
    let warning = state::record(&profile_home, desired(action));
    let result = pending.map_or(Ok(()), |pending| s6.wait(profile, &pending));
    Acted {
        sent: true,
        warning,
        result,
    }
}

/// One gateway: a confirmation line on success.
pub fn one(
    s6: &S6,
    home: &HermesHome,
    profile: &Name,
    action: Action,
    wait: Option<Duration>,
) -> Report {
    let acted = gateway(s6, home, profile, action, wait);
    let mut report = Report::default();
    report.warning(acted.warning);
    match acted.result {
        Ok(()) => report.result(format!(
            "✓ {} {} under s6",
            action.done(),
            profile.service()
        )),
        Err(e) => report.failure(e),
    }
    report
}

/// Every registered gateway, concurrently; a failure never skips the rest.
///
/// # Errors
/// The scan directory cannot be listed.
pub fn all(
    s6: &S6,
    home: &HermesHome,
    action: Action,
    wait: Option<Duration>,
) -> Result<Report, Error> {
    let profiles = s6.scandir.profiles()?;
    let mut report = Report::default();
    if profiles.is_empty() {
        report.result(NONE_REGISTERED);
        return Ok(report);
    }
    let workers = if wait.is_some() {
        // Waiting costs nothing: every gateway waits at once.
        parallel::Workers::Idle
    } else {
        parallel::Workers::Busy
    };
    let results = parallel::map(&profiles, workers, Acted::is_busy, |p| {
        gateway(s6, home, p, action, wait)
    });
    let total = profiles.len();
    let mut succeeded = 0;
    let mut sent = 0;
    let mut interrupted_by = None;
    let mut failures = Vec::new();
    for (profile, acted) in profiles.into_iter().zip(results) {
        sent += usize::from(acted.sent);
        report.warning(acted.warning);
        match acted.result {
            Ok(()) => succeeded += 1,
            Err(Error::Interrupted { signal, .. }) => interrupted_by = Some(signal),
            Err(error) => failures.push(Line::CouldNot {
                action,
                profile,
                error,
            }),
        }
    }
    if interrupted_by.is_none() {
        report.result(format!(
            "✓ {} {succeeded} profile gateway(s) under s6",
            action.done()
        ));
    }
    for failure in failures {
        report.partial_failure(failure);
    }
    if let Some(signal) = interrupted_by {
        report.failure(Error::Interrupted {
            signal,
            verb: action.verb(),
            service: None,
            sent,
            of: total,
        });
    }
    Ok(report)
}
