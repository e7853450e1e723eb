//! The aarch64 builds, run here through qemu-aarch64-static in a user
//! namespace of their own (see `tests/src/arm64.rs`; where that cannot run,
//! each test says why in one line and skips, and fails instead under
//! `HERMES_REQUIRE_ARM64`, as on CI). The heartbeat: the four termination
//! signals and their codes, signals it ignores, PID 1 of a new PID
//! namespace stopped from outside, orphans reaped, `-r` readiness, `env -i`.
//! gatewayctl against real s6 (Debian's, on this machine's architecture):
//! start, stop, stop --all, restart, status --json, list, and `run` with an
//! empty PATH exec'ing the aarch64 heartbeat.
//!
//! Under emulation the kernel's view of a process (its wait channel, its
//! signal masks) is qemu's, so start-up is known from the `-r` newline,
//! written once every signal is blocked.

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use hermes_e2e::arm64;
use hermes_e2e::proc::{self, Proc};
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};
use hermes_e2e::signals::TERMINATIONS;

const LIMIT: Duration = Duration::from_secs(30);

/// Starts `argv` (emulated) with the write end of a pipe on fd 3, its
/// stderr in a file, and waits for the readiness newline (`-r 3` in argv).
fn start_ready(argv: &[&str], stderr: &std::path::Path) -> Proc {
    let (mut reader, writer) = proc::pipe();
    let mut inner = Command::new(argv[0]);
    inner.args(&argv[1..]);
    let mut cmd = arm64::emulated(&inner);
    let fd = writer.as_raw_fd();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(stderr).expect("stderr file"));
    // SAFETY: dup2 and fcntl are async-signal-safe; runs in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would leave close-on-exec set.
            let ok = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) != -1
            } else {
                libc::dup2(fd, 3) != -1
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let p = Proc::spawn(&mut cmd);
    drop(writer);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let _ = tx.send(reader.read(&mut byte).map(|n| (n, byte[0])));
    });
    match rx.recv_timeout(LIMIT) {
        Ok(Ok((1, b'\n'))) => p,
        other => panic!("no readiness newline from {argv:?}: {other:?}"),
    }
}

fn heartbeat() -> String {
    arm64::heartbeat().to_string_lossy().into_owned()
}

#[test]
fn both_builds_are_static_aarch64_and_the_heartbeat_at_most_16_kib() {
    // Read, not run: this holds wherever the builds exist.
    for program in [arm64::heartbeat(), arm64::gatewayctl()] {
        let Ok(elf) = fs::read(&program) else {
            assert!(
                arm64::available("both_builds_are_static_aarch64"),
                "unreachable"
            );
            return;
        };
        assert_eq!(
            hermes_e2e::elf::machine(&elf),
            Some(183),
            "{}",
            program.display()
        );
        assert!(
            hermes_e2e::elf::is_static_elf(&elf),
            "{} is not static",
            program.display()
        );
    }
    let size = fs::metadata(arm64::heartbeat())
        .map(|m| m.len())
        .unwrap_or(u64::MAX);
    assert!(size <= 16 * 1024, "the aarch64 heartbeat is {size} bytes");
}

