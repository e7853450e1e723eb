//! The desired state of a gateway, kept in `<profile home>/gateway_state.json`
//! so that the boot-time reconcile brings back what was running: other keys
//! are kept, and the file is replaced atomically (temp file + rename).

use std::fs;
use std::io;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;
use serde_json::{Map, Value};

use crate::error::Warning;
use crate::home_file::{self, Contents};

pub const FILE_NAME: &str = "gateway_state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Desired {
    Running,
    Stopped,
}

impl Desired {
    fn as_str(self) -> &'static str {
        match self {
            Desired::Running => "running",
            Desired::Stopped => "stopped",
        }
    }
}

/// Serialises the gatewayctl processes that act on one profile, so that what
/// s6 was told last is also what the state file says: an exclusive `flock`
/// on the profile home directory itself (locking a directory writes
/// nothing), held until the returned guard drops. Best effort, never a hang:
/// a home that cannot be opened, or a lock another process still holds
/// after `patience` (the longest a holder's s6 work can take), goes on
/// unlocked.
pub fn lock_profile(home: &Path, patience: Duration) -> Option<fs::File> {
    const POLL: Duration = Duration::from_millis(2);
    let dir = fs::File::open(home).ok()?;
    let deadline = Instant::now() + patience;
    loop {
        match flock(&dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Some(dir),
            Err(Errno::WOULDBLOCK) if Instant::now() < deadline => thread::sleep(POLL),
            Err(_) => return None,
        }
    }
}

/// Records `desired` in the profile home's state file. A missing profile
/// home is skipped silently; anything else that goes wrong is a warning,
/// never a failed action. A missing file starts from an empty object; one
/// that is not a JSON object (no key to keep) is replaced, with a warning;
/// one that cannot be read, or is not a regular file, is left as it is (its
/// keys may be another writer's).
pub fn record(home: &Path, desired: Desired) -> Option<Warning> {
    if !home.is_dir() {
        return None;
    }
    let path = home.join(FILE_NAME);
    let not_recorded = |why: &dyn std::fmt::Display| {
        Some(Warning(format!(
            "could not record the desired state in {}: {why}",
            path.display()
        )))
    };
    let (mut object, was_object) = match read_object(&path) {
        Ok(read) => read,
        Err(why) => return not_recorded(&why),
    };
    object.insert("desired_state".to_owned(), Value::from(desired.as_str()));
    object.insert("updated_at".to_owned(), Value::from(unix_seconds()));
    match home_file::replace_json(&path, &Value::Object(object)) {
        Ok(()) if was_object => None,
        Ok(()) => Some(Warning(format!(
            "{} was not a JSON object; replaced it",
            path.display()
        ))),
        Err(e) => not_recorded(&e),
    }
}

/// Why an existing state file is left untouched.
#[derive(Debug)]
enum Unusable {
    Unreadable(io::Error),
    NotRegular,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Unreadable(e) => write!(f, "cannot read it: {e}; left it as it was"),
            Unusable::NotRegular => f.write_str("not a regular file; left it as it was"),
        }
    }
}

