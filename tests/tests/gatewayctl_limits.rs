//! gatewayctl within what the machine allows, against real s6: `--all` over
//! 2,000 gateways on a small machine succeeds on every one (no s6 program
//! waits its whole time bound for a CPU); under a tight RLIMIT_NPROC it
//! does the work with fewer workers instead of failing every gateway; and
//! results that cannot be written to stdout are a failure, except to a
//! reader that has closed its pipe.

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::proc::Proc;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn restart_all_over_two_thousand_gateways_restarts_every_one() {
    // Each gateway is the static heartbeat (its `run` a two-line script
    // exec'ing it): tiny, so that 2,000 of them fit anywhere; SIGTERM ends
    // it, and s6 starts it again.
    const GATEWAYS: usize = 2000;
    let s6 = ScanDir::start_sized(Some(GATEWAYS + 16));
    let names: Vec<String> = (0..GATEWAYS).map(|i| format!("g{i:04}")).collect();
    for name in &names {
        let dir = s6.root().join("staging").join(format!("gateway-{name}"));
        fs::create_dir_all(&dir).expect("mkdir");
        let heartbeat = s6::shell_quote(&bins::heartbeat().to_string_lossy());
        s6::write_script(
            &dir.join("run"),
            &format!("#!/bin/sh\nexec {heartbeat} -q\n"),
        );
        fs::rename(&dir, s6.service_dir(name)).expect("install");
    }
    s6.rescan();
    hermes_e2e::proc::wait_until(LIMIT, "every gateway supervised", || {
        names
            .iter()
            .all(|n| s6::supervise_settled(&s6.service_dir(n)))
    });
    let out = run(s6.gatewayctl().args(["restart", "--all"]), LIMIT);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "✓ Restarted 2000 profile gateway(s) under s6\n"),
        "{} failure line(s), the first: {:?}",
        out.stderr_lines().len(),
        out.stderr_lines().first()
    );
    assert_eq!(out.stderr, "");
    // A sample, read with s6's own tool: each wanted up, and comes back up.
    for name in names.iter().step_by(97) {
        s6.wait_svstat(name, "up after the restart", |st| st.up && st.want_up);
    }
}

/// 20 gateways open to an unprivileged user.
fn open_fixture() -> (ScanDir, Vec<String>) {
    let names: Vec<String> = (0..20).map(|i| format!("p{i:02}")).collect();
    let gateways: Vec<Gateway> = names.iter().map(|n| Gateway::new(n)).collect();
    let s6 = ScanDir::with(&gateways);
    s6.open_control_to_all_users(&[]);
    (s6, names)
}

#[test]
fn under_a_tight_process_limit_status_and_stop_all_still_reach_every_gateway() {
    // As a user allowed 12 processes (RLIMIT_NPROC, set by prlimit after
    // the switch to that user): worker threads count against that budget
    // too, so gatewayctl must leave room for the s6 programs.
    let (s6, names) = open_fixture();
    let limited = |args: &[&str]| {
        let cmd = s6::wrapped(&["prlimit", "--nproc=12", "--"], s6.gatewayctl().args(args));
        run(&mut s6::as_nobody(&cmd), LIMIT)
    };
    let out = limited(&["status", "--all"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    assert_eq!(out.stdout_lines().len(), names.len(), "{out:?}");
    let out = limited(&["stop", "--all"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "✓ Stopped 20 profile gateway(s) under s6\n", ""),
        "{out:?}"
    );
    for name in &names {
        assert!(!s6.svstat(name).want_up, "{name} still wanted up");
    }
}

#[test]
fn a_full_disk_on_stdout_is_one_line_and_exit_1() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    for args in [&["list"][..], &["status", "--all"], &["stop", "coder"]] {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut cmd = s6.gatewayctl();
        cmd.args(args).stdout(full);
        let out = run_keeping_stdout(&mut cmd);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (
                1,
                "✗ cannot write to standard output: No space left on device (os error 28)\n"
            ),
            "{args:?}"
        );
    }
    // The stop itself was done: only its report was lost.
    assert!(!s6.svstat("coder").want_up);
}

#[test]
fn a_reader_that_closed_its_pipe_is_no_failure() {
    let s6 = ScanDir::with(&[Gateway::new("coder"), Gateway::new("writer")]);
    for args in [&["list"][..], &["status", "--all", "--json"]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = s6.gatewayctl();
        cmd.args(args).stdout(writer);
        let out = run_keeping_stdout(&mut cmd);
        assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{args:?}");
    }
}

/// Runs `cmd` with the stdout it was given, capturing stderr only.
fn run_keeping_stdout(cmd: &mut std::process::Command) -> Output {
    let err = tempfile::NamedTempFile::new().expect("temp file");
    cmd.stdin(Stdio::null())
        .stderr(err.reopen().expect("reopen the temp file"));
    let mut p = Proc::spawn(cmd);
    let code = p.exit_code(LIMIT);
    Output {
        code,
        stdout: String::new(),
        stderr: fs::read_to_string(err.path()).unwrap_or_default(),
    }
}
