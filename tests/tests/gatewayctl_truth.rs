//! gatewayctl never reports what s6 did not do, against real s6: a `✓` and
//! exit 0 mean s6 took the command, and the desired state recorded is the
//! one s6 was told.
//! - A `--wait` right after another command never loses its own command
//!   (s6-svlisten1 may exit as soon as the service looks right, while its
//!   s6-svc child still writes the command).
//! - With no supervisor listening (s6-supervise gone, its status file still
//!   saying up), `--wait` fails with s6's reason and records nothing.
//! - Started with SIGCHLD ignored (a parent's SIG_IGN survives exec), every
//!   action and `run` still see their s6 programs' real exit.
//! - HERMES_HOME reached through a symlink or `..` acts on the profile it
//!   resolves to and writes that profile's state file.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use hermes_e2e::proc;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

const LIMIT: Duration = Duration::from_secs(60);

fn assert_ok(out: &Output, stdout: &str) {
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, format!("{stdout}\n").as_str(), ""),
        "{out:?}"
    );
}

// --- a --wait never loses its command ---------------------------------------

#[test]
fn start_wait_right_after_a_stop_brings_the_gateway_back_every_time() {
    // Its stop takes a moment: it still looks up when the start comes.
    let s6 = ScanDir::with(&[Gateway::new("coder").term_delay_ms(100)]);
    for round in 0..10 {
        assert_ok(
            &s6.ctl(&["stop", "coder"]),
            "✓ Stopped gateway-coder under s6",
        );
        let out = s6.ctl(&["start", "coder", "--wait", "-T", "5"]);
        assert_ok(&out, "✓ Started gateway-coder under s6");
        s6.wait_svstat("coder", &format!("up and wanted up (round {round})"), |s| {
            s.up && s.want_up
        });
        assert_eq!(s6.desired_state("coder").as_deref(), Some("running"));
    }
}

#[test]
fn stop_wait_on_a_crash_looping_gateway_leaves_s6_wanting_it_down() {
    // It exits at once and s6 restarts it a second later, so it looks down
    // (and finished) most of the time: the wait is satisfied at once.
    let s6 = ScanDir::with(&[Gateway::new("looper").exit_code(1)]);
    for round in 0..5 {
        assert_ok(
            &s6.ctl(&["start", "looper"]),
            "✓ Started gateway-looper under s6",
        );
        let out = s6.ctl(&["stop", "looper", "--wait", "-T", "5"]);
        assert_ok(&out, "✓ Stopped gateway-looper under s6");
        let st = s6.svstat("looper");
        assert!(!st.want_up, "round {round}: s6 still wants it up: {st:?}");
        assert_eq!(s6.desired_state("looper").as_deref(), Some("stopped"));
    }
}

// --- no supervisor listening ----------------------------------------------------

/// A fixture whose `coder` gateway lost its s6-supervise: s6-svscan is
/// stopped (so it cannot start another), the supervisor killed; the gateway
/// runs on, and the status file still says up.
fn unsupervised(extra: &[Gateway]) -> ScanDir {
    let mut gateways = vec![Gateway::new("coder")];
    gateways.extend_from_slice(extra);
    let s6 = ScanDir::with(&gateways);
    proc::send_signal(s6.svscan_pid(), libc::SIGSTOP);
    let supervisor = proc::children(s6.svscan_pid())
        .into_iter()
        .find(|&pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.ends_with(b"s6-supervise\0gateway-coder\0"))
        })
        .expect("the s6-supervise of gateway-coder");
    proc::send_signal(supervisor, libc::SIGKILL);
    proc::wait_until(Duration::from_secs(10), "the supervisor to die", || {
        !s6.is_supervised("coder")
    });
    s6
}

fn assert_not_listening(out: &Output, prefix: &str) {
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].starts_with(prefix) && lines[0].ends_with("supervisor not listening"),
        "{out:?}"
    );
}

#[test]
fn start_wait_with_no_supervisor_fails_with_s6_s_reason_and_records_nothing() {
    let s6 = unsupervised(&[]);
    let out = s6.ctl(&["start", "coder", "--wait", "-T", "2"]);
    let rc = s6::rc_not_listening();
    assert_not_listening(
        &out,
        &format!("✗ s6-svc start on 'gateway-coder' failed (rc={rc}): "),
    );
    assert!(!s6.state_file("coder").exists(), "a state was recorded");
}

