//! What a root directory holds, as a sorted list: for asserting that a
//! `FROM scratch` root (`make rootfs`, the heartbeat image) holds exactly
//! the heartbeat and nothing else.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::bins;

/// One entry below a root; links are not followed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// The path inside the root.
    pub path: PathBuf,
    /// 'd' directory, 'f' regular file, '?' anything else (a link...).
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Every entry below `root` (not `root` itself), sorted.
pub fn entries(root: &Path) -> Vec<Entry> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let listing = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in listing {
            let path = entry.expect("a directory entry").path();
            let meta = fs::symlink_metadata(&path).expect("stat");
            let kind = match meta.file_type() {
                t if t.is_dir() => 'd',
                t if t.is_file() => 'f',
                _ => '?',
            };
            if kind == 'd' {
                dirs.push(path.clone());
            }
            found.push(Entry {
                path: path.strip_prefix(root).expect("inside").to_path_buf(),
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            });
        }
    }
    found.sort();
    found
}

/// Asserts that `root` holds what Dockerfile.heartbeat's one `COPY` makes:
/// the built static heartbeat at /usr/local/bin, a regular file (not a link
/// to a host path), in directories, all mode 0755 and owned by root (so
/// the image's user cannot change them), and nothing else.
pub fn assert_holds_only_the_heartbeat(root: &Path) {
    let expected: Vec<Entry> = [
        ("usr", 'd'),
        ("usr/local", 'd'),
        ("usr/local/bin", 'd'),
        ("usr/local/bin/hermes-heartbeat", 'f'),
    ]
    .into_iter()
    .map(|(path, kind)| Entry {
        path: PathBuf::from(path),
        kind,
        mode: 0o755,
        uid: 0,
        gid: 0,
    })
    .collect();
    assert_eq!(entries(root), expected, "in {}", root.display());
    assert!(
        fs::read(root.join("usr/local/bin/hermes-heartbeat")).expect("read the root's heartbeat")
            == fs::read(bins::heartbeat()).expect("read the built heartbeat"),
        "{} holds another binary",
        root.display()
    );
}
