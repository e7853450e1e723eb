//! s6 programs that misbehave, as stand-ins in HERMES_S6_BINDIR: one that
//! hangs forever is bounded by gatewayctl's own timeout (5 s, or the --wait
//! timeout plus 5 s), reported in one line, and killed with everything it
//! started; one that floods its stderr with megabytes is cut to one short
//! line; one that exits but leaves a helper writing to its pipes forever
//! does not hold gatewayctl; one that dies by a signal or cannot be executed
//! is one line too. Every run gets its own HERMES_HOME in the bench's
//! temporary directory, so no real state file is ever written.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hermes_e2e::proc;
use hermes_e2e::program;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6;

const PROFILES: [&str; 3] = ["coder", "reader", "writer"];
/// Longest error line accepted, in characters: the fixed text, the service
/// name, and s6's stderr cut to about 300 characters, each control character
/// among them shown as an escape of at most 6 (`\u{1b}`).
const LINE_BOUND: usize = 120 + 6 * 303;

/// A fake scan directory holding [`PROFILES`] (or the profiles given to
/// [`Bench::with_profiles`]), their profile homes under a HERMES_HOME of its
/// own, and stand-in s6 programs written from the given script bodies. Every
/// stand-in exports a marker unique to this bench, so anything it leaves
/// running can be found.
struct Bench {
    tmp: tempfile::TempDir,
    marker: String,
}

impl Bench {
    fn new(svc_body: &str, svstat_body: &str) -> Bench {
        Bench::with_profiles(&PROFILES, svc_body, svstat_body)
    }

    /// A bench whose `s6-svwait` (which runs a `--wait`) is `svwait_body`.
    fn waiting(svc_body: &str, svwait_body: &str) -> Bench {
        let bench = Bench::new(svc_body, STATUS_UP);
        bench.stand_in("s6-svwait", svwait_body);
        bench
    }

    fn with_profiles(profiles: &[&str], svc_body: &str, svstat_body: &str) -> Bench {
        let tmp = tempfile::Builder::new()
            .prefix("hermes-misbehave-")
            .tempdir()
            .expect("tempdir");
        let marker = format!(
            "HERMES_STANDIN_MARKER={}",
            tmp.path().file_name().expect("named").to_string_lossy()
        );
        for p in profiles {
            fs::create_dir_all(tmp.path().join(format!("service/gateway-{p}"))).expect("mkdir");
            fs::create_dir_all(tmp.path().join(format!("home/profiles/{p}"))).expect("mkdir");
        }
        fs::create_dir_all(tmp.path().join("service/.s6-svscan")).expect("mkdir");
        fs::create_dir_all(tmp.path().join("fake-s6")).expect("mkdir");
        let bench = Bench { tmp, marker };
        bench.stand_in("s6-svc", svc_body);
        bench.stand_in("s6-svstat", svstat_body);
        bench.stand_in("s6-svwait", "exit 0");
        bench
    }

    /// Writes the stand-in `name` with the script `body`.
    /// Writes the stand-in `name` with the script `body`. Asked with no
    /// arguments (gatewayctl reads s6-svc's usage line once, to know whether
    /// it takes several directories), it answers as Debian's s6 2.11 does.
    fn stand_in(&self, name: &str, body: &str) {
        let pids = s6::shell_quote(&self.tmp.path().join("pids").to_string_lossy());
        let marker = &self.marker;
        s6::write_script(
            &self.bindir().join(name),
            &format!(
                "#!/bin/sh\n{}export {marker}\nPIDS={pids}\n{body}\n",
                s6::USAGE_2_11
            ),
        );
    }

    fn bindir(&self) -> PathBuf {
        self.tmp.path().join("fake-s6")
    }

    /// The HERMES_HOME every run gets (never the /opt/data fallback).
    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    fn ctl(&self, args: &[&str]) -> Output {
        self.timed_ctl(args).0
    }

    /// [`Bench::ctl`], also giving how long the gatewayctl call took.
    fn timed_ctl(&self, args: &[&str]) -> (Output, Duration) {
        let mut cmd = self.gatewayctl();
        cmd.args(args);
        let started = Instant::now();
        let out = run(&mut cmd, Duration::from_secs(CTL_LIMIT_SECS));
        (out, started.elapsed())
    }

