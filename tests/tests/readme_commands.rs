//! What a new user runs first, as the README gives it: `make demo` (here its
//! script, on the binaries under test) plays the whole story and ends with
//! the container's stop giving 143; `make rootfs` (its script) makes the
//! `FROM scratch` root holding exactly the heartbeat.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::run::run;

/// The demo takes about 10 s on 2 cores (a 2 s idle check among its steps).
const DEMO_LIMIT: Duration = Duration::from_secs(120);
const SCRIPT_LIMIT: Duration = Duration::from_secs(20);

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn demo_plays_the_whole_story_and_the_container_stop_exits_143() {
    let out = run(
        Command::new(repo_file("scripts/demo")).env("HERMES_BIN_DIR", bins::bin_dir()),
        DEMO_LIMIT,
    );
    assert_eq!(out.code, 0, "{out:?}");
    let heartbeat = bins::heartbeat();
    for expected in [
        // The CMD became the heartbeat, by absolute path, with no PATH.
        format!("The CMD's /proc/PID/exe is now: {}", heartbeat.display()),
        "its environment holds 0 variables".to_owned(),
        "| ✓ Restarted gateway-coder under s6".to_owned(),
        "| ✓ Stopped 3 profile gateway(s) under s6".to_owned(),
        "\"desired_state\": \"stopped\"".to_owned(),
        "The CMD said: hermes-heartbeat: SIGTERM, exiting 143".to_owned(),
        "exit code 143, ".to_owned(),
    ] {
        assert!(
            out.stdout.contains(&expected),
            "no {expected:?} in\n{out:?}"
        );
    }
    // It removes its temp dir ("/tmp/hermes-demo.XXXXXX is removed.").
    let tmp = out
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("/tmp/hermes-demo."))
        .map(|w| w.trim_end_matches('.'))
        .unwrap_or_else(|| panic!("the demo names no temp dir:\n{out:?}"));
    assert!(!Path::new(tmp).exists(), "{tmp} is left behind");
}

#[test]
fn rootfs_holds_exactly_the_static_heartbeat() {
    let dir = tempfile::Builder::new()
        .prefix("hermes-rootfs-test-")
        .tempdir()
        .expect("tempdir");
    let root = dir.path().join("root");
    let out = run(
        Command::new(repo_file("docker/build-rootfs"))
            .env("HERMES_BIN_DIR", bins::bin_dir())
            .env("ROOTFS", &root),
        SCRIPT_LIMIT,
    );
    assert_eq!(out.code, 0, "{out:?}");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for entry in fs::read_dir(&d).expect("read the rootfs") {
            let path = entry.expect("rootfs entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path.strip_prefix(&root).expect("inside").to_path_buf());
            }
        }
    }
    assert_eq!(files, [PathBuf::from("usr/local/bin/hermes-heartbeat")]);
    let installed = root.join("usr/local/bin/hermes-heartbeat");
    assert_eq!(
        fs::read(&installed).expect("read the installed heartbeat"),
        fs::read(bins::heartbeat()).expect("read the built heartbeat"),
        "the rootfs holds another binary"
    );
    let mode = fs::metadata(&installed).expect("stat").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o755
    );
}
