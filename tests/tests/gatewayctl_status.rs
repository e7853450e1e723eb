//! `gatewayctl list` and `gatewayctl status` against real s6: which scan
//! directory entries are gateways, and how up, down (exit code or signal),
//! wanted state and unsupervised gateways are shown, as text and as JSON.

use std::fs;
use std::os::unix::fs::symlink;

use hermes_e2e::proc;
use hermes_e2e::s6::{self, Gateway, ScanDir};
use serde_json::{Value, json};

/// Splits `"<profile>  up (pid N) Ss<rest>"` into (N, S, rest).
fn parse_up<'a>(line: &'a str, profile: &str) -> (i32, u64, &'a str) {
    let rest = line
        .strip_prefix(&format!("{profile}  up (pid "))
        .unwrap_or_else(|| panic!("not an up line for {profile}: {line:?}"));
    let (pid, rest) = rest.split_once(") ").expect("pid closed");
    let (secs, rest) = rest.split_once('s').expect("seconds");
    (
        pid.parse().expect("pid number"),
        secs.parse().expect("seconds number"),
        rest,
    )
}

/// Splits `"<profile>  down (<what>) Ss<rest>"` into (what, S, rest).
fn parse_down<'a>(line: &'a str, profile: &str) -> (&'a str, u64, &'a str) {
    let rest = line
        .strip_prefix(&format!("{profile}  down ("))
        .unwrap_or_else(|| panic!("not a down line for {profile}: {line:?}"));
    let (what, rest) = rest.split_once(") ").expect("reason closed");
    let (secs, rest) = rest.split_once('s').expect("seconds");
    (what, secs.parse().expect("seconds number"), rest)
}

// --- list -------------------------------------------------------------------

/// A scan directory with gateways `c`, `a`, `b` and every kind of entry that
/// is not a gateway, plus `linked`: a symlink to a service directory elsewhere
/// (as s6-rc makes them).
fn crowded() -> ScanDir {
    let s6 = ScanDir::with(&[
        Gateway::new("c").down(),
        Gateway::new("a").down(),
        Gateway::new("b").down(),
    ]);
    let dir = s6.scandir();
    for name in [
        ".gateway-hidden",
        "gateway-UPPER",
        "gateway-",
        "gateway-_under",
        "gateway-has space",
        "other",
        "gatewayx-y",
    ] {
        fs::create_dir(dir.join(name)).expect("mkdir");
    }
    s6::write_file(&dir.join("gateway-plainfile"), "not a directory");
    let elsewhere = s6.root().join("elsewhere/gateway-linked");
    fs::create_dir_all(&elsewhere).expect("mkdir elsewhere");
    symlink(&elsewhere, dir.join("gateway-linked")).expect("symlink to a dir");
    symlink(s6.root().join("nowhere"), dir.join("gateway-dangling")).expect("dangling");
    symlink(dir.join("gateway-plainfile"), dir.join("gateway-tofile")).expect("to file");
    s6
}

