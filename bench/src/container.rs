//! The container figure: `podman stop -t 10` on the heartbeat image against
//! a `FROM scratch` busybox-static `sleep infinity` image (exit code and
//! seconds), measured with the project's private podman harness, which
//! removes every container, image and temp dir it made (registered with the
//! cleanup hook, so a panic, which aborts without drops, removes them too).

use std::time::Duration;

use hermes_e2e::podman::{Podman, StopOutcome};

use crate::cleanup;
use crate::table::{self, Table};

const GRACE_SECS: u32 = 10;
const WARMUP: usize = 1;
const RUNS: usize = 5;
/// `sleep infinity` containers, stopped all at once: each stop waits out
/// the whole grace period, so runs one after another would cost 10 s each.
const SLEEP_RUNS: usize = 3;

pub fn section() -> String {
    let podman = match Podman::start() {
        Ok(p) => p,
        Err(why) => return format!("No container figure: podman cannot run here: {why}.\n"),
    };
    cleanup::register_podman(&podman);
    let heartbeat = podman.heartbeat_image();
    let sleep = podman.sleep_infinity_image();
    // The heartbeat: a warm-up, then several runs.
    let runs: Vec<StopOutcome> = (0..WARMUP + RUNS)
        .map(|_| podman.measure_stop(&heartbeat, &[], GRACE_SECS))
        .skip(WARMUP)
        .collect();
    let slept = stop_at_once(&podman, &sleep, SLEEP_RUNS);
    drop(podman);

    let times: Vec<Duration> = runs.iter().map(|r| r.elapsed).collect();
    let mut codes: Vec<i32> = runs.iter().map(|r| r.exit_code).collect();
    codes.dedup();
    let codes: Vec<String> = codes.iter().map(i32::to_string).collect();
    let median = table::median(&times).unwrap_or_default();
    let slept_times: Vec<Duration> = slept.iter().map(|r| r.elapsed).collect();
    let slept_median = table::median(&slept_times).unwrap_or_default();
    let mut slept_codes: Vec<i32> = slept.iter().map(|r| r.exit_code).collect();
    slept_codes.dedup();
    let slept_codes: Vec<String> = slept_codes.iter().map(i32::to_string).collect();
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
        table::ratio(median, slept_median),
    ]);
    t.row(vec![
        "`FROM scratch` + busybox-static `sleep infinity`".to_owned(),
        format!(
            "{} (median of {SLEEP_RUNS}, stopped at once)",
            table::time(slept_median)
        ),
        slept_codes.join(", "),
        "1.00x".to_owned(),
    ]);
    format!(
        "Real containers (podman with runc, `FROM scratch` images; time of the \
         `podman stop` command, from a settled container to its return):\n\n{}",
        t.render()
    )
}

/// Starts `runs` containers of `image`, lets each settle, then stops them
/// all at once, one `podman stop` per thread, and returns each stop.
fn stop_at_once(podman: &Podman, image: &str, runs: usize) -> Vec<StopOutcome> {
    let containers: Vec<_> = (0..runs)
        .map(|_| {
            let c = podman.run_detached(image, &[], &[]);
            c.wait_settled();
            c
        })
        .collect();
    std::thread::scope(|scope| {
        let stops: Vec<_> = containers
            .iter()
            .map(|c| scope.spawn(move || c.stop(GRACE_SECS)))
            .collect();
        stops.into_iter().filter_map(|s| s.join().ok()).collect()
    })
}
