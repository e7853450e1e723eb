//! `gatewayctl stop|restart --all` against real s6: every listed gateway is
//! acted on (3 and 50 of them), a failure on one never skips the others and
//! is reported with s6's reason, no gateways is not an error, and
//! `start --all` is a usage error. Over more gateways than its file
//! descriptor limit allows at once, `--all` still acts on every one, counting
//! the descriptors it inherited open.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use hermes_e2e::proc;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("gw{i:02}")).collect()
}

fn fixture(profiles: &[String]) -> ScanDir {
    let gateways: Vec<Gateway> = profiles.iter().map(|p| Gateway::new(p)).collect();
    ScanDir::with(&gateways)
}

fn pids(s6: &ScanDir, profiles: &[String]) -> HashMap<String, i32> {
    profiles
        .iter()
        .map(|p| (p.clone(), s6.svstat(p).pid.expect("up with a pid")))
        .collect()
}

fn stop_all_stops_every_one_of(n: usize) {
    stop_all_stops_every_one_of_with(n, |_| {});
}

/// `stop --all` over `n` gateways, the gatewayctl command first adjusted
/// by `adjust`: every one is stopped, with its state recorded.
fn stop_all_stops_every_one_of_with(n: usize, adjust: impl FnOnce(&mut Command)) {
    let profiles = names(n);
    let s6 = fixture(&profiles);
    let mut cmd = s6.gatewayctl();
    cmd.args(["stop", "--all"]);
    adjust(&mut cmd);
    let out = run(&mut cmd, Duration::from_secs(120));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("✓ Stopped {n} profile gateway(s) under s6\n"),
        "{out:?}"
    );
    assert_eq!(out.stderr, "", "{out:?}");
    for p in &profiles {
        s6.wait_svstat(p, "down and wanted down", |s| !s.up && !s.want_up);
        assert_eq!(s6.desired_state(p).as_deref(), Some("stopped"), "{p}");
    }
}

