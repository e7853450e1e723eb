//! The desired state of a gateway, kept in `<profile home>/gateway_state.json`
//! so that the boot-time reconcile brings back what was running. Hermes's
//! gateway writes that file too: gatewayctl changes only its own two
//! members, copies the rest as text (see [`merge`]), and replaces the file
//! only while it is still the file that was merged, so that no update of
//! Hermes's is lost to a record.

mod merge;

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::Warning;
use crate::home_file::{self, Contents, Outcome};
use merge::{NotAnObject, Owned};

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

/// Longest state file merged: Hermes writes a few hundred bytes, and a
/// larger one is left alone rather than held in memory.
const LIMIT: u64 = 16 << 20;
/// Merges tried while another writer keeps replacing the file.
const ATTEMPTS: u32 = 32;

/// Records `desired` in the profile home's state file. A missing profile
/// home is skipped silently; anything else that goes wrong is a warning,
/// never a failed action. A missing or blank file starts from an empty
/// object; one that cannot be merged (not a JSON object, too large,
/// unreadable, not a regular file) is left as it is.
pub fn record(home: &Path, desired: Desired) -> Option<Warning> {
    if !home.is_dir() {
        return None;
    }
    let path = home.join(FILE_NAME);
    let owned = Owned {
        desired_state: desired.as_str(),
        updated_at: unix_seconds(),
    };
    let why = merge_into(&path, owned).err()?;
    Some(Warning(format!(
        "could not record the desired state in {}: {why}",
        path.display()
    )))
}

/// The running states a gateway passes through while up: one killed in
/// them (a container recreated mid-drain) left no stop behind, so the next
/// boot reads them as `running`.
const TRANSIENT_RUNNING: [&str; 2] = ["draining", "degraded"];

/// What the boot pass reads as a profile's intent: `desired_state` where
/// the state file has it (not null), else `gateway_state` with the
/// transient running states read as `running`; the value's text as it is
/// written when it is no string. `Ok(None)`: no file, or neither key.
///
/// # Errors
/// The file cannot be read, or is no JSON object as Python reads one (a
/// leading BOM included): the caller treats that as no state, with a
/// warning.
pub fn prior_intent(home: &Path) -> Result<Option<String>, io::Error> {
    let path = home.join(FILE_NAME);
    let bytes = match home_file::read_regular(&path, LIMIT)? {
        Contents::Missing => return Ok(None),
        Contents::NotRegular | Contents::TooLarge => {
            return Err(io::Error::other("not a regular file of a readable size"));
        }
        Contents::Regular(snapshot) => snapshot.bytes,
    };
    let [desired, gateway] = merge::values(&bytes, ["desired_state", "gateway_state"])
        .map_err(|NotAnObject| io::Error::other("not a JSON object"))?;
    let text = |value: &[u8]| match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(serde_json::Value::Null) => None,
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => Some(String::from_utf8_lossy(value).into_owned()),
    };
    if let Some(desired) = desired.and_then(text) {
        return Ok(Some(desired));
    }
    Ok(gateway.and_then(text).map(|state| {
        if TRANSIENT_RUNNING.contains(&state.as_str()) {
            "running".to_owned()
        } else {
            state
        }
    }))
}

/// Writes the intent of a container started as the gateway itself before
/// s6 took over (`gateway run`), as Hermes's boot pass writes it, unless a
/// state file appeared meanwhile.
///
/// # Errors
/// The file cannot be written.
pub fn seed_legacy_running(home: &Path) -> io::Result<()> {
    let text = format!(
        "{{\"gateway_state\": \"running\", \"desired_state\": \"running\", \"timestamp\": {}, \
         \"migrated_from\": \"legacy-container-cmd\"}}\n",
        unix_seconds()
    );
    home_file::replace_if_unchanged(&home.join(FILE_NAME), None, text.as_bytes()).map(drop)
}

/// Why the desired state was not recorded.
#[derive(Debug)]
enum NotRecorded {
    Unreadable(io::Error),
    NotRegular,
    TooLarge,
    NotAnObject,
    KeptChanging,
    Unwritable(io::Error),
}

impl fmt::Display for NotRecorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = "left it as it was";
        match self {
            NotRecorded::Unreadable(e) => write!(f, "cannot read it: {e}; {left}"),
            NotRecorded::NotRegular => write!(f, "not a regular file; {left}"),
            NotRecorded::TooLarge => write!(f, "larger than {} MiB; {left}", LIMIT >> 20),
            NotRecorded::NotAnObject => write!(f, "not a JSON object; {left}"),
            NotRecorded::KeptChanging => write!(f, "another writer kept replacing it; {left}"),
            NotRecorded::Unwritable(e) => write!(f, "{e}"),
        }
    }
}

