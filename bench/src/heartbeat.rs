//! The heartbeat side by side with what users run instead (`sleep infinity`,
//! tini, catatonit, dumb-init, the Python `signal.pause()` fallback): size,
//! idle memory and wake-ups, spawn-to-asleep time, how SIGTERM ends each as
//! a plain child and as PID 1 of a new PID namespace, and orphan reaping.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hermes_e2e::ns::{NsOptions, PidNs};
use hermes_e2e::{bins, proc};

use crate::cleanup::{self, kill_tree};
use crate::table::{self, Table};
use crate::timing::{self, PidFd};
use crate::{elf, process_tree};

/// The Python fallback the heartbeat replaces, as the CLI wrote it.
const PYTHON_FALLBACK: &str = "import signal, sys\n\
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))\n\
while True:\n    signal.pause()\n";

/// Makes 50 orphans: a shell backgrounds 50 short sleeps and exits at once.
const MAKE_ORPHANS: &str = "i=0; while [ $i -lt 50 ]; do /bin/sleep 0.5 & i=$((i+1)); done; exit 0";

const WARMUP: usize = 3;
const RUNS: usize = 15;
const TERM_RUNS: usize = 15;
/// How long a SIGTERM may go unanswered before it counts as ignored.
const TERM_LIMIT: Duration = Duration::from_secs(2);
const IDLE: Duration = Duration::from_secs(2);
/// How long a tree must stay asleep, untouched, to count as asleep.
const QUIET: Duration = Duration::from_millis(50);
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

struct Candidate {
    label: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// The command names of the whole tree once it is asleep.
    tree: &'static [&'static str],
}

impl Candidate {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    fn spawn(&self) -> Result<Child, String> {
        self.command()
            .spawn()
            .map_err(|e| format!("cannot start: {e}"))
    }

    /// Spawns and waits until the tree is asleep.
    fn spawn_asleep(&self, quiet: Duration) -> Result<Child, String> {
        let start = Instant::now();
        let child = self.spawn()?;
        match process_tree::asleep_after(
            child.id() as i32,
            Some(self.tree),
            start,
            quiet,
            SETTLE_LIMIT,
        ) {
            Some(_) => Ok(child),
            None => {
                kill_tree(child);
                Err("never fell asleep".to_owned())
            }
        }
    }
}

fn candidates() -> Vec<Candidate> {
    let infinity = || vec!["infinity".to_owned()];
    vec![
        Candidate {
            label: "`hermes-heartbeat`",
            program: bins::heartbeat(),
            args: vec![],
            tree: &["hermes-heartbea"],
        },
        Candidate {
            label: "`sleep infinity`",
            program: "/usr/bin/sleep".into(),
            args: infinity(),
            tree: &["sleep"],
        },
        Candidate {
            label: "`tini-static -- sleep infinity`",
            program: "/usr/bin/tini-static".into(),
            args: ["--", "/usr/bin/sleep", "infinity"]
                .map(str::to_owned)
                .to_vec(),
            tree: &["tini-static", "sleep"],
        },
        Candidate {
            label: "`catatonit -P`",
            program: "/usr/bin/catatonit".into(),
            args: vec!["-P".to_owned()],
            tree: &["catatonit"],
        },
        Candidate {
            label: "`dumb-init sleep infinity`",
            program: "/usr/bin/dumb-init".into(),
            args: ["/usr/bin/sleep", "infinity"].map(str::to_owned).to_vec(),
            tree: &["dumb-init", "sleep"],
        },
        Candidate {
            label: "Python `signal.pause()` fallback",
            program: "/usr/bin/python3".into(),
            args: vec!["-c".to_owned(), PYTHON_FALLBACK.to_owned()],
            tree: &["python3"],
        },
    ]
}

/// How SIGTERM ended a process.
struct TermResult {
    /// Exit code (shell style) and whether it was a signal death; `None`
    /// when it ignored SIGTERM for `TERM_LIMIT`.
    code: Option<(i32, bool)>,
    took: Duration,
}