    /// `gatewayctl --scandir <bench>` taking its s6 programs from the
    /// stand-ins and its HERMES_HOME from the bench; add the arguments.
    fn gatewayctl(&self) -> Command {
        let mut cmd = s6::gatewayctl_clean();
        cmd.env("HERMES_S6_BINDIR", self.bindir())
            .env("HERMES_HOME", self.home())
            .arg("--scandir")
            .arg(self.tmp.path().join("service"));
        cmd
    }

    /// The pids the stand-ins wrote to `$PIDS`.
    fn recorded_pids(&self) -> Vec<i32> {
        fs::read_to_string(self.tmp.path().join("pids"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().expect("a pid"))
            .collect()
    }

    /// Live processes (not zombies) whose environment holds the marker.
    fn live_marked(&self) -> Vec<i32> {
        s6::all_pids()
            .into_iter()
            .filter(|&pid| {
                fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                    env.split(|&b| b == 0)
                        .any(|var| var == self.marker.as_bytes())
                })
            })
            .filter(|&pid| !matches!(proc::state(pid), None | Some('Z')))
            .collect()
    }

    /// Asserts that every recorded pid and every marked process is gone
    /// (a zombie awaiting its reaper counts as gone).
    fn assert_nothing_left(&self, expected_pids: usize) {
        let pids = self.recorded_pids();
        assert_eq!(pids.len(), expected_pids, "recorded pids {pids:?}");
        proc::wait_until(Duration::from_secs(10), "the stand-ins to be gone", || {
            pids.iter()
                .all(|&pid| matches!(proc::state(pid), None | Some('Z')))
                && self.live_marked().is_empty()
        });
    }
}

/// How long the test lets one gatewayctl call run before killing it.
const CTL_LIMIT_SECS: u64 = 60;

/// Asserts that a call cut short by gatewayctl's own `bound` took about
/// that long: not much less (it did wait for the stand-in), and well under
/// 15 s (it did not wait for the stand-in's end, nor run the overruns one
/// after another). Generous on purpose: this is a functional bound, not a
/// benchmark.
fn assert_bounded_by(elapsed: Duration, bound: Duration, out: &Output) {
    let slack = Duration::from_millis(500);
    assert!(
        elapsed + slack >= bound,
        "returned after {elapsed:?}, before its {bound:?} bound: {out:?}"
    );
    assert!(
        elapsed < Duration::from_secs(15),
        "took {elapsed:?} for a {bound:?} bound: {out:?}"
    );
}

/// A stand-in that records its pid and a child's, then waits forever.
const HANG: &str = "echo $$ >> \"$PIDS\"\nsleep 86400 &\necho $! >> \"$PIDS\"\nwait";
/// A well-behaved `s6-svstat`: up, pid 812, 45 s.
const STATUS_UP: &str = "echo 'true true true false 812 -1 NA 45'";

fn assert_one_line(out: &Output, expected: &str) {
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(out.stderr, format!("{expected}\n"), "{out:?}");
}

/// The one error line of `out`, checked to be one bounded line of printable
/// text after `prefix`; returns what follows the prefix.
fn bounded_line<'a>(out: &'a Output, prefix: &str) -> &'a str {
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert_eq!(
        out.stderr_lines().len(),
        1,
        "not one line: {} bytes",
        out.stderr.len()
    );
    let line = out.stderr.strip_suffix('\n').expect("ends with a newline");
    assert!(
        line.chars().count() <= LINE_BOUND,
        "{} characters: {line:?}",
        line.chars().count()
    );
    assert!(
        !line.chars().any(char::is_control),
        "control characters in {line:?}"
    );
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
}

// --- hanging ------------------------------------------------------------------

#[test]
fn hanging_s6_svc_is_killed_after_5s_and_reported_in_one_line() {
    let bench = Bench::new(HANG, STATUS_UP);
    let (out, elapsed) = bench.timed_ctl(&["stop", "writer"]);
    assert_one_line(&out, "✗ s6-svc stop on 'gateway-writer' timed out after 5s");
    assert_bounded_by(elapsed, Duration::from_secs(5), &out);
    bench.assert_nothing_left(2);
}

