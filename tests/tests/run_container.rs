//! `gatewayctl run` in a simulated s6-overlay container (s6-svscan as PID 1
//! on a private /run): the CMD hands the gateway to s6 and becomes the
//! heartbeat even with an empty PATH, the in-process hold when no heartbeat
//! can be exec'd, the opt-outs, the recursion guard, the refusal while the
//! supervised gateway is up, and the foreground COMMAND's exit codes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::container::{
    BUILT_IN_HEARTBEAT, Basedir, BuiltIn, CmdProcess, Container, Launch, Setup,
};
use hermes_e2e::proc;
use hermes_e2e::program;
use hermes_e2e::run::{self, Output};
use hermes_e2e::s6::{CLEAN_PATH, Gateway, ScanDir};

/// Generous bound for anything the CMD process should do at once.
const LIMIT: Duration = Duration::from_secs(20);
/// `/proc/PID/comm` of the heartbeat (comm is cut to 15 bytes).
const HEARTBEAT_COMM: &str = "hermes-heartbea";

const REFUSED: &str = "✗ A gateway is already running under s6 (container supervisor) for this profile. \
                       Stop it first with `gatewayctl stop`, or run without the opt-out to use it.";
const HOLD_NOTICE: &str = "`hermes-heartbeat` is unavailable; keeping the s6 CMD process alive in-process until the container is stopped.";

fn breadcrumb(profile: &str) -> String {
    format!(
        "✓ gateway-{profile} is running under s6 supervision; this CMD process now only keeps the container alive. \
         To run the gateway in the foreground instead, pass --no-supervise or set HERMES_GATEWAY_NO_SUPERVISE=1."
    )
}

fn no_such_gateway(profile: &str) -> String {
    format!(
        "✗ no such gateway '{profile}': register it with `hermes profile create {profile}` first, \
         or pass an existing profile name via `-p <name>`"
    )
}

/// A container whose `gateway-<p>` services are supervised but down (a
/// `down` file), so only a start dispatched by `run` brings one up.
fn container_down(profiles: &[&str]) -> Container {
    let gateways: Vec<Gateway> = profiles.iter().map(|p| Gateway::new(p).down()).collect();
    Container::start(&gateways)
}

/// A marker file (host path, also valid inside: only /run is private) and a
/// COMMAND that creates it, prints `foreground ppid=$PPID` and exits `code`.
/// `$PPID` is 0 when the shell was exec'd by the process nsenter started
/// (its parent is outside the namespace), not spawned by gatewayctl.
fn marker_command(ct: &Container, code: i32) -> (PathBuf, Vec<String>) {
    let n = fs::read_dir(ct.root().join("marks")).map_or(0, |d| d.count());
    let marker = ct.root().join(format!("marks/command{n}.ran"));
    let script = format!(
        ": > '{}'; echo \"foreground ppid=$PPID\"; exit {code}",
        marker.display()
    );
    (marker, vec!["/bin/sh".into(), "-c".into(), script])
}

/// `run [extra...] -- COMMAND...` as gatewayctl arguments.
fn run_args<'a>(extra: &[&'a str], command: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend(command.iter().map(String::as_str));
    args
}

/// Asserts that COMMAND ran in the foreground (exec'd, its code passed on)
/// and that gatewayctl printed nothing, breadcrumb included.
fn assert_ran_in_foreground(out: &Output, marker: &Path, code: i32) {
    assert_eq!(out.code, code, "{out:?}");
    assert!(marker.exists(), "COMMAND did not run: {out:?}");
    assert_eq!(out.stdout_lines(), ["foreground ppid=0"], "{out:?}");
    assert_eq!(out.stderr, "", "no breadcrumb or other line expected");
}

/// Asserts that `gateway-<profile>` is still down and wanted down, and that
/// no desired state was recorded (a start would have written `running`).
fn assert_left_down(ct: &Container, profile: &str) {
    let st = ct.svstat(profile);
    assert!(
        !st.up && !st.want_up,
        "gateway-{profile} was started: {st:?}"
    );
    let state = profile_home(ct, profile).join("gateway_state.json");
    assert!(!state.exists(), "{} written", state.display());
}

/// The container's HERMES_HOME, for the environment of a run inside: where
/// [`assert_left_down`] looks for a state file.
fn home_env(ct: &Container) -> String {
    ct.home().to_str().expect("UTF-8 home").to_owned()
}

