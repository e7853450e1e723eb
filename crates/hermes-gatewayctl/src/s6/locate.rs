//! Where the s6 programs are. They are always run by absolute path, never
//! through PATH: an empty or clobbered PATH must not break gatewayctl.

use std::path::{Path, PathBuf};

use rustix::fs::{Access, access};

/// Searched in this order when `HERMES_S6_BINDIR` is not set: s6-overlay's
/// `/command`, skarnet's slashpackage, then the distribution places.
pub const SEARCH_DIRS: [&str; 5] = [
    "/command",
    "/package/admin/s6/command",
    "/usr/bin",
    "/bin",
    "/usr/local/bin",
];

/// The directories to look in: `$HERMES_S6_BINDIR` alone when set and not
/// empty, else [`SEARCH_DIRS`].
pub fn search_dirs() -> Vec<PathBuf> {
    match std::env::var_os("HERMES_S6_BINDIR") {
        Some(dir) if !dir.is_empty() => vec![PathBuf::from(dir)],
        _ => SEARCH_DIRS.iter().map(PathBuf::from).collect(),
    }
}

/// The first executable `program` in `dirs`.
pub fn find(program: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(program))
        .find(|path| is_executable_file(path))
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file()) && access(path, Access::EXEC_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_in_none_of_the_places_is_not_found() {
        let dirs = [
            PathBuf::from("/nonexistent-a"),
            PathBuf::from("/nonexistent-b"),
        ];
        assert_eq!(find("s6-svc", &dirs), None);
    }

    #[test]
    fn finds_the_first_executable_file() {
        // `sh` stands in for an s6 program: any executable found by name.
        let dirs = [
            PathBuf::from("/nonexistent"),
            PathBuf::from("/bin"),
            PathBuf::from("/usr/bin"),
        ];
        assert_eq!(find("sh", &dirs), Some(PathBuf::from("/bin/sh")));
    }

    #[test]
    fn s6_overlay_s_command_comes_first_then_slashpackage_then_the_distribution() {
        assert_eq!(
            SEARCH_DIRS,
            [
                "/command",
                "/package/admin/s6/command",
                "/usr/bin",
                "/bin",
                "/usr/local/bin"
            ]
        );
    }

    #[test]
    fn a_directory_or_plain_file_is_not_a_program() {
        let dirs = [PathBuf::from("/")];
        assert!(find("etc", &dirs).is_none());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("s6-svc"), "#!/bin/sh\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            find("s6-svc", &[dir.path().to_path_buf()]).is_none(),
            "mode 0644 is not a program"
        );
    }
}
