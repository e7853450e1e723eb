//! How gatewayctl finds s6 without being told: inside a simulated s6-overlay
//! container (s6-svscan PID 1 on /run/service, /run/s6/basedir present) plain
//! commands work; outside s6 every command says so in one line and exits 1;
//! `--scandir` and `S6_PROFILE_GATEWAY_SCANDIR` name a scan directory.

use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::container::{Basedir, Container, Launch, Pid1, Setup};
use hermes_e2e::ns::{NsOptions, PidNs};
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, CLEAN_PATH, Gateway, ScanDir};

const NOT_UNDER_S6: &str = "✗ not under s6 supervision (PID 1 is not s6-svscan with /run/s6/basedir); pass --scandir DIR or set S6_PROFILE_GATEWAY_SCANDIR\n";

/// Every command but `run`, in the forms a user types them.
const COMMANDS: &[&[&str]] = &[
    &["start"],
    &["start", "coder"],
    &["stop"],
    &["stop", "coder"],
    &["stop", "--all"],
    &["restart", "coder"],
    &["restart", "--all"],
    &["status"],
    &["status", "--all"],
    &["status", "--json"],
    &["list"],
    &["list", "--json"],
    &["-p", "coder", "stop", "--wait"],
];

#[test]
fn inside_an_s6_container_stop_all_works_without_scandir() {
    let ct = Container::start_with(
        &[Gateway::new("coder"), Gateway::new("writer")],
        Launch::Direct,
    );
    let out = ct.gatewayctl(&[], &["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Stopped 2 profile gateway(s) under s6\n",
        "{out:?}"
    );
    for p in ["coder", "writer"] {
        ct.wait_svstat(p, "down", |s| !s.up && !s.want_up);
    }
}

#[test]
fn inside_an_s6_container_with_an_empty_environment_list_and_status_work() {
    let ct = Container::start(&[Gateway::new("default"), Gateway::new("coder")]);
    let out = ct.gatewayctl(&[], &["list"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "coder\ndefault\n"),
        "{out:?}"
    );
    let out = ct.gatewayctl(&[], &["status"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("default  up (pid "), "{out:?}");
}

#[test]
fn inside_an_s6_container_with_path_set_to_an_empty_dir_stop_works() {
    let ct = Container::start(&[Gateway::new("default")]);
    let empty = ct.empty_dir();
    let out = ct.gatewayctl(&[("PATH", empty.to_str().unwrap())], &["stop"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "✓ Stopped gateway-default under s6\n",
        "{out:?}"
    );
    ct.wait_svstat("default", "down", |s| !s.up);
}

#[test]
fn s6_svscan_as_pid1_without_basedir_is_not_under_s6() {
    assert_not_under_s6(Setup {
        launch: Launch::Direct,
        basedir: Basedir::Missing,
        ..Setup::default()
    });
}

/// A container built as `setup` must not be taken for an s6 one: `stop
/// --all` says so in one line and sends nothing.
fn assert_not_under_s6(setup: Setup) -> Container {
    let ct = Container::start_setup(&[Gateway::new("coder")], setup);
    let before = ct.svstat("coder");
    assert!(before.up && before.want_up, "{before:?}");
    let out = ct.gatewayctl(&[], &["stop", "--all"]);
    assert_eq!(out.code, 1, "{setup:?}: {out:?}");
    assert_eq!(out.stdout, "", "{setup:?}: {out:?}");
    assert_eq!(out.stderr, NOT_UNDER_S6, "{setup:?}: {out:?}");
    // Nothing was sent to s6: the same gateway is still up and wanted up.
    let after = ct.svstat("coder");
    assert!(after.up && after.want_up, "{after:?}");
    assert_eq!(after.pid, before.pid, "{after:?}");
    ct
}

#[test]
fn pid1_named_almost_s6_svscan_is_not_under_s6() {
    // `/proc/1/comm` must be exactly `s6-svscan`.
    for name in ["s6-svscanx", "xs6-svscan"] {
        assert_not_under_s6(Setup {
            launch: Launch::Direct,
            pid1: Pid1::S6SvscanNamed(name),
            ..Setup::default()
        });
    }
}

#[test]
fn basedir_that_is_a_plain_file_is_not_under_s6() {
    let ct = assert_not_under_s6(Setup {
        launch: Launch::Direct,
        basedir: Basedir::File,
        ..Setup::default()
    });
    assert!(ct.run_dir().join("s6/basedir").is_file());
}

#[test]
fn inside_an_s6_container_an_empty_scandir_variable_means_none() {
    let ct = Container::start_with(&[Gateway::new("coder")], Launch::Direct);
    let out = ct.gatewayctl(&[("S6_PROFILE_GATEWAY_SCANDIR", "")], &["list"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "coder\n"), "{out:?}");
}

#[test]
fn basedir_and_a_supervised_gateway_with_pid1_not_s6_svscan_is_not_under_s6() {
    // Everything of an s6-overlay container (/run/s6/basedir, s6-svscan on
    // /run/service supervising gateway-coder) but PID 1: the heartbeat,
    // with s6-svscan as its child.
    let ct = assert_not_under_s6(Setup {
        launch: Launch::Direct,
        pid1: Pid1::Heartbeat,
        ..Setup::default()
    });
    let out = ct.exec(&[], "/bin/cat", &["/proc/1/comm"]);
    assert_eq!(out.stdout, "hermes-heartbea\n", "{out:?}");
    assert!(ct.run_dir().join("s6/basedir").is_dir());
    assert!(ct.is_supervised("coder"));
}

/// A PID and mount namespace whose PID 1 is the heartbeat: plainly not s6.
fn not_s6() -> PidNs {
    PidNs::start(bins::heartbeat(), &["-q"], NsOptions { mount: true })
}

fn inside(ns: &PidNs, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = ns.enter(true);
    cmd.env_clear().arg(bins::gatewayctl()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd, Duration::from_secs(30))
}

#[test]
fn outside_s6_every_command_says_so_in_one_line_and_exits_1() {
    let ns = not_s6();
    for args in COMMANDS {
        let out = inside(&ns, &[("PATH", CLEAN_PATH)], args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}: {out:?}");
        assert_eq!(out.stderr, NOT_UNDER_S6, "{args:?}: {out:?}");
    }
}

#[test]
fn scandir_from_the_environment_works_like_the_option() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let mut cmd = s6::gatewayctl_clean();
    cmd.env("S6_PROFILE_GATEWAY_SCANDIR", s6.scandir())
        .env("HERMES_HOME", s6.home())
        .args(["stop", "coder"]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "✓ Stopped gateway-coder under s6\n", "{out:?}");
    s6.wait_svstat("coder", "down", |s| !s.up);
}

#[test]
fn scandir_option_wins_over_the_environment() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let mut cmd = s6::gatewayctl_clean();
    cmd.env("S6_PROFILE_GATEWAY_SCANDIR", s6.root().join("nowhere"))
        .arg("--scandir")
        .arg(s6.scandir())
        .arg("list");
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "coder\n", ""),
        "{out:?}"
    );
}