#[test]
fn hanging_s6_svc_under_wait_is_killed_after_5s_it_only_sends_the_command() {
    let bench = Bench::new(HANG, STATUS_UP);
    let (out, elapsed) = bench.timed_ctl(&["stop", "--wait", "-T", "3", "writer"]);
    assert_one_line(&out, "✗ s6-svc stop on 'gateway-writer' timed out after 5s");
    assert_bounded_by(elapsed, Duration::from_secs(5), &out);
    bench.assert_nothing_left(2);
}

#[test]
fn hanging_s6_svwait_is_bounded_by_the_wait_timeout_plus_5s() {
    let bench = Bench::waiting("exit 0", HANG);
    let (out, elapsed) = bench.timed_ctl(&["stop", "--wait", "-T", "0.5", "writer"]);
    assert_one_line(
        &out,
        "✗ s6-svwait stop on 'gateway-writer' timed out after 5.5s",
    );
    assert_bounded_by(elapsed, Duration::from_millis(5500), &out);
    bench.assert_nothing_left(2);
}

#[test]
fn hanging_s6_svc_on_every_gateway_times_out_on_each_in_restart_all() {
    let bench = Bench::new(HANG, STATUS_UP);
    let (out, elapsed) = bench.timed_ctl(&["restart", "--all"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "✓ Restarted 0 profile gateway(s) under s6\n");
    // Concurrent: about one bound in all, not one per gateway (15 s).
    assert_bounded_by(elapsed, Duration::from_secs(5), &out);
    let expected: Vec<String> = PROFILES
        .iter()
        .map(|p| {
            format!("✗ Could not restart gateway-{p}: s6-svc restart on 'gateway-{p}' timed out after 5s")
        })
        .collect();
    assert_eq!(out.stderr_lines(), expected, "{out:?}");
    bench.assert_nothing_left(2 * PROFILES.len());
}

#[test]
fn hanging_s6_svstat_is_killed_after_5s_and_reported_in_one_line() {
    let bench = Bench::new("exit 0", HANG);
    let (out, elapsed) = bench.timed_ctl(&["status", "coder"]);
    assert_one_line(
        &out,
        "✗ s6-svstat status on 'gateway-coder' timed out after 5s",
    );
    assert_bounded_by(elapsed, Duration::from_secs(5), &out);
    bench.assert_nothing_left(2);
}

#[test]
fn endless_stderr_flood_from_a_hanging_s6_svc_is_still_bounded_by_the_timeout() {
    let bench = Bench::new(
        "echo $$ >> \"$PIDS\"\nwhile :; do echo 's6-svc: fatal: flooding' >&2; done",
        STATUS_UP,
    );
    let (out, elapsed) = bench.timed_ctl(&["start", "writer"]);
    assert_one_line(
        &out,
        "✗ s6-svc start on 'gateway-writer' timed out after 5s",
    );
    assert_bounded_by(elapsed, Duration::from_secs(5), &out);
    bench.assert_nothing_left(1);
}

// --- floods -------------------------------------------------------------------

#[test]
fn megabytes_of_stderr_in_one_line_are_cut_to_one_short_line() {
    let bench = Bench::new(
        "head -c 5000000 /dev/zero | tr '\\000' x >&2\nexit 111",
        STATUS_UP,
    );
    let out = bench.ctl(&["stop", "writer"]);
    let rest = bounded_line(&out, "✗ s6-svc stop on 'gateway-writer' failed (rc=111): ");
    // s6's stderr is cut to 300 characters (README), then `...`.
    assert_eq!(rest, format!("{}...", "x".repeat(300)));
}

#[test]
fn megabytes_of_stderr_lines_are_joined_and_cut_to_one_short_line() {
    let bench = Bench::new(
        "yes 's6-svc: fatal: unable to control: no' | head -c 5000000 >&2\nexit 111",
        STATUS_UP,
    );
    let out = bench.ctl(&["restart", "writer"]);
    let rest = bounded_line(
        &out,
        "✗ s6-svc restart on 'gateway-writer' failed (rc=111): ",
    );
    assert!(
        rest.starts_with("s6-svc: fatal: unable to control: no; s6-svc: fatal:"),
        "{rest:?}"
    );
}

#[test]
fn megabytes_of_binary_stderr_with_escapes_become_one_printable_line() {
    let bench = Bench::new(
        "printf '\\033[2J\\033]0;pwned\\007\\r\\n' >&2\nhead -c 3000000 /dev/urandom >&2\nexit 100",
        STATUS_UP,
    );
    let out = bench.ctl(&["stop", "writer"]);
    let rest = bounded_line(&out, "✗ s6-svc stop on 'gateway-writer' failed (rc=100): ");
    assert!(
        rest.starts_with("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}"),
        "{rest:?}"
    );
}

#[test]
fn megabytes_of_stdout_from_s6_svstat_give_one_short_line() {
    let bench = Bench::new("exit 0", "head -c 5000000 /dev/zero | tr '\\000' 7\nexit 0");
    let out = bench.ctl(&["status", "reader"]);
    bounded_line(
        &out,
        "✗ cannot read the s6-svstat output for 'gateway-reader': '777",
    );
}

#[test]
fn stderr_flood_from_a_successful_s6_svc_is_not_shown() {
    let bench = Bench::new(
        "head -c 5000000 /dev/zero | tr '\\000' x >&2\nexit 0",
        STATUS_UP,
    );
    let out = bench.ctl(&["stop", "writer"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "✓ Stopped gateway-writer under s6\n", ""),
        "{out:?}"
    );
}

#[test]
fn helpers_writing_forever_after_s6_svc_exited_do_not_hold_gatewayctl() {
    // s6-svc exits 0 at once, leaving writers on both of its pipes that
    // never stop: gatewayctl must neither read them to their (never) end nor
    // leave them running.
    let bench = Bench::new(
        "for i in 1 2; do cat /dev/zero >&2 & echo $! >> \"$PIDS\"; cat /dev/zero & echo $! >> \"$PIDS\"; done\nsleep 0.5\nexit 0",
        STATUS_UP,
    );
    let started = Instant::now();
    let out = run(
        bench.gatewayctl().args(["stop", "writer"]),
        Duration::from_secs(30),
    );
    let elapsed = started.elapsed();
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "✓ Stopped gateway-writer under s6\n", ""),
        "{out:?}"
    );
    // Functional, not a benchmark: s6-svc took 0.5 s, and gatewayctl takes
    // what the endless pipes hold then (up to the first empty read, at most
    // 1 MiB each: the budget itself is unit-tested in runner.rs) instead of
    // reading them until its 5 s bound runs out (it would still say
    // "Stopped").
    assert!(
        elapsed < Duration::from_secs(4),
        "took {elapsed:?}: read the helpers' pipes until its 5 s bound"
    );
    bench.assert_nothing_left(4);
    let state = fs::read_to_string(bench.home().join("profiles/writer/gateway_state.json"))
        .expect("state recorded in the bench's HERMES_HOME");
    assert!(state.contains("\"stopped\""), "{state}");
}

