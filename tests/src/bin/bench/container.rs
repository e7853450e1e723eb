//! The container figure: `podman stop -t 10` on the heartbeat image against
//! a `FROM scratch` busybox-static `sleep infinity` image (exit code and
//! seconds), measured with the project's private podman harness, which
//! removes every container, image and temp dir it made.

use std::time::Duration;

use hermes_e2e::podman::{Podman, StopOutcome};

use crate::table::{self, Table};

const GRACE_SECS: u32 = 10;
const WARMUP: usize = 1;
const RUNS: usize = 5;

pub fn section() -> String {
    let podman = match Podman::start() {
        Ok(p) => p,
        Err(why) => return format!("No container figure: podman cannot run here: {why}.\n"),
    };
    let heartbeat = podman.heartbeat_image();
    let sleep = podman.sleep_infinity_image();
    // The heartbeat: a warm-up, then several runs.
    let runs: Vec<StopOutcome> = (0..WARMUP + RUNS)
        .map(|_| podman.measure_stop(&heartbeat, &[], GRACE_SECS))
        .skip(WARMUP)
        .collect();
    // `sleep infinity` ignores SIGTERM as PID 1, so each stop waits out the
    // whole grace period: one run shows it.
    let slept = podman.measure_stop(&sleep, &[], GRACE_SECS);
    drop(podman);

    let times: Vec<Duration> = runs.iter().map(|r| r.elapsed).collect();
    let mut codes: Vec<i32> = runs.iter().map(|r| r.exit_code).collect();
    codes.dedup();
    let codes: Vec<String> = codes.iter().map(i32::to_string).collect();
    let median = table::median(&times).unwrap_or_default();
    let mut t = Table::new(&[
        "image (its PID 1)",
        "`podman stop -t 10`",
        "exit code",
        "vs busybox `sleep infinity`",
    ]);
    t.row(vec![
        "heartbeat image (`hermes-heartbeat`)".to_owned(),
        format!("{} (median of {RUNS})", table::time(median)),
        codes.join(", "),
        table::ratio(median, slept.elapsed),
    ]);
    t.row(vec![
        "`FROM scratch` + busybox-static `sleep infinity`".to_owned(),
        format!("{} (one run)", table::time(slept.elapsed)),
        slept.exit_code.to_string(),
        "1.00x".to_owned(),
    ]);
    format!(
        "Real containers (podman with runc, `FROM scratch` images; time of the \
         `podman stop` command, from a settled container to its return):\n\n{}",
        t.render()
    )
}
