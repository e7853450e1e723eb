//! The boot pass side by side: `gatewayctl reconcile` against the Python
//! reference (`python -m`-style `hermes_cli.container_boot.main()` of the
//! installed hermes-agent), over 3, 30 and 100 profiles, each run on a fresh
//! copy of the same persistent volume and an empty scan directory, as at
//! every container start.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hermes_e2e::bins;

use crate::python_cli::PythonCli;
use crate::table::{self, Table};
use crate::timing::{Timed, run_timed};

const SIZES: [usize; 3] = [3, 30, 100];
const WARMUP: usize = 1;
const RUNS: usize = 5;
const LIMIT: Duration = Duration::from_secs(60);

/// A HERMES_HOME with `n` real profiles, every other one recorded running.
fn volume(root: &Path, n: usize) -> std::io::Result<()> {
    fs::create_dir_all(root.join("profiles"))?;
    fs::write(
        root.join("gateway_state.json"),
        r#"{"desired_state":"running"}"#,
    )?;
    for i in 0..n {
        let home = root.join(format!("profiles/p{i:03}"));
        fs::create_dir_all(&home)?;
        fs::write(home.join("SOUL.md"), "a soul\n")?;
        let intent = if i % 2 == 0 { "running" } else { "stopped" };
        fs::write(
            home.join("gateway_state.json"),
            format!(r#"{{"desired_state":"{intent}","gateway_state":"{intent}"}}"#),
        )?;
        fs::write(home.join("gateway.pid"), "1")?;
    }
    Ok(())
}

/// One boot pass by `program args...` on a fresh volume of `n` profiles in
/// `dir`, with its scan directory in `run` (a tmpfs, as `/run` is).
fn once(dir: &Path, run: &Path, n: usize, program: &Path, args: &[&str]) -> Result<Timed, String> {
    let _ = fs::remove_dir_all(dir);
    let _ = fs::remove_dir_all(run);
    let (home, scandir) = (dir.join("home"), run.join("service"));
    volume(&home, n).map_err(|e| format!("volume: {e}"))?;
    fs::create_dir_all(&scandir).map_err(|e| format!("scan directory: {e}"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HERMES_HOME", &home)
        .env("S6_PROFILE_GATEWAY_SCANDIR", &scandir);
    let run = run_timed(&mut cmd, LIMIT, &|c| c.spawn()).map_err(|e| format!("cannot run: {e}"))?;
    if let Some(why) = run.failure() {
        return Err(why);
    }
    let lines = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("reconcile: "))
        .count();
    if lines != n + 1 {
        return Err(format!("exit 0, but {lines} lines for {} slots", n + 1));
    }
    Ok(run)
}

/// Median wall time and peak RSS of the measured runs, or why there is none.
fn measure(
    dir: &Path,
    run: &Path,
    n: usize,
    program: &Path,
    args: &[&str],
) -> Result<(Duration, u64), String> {
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for i in 0..WARMUP + RUNS {
        let run = once(dir, run, n, program, args)?;
        if i >= WARMUP {
            times.push(run.wall);
            rss.push(run.maxrss_kib);
        }
    }
    match (table::median(&times), table::median_u64(&rss)) {
        (Some(t), Some(r)) => Ok((t, r)),
        _ => Err("no runs".to_owned()),
    }
}

pub fn section(py: &Result<PythonCli, String>) -> String {
    let tmpfs = Path::new("/dev/shm");
    let dirs = (
        tempfile::Builder::new()
            .prefix("hermes-bench-boot-")
            .tempdir(),
        tempfile::Builder::new()
            .prefix("hermes-bench-run-")
            .tempdir_in(if tmpfs.is_dir() {
                tmpfs
            } else {
                Path::new("/tmp")
            }),
    );
    let (Ok(dir), Ok(run)) = dirs else {
        return "No temporary directories for the boot pass.\n".to_owned();
    };
    let mut table = Table::new(&[
        "profiles",
        "`gatewayctl reconcile`",
        "Python reconcile",
        "Python / gatewayctl",
        "peak RSS, gatewayctl",
        "peak RSS, Python",
    ]);
    let gatewayctl = bins::gatewayctl();
    for n in SIZES {
        let ours = measure(
            &dir.path().join("ours"),
            &run.path().join("ours"),
            n,
            &gatewayctl,
            &["reconcile"],
        );
        let theirs = match py {
            Ok(cli) => measure(
                &dir.path().join("theirs"),
                &run.path().join("theirs"),
                n,
                &cli.venv().join("bin/python"),
                &[
                    "-c",
                    "import sys; from hermes_cli import container_boot as c; sys.exit(c.main())",
                ],
            ),
            Err(why) => Err(format!("not installed: {why}")),
        };
        let cell = |r: &Result<(Duration, u64), String>| match r {
            Ok((t, _)) => table::time(*t),
            Err(e) => e.clone(),
        };
        let rss = |r: &Result<(Duration, u64), String>| match r {
            Ok((_, k)) => table::kib(*k),
            Err(_) => "—".to_owned(),
        };
        let ratio = match (&ours, &theirs) {
            (Ok((o, _)), Ok((t, _))) => table::ratio(*t, *o),
            _ => "—".to_owned(),
        };
        table.row(vec![
            n.to_string(),
            cell(&ours),
            cell(&theirs),
            ratio,
            rss(&ours),
            rss(&theirs),
        ]);
    }
    format!(
        "Wall time of one boot pass, median of {RUNS} runs after {WARMUP} warm-up, each on a \
         fresh copy of the same volume on disk (every other profile recorded running, \
         stale `gateway.pid` files) and an empty scan directory on a tmpfs (as \
         `/run/service` is in a container); both run directly on this machine, with the \
         same environment.\n\n{}",
        table.render()
    )
}