#[test]
fn the_heartbeat_exits_128_plus_signum_on_each_termination_signal() {
    if !arm64::available("the_heartbeat_exits_128_plus_signum_on_each_termination_signal") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (signo, name, code) in TERMINATIONS {
        let err = dir.path().join(format!("{name}.err"));
        let mut p = start_ready(&[&heartbeat(), "-r", "3"], &err);
        // Consumed and ignored first, then the one that ends it.
        for ignored in [
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGWINCH,
            libc::SIGPIPE,
            libc::SIGALRM,
            libc::SIGCONT,
        ] {
            p.signal(ignored);
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(p.is_running(), "{name}: an ignored signal ended it");
        p.signal(signo);
        assert_eq!(p.exit_code(LIMIT), code, "{name}");
        assert_eq!(
            fs::read_to_string(&err).unwrap_or_default(),
            format!("hermes-heartbeat: {name}, exiting {code}\n")
        );
    }
}

#[test]
fn the_heartbeat_as_pid_1_reaps_orphans_and_stops_on_sigterm_from_outside() {
    if !arm64::available("the_heartbeat_as_pid_1_reaps_orphans_and_stops_on_sigterm_from_outside") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("err");
    let mut outer = start_ready(
        &[
            "/usr/bin/unshare",
            "--pid",
            "--fork",
            "--kill-child",
            "--",
            &heartbeat(),
            "-r",
            "3",
        ],
        &err,
    );
    let mut pid1 = 0;
    proc::wait_until(LIMIT, "the namespace's PID 1", || {
        pid1 = proc::children(outer.pid()).into_iter().next().unwrap_or(0);
        pid1 != 0
    });
    // Twenty orphans: each started in the background of a shell that exits
    // at once, so PID 1 inherits them.
    let out = run(
        Command::new("nsenter")
            .args(["-t", &pid1.to_string(), "-p", "--", "/bin/sh", "-c"])
            .arg("for i in $(seq 20); do (sleep 0.2 &); done"),
        LIMIT,
    );
    assert_eq!(out.code, 0, "{out:?}");
    proc::wait_until(LIMIT, "every orphan reaped", || {
        proc::children(pid1).is_empty()
    });
    proc::send_signal(pid1, libc::SIGTERM);
    assert_eq!(outer.exit_code(LIMIT), 143);
    assert_eq!(
        fs::read_to_string(&err).unwrap_or_default(),
        "hermes-heartbeat: SIGTERM, exiting 143\n"
    );
}

#[test]
fn the_heartbeat_runs_with_an_empty_environment() {
    if !arm64::available("the_heartbeat_runs_with_an_empty_environment") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("err");
    let mut p = start_ready(&["/usr/bin/env", "-i", &heartbeat(), "-q", "-r", "3"], &err);
    p.signal(libc::SIGINT);
    assert_eq!(p.exit_code(LIMIT), 130);
    assert_eq!(
        fs::read_to_string(&err).unwrap_or_default(),
        "",
        "-q printed"
    );
}

/// The aarch64 gatewayctl on `s6`'s scan directory (clean environment,
/// HERMES_HOME set).
fn ctl(s6: &ScanDir, args: &[&str]) -> Output {
    let mut inner = Command::new(arm64::gatewayctl());
    inner
        .env("PATH", s6::CLEAN_PATH)
        .env("HERMES_HOME", s6.home())
        .arg("--scandir")
        .arg(s6.scandir())
        .args(args);
    run(&mut arm64::emulated(&inner), LIMIT)
}

fn assert_ok(out: &Output, stdout: &str) {
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, stdout, ""),
        "{out:?}"
    );
}

