//! Self-tests of the simulated container with raw s6 tools: s6-svscan is
//! PID 1 on a private /run, services run the dummy gateway (directly and
//! through `gatewayctl run`), and commands and a CMD process run inside.

use std::process::Command;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::container::{
    BUILT_IN_HEARTBEAT, BuiltIn, Container, Launch, Pid1, Setup, built_in_dir,
    hide_built_in_heartbeat,
};
use hermes_e2e::run::run;
use hermes_e2e::s6::Gateway;

/// The filesystem type of the topmost mount on `dir` in a mountinfo text.
fn fstype_at(mountinfo: &str, dir: &std::path::Path) -> Option<String> {
    let dir = dir.to_str()?;
    mountinfo
        .lines()
        .rev()
        .filter(|l| l.split(' ').nth(4) == Some(dir))
        .find_map(|l| Some(l.split_once(" - ")?.1.split(' ').next()?.to_owned()))
}

#[test]
fn pid1_is_s6_svscan_on_a_private_run_with_the_gateway_up() {
    let ct = Container::start_with(&[Gateway::new("default")], Launch::Direct);
    let out = ct.exec(&[], "/bin/cat", &["/proc/1/comm"]);
    assert_eq!(out.stdout.trim(), "s6-svscan", "{out:?}");
    let out = ct.exec(&[], "/usr/bin/test", &["-d", "/run/s6/basedir"]);
    assert_eq!(out.code, 0, "{out:?}");
    // /run inside is the container's own tmpfs, not the host's /run.
    let dev =
        |p: &std::path::Path| std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(p).unwrap());
    assert_ne!(dev(&ct.run_dir()), dev(std::path::Path::new("/run")));
    let st = ct.svstat("default");
    assert!(st.up && st.want_up, "{st:?}");
    let out = ct.exec(&[], "/usr/bin/s6-svstat", &["/run/service/gateway-default"]);
    assert!(out.stdout.starts_with("up "), "{out:?}");
}

#[test]
fn stopping_a_service_from_inside_ends_its_gateway() {
    let ct = Container::start_with(&[Gateway::new("coder")], Launch::Direct);
    let pid = ct.gateway_pid("coder").expect("armed gateway");
    let out = ct.exec(
        &[],
        "/usr/bin/s6-svc",
        &["-wD", "-d", "/run/service/gateway-coder"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!ct.svstat("coder").up);
    assert!(matches!(hermes_e2e::proc::state(pid), None | Some('Z')));
}

#[test]
fn gateway_launched_through_gatewayctl_run_is_the_dummy_itself() {
    let ct = Container::start(&[Gateway::new("default")]);
    assert_eq!(ct.pids_named("dummy-gateway").len(), 1);
    assert!(ct.pids_named("gatewayctl").is_empty());
    assert!(ct.pids_named("hermes-heartbea").is_empty());
}

#[test]
fn cmd_process_with_an_empty_environment_runs_inside_and_gets_signals() {
    let ct = Container::start_with(&[], Launch::Direct);
    let mut cmd = ct.spawn_cmd(&[], bins::heartbeat(), &[] as &[&str]);
    assert!(ct.contains(cmd.pid()));
    hermes_e2e::proc::wait_until(Duration::from_secs(10), "heartbeat asleep", || {
        hermes_e2e::proc::state(cmd.pid()) == Some('S')
    });
    let environ = std::fs::read(format!("/proc/{}/environ", cmd.pid())).unwrap();
    assert!(environ.is_empty(), "environment not empty: {environ:?}");
    cmd.signal(libc::SIGTERM);
    assert_eq!(cmd.exit_code(Duration::from_secs(10)), 143);
    assert!(cmd.stderr().contains("SIGTERM"), "{}", cmd.stderr());
}

#[test]
fn teardown_kills_everything_inside() {
    let ct = Container::start(&[Gateway::new("a"), Gateway::new("b")]);
    let cmd = ct.spawn_cmd(&[], bins::heartbeat(), &[] as &[&str]);
    let mut pids: Vec<i32> = ct.armed_gateways().values().copied().collect();
    pids.push(cmd.pid());
    pids.push(ct.pid1());
    assert_eq!(pids.len(), 4);
    drop(ct);
    for pid in pids {
        assert!(
            matches!(hermes_e2e::proc::state(pid), None | Some('Z')),
            "pid {pid} still alive"
        );
    }
    drop(cmd);
}

#[test]
fn built_in_heartbeat_directory_is_an_empty_tmpfs_inside() {
    let ct = Container::start_with(&[], Launch::Direct);
    let out = ct.exec(&[], "/bin/cat", &["/proc/self/mountinfo"]);
    assert_eq!(
        fstype_at(&out.stdout, built_in_dir()).as_deref(),
        Some("tmpfs"),
        "{out:?}"
    );
    let out = ct.exec(&[], "/bin/ls", &["-A", &built_in_dir().to_string_lossy()]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    // The host keeps its own.
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_ne!(fstype_at(&host, built_in_dir()).as_deref(), Some("tmpfs"));
}

#[test]
fn built_in_heartbeat_setup_puts_the_heartbeat_alone_at_that_path() {
    let setup = Setup {
        built_in: BuiltIn::Heartbeat,
        ..Setup::default()
    };
    let ct = Container::start_setup(&[], setup);
    let out = ct.exec(&[], "/bin/ls", &["-A", &built_in_dir().to_string_lossy()]);
    let name = std::path::Path::new(BUILT_IN_HEARTBEAT)
        .file_name()
        .unwrap();
    assert_eq!(out.stdout.trim_end(), name.to_string_lossy(), "{out:?}");
    let out = ct.exec(
        &[],
        "/usr/bin/cmp",
        &[bins::heartbeat().to_str().unwrap(), BUILT_IN_HEARTBEAT],
    );
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn pid1_can_be_the_heartbeat_with_s6_svscan_as_its_child() {
    let setup = Setup {
        launch: Launch::Direct,
        pid1: Pid1::Heartbeat,
        ..Setup::default()
    };
    let ct = Container::start_setup(&[Gateway::new("default")], setup);
    let out = ct.exec(&[], "/bin/cat", &["/proc/1/comm"]);
    assert_eq!(out.stdout, "hermes-heartbea\n", "{out:?}");
    let svscan = ct.pids_named("s6-svscan");
    assert_eq!(svscan.len(), 1, "{svscan:?}");
    assert_eq!(hermes_e2e::proc::parent(svscan[0]), Some(ct.pid1()));
    assert!(ct.run_dir().join("s6/basedir").is_dir());
    assert!(ct.svstat("default").up);
}

#[test]
fn hidden_built_in_heartbeat_is_a_private_empty_tmpfs_for_that_process_alone() {
    let mut cmd = Command::new("/bin/cat");
    hide_built_in_heartbeat(&mut cmd);
    cmd.arg("/proc/self/mountinfo");
    let out = run(&mut cmd, Duration::from_secs(10));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        fstype_at(&out.stdout, built_in_dir()).as_deref(),
        Some("tmpfs"),
        "{out:?}"
    );
    let mut cmd = Command::new("/bin/ls");
    hide_built_in_heartbeat(&mut cmd);
    cmd.arg("-A").arg(built_in_dir());
    let out = run(&mut cmd, Duration::from_secs(10));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_ne!(fstype_at(&host, built_in_dir()).as_deref(), Some("tmpfs"));
}