fn profile_home(ct: &Container, profile: &str) -> PathBuf {
    if profile == "default" {
        ct.home().to_path_buf()
    } else {
        ct.home().join("profiles").join(profile)
    }
}

/// Waits until the CMD process has exec'd the heartbeat and sleeps with
/// SIGTERM in hand; panics with its output if it exits or ends up elsewhere.
fn wait_for_heartbeat(cmd: &CmdProcess) -> PathBuf {
    let mut exe = None;
    proc::wait_until(LIMIT, "the CMD process to become the heartbeat", || {
        assert!(
            cmd.is_running(),
            "the CMD process exited\n--- stdout ---\n{}--- stderr ---\n{}",
            cmd.stdout(),
            cmd.stderr()
        );
        exe = cmd.exe();
        exe.as_deref().and_then(Path::file_name) == Some("hermes-heartbeat".as_ref())
            && proc::has_signal_in_hand(cmd.pid(), libc::SIGTERM)
    });
    exe.expect("an exe")
}

/// Sends `signo` to the CMD process and returns its exit code.
fn stop_cmd(cmd: &mut CmdProcess, signo: i32) -> i32 {
    cmd.signal(signo);
    cmd.exit_code(LIMIT)
}

/// The scenario of the first two tests: the CMD `gatewayctl run` started with
/// exactly `env` hands gateway-default to s6 and becomes the heartbeat.
fn hands_over_and_becomes_the_heartbeat(env_of: impl Fn(&Container) -> Vec<(String, String)>) {
    let ct = container_down(&["default"]);
    let env_owned = env_of(&ct);
    let env: Vec<(&str, &str)> = env_owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut cmd = ct.spawn_cmd(&env, bins::gatewayctl(), &["run"]);
    let exe = wait_for_heartbeat(&cmd);
    assert_eq!(exe, bins::heartbeat(), "the heartbeat beside gatewayctl");
    let st = ct.wait_svstat("default", "up and wanted up", |s| s.up && s.want_up);
    assert!(st.up && st.want_up);
    ct.wait_armed(&["default"]);
    assert!(
        ct.contains(ct.pid1()) && proc::state(ct.pid1()).is_some_and(|s| s != 'Z'),
        "the container (PID 1) is gone"
    );
    // No recursion: the supervised gateway is the dummy itself, and the only
    // heartbeat is the CMD.
    assert_eq!(ct.pids_named(HEARTBEAT_COMM), [cmd.pid()]);
    assert_eq!(ct.pids_named("dummy-gateway").len(), 1);
    assert_eq!(ct.pids_named("gatewayctl"), Vec::<i32>::new());
    assert_eq!(
        cmd.stderr().lines().collect::<Vec<_>>(),
        [breadcrumb("default")]
    );
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143, "{}", cmd.stderr());
    assert!(
        cmd.stderr()
            .ends_with("hermes-heartbeat: SIGTERM, exiting 143\n"),
        "{}",
        cmd.stderr()
    );
}

#[test]
fn cmd_run_with_env_i_hands_the_gateway_to_s6_and_becomes_the_heartbeat() {
    hands_over_and_becomes_the_heartbeat(|_| Vec::new());
}

#[test]
fn cmd_run_with_path_an_empty_dir_hands_the_gateway_to_s6_and_becomes_the_heartbeat() {
    hands_over_and_becomes_the_heartbeat(|ct| {
        vec![(
            "PATH".to_owned(),
            ct.empty_dir().to_string_lossy().into_owned(),
        )]
    });
}

#[test]
fn cmd_run_records_the_desired_state_running() {
    let ct = container_down(&["default"]);
    let home = ct.home().to_string_lossy().into_owned();
    let mut cmd = ct.spawn_cmd(&[("HERMES_HOME", &home)], bins::gatewayctl(), &["run"]);
    wait_for_heartbeat(&cmd);
    let text = fs::read_to_string(ct.home().join("gateway_state.json")).expect("state file");
    let state: serde_json::Value = serde_json::from_str(&text).expect("JSON state file");
    assert_eq!(state["desired_state"], "running", "{text}");
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
}

