//! The small files gatewayctl reads and writes in a profile home, a
//! directory others may write to as well. A read never blocks on a FIFO put
//! in a file's place, takes nothing but a regular file, and nothing past the
//! caller's cap; a write replaces the file atomically (a temp file beside
//! it, then a rename), so a reader sees the old file or the new one, and
//! never follows a planted link.

mod hermes_temp;
mod replace;
mod temp;

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

pub use replace::{Outcome, replace_if_unchanged, replace_json};

/// What [`read_regular`] found at a path.
#[derive(Debug)]
pub enum Contents {
    Missing,
    /// A FIFO, a directory, a device: left alone, never read.
    NotRegular,
    /// A regular file longer than the cap asked for: left alone, never read.
    TooLarge,
    Regular(Snapshot),
}

/// A regular file as it was read: its bytes, and the file itself, kept open
/// so that whether a path still names it, unchanged, can be told later (and
/// so that its inode number cannot go to another file meanwhile).
#[derive(Debug)]
pub struct Snapshot {
    pub bytes: Vec<u8>,
    file: fs::File,
    /// Device and inode: the file's identity.
    id: (u64, u64),
    mode: u32,
    owner: Owner,
}

/// A file's owner and group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub fn of(meta: &fs::Metadata) -> Owner {
        Owner {
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

impl Snapshot {
    /// The file's permission bits.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The file's owner and group.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// Whether `path` names this file, following links as the read did.
    /// One `stat`: quick enough to come right before a swap.
    fn is_at(&self, path: &Path) -> bool {
        fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == self.id)
    }

    /// Whether the file still holds the bytes read, read again in small
    /// pieces (no second copy in memory): nobody rewrote it in place.
    fn is_unchanged(&self) -> io::Result<bool> {
        let mut piece = [0u8; 16 * 1024];
        let mut offset = 0;
        loop {
            let n = match self.file.read_at(&mut piece, offset as u64) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(offset == self.bytes.len());
            }
            let (Some(read), Some(expected)) = (piece.get(..n), self.bytes.get(offset..offset + n))
            else {
                return Ok(false);
            };
            if read != expected {
                return Ok(false);
            }
            offset += n;
        }
    }
}

/// Reads the regular file at `path` if it holds at most `limit` bytes.
/// Opened non-blocking, so a FIFO in its place cannot hang the command (and
/// the profile lock with it); a regular file reads the same either way.
///
/// # Errors
/// The file exists but cannot be opened or read, or there is no memory to
/// hold it.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Contents> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fs::File::from(fd),
        Err(Errno::NOENT) => return Ok(Contents::Missing),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Contents::NotRegular);
    }
    if meta.len() > limit {
        return Ok(Contents::TooLarge);
    }
    // Room for the whole file up front: no doubling past its size, and no
    // memory is an error to report rather than an abort.
    let mut bytes = Vec::new();
    let size = usize::try_from(meta.len()).map_err(|_| io::ErrorKind::OutOfMemory)?;
    bytes
        .try_reserve_exact(size)
        .map_err(|_| io::ErrorKind::OutOfMemory)?;
    (&file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Contents::TooLarge);
    }
    Ok(Contents::Regular(Snapshot {
        bytes,
        file,
        id: (meta.dev(), meta.ino()),
        mode: meta.mode() & 0o7777,
        owner: Owner::of(&meta),
    }))
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

/// Reads `path`, which must be a regular file, for the tests.
#[cfg(test)]
pub fn snapshot(path: &Path) -> Snapshot {
    match read_regular(path, u64::MAX) {
        Ok(Contents::Regular(snapshot)) => snapshot,
        other => panic!("{}: {other:?}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_a_regular_file_and_only_up_to_the_cap() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("file");
        fs::write(&file, "0123456789").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640))
            .unwrap_or_else(|e| panic!("{e}"));
        let read = |p: &Path, limit| read_regular(p, limit).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(read(&file, 9), Contents::TooLarge));
        for limit in [10, u64::MAX] {
            let Contents::Regular(snapshot) = read(&file, limit) else {
                panic!("not read under a cap of {limit}")
            };
            assert_eq!(snapshot.bytes, b"0123456789");
            assert_eq!(snapshot.mode(), 0o640);
        }
        let missing = read(&dir.path().join("missing"), 4);
        assert!(matches!(missing, Contents::Missing));
        let directory = read(dir.path(), 4);
        assert!(matches!(directory, Contents::NotRegular));
        let fifo = dir.path().join("fifo");
        make_fifo(&fifo);
        assert!(
            matches!(read(&fifo, 4), Contents::NotRegular),
            "a FIFO, without a hang"
        );
    }

    #[test]
    fn a_snapshot_tells_its_file_by_identity_and_in_place_writes_by_content() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("file");
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&file, &big).unwrap_or_else(|e| panic!("{e}"));
        let snapshot = snapshot(&file);
        let unchanged = || snapshot.is_unchanged().unwrap_or_else(|e| panic!("{e}"));
        assert!(snapshot.is_at(&file) && unchanged());

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap_or_else(|e| panic!("{e}"));
        assert!(snapshot.is_at(&link), "links are followed, as by the read");
        let copy = dir.path().join("copy");
        fs::write(&copy, &big).unwrap_or_else(|e| panic!("{e}"));
        assert!(!snapshot.is_at(&copy), "the same bytes, another file");
        assert!(!snapshot.is_at(&dir.path().join("missing")));

        let mut changed = big.clone();
        changed[70_000] ^= 1;
        fs::write(&file, &changed).unwrap_or_else(|e| panic!("{e}"));
        assert!(snapshot.is_at(&file) && !unchanged(), "one byte changed");
        fs::write(&file, &big[..99_999]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!unchanged(), "shorter");
        let mut longer = big.clone();
        longer.push(0);
        fs::write(&file, &longer).unwrap_or_else(|e| panic!("{e}"));
        assert!(!unchanged(), "longer");
        fs::write(&file, &big).unwrap_or_else(|e| panic!("{e}"));
        assert!(unchanged(), "the same bytes again");
    }
}
