//! Writing files that are about to be exec'd. A test binary runs its tests
//! on threads, and every spawn forks: a child forked while one thread holds
//! a file open for writing keeps that descriptor until its own exec
//! (close-on-exec only acts then), and an exec of the file meanwhile fails
//! with ETXTBSY. So the writing is left to a child process (`cp`, `sh`),
//! whose descriptors no thread of the test can pass on.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Copies the program (or script) `from` to a new file `to`, keeping its
/// mode as `cp` does (less the umask).
pub fn copy(from: &Path, to: &Path) {
    let status = Command::new("/bin/cp")
        .arg("--")
        .arg(from)
        .arg(to)
        .status()
        .unwrap_or_else(|e| panic!("cannot run cp: {e}"));
    assert!(
        status.success(),
        "cp {} {}: {status}",
        from.display(),
        to.display()
    );
}

/// Writes `bytes` to a new file `path` with `mode`.
pub fn write(path: &Path, bytes: &[u8], mode: u32) {
    let mut child = Command::new("/bin/sh")
        .args(["-c", "exec cat > \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let status = child.wait().unwrap_or_else(|e| panic!("wait for sh: {e}"));
    assert!(status.success(), "write {}: {status}", path.display());
    crate::s6::chmod(path, mode);
}