#[test]
fn list_prints_the_valid_gateways_sorted_and_nothing_else() {
    let s6 = crowded();
    let out = s6.ctl(&["list"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "a\nb\nc\nlinked\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

#[test]
fn list_json_is_an_array_of_the_names() {
    let s6 = crowded();
    let out = s6.ctl(&["list", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(value, json!(["a", "b", "c", "linked"]));
}

#[test]
fn list_with_no_gateways_prints_nothing() {
    let s6 = ScanDir::start();
    let out = s6.ctl(&["list"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    let out = s6.ctl(&["list", "--json"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "[]\n", ""),
        "{out:?}"
    );
}

// --- status, text ---------------------------------------------------------------

#[test]
fn status_of_an_up_gateway_shows_its_pid_and_uptime() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let st = s6.svstat("coder");
    let out = s6.ctl(&["status", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout_lines().len(), 1, "{out:?}");
    let (pid, secs, rest) = parse_up(out.stdout_lines()[0], "coder");
    assert_eq!(Some(pid), st.pid);
    assert!(secs < 60, "{out:?}");
    assert_eq!(rest, "", "{out:?}");
}

#[test]
fn status_of_a_gateway_stopped_by_sigterm_shows_the_signal() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    assert_eq!(s6.ctl(&["stop", "coder"]).code, 0);
    s6.wait_svstat("coder", "down", |s| !s.up);
    let out = s6.ctl(&["status", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (what, _, rest) = parse_down(out.stdout.trim_end(), "coder");
    assert_eq!((what, rest), ("signal SIGTERM", ""), "{out:?}");
}

#[test]
fn status_of_a_gateway_that_exited_shows_the_exit_code() {
    let s6 = ScanDir::with(&[Gateway::new("broken").exit_code(3).down()]);
    let out = hermes_e2e::run::run(
        std::process::Command::new("s6-svc")
            .arg("-o")
            .arg(s6.service_dir("broken")),
        std::time::Duration::from_secs(10),
    );
    assert_eq!(out.code, 0, "{out:?}");
    s6.wait_svstat("broken", "exited 3", |s| !s.up && s.exit_code == Some(3));
    let out = s6.ctl(&["status", "broken"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (what, _, rest) = parse_down(out.stdout.trim_end(), "broken");
    assert_eq!((what, rest), ("exit 3", ""), "{out:?}");
}

#[test]
fn status_shows_want_down_for_an_up_gateway_asked_to_stop() {
    let s6 = ScanDir::with(&[Gateway::new("stubborn").ignore_term()]);
    assert_eq!(s6.ctl(&["stop", "stubborn"]).code, 0);
    s6.wait_svstat("stubborn", "wanted down", |s| !s.want_up);
    let out = s6.ctl(&["status", "stubborn"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (_, _, rest) = parse_up(out.stdout.trim_end(), "stubborn");
    assert_eq!(rest, ", want down", "{out:?}");
    let out = s6.ctl(&["status", "--json", "stubborn"]);
    assert_eq!(out.code, 0, "{out:?}");
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        (&value[0]["up"], &value[0]["want_up"]),
        (&Value::Bool(true), &Value::Bool(false)),
        "{value}"
    );
}

#[test]
fn status_shows_want_up_for_a_gateway_that_died_by_itself() {
    // Killed behind s6's back; its finish script keeps it down for 4 s.
    let s6 = ScanDir::with(&[Gateway::new("crashy").finish_marker(4000)]);
    let pid = s6.gateway_pid("crashy").expect("armed");
    proc::send_signal(pid, libc::SIGTERM);
    s6.wait_svstat("crashy", "down, wanted up", |s| !s.up && s.want_up);
    let out = s6.ctl(&["status", "crashy"]);
    assert_eq!(out.code, 0, "{out:?}");
    let (what, _, rest) = parse_down(out.stdout.trim_end(), "crashy");
    assert_eq!((what, rest), ("signal SIGTERM", ", want up"), "{out:?}");
}

#[test]
fn status_of_a_service_no_supervisor_runs_says_unsupervised() {
    let s6 = ScanDir::start();
    s6.install(&[Gateway::new("ghost")]);
    let out = s6.ctl(&["status", "ghost"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "ghost  unsupervised\n", "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

#[test]
fn status_without_a_profile_shows_the_default_one() {
    let s6 = ScanDir::with(&[Gateway::new("default"), Gateway::new("coder").down()]);
    let out = s6.ctl(&["status"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout_lines().len(), 1, "{out:?}");
    parse_up(out.stdout_lines()[0], "default");
}

#[test]
fn status_all_shows_one_line_per_gateway_sorted() {
    let s6 = ScanDir::with(&[Gateway::new("zed").down(), Gateway::new("alpha")]);
    s6.install(&[Gateway::new("mid")]);
    let out = s6.ctl(&["status", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 3, "{out:?}");
    parse_up(lines[0], "alpha");
    assert_eq!(lines[1], "mid  unsupervised", "{out:?}");
    // Never started: s6-svstat reports exit code 0 (2.11) or none (-1,
    // 2.15) and no signal for it, so the line is `down (exit 0) Ns` or
    // `down Ns`, as each s6 says it (README), and not wanted up.
    let st = s6.svstat("zed");
    let exit = s6::never_ran_exit_code();
    assert_eq!((st.up, st.exit_code, st.signal), (false, exit, None));
    let expected = |secs| match exit {
        Some(code) => format!("zed  down (exit {code}) {secs}s"),
        None => format!("zed  down {secs}s"),
    };
    let secs: u64 = lines[2]
        .rsplit(' ')
        .next()
        .and_then(|w| w.strip_suffix('s'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(secs < 60, "{out:?}");
    assert_eq!(lines[2], expected(secs), "{out:?}");
}

#[test]
fn status_all_with_no_gateways_says_so() {
    let s6 = ScanDir::start();
    let out = s6.ctl(&["status", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "No profile gateways registered under s6\n");
    assert_eq!(out.stderr, "", "{out:?}");
    // As JSON: an empty array, and nothing else.
    let out = s6.ctl(&["status", "--all", "--json"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "[]\n", ""),
        "{out:?}"
    );
}

#[test]
fn status_of_an_unknown_profile_fails() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let out = s6.ctl(&["status", "typo"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(
        out.stderr.starts_with("✗ no such gateway 'typo'"),
        "{out:?}"
    );
}

// --- status, JSON ---------------------------------------------------------------

#[test]
fn status_json_describes_up_down_and_unsupervised_gateways() {
    let s6 = ScanDir::with(&[
        Gateway::new("alpha"),
        Gateway::new("beta").notification_fd(3, 0),
        Gateway::new("gamma"),
        // Up, but not ready before the test is over.
        Gateway::new("delta").notification_fd(3, 60_000),
    ]);
    s6.wait_svstat("beta", "ready", |s| s.ready);
    s6.wait_svstat("delta", "up", |s| s.up);
    assert_eq!(s6.ctl(&["stop", "gamma"]).code, 0);
    s6.wait_svstat("gamma", "down", |s| !s.up);
    s6.install(&[Gateway::new("ghost")]);
    let alpha_pid = s6.svstat("alpha").pid.expect("pid");
    let out = s6.ctl(&["status", "--all", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let items = value.as_array().expect("an array");
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["profile"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["alpha", "beta", "delta", "gamma", "ghost"],
        "{value}"
    );

    let alpha = &items[0];
    assert_eq!(alpha["service"], "gateway-alpha");
    assert_eq!(alpha["supervised"], true);
    assert_eq!(alpha["up"], true);
    assert_eq!(alpha["want_up"], true);
    assert_eq!(alpha["normally_up"], true);
    assert_eq!(alpha["pid"], alpha_pid);
    assert_eq!(alpha["exit_code"], Value::Null);
    assert_eq!(alpha["signal"], Value::Null);
    assert!(alpha["seconds"].as_u64().is_some(), "{alpha}");

    assert_eq!(items[1]["ready"], true, "{}", items[1]);
    let delta = &items[2];
    assert_eq!(
        (&delta["up"], &delta["ready"]),
        (&Value::Bool(true), &Value::Bool(false)),
        "{delta}"
    );

    let gamma = &items[3];
    assert_eq!(gamma["supervised"], true);
    assert_eq!(gamma["up"], false);
    assert_eq!(gamma["want_up"], false);
    // No `down` file: s6 would start it at boot, whatever it wants now.
    assert_eq!(gamma["normally_up"], true);
    assert_eq!(gamma["pid"], Value::Null);
    assert_eq!(gamma["signal"], "SIGTERM");
    assert_eq!(gamma["exit_code"], Value::Null);

    let ghost = &items[4];
    assert_eq!(ghost["service"], "gateway-ghost");
    assert_eq!(ghost["supervised"], false);
    for key in [
        "up",
        "want_up",
        "normally_up",
        "ready",
        "pid",
        "exit_code",
        "signal",
        "seconds",
    ] {
        assert_eq!(ghost[key], Value::Null, "{key} in {ghost}");
    }
}

#[test]
fn status_json_of_one_profile_is_an_array_of_one() {
    let s6 = ScanDir::with(&[Gateway::new("coder"), Gateway::new("other")]);
    let out = s6.ctl(&["status", "--json", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let items = value.as_array().expect("an array");
    assert_eq!(items.len(), 1, "{value}");
    assert_eq!(items[0]["profile"], "coder");
    assert_eq!(items[0]["up"], true);
}

#[test]
fn status_json_normally_up_follows_the_down_file_not_what_s6_wants() {
    let s6 = ScanDir::with(&[Gateway::new("coder").down()]);
    assert_eq!(s6.ctl(&["start", "--wait", "coder"]).code, 0);
    let out = s6.ctl(&["status", "--json", "coder"]);
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(value[0]["up"], true, "{value}");
    assert_eq!(value[0]["want_up"], true, "{value}");
    assert_eq!(value[0]["normally_up"], false, "{value}");
}

#[test]
fn status_json_shows_an_exit_code() {
    let s6 = ScanDir::with(&[Gateway::new("coder").term_delay_ms(0)]);
    assert_eq!(s6.ctl(&["stop", "--wait", "coder"]).code, 0);
    let out = s6.ctl(&["status", "--json", "coder"]);
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(value[0]["exit_code"], 0, "{value}");
    assert_eq!(value[0]["signal"], Value::Null, "{value}");
}