/// Reads the state file, merges `owned` into it and replaces it; again
/// when another writer replaced it meanwhile.
fn merge_into(path: &Path, owned: Owned<'_>) -> Result<(), NotRecorded> {
    for _ in 0..ATTEMPTS {
        let was = match home_file::read_regular(path, LIMIT) {
            Ok(Contents::Missing) => None,
            Ok(Contents::Regular(read)) => Some(read),
            Ok(Contents::NotRegular) => return Err(NotRecorded::NotRegular),
            Ok(Contents::TooLarge) => return Err(NotRecorded::TooLarge),
            Err(e) => return Err(NotRecorded::Unreadable(e)),
        };
        let text = was.as_ref().map_or(&[][..], |read| &read.bytes);
        let mut merged = Vec::new();
        merged
            .try_reserve_exact(text.len() + 64)
            .map_err(|_| NotRecorded::Unwritable(io::ErrorKind::OutOfMemory.into()))?;
        merge::merge(text, owned, &mut merged).map_err(|NotAnObject| NotRecorded::NotAnObject)?;
        match home_file::replace_if_unchanged(path, was.as_ref(), &merged) {
            Ok(Outcome::Replaced) => return Ok(()),
            Ok(Outcome::Changed) => {}
            Err(e) => return Err(NotRecorded::Unwritable(e)),
        }
    }
    Err(NotRecorded::KeptChanging)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

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
        let at = m["updated_at"].as_u64().unwrap_or_default();
        assert!(at > 1_600_000_000, "{m:?}");
        let text = fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            text,
            format!(r#"{{"zeta":1,"desired_state":"running","alpha":[true],"updated_at":{at}}}"#),
            "compact, as Python writes it, and no newline"
        );
        let leftovers = fs::read_dir(dir.path()).map_or(0, Iterator::count);
        assert_eq!(leftovers, 1, "no temp file left");
    }

    #[test]
    fn members_python_writes_come_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        let others =
            r#""a":NaN,"b":[Infinity,-Infinity],"c":1e999,"d":"\ud800","e":184467440737095516160"#;
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let text = format!("\u{feff}{{{others}, \"f\": {deep},\"desired_state\":\"running\"}}\n");
        fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        assert!(record(dir.path(), Desired::Stopped).is_none());
        let text = fs::read_to_string(&path).unwrap_or_default();
        let expected = format!("\u{feff}{{{others},\"f\":{deep},\"desired_state\":\"stopped\",");
        assert!(text.starts_with(&expected), "{text}");
        assert!(text.ends_with('}'), "{text}");
    }

    #[test]
    fn a_planted_link_at_a_temp_name_is_left_alone_and_a_left_behind_temp_removed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep me").unwrap_or_else(|e| panic!("{e}"));
        // The names README documents: `.gateway_state.json.tmp.<pid>.<n>`.
        let temp = |pid: u32, n: u32| dir.path().join(format!(".{FILE_NAME}.tmp.{pid}.{n}"));
        let planted = temp(std::process::id(), 0);
        std::os::unix::fs::symlink(&victim, &planted).unwrap_or_else(|e| panic!("{e}"));
        // Left by a writer killed before its rename: no lock held on it.
        let stale = temp(1, 0);
        fs::write(&stale, "stale").unwrap_or_else(|e| panic!("{e}"));

        assert!(record(dir.path(), Desired::Stopped).is_none());
        assert_eq!(read(&path)["desired_state"], "stopped");
        assert_eq!(fs::read_to_string(&victim).ok().as_deref(), Some("keep me"));
        assert!(fs::symlink_metadata(&planted).is_ok_and(|m| m.file_type().is_symlink()));
        assert!(!stale.exists(), "a temp left behind is still there");
        let count = fs::read_dir(dir.path()).map_or(0, Iterator::count);
        assert_eq!(count, 3, "the temp used was not renamed");
    }

    #[test]
    fn with_every_temp_name_taken_nothing_is_written_and_a_warning_says_so() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, r#"{"desired_state": "running"}"#).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..8 {
            let name = format!(".{FILE_NAME}.tmp.{}.{n}", std::process::id());
            std::os::unix::fs::symlink("taken", dir.path().join(name))
                .unwrap_or_else(|e| panic!("{e}"));
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

    /// Records into a state file holding `content`, which cannot be merged:
    /// it is left byte for byte, with a warning saying `why`.
    fn left_alone(content: &[u8], why: &str) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
        let warning = record(dir.path(), Desired::Stopped).map(|w| w.0);
        let expected = format!(
            "could not record the desired state in {}: {why}; left it as it was",
            path.display()
        );
        assert_eq!(warning, Some(expected));
        assert!(fs::read(&path).is_ok_and(|b| b == content), "changed");
        let count = fs::read_dir(dir.path()).map_or(0, Iterator::count);
        assert_eq!(count, 1, "a temp file left behind");
    }

    #[test]
    fn garbage_is_left_alone_with_a_warning() {
        left_alone(b"not json", "not a JSON object");
        left_alone(b"{\"desired_state\": \"running\",", "not a JSON object");
        left_alone(b"{\"a\": [1}", "not a JSON object");
    }

    #[test]
    fn json_that_is_not_an_object_is_left_alone_with_a_warning() {
        left_alone(b"[\"desired_state\", \"running\"]", "not a JSON object");
        left_alone(b"null", "not a JSON object");
    }

    #[test]
    fn a_file_past_the_cap_is_left_alone_unread() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE_NAME);
        let file = fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
        // Sparse: the cap is checked on the size, before anything is read.
        file.set_len(LIMIT + 1).unwrap_or_else(|e| panic!("{e}"));
        left_alone_sized(&path, LIMIT + 1);
    }

    fn left_alone_sized(path: &Path, len: u64) {
        let home = path.parent().unwrap_or_else(|| panic!("no parent"));
        let warning = record(home, Desired::Stopped).map(|w| w.0);
        assert!(
            warning
                .as_deref()
                .is_some_and(|w| w.ends_with(": larger than 16 MiB; left it as it was")),
            "{warning:?}"
        );
        assert_eq!(fs::metadata(path).map(|m| m.len()).ok(), Some(len));
    }

    #[test]
    fn an_empty_or_blank_file_is_no_content_and_gets_a_fresh_object() {
        for blank in ["", "\n", " \t\r\n"] {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join(FILE_NAME);
            fs::write(&path, blank).unwrap_or_else(|e| panic!("{e}"));
            assert!(record(dir.path(), Desired::Stopped).is_none(), "{blank:?}");
            let m = read(&path);
            assert_eq!(
                m.keys().collect::<Vec<_>>(),
                ["desired_state", "updated_at"]
            );
            assert_eq!(m["desired_state"], "stopped");
        }
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
