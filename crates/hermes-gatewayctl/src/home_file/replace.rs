//! Replacing a file of a profile home atomically: a temp file beside it,
//! then a rename over it. A file another program rewrites too (the state
//! file, which Hermes's gateway replaces the same way) is replaced only if
//! it is still the file the new text was made from, so that another
//! writer's replace landing meanwhile is not lost.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;
use serde_json::Value;

use super::temp::{self, Temp};
use super::{Owner, Snapshot, hermes_temp};

/// Longest wait for a write of Hermes's in progress to land: Hermes
/// writes a few hundred bytes (and an fsync).
const HERMES_PATIENCE: Duration = Duration::from_millis(100);
/// Longest a last look before a swap may take; one that took longer may
/// have been preempted while Hermes wrote a whole file.
const QUICK_LOOK: Duration = Duration::from_micros(50);

/// What [`replace_if_unchanged`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Replaced,
    /// The file was no longer the one read: it is as the other writer left
    /// it, for the caller to read and merge again.
    Changed,
}

/// Writes `value` to a temp file beside `path`, then renames it over `path`:
/// a reader sees the old file or the new one, never half of one.
///
/// # Errors
/// The temp file cannot be created or written, or the rename fails.
pub fn replace_json(path: &Path, value: &Value) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    let existing = fs::metadata(path)
        .ok()
        .map(|m| (m.permissions().mode() & 0o7777, Owner::of(&m)));
    let temp = write_temp(path, &bytes, existing)?;
    let renamed = fs::rename(&temp.path, path);
    if renamed.is_err() {
        let _ = fs::remove_file(&temp.path);
    }
    renamed
}

/// Replaces `path` with `bytes`, but only while it is still the file `was`
/// read (with its mode), or, for `None`, while there is no file. The new
/// file of a missing one gets what the umask leaves of 0666.
///
/// Before the swap, the file must still hold what was read, and the name
/// must still be that file, at a moment when no write of Hermes's is in
/// progress (see [`is_still_at`]). The swap is an exchange
/// (`renameat2(RENAME_EXCHANGE)`), which leaves the file it displaced at
/// the temp name: that must be the file read too, for a replace may still
/// land between the look and the swap; if it is not, the two are exchanged
/// back at once. Both looks are a `stat` of the name, so that ours is
/// exposed for as short a time as can be. Where the filesystem cannot
/// exchange, a plain rename follows the first look.
///
/// # Errors
/// The temp file cannot be created or written, the file read cannot be
/// read again, or a rename fails.
pub fn replace_if_unchanged(
    path: &Path,
    was: Option<&Snapshot>,
    bytes: &[u8],
) -> io::Result<Outcome> {
    let temp = write_temp(path, bytes, was.map(|w| (w.mode(), w.owner())))?;
    let outcome = match was {
        Some(was) => swap_if_unchanged(path, &temp.path, was),
        None => create_if_missing(path, &temp.path),
    };
    // The temp name now holds this file unused, or the file it displaced,
    // or nothing (renamed): none of them is wanted.
    let _ = fs::remove_file(&temp.path);
    outcome
}

/// Renames `temp` to `path` unless a file has appeared there since the read.
fn create_if_missing(path: &Path, temp: &Path) -> io::Result<Outcome> {
    match rename(temp, path, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(Outcome::Replaced),
        Err(Errno::EXIST) => Ok(Outcome::Changed),
        Err(e) if unsupported(e) => {
            if fs::symlink_metadata(path).is_ok() {
                return Ok(Outcome::Changed);
            }
            fs::rename(temp, path).map(|()| Outcome::Replaced)
        }
        Err(e) => Err(e.into()),
    }
}

fn swap_if_unchanged(path: &Path, temp: &Path, was: &Snapshot) -> io::Result<Outcome> {
    // The slow check (reading it again) first, the last look right before
    // the swap.
    if !was.is_unchanged()? || !is_still_at(was, path) {
        return Ok(Outcome::Changed);
    }
    match rename(temp, path, RenameFlags::EXCHANGE) {
        Ok(()) => {}
        Err(Errno::NOENT) => return Ok(Outcome::Changed),
        Err(e) if unsupported(e) => return fs::rename(temp, path).map(|()| Outcome::Replaced),
        Err(e) => return Err(e.into()),
    }
    exchanged(path, temp, was)
}

