//! Where the programs under test are: the static release binaries that
//! `make static` builds (the ones that ship), found through `HERMES_BIN_DIR`.

use std::path::PathBuf;

/// The directory holding the static `hermes-heartbeat` and `gatewayctl`.
/// `make test` sets `HERMES_BIN_DIR`; a plain `cargo test` falls back to the
/// workspace's musl release directory.
/// The path is canonical, so it compares equal to `/proc/PID/exe`.
pub fn bin_dir() -> PathBuf {
    let dir = match std::env::var_os("HERMES_BIN_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/x86_64-unknown-linux-musl/release"),
    };
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn built(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make static` first (or `make test`, which does)",
        path.display()
    );
    path
}

/// The static `hermes-heartbeat`.
pub fn heartbeat() -> PathBuf {
    built("hermes-heartbeat")
}

/// The static `gatewayctl`.
pub fn gatewayctl() -> PathBuf {
    built("gatewayctl")
}