/// Everything measured for one candidate.
#[derive(Default)]
struct Figures {
    asleep: Vec<Duration>,
    asleep_err: Option<String>,
    idle: Option<Result<(u64, u64, u64), String>>,
    term_child: Vec<TermResult>,
    term_child_err: Option<String>,
    term_pid1: Vec<TermResult>,
    term_pid1_err: Option<String>,
    orphans: Option<Result<(usize, usize), String>>,
}

/// Runs the side-by-side and returns its markdown.
pub fn section() -> String {
    let cands = candidates();
    let mut figs: Vec<Figures> = cands.iter().map(|_| Figures::default()).collect();

    // Spawn-to-asleep, round robin so drift hits every candidate alike.
    for run in 0..WARMUP + RUNS {
        for (c, f) in cands.iter().zip(figs.iter_mut()) {
            if f.asleep_err.is_some() {
                continue;
            }
            match spawn_to_asleep(c) {
                Ok(d) if run >= WARMUP => f.asleep.push(d),
                Ok(_) => {}
                Err(e) => f.asleep_err = Some(e),
            }
        }
    }
    for (c, f) in cands.iter().zip(figs.iter_mut()) {
        f.idle = Some(idle(c));
        match term_runs(|| term_plain(c)) {
            Ok(v) => f.term_child = v,
            Err(e) => f.term_child_err = Some(e),
        }
        match term_runs(|| term_pid1(c)) {
            Ok(v) => f.term_pid1 = v,
            Err(e) => f.term_pid1_err = Some(e),
        }
        f.orphans = Some(orphans(c));
        cleanup::kill_descendants();
    }
    format!("{}\n{}", method(), render(&cands, &figs))
}

/// How each figure is taken, printed above the tables.
fn method() -> String {
    format!(
        "Each program runs alone, started directly by the bench (no shell). \
         *Spawn-to-asleep*: from just before the spawn until every process of the tree \
         (e.g. tini and its `sleep`) has exec'd its program and is in state S, and stays \
         so with an unchanged context-switch count for {quiet} ms; /proc is polled \
         back-to-back from the other core, so the figure is exact to one poll (a few µs); \
         median of {RUNS} runs after {WARMUP} warm-ups, the programs taken in turn. \
         *PSS/RSS*: `/proc/PID/smaps_rollup` summed over the tree after {idle} s idle, \
         during which the context switches (voluntary + involuntary, whole tree) are \
         counted. *SIGTERM*: time from `kill()` to the exit (a pidfd wakes the bench), \
         median of {TERM_RUNS} runs after a warm-up; as PID 1 the program runs under \
         `unshare --pid --fork` and the signal comes from outside the namespace; \
         \"ignored\" means no exit within {limit} s. *Orphans*: inside the namespace a \
         shell backgrounds 50 `sleep 0.5` and exits; once they have all died, the bench \
         counts how many PID 1 reaped (the rest stay zombies).\n",
        quiet = QUIET.as_millis(),
        idle = IDLE.as_secs(),
        limit = TERM_LIMIT.as_secs(),
    )
}

fn spawn_to_asleep(c: &Candidate) -> Result<Duration, String> {
    let start = Instant::now();
    let child = c.spawn()?;
    let took =
        process_tree::asleep_after(child.id() as i32, Some(c.tree), start, QUIET, SETTLE_LIMIT);
    kill_tree(child);
    took.ok_or_else(|| "never fell asleep".to_owned())
}

/// PSS and RSS of the whole tree after `IDLE`, and its context switches
/// during it: (pss KiB, rss KiB, switches).
fn idle(c: &Candidate) -> Result<(u64, u64, u64), String> {
    let child = c.spawn_asleep(QUIET)?;
    let pids = process_tree::members(child.id() as i32);
    let before = process_tree::context_switches(&pids);
    sleep(IDLE);
    let after = process_tree::context_switches(&pids);
    let pss = process_tree::rollup_kib(&pids, "Pss:");
    let rss = process_tree::rollup_kib(&pids, "Rss:");
    kill_tree(child);
    Ok((pss, rss, after.saturating_sub(before)))
}