/// Whether `path` is still the file `was` read, looked at just before a
/// swap: a file that changed is reported at once, but a look that found a
/// write of Hermes's in progress, or took long, is taken again (up to
/// [`HERMES_PATIENCE`], then the last look counts), so that Hermes can land
/// a replace between this look and the swap only by writing a whole file
/// in an instant.
fn is_still_at(was: &Snapshot, path: &Path) -> bool {
    const POLL: Duration = Duration::from_millis(1);
    let deadline = Instant::now() + HERMES_PATIENCE;
    loop {
        let start = Instant::now();
        let writing = hermes_temp::is_writing(path);
        if !was.is_at(path) {
            return false;
        }
        let quick = start.elapsed() < QUICK_LOOK;
        if (!writing && quick) || Instant::now() >= deadline {
            return true;
        }
        if writing {
            thread::sleep(POLL);
        }
    }
}

/// After the exchange: keeps it if what it displaced (now at `temp`) is the
/// file read, else puts that back at `path`.
fn exchanged(path: &Path, temp: &Path, was: &Snapshot) -> io::Result<Outcome> {
    if was.is_at(temp) {
        return Ok(Outcome::Replaced);
    }
    // Should the exchange back fail, theirs still goes back, over ours.
    match rename(temp, path, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(Outcome::Changed),
        Err(_) => match fs::rename(temp, path) {
            // Nothing at the temp name any more: another writer's sweep took
            // the displaced file for a dead writer's temp file. Ours stands;
            // the caller reads it and merges again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Outcome::Changed),
            other => other.map(|()| Outcome::Changed),
        },
    }
}

/// `renameat2(2)` within one directory.
fn rename(from: &Path, to: &Path, flags: RenameFlags) -> Result<(), Errno> {
    renameat_with(CWD, from, CWD, to, flags)
}

/// The errors of a `renameat2` flag that the kernel or filesystem lacks.
fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
}

/// A temp file beside `path` holding `bytes`, with the mode and owner of
/// the file it replaces (`existing`), the mode exactly (past the umask).
/// A new file gets what the umask leaves of 0666 and the owner of the
/// directory it goes in: run as root in a user's profile home, gatewayctl
/// leaves the files there the user's, as Hermes wrote them.
fn write_temp(path: &Path, bytes: &[u8], existing: Option<(u32, Owner)>) -> io::Result<Temp> {
    let mode = existing.map(|(mode, _)| mode);
    let owner = match existing {
        Some((_, owner)) => Some(owner),
        None => path
            .parent()
            .and_then(|dir| fs::metadata(dir).ok())
            .map(|m| Owner::of(&m)),
    };
    // The final mode from the start: never more readable than the file it
    // replaces while it is open to others.
    let temp = temp::create(path, mode.map_or(0o666, |m| m & 0o777))?;
    // No fsync: the rename already gives readers the old file or the new
    // one, and ext4/xfs flush a file renamed over another before the rename
    // commits; an fsync per gateway would double `stop --all`.
    let written = (&temp.file)
        .write_all(bytes)
        .and_then(|()| give_to(&temp.file, owner))
        .and_then(|()| match mode {
            // After the chown, which clears the set-id bits.
            Some(mode) => temp.file.set_permissions(fs::Permissions::from_mode(mode)),
            None => Ok(()),
        });
    match written {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = fs::remove_file(&temp.path);
            Err(e)
        }
    }
}

