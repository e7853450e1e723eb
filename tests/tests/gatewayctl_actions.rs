//! `gatewayctl start|stop|restart PROFILE` against real s6: what s6-svstat
//! reports afterwards, the desired state persisted in `gateway_state.json`,
//! and which profile is acted on (argument, `-p`, HERMES_HOME, `default`).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

fn assert_ok(out: &Output, stdout: &str) {
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, format!("{stdout}\n"), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

// --- what s6 sees ---------------------------------------------------------

#[test]
fn start_brings_a_down_gateway_up_and_wanted_up() {
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    assert!(!s6.svstat("coder").up);
    let out = s6.ctl(&["start", "coder"]);
    assert_ok(&out, "✓ Started gateway-coder under s6");
    let st = s6.wait_svstat("coder", "up", |s| s.up);
    assert!(st.want_up && st.pid.is_some(), "{st:?}");
}

#[test]
fn stop_takes_an_up_gateway_down_and_wanted_down() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let out = s6.ctl(&["stop", "coder"]);
    assert_ok(&out, "✓ Stopped gateway-coder under s6");
    let st = s6.wait_svstat("coder", "down", |s| !s.up);
    assert!(!st.want_up, "{st:?}");
    assert_eq!(st.signal.as_deref(), Some("SIGTERM"), "{st:?}");
}

#[test]
fn restart_of_an_up_gateway_comes_back_with_a_new_pid() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let before = s6.svstat("coder").pid.expect("up with a pid");
    let host_before = s6.gateway_pid("coder").expect("armed");
    let out = s6.ctl(&["restart", "coder"]);
    assert_ok(&out, "✓ Restarted gateway-coder under s6");
    let st = s6.wait_svstat("coder", "up again with a new pid", |s| {
        s.up && s.pid.is_some_and(|p| p != before)
    });
    assert!(st.want_up, "{st:?}");
    s6.wait_armed(&["coder"]);
    assert_ne!(s6.gateway_pid("coder"), Some(host_before));
}

#[test]
fn restart_of_an_up_gateway_wanted_down_comes_back_wanted_up() {
    // `s6-svc -O`: up, but s6 will not restart it once it exits. A restart
    // still gives a new process, and s6 wants it up again.
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let once = run(
        Command::new("s6-svc")
            .arg("-O")
            .arg(s6.service_dir("coder")),
        Duration::from_secs(30),
    );
    assert_eq!(once.code, 0, "{once:?}");
    let st = s6.wait_svstat("coder", "up but wanted down", |s| s.up && !s.want_up);
    let before = st.pid.expect("up with a pid");
    let out = s6.ctl(&["restart", "coder"]);
    assert_ok(&out, "✓ Restarted gateway-coder under s6");
    let st = s6.wait_svstat("coder", "up again with a new pid", |s| {
        s.up && s.pid.is_some_and(|p| p != before)
    });
    assert!(st.want_up, "{st:?}");
}

#[test]
fn restart_of_a_down_gateway_brings_it_up() {
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    let out = s6.ctl(&["restart", "coder"]);
    assert_ok(&out, "✓ Restarted gateway-coder under s6");
    let st = s6.wait_svstat("coder", "up", |s| s.up);
    assert!(st.want_up, "{st:?}");
}

#[test]
fn start_of_an_up_gateway_keeps_it_running() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let pid = s6.gateway_pid("coder").expect("armed");
    let out = s6.ctl(&["start", "coder"]);
    assert_ok(&out, "✓ Started gateway-coder under s6");
    assert_eq!(s6.gateway_pid("coder"), Some(pid));
    assert!(s6.svstat("coder").up);
}

// --- desired state --------------------------------------------------------

#[test]
fn start_records_running_with_the_time() {
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    let before = now();
    assert_eq!(s6.ctl(&["start", "coder"]).code, 0);
    let state = s6.state("coder").expect("gateway_state.json written");
    assert_eq!(state["desired_state"], "running", "{state}");
    let at = state["updated_at"]
        .as_u64()
        .expect("updated_at in Unix seconds");
    assert!(at >= before && at <= now(), "updated_at {at} not now");
}

#[test]
fn state_file_is_compact_json_as_python_writes_it() {
    // Hermes's gateway writes it with `separators=(",", ":")` and no newline:
    // the file looks the same whichever writer wrote it last.
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let before = now();
    assert_eq!(s6.ctl(&["stop", "coder"]).code, 0);
    let text = fs::read_to_string(s6.state_file("coder")).expect("state file");
    let at = text
        .strip_prefix(r#"{"desired_state":"stopped","updated_at":"#)
        .and_then(|t| t.strip_suffix('}'))
        .and_then(|t| t.parse::<u64>().ok());
    assert!(at.is_some_and(|at| at >= before && at <= now()), "{text:?}");
}

#[test]
fn stop_records_stopped() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    assert_eq!(s6.ctl(&["stop", "coder"]).code, 0);
    assert_eq!(s6.desired_state("coder").as_deref(), Some("stopped"));
}

