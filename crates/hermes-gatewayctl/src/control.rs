//! `start`, `stop` and `restart`, of one gateway or of all of them.

use std::time::Duration;

use crate::action::Action;
use crate::error::{Error, Warning};
use crate::interrupt;
use crate::parallel;
use crate::planned_stop;
use crate::profile::{HermesHome, Name};
use crate::report::{Line, NONE_REGISTERED, Report};
use crate::s6::{self, Program, S6};
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
        return interrupted(signal, action, profile);
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

/// A gateway left alone because `signal` interrupted the command first.
fn interrupted(signal: i32, action: Action, profile: &Name) -> Acted {
    Acted::failed(Error::Interrupted {
        signal,
        verb: action.verb(),
        service: Some(profile.service()),
        sent: 0,
        of: 1,
    })
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
    let results = if wait.is_none() && s6.takes_many() {
        batched(s6, home, &profiles, action)
    } else {
        let workers = if wait.is_some() {
            // Waiting costs nothing: every gateway waits at once.
            parallel::Workers::Idle
        } else {
            parallel::Workers::Busy
        };
        parallel::map(&profiles, workers, Acted::is_busy, |p| {
            gateway(s6, home, p, action, wait)
        })
    };
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

/// `--all` without `--wait` where s6-svc takes many service directories
/// (s6 2.14+): as [`gateway`] does for one, but with one `s6-svc` run for
/// all (batched when the argument list would be long; a restart runs one
/// for the gateways that are up, `-r -u`, and one for those that are down,
/// `-u`). Each gateway's lock and planned-stop marker come first; then each
/// one s6 took gets its desired state recorded, and each it did not its
/// marker withdrawn.
fn batched(s6: &S6, home: &HermesHome, profiles: &[Name], action: Action) -> Vec<Acted> {
    if let Some(signal) = interrupt::signal() {
        return profiles
            .iter()
            .map(|p| interrupted(signal, action, p))
            .collect();
    }
    // Only a restart reads each gateway's state to choose its command.
    let commands: Vec<Result<&[&str], Error>> = match action {
        Action::Restart => parallel::map(
            profiles,
            parallel::Workers::Busy,
            |command: &Result<_, Error>| command.as_ref().is_err_and(Error::is_busy),
            |p| s6.command(p, action),
        ),
        Action::Stop | Action::Start => profiles.iter().map(|p| s6.command(p, action)).collect(),
    };
    // Each gateway's lock is a descriptor held until its record is written:
    // the gateways go in chunks that fit the descriptors left, one
    // s6-svc run (or two, for a restart) per chunk.
    let mut commands = commands.into_iter();
    let mut acted = Vec::with_capacity(profiles.len());
    let chunk = parallel::descriptors_free()
        .saturating_sub(FDS_PER_RUN + FDS_FOR_FILE_WORK)
        .max(1);
    for profiles in profiles.chunks(chunk) {
        let commands: Vec<_> = commands.by_ref().take(profiles.len()).collect();
        acted.extend(batched_chunk(s6, home, profiles, commands, action));
    }
    acted
}

/// Descriptors one `s6-svc` run takes (its pipes, a pidfd, /dev/null).
const FDS_PER_RUN: usize = 8;
/// Descriptors the workers writing markers and states hold at once, beside
/// the chunk's locks (a few each).
const FDS_FOR_FILE_WORK: usize = 64;

/// [`batched`] for `profiles`, whose commands are `commands`.
fn batched_chunk(
    s6: &S6,
    home: &HermesHome,
    profiles: &[Name],
    commands: Vec<Result<&[&str], Error>>,
    action: Action,
) -> Vec<Acted> {
    // Each gateway's lock, then its marker, before anything is sent. The
    // locks are taken one after the other in the profiles' (sorted) order,
    // as every other gatewayctl takes them: two `--all` runs never hold one
    // lock each while waiting for the other's. The markers, file work, are
    // spread over workers.
    let homes: Vec<_> = profiles.iter().map(|p| home.of(p)).collect();
    let locks: Vec<_> = homes
        .iter()
        .map(|h| state::lock_profile(h, S6::control_bound(None)))
        .collect();
    let markers = parallel::map(
        &homes,
        parallel::Workers::Busy,
        |_| false,
        |h| match action {
            Action::Stop => planned_stop::announce(h),
            Action::Start | Action::Restart => None,
        },
    );
    let prepared: Vec<_> = homes
        .into_iter()
        .zip(locks)
        .zip(markers)
        .map(|((h, lock), marker)| (h, lock, marker))
        .collect();
    let mut sent: Vec<Option<Result<(), Error>>> = profiles.iter().map(|_| None).collect();
    for command in [s6::DOWN, s6::UP, s6::KILL_AND_UP] {
        let chosen: Vec<usize> = commands
            .iter()
            .enumerate()
            .filter(|(_, c)| c.as_ref().is_ok_and(|c| *c == command))
            .map(|(i, _)| i)
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let names: Vec<&Name> = chosen.iter().map(|&i| &profiles[i]).collect();
        for (i, result) in chosen
            .into_iter()
            .zip(s6.send_many(&names, action, command))
        {
            sent[i] = Some(result);
        }
    }
    let rows: Vec<_> = commands
        .into_iter()
        .zip(sent)
        .zip(prepared)
        .map(|((command, sent), prepared)| {
            let result = match (command, sent) {
                (Err(e), _) => Err(e),
                (Ok(_), Some(result)) => result,
                (Ok(_), None) => Ok(()),
            };
            (result, prepared)
        })
        .collect();
    // Each desired state recorded while its lock is still held.
    let warnings = parallel::map(
        &rows,
        parallel::Workers::Busy,
        |_| false,
        |row| {
            let (result, (profile_home, _lock, _marker)) = row;
            result
                .as_ref()
                .ok()
                .and_then(|()| state::record(profile_home, desired(action)))
        },
    );
    rows.into_iter()
        .zip(warnings)
        .map(|((result, (_home, _lock, marker)), warning)| match result {
            Ok(()) => Acted {
                sent: true,
                warning,
                result: Ok(()),
            },
            Err(e) => {
                if let Some(marker) = marker {
                    marker.withdraw();
                }
                Acted::failed(e)
            }
        })
        .collect()
}