#[test]
fn scandir_that_is_not_an_s6_scan_directory_is_refused() {
    let s6 = ScanDir::start();
    let plain = s6.root().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    // `.s6-svscan` must be a directory: a plain file of that name is not it.
    let fake = s6.root().join("fake");
    std::fs::create_dir(&fake).expect("mkdir");
    std::fs::write(fake.join(".s6-svscan"), "").expect("write");
    for dir in [&plain, &fake] {
        for args in [&["list"][..], &["stop", "--all"], &["status", "coder"]] {
            let mut cmd = s6::gatewayctl_clean();
            cmd.arg("--scandir").arg(dir).args(args);
            let out = run(&mut cmd, Duration::from_secs(30));
            assert_eq!(out.code, 1, "{args:?}: {out:?}");
            assert_eq!(
                out.stderr,
                format!(
                    "✗ {} is not an s6 scan directory (no .s6-svscan/)\n",
                    dir.display()
                ),
                "{args:?}: {out:?}"
            );
        }
    }
}

#[test]
fn scandir_option_is_used_even_outside_s6() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let ns = not_s6();
    let scandir = s6.scandir().to_str().unwrap().to_owned();
    let out = inside(
        &ns,
        &[("PATH", CLEAN_PATH)],
        &["--scandir", &scandir, "list"],
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, "coder\n"), "{out:?}");
}

#[test]
fn an_invalid_profile_is_a_usage_error_before_s6_is_even_looked_for() {
    // Input is checked first: outside s6, or with a --scandir that is no
    // scan directory, a bad name is still exit 2 and its own line.
    let ns = not_s6();
    let s6 = ScanDir::start();
    let plain = s6.root().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    let plain = plain.to_str().expect("UTF-8 path").to_owned();
    for args in [
        &["start", "../x"][..],
        &["stop", "A"],
        &["restart", "a/b"],
        &["status", "UPPER"],
        &["-p", "-x", "stop"],
        &["--scandir", &plain, "stop", "A"],
        &["--scandir", &plain, "status", "../x"],
    ] {
        let out = inside(&ns, &[("PATH", CLEAN_PATH)], args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}: {out:?}");
        assert_eq!(out.stderr_lines().len(), 1, "{args:?}: {out:?}");
        assert!(
            out.stderr.starts_with("✗ invalid profile name "),
            "{args:?}: {out:?}"
        );
    }
}
