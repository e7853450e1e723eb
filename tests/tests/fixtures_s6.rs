//! Self-tests of the s6 fixtures with raw s6 tools (no gatewayctl): the dummy
//! gateway under real s6-supervise behaves as each option says, and the
//! fixture's readings follow what s6 does.

use std::time::Duration;

use hermes_e2e::run::run;
use hermes_e2e::s6::{Gateway, ScanDir};
use std::process::Command;

fn svc(fixture: &ScanDir, flags: &str, profile: &str) {
    let out = run(
        Command::new("s6-svc")
            .args(flags.split(' '))
            .arg(fixture.service_dir(profile)),
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "s6-svc {flags}: {out:?}");
}

#[test]
fn dummy_gateway_is_up_and_dies_by_sigterm_on_stop() {
    let s6 = ScanDir::with(&[Gateway::new("alpha")]);
    let st = s6.svstat("alpha");
    assert!(st.up && st.want_up && st.pid.is_some(), "{st:?}");
    assert!(s6.gateway_pid("alpha").is_some());
    svc(&s6, "-d", "alpha");
    let st = s6.wait_svstat("alpha", "down", |s| !s.up);
    assert_eq!(st.signal.as_deref(), Some("SIGTERM"), "{st:?}");
    assert!(!st.want_up);
}

#[test]
fn term_delay_gateway_exits_zero_after_its_delay_and_finish_runs() {
    let s6 = ScanDir::with(&[Gateway::new("slow").term_delay_ms(300).finish_marker(200)]);
    svc(&s6, "-wD -d", "slow");
    let st = s6.svstat("slow");
    assert!(!st.up, "{st:?}");
    assert_eq!(st.exit_code, Some(0), "{st:?}");
    assert_eq!(s6.finish_count("slow"), 1);
}

#[test]
fn down_file_and_exit_code_gateways() {
    let s6 = ScanDir::with(&[
        Gateway::new("idle").down(),
        Gateway::new("broken").exit_code(3).down(),
    ]);
    let st = s6.svstat("idle");
    assert!(!st.up && !st.want_up && !st.normally_up, "{st:?}");
    svc(&s6, "-o", "broken");
    let st = s6.wait_svstat("broken", "exited 3", |s| !s.up && s.exit_code == Some(3));
    assert!(!st.want_up, "{st:?}");
}

#[test]
fn notification_fd_gateway_becomes_ready() {
    let s6 = ScanDir::with(&[Gateway::new("notify").notification_fd(3, 100)]);
    s6.wait_svstat("notify", "ready", |s| s.up && s.ready);
}

#[test]
fn ignore_term_gateway_survives_sigterm() {
    let s6 = ScanDir::with(&[Gateway::new("stubborn").ignore_term()]);
    let pid = s6.gateway_pid("stubborn").expect("armed");
    svc(&s6, "-d", "stubborn");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s6.gateway_pid("stubborn"), Some(pid));
    assert!(s6.svstat("stubborn").up);
}

#[test]
fn teardown_kills_every_process_of_the_tree() {
    let s6 = ScanDir::with(&[Gateway::new("a"), Gateway::new("b")]);
    let pids: Vec<i32> = s6.armed_gateways().values().copied().collect();
    let svscan = s6.svscan_pid();
    assert_eq!(pids.len(), 2);
    drop(s6);
    for pid in pids.into_iter().chain([svscan]) {
        assert!(
            matches!(hermes_e2e::proc::state(pid), None | Some('Z')),
            "pid {pid} still alive"
        );
    }
}

#[test]
fn unsupervised_service_has_no_svstat() {
    let s6 = ScanDir::start();
    s6.install(&[Gateway::new("ghost")]);
    assert!(!s6.is_supervised("ghost"));
    assert!(s6.try_svstat("ghost").is_none());
}

#[test]
fn readings_see_supervision_finish_runs_and_the_state_file() {
    // The positive side of the fixtures' readings, which other suites use
    // for "not supervised", "finish not run yet" and "nothing recorded".
    let s6 = ScanDir::with(&[Gateway::new("coder").finish_marker(0)]);
    s6.install(&[Gateway::new("ghost")]);
    assert!(s6.is_supervised("coder"));
    assert!(!s6.is_supervised("ghost"));
    assert_eq!(s6.finish_count("coder"), 0);
    assert_eq!(s6.desired_state("coder"), None);
    let out = s6.ctl(&["stop", "--wait", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(s6.finish_count("coder"), 1);
    assert_eq!(s6.desired_state("coder").as_deref(), Some("stopped"));
}
