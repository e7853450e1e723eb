//! hermes-heartbeat under abuse: signal floods, a fork storm,
//! a full realtime signal queue, hostile start-up states, and arbitrary argv
//! bytes. Bounded in count and time; exit codes are checked as exit codes.

use std::ffi::{CString, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::heartbeat::{
    asleep_in_signal_wait, command as heartbeat, exit_code, exit_of, exited, mask, start,
    wait_asleep,
};
use hermes_e2e::ns::{NsOptions, PidNs};
use hermes_e2e::proc::{self, Proc};
use hermes_e2e::rng::Rng;
use hermes_e2e::signals::{NON_TERMINATING_STANDARD, TERMINATIONS, bit};

const LIMIT: Duration = Duration::from_secs(20);

fn pending(pid: i32) -> u64 {
    mask(pid, "SigPnd") | mask(pid, "ShdPnd")
}

/// Waits until every signal sent so far has been taken and it sleeps again.
fn wait_drained(pid: i32) {
    proc::wait_until(LIMIT, "the heartbeat to take every pending signal", || {
        assert!(!exited(pid), "pid {pid} exited");
        pending(pid) == 0 && asleep_in_signal_wait(pid)
    });
}

/// `SigQ`: (signals queued for the process's real uid, its limit).
fn queued(pid: i32) -> (u64, u64) {
    let q = proc::status_field(pid, "SigQ").expect("SigQ");
    let (n, limit) = q.split_once('/').expect("SigQ is n/limit");
    (
        n.parse().expect("SigQ n"),
        limit.parse().expect("SigQ limit"),
    )
}

fn vm_rss_kib(pid: i32) -> u64 {
    let rss = proc::status_field(pid, "VmRSS").expect("VmRSS");
    rss.trim_end_matches(" kB").parse().expect("VmRSS in kB")
}

/// Signals that must never end the heartbeat: every standard one but the
/// termination signals, KILL, STOP and the fault signals, and every realtime
/// one (32..=34 too: the numbers the libc reserves for itself).
fn non_terminating() -> Vec<i32> {
    let mut kinds = NON_TERMINATING_STANDARD.to_vec();
    kinds.extend(32..=64);
    kinds
}

/// Minor page faults of the children `pid` has waited for (`cminflt` of
/// /proc/PID/stat): the kernel adds a child's count only when it is reaped.
fn reaped_children_faults(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after_comm = &stat[stat.rfind(')').expect("stat has a comm") + 2..];
    // Fields after the comm start at field 3 (state); cminflt is field 11.
    let field = after_comm.split_whitespace().nth(11 - 3).expect("cminflt");
    field.parse().expect("cminflt is a number")
}

#[test]
fn flood_of_20000_non_terminating_signals_leaves_it_alive_without_memory_growth() {
    let mut hb = start(&mut heartbeat(&[]));
    let pid = hb.pid();
    let kinds = non_terminating();
    // One of each first, so every code path has been touched before the
    // baseline is taken.
    for &signo in &kinds {
        proc::send_signal(pid, signo);
    }
    wait_drained(pid);
    let rss_before = vm_rss_kib(pid);

    // 20,000 in all: 10,000 from two threads here, 10,000 from two shells.
    let mut senders = Vec::new();
    for seed in [1u64, 2] {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
        let list: Vec<String> = (0..5000)
            .map(|_| kinds[rng.below(kinds.len())].to_string())
            .collect();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            r#"pid=$1; shift; for s in "$@"; do kill -"$s" "$pid" || exit 1; done"#,
            "flood",
            &pid.to_string(),
        ])
        .args(list)
        .stdin(Stdio::null());
        senders.push(Proc::spawn(&mut cmd));
    }
    let threads: Vec<_> = [3u64, 4]
        .into_iter()
        .map(|seed| {
            let kinds = kinds.clone();
            thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
                for _ in 0..5000 {
                    let signo = kinds[rng.below(kinds.len())];
                    // SAFETY: kill has no memory effects.
                    let ret = unsafe { libc::kill(pid, signo) };
                    assert_eq!(ret, 0, "kill {signo}: {}", std::io::Error::last_os_error());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a sending thread failed");
    }
    for mut s in senders {
        assert_eq!(exit_of(&mut s), 0, "a sending shell failed");
    }

    wait_drained(pid);
    assert!(hb.is_running());
    let rss_after = vm_rss_kib(pid);
    assert!(
        rss_after <= rss_before,
        "VmRSS grew from {rss_before} kB to {rss_after} kB"
    );
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn fork_storm_of_5000_orphans_as_pid1_is_reaped_and_it_stays_responsive() {
    let mut cmd = PidNs::command(bins::heartbeat(), &[] as &[&str], NsOptions::default());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut ns = PidNs::spawn(&mut cmd);
    let pid1 = ns.pid1();
    wait_asleep(pid1);
    let faults_before = reaped_children_faults(pid1);

    // Two shells inside the namespace make 2,500 orphans each, as fast as
    // they can: `( echo >>F & )` forks a subshell that forks the `echo` and
    // exits at once. The orphan appends one byte to F (so the count of
    // orphans that ran is F's size) and exits straight away, so every orphan
    // dies during the storm: either just before its subshell (a zombie
    // handed to PID 1) or just after (an orphan exiting under PID 1), with
    // SIGCHLDs coalescing while PID 1 is busy reaping.
    let dir = tempfile::tempdir().expect("temp dir");
    let ran = dir.path().join("orphans");
    let storm = format!(
        r#"i=0; while [ "$i" -lt 2500 ]; do ( echo >>'{}' & ); i=$((i+1)); done"#,
        ran.display()
    );
    let makers: Vec<Proc> = (0..2)
        .map(|_| {
            let mut maker = ns.enter(false);
            maker
                .args(["sh", "-c", &storm])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            Proc::spawn(&mut maker)
        })
        .collect();
    for mut m in makers {
        assert_eq!(exit_of(&mut m), 0, "an orphan maker failed");
    }
    proc::wait_until(LIMIT, "PID 1 to reap every orphan", || {
        proc::children(pid1).is_empty()
    });
    let zombies = proc::zombie_children(pid1);
    assert!(zombies.is_empty(), "zombies left: {zombies:?}");
    let orphans = fs::metadata(&ran).map_or(0, |m| m.len());
    assert_eq!(orphans, 5000, "orphans that ran");
    // Only a parent can reap, so no child left means PID 1 reaped them all.
    // And it really waited for them (no auto-reap through an ignored
    // SIGCHLD): the kernel adds a child's page faults, at least one per
    // forked process, to the count of the process that waits for it.
    let reaped_faults = reaped_children_faults(pid1) - faults_before;
    assert!(
        reaped_faults >= 5000,
        "children PID 1 waited for had only {reaped_faults} page faults in all"
    );

    // Still responsive: an ignored signal, then a stop request.
    proc::send_signal(pid1, libc::SIGUSR1);
    wait_drained(pid1);
    ns.signal_pid1(libc::SIGTERM);
    let status = ns.wait_timeout(LIMIT).expect("PID 1 did not exit");
    assert_eq!(exit_code(status), 143);
}

/// A uid of its own for each realtime-queue test, so the per-user pending
/// count (which `RLIMIT_SIGPENDING` caps) holds only this heartbeat's signals.
fn private_uid(k: u32) -> u32 {
    0x5000_0000 + (std::process::id() & 0xffff) * 8 + k
}

/// The heartbeat as `uid`, with a pending-signal limit of 8,192.
fn heartbeat_as(uid: u32) -> Proc {
    let mut cmd = heartbeat(&[]);
    // SAFETY: setrlimit/setgroups/setresgid/setresuid are async-signal-safe
    // system calls; the hook runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: 8192,
                rlim_max: 8192,
            };
            if libc::setrlimit(libc::RLIMIT_SIGPENDING, &limit) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(uid, uid, uid) != 0
                || libc::setresuid(uid, uid, uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    start(&mut cmd)
}

/// Stops `pid`, then queues realtime signals (32..=64 in turn) with
/// sigqueue until the kernel refuses with EAGAIN; returns how many.
fn fill_realtime_queue(pid: i32) -> u64 {
    proc::send_signal(pid, libc::SIGSTOP);
    proc::wait_until(LIMIT, "the heartbeat to stop", || {
        proc::state(pid) == Some('T')
    });
    let (already, limit) = queued(pid);
    assert_eq!(already, 0, "uid of pid {pid} already has queued signals");
    let mut sent = 0;
    loop {
        assert!(sent <= limit, "sigqueue never refused after {sent} signals");
        let signo = 32 + (sent % 33) as i32;
        let value = libc::sigval {
            sival_ptr: std::ptr::null_mut(),
        };
        // SAFETY: sigqueue copies the value; no memory is shared.
        if unsafe { libc::sigqueue(pid, signo, value) } == 0 {
            sent += 1;
            continue;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN), "sigqueue: {err}");
        break;
    }
    assert_eq!(queued(pid), (sent, limit), "queue not full at EAGAIN");
    sent
}

#[test]
fn full_realtime_signal_queue_is_drained_and_it_keeps_running() {
    let mut hb = heartbeat_as(private_uid(0));
    let pid = hb.pid();
    let sent = fill_realtime_queue(pid);
    assert!(sent > 0);
    proc::send_signal(pid, libc::SIGCONT);
    wait_drained(pid);
    assert_eq!(queued(pid).0, 0, "signals left queued");
    assert!(hb.is_running());
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn term_wins_over_a_full_realtime_signal_queue() {
    let mut hb = heartbeat_as(private_uid(1));
    let pid = hb.pid();
    fill_realtime_queue(pid);
    hb.signal(libc::SIGTERM);
    hb.signal(libc::SIGCONT);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn started_with_every_signal_blocked_and_ignored_each_termination_signal_gives_its_code() {
    for (signo, _, code) in TERMINATIONS {
        let mut cmd = heartbeat(&[]);
        // SAFETY: raw rt_sigaction/rt_sigprocmask (libc's wrappers refuse 32
        // and 33); async-signal-safe, in the child.
        unsafe {
            cmd.pre_exec(|| {
                // Kernel sigaction: handler SIG_IGN, no flags, no restorer, empty mask.
                let ignore: [u64; 4] = [libc::SIG_IGN as u64, 0, 0, 0];
                for s in 1..=64 {
                    if s != libc::SIGKILL && s != libc::SIGSTOP {
                        libc::syscall(
                            libc::SYS_rt_sigaction,
                            s,
                            ignore.as_ptr(),
                            std::ptr::null_mut::<u64>(),
                            8usize,
                        );
                    }
                }
                proc::block_every_signal()
            });
        }
        let mut hb = start(&mut cmd);
        // Only the signals it waits for are reset; the fault signals it
        // leaves alone (the kernel forces SIG_DFL on a real fault anyway).
        let faults = [4, 5, 6, 7, 8, 11, 31]
            .iter()
            .fold(0u64, |m, &s| m | bit(s));
        assert_eq!(
            mask(hb.pid(), "SigIgn") & !faults,
            0,
            "inherited SIG_IGN left on a waited-for signal"
        );
        hb.signal(signo);
        assert_eq!(exit_of(&mut hb), code, "signal {signo}");
    }
}

#[test]
fn started_with_fds_0_to_2_closed_sigint_gives_130() {
    let mut cmd = heartbeat(&[]);
    // SAFETY: close_stdio is async-signal-safe; it runs in the child.
    unsafe {
        cmd.pre_exec(proc::close_stdio);
    }
    let mut hb = start(&mut cmd);
    hb.signal(libc::SIGINT);
    assert_eq!(exit_of(&mut hb), 130);
}

#[test]
fn started_in_a_working_directory_that_is_then_removed_sighup_gives_129() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("gone");
    fs::create_dir(&dir).expect("mkdir");
    let c_dir = CString::new(dir.as_os_str().as_bytes()).expect("no NUL");
    let mut cmd = heartbeat(&[]);
    cmd.current_dir(&dir);
    // SAFETY: rmdir() is async-signal-safe; runs in the child after its chdir.
    unsafe {
        cmd.pre_exec(move || {
            if libc::rmdir(c_dir.as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut hb = start(&mut cmd);
    assert!(!dir.exists(), "the working directory was not removed");
    let cwd = fs::read_link(format!("/proc/{}/cwd", hb.pid())).expect("read cwd");
    assert_eq!(cwd, Path::new("/"));
    hb.signal(libc::SIGHUP);
    assert_eq!(exit_of(&mut hb), 129);
}

#[test]
fn started_as_an_unprivileged_uid_sigquit_gives_131() {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bins::heartbeat())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut hb = start(&mut cmd);
    let uid = proc::status_field(hb.pid(), "Uid").expect("Uid");
    assert!(uid.starts_with("65534\t"), "runs as uid {uid:?}");
    hb.signal(libc::SIGQUIT);
    assert_eq!(exit_of(&mut hb), 131);
}

#[test]
fn started_with_rlimit_nofile_of_3_sigterm_gives_143() {
    let mut cmd = heartbeat(&["-s"]);
    // SAFETY: set_rlimit is async-signal-safe; runs in the child.
    unsafe {
        cmd.pre_exec(|| proc::set_rlimit(libc::RLIMIT_NOFILE, 3));
    }
    let mut hb = start(&mut cmd);
    let limits = fs::read_to_string(format!("/proc/{}/limits", hb.pid())).expect("limits");
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    assert_eq!(
        nofile
            .split_whitespace()
            .skip(3)
            .take(2)
            .collect::<Vec<_>>(),
        ["3", "3"]
    );
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

/// What the documented command line makes of `args` (written from the
/// usage text: short options cluster, `-r` takes the rest of its cluster or
/// the next argument, `--opt=value` only for `--ready-fd`, `--` ends options
/// and nothing may follow, `-h`/`-V` win as soon as they are seen).
#[derive(Debug, PartialEq)]
enum Expect {
    Invalid,
    Help,
    Version,
    Run {
        quiet: bool,
        exit_zero: bool,
        ready_fd: Option<i32>,
    },
}

fn fd_number(value: Option<&Vec<u8>>) -> Option<i32> {
    let v = value?;
    if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse::<i32>().ok()
}

fn model(args: &[Vec<u8>]) -> Expect {
    let (mut quiet, mut exit_zero, mut ready_fd) = (false, false, None);
    let mut i = 0;
    let mut options_done = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if options_done || arg.len() < 2 || arg[0] != b'-' {
            return Expect::Invalid;
        }
        if arg == b"--" {
            options_done = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(at) => (&long[..at], Some(long[at + 1..].to_vec())),
                None => (long, None),
            };
            match (name, inline.is_some()) {
                (b"subreaper", false) => {}
                (b"quiet", false) => quiet = true,
                (b"exit-zero", false) => exit_zero = true,
                (b"help", false) => return Expect::Help,
                (b"version", false) => return Expect::Version,
                (b"ready-fd", _) => {
                    let value = match inline {
                        Some(v) => Some(v),
                        None => {
                            i += 1;
                            args.get(i - 1).cloned()
                        }
                    };
                    match fd_number(value.as_ref()) {
                        Some(fd) => ready_fd = Some(fd),
                        None => return Expect::Invalid,
                    }
                }
                _ => return Expect::Invalid,
            }
            continue;
        }
        for (j, &c) in arg.iter().enumerate().skip(1) {
            match c {
                b's' => {}
                b'q' => quiet = true,
                b'z' => exit_zero = true,
                b'h' => return Expect::Help,
                b'V' => return Expect::Version,
                b'r' => {
                    let rest = arg[j + 1..].to_vec();
                    let value = if rest.is_empty() {
                        i += 1;
                        args.get(i - 1).cloned()
                    } else {
                        Some(rest)
                    };
                    match fd_number(value.as_ref()) {
                        Some(fd) => ready_fd = Some(fd),
                        None => return Expect::Invalid,
                    }
                    break;
                }
                _ => return Expect::Invalid,
            }
        }
    }
    Expect::Run {
        quiet,
        exit_zero,
        ready_fd,
    }
}

const TOKENS: &[&[u8]] = &[
    b"-s",
    b"-q",
    b"-z",
    b"-h",
    b"-V",
    b"-r",
    b"-sqz",
    b"-qr",
    b"-r1",
    b"-r2",
    b"-zr2",
    b"--subreaper",
    b"--quiet",
    b"--exit-zero",
    b"--help",
    b"--version",
    b"--ready-fd",
    b"--ready-fd=1",
    b"--ready-fd=",
    b"--quiet=",
    b"--",
    b"-",
    b"",
    b"0",
    b"1",
    b"2",
    b"7",
    b"2147483647",
    b"2147483648",
    b"99999999999",
    b"-1",
    b"=",
    b"\xff\xfe",
    b"-\xc3\xa9",
    b"--\xff",
    b"-s\n-q",
];

/// One argument: a token, a token with one byte changed or added, or
/// random bytes (any but NUL, which argv cannot carry).
fn arbitrary_arg(rng: &mut Rng) -> Vec<u8> {
    let random_byte = |rng: &mut Rng| (rng.below(255) + 1) as u8;
    match rng.below(10) {
        0..=5 => TOKENS[rng.below(TOKENS.len())].to_vec(),
        6 | 7 => {
            let mut t = TOKENS[rng.below(TOKENS.len())].to_vec();
            let at = rng.below(t.len() + 1);
            let byte = random_byte(rng);
            if at < t.len() && rng.below(2) == 0 {
                t[at] = byte;
            } else {
                t.insert(at, byte);
            }
            t
        }
        _ => (0..rng.below(12)).map(|_| random_byte(rng)).collect(),
    }
}

/// Runs the heartbeat with `args`; returns (exit status, stdout, stderr).
/// A heartbeat that starts to run is sent SIGTERM once it sleeps.
fn run_argv(args: &[Vec<u8>]) -> (ExitStatus, Vec<u8>, Vec<u8>) {
    let mut cmd = Command::new(bins::heartbeat());
    cmd.args(args.iter().map(|a| OsString::from_vec(a.clone())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: close_range only marks descriptors close-on-exec, so only
    // stdio reaches the heartbeat (a `-r 7` must find fd 7 closed).
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let mut hb = Proc::spawn(&mut cmd);
    let pid = hb.pid();
    proc::wait_until(LIMIT, "the heartbeat to exit or to sleep", || {
        exited(pid) || asleep_in_signal_wait(pid)
    });
    if asleep_in_signal_wait(pid) {
        hb.signal(libc::SIGTERM);
    }
    let status = hb
        .wait_timeout(LIMIT)
        .unwrap_or_else(|| panic!("{args:?} did not exit"));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let child = hb.child();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_end(&mut err)
        .expect("read stderr");
    (status, out, err)
}

fn one_line(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n") && bytes.iter().filter(|&&b| b == b'\n').count() == 1
}

#[test]
fn arbitrary_argv_bytes_never_crash_and_invalid_ones_get_exit_2_and_one_line() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let version = format!("hermes-heartbeat {}\n", env!("CARGO_PKG_VERSION"));
    let mut seen = [0usize; 4];
    for _ in 0..500 {
        let args: Vec<Vec<u8>> = (0..rng.below(5)).map(|_| arbitrary_arg(&mut rng)).collect();
        let expect = model(&args);
        let (status, out, err) = run_argv(&args);
        let shown = |a: &[Vec<u8>]| {
            a.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect::<Vec<_>>()
        };
        let why = format!(
            "argv {:?}: expected {expect:?}, got {status:?}\nstdout {:?}\nstderr {:?}",
            shown(&args),
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
        assert_eq!(status.signal(), None, "crashed: {why}");
        let code = status.code().expect("an exit code");
        match expect {
            Expect::Invalid => {
                seen[0] += 1;
                assert_eq!(code, 2, "{why}");
                assert!(out.is_empty(), "{why}");
                assert!(one_line(&err), "{why}");
                assert!(err.starts_with(b"hermes-heartbeat: "), "{why}");
            }
            Expect::Help => {
                seen[1] += 1;
                assert_eq!(code, 0, "{why}");
                assert!(out.starts_with(b"usage: hermes-heartbeat"), "{why}");
                assert!(err.is_empty(), "{why}");
            }
            Expect::Version => {
                seen[2] += 1;
                assert_eq!((code, out.as_slice()), (0, version.as_bytes()), "{why}");
                assert!(err.is_empty(), "{why}");
            }
            Expect::Run {
                ready_fd: Some(fd), ..
            } if fd != 1 && fd != 2 => {
                // A ready fd that is not open: a start-up failure, one line.
                seen[3] += 1;
                assert_eq!(code, 1, "{why}");
                assert!(one_line(&err), "{why}");
            }
            Expect::Run {
                quiet,
                exit_zero,
                ready_fd,
            } => {
                seen[3] += 1;
                let want = if exit_zero { 0 } else { 143 };
                assert_eq!(code, want, "{why}");
                let line = format!("hermes-heartbeat: SIGTERM, exiting {want}\n");
                let (want_out, want_err): (&[u8], &[u8]) = match ready_fd {
                    Some(1) if quiet => (b"\n", b""),
                    Some(1) => (b"\n", line.as_bytes()),
                    Some(_) => (b"", b"\n"),
                    None if quiet => (b"", b""),
                    None => (b"", line.as_bytes()),
                };
                assert_eq!(
                    (out.as_slice(), err.as_slice()),
                    (want_out, want_err),
                    "{why}"
                );
            }
        }
    }
    // The generator must reach every kind of outcome, or it proves little.
    assert!(seen.iter().all(|&n| n >= 10), "outcomes seen: {seen:?}");
}
