//! `reconcile`: the boot pass. The scan directory (`/run/service`) is a
//! tmpfs, empty at every container start; the profiles live on the
//! persistent volume. This makes a slot for the root profile and for every
//! real profile (a `profiles/<name>/` holding `SOUL.md`), up where its
//! recorded intent is `running`, down otherwise, as Hermes's own boot pass
//! does; and, unlike it, never dies of one bad directory, never replaces a
//! slot that s6 already supervises, and publishes each slot whole.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::container_cmd;
use crate::error::{Error, Warning};
use crate::profile::{DEFAULT_PROFILE, HermesHome, Name};
use crate::report::{Line, Report};
use crate::run;
use crate::s6::S6;
use crate::s6::scandir::ScanDir;
use crate::slot::{self, Owner, Spec, Template};
use crate::state;

/// Runtime files of the dead container, which name its pids.
const STALE: [&str; 2] = ["gateway.pid", "processes.json"];
/// The boot log, under `$HERMES_HOME/logs/`, turned over past this size.
const LOG: &str = "container-boot.log";
const LOG_ROTATE_BYTES: u64 = 256 * 1024;
const DASHBOARD: &str =
    "reconcile: skipping (dashboard container — does not need per-profile gateways)";

pub struct Options {
    pub dry_run: bool,
    pub json: bool,
    /// Copied into every slot instead of the Hermes image's scripts.
    pub template: Option<Template>,
    pub owner: Owner,
}

/// What became of one slot.
struct Done {
    profile: String,
    prior: Option<String>,
    action: &'static str,
}

/// Reconciles the slots in `scandir` with the profiles in `home`'s root.
///
/// # Errors
/// HERMES_HOME is not a directory.
pub fn reconcile(home: &HermesHome, scandir: PathBuf, options: &Options) -> Result<Report, Error> {
    let mut report = Report::default();
    let argv = container_cmd::argv();
    if container_cmd::is_dashboard(&argv) {
        report.result(DASHBOARD);
        return Ok(report);
    }
    let root = &home.root;
    if root.exists() && !root.is_dir() {
        return Err(Error::NoHermesHome(root.clone()));
    }
    if !options.dry_run {
        if let Err(source) = fs::create_dir_all(&scandir) {
            return Err(Error::ScanDirUnreadable {
                path: scandir,
                source,
            });
        }
    }
    // No s6-svscan need answer yet: the slots are made for it to find.
    let s6 = S6::connect(ScanDir::unchecked(scandir), &[])?;
    let multiplexed = std::env::var("GATEWAY_MULTIPLEX_PROFILES").is_ok_and(|v| {
        ["1", "true", "yes", "on"]
            .iter()
            .any(|t| v.trim().eq_ignore_ascii_case(t))
    });
    let mut done = Vec::new();
    let mut published = false;

    let legacy = seed_legacy_intent(root, &argv, options.dry_run, &mut report);
    let prior = legacy.or_else(|| read_prior(root, &mut report));
    let default = Name::parse(DEFAULT_PROFILE)?;
    let start = prior.as_deref() == Some("running");
    let action = make_slot(&s6, root, &default, start, options, &mut report);
    published |= matches!(action, "started" | "registered");
    done.push(Done {
        profile: DEFAULT_PROFILE.to_owned(),
        prior,
        action,
    });

    for (dir, profile) in real_profiles(root, &mut report) {
        let prior = read_prior(&dir, &mut report);
        let start = !multiplexed && prior.as_deref() == Some("running");
        let action = make_slot(&s6, &dir, &profile, start, options, &mut report);
        published |= matches!(action, "started" | "registered");
        done.push(Done {
            profile: profile.to_string(),
            prior,
            action,
        });
    }

    if !options.dry_run {
        if let Err(e) = append_log(root, &done) {
            report.warning(Some(Warning(format!(
                "could not write {}: {e}",
                root.join("logs").join(LOG).display()
            ))));
        }
        if published && s6.scandir.svscan_answers() {
            if let Err(e) = s6.rescan(false) {
                report.partial_failure(Line::Failure(e));
            }
        }
    }
    if options.json {
        let slots: Vec<Value> = done
            .iter()
            .map(|d| json!({"profile": d.profile, "prior_state": d.prior, "action": d.action}))
            .collect();
        report.result(Value::from(slots).to_string());
    } else {
        for d in &done {
            report.result(format!(
                "reconcile: profile={} prior_state={} action={}",
                d.profile,
                d.prior.as_deref().unwrap_or("None"),
                d.action
            ));
        }
    }
    Ok(report)
}

