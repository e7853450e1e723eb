//! The small files gatewayctl reads and writes in a profile home, a
//! directory others may write to as well. A read never blocks on a FIFO put
//! in a file's place and takes nothing but a regular file; a write replaces
//! the file atomically (a temp file beside it, then a rename), so a reader
//! sees the old file or the new one, and never follows a planted link.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use serde_json::Value;

/// What [`read_regular`] found at a path.
#[derive(Debug, PartialEq, Eq)]
pub enum Contents {
    Missing,
    /// A FIFO, a directory, a device: left alone, never read.
    NotRegular,
    /// The first bytes of a regular file, at most the limit asked for.
    Bytes(Vec<u8>),
}

/// Reads at most `limit` bytes of the regular file at `path`. Opened
/// non-blocking, so a FIFO in its place cannot hang the command (and the
/// profile lock with it); a regular file reads the same either way.
///
/// # Errors
/// The file exists but cannot be opened or read.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Contents> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fs::File::from(fd),
        Err(Errno::NOENT) => return Ok(Contents::Missing),
        Err(e) => return Err(e.into()),
    };
    if !file.metadata()?.is_file() {
        return Ok(Contents::NotRegular);
    }
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(Contents::Bytes(bytes))
}

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

/// Puts a FIFO at `path`, for the tests of what is read in its place.
#[cfg(test)]
pub fn make_fifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_a_regular_file_and_at_most_the_limit() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("file");
        fs::write(&file, "0123456789").unwrap_or_else(|e| panic!("{e}"));
        let read = |p: &Path, limit| read_regular(p, limit).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&file, 4), Contents::Bytes(b"0123".to_vec()));
        assert_eq!(
            read(&file, u64::MAX),
            Contents::Bytes(b"0123456789".to_vec())
        );
        assert_eq!(read(&dir.path().join("missing"), 4), Contents::Missing);
        assert_eq!(read(dir.path(), 4), Contents::NotRegular, "a directory");
        let fifo = dir.path().join("fifo");
        make_fifo(&fifo);
        assert_eq!(
            read(&fifo, 4),
            Contents::NotRegular,
            "a FIFO, without a hang"
        );
    }
}
