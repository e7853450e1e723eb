//! The desired state of a gateway, kept in `<profile home>/gateway_state.json`
//! so that the boot-time reconcile brings back what was running: other keys
//! are kept, and the file is replaced atomically (temp file + rename).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;
use serde_json::{Map, Value};

use crate::error::Warning;

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
/// never a failed action.
pub fn record(home: &Path, desired: Desired) -> Option<Warning> {
    if !home.is_dir() {
        return None;
    }
    let path = home.join(FILE_NAME);
    let (mut object, replaced) = match fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => (map, false),
            _ => (Map::new(), true),
        },
        Err(_) => (Map::new(), false),
    };
    object.insert("desired_state".to_owned(), Value::from(desired.as_str()));
    object.insert("updated_at".to_owned(), Value::from(unix_seconds()));
    if let Err(e) = replace(&path, &Value::Object(object)) {
        return Some(Warning(format!(
            "could not record the desired state in {}: {e}",
            path.display()
        )));
    }
    replaced.then(|| {
        Warning(format!(
            "{} was not a JSON object; replaced it",
            path.display()
        ))
    })
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `value` to a temp file beside `path`, then renames it over `path`:
/// a reader sees the old file or the new one, never half of one.
fn replace(path: &Path, value: &Value) -> io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let mut file = fs::File::create(&temp)?;
        file.write_all(&bytes)?;
        if let Ok(meta) = fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        // No fsync: the rename already gives readers the old file or the new
        // one, and ext4/xfs flush a file renamed over another before the
        // rename commits; an fsync per gateway would double `stop --all`.
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
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
    fn missing_home_is_skipped() {
        assert!(record(Path::new("/nonexistent/home"), Desired::Stopped).is_none());
    }

    #[test]
    fn garbage_is_replaced_with_a_warning() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, "not json").unwrap_or_else(|e| panic!("{e}"));
        assert!(record(dir.path(), Desired::Stopped).is_some());
        assert_eq!(read(&path)["desired_state"], "stopped");
    }
}
