//! `make bench`: side-by-side figures for hermes-heartbeat and gatewayctl
//! against what users would pick instead, measured in one run on this
//! machine and printed as markdown tables (with the date and core count).

mod cleanup;
mod container;
mod elf;
mod gatewayctl;
mod heartbeat;
mod pod;
mod process_tree;
mod python_cli;
mod reconcile;
mod s6_builds;
mod sandbox;
mod table;
mod timing;

use std::process::Command;
use std::time::Instant;

fn main() {
    cleanup::install();
    let started = Instant::now();
    // `bench heartbeat gatewayctl s6 reconcile container pod` (default: all) picks sections.
    let picked: Vec<String> = std::env::args().skip(1).collect();
    let wants = |s: &str| picked.is_empty() || picked.iter().any(|p| p == s);
    println!("{}", header());
    if wants("heartbeat") {
        println!("## hermes-heartbeat side by side\n");
        println!("{}", heartbeat::section());
        cleanup::kill_descendants();
    }
    if wants("gatewayctl") || wants("s6") || wants("reconcile") {
        let python = python_cli::install();
        if wants("gatewayctl") {
            println!("## gatewayctl side by side with the Python CLI\n");
            println!("{}", gatewayctl::section(&python));
            cleanup::kill_descendants();
        }
        if wants("s6") {
            println!("## stop --all and restart --all under each s6\n");
            println!("{}", s6_builds::section(&python));
            cleanup::kill_descendants();
        }
        if wants("reconcile") {
            println!("## The boot pass side by side with the Python reconcile\n");
            println!("{}", reconcile::section(&python));
        }
        drop(python);
        cleanup::kill_descendants();
    }
    if wants("container") {
        println!("## The container stop\n");
        println!("{}", container::section());
        cleanup::kill_descendants();
    }
    if wants("pod") {
        println!("## The pod's infra container\n");
        println!("{}", pod::section());
        cleanup::kill_descendants();
    }
    eprintln!("bench: done in {:.0} s", started.elapsed().as_secs_f64());
}

/// Date, core count, CPU and kernel: what the figures were measured on.
fn header() -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    // Other work on the machine skews the times: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "# make bench\n\nMeasured {date} on {cores} cores ({cpu}), Linux {kernel}, \
         load average {load} at the start. \
         Medians over several runs, warm-up runs excluded; ratios are against a \
         baseline measured in the same run.\n"
    )
}
