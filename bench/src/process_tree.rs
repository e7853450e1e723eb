//! Readings of a whole process tree from /proc: its members, their names and
//! states, proportional and resident memory, context switches, and the wait
//! until the tree is asleep.

use std::fs;
use std::time::{Duration, Instant};

use hermes_e2e::proc;

/// `root` and every descendant, root first. Uses the kernel's
/// `/proc/PID/task/PID/children` list, which is cheap enough to poll.
pub fn members(root: i32) -> Vec<i32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let pid = out[i];
        if let Ok(list) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
        i += 1;
    }
    out
}

/// The command name (comm) and one-letter state of `pid`.
pub fn comm_state(pid: i32) -> Option<(String, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let state = stat.get(close + 2..)?.chars().next()?;
    Some((comm, state))
}

/// Sum of one `smaps_rollup` field (`Pss:`, `Rss:`) over `pids`, in KiB.
pub fn rollup_kib(pids: &[i32], field: &str) -> u64 {
    pids.iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .flat_map(|text| {
            text.lines()
                .filter(|l| l.starts_with(field))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Voluntary plus involuntary context switches, summed over `pids`.
pub fn context_switches(pids: &[i32]) -> u64 {
    pids.iter().map(|&pid| proc::context_switches(pid)).sum()
}

/// How long after `start` the tree under `root` fell asleep for good.
///
/// Method: poll /proc as fast as one core allows (a few µs per round, while
/// the tree runs on the other core). The tree counts as asleep when it has
/// exactly the processes named in `expect` (so every exec has happened; with
/// `None`, any single process) and each is in state S; it must then stay so, with its context-switch count
/// unchanged, for `quiet`. The result is the first poll of that quiet
/// stretch (an upper bound, off by at most one poll). `None` when that does
/// not happen within `limit`.
pub fn asleep_after(
    root: i32,
    expect: Option<&[&str]>,
    start: Instant,
    quiet: Duration,
    limit: Duration,
) -> Option<Duration> {
    let mut since: Option<(Instant, u64)> = None;
    loop {
        let now = Instant::now();
        if now.duration_since(start) > limit {
            return None;
        }
        let pids = members(root);
        let want_len = expect.map_or(1, <[&str]>::len);
        let asleep = pids.len() == want_len && {
            let mut names: Vec<String> = Vec::with_capacity(pids.len());
            let mut all_s = true;
            for &pid in &pids {
                match comm_state(pid) {
                    Some((comm, state)) => {
                        all_s &= state == 'S';
                        names.push(comm);
                    }
                    None => all_s = false,
                }
            }
            names.sort_unstable();
            let mut want: Vec<&str> = expect.map(<[&str]>::to_vec).unwrap_or_default();
            want.sort_unstable();
            all_s && (expect.is_none() || names == want)
        };
        if !asleep {
            since = None;
            continue;
        }
        let switches = context_switches(&pids);
        match since {
            Some((t, s)) if s == switches => {
                if now.duration_since(t) >= quiet {
                    return Some(t.duration_since(start));
                }
            }
            _ => since = Some((now, switches)),
        }
    }
}
