//! The Python CLI that gatewayctl replaces: `hermes-agent==0.19.0` from PyPI,
//! installed into a throwaway virtualenv in a temp dir (no pip cache), and
//! checked for the s6 code paths the comparison exercises.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cleanup;
use crate::table;
use crate::timing::run_timed;

pub const PACKAGE: &str = "hermes-agent==0.19.0";

/// An installed CLI; the virtualenv goes with the value.
pub struct PythonCli {
    venv: PathBuf,
    /// How the install went, for the report.
    pub summary: String,
    _dir: tempfile::TempDir,
}

impl PythonCli {
    /// The virtualenv, bound into the sandbox at this same path.
    pub fn venv(&self) -> &Path {
        &self.venv
    }

    /// The `hermes` console script, as users run it.
    pub fn hermes(&self) -> PathBuf {
        self.venv.join("bin/hermes")
    }
}

/// Creates the virtualenv and installs the package. The error says exactly
/// which step failed and why.
pub fn install() -> Result<PythonCli, String> {
    let dir = tempfile::Builder::new()
        .prefix("hermes-bench-venv-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    cleanup::register_temp_dir(dir.path());
    let venv = dir.path().join("venv");
    let started = Instant::now();
    step(
        Command::new("/usr/bin/python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv),
        "python3 -m venv",
        Duration::from_secs(120),
    )?;
    step(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--no-input",
                "--no-cache-dir",
                PACKAGE,
            ])
            .env("PIP_NO_CACHE_DIR", "1"),
        &format!("pip install {PACKAGE}"),
        Duration::from_secs(300),
    )?;
    let took = started.elapsed();
    let cli = PythonCli {
        venv,
        summary: String::new(),
        _dir: dir,
    };
    if !cli.hermes().is_file() {
        return Err(format!("{PACKAGE} installed no `hermes` console script"));
    }
    let missing = missing_s6_paths(&cli.venv);
    if !missing.is_empty() {
        return Err(format!(
            "{PACKAGE} lacks the s6 code this comparison drives: {}",
            missing.join(", ")
        ));
    }
    Ok(PythonCli {
        summary: format!(
            "`{PACKAGE}` installed from PyPI into a throwaway virtualenv in {} \
             (Debian's python3); its `hermes` console script is run as users run it.",
            table::time(took)
        ),
        ..cli
    })
}

fn step(cmd: &mut Command, what: &str, limit: Duration) -> Result<(), String> {
    let run = run_timed(cmd, limit, &|c| c.spawn()).map_err(|e| format!("{what}: {e}"))?;
    match run.failure() {
        None => Ok(()),
        Some(why) => {
            let last = run
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            Err(format!("{what} failed ({why}; last line: {})", last.trim()))
        }
    }
}

/// The markers of the code paths measured here, looked up in the installed
/// source: s6 programs run from /command, `stop --all` over s6, and the CMD
/// heartbeat (`execvp("sleep")`, then the `signal.pause()` fallback).
fn missing_s6_paths(venv: &Path) -> Vec<&'static str> {
    let Some(site) = fs::read_dir(venv.join("lib"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path().join("site-packages"))
    else {
        return vec!["site-packages"];
    };
    let read = |f: &str| fs::read_to_string(site.join(f)).unwrap_or_default();
    let manager = read("hermes_cli/service_manager.py");
    let gateway = read("hermes_cli/gateway.py");
    let mut missing = Vec::new();
    if !manager.contains("_S6_BIN_DIR = \"/command\"") {
        missing.push("s6 programs under /command");
    }
    if !gateway.contains("_dispatch_all_via_service_manager_if_s6") {
        missing.push("`gateway stop --all` over s6");
    }
    if !gateway.contains("os.execvp(\"sleep\"") || !gateway.contains("pause()") {
        missing.push("the `sleep` / `signal.pause()` CMD heartbeat");
    }
    missing
}
