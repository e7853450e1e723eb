//! `--all` without `--wait` where `s6-svc` takes many service directories
//! (s6 2.14+, as s6-overlay ships): one `s6-svc` run for every gateway, not
//! one per gateway; each gateway s6 could not control still fails on its
//! own line with s6's reason, and its planned-stop marker is withdrawn.
//! With an `s6-svc` that takes one directory (Debian's 2.11), or with
//! `--wait`, one run per gateway: several directories are never handed to
//! an `s6-svc` that would act on the first only.
//!
//! The s6 programs are run through a directory (HERMES_S6_BINDIR) whose
//! `s6-svc` logs its arguments and execs the real one; the others are links
//! to the real programs. Which s6 is real depends on the pass: `make test`
//! runs this suite with Debian's s6 and again under `scripts/with-s6-overlay`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

const LIMIT: Duration = Duration::from_secs(60);
const MARKER: &str = ".gateway-planned-stop.json";
/// What s6 2.15's `s6-svc` says when run with no arguments.
const USAGE_2_15: &str = "[ $# -eq 0 ] && { echo 's6-svc: usage: s6-svc [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -s signal | -abqhkti12pcyrlPCK ] [ -oduDUxOQ ] servicedirs...' >&2; exit 100; }\n";

/// The directory in PATH holding the real `s6-svc`.
fn real_bindir() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("s6-svc").is_file())
        .expect("s6-svc in PATH")
}

/// A directory for HERMES_S6_BINDIR beside the scan directory: every s6
/// program links to the real one, except `s6-svc`, which is `svc_body` (a
/// shell script body; `$REAL` is the real `s6-svc`) after a line logging
/// its arguments to `svc.log`.
fn recording_bindir(s6: &ScanDir, svc_body: &str) -> PathBuf {
    let dir = s6.root().join("recording-s6");
    fs::create_dir(&dir).expect("mkdir");
    let real = real_bindir();
    for entry in fs::read_dir(&real)
        .expect("read the s6 directory")
        .flatten()
    {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("s6-") && name != "s6-svc" {
            std::os::unix::fs::symlink(entry.path(), dir.join(&name)).expect("symlink");
        }
    }
    s6::write_script(
        &dir.join("s6-svc"),
        &format!(
            "#!/bin/sh\nREAL={real}\nprintf '%s\\n' \"$*\" >> {log}\n{svc_body}",
            real = s6::shell_quote(&real.join("s6-svc").to_string_lossy()),
            log = s6::shell_quote(&dir.join("svc.log").to_string_lossy()),
        ),
    );
    dir
}