// --- dying, unrunnable ----------------------------------------------------------

#[test]
fn s6_svc_killed_by_a_signal_is_a_failure_line_with_128_plus_signum() {
    let bench = Bench::new("echo 'about to crash' >&2\nkill -SEGV $$", STATUS_UP);
    let out = bench.ctl(&["start", "coder"]);
    assert_one_line(
        &out,
        "✗ s6-svc start on 'gateway-coder' failed (rc=139): about to crash",
    );
}

#[test]
fn s6_svc_that_cannot_be_executed_is_one_line() {
    let bench = Bench::new("exit 0", STATUS_UP);
    // Executable by mode, but neither a binary nor a script.
    let svc = bench.bindir().join("s6-svc");
    program::write(&svc, b"\x7fELF garbage\n", 0o755);
    let out = bench.ctl(&["stop", "coder"]);
    bounded_line(&out, "✗ cannot start s6-svc for 'gateway-coder': ");
    // The well-behaved s6-svstat also shows the bench is otherwise sound.
    let out = bench.ctl(&["status", "coder"]);
    assert_eq!(out.stdout, "coder  up (pid 812) 45s\n", "{out:?}");
}

#[test]
fn s6_svstat_failing_otherwise_than_not_supervised_is_a_failure_not_unsupervised() {
    // Only s6-svstat's own "not supervised" exit means `unsupervised`; any
    // other failure (here rc 111, as on a status file the user may not
    // read) is reported, and a restart that needs the state sends nothing.
    let bench = Bench::new(
        "echo \"s6-svc $*\" >> \"$PIDS.calls\"\nexit 0",
        "echo 's6-svstat: fatal: unable to read status: Permission denied' >&2\nexit 111",
    );
    let expected = "✗ s6-svstat status on 'gateway-coder' failed (rc=111): s6-svstat: fatal: unable to read status: Permission denied";
    let out = bench.ctl(&["status", "coder"]);
    assert_one_line(&out, expected);
    let out = bench.ctl(&["restart", "coder"]);
    assert_one_line(&out, expected);
    assert_eq!(
        fs::read_to_string(bench.tmp.path().join("pids.calls")).unwrap_or_default(),
        "",
        "s6-svc was run"
    );
}

