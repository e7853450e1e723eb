//! `register` and `unregister`: a profile's slot made at run time (as
//! `hermes profile create` does) and taken away again.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::action::Action;
use crate::error::Error;
use crate::profile::Name;
use crate::report::Report;
use crate::s6::S6;
use crate::slot::{self, Spec};

/// How often an unregister looks whether the supervisors have gone.
const POLL: Duration = Duration::from_millis(10);
/// How long the supervisors may take to go once told to.
const SUPERVISORS_GONE: Duration = Duration::from_secs(5);

/// Makes the slot `spec` describes and has s6-svscan supervise it at once;
/// if it cannot be told to, the slot is taken back.
///
/// # Errors
/// An existing slot, a slot that cannot be written, or s6-svscan not
/// answering.
pub fn register(s6: &S6, spec: &Spec) -> Result<Report, Error> {
    let live = s6.scandir.service_dir(&spec.profile);
    if fs::symlink_metadata(&live).is_ok() {
        return Err(Error::AlreadyRegistered {
            profile: spec.profile.clone(),
            dir: live,
        });
    }
    slot::stage(&s6.scandir.path, spec)?.publish(&spec.profile, false)?;
    if let Err(e) = s6.rescan(false) {
        // Unsupervised, the slot would only mislead: take it back.
        let _ = slot::remove_tree(&live);
        return Err(e);
    }
    let mut report = Report::default();
    let how = if spec.start {
        "Registered and started"
    } else {
        "Registered"
    };
    report.result(format!("✓ {how} {} under s6", spec.profile.service()));
    Ok(report)
}

/// Stops the gateway (waiting at most `limit` for it to be down), takes its
/// slot out of the scan directory, has s6-svscan drop its supervisors,
/// waits until they are gone, and removes the slot. The profile's own files
/// are not touched.
///
/// # Errors
/// The gateway did not stop in time, s6 failed, or its supervisors did not
/// go; the slot is then left in place.
pub fn unregister(s6: &S6, profile: &Name, limit: Duration) -> Result<Report, Error> {
    let mut report = Report::default();
    let live = s6.scandir.service_dir(profile);
    if fs::symlink_metadata(&live).is_err() {
        report.result(format!(
            "{} is not registered; nothing to do",
            profile.service()
        ));
        return Ok(report);
    }
    if s6.is_supervised(profile, &live)? {
        if let Some(pending) = s6.send(profile, Action::Stop, Some(limit))? {
            s6.wait(profile, &pending)?;
        }
    }
    // Out of the scan directory first: s6-svscan ignores dot-names, so it
    // now sees the slot gone and drops its supervisors.
    let leaving = s6.scandir.path.join(format!(".{}.gone", profile.service()));
    let _ = slot::remove_tree(&leaving);
    let slot_error = |source| Error::Slot {
        service: profile.service(),
        source,
    };
    fs::rename(&live, &leaving).map_err(slot_error)?;
    let dropped = if s6.scandir.svscan_answers() {
        s6.rescan(true)
    } else {
        Ok(())
    };
    if let Err(e) = dropped.and_then(|()| supervisors_gone(s6, profile, &leaving)) {
        let _ = fs::rename(&leaving, &live);
        return Err(e);
    }
    slot::remove_tree(&leaving).map_err(slot_error)?;
    report.result(format!("✓ Unregistered {}", profile.service()));
    Ok(report)
}

/// Waits until no s6-supervise runs on `dir` nor on its `log/`.
fn supervisors_gone(s6: &S6, profile: &Name, dir: &Path) -> Result<(), Error> {
    let deadline = Instant::now() + SUPERVISORS_GONE;
    let log = dir.join("log");
    loop {
        let main = s6.is_supervised(profile, dir)?;
        let logger = log.is_dir() && s6.is_supervised(profile, &log)?;
        if !main && !logger {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::SupervisorsStayed(profile.service()));
        }
        thread::sleep(POLL);
    }
}
