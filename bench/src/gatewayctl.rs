//! gatewayctl side by side with the Python CLI it replaces, both run in the
//! same simulated container with the same environment: `stop --all` and
//! status over 3, 30 and 100 gateways (wall time and peak RSS), `stop --all
//! --wait` over gateways that take 1 s to exit, and what stays resident as
//! the container's CMD after `run`.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hermes_e2e::proc;

use crate::cleanup::{self, kill_tree};
use crate::process_tree;
use crate::python_cli::PythonCli;
use crate::sandbox::{self, Gateway, Sandbox};
use crate::table::{self, Table};
use crate::timing::{PidFd, Timed, run_timed};

const SIZES: [usize; 3] = [3, 30, 100];
pub(crate) const WARMUP: usize = 1;
pub(crate) const RUNS: usize = 5;
const WAIT_RUNS: usize = 3;
const SLOW_GATEWAYS: usize = 10;
const CLI_LIMIT: Duration = Duration::from_secs(60);
/// How long gateways may take to come up or go down around a measured run.
pub(crate) const SETTLE: Duration = Duration::from_secs(10);
const GATEWAYCTL: &str = "/usr/bin/gatewayctl";

pub(crate) type Python<'a> = &'a Result<PythonCli, String>;

/// A measured command over several runs.
#[derive(Default)]
pub(crate) struct Sample {
    times: Vec<Duration>,
    rss: Vec<u64>,
    /// Why it has no figure (the first failed run).
    err: Option<String>,
    /// Something the runs showed that the figure alone does not.
    note: Option<String>,
}

impl Sample {
    /// A sample with no figure, for `why`.
    pub(crate) fn failed(why: String) -> Sample {
        Sample {
            err: Some(why),
            ..Sample::default()
        }
    }

    pub(crate) fn median(&self) -> Option<Duration> {
        table::median(&self.times)
    }

    pub(crate) fn time_cell(&self) -> String {
        match (&self.err, self.median()) {
            (Some(e), _) => e.clone(),
            (None, Some(m)) => table::time(m),
            (None, None) => "no runs".to_owned(),
        }
    }

    pub(crate) fn rss_cell(&self) -> String {
        match (&self.err, table::median_u64(&self.rss)) {
            (Some(_), _) | (_, None) => "—".to_owned(),
            (None, Some(k)) => table::kib(k),
        }
    }
}

/// Runs `once` for the warm-up and measured runs; stops at the first failure.
pub(crate) fn measure(runs: usize, mut once: impl FnMut(usize) -> Result<Timed, String>) -> Sample {
    let mut s = Sample::default();
    for i in 0..WARMUP + runs {
        match once(i) {
            Ok(t) if i >= WARMUP => {
                s.times.push(t.wall);
                s.rss.push(t.maxrss_kib);
            }
            Ok(_) => {}
            Err(e) => {
                s.err = Some(e);
                break;
            }
        }
    }
    s
}

/// The same environment for both CLIs: an ordinary PATH, the Hermes home.
pub(crate) fn cli_env(cmd: &mut Command, hermes_home: &str) {
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HERMES_HOME", hermes_home)
        .env("HOME", "/tmp");
}

pub(crate) fn ours(args: &[&str]) -> Command {
    let mut cmd = Command::new(GATEWAYCTL);
    cmd.args(args);
    cli_env(&mut cmd, "/opt/data");
    cmd
}

pub(crate) fn python(cli: &PythonCli, args: &[&str], hermes_home: &str) -> Command {
    let mut cmd = Command::new(cli.hermes());
    cmd.args(args);
    cli_env(&mut cmd, hermes_home);
    cmd
}

pub(crate) fn run_in(sb: &Sandbox, cmd: &mut Command) -> Result<Timed, String> {
    let run =
        run_timed(cmd, CLI_LIMIT, &|c| sb.spawn(c)).map_err(|e| format!("cannot run: {e}"))?;
    match run.failure() {
        None => Ok(run),
        Some(why) => Err(why),
    }
}

/// One `stop --all`: every gateway up first, then the stop, then a check
/// that every gateway really went down.
pub(crate) fn stop_all_once(sb: &Sandbox, mut cmd: Command) -> Result<Timed, String> {
    sb.control_all("u")?;
    sb.wait_all('u', SETTLE)?;
    let run = run_in(sb, &mut cmd)?;
    sb.wait_all('D', Duration::from_secs(5))
        .map_err(|e| format!("exit 0, but {e}"))?;
    Ok(run)
}