/// An `s6-svstat` that fails (rc 111) for gateway-coder only, and reports
/// the others up ([`STATUS_UP`]).
const SVSTAT_FAILS_FOR_CODER: &str = "case \"$*\" in\n*/gateway-coder)\n  echo 's6-svstat: fatal: unable to read status: Permission denied' >&2\n  exit 111;;\nesac\necho 'true true true false 812 -1 NA 45'";

#[test]
fn status_all_with_one_unreadable_gateway_still_shows_the_others() {
    // Each failure is one line on stderr (exit 1); the gateways that were
    // read are still printed: as lines, and as a JSON array of just them.
    let bench = Bench::new("exit 0", SVSTAT_FAILS_FOR_CODER);
    let failure = "✗ s6-svstat status on 'gateway-coder' failed (rc=111): s6-svstat: fatal: unable to read status: Permission denied\n";
    let out = bench.ctl(&["status", "--all", "--json"]);
    assert_eq!((out.code, out.stderr.as_str()), (1, failure), "{out:?}");
    let read: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    let shown: Vec<&str> = read
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| o["profile"].as_str().expect("a profile"))
        .collect();
    assert_eq!(shown, ["reader", "writer"], "{out:?}");
    let out = bench.ctl(&["status", "--all"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (
            1,
            "reader  up (pid 812) 45s\nwriter  up (pid 812) 45s\n",
            failure
        ),
        "{out:?}"
    );
}

#[test]
fn s6_svc_exiting_99_without_wait_is_a_plain_failure_in_its_own_words() {
    // 99 means "timed out" only for a wait gatewayctl asked for; a silent
    // failure ends at the rc, with no dangling colon.
    let bench = Bench::new("exit 99", STATUS_UP);
    let out = bench.ctl(&["stop", "coder"]);
    assert_one_line(&out, "✗ s6-svc stop on 'gateway-coder' failed (rc=99)");
    let bench = Bench::new("exit 100", STATUS_UP);
    let out = bench.ctl(&["start", "coder"]);
    assert_one_line(&out, "✗ s6-svc start on 'gateway-coder' failed (rc=100)");
}

#[test]
fn all_raises_the_soft_file_limit_to_the_hard_one_for_itself_and_s6() {
    // Soft 64, hard 4096: `--all` takes the hard limit (best effort), and
    // the s6 programs it runs inherit it.
    let bench = Bench::new("ulimit -n >> \"$PIDS.nofile\"\nexit 0", STATUS_UP);
    let mut cmd = bench.gatewayctl();
    cmd.args(["stop", "--all"]);
    // SAFETY: set_rlimits only calls setrlimit, which is async-signal-safe;
    // runs in the child.
    unsafe {
        cmd.pre_exec(|| proc::set_rlimits(libc::RLIMIT_NOFILE, 64, 4096));
    }
    let out = run(&mut cmd, Duration::from_secs(CTL_LIMIT_SECS));
    assert_eq!(out.code, 0, "{out:?}");
    let seen = fs::read_to_string(bench.tmp.path().join("pids.nofile")).unwrap_or_default();
    assert_eq!(seen, "4096\n".repeat(PROFILES.len()), "{out:?}");
}

