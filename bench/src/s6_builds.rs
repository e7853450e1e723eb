//! `stop --all` and `restart --all` under each s6 a container may run:
//! Debian's 2.11 (dynamic) and, where `HERMES_TEST_S6_OVERLAY` names it,
//! the 2.15 that s6-overlay ships (static, whose `s6-svc` takes every
//! gateway in one call). Side by side with the Python CLI in the same box,
//! and with the floor: a bare `s6-svc` per gateway, and one `s6-svc` for
//! all of them where the s6 takes many.

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::cleanup;
use crate::gatewayctl::{
    Python, RUNS, SETTLE, Sample, WARMUP, bare_svc_down, cli_env, measure, names, ours, python,
    run_in, stop_all_once, take_markers, unavailable,
};
use crate::python_cli::PythonCli;
use crate::sandbox::{self, S6Build, Sandbox};
use crate::table::{self, Table};
use crate::timing::Timed;

const SIZES: [usize; 3] = [3, 30, 100];

/// The pid s6 reports for each gateway (`-1` when down).
fn pids(sb: &Sandbox) -> Vec<String> {
    sb.gateways()
        .iter()
        .map(|p| sb.svstat_fields(p, "pid"))
        .collect()
}

/// One `restart --all`: every gateway up first, then the restart, then a
/// check that every gateway came back up under a new pid.
fn restart_all_once(sb: &Sandbox, mut cmd: Command) -> Result<Timed, String> {
    sb.control_all("u")?;
    sb.wait_all('u', SETTLE)?;
    let before = pids(sb);
    let run = run_in(sb, &mut cmd)?;
    let deadline = Instant::now() + SETTLE;
    let mut pending: Vec<(&String, &String)> = sb.gateways().iter().zip(&before).collect();
    while !pending.is_empty() {
        pending.retain(|(p, old)| {
            let now = sb.svstat_fields(p, "pid");
            now == **old || now == "-1" || now.is_empty()
        });
        if let Some((p, _)) = pending.first() {
            if Instant::now() > deadline {
                return Err(format!("exit 0, but gateway-{p} was not restarted"));
            }
            sleep(Duration::from_millis(10));
        }
    }
    Ok(run)
}

/// One `s6-svc -d` naming every gateway, run directly (no shell): the
/// floor under a `stop --all` where s6-svc takes many service directories.
fn one_svc_down(sb: &Sandbox) -> Command {
    let mut cmd = Command::new("/command/s6-svc");
    cmd.arg("-d")
        .args(sb.gateways().iter().map(|p| sandbox::box_service_dir(p)));
    cli_env(&mut cmd, "/opt/data");
    cmd
}

fn ratio(value: &Sample, base: &Sample) -> String {
    match (value.median(), base.median()) {
        (Some(v), Some(b)) => table::ratio(v, b),
        _ => "—".to_owned(),
    }
}

pub fn section(py: Python<'_>) -> String {
    let (builds, missing) = S6Build::available();
    let mut cli = Table::new(&[
        "s6",
        "gateways",
        "`gatewayctl stop --all`",
        "`hermes gateway stop --all`",
        "Python / gatewayctl",
        "`gatewayctl restart --all`",
        "`hermes gateway restart --all`",
        "Python / gatewayctl",
    ]);
    let mut floor = Table::new(&[
        "s6",
        "gateways",
        "bare `s6-svc -d` per gateway, all at once",
        "one `s6-svc -d` naming every gateway",
        "`gatewayctl stop --all`, s6-svc only",
        "/ one-call floor",
        "`gatewayctl stop --all`, with markers",
        "/ one-call floor",
    ]);
    for build in &builds {
        let label = build.label();
        for n in SIZES {
            let venv = py.as_ref().ok().map(PythonCli::venv);
            let sb = match Sandbox::start_with(&names(n), venv, build) {
                Ok(sb) => sb,
                Err(e) => {
                    cli.row(vec![
                        label.clone(),
                        n.to_string(),
                        format!("container failed: {e}"),
                    ]);
                    continue;
                }
            };
            let our_stop = measure(RUNS, |_| {
                let run = stop_all_once(&sb, ours(&["stop", "--all"]))?;
                take_markers(&sb)?;
                Ok(run)
            });
            let our_restart = measure(RUNS, |_| restart_all_once(&sb, ours(&["restart", "--all"])));
            let (py_stop, py_restart) = match py {
                Ok(cli) => (
                    measure(RUNS, |_| {
                        stop_all_once(&sb, python(cli, &["gateway", "stop", "--all"], "/opt/data"))
                    }),
                    measure(RUNS, |_| {
                        restart_all_once(
                            &sb,
                            python(cli, &["gateway", "restart", "--all"], "/opt/data"),
                        )
                    }),
                ),
                Err(_) => (unavailable(), unavailable()),
            };
            let bare = measure(RUNS, |_| stop_all_once(&sb, bare_svc_down()));
            let one = if build.takes_many() {
                measure(RUNS, |_| stop_all_once(&sb, one_svc_down(&sb)))
            } else {
                Sample::failed("— (2.11's s6-svc takes one directory)".to_owned())
            };
            let plain = match sb.set_pid_files(false) {
                Ok(()) => measure(RUNS, |_| stop_all_once(&sb, ours(&["stop", "--all"]))),
                Err(e) => Sample::failed(format!("cannot turn gateway.pid off: {e}")),
            };
            cli.row(vec![
                label.clone(),
                n.to_string(),
                our_stop.time_cell(),
                py_stop.time_cell(),
                ratio(&py_stop, &our_stop),
                our_restart.time_cell(),
                py_restart.time_cell(),
                ratio(&py_restart, &our_restart),
            ]);
            floor.row(vec![
                label.clone(),
                n.to_string(),
                bare.time_cell(),
                one.time_cell(),
                plain.time_cell(),
                ratio(&plain, &one),
                our_stop.time_cell(),
                ratio(&our_stop, &one),
            ]);
            drop(sb);
            cleanup::kill_descendants();
        }
    }
    let mut out = format!(
        "Wall time, median of {RUNS} runs after {WARMUP} warm-up, in the same simulated \
         container with each s6 laid out as its images have it (Debian's in /usr/bin; \
         s6-overlay's under /package/admin with /command links). Every gateway up before \
         each command; a stop is checked by every gateway really down, a restart by every \
         gateway back up under a new pid. With an `s6-svc` that takes many service \
         directories, `gatewayctl` sends `--all` in one `s6-svc` run; with 2.11, one per \
         gateway.\n\n"
    );
    if let Some(missing) = missing {
        out.push_str(&format!("Note: {missing}.\n\n"));
    }
    out.push_str(&cli.render());
    out.push_str(
        "\nThe floor: `s6-svc` alone, with no CLI around it. \"s6-svc only\" is gatewayctl \
         over gateways that write no `gateway.pid` (so no planned-stop marker is due); \"with \
         markers\" is the case above, as Hermes gateways run:\n\n",
    );
    out.push_str(&floor.render());
    out
}