#[test]
fn cmd_run_that_cannot_record_the_state_warns_and_still_hands_over() {
    // A directory where the state file should be: one warning, then the
    // usual hand-over; the container does not die of it.
    let ct = container_down(&["default"]);
    let home = home_env(&ct);
    let state = ct.home().join("gateway_state.json");
    fs::create_dir(&state).expect("mkdir");
    let mut cmd = ct.spawn_cmd(&[("HERMES_HOME", &home)], bins::gatewayctl(), &["run"]);
    wait_for_heartbeat(&cmd);
    assert!(ct.wait_svstat("default", "up", |s| s.up).want_up);
    assert_eq!(
        cmd.stderr().lines().collect::<Vec<_>>(),
        [
            format!(
                "⚠ could not record the desired state in {}: not a regular file; left it as it was",
                state.display()
            ),
            breadcrumb("default"),
        ]
    );
    assert!(state.is_dir());
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
}

#[test]
fn unusable_hermes_heartbeat_warns_and_falls_back_to_the_one_beside_gatewayctl() {
    let ct = container_down(&["default"]);
    let nowhere = ct.root().join("nowhere/hermes-heartbeat");
    let env = [("HERMES_HEARTBEAT", nowhere.to_str().expect("utf-8 path"))];
    let mut cmd = ct.spawn_cmd(&env, bins::gatewayctl(), &["run"]);
    assert_eq!(wait_for_heartbeat(&cmd), bins::heartbeat());
    let stderr = cmd.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(lines[0], breadcrumb("default"));
    assert!(
        lines[1].starts_with(&format!("⚠ cannot exec '{}': ", nowhere.display()))
            && lines[1].ends_with("; trying the next place"),
        "{stderr}"
    );
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
}

#[test]
fn hermes_heartbeat_is_tried_before_the_one_beside_gatewayctl() {
    let ct = container_down(&["default"]);
    let own = ct.root().join("own-heartbeat/hermes-heartbeat");
    copy_executable(&bins::heartbeat(), &own);
    let env = [("HERMES_HEARTBEAT", own.to_str().expect("utf-8 path"))];
    let mut cmd = ct.spawn_cmd(&env, bins::gatewayctl(), &["run"]);
    assert_eq!(wait_for_heartbeat(&cmd), own);
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
}

/// Copies `from` to `to` (mode 0755), making `to`'s directory.
fn copy_executable(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
    program::copy(from, to);
}

/// gatewayctl copied alone into the container's directory: no heartbeat
/// beside it.
fn lonely_gatewayctl(ct: &Container) -> PathBuf {
    let copy = ct.root().join("lonely/gatewayctl");
    copy_executable(&bins::gatewayctl(), &copy);
    copy
}

/// The scenario of the hold tests: no heartbeat anywhere; the CMD holds
/// in-process, prints its line, and `signo` ends it with `128+signo`.
/// The container hides whatever this machine has at the build-time path
/// (`make install` puts a heartbeat there), as a fresh image has nothing.
fn hold_ends_on(signo: i32, name: &str) {
    let ct = container_down(&["default"]);
    let gatewayctl = lonely_gatewayctl(&ct);
    let nowhere = ct.root().join("nowhere/hermes-heartbeat");
    let env = [("HERMES_HEARTBEAT", nowhere.to_str().expect("utf-8 path"))];
    let mut cmd = ct.spawn_cmd(&env, &gatewayctl, &["run"]);
    proc::wait_until(LIMIT, "the in-process hold's line", || {
        assert!(cmd.is_running(), "the CMD exited: {}", cmd.stderr());
        cmd.stderr().contains(HOLD_NOTICE)
    });
    proc::wait_until(LIMIT, "the hold to have the signal in hand", || {
        proc::has_signal_in_hand(cmd.pid(), signo)
    });
    assert_eq!(cmd.exe().as_deref(), Some(gatewayctl.as_path()));
    let st = ct.wait_svstat("default", "up and wanted up", |s| s.up && s.want_up);
    assert!(st.up);
    let stderr = cmd.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&breadcrumb("default").as_str()),
        "{stderr}"
    );
    assert_eq!(lines.last(), Some(&HOLD_NOTICE), "{stderr}");
    // One warning per place tried: $HERMES_HEARTBEAT, beside the copy, built-in.
    let warnings: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("⚠ cannot exec '"))
        .collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(
        warnings[2].starts_with(&format!("⚠ cannot exec '{BUILT_IN_HEARTBEAT}': ")),
        "{stderr}"
    );
    let code = 128 + signo;
    assert_eq!(stop_cmd(&mut cmd, signo), code, "{}", cmd.stderr());
    let exit_line = format!("hermes-heartbeat: {name}, exiting {code}\n");
    assert!(cmd.stderr().ends_with(&exit_line), "{}", cmd.stderr());
}