/// Gives `file` to `owner` where it is not already its: only root can, so a
/// refusal (an unprivileged caller) leaves it the caller's.
fn give_to(file: &fs::File, owner: Option<Owner>) -> io::Result<()> {
    let Some(owner) = owner else {
        return Ok(());
    };
    let meta = file.metadata()?;
    if Owner::of(&meta) == owner {
        return Ok(());
    }
    match std::os::unix::fs::fchown(file, Some(owner.uid), Some(owner.gid)) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home_file::snapshot;

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Replaces `path` the way another writer does: a new file renamed over it.
    fn replace_by_another(path: &Path, text: &str) {
        let theirs = path.with_file_name("theirs");
        write(&theirs, text);
        fs::rename(&theirs, path).unwrap_or_else(|e| panic!("{e}"));
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn replace(path: &Path, was: Option<&Snapshot>, new: &str) -> Outcome {
        replace_if_unchanged(path, was, new.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn replaces_the_file_that_was_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state");
        write(&path, "old");
        assert_eq!(
            replace(&path, Some(&snapshot(&path)), "new"),
            Outcome::Replaced
        );
        assert_eq!(read(&path), "new");
        assert_eq!(
            replace(&path, Some(&snapshot(&path)), ""),
            Outcome::Replaced
        );
        assert_eq!(read(&path), "");
        assert_eq!(names(dir.path()), ["state"], "a temp file left behind");
    }

    #[test]
    fn a_file_replaced_or_rewritten_since_it_was_read_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state");
        write(&path, "old");
        let was = snapshot(&path);
        replace_by_another(&path, "old");
        assert_eq!(
            replace(&path, Some(&was), "ours"),
            Outcome::Changed,
            "the same bytes, another file"
        );
        let was = snapshot(&path);
        write(&path, "theirs");
        assert_eq!(
            replace(&path, Some(&was), "ours"),
            Outcome::Changed,
            "rewritten in place"
        );
        assert_eq!(
            replace(&path, None, "ours"),
            Outcome::Changed,
            "no longer missing"
        );
        assert_eq!(read(&path), "theirs");
        let was = snapshot(&path);
        fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            replace(&path, Some(&was), "ours"),
            Outcome::Changed,
            "removed"
        );
        assert!(!path.exists());
        assert_eq!(
            names(dir.path()),
            Vec::<String>::new(),
            "a temp file left behind"
        );
    }

    #[test]
    fn a_missing_file_is_created() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state");
        assert_eq!(replace(&path, None, "ours"), Outcome::Replaced);
        assert_eq!(read(&path), "ours");
        assert_eq!(names(dir.path()), ["state"], "a temp file left behind");
    }

    #[test]
    fn a_replace_landing_between_check_and_exchange_goes_back_at_once() {
        // The names after such an exchange: ours at the path, and at the
        // temp name what another writer put there after the check.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state");
        let temp = dir.path().join(".state.tmp.1.0");
        write(&temp, "old");
        let was = snapshot(&temp);
        write(&path, "ours");
        replace_by_another(&temp, "theirs");
        assert_eq!(
            exchanged(&path, &temp, &was).unwrap_or_else(|e| panic!("{e}")),
            Outcome::Changed
        );
        assert_eq!((read(&path), read(&temp)), ("theirs".into(), "ours".into()));
    }

    #[test]
    fn a_displaced_file_swept_away_meanwhile_leaves_ours_to_be_read_again() {
        // Another writer's sweep took what the exchange put at the temp
        // name for a dead writer's temp file: nothing to put back.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state");
        let temp = dir.path().join(".state.tmp.1.0");
        write(&temp, "old");
        let was = snapshot(&temp);
        write(&path, "ours");
        fs::remove_file(&temp).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            exchanged(&path, &temp, &was).unwrap_or_else(|e| panic!("{e}")),
            Outcome::Changed
        );
        assert_eq!(read(&path), "ours");
    }

    #[test]
    fn an_exchange_that_displaced_the_file_read_is_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state");
        let temp = dir.path().join(".state.tmp.1.0");
        write(&temp, "old");
        let was = snapshot(&temp);
        write(&path, "ours");
        assert_eq!(
            exchanged(&path, &temp, &was).unwrap_or_else(|e| panic!("{e}")),
            Outcome::Replaced
        );
        assert_eq!((read(&path), read(&temp)), ("ours".into(), "old".into()));
    }

    #[test]
    fn what_was_displaced_goes_back_even_when_the_path_is_gone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("state");
        let temp = dir.path().join(".state.tmp.1.0");
        write(&path, "old");
        let was = snapshot(&path);
        write(&temp, "theirs");
        fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            exchanged(&path, &temp, &was).unwrap_or_else(|e| panic!("{e}")),
            Outcome::Changed
        );
        assert_eq!(read(&path), "theirs");
        assert!(!temp.exists());
    }
}