/// The profiles under `<root>/profiles/` that are real (hold `SOUL.md`),
/// sorted, with their homes. `default` is reserved for the root profile
/// and a name that is no valid profile is skipped, each with a warning.
fn real_profiles(root: &Path, report: &mut Report) -> Vec<(PathBuf, Name)> {
    let Ok(entries) = fs::read_dir(root.join("profiles")) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, String)> = entries
        .flatten()
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .filter(|(path, _)| path.is_dir() && path.join("SOUL.md").exists())
        .collect();
    found.sort();
    let mut real = Vec::new();
    for (path, name) in found {
        if name == DEFAULT_PROFILE {
            report.warning(Some(Warning(
                "profiles/default/ exists — skipping to avoid colliding with the reserved \
                 root-profile s6 slot"
                    .to_owned(),
            )));
            continue;
        }
        match Name::parse(&name) {
            Ok(profile) => real.push((path, profile)),
            Err(e) => report.warning(Some(Warning(format!(
                "skipping profiles/{}: {e}",
                crate::out::one_line(&name)
            )))),
        }
    }
    real
}

/// The intent recorded in `home`'s state file; a file that cannot be read
/// counts as none, with a warning.
fn read_prior(home: &Path, report: &mut Report) -> Option<String> {
    state::prior_intent(home).unwrap_or_else(|e| {
        report.warning(Some(Warning(format!(
            "could not read {} ({e}); treating as no prior state",
            home.join(state::FILE_NAME).display()
        ))));
        None
    })
}

/// A container started as `gateway run` before s6 took over gateways, with
/// no state file yet: its default gateway is meant to run, so that intent
/// is written down (`running`).
fn seed_legacy_intent(
    root: &Path,
    argv: &[String],
    dry_run: bool,
    report: &mut Report,
) -> Option<String> {
    if root.join(state::FILE_NAME).exists()
        || run::env_is_truthy("HERMES_GATEWAY_NO_SUPERVISE")
        || !container_cmd::is_legacy_gateway_run(argv)
    {
        return None;
    }
    if !dry_run {
        if let Err(e) = state::seed_legacy_running(root) {
            report.warning(Some(Warning(format!(
                "could not write {}: {e}",
                root.join(state::FILE_NAME).display()
            ))));
        }
    }
    Some("running".to_owned())
}

/// Makes the slot of `profile` (home `home`), up when `start`, and says
/// what became of it: `started`, `registered`, or `kept` when s6 already
/// supervises the one there (`failed` when it cannot be made: a failure
/// line, and the boot goes on).
fn make_slot(
    s6: &S6,
    home: &Path,
    profile: &Name,
    start: bool,
    options: &Options,
    report: &mut Report,
) -> &'static str {
    let chosen = if start { "started" } else { "registered" };
    let live = s6.scandir.service_dir(profile);
    let exists = fs::symlink_metadata(&live).is_ok();
    if exists {
        match s6.is_supervised(profile, &live) {
            Ok(true) => return "kept",
            Ok(false) => {}
            Err(e) => {
                // Whether s6 runs it cannot be told: never pull a slot from
                // under a supervisor that may be there.
                report.partial_failure(Line::Failure(e));
                return "kept";
            }
        }
    }
    if options.dry_run {
        return chosen;
    }
    for name in STALE {
        let _ = fs::remove_file(home.join(name));
    }
    let spec = Spec {
        profile: profile.clone(),
        template: options.template.clone(),
        start,
        owner: options.owner,
    };
    let made =
        slot::stage(&s6.scandir.path, &spec).and_then(|staged| staged.publish(profile, exists));
    match made {
        Ok(()) => chosen,
        Err(e) => {
            report.partial_failure(Line::Failure(e));
            "failed"
        }
    }
}

/// Appends one line per slot to `<root>/logs/container-boot.log`, which is
/// first turned over to `.1` once past 256 KiB.
fn append_log(root: &Path, done: &[Done]) -> std::io::Result<()> {
    let dir = root.join("logs");
    fs::create_dir_all(&dir)?;
    let path = dir.join(LOG);
    if fs::metadata(&path).is_ok_and(|m| m.len() >= LOG_ROTATE_BYTES) {
        fs::rename(&path, dir.join(format!("{LOG}.1")))?;
    }
    // UTC, with the offset written as Python's `%z` writes it.
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let stamp = now
        .strip_suffix('Z')
        .map_or(now.clone(), |t| format!("{t}+0000"));
    let mut text = String::new();
    for d in done {
        text.push_str(&format!(
            "{stamp} profile={} prior_state={} action={}\n",
            d.profile,
            d.prior.as_deref().unwrap_or("None"),
            d.action
        ));
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?
        .write_all(text.as_bytes())
}