/// The floor under any `stop --all` built on s6-svc: one bare `s6-svc -d`
/// per gateway, all at once, from a loop in the sandbox's static busybox sh.
pub(crate) fn bare_svc_down() -> Command {
    let mut cmd = Command::new("/usr/bin/busybox");
    cmd.args([
        "sh",
        "-c",
        "for d in /run/service/gateway-*; do /command/s6-svc -d \"$d\" & done; wait",
    ]);
    cli_env(&mut cmd, "/opt/data");
    cmd
}

/// Checks that a stop left a planned-stop marker in every profile home (the
/// heartbeats that stand in for the gateways never consume it), and removes
/// them for the next run.
pub(crate) fn take_markers(sb: &Sandbox) -> Result<(), String> {
    for p in sb.gateways() {
        let marker = sb.host_path(&format!(
            "{}/.gateway-planned-stop.json",
            sandbox::profile_home(p)
        ));
        fs::remove_file(&marker)
            .map_err(|e| format!("exit 0, but no planned-stop marker for {p}: {e}"))?;
    }
    Ok(())
}

pub(crate) fn names(n: usize) -> Vec<(String, Gateway)> {
    (1..=n)
        .map(|i| (format!("g{i:03}"), Gateway::Hermes))
        .collect()
}

/// Runs the whole comparison and returns its markdown.
pub fn section(py: Python<'_>) -> String {
    let mut out = String::new();
    match py {
        Ok(cli) => out.push_str(&format!("{}\n\n", cli.summary)),
        Err(why) => out.push_str(&format!("The Python CLI could not be installed: {why}\n\n")),
    }
    out.push_str(&scaling(py));
    out.push('\n');
    out.push_str(&wait_all());
    out.push('\n');
    out.push_str(&resident(py));
    out
}