#[test]
fn restart_records_running() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    s6::write_file(
        &s6.state_file("coder"),
        r#"{"desired_state":"stopped","updated_at":1}"#,
    );
    assert_eq!(s6.ctl(&["restart", "coder"]).code, 0);
    assert_eq!(s6.desired_state("coder").as_deref(), Some("running"));
}

#[test]
fn default_profile_state_lives_in_hermes_home_itself() {
    let s6 = ScanDir::with(&[Gateway::new("default")]);
    assert_eq!(s6.ctl(&["stop", "default"]).code, 0);
    let text = fs::read_to_string(s6.home().join("gateway_state.json")).expect("written");
    assert!(text.contains("stopped"), "{text}");
    assert!(!s6.home().join("profiles/default").exists());
}

#[test]
fn state_update_keeps_the_other_keys() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    s6::write_file(
        &s6.state_file("coder"),
        r#"{"pid":4242,"desired_state":"running","platforms":{"telegram":"ok"},"updated_at":5}"#,
    );
    assert_eq!(s6.ctl(&["stop", "coder"]).code, 0);
    let state = s6.state("coder").expect("state file");
    assert_eq!(state["desired_state"], "stopped", "{state}");
    assert_eq!(state["pid"], 4242, "{state}");
    assert_eq!(state["platforms"]["telegram"], "ok", "{state}");
    assert!(
        state["updated_at"].as_u64().is_some_and(|t| t > 5),
        "{state}"
    );
}

#[test]
fn state_file_is_replaced_by_a_new_file_never_rewritten_in_place() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let file = s6.state_file("coder");
    let old = r#"{"desired_state":"running","updated_at":1}"#;
    s6::write_file(&file, old);
    // A second name for the old inode: an in-place write would change it too.
    let link = s6.root().join("old-state-link");
    fs::hard_link(&file, &link).expect("hard link");
    let old_inode = fs::metadata(&file).expect("stat").ino();
    assert_eq!(s6.ctl(&["stop", "coder"]).code, 0);
    assert_eq!(fs::read_to_string(&link).expect("link"), old);
    assert_ne!(fs::metadata(&file).expect("stat").ino(), old_inode);
    assert_eq!(s6.desired_state("coder").as_deref(), Some("stopped"));
    assert_only_the_state_file_in(&s6, "coder");
}

/// Asserts that `profile`'s home holds its state file and nothing else (no
/// temporary file left behind).
fn assert_only_the_state_file_in(s6: &ScanDir, profile: &str) {
    let names: Vec<String> = fs::read_dir(s6.profile_home(profile))
        .expect("profile home")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["gateway_state.json"],
        "a temporary file was left behind"
    );
}

/// Runs `stop coder` on a state file holding `content`, which is no JSON
/// object (so there is no safe place for the desired state, and it may be
/// another writer's half-done work): the stop succeeds with one warning
/// line, and the file is left byte for byte.
fn stop_leaves_state_file_alone_with_a_warning(content: &str) {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let file = s6.state_file("coder");
    s6::write_file(&file, content);
    let out = s6.ctl(&["stop", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "✓ Stopped gateway-coder under s6\n", "{out:?}");
    let warning = format!(
        "⚠ could not record the desired state in {}: not a JSON object; left it as it was",
        file.display()
    );
    assert_eq!(out.stderr_lines(), [warning.as_str()], "{out:?}");
    s6.wait_svstat("coder", "down", |s| !s.up && !s.want_up);
    assert_eq!(fs::read_to_string(&file).expect("still there"), content);
    assert_only_the_state_file_in(&s6, "coder");
}

#[test]
fn unparsable_state_file_is_left_alone_with_a_warning() {
    stop_leaves_state_file_alone_with_a_warning("{not json");
}

#[test]
fn state_file_that_is_not_an_object_is_left_alone_with_a_warning() {
    stop_leaves_state_file_alone_with_a_warning("[\"desired_state\", 1]\n");
}

#[test]
fn unreadable_state_file_in_a_writable_home_warns_and_is_left_byte_for_byte() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    // The unprivileged caller may write the home (0777), so it could rename
    // a new file over the old one, but cannot read the old one: root's, 0600.
    s6.open_control_to_all_users(&[]);
    let file = s6.state_file("coder");
    let old = "{\"desired_state\":\"running\",\"platforms\":{\"telegram\":\"ok\"}}\n";
    s6::write_file(&file, old);
    s6::chmod(&file, 0o600);
    let out = run(
        &mut s6::as_nobody(s6.gatewayctl().args(["stop", "coder"])),
        Duration::from_secs(30),
    );
    assert_eq!(
        out.code, 0,
        "a state file left alone is no failed stop: {out:?}"
    );
    assert_eq!(out.stdout, "✓ Stopped gateway-coder under s6\n", "{out:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    let warning = format!(
        "⚠ could not record the desired state in {}: cannot read it",
        file.display()
    );
    assert!(lines[0].starts_with(&warning), "{out:?}");
    assert!(lines[0].contains("ermission denied"), "{out:?}");
    s6.wait_svstat("coder", "down", |s| !s.up && !s.want_up);
    assert_eq!(fs::read(&file).expect("still there"), old.as_bytes());
    let meta = fs::metadata(&file).expect("stat");
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
    assert_only_the_state_file_in(&s6, "coder");
}

