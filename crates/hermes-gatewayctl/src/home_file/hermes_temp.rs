//! The temp files of Hermes's own atomic writes. Its `atomic_json_write`
//! creates `.<stem>_<random>.tmp` beside the file (`tempfile.mkstemp`),
//! writes it, then renames it over the file: while one exists, a replace
//! of Hermes's is about to land.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

/// Whether a Hermes temp file of `path` is there: a write of Hermes's is in
/// progress. The listing also waits for a rename in flight in the
/// directory to land (it takes the directory's lock, shared), so when it
/// finds none, that rename is visible too. Unlistable: none known.
pub fn is_writing(path: &Path) -> bool {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem()) else {
        return false;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| is_hermes_temp_of(&e.file_name(), stem))
    })
}

/// Whether `name` is `.<stem>_<random>.tmp`.
fn is_hermes_temp_of(name: &OsStr, stem: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    let random = name
        .strip_prefix(b".")
        .and_then(|n| n.strip_prefix(stem.as_encoded_bytes()))
        .and_then(|n| n.strip_prefix(b"_"))
        .and_then(|n| n.strip_suffix(b".tmp"));
    random.is_some_and(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_in_progress_is_seen_by_its_temp_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("gateway_state.json");
        assert!(!is_writing(&path));
        fs::write(dir.path().join(".gateway_state.json.tmp.1.0"), "{")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!is_writing(&path), "gatewayctl's own temp file");
        fs::write(dir.path().join(".gateway_state_abcdefgh.tmp"), "{")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(is_writing(&path));
    }

    #[test]
    fn hermes_temp_names_are_told_from_others() {
        let stem = OsStr::new("gateway_state");
        for name in [".gateway_state_k2j3l4x_.tmp", ".gateway_state_a.tmp"] {
            assert!(is_hermes_temp_of(OsStr::new(name), stem), "{name}");
        }
        for name in [
            ".gateway_state_.tmp",
            "gateway_state_k2j3l4x_.tmp",
            ".gateway_state.json.tmp.1.0",
            ".gateway_state_k2j3l4x_.tmp~",
            ".gateway_stateX_k2j3l4x_.tmp",
            "gateway_state.json",
        ] {
            assert!(!is_hermes_temp_of(OsStr::new(name), stem), "{name}");
        }
    }
}