/// One warm-up plus `TERM_RUNS` measured runs; a candidate that ignores
/// SIGTERM is measured once (waiting the full limit again shows nothing new).
fn term_runs(
    mut one: impl FnMut() -> Result<TermResult, String>,
) -> Result<Vec<TermResult>, String> {
    let first = one()?;
    if first.code.is_none() {
        return Ok(vec![first]);
    }
    (0..TERM_RUNS).map(|_| one()).collect()
}

fn term_plain(c: &Candidate) -> Result<TermResult, String> {
    let mut child = c.spawn_asleep(Duration::from_millis(20))?;
    let pid = child.id() as i32;
    let pidfd = PidFd::open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    let start = Instant::now();
    proc::send_signal(pid, libc::SIGTERM);
    let exited = pidfd.wait(TERM_LIMIT);
    let took = start.elapsed();
    if !exited {
        kill_tree(child);
        return Ok(TermResult { code: None, took });
    }
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    use std::os::unix::process::ExitStatusExt;
    let code = Some((proc::shell_code(status), status.signal().is_some()));
    // A child of tini or dumb-init may outlive it for a moment: sweep.
    cleanup::kill_descendants();
    Ok(TermResult { code, took })
}

fn term_pid1(c: &Candidate) -> Result<TermResult, String> {
    let mut ns = start_ns(c)?;
    let pidfd = PidFd::open(ns.pid1()).map_err(|e| format!("pidfd_open: {e}"))?;
    let start = Instant::now();
    ns.signal_pid1(libc::SIGTERM);
    let exited = pidfd.wait(TERM_LIMIT);
    let took = start.elapsed();
    if !exited {
        return Ok(TermResult { code: None, took });
    }
    let code = ns.exit_code(Duration::from_secs(5));
    Ok(TermResult {
        code: Some((code, false)),
        took,
    })
}

/// The candidate as PID 1 of a new PID namespace, asleep.
fn start_ns(c: &Candidate) -> Result<PidNs, String> {
    let mut cmd = PidNs::command(&c.program, &c.args, NsOptions::default());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let ns = PidNs::spawn(&mut cmd);
    let quiet = Duration::from_millis(20);
    match process_tree::asleep_after(ns.pid1(), Some(c.tree), Instant::now(), quiet, SETTLE_LIMIT) {
        Some(_) => Ok(ns),
        None => Err("never fell asleep as PID 1".to_owned()),
    }
}

/// Of the orphans made inside the namespace, how many PID 1 reaped:
/// (orphans seen, reaped).
fn orphans(c: &Candidate) -> Result<(usize, usize), String> {
    let ns = start_ns(c)?;
    let pid1 = ns.pid1();
    let own = process_tree::members(pid1);
    let mut sh = ns.enter(false);
    sh.args(["/bin/sh", "-c", MAKE_ORPHANS]);
    let made = timing::run_timed(&mut sh, Duration::from_secs(10), &|cmd| cmd.spawn())
        .map_err(|e| format!("nsenter: {e}"))?;
    if let Some(why) = made.failure() {
        return Err(format!("making orphans failed: {why}"));
    }
    let orphans = || -> Vec<i32> {
        proc::children(pid1)
            .into_iter()
            .filter(|p| !own.contains(p))
            .collect()
    };
    let seen = orphans().len();
    // Every orphan exits after 0.5 s; then allow PID 1 a moment to reap.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && orphans()
            .iter()
            .any(|&p| process_tree::comm_state(p).is_some_and(|(_, s)| s != 'Z'))
    {
        sleep(Duration::from_millis(10));
    }
    let grace = Instant::now() + Duration::from_millis(500);
    while Instant::now() < grace && !orphans().is_empty() {
        sleep(Duration::from_millis(10));
    }
    let zombies = orphans().len();
    drop(ns);
    Ok((seen, seen.saturating_sub(zombies)))
}

