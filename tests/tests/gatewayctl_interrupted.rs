//! Ctrl-C, SIGTERM or SIGHUP while `stop --wait` waits, against real s6:
//! the stop s6 already took stays recorded (`stopped`, so the next boot does
//! not bring the gateways back), no helper gatewayctl started outlives it,
//! and it exits `128+signum` with one line saying what was sent.

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use hermes_e2e::proc::{self, Proc};
use hermes_e2e::s6::{self, Gateway, ScanDir};

/// Gateways that take this long to stop: the waits are still on when the
/// signal comes.
const SLOW_STOP_MS: u64 = 4000;

/// Starts `gatewayctl ARGS...` with its output in files, waits until s6
/// has taken the stop of every one of `profiles` and gatewayctl waits for
/// each (one child per gateway), sends `signo`, and returns the exit code
/// and the stderr lines. Checks that nothing gatewayctl started is left.
fn interrupt(s6: &ScanDir, args: &[&str], profiles: &[&str], signo: i32) -> (i32, Vec<String>) {
    let err = s6.root().join(format!("ctl.{signo}.stderr"));
    let mut cmd = s6.gatewayctl();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).expect("create the stderr file"));
    let mut ctl = Proc::spawn(&mut cmd);
    let limit = Duration::from_secs(20);
    let mut groups = Vec::new();
    proc::wait_until(limit, "s6 to take every stop and the waits to run", || {
        let taken = profiles
            .iter()
            .all(|p| s6.try_svstat(p).is_some_and(|st| !st.want_up));
        groups = proc::children(ctl.pid())
            .into_iter()
            .filter_map(proc::process_group)
            .collect();
        taken && groups.len() == profiles.len()
    });
    ctl.signal(signo);
    let code = ctl.exit_code(limit);
    // Killed, not waited for: gone well before the gateways finish stopping
    // (a functional bound, far from the time a kill takes).
    let gone = Duration::from_millis(SLOW_STOP_MS / 4);
    proc::wait_until(gone, "every helper gatewayctl started to be gone", || {
        !s6::all_pids().into_iter().any(|pid| {
            proc::state(pid) != Some('Z')
                && proc::process_group(pid).is_some_and(|g| groups.contains(&g))
        })
    });
    let stderr = fs::read_to_string(&err).unwrap_or_default();
    (code, stderr.lines().map(str::to_owned).collect())
}

fn slow(profile: &str) -> Gateway {
    Gateway::new(profile).term_delay_ms(SLOW_STOP_MS)
}

#[test]
fn an_interrupted_stop_all_wait_leaves_every_stop_recorded_and_no_helper() {
    for (signo, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let profiles = ["a", "b", "c"];
        let s6 = ScanDir::with(&profiles.map(slow));
        let (code, stderr) = interrupt(
            &s6,
            &["stop", "--all", "--wait", "-T", "30"],
            &profiles,
            signo,
        );
        assert_eq!(code, 128 + signo, "{name}: {stderr:?}");
        assert_eq!(
            stderr,
            [format!(
                "✗ interrupted by {name}: stop sent to 3 of 3 profile gateway(s) and recorded; \
                 no longer waiting for them"
            )],
            "{name}"
        );
        for p in profiles {
            assert_eq!(
                s6.desired_state(p).as_deref(),
                Some("stopped"),
                "{name}: {p}"
            );
        }
    }
}

#[test]
fn an_interrupted_stop_wait_of_one_gateway_says_the_stop_was_sent() {
    let s6 = ScanDir::with(&[slow("coder")]);
    let (code, stderr) = interrupt(&s6, &["stop", "coder", "--wait"], &["coder"], libc::SIGTERM);
    assert_eq!(code, 143, "{stderr:?}");
    assert_eq!(
        stderr,
        [
            "✗ interrupted by SIGTERM: the stop was sent to gateway-coder and recorded; \
          no longer waiting for it"
        ]
    );
    assert_eq!(s6.desired_state("coder").as_deref(), Some("stopped"));
    // s6 took the stop: the gateway still goes down on its own.
    s6.wait_svstat("coder", "down", |st| !st.up);
}