#[test]
fn missing_profile_home_skips_the_write_silently() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    fs::remove_dir(s6.profile_home("coder")).expect("remove the profile home");
    let out = s6.ctl(&["stop", "coder"]);
    assert_ok(&out, "✓ Stopped gateway-coder under s6");
    assert!(!s6.profile_home("coder").exists());
    s6.wait_svstat("coder", "down", |s| !s.up);
}

#[test]
fn unwritable_profile_home_warns_and_the_stop_still_succeeds() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    s6.open_control_to_all_users(&[]);
    // Owned by root, mode 0755: the unprivileged caller cannot write there.
    s6::chmod(&s6.profile_home("coder"), 0o755);
    let out = run(
        &mut s6::as_nobody(s6.gatewayctl().args(["stop", "coder"])),
        Duration::from_secs(30),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "✓ Stopped gateway-coder under s6\n", "{out:?}");
    let warning = format!(
        "⚠ could not record the desired state in {}",
        s6.state_file("coder").display()
    );
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(lines[0].starts_with(&warning), "{out:?}");
    assert!(lines[0].contains("ermission denied"), "{out:?}");
    s6.wait_svstat("coder", "down", |s| !s.up && !s.want_up);
    assert!(!s6.state_file("coder").exists());
}

// --- which profile --------------------------------------------------------

/// A fixture with `default`, `coder` and `writer` up; returns it after the
/// action, checking that exactly `acted` went down.
fn stop_and_check(setup: impl FnOnce(&ScanDir) -> Output, acted: &str) -> ScanDir {
    let s6 = ScanDir::with(&[
        Gateway::new("default"),
        Gateway::new("coder"),
        Gateway::new("writer"),
    ]);
    let out = setup(&s6);
    assert_ok(&out, &format!("✓ Stopped gateway-{acted} under s6"));
    s6.wait_svstat(acted, "down", |s| !s.up && !s.want_up);
    assert_eq!(s6.desired_state(acted).as_deref(), Some("stopped"));
    for other in ["default", "coder", "writer"] {
        if other != acted {
            let st = s6.svstat(other);
            assert!(st.up && st.want_up, "{other} was touched: {st:?}");
            assert_eq!(s6.desired_state(other), None, "{other}'s state was written");
        }
    }
    s6
}

#[test]
fn profile_from_the_argument() {
    stop_and_check(|s6| s6.ctl(&["stop", "writer"]), "writer");
}

#[test]
fn profile_from_dash_p() {
    stop_and_check(|s6| s6.ctl(&["-p", "coder", "stop"]), "coder");
}

#[test]
fn profile_from_long_profile_option() {
    stop_and_check(|s6| s6.ctl(&["--profile", "writer", "stop"]), "writer");
}

#[test]
fn argument_wins_over_dash_p() {
    stop_and_check(|s6| s6.ctl(&["-p", "coder", "stop", "writer"]), "writer");
}

#[test]
fn profile_from_hermes_home_of_a_profile() {
    stop_and_check(
        |s6| {
            let mut cmd = s6.gatewayctl();
            cmd.env("HERMES_HOME", s6.profile_home("writer"))
                .arg("stop");
            run(&mut cmd, Duration::from_secs(30))
        },
        "writer",
    );
}

#[test]
fn dash_p_wins_over_hermes_home() {
    stop_and_check(
        |s6| {
            let mut cmd = s6.gatewayctl();
            cmd.env("HERMES_HOME", s6.profile_home("writer"))
                .args(["-p", "coder", "stop"]);
            run(&mut cmd, Duration::from_secs(30))
        },
        "coder",
    );
}

#[test]
fn profile_default_when_nothing_names_one() {
    stop_and_check(|s6| s6.ctl(&["stop"]), "default");
}

#[test]
fn linked_gateway_is_acted_on_like_any_other() {
    let s6 = ScanDir::with(&[Gateway::new("linked").linked()]);
    let out = s6.ctl(&["restart", "linked"]);
    assert_ok(&out, "✓ Restarted gateway-linked under s6");
    assert_eq!(s6.desired_state("linked").as_deref(), Some("running"));
}

#[test]
fn default_profile_from_a_profile_hermes_home_records_in_the_root() {
    let s6 = ScanDir::with(&[Gateway::new("default"), Gateway::new("writer")]);
    let mut cmd = s6.gatewayctl();
    cmd.env("HERMES_HOME", s6.profile_home("writer"))
        .args(["stop", "default"]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_ok(&out, "✓ Stopped gateway-default under s6");
    assert_eq!(s6.desired_state("default").as_deref(), Some("stopped"));
    assert_eq!(s6.desired_state("writer"), None);
    assert!(s6.svstat("writer").up);
}