/// An `s6-svc` that counts the stand-ins running at once (`$PIDS.in` less
/// `$PIDS.out`, read in that order, so never more than were) and waits, up
/// to about 3 s (under gatewayctl's 5 s bound), until 5 run at once; then
/// records the count it last saw in `$PIDS.peak`.
const SVC_AWAITING_FIVE_AT_ONCE: &str = r#"echo $$ >> "$PIDS"
touch "$PIDS.out"
echo in >> "$PIDS.in"
running() { echo $(( $(wc -l < "$PIDS.in") - $(wc -l < "$PIDS.out") )); }
i=0
while [ "$(running)" -lt 5 ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
running >> "$PIDS.peak"
echo out >> "$PIDS.out"
exit 0"#;

#[test]
fn all_runs_as_many_jobs_at_once_as_the_raised_file_limit_allows() {
    // Soft 32, hard 4096: `--all` raises its soft limit, then sizes its
    // jobs on the new one, (4096 - open - 8) / 8, so all 10 may run at once
    // (on the old 32 it would be 2 at a time). Each stand-in waits until 5
    // run at once, so the peak shows it; a bound, not a timing.
    let profiles: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let profiles: Vec<&str> = profiles.iter().map(String::as_str).collect();
    let bench = Bench::with_profiles(&profiles, SVC_AWAITING_FIVE_AT_ONCE, STATUS_UP);
    let mut cmd = bench.gatewayctl();
    cmd.args(["stop", "--all"]);
    // SAFETY: set_rlimits only calls setrlimit, which is async-signal-safe;
    // runs in the child.
    unsafe {
        cmd.pre_exec(|| proc::set_rlimits(libc::RLIMIT_NOFILE, 32, 4096));
    }
    let out = run(&mut cmd, Duration::from_secs(CTL_LIMIT_SECS));
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "✓ Stopped 10 profile gateway(s) under s6\n", ""),
        "{out:?}"
    );
    let seen = fs::read_to_string(bench.tmp.path().join("pids.peak")).unwrap_or_default();
    let peak = seen
        .lines()
        .map(|l| l.trim().parse::<u32>().expect("a count"))
        .max();
    assert!(
        peak >= Some(5),
        "at most {peak:?} s6 programs ran at once: {seen:?}"
    );
    bench.assert_nothing_left(profiles.len());
}

// --- the profile lock -----------------------------------------------------------

/// Logs `<program> <first argument> start|end` to `$PIDS.log` around a
/// sleep of `secs`, recording its pid; `then` runs last.
fn logged_sleep(program: &str, secs: u32, then: &str) -> String {
    format!(
        "echo $$ >> \"$PIDS\"\necho \"{program} $1 start\" >> \"$PIDS.log\"\nsleep {secs}\necho \"{program} $1 end\" >> \"$PIDS.log\"\n{then}"
    )
}

#[test]
fn a_restart_holds_the_profile_lock_through_both_of_its_s6_programs() {
    // The restart reads the state (s6-svstat, 3 s) then runs s6-svc (4 s),
    // 7 s in all: more than one s6 bound (5 s), within the two its lock
    // is held for. A stop of the same gateway asked meanwhile waits for it,
    // so its s6-svc starts only after the restart's has ended.
    let bench = Bench::new(
        &logged_sleep("s6-svc", 4, "exit 0"),
        &logged_sleep("s6-svstat", 3, STATUS_UP),
    );
    let log = bench.tmp.path().join("pids.log");
    let (restart, stop) = std::thread::scope(|scope| {
        let restart = scope.spawn(|| bench.ctl(&["restart", "coder"]));
        // The restart holds the lock before it runs s6-svstat.
        proc::wait_until(Duration::from_secs(10), "the restart's s6-svstat", || {
            fs::read_to_string(&log).is_ok_and(|l| l.contains("s6-svstat"))
        });
        let stop = bench.ctl(&["stop", "coder"]);
        (restart.join().expect("the restart's thread"), stop)
    });
    assert_eq!(
        (
            restart.code,
            restart.stdout.as_str(),
            restart.stderr.as_str()
        ),
        (0, "✓ Restarted gateway-coder under s6\n", ""),
        "{restart:?}"
    );
    assert_eq!(
        (stop.code, stop.stdout.as_str(), stop.stderr.as_str()),
        (0, "✓ Stopped gateway-coder under s6\n", ""),
        "{stop:?}"
    );
    let logged = fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        logged.lines().collect::<Vec<_>>(),
        [
            "s6-svstat -o start",
            "s6-svstat -o end",
            "s6-svc -r start",
            "s6-svc -r end",
            "s6-svc -d start",
            "s6-svc -d end",
        ],
        "the stop did not wait for the restart"
    );
    bench.assert_nothing_left(3);
}