/// The state file's object, and whether it was one: an empty object when
/// there is no file (true) or when it holds no JSON object (false).
fn read_object(path: &Path) -> Result<(Map<String, Value>, bool), Unusable> {
    let bytes = match home_file::read_regular(path, u64::MAX).map_err(Unusable::Unreadable)? {
        Contents::Missing => return Ok((Map::new(), true)),
        Contents::NotRegular => return Err(Unusable::NotRegular),
        Contents::Bytes(bytes) => bytes,
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(object)) => Ok((object, true)),
        _ => Ok((Map::new(), false)),
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Map<String, Value> {
        match fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(Value::Object(m)) => m,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn profile_lock_is_exclusive_bounded_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let patience = Duration::from_millis(50);
        let held = lock_profile(dir.path(), patience);
        assert!(held.is_some(), "no lock on a fresh directory");
        let start = Instant::now();
        assert!(lock_profile(dir.path(), patience).is_none(), "lock shared");
        assert!(start.elapsed() >= patience, "gave up before its patience");
        drop(held);
        assert!(lock_profile(dir.path(), patience).is_some(), "not released");
        assert!(lock_profile(&dir.path().join("missing"), patience).is_none());
        let names: Vec<_> = fs::read_dir(dir.path())
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(names.is_empty(), "locking wrote {names:?}");
    }

    #[test]
    fn writes_state_and_keeps_other_keys_in_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        fs::write(
            &path,
            r#"{"zeta": 1, "desired_state": "stopped", "alpha": [true]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(record(dir.path(), Desired::Running).is_none());
        let m = read(&path);
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["zeta", "desired_state", "alpha", "updated_at"]
        );
        assert_eq!(m["desired_state"], "running");
        assert!(m["updated_at"].as_u64().is_some_and(|t| t > 1_600_000_000));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file left");
    }

    #[test]
    fn whatever_sits_at_the_temp_name_is_left_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep me").unwrap_or_else(|e| panic!("{e}"));
        // The names README documents: `.gateway_state.json.tmp.<pid>.<n>`.
        let temp = |n: u32| {
            let name = format!(".{FILE_NAME}.tmp.{}.{n}", std::process::id());
            dir.path().join(name)
        };
        let planted = temp(0);
        std::os::unix::fs::symlink(&victim, &planted).unwrap_or_else(|e| panic!("{e}"));
        let stale = temp(1);
        fs::write(&stale, "stale").unwrap_or_else(|e| panic!("{e}"));

        assert!(record(dir.path(), Desired::Stopped).is_none());
        assert_eq!(read(&path)["desired_state"], "stopped");
        assert_eq!(fs::read_to_string(&victim).ok().as_deref(), Some("keep me"));
        assert!(fs::symlink_metadata(&planted).is_ok_and(|m| m.file_type().is_symlink()));
        assert_eq!(fs::read_to_string(&stale).ok().as_deref(), Some("stale"));
        assert!(!temp(2).exists(), "the temp used was not renamed");
    }

    #[test]
    fn with_every_temp_name_taken_nothing_is_written_and_a_warning_says_so() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, r#"{"desired_state": "running"}"#).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..8 {
            let name = format!(".{FILE_NAME}.tmp.{}.{n}", std::process::id());
            fs::write(dir.path().join(name), "taken").unwrap_or_else(|e| panic!("{e}"));
        }
        let warning = record(dir.path(), Desired::Stopped).map(|w| w.0);
        assert!(
            warning.as_deref().is_some_and(|w| w.starts_with(&format!(
                "could not record the desired state in {}: ",
                path.display()
            ))),
            "{warning:?}"
        );
        assert_eq!(read(&path)["desired_state"], "running");
        let count = fs::read_dir(dir.path()).map_or(0, Iterator::count);
        assert_eq!(count, 9, "a temp file written elsewhere");
    }

    #[test]
    fn the_old_file_s_permissions_are_kept() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        for mode in [0o600, 0o640, 0o664] {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join(FILE_NAME);
            fs::write(&path, "{}").unwrap_or_else(|e| panic!("{e}"));
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
            let before = fs::metadata(&path).map(|m| m.ino()).ok();
            assert!(record(dir.path(), Desired::Running).is_none());
            let after = fs::metadata(&path).ok();
            assert_ne!(after.as_ref().map(MetadataExt::ino), before, "not replaced");
            assert_eq!(after.map(|m| m.mode() & 0o7777), Some(mode), "{mode:o}");
        }
    }

    #[test]
    fn a_new_file_is_as_readable_as_the_umask_lets_it_be() {
        use std::os::unix::fs::PermissionsExt;
        // Read, not set: the umask is the whole test process's.
        let umask = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Umask:"))?;
                u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
            })
            .unwrap_or_else(|| panic!("no Umask in /proc/self/status"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(record(dir.path(), Desired::Running).is_none());
        let mode = fs::metadata(dir.path().join(FILE_NAME)).map(|m| m.permissions().mode());
        assert_eq!(mode.ok().map(|m| m & 0o7777), Some(0o666 & !umask));
    }

    #[test]
    fn missing_home_is_skipped() {
        assert!(record(Path::new("/nonexistent/home"), Desired::Stopped).is_none());
    }

    #[test]
    fn a_home_that_is_not_a_directory_is_skipped_like_a_missing_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let home = dir.path().join("home");
        fs::write(&home, "a file").unwrap_or_else(|e| panic!("{e}"));
        assert!(record(&home, Desired::Stopped).is_none());
        assert_eq!(fs::read_to_string(&home).ok().as_deref(), Some("a file"));
        let names: Vec<_> = fs::read_dir(dir.path())
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["home"]);
    }

    /// Records into a state file holding `content`, which is no JSON
    /// object: it is replaced by a fresh object, with a warning.
    fn replaced(content: &[u8]) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
        let warning = record(dir.path(), Desired::Stopped).map(|w| w.0);
        let expected = format!("{} was not a JSON object; replaced it", path.display());
        assert_eq!(warning, Some(expected));
        let m = read(&path);
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["desired_state", "updated_at"]
        );
        assert_eq!(m["desired_state"], "stopped");
    }

    #[test]
    fn garbage_is_replaced_with_a_warning() {
        replaced(b"not json");
        replaced(b"");
        replaced(b"{\"desired_state\": \"running\",");
    }

    #[test]
    fn json_that_is_not_an_object_is_replaced_with_a_warning() {
        replaced(b"[\"desired_state\", \"running\"]");
        replaced(b"null");
    }

    #[test]
    fn a_fifo_in_its_place_is_no_hang_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        home_file::make_fifo(&path);
        let warning = record(dir.path(), Desired::Running).map(|w| w.0);
        assert!(
            warning
                .as_deref()
                .is_some_and(|w| w.ends_with(": not a regular file; left it as it was")),
            "{warning:?}"
        );
        assert!(fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()));
    }

    #[test]
    fn a_directory_in_its_place_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(record(dir.path(), Desired::Running).is_some());
        assert!(path.is_dir());
    }
}