fn restart_all_restarts_every_one_of(n: usize) {
    let profiles = names(n);
    let s6 = fixture(&profiles);
    let before = pids(&s6, &profiles);
    let out = s6.ctl(&["restart", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("✓ Restarted {n} profile gateway(s) under s6\n"),
        "{out:?}"
    );
    assert_eq!(out.stderr, "", "{out:?}");
    for p in &profiles {
        let old = before[p];
        s6.wait_svstat(p, "up with a new pid", |s| {
            s.up && s.want_up && s.pid.is_some_and(|pid| pid != old)
        });
        assert_eq!(s6.desired_state(p).as_deref(), Some("running"), "{p}");
    }
}

#[test]
fn stop_all_stops_each_of_three_gateways() {
    stop_all_stops_every_one_of(3);
}

#[test]
fn restart_all_restarts_each_of_three_gateways() {
    restart_all_restarts_every_one_of(3);
}

#[test]
fn stop_all_stops_each_of_fifty_gateways() {
    stop_all_stops_every_one_of(50);
}

/// Starts `cmd` under a file limit of `limit` (soft and hard, so none can
/// be raised), holding the descriptors `inherited` open on /dev/null (not
/// close-on-exec), as a caller may leave them.
fn limit_files(cmd: &mut Command, limit: u64, inherited: Range<i32>) {
    // SAFETY: open, dup2, close and setrlimit are async-signal-safe; runs
    // in the child, where no other thread owns a descriptor.
    unsafe {
        cmd.pre_exec(move || {
            if !inherited.is_empty() {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                if null == -1 {
                    return Err(io::Error::last_os_error());
                }
                for fd in inherited.clone() {
                    if libc::dup2(null, fd) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if !inherited.contains(&null) {
                    libc::close(null);
                }
            }
            proc::set_rlimit(libc::RLIMIT_NOFILE, limit)
        });
    }
}

#[test]
fn stop_all_over_sixty_gateways_with_only_32_file_descriptors_stops_every_one() {
    // Each s6 program run holds a few descriptors while it runs; 60 at once
    // would need far more than 32.
    stop_all_stops_every_one_of_with(60, |cmd| limit_files(cmd, 32, 0..0));
}

#[test]
fn stop_all_over_sixty_gateways_with_30_of_64_file_descriptors_inherited_stops_every_one() {
    // The descriptors already open count against the limit: with 30 left
    // open by the caller (34 or so in all), (64 - open - 8) / 8 gives 2 jobs
    // at once, where counting only stdio would give 6, too many to fit.
    stop_all_stops_every_one_of_with(60, |cmd| limit_files(cmd, 64, 10..40));
}

#[test]
fn restart_all_restarts_each_of_fifty_gateways() {
    restart_all_restarts_every_one_of(50);
}

#[test]
fn restart_all_brings_down_gateways_up_too() {
    let s6 = ScanDir::with(&[Gateway::new("a"), Gateway::new("b").down()]);
    let out = s6.ctl(&["restart", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "✓ Restarted 2 profile gateway(s) under s6\n");
    s6.wait_svstat("b", "up", |s| s.up && s.want_up);
}

/// Three gateways, `writer` in the middle with a control FIFO the
/// unprivileged caller cannot write; runs `ARGS` as uid 65534.
/// Also returns the pids from before.
fn one_locked(args: &[&str]) -> (ScanDir, Output, HashMap<String, i32>) {
    let profiles: Vec<String> = ["coder", "writer", "zeta"].map(String::from).to_vec();
    let s6 = fixture(&profiles);
    let before = pids(&s6, &profiles);
    s6.open_control_to_all_users(&["writer"]);
    let out = run(
        &mut s6::as_nobody(s6.gatewayctl().args(args)),
        Duration::from_secs(60),
    );
    (s6, out, before)
}

fn assert_one_failure(out: &Output, verb: &str, action: &str) {
    assert_eq!(out.code, 1, "{out:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    let prefix = format!(
        "✗ Could not {verb} gateway-writer: s6-svc {action} on 'gateway-writer' failed (rc=111): "
    );
    assert!(lines[0].starts_with(&prefix), "{out:?}");
    assert!(lines[0].ends_with("Permission denied"), "{out:?}");
    assert!(lines[0].contains("gateway-writer"), "{out:?}");
}

#[test]
fn stop_all_with_one_failing_stops_the_others_and_reports_it() {
    let (s6, out, _) = one_locked(&["stop", "--all"]);
    assert_eq!(
        out.stdout, "✓ Stopped 2 profile gateway(s) under s6\n",
        "{out:?}"
    );
    assert_one_failure(&out, "stop", "stop");
    for p in ["coder", "zeta"] {
        s6.wait_svstat(p, "down", |s| !s.up && !s.want_up);
        assert_eq!(s6.desired_state(p).as_deref(), Some("stopped"), "{p}");
    }
    let st = s6.svstat("writer");
    assert!(st.up && st.want_up, "{st:?}");
    assert_eq!(s6.desired_state("writer"), None);
}

#[test]
fn restart_all_with_one_failing_restarts_the_others_and_reports_it() {
    let (s6, out, before) = one_locked(&["restart", "--all"]);
    assert_eq!(
        out.stdout, "✓ Restarted 2 profile gateway(s) under s6\n",
        "{out:?}"
    );
    assert_one_failure(&out, "restart", "restart");
    for p in ["coder", "zeta"] {
        let old = before[p];
        s6.wait_svstat(p, "up with a new pid", |s| {
            s.up && s.pid.is_some_and(|pid| pid != old)
        });
        assert_eq!(s6.desired_state(p).as_deref(), Some("running"), "{p}");
    }
    assert_eq!(s6.svstat("writer").pid, Some(before["writer"]));
    assert_eq!(s6.desired_state("writer"), None);
}

#[test]
fn stop_all_where_every_one_fails_still_prints_the_zero_count() {
    let s6 = fixture(&["coder".to_owned(), "writer".to_owned()]);
    s6.open_control_to_all_users(&["coder", "writer"]);
    let out = run(
        &mut s6::as_nobody(s6.gatewayctl().args(["stop", "--all"])),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "✓ Stopped 0 profile gateway(s) under s6\n");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("✗ Could not stop gateway-coder: "))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("✗ Could not stop gateway-writer: "))
    );
}