#[test]
fn restart_wait_with_no_supervisor_fails_with_s6_s_reason_and_records_nothing() {
    let s6 = unsupervised(&[]);
    let out = s6.ctl(&["restart", "coder", "-T", "1"]);
    let rc = s6::rc_not_listening();
    assert_not_listening(
        &out,
        &format!("✗ s6-svc restart on 'gateway-coder' failed (rc={rc}): "),
    );
    assert!(!s6.state_file("coder").exists(), "a state was recorded");
}

#[test]
fn stop_all_wait_with_no_supervisor_is_that_gateway_s_failure_not_a_timeout() {
    let s6 = unsupervised(&[Gateway::new("writer")]);
    let out = s6.ctl(&["stop", "--all", "-T", "2"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Stopped 1 profile gateway(s) under s6\n",
        "{out:?}"
    );
    assert_not_listening(
        &Output {
            code: 1,
            stdout: String::new(),
            stderr: out.stderr.clone(),
        },
        &format!(
            "✗ Could not stop gateway-coder: s6-svc stop on 'gateway-coder' failed (rc={}): ",
            s6::rc_not_listening()
        ),
    );
    assert!(!s6.state_file("coder").exists(), "a state was recorded");
    assert_eq!(s6.desired_state("writer").as_deref(), Some("stopped"));
}

// --- started with SIGCHLD ignored ---------------------------------------------

/// `gatewayctl ARGS...` started with SIGCHLD ignored, as a parent's
/// `SIG_IGN` leaves it across exec.
fn ctl_with_sigchld_ignored(s6: &ScanDir, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = s6.gatewayctl();
    cmd.args(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    // SAFETY: signal() is async-signal-safe; runs in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            Ok(())
        });
    }
    run(&mut cmd, LIMIT)
}

#[test]
fn with_sigchld_ignored_every_action_sees_what_s6_did() {
    let s6 = ScanDir::with(&[Gateway::new("coder"), Gateway::new("writer")]);
    let ctl = |args: &[&str]| ctl_with_sigchld_ignored(&s6, args, &[]);
    assert_ok(&ctl(&["stop", "coder"]), "✓ Stopped gateway-coder under s6");
    assert_eq!(s6.desired_state("coder").as_deref(), Some("stopped"));
    assert_ok(
        &ctl(&["start", "coder", "--wait"]),
        "✓ Started gateway-coder under s6",
    );
    assert_eq!(s6.desired_state("coder").as_deref(), Some("running"));
    assert_ok(
        &ctl(&["restart", "--all"]),
        "✓ Restarted 2 profile gateway(s) under s6",
    );
    let out = ctl(&["status", "--all"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    assert_eq!(out.stdout_lines().len(), 2, "{out:?}");
}

#[test]
fn with_sigchld_ignored_run_hands_over_to_s6_and_execs_the_heartbeat() {
    // /bin/true stands in for the heartbeat: `run` reaching its exec (exit
    // 0, after the breadcrumb) is what matters here.
    let s6 = ScanDir::with(&[Gateway::new("default").down()]);
    let out = ctl_with_sigchld_ignored(
        &s6,
        &["run"],
        &[("HERMES_HEARTBEAT", Path::new("/bin/true"))],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .starts_with("✓ gateway-default is running under s6 supervision"),
        "{out:?}"
    );
    s6.wait_svstat("default", "up", |s| s.up && s.want_up);
}

// --- HERMES_HOME through a link or `..` ---------------------------------------

#[test]
fn hermes_home_through_a_symlink_or_dot_dot_acts_on_the_profile_it_resolves_to() {
    let s6 = ScanDir::with(&[
        Gateway::new("default"),
        Gateway::new("p1"),
        Gateway::new("p2"),
    ]);
    let link = s6.root().join("current");
    std::os::unix::fs::symlink(s6.profile_home("p2"), &link).expect("symlink");
    let dotted = s6.profile_home("p1").join("../p2");
    for (round, home) in [link, dotted].iter().enumerate() {
        let mut cmd = s6.gatewayctl();
        cmd.env("HERMES_HOME", home)
            .arg(if round == 0 { "stop" } else { "start" });
        let out = run(&mut cmd, LIMIT);
        let (done, desired) = if round == 0 {
            ("Stopped", "stopped")
        } else {
            ("Started", "running")
        };
        assert_ok(&out, &format!("✓ {done} gateway-p2 under s6"));
        assert_eq!(s6.desired_state("p2").as_deref(), Some(desired), "{home:?}");
        let st = s6.svstat("default");
        assert!(st.up && st.want_up, "gateway-default was acted on: {st:?}");
        assert!(!s6.state_file("default").exists(), "{home:?}");
        assert!(!s6.state_file("p1").exists(), "{home:?}");
    }
}