#[test]
fn gatewayctl_controls_real_s6() {
    if !arm64::available("gatewayctl_controls_real_s6") {
        return;
    }
    let s6 = ScanDir::with(&[Gateway::new("coder"), Gateway::new("writer")]);
    assert_ok(&ctl(&s6, &["list"]), "coder\nwriter\n");
    assert_ok(
        &ctl(&s6, &["stop", "coder", "--wait"]),
        "✓ Stopped gateway-coder under s6\n",
    );
    assert!(!s6.svstat("coder").up);
    assert_eq!(s6.desired_state("coder").as_deref(), Some("stopped"));
    assert_ok(
        &ctl(&s6, &["start", "coder", "--wait"]),
        "✓ Started gateway-coder under s6\n",
    );
    assert!(s6.svstat("coder").up);
    let before = s6.svstat("writer").pid;
    assert_ok(
        &ctl(&s6, &["restart", "writer", "--wait"]),
        "✓ Restarted gateway-writer under s6\n",
    );
    assert_ne!(s6.svstat("writer").pid, before);
    let out = ctl(&s6, &["status", "--all", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json[0]["service"], "gateway-coder");
    assert_eq!(json[0]["up"], true);
    assert_ok(
        &ctl(&s6, &["stop", "--all"]),
        "✓ Stopped 2 profile gateway(s) under s6\n",
    );
    s6.wait_svstat("writer", "down", |st| !st.up && !st.want_up);
}

#[test]
fn run_with_an_empty_path_execs_the_aarch64_heartbeat() {
    if !arm64::available("run_with_an_empty_path_execs_the_aarch64_heartbeat") {
        return;
    }
    let s6 = ScanDir::with(&[Gateway::new("default").down()]);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("err");
    let mut inner = Command::new(arm64::gatewayctl());
    inner
        .env("PATH", "")
        .env("HERMES_HOME", s6.home())
        .arg("--scandir")
        .arg(s6.scandir())
        .arg("run");
    let mut cmd = arm64::emulated(&inner);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).expect("stderr file"));
    let mut p = Proc::spawn(&mut cmd);
    s6.wait_svstat("default", "up", |st| st.up && st.want_up);
    proc::wait_until(LIMIT, "the breadcrumb", || {
        fs::read_to_string(&err).is_ok_and(|e| e.contains("under s6 supervision"))
    });
    // Under binfmt_misc the process shows the binary it runs as qemu's
    // argument: wait for the heartbeat there, then a moment for it to block
    // its signals (a TERM before that would end it by the signal, not 143).
    let pid = p.pid();
    proc::wait_until(LIMIT, "the exec of the heartbeat", || {
        fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("hermes-heartbeat"))
    });
    std::thread::sleep(Duration::from_millis(300));
    p.signal(libc::SIGTERM);
    assert_eq!(p.exit_code(LIMIT), 143);
    let stderr = fs::read_to_string(&err).unwrap_or_default();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("✓ gateway-default is running under s6 supervision"),
        "{stderr}"
    );
    assert_eq!(
        lines[1], "hermes-heartbeat: SIGTERM, exiting 143",
        "{stderr}"
    );
}

#[test]
fn the_arm64_image_runs_under_podman_and_stops_with_143() {
    let test = "the_arm64_image_runs_under_podman_and_stops_with_143";
    if !arm64::available(test) {
        return;
    }
    let Some(podman) = hermes_e2e::podman::podman_or_skip(test) else {
        return;
    };
    // The image `make image` makes for linux/arm64: the same Dockerfile,
    // the aarch64 heartbeat as its context (a copy: no emulation to build).
    let context = tempfile::tempdir().expect("tempdir");
    fs::copy(arm64::heartbeat(), context.path().join("hermes-heartbeat")).expect("copy");
    let tag = "localhost/hermes-e2e-arm64:test";
    let dockerfile = hermes_e2e::podman::heartbeat_dockerfile();
    podman.run([
        std::ffi::OsStr::new("build"),
        "--quiet".as_ref(),
        "--isolation".as_ref(),
        "chroot".as_ref(),
        "--platform".as_ref(),
        "linux/arm64".as_ref(),
        "-f".as_ref(),
        dockerfile.as_os_str(),
        "-t".as_ref(),
        tag.as_ref(),
        context.path().as_os_str(),
    ]);
    let arch = podman.inspect_image(tag, "{{.Architecture}}");
    assert_eq!(arch.trim(), "arm64");
    // Run, stop and read it where aarch64 programs run.
    let script = podman.command();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(
            "set -e\n\
             id=$(podman run -d --platform linux/arm64 \"$1\")\n\
             sleep 0.5\n\
             podman stop -t 10 \"$id\" >/dev/null\n\
             podman inspect -f '{{.State.ExitCode}}' \"$id\"\n\
             podman logs \"$id\"\n\
             podman rm \"$id\" >/dev/null",
        )
        .arg("sh")
        .arg(tag)
        .env("PATH", s6::CLEAN_PATH);
    for (key, value) in script.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    let out = arm64::run_with_ids(&cmd, Duration::from_secs(120));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout_lines(),
        ["143"],
        "podman stop of the arm64 heartbeat: {out:?}"
    );
    assert_eq!(
        out.stderr, "hermes-heartbeat: SIGTERM, exiting 143\n",
        "{out:?}"
    );
}