#[test]
fn heartbeat_at_the_build_time_path_is_exec_d_when_no_other_place_has_one() {
    // The third place: HERMES_HEARTBEAT unset, gatewayctl alone in its
    // directory, an empty PATH, and the heartbeat at the path fixed at
    // build time (a tmpfs inside the container, not this machine's file).
    let ct = Container::start_setup(
        &[Gateway::new("default").down()],
        Setup {
            built_in: BuiltIn::Heartbeat,
            ..Setup::default()
        },
    );
    let gatewayctl = lonely_gatewayctl(&ct);
    let mut cmd = ct.spawn_cmd(&[("PATH", "")], &gatewayctl, &["run"]);
    assert_eq!(wait_for_heartbeat(&cmd), Path::new(BUILT_IN_HEARTBEAT));
    assert_eq!(
        proc::status_field(cmd.pid(), "Name").as_deref(),
        Some(HEARTBEAT_COMM)
    );
    let st = ct.wait_svstat("default", "up and wanted up", |s| s.up && s.want_up);
    assert!(st.up && st.want_up);
    ct.wait_armed(&["default"]);
    let stderr = cmd.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(lines[0], breadcrumb("default"));
    let beside = gatewayctl.with_file_name("hermes-heartbeat");
    assert!(
        lines[1].starts_with(&format!("⚠ cannot exec '{}': ", beside.display()))
            && lines[1].ends_with(" (os error 2); trying the next place"),
        "{stderr}"
    );
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
}

