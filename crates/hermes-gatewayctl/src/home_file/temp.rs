//! Temp files beside a file being replaced, named `.<name>.tmp.<pid>.<n>`.
//! Each is a new file (`O_EXCL`, which never follows a symlink), locked
//! with `flock` by its writer for as long as the writer has it open. The
//! kernel drops that lock however the writer dies (`kill -9` included), so
//! a temp file that nobody holds locked was left behind, and every write
//! first removes those of its file. A lock rather than the pid in the name
//! tells, because a profile home may be shared with another PID namespace
//! (a container's volume), where that pid names no process, or another one.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, Mode, OFlags, flock};
use rustix::io::Errno;

/// A temp file this process created and holds locked.
#[derive(Debug)]
pub struct Temp {
    pub path: PathBuf,
    pub file: fs::File,
}

/// Creates a fresh temp file with `mode` beside `path`, after removing the
/// temp files of `path` that were left behind. Only a new file will do: a
/// profile home may be writable by others, and whatever already sits at a
/// predictable temp name (a symlink planted to make root truncate another
/// file, a live writer's temp) is left alone while the next name is tried.
///
/// # Errors
/// No temp file could be created.
pub fn create(path: &Path, mode: u32) -> io::Result<Temp> {
    const ATTEMPTS: u32 = 8;
    remove_left_behind(path);
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for attempt in 0..ATTEMPTS {
        let temp = name(path, attempt);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
        {
            Ok(file) if claim(&temp, &file) => return Ok(Temp { path: temp, file }),
            // Another writer's sweep took it between its creation and the
            // lock, and removes it.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Locks a new temp file, the sign that its writer lives.
fn claim(temp: &Path, file: &fs::File) -> bool {
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        // A sweep may have locked and removed it first: the name must still
        // be this file.
        Ok(()) => same_file(temp, file),
        Err(Errno::WOULDBLOCK) => false,
        // No flock on this filesystem: no sweep can lock it either, so none
        // takes it for left behind.
        Err(_) => true,
    }
}

/// Removes the regular temp files of `path` that no writer holds locked.
/// Best effort: what cannot be looked at is left.
pub fn remove_left_behind(path: &Path) {
    let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && is_temp_of(&entry.file_name(), file_name) {
            remove_if_unlocked(&entry.path());
        }
    }
}

fn remove_if_unlocked(temp: &Path) {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let Ok(fd) = rustix::fs::open(temp, flags, Mode::empty()) else {
        return;
    };
    let file = fs::File::from(fd);
    // Locked here, it cannot be claimed while it goes; and the name must
    // still be the file that was locked.
    let left_behind = file.metadata().is_ok_and(|m| m.is_file())
        && flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok()
        && same_file(temp, &file);
    if left_behind {
        let _ = fs::remove_file(temp);
    }
}

/// Whether `path` names the open `file` itself (not through a link).
fn same_file(path: &Path, file: &fs::File) -> bool {
    match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => (named.dev(), named.ino()) == (open.dev(), open.ino()),
        _ => false,
    }
}

/// The temp name `.<name>.tmp.<pid>.<attempt>` beside `path`.
pub fn name(path: &Path, attempt: u32) -> PathBuf {
    let mut name = prefix(path.file_name().unwrap_or_default());
    name.push(format!("{}.{attempt}", std::process::id()));
    path.with_file_name(name)
}

fn prefix(file_name: &OsStr) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(file_name);
    prefix.push(".tmp.");
    prefix
}

/// Whether `candidate` is a temp name of `file_name`, by any pid.
fn is_temp_of(candidate: &OsStr, file_name: &OsStr) -> bool {
    let prefix = prefix(file_name);
    let Some(rest) = candidate
        .as_encoded_bytes()
        .strip_prefix(prefix.as_encoded_bytes())
    else {
        return false;
    };
    let digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    let mut parts = rest.split(|&b| b == b'.');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(pid), Some(attempt), None) if digits(pid) && digits(attempt)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "gateway_state.json";

    #[test]
    fn temp_names_are_recognised_by_any_pid_and_nothing_else() {
        let name = OsStr::new(FILE);
        for temp in [
            ".gateway_state.json.tmp.1.0",
            ".gateway_state.json.tmp.4194304.7",
        ] {
            assert!(is_temp_of(OsStr::new(temp), name), "{temp}");
        }
        for other in [
            "gateway_state.json",
            ".gateway_state.json.tmp.",
            ".gateway_state.json.tmp.1",
            ".gateway_state.json.tmp.1.",
            ".gateway_state.json.tmp..1",
            ".gateway_state.json.tmp.1.2.3",
            ".gateway_state.json.tmp.x.1",
            ".gateway_state.json.tmp.1.0~",
            "gateway_state.json.tmp.1.0",
            ".gateway-planned-stop.json.tmp.1.0",
            ".gateway_state_k2j3l4.tmp",
        ] {
            assert!(!is_temp_of(OsStr::new(other), name), "{other}");
        }
        let ours = name_of(&PathBuf::from(FILE));
        assert!(is_temp_of(&ours, OsStr::new(FILE)), "{ours:?}");
    }

    fn name_of(path: &Path) -> OsString {
        name(path, 3).file_name().unwrap_or_default().to_owned()
    }

    #[test]
    fn only_unlocked_regular_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE);
        let at = |name: &str| dir.path().join(name);
        let write = |name: &str| fs::write(at(name), name).unwrap_or_else(|e| panic!("{e}"));
        write(".gateway_state.json.tmp.1.0");
        write(".gateway_state.json.tmp.999999999.3");
        let held = at(".gateway_state.json.tmp.2.0");
        write(".gateway_state.json.tmp.2.0");
        let lock = fs::File::open(&held).unwrap_or_else(|e| panic!("{e}"));
        flock(&lock, FlockOperation::NonBlockingLockExclusive).unwrap_or_else(|e| panic!("{e}"));
        write(".gateway_state_k2j3l4.tmp");
        write(".other.json.tmp.1.0");
        write("gateway_state.json");
        std::os::unix::fs::symlink(at("gateway_state.json"), at(".gateway_state.json.tmp.3.0"))
            .unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir(at(".gateway_state.json.tmp.4.0")).unwrap_or_else(|e| panic!("{e}"));

        remove_left_behind(&path);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        names.sort();
        assert_eq!(
            names,
            [
                ".gateway_state.json.tmp.2.0",
                ".gateway_state.json.tmp.3.0",
                ".gateway_state.json.tmp.4.0",
                ".gateway_state_k2j3l4.tmp",
                ".other.json.tmp.1.0",
                "gateway_state.json",
            ]
        );
        drop(lock);
        remove_left_behind(&path);
        assert!(!held.exists(), "not removed once its writer let go");
    }

    #[test]
    fn a_created_temp_is_locked_against_every_other_sweep() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(FILE);
        let temp = create(&path, 0o600).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(temp.path, name(&path, 0));
        // Another open file description, as another process would have.
        remove_left_behind(&path);
        assert!(temp.path.exists(), "a live writer's temp was removed");
        let other = fs::File::open(&temp.path).unwrap_or_else(|e| panic!("{e}"));
        let locked = flock(&other, FlockOperation::NonBlockingLockExclusive);
        assert_eq!(locked, Err(Errno::WOULDBLOCK));
        drop(temp);
        remove_left_behind(&path);
        assert!(!name(&path, 0).exists(), "left behind, yet kept");
    }
}
