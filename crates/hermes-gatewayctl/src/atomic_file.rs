//! Replacing a small file atomically: a temp file beside it, then a rename,
//! so a reader sees the old file or the new one, never half of one.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Writes `value` to a temp file beside `path`, then renames it over `path`:
/// a reader sees the old file or the new one, never half of one.
pub fn replace_json(path: &Path, value: &Value) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    // The old file's mode from the start (never wider while the temp file is
    // open to others), then exactly, past the umask.
    let old = fs::metadata(path).ok().map(|m| m.permissions());
    let mode = old.as_ref().map_or(0o666, |p| p.mode() & 0o777);
    let (temp, mut file) = create_temp(path, mode)?;
    let result = (|| {
        file.write_all(&bytes)?;
        if let Some(old) = old {
            file.set_permissions(old)?;
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

/// Creates a fresh temp file beside `path`. Only a new file will do
/// (`O_EXCL`, which never follows a symlink): a profile home may be writable
/// by others, and whatever already sits at a predictable temp name (a stale
/// temp, or a symlink planted to make root truncate another file) is left
/// alone while the next name is tried.
fn create_temp(path: &Path, mode: u32) -> io::Result<(PathBuf, fs::File)> {
    const ATTEMPTS: u32 = 8;
    let mut last = io::Error::from(io::ErrorKind::AlreadyExists);
    for attempt in 0..ATTEMPTS {
        let temp = temp_path(path, attempt);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn temp_path(path: &Path, attempt: u32) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp.{}.{attempt}", std::process::id()));
    path.with_file_name(name)
}
