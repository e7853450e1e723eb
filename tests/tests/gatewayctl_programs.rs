//! Each s6 program is looked up once per invocation, however many gateways
//! a command acts on: counted with strace as the `access` checks of the
//! program's path in `HERMES_S6_BINDIR`, against real s6.

use std::fs;
use std::path::Path;
use std::time::Duration;

use hermes_e2e::run::run;
use hermes_e2e::s6::{self, Gateway, ScanDir};

/// A directory for `HERMES_S6_BINDIR` holding links to the real programs.
fn linked_bindir(s6: &ScanDir) -> std::path::PathBuf {
    let dir = s6.root().join("s6-bin");
    fs::create_dir(&dir).expect("mkdir");
    for program in ["s6-svc", "s6-svstat", "s6-svwait", "s6-svlisten1"] {
        let real = s6::CLEAN_PATH
            .split(':')
            .map(|d| Path::new(d).join(program))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{program} not installed"));
        std::os::unix::fs::symlink(real, dir.join(program)).expect("symlink");
    }
    dir
}

/// How often each of `programs` in `bindir` was checked with an `access`
/// call while `gatewayctl ARGS...` ran (its s6 programs included).
fn lookups(s6: &ScanDir, bindir: &Path, args: &[&str], programs: &[&str]) -> Vec<usize> {
    let log = s6.root().join(format!("strace.{}.log", args.join("_")));
    let mut cmd = s6.gatewayctl();
    cmd.env("HERMES_S6_BINDIR", bindir).args(args);
    let mut traced = s6::wrapped(
        &[
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=access,faccessat,faccessat2",
            "-o",
            &log.to_string_lossy(),
            "--",
        ],
        &cmd,
    );
    traced.env("PATH", s6::CLEAN_PATH);
    let out = run(&mut traced, Duration::from_secs(60));
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (0, ""),
        "{args:?}: {out:?}"
    );
    let trace = fs::read_to_string(&log).unwrap_or_default();
    programs
        .iter()
        .map(|p| {
            let path = format!("\"{}\"", bindir.join(p).display());
            trace.lines().filter(|l| l.contains(&path)).count()
        })
        .collect()
}

#[test]
fn each_s6_program_is_looked_up_once_whatever_the_number_of_gateways() {
    let gateways: Vec<Gateway> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|p| Gateway::new(p))
        .collect();
    let s6 = ScanDir::with(&gateways);
    let bindir = linked_bindir(&s6);
    let programs = ["s6-svc", "s6-svstat", "s6-svwait"];
    assert_eq!(
        lookups(&s6, &bindir, &["restart", "--all", "--wait"], &programs),
        [1, 1, 1],
        "restart --all --wait"
    );
    assert_eq!(
        lookups(&s6, &bindir, &["status", "--all"], &programs),
        [0, 1, 0],
        "status --all"
    );
    assert_eq!(
        lookups(&s6, &bindir, &["stop", "--all", "-T", "5"], &programs),
        [1, 0, 1],
        "stop --all --wait"
    );
}