#[test]
fn stop_all_with_one_read_only_profile_home_warns_once_and_stops_every_one() {
    let profiles: Vec<String> = ["coder", "writer", "zeta"].map(String::from).to_vec();
    let s6 = fixture(&profiles);
    // Every control FIFO writable by the unprivileged caller, every profile
    // home too but writer's: owned by root, mode 0755.
    s6.open_control_to_all_users(&[]);
    s6::chmod(&s6.profile_home("writer"), 0o755);
    let out = run(
        &mut s6::as_nobody(s6.gatewayctl().args(["stop", "--all"])),
        Duration::from_secs(60),
    );
    assert_eq!(
        out.code, 0,
        "a failed state write is no failed stop: {out:?}"
    );
    assert_eq!(
        out.stdout, "✓ Stopped 3 profile gateway(s) under s6\n",
        "{out:?}"
    );
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    let warning = format!(
        "⚠ could not record the desired state in {}",
        s6.state_file("writer").display()
    );
    assert!(lines[0].starts_with(&warning), "{out:?}");
    assert!(lines[0].contains("ermission denied"), "{out:?}");
    for p in &profiles {
        s6.wait_svstat(p, "down and wanted down", |s| !s.up && !s.want_up);
    }
    for p in ["coder", "zeta"] {
        assert_eq!(s6.desired_state(p).as_deref(), Some("stopped"), "{p}");
    }
    assert!(!s6.state_file("writer").exists());
}

#[test]
fn stop_all_with_no_gateways_says_so_and_succeeds() {
    let s6 = ScanDir::start();
    let out = s6.ctl(&["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "No profile gateways registered under s6\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn restart_all_with_no_gateways_says_so_and_succeeds() {
    let s6 = ScanDir::start();
    let out = s6.ctl(&["restart", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "No profile gateways registered under s6\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn start_all_is_a_usage_error_and_starts_nothing() {
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    let out = s6.ctl(&["start", "--all"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(out.stderr_lines().len(), 1, "{out:?}");
    assert!(out.stderr.contains("usage:"), "{out:?}");
    std::thread::sleep(Duration::from_millis(200));
    let st = s6.svstat("coder");
    assert!(!st.up && !st.want_up, "{st:?}");
    assert_eq!(s6.desired_state("coder"), None);
}

#[test]
fn stop_all_acts_on_gateways_linked_into_the_scan_directory() {
    let s6 = ScanDir::with(&[Gateway::new("plain"), Gateway::new("linked").linked()]);
    assert!(s6.service_dir("linked").is_symlink());
    let out = s6.ctl(&["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Stopped 2 profile gateway(s) under s6\n",
        "{out:?}"
    );
    for p in ["plain", "linked"] {
        s6.wait_svstat(p, "down", |s| !s.up && !s.want_up);
    }
}

#[test]
fn with_no_thread_or_process_left_to_start_each_gateway_fails_in_one_line() {
    // As a user allowed one process (RLIMIT_NPROC 1, set by prlimit after
    // the switch to that user): no worker thread and no s6 program can be
    // started. `--all` does the work on its own thread and reports each
    // gateway's failure; it never panics.
    let profiles = names(3);
    let s6 = fixture(&profiles);
    let limited = |args: &[&str]| {
        let limited = s6::wrapped(&["prlimit", "--nproc=1", "--"], s6.gatewayctl().args(args));
        s6::as_nobody(&limited)
    };
    for args in [&["status", "--all"][..], &["stop", "--all"]] {
        let out = run(&mut limited(args), Duration::from_secs(60));
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), profiles.len(), "{args:?}: {out:?}");
        for line in lines {
            assert!(
                line.contains("cannot start s6-")
                    && line.ends_with("Resource temporarily unavailable (os error 11)"),
                "{args:?}: {line}"
            );
        }
    }
    for p in &profiles {
        assert!(s6.svstat(p).up, "{p} was acted on");
    }
}
