//! `gatewayctl ... --wait` against real s6: it returns only once the
//! gateway is up (ready, where it has a notification-fd), finished down, or
//! restarted; `--all --wait` waits for every one; a gateway that does not get
//! there within `-T` is a failure with its own line.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hermes_e2e::run::run;
use hermes_e2e::s6::{self, Gateway, ScanDir};

#[test]
fn stop_wait_returns_only_once_down_and_the_finish_script_is_done() {
    let s6 = ScanDir::with(&[Gateway::new("coder").term_delay_ms(300).finish_marker(700)]);
    let out = s6.ctl(&["stop", "--wait", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "✓ Stopped gateway-coder under s6\n", "{out:?}");
    assert_eq!(s6.finish_count("coder"), 1, "finish not done on return");
    let st = s6.svstat("coder");
    assert!(!st.up && !st.want_up, "{st:?}");
    assert_eq!(st.exit_code, Some(0), "{st:?}");
}

#[test]
fn short_wait_option_works_like_the_long_one() {
    let s6 = ScanDir::with(&[Gateway::new("coder").finish_marker(500)]);
    let out = s6.ctl(&["stop", "-w", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(s6.finish_count("coder"), 1, "finish not done on return");
}

#[test]
fn timeout_alone_implies_wait() {
    let s6 = ScanDir::with(&[Gateway::new("coder").finish_marker(500)]);
    let out = s6.ctl(&["stop", "-T", "10", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(s6.finish_count("coder"), 1, "finish not done on return");
}

#[test]
fn start_wait_returns_once_ready_where_the_service_has_a_notification_fd() {
    let s6 = ScanDir::with(&[Gateway::new("coder").notification_fd(3, 700).down()]);
    let out = s6.ctl(&["start", "--wait", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "✓ Started gateway-coder under s6\n", "{out:?}");
    let st = s6.svstat("coder");
    assert!(st.up && st.ready, "not ready on return: {st:?}");
}

#[test]
fn start_wait_returns_once_up_without_a_notification_fd() {
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    let out = s6.ctl(&["start", "--wait", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = s6.svstat("coder");
    assert!(st.up && st.want_up, "not up on return: {st:?}");
}

#[test]
fn restart_wait_returns_with_a_new_gateway_up() {
    let s6 = ScanDir::with(&[Gateway::new("coder")
        .term_delay_ms(300)
        .notification_fd(3, 300)]);
    s6.wait_svstat("coder", "ready", |s| s.ready);
    let before = s6.svstat("coder").pid;
    let out = s6.ctl(&["restart", "--wait", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Restarted gateway-coder under s6\n",
        "{out:?}"
    );
    let st = s6.svstat("coder");
    assert!(st.up && st.ready, "{st:?}");
    assert_ne!(st.pid, before, "still the old gateway on return");
}

/// A directory for `HERMES_S6_BINDIR` whose `s6-svc` and `s6-svwait` run
/// the real ones and record their arguments (`<name>.args`) and their
/// stderr (`<name>.stderr`); `s6-svstat` is the real one.
fn recording_s6_bindir(s6: &ScanDir) -> PathBuf {
    let real = |name: &str| {
        s6::CLEAN_PATH
            .split(':')
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} not installed"))
    };
    let dir = s6.root().join("recording-bin");
    fs::create_dir(&dir).expect("mkdir");
    let log = |name: &str| s6::shell_quote(&dir.join(name).to_string_lossy());
    for program in ["s6-svc", "s6-svwait"] {
        s6::write_script(
            &dir.join(program),
            &format!(
                "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\" 2>> {}\n",
                log(&format!("{program}.args")),
                s6::shell_quote(&real(program).to_string_lossy()),
                log(&format!("{program}.stderr")),
            ),
        );
    }
    std::os::unix::fs::symlink(real("s6-svstat"), dir.join("s6-svstat")).expect("symlink");
    dir
}

#[test]
fn restart_wait_without_a_notification_fd_returns_with_a_new_gateway_up() {
    // No notification-fd: s6 never sees this gateway ready, so the wait is
    // for "restarted" (`-wr`), after a `-u` that s6 takes first (so the
    // record follows what s6 was told). s6-svc takes a `-wR` here for
    // `-wr`, with a warning on its stderr, which gatewayctl drops on
    // success: the recording s6-svc keeps it. The slow shutdown (300 ms)
    // leaves the old gateway up for a while, so a wait that ended early
    // would show it.
    let s6 = ScanDir::with(&[Gateway::new("coder").term_delay_ms(300)]);
    let before = s6.wait_svstat("coder", "up", |s| s.up).pid;
    let bindir = recording_s6_bindir(&s6);
    let mut cmd = s6.gatewayctl();
    cmd.env("HERMES_S6_BINDIR", &bindir)
        .args(["restart", "coder", "--wait", "-T", "5"]);
    let out = run(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Restarted gateway-coder under s6\n",
        "{out:?}"
    );
    assert_eq!(out.stderr, "", "{out:?}");
    let st = s6.svstat("coder");
    assert!(st.up && st.want_up, "not up on return: {st:?}");
    assert_ne!(st.pid, before, "still the old gateway on return");
    assert!(!st.ready, "ready without a notification-fd? {st:?}");
    assert_eq!(s6.desired_state("coder").as_deref(), Some("running"));
    let read = |name: &str| fs::read_to_string(bindir.join(name)).unwrap_or_default();
    let args = read("s6-svc.args");
    let dir = s6.service_dir("coder").display().to_string();
    assert_eq!(
        args,
        format!("-u {dir}\n-wr -T 5000 -r {dir}\n"),
        "s6-svc was not asked to wait for the restart alone"
    );
    assert_eq!(read("s6-svc.stderr"), "", "s6-svc complained");
}

#[test]
fn stop_all_wait_on_ten_slow_gateways_returns_with_all_down() {
    let gateways: Vec<Gateway> = (0..10)
        .map(|i| Gateway::new(&format!("slow{i}")).term_delay_ms(1000))
        .collect();
    let s6 = ScanDir::with(&gateways);
    let out = s6.ctl(&["stop", "--all", "--wait"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Stopped 10 profile gateway(s) under s6\n",
        "{out:?}"
    );
    assert_eq!(out.stderr, "", "{out:?}");
    for gw in &gateways {
        let st = s6.svstat(&gw.profile);
        assert!(!st.up && !st.want_up, "{}: {st:?}", gw.profile);
        // Exit 0: each finished its slow shutdown rather than being killed.
        assert_eq!(st.exit_code, Some(0), "{}: {st:?}", gw.profile);
    }
}

#[test]
fn gateway_that_never_stops_within_the_timeout_is_a_failure() {
    let s6 = ScanDir::with(&[Gateway::new("stubborn").ignore_term()]);
    let out = s6.ctl(&["stop", "--wait", "-T", "1", "stubborn"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(
        out.stderr, "✗ gateway-stubborn did not stop within 1s (--timeout)\n",
        "{out:?}"
    );
    let st = s6.svstat("stubborn");
    assert!(st.up && !st.want_up, "{st:?}");
    // s6 took the stop (it wants the gateway down): so does the record.
    assert_eq!(s6.desired_state("stubborn").as_deref(), Some("stopped"));
}

#[test]
fn stop_all_wait_reports_the_one_that_never_stops_and_stops_the_rest() {
    let s6 = ScanDir::with(&[
        Gateway::new("a"),
        Gateway::new("stubborn").ignore_term(),
        Gateway::new("z").term_delay_ms(200),
    ]);
    let out = s6.ctl(&["stop", "--all", "--wait", "-T", "1"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Stopped 2 profile gateway(s) under s6\n",
        "{out:?}"
    );
    assert_eq!(
        out.stderr,
        "✗ Could not stop gateway-stubborn: gateway-stubborn did not stop within 1s (--timeout)\n",
        "{out:?}"
    );
    for p in ["a", "z", "stubborn"] {
        assert!(!s6.svstat(p).want_up, "{p} still wanted up");
        assert_eq!(s6.desired_state(p).as_deref(), Some("stopped"), "{p}");
    }
    for p in ["a", "z"] {
        assert!(!s6.svstat(p).up, "{p} not down on return");
    }
}

#[test]
fn restart_wait_of_a_down_gateway_returns_with_it_up() {
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    let out = s6.ctl(&["restart", "--wait", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    let st = s6.svstat("coder");
    assert!(st.up && st.want_up, "not up on return: {st:?}");
}

#[test]
fn gateway_that_never_gets_ready_within_the_timeout_fails_to_start() {
    let s6 = ScanDir::with(&[Gateway::new("sleepy").notification_fd(3, 20_000).down()]);
    let out = s6.ctl(&["start", "--wait", "-T", "1", "sleepy"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(
        out.stderr, "✗ gateway-sleepy did not start within 1s (--timeout)\n",
        "{out:?}"
    );
    let st = s6.svstat("sleepy");
    assert!(st.up && !st.ready, "{st:?}");
    assert_eq!(s6.desired_state("sleepy").as_deref(), Some("running"));
}

#[test]
fn gateway_that_never_stops_within_the_timeout_fails_to_restart() {
    let s6 = ScanDir::with(&[Gateway::new("stubborn").ignore_term()]);
    let pid = s6.svstat("stubborn").pid;
    let out = s6.ctl(&["restart", "--wait", "-T", "1", "stubborn"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr, "✗ gateway-stubborn did not restart within 1s (--timeout)\n",
        "{out:?}"
    );
    assert_eq!(
        s6.svstat("stubborn").pid,
        pid,
        "the old gateway is still the one up"
    );
}

#[test]
fn wait_defaults_to_10_s_and_a_timeout_is_sent_in_whole_milliseconds() {
    // `-w` alone waits 10 s (README); `-T` goes to s6 in milliseconds, and
    // never as 0 (s6 reads `-t 0` as no limit at all). The command goes
    // first, by itself; then s6-svwait waits.
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let bindir = recording_s6_bindir(&s6);
    let ctl = |args: &[&str]| {
        let mut cmd = s6.gatewayctl();
        cmd.env("HERMES_S6_BINDIR", &bindir).args(args);
        run(&mut cmd, Duration::from_secs(60))
    };
    let out = ctl(&["stop", "-w", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    // 0.4 ms: s6 may give up at once; only what it was asked matters here.
    ctl(&["start", "-T", "0.0004", "coder"]);
    let dir = s6.service_dir("coder").display().to_string();
    let read = |name: &str| fs::read_to_string(bindir.join(name)).unwrap_or_default();
    assert_eq!(read("s6-svc.args"), format!("-d {dir}\n-u {dir}\n"));
    assert_eq!(
        read("s6-svwait.args"),
        format!("-D -t 10000 {dir}\n-u -t 1 {dir}\n")
    );
}

#[test]
fn restart_of_a_down_gateway_is_a_start_with_a_fractional_timeout_in_milliseconds() {
    // Down: brought up (`-u`, waited for with `s6-svwait -u`), not
    // restarted; and 1.5 s reaches s6 as 1500 ms, fraction and all.
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    let bindir = recording_s6_bindir(&s6);
    let mut cmd = s6.gatewayctl();
    cmd.env("HERMES_S6_BINDIR", &bindir)
        .args(["restart", "-T", "1.5", "coder"]);
    let out = run(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out:?}");
    let dir = s6.service_dir("coder").display().to_string();
    let read = |name: &str| fs::read_to_string(bindir.join(name)).unwrap_or_default();
    assert_eq!(read("s6-svc.args"), format!("-u {dir}\n"));
    assert_eq!(read("s6-svwait.args"), format!("-u -t 1500 {dir}\n"));
    assert!(s6.svstat("coder").up);
}

#[test]
fn wait_timeout_with_an_unrecordable_state_warns_and_still_fails() {
    let s6 = ScanDir::with(&[Gateway::new("stubborn").ignore_term()]);
    let state = s6.state_file("stubborn");
    fs::create_dir_all(&state).expect("a directory in place of the state file");
    let out = s6.ctl(&["stop", "--wait", "-T", "1", "stubborn"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines[0].starts_with(&format!(
            "⚠ could not record the desired state in {}",
            state.display()
        )),
        "{out:?}"
    );
    assert_eq!(
        lines[1], "✗ gateway-stubborn did not stop within 1s (--timeout)",
        "{out:?}"
    );
}
