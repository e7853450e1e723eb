//! Stand-ins for the programs a script calls (cargo, make, apt-get, docker,
//! ...): small shell scripts first on PATH that log how they were called,
//! so a script can be run without building, installing or starting
//! anything.

use std::fs;
use std::path::{Path, PathBuf};

use crate::program;

/// A temp dir whose `bin/` holds the stand-ins; each appends
/// `<name> <args>` to the shared log before running its own body.
pub struct StandIns {
    dir: tempfile::TempDir,
}

impl StandIns {
    pub fn new(prefix: &str) -> StandIns {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        fs::create_dir(dir.path().join("bin")).expect("mkdir");
        StandIns { dir }
    }

    /// The temp dir (free for a test's own files, but `bin` and `log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// The lines logged so far.
    pub fn logged(&self) -> Vec<String> {
        fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A stand-in `name` that logs its arguments, then runs `body` (sh).
    pub fn add(&self, name: &str, body: &str) {
        let script = format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n",
            self.log().display()
        );
        program::write(&self.program(name), script.as_bytes(), 0o755);
    }

    /// Where the stand-in `name` is.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.path().join("bin").join(name)
    }

    /// PATH with the stand-ins first, then the caller's.
    pub fn path(&self) -> String {
        let caller = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        format!("{}:{caller}", self.dir.path().join("bin").display())
    }
}
