//! Self-tests of the simulated container with raw s6 tools: s6-svscan is
//! PID 1 on a private /run, services run the dummy gateway (directly and
//! through `gatewayctl run`), and commands and a CMD process run inside.

use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::container::{Container, Launch};
use hermes_e2e::s6::Gateway;

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