fn scaling(py: Python<'_>) -> String {
    let mut times = Table::new(&[
        "gateways",
        "`gatewayctl stop --all`",
        "`hermes gateway stop --all`",
        "Python / gatewayctl",
        "`gatewayctl status --all`",
        "`hermes gateway status`, one profile",
        "Python, every profile (N × one)",
        "Python / gatewayctl",
    ]);
    let mut rss = Table::new(&[
        "gateways",
        "`gatewayctl stop --all`",
        "`hermes gateway stop --all`",
        "`gatewayctl status --all`",
        "`hermes gateway status`",
    ]);
    let mut floor = Table::new(&[
        "gateways",
        "bare `s6-svc -d` on every gateway at once (`sh` loop)",
        "`gatewayctl stop --all`, no `gateway.pid` (s6-svc only)",
        "gatewayctl / bare s6-svc",
        "`gatewayctl stop --all`, with `gateway.pid` (marker, s6-svc)",
    ]);
    let mut notes: Vec<String> = Vec::new();
    for n in SIZES {
        let venv = py.as_ref().ok().map(PythonCli::venv);
        let sb = match Sandbox::start(&names(n), venv) {
            Ok(sb) => sb,
            Err(e) => {
                times.row(vec![n.to_string(), format!("container failed: {e}")]);
                continue;
            }
        };
        let our_stop = measure(RUNS, |_| {
            let run = stop_all_once(&sb, ours(&["stop", "--all"]))?;
            take_markers(&sb)?;
            Ok(run)
        });
        let bare_stop = measure(RUNS, |_| stop_all_once(&sb, bare_svc_down()));
        let our_plain_stop = match sb.set_pid_files(false) {
            Ok(()) => measure(RUNS, |_| stop_all_once(&sb, ours(&["stop", "--all"]))),
            Err(e) => Sample {
                err: Some(format!("cannot turn gateway.pid off: {e}")),
                ..Sample::default()
            },
        };
        // The Python CLI's stop writes its marker whether or not gateway.pid
        // exists, so its figures stand either way; only say so.
        if let Err(e) = sb.set_pid_files(true) {
            notes.push(format!(
                "gateway.pid could not be turned back on for {n} gateways: {e}"
            ));
        }
        let py_stop = match py {
            Ok(cli) => measure(RUNS, |_| {
                stop_all_once(&sb, python(cli, &["gateway", "stop", "--all"], "/opt/data"))
            }),
            Err(_) => unavailable(),
        };
        let _ = sb.control_all("u").and_then(|()| sb.wait_all('u', SETTLE));
        let our_status = measure(RUNS, |_| {
            let run = run_in(&sb, &mut ours(&["status", "--all"]))?;
            let lines = run.stdout.lines().filter(|l| !l.trim().is_empty()).count();
            if lines < n {
                return Err(format!("exit 0, but {lines} status lines for {n} gateways"));
            }
            Ok(run)
        });
        let mut py_status = match py {
            Ok(cli) => {
                let mut said_not_running = false;
                let mut s = measure(RUNS, |i| {
                    let profile = &sb.gateways()[i % n];
                    let home = format!("/opt/data/profiles/{profile}");
                    let run = run_in(&sb, &mut python(cli, &["gateway", "status"], &home))?;
                    said_not_running |=
                        run.stdout.contains("not running") && sb.svstat(profile).starts_with("up");
                    Ok(run)
                });
                if said_not_running {
                    s.note = Some(
                        "`hermes gateway status` (0.19.0) does not read s6: it printed \
                         `✗ Gateway is not running` for gateways that s6-svstat reports up."
                            .to_owned(),
                    );
                }
                s
            }
            Err(_) => unavailable(),
        };
        if let Some(note) = py_status.note.take() {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        let ratio = |p: Option<Duration>, o: Option<Duration>| match (p, o) {
            (Some(p), Some(o)) => table::ratio(p, o),
            _ => "—".to_owned(),
        };
        let py_all = py_status.median().map(|m| m * n as u32);
        times.row(vec![
            n.to_string(),
            our_stop.time_cell(),
            py_stop.time_cell(),
            ratio(py_stop.median(), our_stop.median()),
            our_status.time_cell(),
            py_status.time_cell(),
            py_all.map(table::time).unwrap_or_else(|| "—".to_owned()),
            ratio(py_all, our_status.median()),
        ]);
        floor.row(vec![
            n.to_string(),
            bare_stop.time_cell(),
            our_plain_stop.time_cell(),
            ratio(our_plain_stop.median(), bare_stop.median()),
            our_stop.time_cell(),
        ]);
        rss.row(vec![
            n.to_string(),
            our_stop.rss_cell(),
            py_stop.rss_cell(),
            our_status.rss_cell(),
            py_status.rss_cell(),
        ]);
        drop(sb);
        cleanup::kill_descendants();
    }
    let mut out = format!(
        "Wall time, median of {RUNS} runs after {WARMUP} warm-up, every gateway up before \
         each `stop`; both CLIs started the same way inside the container (no `nsenter` \
         counted). Each gateway records its pid in its profile's `gateway.pid`, as a Hermes \
         gateway does, and both CLIs write a planned-stop marker before `s6-svc -d` (the \
         Python CLI takes the pid from `s6-svstat`, gatewayctl from that file). The \
         Python CLI has no status for all profiles, so its per-profile `status` (with \
         `HERMES_HOME=<root>/profiles/<name>`) is timed and multiplied by N.\n\n"
    );
    out.push_str(&times.render());
    out.push_str("\nPeak RSS of each CLI (largest process of its tree, median of the runs):\n\n");
    out.push_str(&rss.render());
    out.push_str(
        "\nThe floor under `stop --all`: s6-svc itself (Debian's, dynamically linked), \
         run once per gateway, all at once, with no gatewayctl around it, next to \
         `gatewayctl stop --all` over the same gateways once they no longer write \
         `gateway.pid` (s6-svc alone, no marker) and as above (same container):\n\n",
    );
    out.push_str(&floor.render());
    for note in notes {
        out.push_str(&format!("\nNote: {note}\n"));
    }
    out
}

pub(crate) fn unavailable() -> Sample {
    Sample {
        err: Some("not run (no Python CLI, see above)".to_owned()),
        ..Sample::default()
    }
}

/// `stop --all --wait` over gateways that each take 1 s to exit, against
/// single `stop --wait`s of the same gateways.
fn wait_all() -> String {
    let gateways: Vec<(String, Gateway)> = (1..=SLOW_GATEWAYS)
        .map(|i| (format!("slow{i:02}"), Gateway::SlowExit))
        .collect();
    let mut t = Table::new(&[
        "10 gateways that take 1 s to exit after SIGTERM",
        "wall time",
    ]);
    let sb = match Sandbox::start(&gateways, None) {
        Ok(sb) => sb,
        Err(e) => return format!("`stop --all --wait`: the container failed: {e}\n"),
    };
    let all = measure(WAIT_RUNS, |_| {
        stop_all_once(&sb, ours(&["stop", "--all", "--wait"]))
    });
    let _ = sb.control_all("u").and_then(|()| sb.wait_all('u', SETTLE));
    // A warm-up single stop, not counted, and that gateway back up.
    let first = &gateways[0].0;
    let _ = run_in(&sb, &mut ours(&["stop", first, "--wait"]))
        .and_then(|_| sb.control(first, "u"))
        .and_then(|()| sb.wait_one(first, 'u', SETTLE));
    let mut singles = Sample::default();
    for (profile, _) in &gateways {
        let run = run_in(&sb, &mut ours(&["stop", profile, "--wait"])).and_then(|run| {
            sb.wait_one(profile, 'D', Duration::from_millis(200))
                .map_err(|e| format!("exit 0, but {e}"))?;
            Ok(run)
        });
        match run {
            Ok(run) => singles.times.push(run.wall),
            Err(e) => {
                singles.err = Some(e);
                break;
            }
        }
    }
    drop(sb);
    cleanup::kill_descendants();
    let sum: Option<Duration> = singles.err.is_none().then(|| singles.times.iter().sum());
    t.row(vec![
        format!("`gatewayctl stop --all --wait` (median of {WAIT_RUNS})"),
        all.time_cell(),
    ]);
    t.row(vec![
        format!(
            "`gatewayctl stop NAME --wait`, one gateway (median of {SLOW_GATEWAYS}, after \
             {WARMUP} warm-up)"
        ),
        singles.time_cell(),
    ]);
    t.row(vec![
        format!("sum of the {SLOW_GATEWAYS} single stops"),
        sum.map(table::time).unwrap_or_else(|| "—".to_owned()),
    ]);
    let ratio = |b: Option<Duration>| match (all.median(), b) {
        (Some(a), Some(b)) if all.err.is_none() => table::ratio(a, b),
        _ => "—".to_owned(),
    };
    t.row(vec![
        "`--all --wait` / one gateway's stop".to_owned(),
        ratio(singles.median()),
    ]);
    t.row(vec![
        "`--all --wait` / sum of the single stops".to_owned(),
        ratio(sum),
    ]);
    format!(
        "`stop --all --wait`: each gateway's run script traps SIGTERM, waits 1 s, then \
         exits; the stop returns once s6 reports every gateway really down. (The Python \
         CLI has no `--wait`.)\n\n{}",
        t.render()
    )
}

/// One way of running the container's CMD.
struct RunCase {
    label: &'static str,
    python: bool,
    program: &'static str,
    sleep_present: bool,
    path: &'static str,
}

const RUN_CASES: [RunCase; 4] = [
    RunCase {
        label: "`gatewayctl run`, empty PATH (heartbeat beside gatewayctl)",
        python: false,
        program: GATEWAYCTL,
        sleep_present: false,
        path: "",
    },
    RunCase {
        label: "`gatewayctl run`, no heartbeat anywhere (in-process hold)",
        python: false,
        program: "/opt/ctl/gatewayctl",
        sleep_present: false,
        path: "",
    },
    RunCase {
        label: "`hermes gateway run`, `sleep` on PATH",
        python: true,
        program: "",
        sleep_present: true,
        path: "/usr/bin:/bin",
    },
    RunCase {
        label: "`hermes gateway run`, no `sleep` (in-process fallback)",
        python: true,
        program: "",
        sleep_present: false,
        path: "/usr/bin:/bin",
    },
];

/// What stays resident as the container's CMD after `run`.
fn resident(py: Python<'_>) -> String {
    let mut t = Table::new(&[
        "container CMD",
        "the CMD process afterwards",
        "RSS",
        "PSS",
        "`gateway-default` afterwards",
        "SIGTERM to the CMD",
    ]);
    let gateways = vec![("default".to_owned(), Gateway::Idle)];
    let venv = py.as_ref().ok().map(PythonCli::venv);
    let sb = match Sandbox::start(&gateways, venv) {
        Ok(sb) => sb,
        Err(e) => return format!("Resident after `run`: the container failed: {e}\n"),
    };
    for case in &RUN_CASES {
        let row = match (case.python, py) {
            (true, Err(_)) => Err("not run (no Python CLI, see above)".to_owned()),
            (true, Ok(cli)) => {
                let mut cmd = python(cli, &["gateway", "run"], "/opt/data");
                cmd.env("PATH", case.path);
                run_case(&sb, case, cmd)
            }
            (false, _) => {
                let mut cmd = Command::new(case.program);
                cmd.arg("run")
                    .env_clear()
                    .env("PATH", case.path)
                    .env("HERMES_HOME", "/opt/data");
                run_case(&sb, case, cmd)
            }
        };
        let mut cells = vec![case.label.to_owned()];
        match row {
            Ok(mut c) => cells.append(&mut c),
            Err(e) => cells.push(e),
        }
        t.row(cells);
    }
    drop(sb);
    cleanup::kill_descendants();
    format!(
        "Resident memory of the CMD process once `run` has handed the gateway to s6 \
         (inside the container, `gateway-default` down before each start):\n\n{}",
        t.render()
    )
}

/// Starts the CMD, waits until it is asleep, reads it, then stops it with
/// SIGTERM. The cells after the label.
fn run_case(sb: &Sandbox, case: &RunCase, mut cmd: Command) -> Result<Vec<String>, String> {
    sb.control("default", "d")?;
    sb.wait_one("default", 'D', SETTLE)?;
    sb.set_sleep(case.sleep_present)
        .map_err(|e| format!("placing `sleep`: {e}"))?;
    let mut err = tempfile::tempfile().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err.try_clone().map_err(|e| e.to_string())?));
    let start = Instant::now();
    let mut child = sb
        .spawn(&mut cmd)
        .map_err(|e| format!("cannot start: {e}"))?;
    let pid = child.id() as i32;
    let settled = process_tree::asleep_after(
        pid,
        None,
        start,
        Duration::from_millis(300),
        Duration::from_secs(30),
    );
    let stderr = {
        use std::io::{Read, Seek};
        let mut s = String::new();
        let _ = err.rewind().and_then(|()| err.read_to_string(&mut s));
        s
    };
    if settled.is_none() {
        let why = match child.try_wait() {
            Ok(Some(status)) => format!(
                "the CMD exited ({}): {}",
                proc::shell_code(status),
                stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output")
                    .trim()
            ),
            _ => "the CMD never settled".to_owned(),
        };
        kill_tree(child);
        return Err(why);
    }
    let what = process_tree::comm_state(pid)
        .map(|(c, _)| c)
        .unwrap_or_default();
    let what = match what.as_str() {
        "hermes-heartbea" => "`hermes-heartbeat` (exec'd)".to_owned(),
        "gatewayctl" => "`gatewayctl` holding in-process".to_owned(),
        "sleep" => "`sleep` (exec'd)".to_owned(),
        "python3" | "hermes" => "the whole Python CLI, holding in-process".to_owned(),
        other => format!("`{other}`"),
    };
    let rss = table::kib(process_tree::rollup_kib(&[pid], "Rss:"));
    let pss = table::kib(process_tree::rollup_kib(&[pid], "Pss:"));
    let gateway = sb.svstat("default");
    let gateway = gateway.split(' ').next().unwrap_or("").to_owned();
    let pidfd = PidFd::open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let t0 = Instant::now();
    proc::send_signal(pid, libc::SIGTERM);
    let term = if pidfd.wait(Duration::from_secs(5)) {
        let took = t0.elapsed();
        match child.wait() {
            Ok(status) if status.signal().is_some() => format!(
                "killed by the signal ({}) in {}",
                proc::shell_code(status),
                table::time(took)
            ),
            Ok(status) => format!("exit {} in {}", proc::shell_code(status), table::time(took)),
            Err(e) => format!("wait: {e}"),
        }
    } else {
        kill_tree(child);
        "ignored (5 s)".to_owned()
    };
    Ok(vec![what, rss, pss, gateway, term])
}