#[test]
fn heartbeat_missing_the_hold_keeps_the_cmd_alive_and_sigterm_gives_143() {
    hold_ends_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn heartbeat_missing_the_hold_keeps_the_cmd_alive_and_sigint_gives_130() {
    hold_ends_on(libc::SIGINT, "SIGINT");
}

#[test]
fn heartbeat_missing_the_hold_keeps_the_cmd_alive_and_sighup_gives_129() {
    hold_ends_on(libc::SIGHUP, "SIGHUP");
}

#[test]
fn heartbeat_missing_the_hold_keeps_the_cmd_alive_and_sigquit_gives_131() {
    hold_ends_on(libc::SIGQUIT, "SIGQUIT");
}

#[test]
fn no_supervise_flag_runs_command_in_the_foreground_without_a_start() {
    let ct = container_down(&["default"]);
    let home = ct.home().to_string_lossy().into_owned();
    let (marker, command) = marker_command(&ct, 7);
    let out = ct.gatewayctl(
        &[("HERMES_HOME", &home)],
        &run_args(&["--no-supervise"], &command),
    );
    assert_ran_in_foreground(&out, &marker, 7);
    assert_left_down(&ct, "default");
}

#[test]
fn truthy_no_supervise_env_values_run_command_in_the_foreground_without_a_start() {
    let ct = container_down(&["default"]);
    let home = ct.home().to_string_lossy().into_owned();
    for value in ["1", "true", "TRUE", "yes", "Yes"] {
        let (marker, command) = marker_command(&ct, 7);
        let env = [
            ("HERMES_HOME", home.as_str()),
            ("HERMES_GATEWAY_NO_SUPERVISE", value),
        ];
        let out = ct.gatewayctl(&env, &run_args(&[], &command));
        assert!(
            marker.exists(),
            "HERMES_GATEWAY_NO_SUPERVISE={value:?}: {out:?}"
        );
        assert_ran_in_foreground(&out, &marker, 7);
        assert_left_down(&ct, "default");
    }
}

#[test]
fn falsy_no_supervise_env_values_still_hand_the_gateway_to_s6() {
    let ct = container_down(&["default"]);
    for value in ["", "0", "false", "no", "off", "on", "y", "2", "garbage"] {
        let (marker, command) = marker_command(&ct, 7);
        let env = [("HERMES_GATEWAY_NO_SUPERVISE", value)];
        let mut cmd = ct.spawn_cmd(&env, bins::gatewayctl(), &run_args(&[], &command));
        wait_for_heartbeat(&cmd);
        let st = ct.wait_svstat("default", "up", |s| s.up && s.want_up);
        assert!(st.up, "HERMES_GATEWAY_NO_SUPERVISE={value:?}");
        assert_eq!(
            cmd.stderr().lines().collect::<Vec<_>>(),
            [breadcrumb("default")],
            "HERMES_GATEWAY_NO_SUPERVISE={value:?}"
        );
        assert!(!marker.exists(), "COMMAND ran with {value:?}");
        assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
        // Back to down for the next value.
        let out = ct.gatewayctl(&[], &["stop", "--wait"]);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(!ct.svstat("default").want_up);
    }
}

/// The scenario of the refusal tests: an opt-out (`extra` arguments and
/// `env`) while gateway-default is up is refused; after `gatewayctl stop`
/// the same opt-out runs COMMAND.
fn opt_out_refused_while_up_then_runs(extra: &[&str], env: &[(&str, &str)]) {
    let ct = Container::start(&[Gateway::new("default")]);
    assert_refused_while_up_then_runs(&ct, extra, env);
}

/// [`opt_out_refused_while_up_then_runs`] in `ct`, whose gateway-default
/// is up.
fn assert_refused_while_up_then_runs(ct: &Container, extra: &[&str], env: &[(&str, &str)]) {
    let (marker, command) = marker_command(ct, 7);
    let out = ct.gatewayctl(env, &run_args(extra, &command));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr_lines(), [REFUSED], "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(!marker.exists(), "COMMAND ran although refused");
    assert!(
        ct.svstat("default").up,
        "the supervised gateway was touched"
    );
    let stop = ct.gatewayctl(&[], &["stop", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let out = ct.gatewayctl(env, &run_args(extra, &command));
    assert_ran_in_foreground(&out, &marker, 7);
    assert!(!ct.svstat("default").up);
}

#[test]
fn no_supervise_flag_is_refused_while_the_gateway_is_up_and_runs_once_stopped() {
    opt_out_refused_while_up_then_runs(&["--no-supervise"], &[]);
}

#[test]
fn no_supervise_env_is_refused_while_the_gateway_is_up_and_runs_once_stopped() {
    opt_out_refused_while_up_then_runs(&[], &[("HERMES_GATEWAY_NO_SUPERVISE", "1")]);
}

#[test]
fn no_supervise_is_refused_while_the_gateway_is_up_even_if_wanted_down() {
    // `s6-svc -o`: run once. The gateway stays up, but s6 wants it down (it
    // will not restart it): it is still running, so still refused.
    let ct = Container::start(&[Gateway::new("default")]);
    let once = run::run(
        Command::new("s6-svc")
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .arg("-o")
            .arg(ct.service_dir("default")),
        LIMIT,
    );
    assert_eq!(once.code, 0, "{once:?}");
    ct.wait_svstat("default", "up but wanted down", |s| s.up && !s.want_up);
    assert_refused_while_up_then_runs(&ct, &["--no-supervise"], &[]);
}

#[test]
fn supervised_child_runs_command_in_the_foreground_without_a_start() {
    let ct = container_down(&["default"]);
    let home = ct.home().to_string_lossy().into_owned();
    let (marker, command) = marker_command(&ct, 5);
    let env = [
        ("HERMES_HOME", home.as_str()),
        ("HERMES_S6_SUPERVISED_CHILD", "1"),
    ];
    let out = ct.gatewayctl(&env, &run_args(&[], &command));
    assert_ran_in_foreground(&out, &marker, 5);
    assert_left_down(&ct, "default");
}

#[test]
fn supervised_child_is_never_refused_while_its_gateway_is_up() {
    let ct = Container::start(&[Gateway::new("default")]);
    let before = ct.svstat("default");
    assert!(before.up);
    let (marker, command) = marker_command(&ct, 5);
    let env = [
        ("HERMES_S6_SUPERVISED_CHILD", "1"),
        ("HERMES_GATEWAY_NO_SUPERVISE", "1"),
    ];
    let out = ct.gatewayctl(&env, &run_args(&["--no-supervise"], &command));
    assert_ran_in_foreground(&out, &marker, 5);
    assert_eq!(
        ct.svstat("default").pid,
        before.pid,
        "the gateway was touched"
    );
}

#[test]
fn empty_supervised_child_is_not_the_recursion_guard() {
    let ct = container_down(&["default"]);
    let (marker, command) = marker_command(&ct, 5);
    let env = [("HERMES_S6_SUPERVISED_CHILD", "")];
    let mut cmd = ct.spawn_cmd(&env, bins::gatewayctl(), &run_args(&[], &command));
    wait_for_heartbeat(&cmd);
    let st = ct.wait_svstat("default", "up and wanted up", |s| s.up && s.want_up);
    assert!(st.up);
    assert!(!marker.exists(), "COMMAND ran in the foreground");
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
}

/// gatewayctl on the host with a clean environment: PID 1 here is not
/// s6-svscan, and no scan directory is named.
fn host_gatewayctl(args: &[&str]) -> Output {
    host_gatewayctl_with(&[], args)
}

/// [`host_gatewayctl`] with `env` added to its environment.
fn host_gatewayctl_with(env: &[(&str, &str)], args: &[&str]) -> Output {
    let pid1 = fs::read_to_string("/proc/1/comm").unwrap_or_default();
    assert!(
        pid1.trim_end() != "s6-svscan" || !Path::new("/run/s6/basedir").is_dir(),
        "this machine is itself under s6: the not-under-s6 tests cannot run here"
    );
    run::run(
        Command::new(bins::gatewayctl())
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .envs(env.iter().copied())
            .args(args),
        LIMIT,
    )
}

#[test]
fn supervised_child_runs_command_even_with_a_bad_scan_directory() {
    // The gateway itself never dies of run: whatever scan directory it was
    // given, it is not looked at.
    let dir = tempfile::tempdir().expect("tempdir");
    let not_scandir = dir.path().to_str().expect("UTF-8 path").to_owned();
    let missing = format!("{not_scandir}/missing");
    let child = ("HERMES_S6_SUPERVISED_CHILD", "1");
    for (env, args) in [
        (
            vec![child],
            vec!["--scandir", &not_scandir, "run", "--", "sh", "-c", "exit 7"],
        ),
        (
            vec![child, ("S6_PROFILE_GATEWAY_SCANDIR", &missing)],
            vec!["run", "--", "sh", "-c", "exit 7"],
        ),
    ] {
        let out = host_gatewayctl_with(&env, &args);
        assert_eq!((out.code, out.stderr.as_str()), (7, ""), "{env:?} {args:?}");
    }
}

#[test]
fn foreground_command_is_looked_up_in_the_callers_path_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    program::write(&dir.path().join("true"), b"#!/bin/sh\nexit 42\n", 0o755);
    program::write(
        &dir.path().join("only-here"),
        b"#!/bin/sh\nexit 43\n",
        0o755,
    );
    let path = format!("{}:{CLEAN_PATH}", dir.path().display());
    let env = [("PATH", path.as_str())];
    for (command, code) in [("true", 42), ("only-here", 43)] {
        let out = host_gatewayctl_with(&env, &["run", "--", command]);
        assert_eq!((out.code, out.stderr.as_str()), (code, ""), "{command}");
    }
}

#[test]
fn foreground_command_gets_its_arguments_untouched() {
    // Options of gatewayctl's, a second `--`, an empty argument: all
    // COMMAND's own, in order.
    let printf = "printf '%s|' \"$@\"";
    let out = host_gatewayctl(&[
        "run",
        "--",
        "sh",
        "-c",
        printf,
        "sh",
        "-p",
        "x",
        "--all",
        "--",
        "--no-supervise",
        "",
        "-T",
    ]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "-p|x|--all|--|--no-supervise||-T|", ""),
    );
    let out = host_gatewayctl(&["run", "sh", "-c", printf, "sh", "--scandir", "-p"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "--scandir|-p|"));
}

#[test]
fn a_failed_start_is_one_line_and_exit_1_with_nothing_exec_d() {
    // Registered, but no supervisor runs it: s6-svc fails, and run exits 1
    // rather than hand over to a heartbeat (here /bin/true, which would
    // exit 0) or run COMMAND (exit 7).
    let s6 = ScanDir::start();
    s6.install(&[Gateway::new("default")]);
    let scandir = s6.scandir().to_str().expect("UTF-8 path").to_owned();
    let home = s6.home().to_str().expect("UTF-8 path").to_owned();
    let env = [
        ("HERMES_HOME", home.as_str()),
        ("HERMES_HEARTBEAT", "/bin/true"),
    ];
    let args = ["--scandir", &scandir, "run", "--", "sh", "-c", "exit 7"];
    let out = host_gatewayctl_with(&env, &args);
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    let lines = out.stderr_lines();
    assert!(
        lines.len() == 1 && lines[0].starts_with("✗ s6-svc start on 'gateway-default' failed (rc="),
        "{out:?}"
    );
    assert_eq!(s6.desired_state("default"), None);
}

#[test]
fn not_under_s6_runs_command_in_the_foreground() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let script = format!(": > '{}'; echo foreground; exit 9", marker.display());
    let out = host_gatewayctl(&["run", "--", "sh", "-c", &script]);
    assert_eq!(out.code, 9, "{out:?}");
    assert!(marker.exists());
    assert_eq!(out.stdout_lines(), ["foreground"], "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
}

#[test]
fn not_under_s6_command_keeps_the_environment_and_a_bad_profile_in_hermes_home() {
    // Outside s6 the profile plays no part: a HERMES_HOME naming an invalid
    // one does not stop COMMAND, which gets the caller's environment.
    let out = host_gatewayctl_with(
        &[("HERMES_HOME", "/srv/x/profiles/Bad"), ("FOO", "bar")],
        &[
            "run",
            "--",
            "sh",
            "-c",
            "echo \"$HERMES_HOME|$FOO|$PATH\"; exit 9",
        ],
    );
    assert_eq!(out.code, 9, "{out:?}");
    assert_eq!(
        out.stdout_lines(),
        [format!("/srv/x/profiles/Bad|bar|{CLEAN_PATH}")],
        "{out:?}"
    );
    assert_eq!(out.stderr, "", "{out:?}");
}

#[test]
fn supervised_child_and_opt_out_with_an_unsupervised_gateway_run_command() {
    // The supervised child never reads its profile (even an invalid one from
    // HERMES_HOME); an opt-out is refused only while the gateway is up, so a
    // registered service that nothing supervises does not stop it.
    let s6 = ScanDir::start();
    s6.install(&[Gateway::new("default")]);
    let scandir = s6.scandir().to_str().expect("UTF-8 path").to_owned();
    let bad_home = format!("{}/profiles/Bad", s6.root().display());
    let good_home = s6.home().to_str().expect("UTF-8 path").to_owned();
    for (env, extra) in [
        (
            vec![
                ("HERMES_S6_SUPERVISED_CHILD", "1"),
                ("HERMES_HOME", bad_home.as_str()),
            ],
            None,
        ),
        (
            vec![("HERMES_HOME", good_home.as_str())],
            Some("--no-supervise"),
        ),
    ] {
        let mut args = vec!["--scandir", scandir.as_str(), "run"];
        args.extend(extra);
        args.extend(["--", "sh", "-c", "exit 7"]);
        let out = host_gatewayctl_with(&env, &args);
        assert_eq!((out.code, out.stderr.as_str()), (7, ""), "{env:?}: {out:?}");
    }
    assert_eq!(s6.desired_state("default"), None);
}

#[test]
fn s6_svscan_as_pid1_without_basedir_is_not_under_s6_and_runs_command() {
    let gateways = [Gateway::new("default").down()];
    let setup = Setup {
        launch: Launch::GatewayctlRun,
        basedir: Basedir::Missing,
        ..Setup::default()
    };
    let ct = Container::start_setup(&gateways, setup);
    let (marker, command) = marker_command(&ct, 3);
    let home = home_env(&ct);
    let out = ct.gatewayctl(&[("HERMES_HOME", &home)], &run_args(&[], &command));
    assert_ran_in_foreground(&out, &marker, 3);
    assert_left_down(&ct, "default");
}

/// Asserts exit 2 and exactly one usage line on stderr.
fn assert_usage_error(out: &Output) {
    assert_eq!(out.code, 2, "{out:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].starts_with("✗ run needs a COMMAND") && lines[0].contains("usage: gatewayctl"),
        "{out:?}"
    );
    assert_eq!(out.stdout, "", "{out:?}");
}

#[test]
fn missing_command_when_not_under_s6_is_a_usage_error() {
    assert_usage_error(&host_gatewayctl(&["run"]));
    assert_usage_error(&host_gatewayctl(&["run", "--"]));
}

#[test]
fn missing_command_when_opted_out_under_s6_is_a_usage_error() {
    let ct = container_down(&["default"]);
    let home = home_env(&ct);
    assert_usage_error(&ct.gatewayctl(&[("HERMES_HOME", &home)], &["run", "--no-supervise"]));
    assert_left_down(&ct, "default");
}

#[test]
fn missing_command_for_the_supervised_child_is_a_usage_error() {
    let ct = container_down(&["default"]);
    let home = home_env(&ct);
    let out = ct.gatewayctl(
        &[("HERMES_S6_SUPERVISED_CHILD", "1"), ("HERMES_HOME", &home)],
        &["run"],
    );
    assert_usage_error(&out);
    assert_left_down(&ct, "default");
}

#[test]
fn nonexistent_command_exits_127_with_one_line() {
    let out = host_gatewayctl(&["run", "--", "/nonexistent/hermes-gateway", "x"]);
    assert_eq!(out.code, 127, "{out:?}");
    assert_eq!(
        out.stderr_lines(),
        ["✗ cannot run '/nonexistent/hermes-gateway': not found"],
        "{out:?}"
    );
    let out = host_gatewayctl(&["run", "--", "no-such-program-anywhere"]);
    assert_eq!(out.code, 127, "{out:?}");
    assert_eq!(
        out.stderr_lines(),
        ["✗ cannot run 'no-such-program-anywhere': not found"],
        "{out:?}"
    );
}

#[test]
fn non_executable_command_exits_126_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let program = dir.path().join("gateway.txt");
    fs::write(&program, "#!/bin/sh\nexit 0\n").expect("write");
    fs::set_permissions(&program, fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = host_gatewayctl(&["run", "--", program.to_str().expect("utf-8 path")]);
    assert_eq!(out.code, 126, "{out:?}");
    assert_eq!(
        out.stderr_lines(),
        [format!(
            "✗ cannot run '{}': permission denied (not executable)",
            program.display()
        )],
        "{out:?}"
    );
    // Executable by mode but no program (musl's execvp does not hand it to
    // sh): 126 as well.
    let junk = dir.path().join("gateway.bin");
    program::write(&junk, b"\x7fELF junk\n", 0o755);
    let out = host_gatewayctl(&["run", "--", junk.to_str().expect("utf-8 path")]);
    assert_eq!(out.code, 126, "{out:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert!(
        lines[0].starts_with(&format!("✗ cannot run '{}': ", junk.display())),
        "{out:?}"
    );
}

#[test]
fn profile_option_starts_that_gateway() {
    let ct = container_down(&["coder", "default"]);
    let mut cmd = ct.spawn_cmd(&[], bins::gatewayctl(), &["-p", "coder", "run"]);
    wait_for_heartbeat(&cmd);
    let st = ct.wait_svstat("coder", "up and wanted up", |s| s.up && s.want_up);
    assert!(st.up);
    assert_eq!(
        cmd.stderr().lines().collect::<Vec<_>>(),
        [breadcrumb("coder")]
    );
    let default = ct.svstat("default");
    assert!(!default.up && !default.want_up, "{default:?}");
    assert_eq!(stop_cmd(&mut cmd, libc::SIGTERM), 143);
}

#[test]
fn unknown_profile_is_refused_and_execs_nothing() {
    let ct = container_down(&["default"]);
    let (marker, command) = marker_command(&ct, 0);
    let mut args = vec!["-p", "typo"];
    args.extend(run_args(&[], &command));
    // A heartbeat exec'd here would never exit: the bounded run would panic.
    let home = home_env(&ct);
    let out = ct.gatewayctl(&[("HERMES_HOME", &home)], &args);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr_lines(), [no_such_gateway("typo")], "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(!marker.exists(), "COMMAND ran");
    assert_eq!(ct.pids_named(HEARTBEAT_COMM), Vec::<i32>::new());
    assert_left_down(&ct, "default");
}
