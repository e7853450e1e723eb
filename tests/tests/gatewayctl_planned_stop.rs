//! `stop` tells a Hermes gateway that its SIGTERM is an operator's stop, as
//! the Python CLI's s6 stop does: before `s6-svc -d` it writes
//! `.gateway-planned-stop.json` in the profile home, naming the pid and start
//! time the gateway recorded in its `gateway.pid`.
//! The gateways here behave as a Hermes gateway does about it (the dummy's
//! `--hermes-home`): exit 0 when a fresh marker names them, else exit 1, so
//! s6-svstat's exit code says what each one understood. `restart` writes no
//! marker (the gateway exits 1 and comes back); a home without a readable
//! `gateway.pid` gets none; a stop that is never sent takes its marker back.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

const MARKER: &str = ".gateway-planned-stop.json";

fn assert_ok(out: &Output, stdout: &str) {
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, format!("{stdout}\n"), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

fn marker(s6: &ScanDir, profile: &str) -> PathBuf {
    s6.profile_home(profile).join(MARKER)
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn stop_tells_a_hermes_gateway_its_sigterm_is_planned() {
    let s6 = ScanDir::with(&[Gateway::new("coder").hermes()]);
    let out = s6.ctl(&["stop", "coder"]);
    assert_ok(&out, "✓ Stopped gateway-coder under s6");
    let st = s6.wait_svstat("coder", "down", |s| !s.up);
    assert_eq!(
        st.exit_code,
        Some(0),
        "it took the stop for unplanned: {st:?}"
    );
    assert!(!st.want_up, "{st:?}");
    assert!(
        !marker(&s6, "coder").exists(),
        "the gateway did not consume it"
    );
}

#[test]
fn stop_all_tells_every_hermes_gateway_in_its_own_home() {
    let profiles = ["default", "coder", "writer"];
    let gateways: Vec<Gateway> = profiles.iter().map(|p| Gateway::new(p).hermes()).collect();
    let s6 = ScanDir::with(&gateways);
    let out = s6.ctl(&["stop", "--all"]);
    assert_ok(&out, "✓ Stopped 3 profile gateway(s) under s6");
    for p in profiles {
        let st = s6.wait_svstat(p, "down", |s| !s.up);
        assert_eq!(st.exit_code, Some(0), "{p}: {st:?}");
        assert!(!marker(&s6, p).exists(), "{p}");
    }
}

#[test]
fn restart_leaves_the_sigterm_unplanned_and_the_gateway_comes_back() {
    let s6 = ScanDir::with(&[Gateway::new("coder").hermes().finish_marker(0)]);
    let before = s6.svstat("coder").pid.expect("up with a pid");
    let out = s6.ctl(&["restart", "coder"]);
    assert_ok(&out, "✓ Restarted gateway-coder under s6");
    s6.wait_svstat("coder", "up again with a new pid", |s| {
        s.up && s.pid.is_some_and(|p| p != before)
    });
    let finished = fs::read_to_string(s6.finish_marker("coder")).unwrap_or_default();
    assert_eq!(
        finished.trim_end(),
        "finished 1 0",
        "one unplanned exit (code 1, no signal)"
    );
    assert!(!marker(&s6, "coder").exists());
}

#[test]
fn the_marker_names_the_gateway_in_gateway_pid_and_no_other_home_gets_one() {
    // None of these gateways consumes markers: one written stays.
    let s6 = ScanDir::with(&[
        Gateway::new("plain"),
        Gateway::new("garbage"),
        Gateway::new("recorded"),
    ]);
    let pid_file = |p: &str| s6.profile_home(p).join("gateway.pid");
    s6::write_file(&pid_file("garbage"), "not a pid\n");
    s6::write_file(
        &pid_file("recorded"),
        r#"{"pid": 4242, "kind": "hermes-gateway", "argv": ["hermes"], "start_time": 987654}"#,
    );
    let out = s6.ctl(&["stop", "--all"]);
    assert_ok(&out, "✓ Stopped 3 profile gateway(s) under s6");
    assert_eq!(names(&s6.profile_home("plain")), ["gateway_state.json"]);
    assert_eq!(
        names(&s6.profile_home("garbage")),
        ["gateway.pid", "gateway_state.json"]
    );

    let text = fs::read_to_string(marker(&s6, "recorded")).expect("a marker for `recorded`");
    let m: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut keys: Vec<&str> = m
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "stopper_pid",
            "target_pid",
            "target_start_time",
            "written_at"
        ]
    );
    assert_eq!(m["target_pid"], 4242, "{text}");
    assert_eq!(m["target_start_time"], 987654, "{text}");
    assert!(m["stopper_pid"].as_u64().is_some_and(|p| p > 0), "{text}");
    // What the gateway parses with datetime.fromisoformat and compares
    // with the time now (a marker over 60 s old is stale).
    let written = m["written_at"].as_str().expect("a string");
    let at = humantime::parse_rfc3339(written).expect("RFC 3339, UTC");
    let age = SystemTime::now().duration_since(at).unwrap_or_default();
    assert!(age < Duration::from_secs(30), "{written} is {age:?} old");
}

#[test]
fn a_stop_never_sent_takes_its_marker_back() {
    let s6 = ScanDir::with(&[Gateway::new("coder").hermes()]);
    let pid = s6.svstat("coder").pid.expect("up with a pid");
    // s6-svc refuses, as it does for a caller without rights on the control
    // FIFO, after noting whether the marker was there when it ran.
    let bindir = s6.root().join("refusing-s6");
    fs::create_dir(&bindir).expect("mkdir");
    let witness = s6.root().join("marker-seen-by-s6-svc");
    s6::write_script(
        &bindir.join("s6-svc"),
        &format!(
            "#!/bin/sh\n[ -e {marker} ] && : > {witness}\necho 's6-svc: fatal: unable to control {dir}: Permission denied' >&2\nexit 111\n",
            marker = s6::shell_quote(&marker(&s6, "coder").to_string_lossy()),
            witness = s6::shell_quote(&witness.to_string_lossy()),
            dir = s6.service_dir("coder").display(),
        ),
    );
    let out = run(
        s6.gatewayctl()
            .env("HERMES_S6_BINDIR", &bindir)
            .args(["stop", "coder"]),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("✗ s6-svc stop on 'gateway-coder' failed (rc=111)"),
        "{out:?}"
    );
    assert!(witness.exists(), "no marker was written before s6-svc ran");
    assert!(
        !marker(&s6, "coder").exists(),
        "the marker outlived the failed stop"
    );
    let st = s6.svstat("coder");
    assert!(st.up && st.pid == Some(pid), "{st:?}");
}