/// The `s6-svc` runs logged in `bindir`, each as its arguments, the usage
/// probe (a run with none) left out.
fn svc_runs(bindir: &Path) -> Vec<Vec<String>> {
    fs::read_to_string(bindir.join("svc.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .collect()
}

/// The runs of `runs` as (options, sorted service directories).
fn split(runs: &[Vec<String>]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut split: Vec<_> = runs
        .iter()
        .map(|run| {
            let (opts, dirs): (Vec<String>, Vec<String>) =
                run.iter().cloned().partition(|a| a.starts_with('-'));
            let mut dirs = dirs;
            dirs.sort();
            (opts, dirs)
        })
        .collect();
    split.sort();
    split
}

fn ctl_with(s6: &ScanDir, bindir: &Path, args: &[&str]) -> Output {
    run(
        s6.gatewayctl().env("HERMES_S6_BINDIR", bindir).args(args),
        LIMIT,
    )
}

fn dirs(s6: &ScanDir, profiles: &[&str]) -> Vec<String> {
    let mut dirs: Vec<String> = profiles
        .iter()
        .map(|p| s6.service_dir(p).display().to_string())
        .collect();
    dirs.sort();
    dirs
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[test]
fn stop_all_is_one_s6_svc_run_where_s6_takes_many_and_one_per_gateway_where_not() {
    let profiles = ["alpha", "beta", "gamma", "delta"];
    let gateways: Vec<Gateway> = profiles.iter().map(|p| Gateway::new(p).hermes()).collect();
    let s6 = ScanDir::with(&gateways);
    let bindir = recording_bindir(&s6, "exec \"$REAL\" \"$@\"\n");
    let out = ctl_with(&s6, &bindir, &["stop", "--all"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "✓ Stopped 4 profile gateway(s) under s6\n", ""),
        "{out:?}"
    );
    let runs = split(&svc_runs(&bindir));
    if s6::is_multi_dir() {
        assert_eq!(runs, [(strings(&["-d"]), dirs(&s6, &profiles))]);
    } else {
        let each: Vec<_> = dirs(&s6, &profiles)
            .into_iter()
            .map(|d| (strings(&["-d"]), vec![d]))
            .collect();
        assert_eq!(runs, each);
    }
    for p in profiles {
        // Down, wanted down, and exit 0: it found its planned-stop marker,
        // written before the one run.
        let st = s6.wait_svstat(p, "down", |st| !st.up);
        assert!(!st.want_up && st.exit_code == Some(0), "{p}: {st:?}");
        assert_eq!(s6.desired_state(p).as_deref(), Some("stopped"), "{p}");
    }
}

#[test]
fn restart_all_restarts_the_up_and_starts_the_down() {
    let s6 = ScanDir::with(&[
        Gateway::new("alpha"),
        Gateway::new("beta"),
        Gateway::new("gamma").down(),
    ]);
    let before: Vec<i32> = ["alpha", "beta"]
        .iter()
        .map(|p| s6.svstat(p).pid.expect("up"))
        .collect();
    let bindir = recording_bindir(&s6, "exec \"$REAL\" \"$@\"\n");
    let out = ctl_with(&s6, &bindir, &["restart", "--all"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "✓ Restarted 3 profile gateway(s) under s6\n", ""),
        "{out:?}"
    );
    let runs = split(&svc_runs(&bindir));
    if s6::is_multi_dir() {
        assert_eq!(
            runs,
            [
                (strings(&["-r", "-u"]), dirs(&s6, &["alpha", "beta"])),
                (strings(&["-u"]), dirs(&s6, &["gamma"])),
            ]
        );
    } else {
        assert_eq!(runs.len(), 3, "{runs:?}");
        assert!(runs.iter().all(|(_, d)| d.len() == 1), "{runs:?}");
    }
    for (p, old) in ["alpha", "beta"].iter().zip(before) {
        s6.wait_svstat(p, "up again with a new pid", |st| {
            st.up && st.want_up && st.pid.is_some_and(|pid| pid != old)
        });
    }
    s6.wait_svstat("gamma", "started", |st| st.up && st.want_up);
    for p in ["alpha", "beta", "gamma"] {
        assert_eq!(s6.desired_state(p).as_deref(), Some("running"), "{p}");
    }
}

#[test]
fn a_gateway_s6_cannot_control_fails_alone_with_s6s_reason_and_takes_its_marker_back() {
    let s6 = ScanDir::with(&[
        Gateway::new("alpha").hermes(),
        Gateway::new("beta").hermes(),
    ]);
    // A service directory s6-svscan has not picked up (no rescan): no
    // s6-supervise listens on it. A gateway.pid makes a marker due.
    s6.install(&[Gateway::new("ghost").hermes()]);
    s6::write_file(
        &s6.profile_home("ghost").join("gateway.pid"),
        r#"{"pid": 4242, "kind": "hermes-gateway", "argv": ["hermes"], "start_time": 987654}"#,
    );
    let bindir = recording_bindir(&s6, "exec \"$REAL\" \"$@\"\n");
    let out = ctl_with(&s6, &bindir, &["stop", "--all"]);
    assert_eq!(out.code, 1, "{out:?}");
    let ghost = s6.service_dir("ghost");
    assert_eq!(
        out.stderr_lines(),
        [format!(
            "✗ Could not stop gateway-ghost: s6-svc stop on 'gateway-ghost' failed (rc={}): s6-svc: {} unable to control {}: supervisor not listening",
            s6::rc_not_listening(),
            // 2.11 writes an empty field after `fatal:`.
            if s6::is_multi_dir() {
                "warning:"
            } else {
                "fatal: :"
            },
            ghost.display()
        )],
        "{out:?}"
    );
    assert_eq!(
        out.stdout_lines(),
        ["✓ Stopped 2 profile gateway(s) under s6"],
        "{out:?}"
    );
    if s6::is_multi_dir() {
        assert_eq!(svc_runs(&bindir).len(), 1);
    }
    assert!(
        !s6.profile_home("ghost").join(MARKER).exists(),
        "the marker outlived the failed stop"
    );
    assert_eq!(s6.desired_state("ghost"), None);
    for p in ["alpha", "beta"] {
        let st = s6.wait_svstat(p, "down", |st| !st.up);
        assert!(!st.want_up && st.exit_code == Some(0), "{p}: {st:?}");
        assert_eq!(s6.desired_state(p).as_deref(), Some("stopped"), "{p}");
    }
}

#[test]
fn an_s6_svc_that_takes_one_directory_never_gets_several() {
    let profiles = ["alpha", "beta", "gamma"];
    let s6 = ScanDir::with(&profiles.map(Gateway::new));
    // Stand-ins that only log and succeed, answering the usage probe as
    // 2.11 and as 2.15 do, whatever the real s6 is.
    let old = recording_bindir(&s6, &format!("{}exit 0\n", s6::USAGE_2_11));
    let out = ctl_with(&s6, &old, &["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    let each: Vec<_> = dirs(&s6, &profiles)
        .into_iter()
        .map(|d| (strings(&["-d"]), vec![d]))
        .collect();
    assert_eq!(split(&svc_runs(&old)), each);

    fs::rename(&old, s6.root().join("old-s6")).expect("rename");
    let new = recording_bindir(&s6, &format!("{USAGE_2_15}exit 0\n"));
    let out = ctl_with(&s6, &new, &["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        split(&svc_runs(&new)),
        [(strings(&["-d"]), dirs(&s6, &profiles))]
    );
    // The probe is asked once per invocation.
    let log = fs::read_to_string(new.join("svc.log")).unwrap_or_default();
    assert_eq!(log.lines().filter(|l| l.is_empty()).count(), 1, "{log}");
}

#[test]
fn with_wait_each_gateway_gets_its_own_run() {
    let profiles = ["alpha", "beta", "gamma"];
    let s6 = ScanDir::with(&profiles.map(Gateway::new));
    let bindir = recording_bindir(&s6, "exec \"$REAL\" \"$@\"\n");
    let out = ctl_with(&s6, &bindir, &["stop", "--all", "--wait", "-T", "20"]);
    assert_eq!(out.code, 0, "{out:?}");
    let runs = split(&svc_runs(&bindir));
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs.iter().all(|(_, d)| d.len() == 1), "{runs:?}");
    for p in profiles {
        s6.wait_svstat(p, "down", |st| !st.up && !st.want_up);
    }
}