fn render(cands: &[Candidate], figs: &[Figures]) -> String {
    let base = cands
        .iter()
        .zip(figs)
        .find(|(c, _)| c.label == "`sleep infinity`")
        .map(|(_, f)| f);
    let base_asleep = base.and_then(|f| table::median(&f.asleep));
    let base_term = base.and_then(|f| term_median(&f.term_child));

    let mut out = String::new();
    let mut a = Table::new(&[
        "program",
        "binary",
        "static",
        "PSS, whole tree, idle",
        "RSS, whole tree, idle",
        "context switches in 2 s idle",
        "spawn-to-asleep (median)",
        "vs `sleep infinity`",
    ]);
    for (c, f) in cands.iter().zip(figs) {
        let (size, is_static) = match elf::inspect(&c.program) {
            Some((_, size, s)) => (table::bytes(size), if s { "yes" } else { "no" }),
            None => ("missing".to_owned(), "?"),
        };
        let (pss, rss, cs) = match &f.idle {
            Some(Ok((p, r, s))) => (table::kib(*p), table::kib(*r), s.to_string()),
            Some(Err(e)) => (e.clone(), e.clone(), e.clone()),
            None => Default::default(),
        };
        let (asleep, vs) = match (&f.asleep_err, table::median(&f.asleep)) {
            (Some(e), _) => (e.clone(), String::new()),
            (None, Some(m)) => (
                table::time(m),
                base_asleep.map(|b| table::ratio(m, b)).unwrap_or_default(),
            ),
            (None, None) => ("no runs".to_owned(), String::new()),
        };
        let label = if c.label.contains("tini") || c.label.contains("dumb-init") {
            format!("{} (+ `sleep`)", size)
        } else {
            size
        };
        a.row(vec![
            c.label.to_owned(),
            label,
            is_static.to_owned(),
            pss,
            rss,
            cs,
            asleep,
            vs,
        ]);
    }
    out.push_str(&a.render());
    let arm64 = hermes_e2e::arm64::heartbeat();
    out.push_str(&match elf::inspect(&arm64) {
        Some((_, size, true)) => format!(
            "\nhermes-heartbeat for aarch64 (`make static TARGET={}`): {}, static.\n",
            hermes_e2e::arm64::TARGET,
            table::bytes(size)
        ),
        Some((_, size, false)) => format!(
            "\nhermes-heartbeat for aarch64: {} but NOT static.\n",
            table::bytes(size)
        ),
        None => format!(
            "\nhermes-heartbeat for aarch64: not built ({}).\n",
            arm64.display()
        ),
    });
    out.push('\n');

    let mut b = Table::new(&[
        "program",
        "SIGTERM as a plain child",
        "vs `sleep infinity`",
        "SIGTERM as PID 1 of a new PID namespace (sent from outside)",
        "orphans reaped as PID 1",
    ]);
    for (c, f) in cands.iter().zip(figs) {
        let child = term_cell(&f.term_child, &f.term_child_err);
        let vs = match (term_median(&f.term_child), base_term) {
            (Some(m), Some(b)) => table::ratio(m, b),
            _ => String::new(),
        };
        let pid1 = term_cell(&f.term_pid1, &f.term_pid1_err);
        let orphans = match &f.orphans {
            Some(Ok((seen, reaped))) => format!("{reaped} of {seen}"),
            Some(Err(e)) => e.clone(),
            None => String::new(),
        };
        b.row(vec![c.label.to_owned(), child, vs, pid1, orphans]);
    }
    out.push_str(&b.render());
    out
}

/// Median time to exit over the runs that exited.
fn term_median(runs: &[TermResult]) -> Option<Duration> {
    let times: Vec<Duration> = runs
        .iter()
        .filter(|r| r.code.is_some())
        .map(|r| r.took)
        .collect();
    table::median(&times)
}

fn term_cell(runs: &[TermResult], err: &Option<String>) -> String {
    if let Some(e) = err {
        return e.clone();
    }
    if runs.iter().any(|r| r.code.is_none()) {
        return format!(
            "ignored ({} without exit, then SIGKILL)",
            table::time(TERM_LIMIT)
        );
    }
    let mut codes: Vec<String> = runs
        .iter()
        .filter_map(|r| r.code)
        .map(|(code, by_signal)| {
            if by_signal {
                format!("killed by the signal ({code})")
            } else {
                format!("exit {code}")
            }
        })
        .collect();
    codes.dedup();
    match term_median(runs) {
        Some(m) => format!("{} in {}", codes.join(" / "), table::time(m)),
        None => "no runs".to_owned(),
    }
}
