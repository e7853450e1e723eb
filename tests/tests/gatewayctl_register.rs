//! `register`, `unregister` and `check` against a live s6-svscan: a slot is
//! supervised at once, down unless `--start`; the gateway's user (uid 10000)
//! controls a slot root registered; unregister leaves no gateway, no
//! supervisor and no directory, and nothing else changed; check tells
//! healthy from crash-looping and not-yet-ready gateways; bad input is one
//! line, its exit code, and nothing half-made.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hermes_e2e::proc;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

const LIMIT: Duration = Duration::from_secs(60);

/// A service-directory template whose run script runs the dummy gateway
/// as `gw` describes it.
fn template(s6: &ScanDir, gw: &Gateway) -> PathBuf {
    let dir = s6.root().join(format!("template-{}", gw.profile));
    let exec = format!(
        "{} {}",
        s6::shell_quote(&s6::dummy_gateway().to_string_lossy()),
        gw.dummy_args().join(" ")
    );
    gw.write_service(&dir, &[], exec.trim_end(), &s6.finish_marker(&gw.profile));
    dir
}

fn assert_ok(out: &Output, line: &str) {
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, format!("{line}\n").as_str(), ""),
        "{out:?}"
    );
}

/// The scan directory's entries, dot-names included.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Pids of the processes whose command line is exactly `words`.
fn running(words: &[&str]) -> Vec<i32> {
    let wanted: Vec<u8> = words.iter().flat_map(|w| w.bytes().chain([0])).collect();
    s6::all_pids()
        .into_iter()
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

#[test]
fn a_registered_slot_is_supervised_at_once_and_down_unless_started() {
    let s6 = ScanDir::start();
    assert_ok(
        &s6.ctl(&["register", "coder"]),
        "✓ Registered gateway-coder under s6",
    );
    proc::wait_until(LIMIT, "gateway-coder supervised", || {
        s6.is_supervised("coder")
    });
    let st = s6.svstat("coder");
    assert!(!st.up && !st.want_up && !st.normally_up, "{st:?}");
    assert!(s6.service_dir("coder").join("down").is_file());
    assert!(
        fs::read_to_string(s6.service_dir("coder").join("run"))
            .is_ok_and(|r| r.contains("hermes -p coder gateway run --replace")),
        "not the Hermes run script"
    );

    let writer = Gateway::new("writer");
    let tpl = template(&s6, &writer);
    let out = s6.ctl(&[
        "register",
        "writer",
        "--start",
        "--template",
        tpl.to_str().expect("UTF-8"),
    ]);
    assert_ok(&out, "✓ Registered and started gateway-writer under s6");
    s6.wait_armed(&["writer"]);
    assert!(!s6.service_dir("writer").join("down").exists());
    assert_eq!(
        names(s6.scandir()),
        [".s6-svscan", "gateway-coder", "gateway-writer"],
        "a staging directory left behind"
    );
}

#[test]
fn the_gateways_user_controls_a_slot_root_registered() {
    let s6 = ScanDir::start();
    for dir in [s6.root(), s6.scandir()] {
        s6::chmod(dir, 0o755);
    }
    let gw = Gateway::new("coder");
    let tpl = template(&s6, &gw);
    let out = s6.ctl(&[
        "register",
        "coder",
        "--template",
        tpl.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    proc::wait_until(LIMIT, "gateway-coder supervised", || {
        s6.is_supervised("coder")
    });
    // Its own HERMES_HOME, so the desired state can be recorded too.
    let home = s6.root().join("hermes-home");
    let profile_home = home.join("profiles/coder");
    fs::create_dir_all(&profile_home).expect("mkdir");
    std::os::unix::fs::chown(&profile_home, Some(10000), Some(10000)).expect("chown");
    let as_hermes = |args: &[&str]| {
        let mut cmd = s6.gatewayctl();
        cmd.env("HERMES_HOME", &home).args(args);
        let mut wrapped = s6::wrapped(
            &[
                "setpriv",
                "--reuid=10000",
                "--regid=10000",
                "--clear-groups",
                "--",
            ],
            &cmd,
        );
        run(&mut wrapped, LIMIT)
    };
    assert_ok(
        &as_hermes(&["start", "coder", "--wait"]),
        "✓ Started gateway-coder under s6",
    );
    assert!(s6.svstat("coder").up);
    let status = as_hermes(&["status", "coder"]);
    assert!(
        status.code == 0 && status.stdout.starts_with("coder  up (pid "),
        "{status:?}"
    );
    assert_ok(
        &as_hermes(&["stop", "coder", "--wait"]),
        "✓ Stopped gateway-coder under s6",
    );
    let st = s6.svstat("coder");
    assert!(!st.up && !st.want_up, "{st:?}");
    assert_eq!(
        fs::read_to_string(profile_home.join("gateway_state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| v["desired_state"].clone()),
        Some(serde_json::json!("stopped"))
    );
}

#[test]
fn unregister_leaves_no_gateway_no_supervisor_no_directory_and_the_rest_as_it_was() {
    let s6 = ScanDir::with(&[Gateway::new("other")]);
    let gw = Gateway::new("coder").term_delay_ms(300);
    let tpl = template(&s6, &gw);
    let out = s6.ctl(&[
        "register",
        "coder",
        "--start",
        "--template",
        tpl.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    s6.wait_armed(&["coder"]);
    let gateway = s6.gateway_pid("coder").expect("a gateway");
    let home = s6.profile_home("coder");
    fs::create_dir_all(&home).expect("mkdir");
    s6::write_file(&home.join("SOUL.md"), "soul");
    let other = s6.gateway_pid("other");

    assert_ok(
        &s6.ctl(&["unregister", "coder"]),
        "✓ Unregistered gateway-coder",
    );
    assert!(!s6.service_dir("coder").exists(), "directory left");
    assert_eq!(proc::state(gateway), None, "the gateway runs on");
    assert!(
        running(&["s6-supervise", "gateway-coder"]).is_empty(),
        "a supervisor runs on"
    );
    assert_eq!(names(s6.scandir()), [".s6-svscan", "gateway-other"]);
    assert!(home.join("SOUL.md").is_file(), "the profile was touched");
    assert_eq!(
        s6.gateway_pid("other"),
        other,
        "another gateway was touched"
    );
    assert!(s6.svstat("other").up);

    assert_ok(
        &s6.ctl(&["unregister", "coder"]),
        "gateway-coder is not registered; nothing to do",
    );
}

#[test]
fn unregister_of_a_gateway_that_does_not_stop_in_time_fails_and_keeps_the_slot() {
    let s6 = ScanDir::with(&[Gateway::new("stubborn").ignore_term()]);
    let out = s6.ctl(&["unregister", "stubborn", "-T", "1"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (1, "✗ gateway-stubborn did not stop within 1s (--timeout)\n"),
        "{out:?}"
    );
    assert!(s6.service_dir("stubborn").is_dir());
    assert!(s6.is_supervised("stubborn"));
}

#[test]
fn check_tells_healthy_from_crash_looping_and_not_yet_ready_gateways() {
    let s6 = ScanDir::with(&[
        Gateway::new("healthy"),
        Gateway::new("resting").down(),
        Gateway::new("looping").exit_code(1),
        Gateway::new("sleepy").notification_fd(3, 60_000),
        Gateway::new("ready").notification_fd(3, 0),
    ]);
    s6.wait_svstat("ready", "ready", |st| st.ready);
    s6.wait_armed(&["sleepy"]);
    s6.wait_svstat("looping", "down", |st| !st.up);
    for p in ["healthy", "resting", "ready"] {
        assert_ok(
            &s6.ctl(&["check", p]),
            "✓ 1 profile gateway(s) healthy under s6",
        );
    }
    let out = s6.ctl(&["check", "looping"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .starts_with("gateway-looping: wanted up, down (exit 1) "),
        "{out:?}"
    );
    let out = s6.ctl(&["check", "sleepy"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .starts_with("gateway-sleepy: wanted up, up (pid ")
            && out.stdout.ends_with(", not ready\n"),
        "{out:?}"
    );
    let out = s6.ctl(&["check", "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let healthy: Vec<(String, bool)> = json
        .as_array()
        .expect("an array")
        .iter()
        .map(|g| {
            (
                g["profile"].as_str().unwrap_or("").to_owned(),
                g["healthy"] == true,
            )
        })
        .collect();
    assert_eq!(
        healthy,
        [
            ("healthy".to_owned(), true),
            ("looping".to_owned(), false),
            ("ready".to_owned(), true),
            ("resting".to_owned(), true),
            ("sleepy".to_owned(), false),
        ]
    );
    // Nothing changed.
    assert!(!s6.svstat("resting").want_up);
    assert!(!s6.state_file("healthy").exists());
}

#[test]
fn bad_input_is_one_line_its_exit_code_and_nothing_half_made() {
    let s6 = ScanDir::start();
    let not_a_template = s6.root().join("empty");
    fs::create_dir_all(&not_a_template).expect("mkdir");
    let empty = not_a_template.to_str().expect("UTF-8");
    for (args, code, start) in [
        (&["register", "Bad"][..], 2, "✗ invalid profile name 'Bad'"),
        (&["register"], 2, "✗ register needs a PROFILE"),
        (
            &["register", "coder", "--owner", "hermes"],
            2,
            "✗ bad --owner 'hermes'",
        ),
        (
            &["register", "coder", "--owner", "1:"],
            2,
            "✗ bad --owner '1:'",
        ),
        (&["register", "coder", "--template", empty], 2, "✗ "),
        (
            &["register", "coder", "--template", "/nonexistent"],
            2,
            "✗ /nonexistent is not",
        ),
        (&["unregister", "../x"], 2, "✗ invalid profile name"),
        (&["check", "typo"], 1, "✗ no such gateway 'typo'"),
    ] {
        let out = s6.ctl(args);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (code, ""),
            "{args:?}: {out:?}"
        );
        assert_eq!(out.stderr_lines().len(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with(start), "{args:?}: {out:?}");
    }
    assert_eq!(names(s6.scandir()), [".s6-svscan"], "something was made");

    // A scan directory the caller cannot write to.
    s6::chmod(s6.root(), 0o755);
    let out = run(
        &mut s6::as_nobody(s6.gatewayctl().args(["register", "coder"])),
        LIMIT,
    );
    assert_eq!((out.code, out.stderr_lines().len()), (1, 1), "{out:?}");
    assert!(out.stderr.contains("Permission denied"), "{out:?}");
    assert_eq!(names(s6.scandir()), [".s6-svscan"]);

    // An existing slot is left as it was.
    assert_eq!(s6.ctl(&["register", "coder"]).code, 0);
    let run_before = fs::read(s6.service_dir("coder").join("run")).expect("run");
    let out = s6.ctl(&["register", "coder", "--start"]);
    assert_eq!(
        (out.code, out.stderr.clone()),
        (
            1,
            format!(
                "✗ profile gateway 'coder' already registered at {}\n",
                s6.service_dir("coder").display()
            )
        ),
        "{out:?}"
    );
    assert_eq!(
        fs::read(s6.service_dir("coder").join("run")).ok(),
        Some(run_before)
    );
    assert!(s6.service_dir("coder").join("down").exists());
}

#[test]
fn register_where_no_s6_svscan_answers_takes_the_slot_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scandir = dir.path().join("service");
    fs::create_dir_all(scandir.join(".s6-svscan")).expect("mkdir");
    let mut cmd = s6::gatewayctl_clean();
    cmd.arg("--scandir")
        .arg(&scandir)
        .args(["register", "coder"]);
    let out = run(&mut cmd, LIMIT);
    assert_eq!((out.code, out.stderr_lines().len()), (1, 1), "{out:?}");
    assert!(
        out.stderr.starts_with("✗ s6-svscanctl rescan on "),
        "{out:?}"
    );
    assert_eq!(names(&scandir), [".s6-svscan"], "the slot was left");
}
