//! hermes-heartbeat end to end: the static binary, real signals,
//! real PID namespaces, real orphans. Exit codes are checked as exit codes:
//! a death by SIGTERM is a failure, not "143".

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::heartbeat::{
    asleep_in_signal_wait, command as heartbeat, exit_code, exit_of, mask, start, wait_asleep,
};
use hermes_e2e::ns::{NsOptions, PidNs};
use hermes_e2e::proc::{self, Proc};
use hermes_e2e::program;
use hermes_e2e::run::run;
use hermes_e2e::signals::{FAULTS, NON_TERMINATING_STANDARD, TERMINATIONS, bit};

const LIMIT: Duration = Duration::from_secs(10);

/// Puts `cmd`'s stderr on a new pipe and returns its read end. The write end
/// lives in `cmd`: drop `cmd` after spawning, or the end never comes.
fn stderr_pipe(cmd: &mut Command) -> fs::File {
    let (read, write) = proc::pipe();
    cmd.stderr(write);
    read
}

/// Asserts a clean exit with `want` (not a death by signal) and exactly the
/// one exit line naming `name` on `stderr`.
fn assert_exit_with_line(code: i32, stderr: fs::File, name: &str, want: i32) {
    assert_eq!(code, want, "{name}");
    let text = read_to_eof(stderr).unwrap_or_else(|| panic!("{name}: stderr never closed"));
    assert_eq!(
        String::from_utf8_lossy(&text),
        format!("hermes-heartbeat: {name}, exiting {want}\n"),
        "{name}"
    );
}

/// Sends `signo` and waits until the heartbeat has taken it and sleeps again.
fn send_and_wait_consumed(p: &mut Proc, signo: i32) {
    p.signal(signo);
    let pid = p.pid();
    proc::wait_until(LIMIT, &format!("signal {signo} to be consumed"), || {
        let state = proc::state(pid);
        assert!(
            state.is_some() && state != Some('Z'),
            "signal {signo} ended the heartbeat"
        );
        mask(pid, "SigPnd") | mask(pid, "ShdPnd") == 0 && asleep_in_signal_wait(pid)
    });
    assert!(p.is_running(), "signal {signo} ended the heartbeat");
}

/// Reads `file` to its end on a thread; `None` if no end came within LIMIT.
fn read_to_eof(mut file: fs::File) -> Option<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx.recv_timeout(LIMIT).ok()
}

/// In a pre_exec hook: duplicates `from` onto `to` (not close-on-exec),
/// refusing to overwrite a descriptor the child already has.
fn dup_onto(from: i32, to: i32) -> std::io::Result<()> {
    // SAFETY: fcntl/dup2 on integer descriptors; async-signal-safe.
    unsafe {
        if libc::fcntl(to, libc::F_GETFD) != -1 {
            return Err(std::io::Error::other("target descriptor already open"));
        }
        if libc::dup2(from, to) == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn term_gives(args: &[&str], signo: i32, code: i32) {
    let mut hb = start(&mut heartbeat(args));
    hb.signal(signo);
    assert_eq!(exit_of(&mut hb), code);
}

#[test]
fn sigterm_exits_143() {
    term_gives(&[], libc::SIGTERM, 143);
}

#[test]
fn sigint_exits_130() {
    term_gives(&[], libc::SIGINT, 130);
}

#[test]
fn sighup_exits_129() {
    term_gives(&[], libc::SIGHUP, 129);
}

#[test]
fn sigquit_exits_131() {
    term_gives(&[], libc::SIGQUIT, 131);
}

#[test]
fn exit_zero_flag_makes_every_termination_signal_exit_0() {
    for signo in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
        term_gives(&["-z"], signo, 0);
    }
}

#[test]
fn every_non_terminating_standard_signal_is_consumed_and_leaves_it_running() {
    // The list, the termination signals, KILL, STOP and the fault signals
    // together are exactly 1..=31: no standard signal is left untested.
    let mut covered: Vec<i32> = NON_TERMINATING_STANDARD
        .into_iter()
        .chain(TERMINATIONS.map(|t| t.0))
        .chain(FAULTS.map(|f| f.0))
        .chain([libc::SIGKILL, libc::SIGSTOP])
        .collect();
    covered.sort_unstable();
    assert_eq!(covered, (1..=31).collect::<Vec<_>>());

    let mut hb = start(&mut heartbeat(&[]));
    for signo in NON_TERMINATING_STANDARD {
        send_and_wait_consumed(&mut hb, signo);
    }
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

/// 32..=34 are the numbers musl and glibc reserve for themselves (glibc's
/// SIGRTMIN is 34): a set made with libc's `sigfillset` leaves them out.
#[test]
fn every_realtime_signal_including_libc_reserved_ones_leaves_it_running() {
    let mut hb = start(&mut heartbeat(&[]));
    for signo in 32..=64 {
        send_and_wait_consumed(&mut hb, signo);
    }
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn stop_then_cont_leaves_it_waiting_and_term_exits_143() {
    let mut hb = start(&mut heartbeat(&[]));
    let pid = hb.pid();
    hb.signal(libc::SIGSTOP);
    proc::wait_until(LIMIT, "the heartbeat to stop", || {
        proc::state(pid) == Some('T')
    });
    send_and_wait_consumed(&mut hb, libc::SIGCONT);
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn termination_signals_ignored_by_the_parent_are_reset_and_each_gives_its_code() {
    for (signo, name, code) in TERMINATIONS {
        let mut cmd = heartbeat(&[]);
        let stderr = stderr_pipe(&mut cmd);
        // SAFETY: signal() is async-signal-safe; the hook runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                for (s, _, _) in TERMINATIONS {
                    libc::signal(s, libc::SIG_IGN);
                }
                Ok(())
            });
        }
        let mut hb = start(&mut cmd);
        drop(cmd);
        let ignored = mask(hb.pid(), "SigIgn");
        for (s, n, _) in TERMINATIONS {
            assert_eq!(ignored & bit(s), 0, "{n} is still ignored");
        }
        hb.signal(signo);
        assert_exit_with_line(exit_of(&mut hb), stderr, name, code);
    }
}

#[test]
fn every_signal_blocked_by_the_parent_term_still_exits_143() {
    let mut cmd = heartbeat(&[]);
    // SAFETY: block_every_signal is async-signal-safe; it runs in the child.
    unsafe {
        cmd.pre_exec(proc::block_every_signal);
    }
    let mut hb = start(&mut cmd);
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

/// The heartbeat as PID 1 of a new PID namespace, stdin and stdout on
/// /dev/null; returns it with the read end of its stderr.
fn heartbeat_as_pid1(args: &[&str]) -> (PidNs, fs::File) {
    let mut cmd = PidNs::command(bins::heartbeat(), args, NsOptions::default());
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let stderr = stderr_pipe(&mut cmd);
    let ns = PidNs::spawn(&mut cmd);
    wait_asleep(ns.pid1());
    (ns, stderr)
}

fn pid1_exit(ns: &mut PidNs) -> i32 {
    let status = ns
        .wait_timeout(LIMIT)
        .unwrap_or_else(|| panic!("PID 1 did not exit within {LIMIT:?}"));
    exit_code(status)
}

#[test]
fn as_pid1_each_termination_signal_from_outside_the_namespace_gives_its_code() {
    for (signo, name, code) in TERMINATIONS {
        let (mut ns, stderr) = heartbeat_as_pid1(&[]);
        ns.signal_pid1(signo);
        assert_exit_with_line(pid1_exit(&mut ns), stderr, name, code);
    }
}

#[test]
fn as_pid1_each_termination_signal_from_inside_the_namespace_gives_its_code() {
    for (_, name, code) in TERMINATIONS {
        let (mut ns, stderr) = heartbeat_as_pid1(&[]);
        let mut kill = ns.enter(false);
        kill.args(["kill", &format!("-{}", &name[3..]), "1"]);
        let out = run(&mut kill, LIMIT);
        // When PID 1 exits the kernel kills the rest of its namespace, and
        // that can catch `kill` itself before it has exited: 137.
        assert!(
            out.code == 0 || out.code == 137,
            "kill -{name} 1 inside the namespace: {out:?}"
        );
        assert_exit_with_line(pid1_exit(&mut ns), stderr, name, code);
    }
}

/// A shell script that leaves `$1` orphans behind, each blocked reading the
/// shell's stdin (a pipe the test holds) until its end, then exiting.
const ORPHANS_UNTIL_EOF: &str = r#"exec 3<&0
i=0
while [ "$i" -lt "$1" ]; do { read x <&3; } & i=$((i+1)); done"#;

#[test]
fn as_pid1_reaps_200_orphans_that_exit_inside_the_namespace() {
    let (mut ns, _stderr) = heartbeat_as_pid1(&[]);
    let pid1 = ns.pid1();
    let (release_r, release_w) = proc::pipe();
    let mut maker = ns.enter(false);
    maker
        .args(["sh", "-c", ORPHANS_UNTIL_EOF, "orphans", "200"])
        .stdin(release_r)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut maker = Proc::spawn(&mut maker);
    assert_eq!(exit_of(&mut maker), 0, "the orphan maker failed");
    proc::wait_until(LIMIT, "200 orphans re-parented to PID 1", || {
        proc::children(pid1).len() == 200
    });
    drop(release_w); // every orphan reads end-of-file and exits
    proc::wait_until(LIMIT, "PID 1 to reap every orphan", || {
        proc::children(pid1).is_empty()
    });
    ns.signal_pid1(libc::SIGTERM);
    assert_eq!(pid1_exit(&mut ns), 143);
}

#[test]
fn subreaper_flag_reaps_orphans_of_its_descendants_when_not_pid1() {
    // The shell forks a middle child and execs into the heartbeat, so the
    // middle child is the heartbeat's. Told to go, the middle child leaves 20
    // grandchildren behind and exits: they are orphans of a descendant.
    let script = r#"exec 3<&0
{ read go <&3 || exit 1
  i=0
  while [ "$i" -lt 20 ]; do { read x <&3; } & i=$((i+1)); done
} &
exec "$0" -s"#;
    let (release_r, mut release_w) = proc::pipe();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .arg(bins::heartbeat())
        .stdin(release_r)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut hb = start(&mut cmd);
    let pid = hb.pid();
    let middle = proc::children(pid);
    assert_eq!(middle.len(), 1, "expected one middle child: {middle:?}");
    release_w
        .write_all(b"go\n")
        .expect("tell the middle child to go");
    proc::wait_until(LIMIT, "20 orphans re-parented to the heartbeat", || {
        proc::state(middle[0]).is_none() && proc::children(pid).len() == 20
    });
    drop(release_w);
    proc::wait_until(LIMIT, "the heartbeat to reap every orphan", || {
        proc::children(pid).is_empty()
    });
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn as_a_plain_child_without_s_it_reaps_its_own_children_in_any_process_group() {
    // Two children it inherits from the shell that execs it, blocked on
    // its stdin: one in the heartbeat's process group, one in a session of
    // its own (`waitpid(-1)`, not 0). Released by the test, both are
    // reaped, though the heartbeat is neither PID 1 nor a subreaper.
    let (release_r, release_w) = proc::pipe();
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        // An asynchronous list's stdin is /dev/null unless redirected.
        "exec 3<&0; read x <&3 & setsid sh -c 'read x <&3' & exec \"$0\"",
    ])
    .arg(bins::heartbeat())
    .stdin(release_r)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut hb = start(&mut cmd);
    drop(cmd);
    let pid = hb.pid();
    let own_group = |kid: &i32| proc::process_group(*kid) == Some(*kid);
    proc::wait_until(LIMIT, "two children, one in a group of its own", || {
        let kids = proc::children(pid);
        kids.len() == 2 && kids.iter().filter(|k| own_group(k)).count() == 1
    });
    drop(release_w);
    proc::wait_until(LIMIT, "the heartbeat to reap both children", || {
        proc::children(pid).is_empty()
    });
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn idle_for_two_seconds_it_makes_no_context_switch() {
    let mut hb = start(&mut heartbeat(&[]));
    let before = proc::context_switches(hb.pid());
    assert!(before > 0, "no context switch count for {}", hb.pid());
    thread::sleep(Duration::from_secs(2));
    assert_eq!(proc::context_switches(hb.pid()), before);
    assert!(hb.is_running());
}

#[test]
fn working_directory_is_root_whatever_it_was_started_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = heartbeat(&[]);
    cmd.current_dir(dir.path());
    let hb = start(&mut cmd);
    let cwd = fs::read_link(format!("/proc/{}/cwd", hb.pid())).expect("read cwd");
    assert_eq!(cwd, Path::new("/"));
}

/// How the descriptors test starts the heartbeat.
#[derive(Clone, Copy, Default)]
struct Inherited {
    /// `close_range` fails with this errno (see [`refuse_syscall`]).
    refused: Option<i32>,
    /// The soft and hard `RLIMIT_NOFILE`, set after the extra descriptors
    /// were opened (so some lie above it).
    nofile: Option<u64>,
}

/// Starts the heartbeat holding extra descriptors (3, 901 and 1900 copies
/// of stderr, 902 the write end of a pipe), and checks that it holds only
/// 0, 1 and 2 and no longer keeps the parent's pipe open. Fd 3, the one
/// most often inherited (socket activation, a notification fd), is put
/// there by a shell that then execs the heartbeat: Rust's spawn may hold a
/// low descriptor of its own in the child.
fn assert_inherited_descriptors_closed(how: Inherited) {
    let (pipe_r, pipe_w) = proc::pipe();
    let w = pipe_w.as_raw_fd();
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "exec 3<&2; exec \"$0\""])
        .arg(bins::heartbeat())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup_onto, refuse_syscall and set_rlimit only make
    // async-signal-safe system calls; runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            dup_onto(2, 901)?;
            dup_onto(w, 902)?;
            dup_onto(2, 1900)?;
            if let Some(limit) = how.nofile {
                proc::set_rlimit(libc::RLIMIT_NOFILE, limit)?;
            }
            how.refused
                .map_or(Ok(()), |errno| refuse_syscall(SYS_CLOSE_RANGE, errno))
        });
    }
    let hb = start(&mut cmd);
    drop(pipe_w);
    let (refused, nofile) = (how.refused, how.nofile);
    assert_eq!(
        proc::open_fds(hb.pid()),
        [0, 1, 2],
        "close_range refused with {refused:?}, RLIMIT_NOFILE {nofile:?}"
    );
    // The parent's pipe is no longer held open: its reader sees the end.
    assert_eq!(
        read_to_eof(pipe_r).as_deref(),
        Some(&b""[..]),
        "close_range refused with {refused:?}, RLIMIT_NOFILE {nofile:?}"
    );
}

#[test]
fn inherited_descriptors_above_2_are_closed_at_start() {
    assert_inherited_descriptors_closed(Inherited::default());
}

/// x86-64 system call numbers of the calls [`refuse_syscall`] refuses.
const SYS_CLOSE_RANGE: i64 = libc::SYS_close_range;
const SYS_CHDIR: i64 = libc::SYS_chdir;
const SYS_PRCTL: i64 = libc::SYS_prctl;

/// In a pre_exec hook: a seccomp filter under which the system call `nr`
/// fails with `errno` (`close_range`: as on kernels before 5.9, ENOSYS, or
/// under a container engine's profile that predates it, EPERM); every other
/// call is allowed.
fn refuse_syscall(nr: i64, errno: i32) -> std::io::Result<()> {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    // seccomp_data: nr at offset 0, arch at offset 4.
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let filter = [
        stmt(load, 4),
        jump(AUDIT_ARCH_X86_64, 1, 0),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(load, 0),
        jump(nr as u32, 0, 1),
        stmt(ret, libc::SECCOMP_RET_ERRNO | errno as u32),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with integer arguments, then with a pointer to `prog`,
    // which (and its filter) lives across the call; async-signal-safe.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) == -1
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[test]
fn inherited_descriptors_are_closed_even_where_close_range_fails() {
    for errno in [libc::ENOSYS, libc::EPERM] {
        assert_inherited_descriptors_closed(Inherited {
            refused: Some(errno),
            ..Inherited::default()
        });
    }
}

#[test]
fn a_refused_system_call_at_start_up_is_exit_1_with_one_line_and_no_readiness() {
    // Each call start-up needs, refused in turn (seccomp): one line naming
    // it, exit 1, and no readiness newline (s6 must not be told "ready"
    // for a process about to fail).
    for (nr, args, doing) in [
        (libc::SYS_rt_sigprocmask, &[][..], "cannot block signals"),
        (
            libc::SYS_rt_sigaction,
            &[],
            "cannot reset a signal's inherited disposition",
        ),
        (SYS_CHDIR, &[], "cannot chdir to /"),
        (SYS_PRCTL, &["-s"], "cannot become a child subreaper"),
    ] {
        let (ready_r, ready_w) = proc::pipe();
        let w = ready_w.as_raw_fd();
        let mut cmd = Command::new(bins::heartbeat());
        cmd.args(args).args(["-r", "903"]);
        // SAFETY: dup_onto and refuse_syscall only make async-signal-safe
        // system calls; runs in the child, after std's own chdir.
        unsafe {
            cmd.pre_exec(move || {
                dup_onto(w, 903)?;
                refuse_syscall(nr, libc::EPERM)
            });
        }
        let out = run(&mut cmd, LIMIT);
        drop(cmd);
        drop(ready_w);
        assert_eq!(out.code, 1, "{doing}: {out:?}");
        assert!(out.stdout.is_empty(), "{doing}: {out:?}");
        assert_eq!(
            out.stderr,
            format!("hermes-heartbeat: {doing} (errno {})\n", libc::EPERM),
        );
        assert_eq!(read_to_eof(ready_r).as_deref(), Some(&b""[..]), "{doing}");
    }
}

#[test]
fn without_s_it_never_asks_to_be_a_subreaper() {
    // prctl refused: only `-s` needs it.
    let mut cmd = heartbeat(&[]);
    // SAFETY: refuse_syscall only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| refuse_syscall(SYS_PRCTL, libc::EPERM));
    }
    let mut hb = start(&mut cmd);
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn without_close_range_descriptors_above_a_lowered_file_limit_are_closed_too() {
    // The fallback closes one by one up to the soft limit, but at least up
    // to 4096: the limit may have been lowered after descriptors were opened
    // (here 64, with 901, 902 and 1900 open).
    assert_inherited_descriptors_closed(Inherited {
        refused: Some(libc::ENOSYS),
        nofile: Some(64),
    });
}

#[test]
fn a_child_that_exited_before_it_started_is_reaped_at_start() {
    // The process forks a child that exits, waits for that exit without
    // reaping it (WNOWAIT), then execs the heartbeat: the child is a zombie
    // before the heartbeat runs, and its SIGCHLD was discarded (default
    // action, unblocked), so only the heartbeat's start-up reap can clear it.
    let mut cmd = heartbeat(&[]);
    // SAFETY: leave_a_zombie_child is async-signal-safe; runs in the child.
    unsafe {
        cmd.pre_exec(proc::leave_a_zombie_child);
    }
    let mut hb = start(&mut cmd);
    // Asleep in its signal wait: start-up, and its reap, are over.
    assert_eq!(proc::children(hb.pid()), Vec::<i32>::new(), "zombie left");
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

/// Waits, at most LIMIT, until `pipe` can be read, then reads one byte;
/// `None` at end of file or when nothing came in time.
fn read_one_byte(pipe: &mut fs::File) -> Option<u8> {
    let mut pfd = libc::pollfd {
        fd: pipe.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd that lives across the call.
    let ready = unsafe { libc::poll(&mut pfd, 1, LIMIT.as_millis() as libc::c_int) };
    if ready != 1 {
        return None;
    }
    let mut byte = [0u8];
    (pipe.read(&mut byte).ok()? == 1).then_some(byte[0])
}

/// Starts `hermes-heartbeat -r 903` with fd 903 the write end of a new pipe
/// (no other copy of it left open) and returns it with the read end.
fn spawn_with_ready_fd() -> (Proc, fs::File) {
    let (ready_r, ready_w) = proc::pipe();
    let w = ready_w.as_raw_fd();
    let mut cmd = heartbeat(&["-r", "903"]);
    // SAFETY: dup_onto only calls fcntl/dup2; runs in the child.
    unsafe {
        cmd.pre_exec(move || dup_onto(w, 903));
    }
    let hb = Proc::spawn(&mut cmd);
    drop(ready_w);
    (hb, ready_r)
}

#[test]
fn ready_newline_comes_only_once_signals_are_blocked() {
    // SIGTERM is sent the instant the newline is read, with no wait for the
    // heartbeat to sleep: it must be taken as a stop request (143), never
    // kill it. A newline written just before the block loses this race
    // within a few dozen rounds; 200 leave a wide margin.
    for round in 0..200 {
        let (mut hb, mut ready_r) = spawn_with_ready_fd();
        let byte = read_one_byte(&mut ready_r);
        hb.signal(libc::SIGTERM);
        assert_eq!(byte, Some(b'\n'), "round {round}: no ready newline");
        let status = hb
            .wait_timeout(LIMIT)
            .unwrap_or_else(|| panic!("round {round}: no exit within {LIMIT:?}"));
        assert_eq!(status.code(), Some(143), "round {round}: {status:?}");
    }
}

#[test]
fn unopened_ready_fd_is_a_start_up_failure_exit_1_with_one_line() {
    // Any number up to i32::MAX is a descriptor, even one above every
    // file limit: not a usage error, but one that cannot be written to.
    for (args, fd) in [
        (&["-r", "9"][..], 9),
        (&["--ready-fd=9"], 9),
        (&["-r", "70000"], 70000),
        (&["--ready-fd=2147483647"], i32::MAX),
        // The last -r counts, however each is spelled.
        (&["-r", "1", "-r", "9"], 9),
        (&["-r1", "-r9"], 9),
        (&["--ready-fd=1", "--ready-fd", "9"], 9),
        (&["--ready-fd", "1", "-sr9"], 9),
    ] {
        let mut cmd = Command::new(bins::heartbeat());
        cmd.args(args);
        // SAFETY: fcntl is async-signal-safe; runs in the child. Marking the
        // fd close-on-exec (if open at all) guarantees the heartbeat lacks it.
        unsafe {
            cmd.pre_exec(move || {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                Ok(())
            });
        }
        let out = run(&mut cmd, LIMIT);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert_eq!(
            out.stderr, "hermes-heartbeat: cannot write to the ready fd (errno 9)\n",
            "{args:?}"
        );
    }
}

#[test]
fn ready_fd_receives_one_newline_and_is_closed() {
    let (mut hb, ready_r) = spawn_with_ready_fd();
    assert_eq!(read_to_eof(ready_r).as_deref(), Some(&b"\n"[..]));
    wait_asleep(hb.pid());
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn with_a_ready_fd_the_other_inherited_descriptors_are_closed_too() {
    let (ready_r, ready_w) = proc::pipe();
    let w = ready_w.as_raw_fd();
    let mut cmd = heartbeat(&["-r", "903"]);
    // SAFETY: dup_onto is async-signal-safe; runs in the child.
    unsafe {
        cmd.pre_exec(move || {
            dup_onto(2, 901)?;
            dup_onto(w, 903)
        });
    }
    let mut hb = Proc::spawn(&mut cmd);
    drop(cmd);
    drop(ready_w);
    assert_eq!(read_to_eof(ready_r).as_deref(), Some(&b"\n"[..]));
    wait_asleep(hb.pid());
    assert_eq!(proc::open_fds(hb.pid()), [0, 1, 2]);
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn ready_fd_1_gets_the_newline_then_its_end_while_the_heartbeat_lives_on() {
    // fd 1 is below the descriptors closed at start, so only `-r`'s own
    // close ends the pipe: its reader sees "\n", then the end.
    let (stdout_r, stdout_w) = proc::pipe();
    let mut cmd = heartbeat(&["-r", "1"]);
    cmd.stdout(stdout_w);
    let mut hb = Proc::spawn(&mut cmd);
    drop(cmd);
    assert_eq!(read_to_eof(stdout_r).as_deref(), Some(&b"\n"[..]));
    wait_asleep(hb.pid());
    assert!(hb.is_running());
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn stdin_stdout_stderr_closed_at_start_term_still_exits_143() {
    let mut cmd = heartbeat(&[]);
    // SAFETY: close_stdio is async-signal-safe; it runs in the child.
    unsafe {
        cmd.pre_exec(proc::close_stdio);
    }
    let mut hb = start(&mut cmd);
    let fds = proc::open_fds(hb.pid());
    assert!(fds.is_empty(), "descriptors open: {fds:?}");
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(&mut hb), 143);
}

#[test]
fn under_env_i_with_no_path_each_termination_signal_gives_its_code() {
    for (signo, name, code) in TERMINATIONS {
        let mut cmd = Command::new("env");
        cmd.arg("-i")
            .arg(bins::heartbeat())
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let stderr = stderr_pipe(&mut cmd);
        let mut hb = start(&mut cmd);
        drop(cmd);
        let environ = fs::read(format!("/proc/{}/environ", hb.pid())).expect("read environ");
        assert!(environ.is_empty(), "environment not empty: {environ:?}");
        hb.signal(signo);
        assert_exit_with_line(exit_of(&mut hb), stderr, name, code);
    }
}

#[test]
fn in_a_scratch_root_holding_only_the_binary_as_pid1_each_termination_signal_gives_its_code() {
    let root = tempfile::tempdir().expect("temp dir");
    program::copy(&bins::heartbeat(), &root.path().join("hermes-heartbeat"));
    assert_eq!(fs::read_dir(root.path()).expect("list root").count(), 1);
    for (signo, name, code) in TERMINATIONS {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--kill-child"])
            .arg(format!("--root={}", root.path().display()))
            .args(["--", "/hermes-heartbeat"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let stderr = stderr_pipe(&mut cmd);
        let mut ns = PidNs::spawn(&mut cmd);
        drop(cmd);
        wait_asleep(ns.pid1());
        let seen_root = fs::read_link(format!("/proc/{}/root", ns.pid1())).expect("read root");
        assert_eq!(seen_root, root.path());
        ns.signal_pid1(signo);
        assert_exit_with_line(pid1_exit(&mut ns), stderr, name, code);
    }
}

#[test]
fn fault_signals_are_not_blocked_and_kill_it_with_no_exit_line() {
    // By design: a real fault must kill it, not loop on the faulting
    // instruction, so even a fault signal sent with kill() keeps its default
    // action. No core file: RLIMIT_CORE is 0 (its working directory is /).
    // Also when the parent had blocked them: the heartbeat sets its mask,
    // it does not add to the inherited one.
    for (signo, name) in FAULTS {
        for parent_blocked_all in [false, true] {
            let mut cmd = heartbeat(&[]);
            let stderr = stderr_pipe(&mut cmd);
            // SAFETY: set_rlimit and block_every_signal are
            // async-signal-safe; runs in the child.
            unsafe {
                cmd.pre_exec(move || {
                    if parent_blocked_all {
                        proc::block_every_signal()?;
                    }
                    proc::set_rlimit(libc::RLIMIT_CORE, 0)
                });
            }
            let mut hb = start(&mut cmd);
            drop(cmd);
            let case = format!("{name}, parent blocked every signal: {parent_blocked_all}");
            assert_eq!(mask(hb.pid(), "SigBlk") & bit(signo), 0, "{case}: blocked");
            hb.signal(signo);
            let status = hb
                .wait_timeout(LIMIT)
                .unwrap_or_else(|| panic!("{case}: did not end it within {LIMIT:?}"));
            assert_eq!(status.signal(), Some(signo), "{case}: {status:?}");
            assert_eq!(read_to_eof(stderr).as_deref(), Some(&b""[..]), "{case}");
        }
    }
}

#[test]
fn usage_errors_exit_2_with_exactly_one_line() {
    for args in [
        &["-x"][..],
        &["--nope"],
        &["-r"],
        &["-r", "abc"],
        &["--ready-fd=-1"],
        &["--quiet=yes"],
        &["extra"],
        &["-s", "--", "more"],
        &["--help=x"],
        &["--version=1"],
        &["--ready-fd=", "1"],
        &["-r", "3x"],
        // Near misses: no abbreviations, no other case, no stray dash.
        &["-v"],
        &["-S"],
        &["--quie"],
        &["--quiett"],
        &["--Version"],
        &["-s-q"],
    ] {
        let out = run(Command::new(bins::heartbeat()).args(args), LIMIT);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(out.stderr.ends_with('\n'), "{args:?}: {out:?}");
        assert_eq!(out.stderr.matches('\n').count(), 1, "{args:?}: {out:?}");
        assert!(
            out.stderr.starts_with("hermes-heartbeat: ")
                && out.stderr.contains("usage: hermes-heartbeat"),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn user_input_in_a_message_shows_control_bytes_as_question_marks_and_is_cut_at_48_bytes() {
    for (arg, quoted) in [
        ("--x\x7fy\tz\u{1b}", "'--x?y?z?'".to_string()),
        (
            &format!("--{}", "a".repeat(60)),
            format!("'--{}...'", "a".repeat(46)),
        ),
    ] {
        let out = run(Command::new(bins::heartbeat()).arg(arg), LIMIT);
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.starts_with(&format!(
                "hermes-heartbeat: unknown option {quoted}; usage: "
            )),
            "{out:?}"
        );
    }
}

/// The usage synopsis, as README gives it.
const SYNOPSIS: &str = "usage: hermes-heartbeat [-s|--subreaper] [-q|--quiet] \
     [-z|--exit-zero] [-r|--ready-fd N] | -h|--help | -V|--version";

#[test]
fn each_usage_error_is_its_exact_line_with_the_synopsis() {
    let nines = "9".repeat(60);
    let bees = format!("--{}", "b".repeat(46));
    let cases: Vec<(Vec<OsString>, String)> = vec![
        (
            args(&["--ready-fd"]),
            "option '--ready-fd' needs a value".into(),
        ),
        (args(&["-sr"]), "option '-r' needs a value".into()),
        (
            args(&["-r", "3x"]),
            "bad ready fd '3x' (want a file descriptor number)".into(),
        ),
        (args(&["-sqx"]), "unknown option '-x'".into()),
        (
            args(&["--quiet=yes"]),
            "unknown option '--quiet=yes'".into(),
        ),
        (args(&["extra"]), "unexpected argument 'extra'".into()),
        (args(&["--", "-s"]), "unexpected argument '-s'".into()),
        // Cut at 48 bytes, and the line still holds the whole synopsis.
        (
            args(&["-r", &nines]),
            format!(
                "bad ready fd '{}...' (want a file descriptor number)",
                &nines[..48]
            ),
        ),
        // 48 bytes exactly: whole, no "...".
        (args(&[&bees]), format!("unknown option '{bees}'")),
        // Only control bytes and DEL become '?': not a space, not UTF-8.
        (args(&["--a b~"]), "unknown option '--a b~'".into()),
        (
            vec![OsString::from_vec(b"--\xc3\xa9\xff".to_vec())],
            "unknown option '--\u{e9}\u{fffd}'".into(),
        ),
    ];
    for (argv, what) in cases {
        let out = run(Command::new(bins::heartbeat()).args(&argv), LIMIT);
        assert_eq!(out.code, 2, "{argv:?}: {out:?}");
        assert_eq!(
            out.stderr,
            format!("hermes-heartbeat: {what}; {SYNOPSIS}\n"),
            "{argv:?}"
        );
    }
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

#[test]
fn version_flag_prints_name_and_version() {
    for flag in ["--version", "-V"] {
        let out = run(Command::new(bins::heartbeat()).arg(flag), LIMIT);
        assert_eq!(out.code, 0, "{out:?}");
        assert_eq!(
            out.stdout,
            format!("hermes-heartbeat {}\n", env!("CARGO_PKG_VERSION"))
        );
        assert!(out.stderr.is_empty(), "{out:?}");
    }
}

#[test]
fn help_flag_prints_the_usage_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = run(Command::new(bins::heartbeat()).arg(flag), LIMIT);
        assert_eq!(out.code, 0, "{out:?}");
        assert!(
            out.stdout.starts_with(&format!("{SYNOPSIS}\n\n")),
            "{out:?}"
        );
        for line in [
            "SIGTERM, SIGINT, SIGHUP and SIGQUIT end it with 143, 130, 129 and 131.",
            "Exit codes: 0 help/version or -z; 1 start-up system call failed; 2 usage error.",
        ] {
            assert!(out.stdout.contains(line), "{line}: {out:?}");
        }
        // Every option explained, and the exit codes.
        for option in [
            "-s, --subreaper",
            "-q, --quiet",
            "-z, --exit-zero",
            "-r, --ready-fd N",
            "-h, --help",
            "-V, --version",
            "Exit codes:",
        ] {
            assert!(out.stdout.contains(option), "{option}: {out:?}");
        }
        assert!(out.stderr.is_empty(), "{out:?}");
    }
}

/// Starts with stderr captured, sends TERM, returns (exit code, stderr).
fn stderr_after_term(args: &[&str]) -> (i32, String) {
    let mut cmd = heartbeat(args);
    cmd.stderr(Stdio::piped());
    let mut hb = start(&mut cmd);
    let mut stderr = hb.child().stderr.take().expect("stderr pipe");
    hb.signal(libc::SIGTERM);
    let code = exit_of(&mut hb);
    let mut text = String::new();
    stderr.read_to_string(&mut text).expect("read stderr");
    (code, text)
}

#[test]
fn exit_line_names_the_signal_and_the_code() {
    assert_eq!(
        stderr_after_term(&[]),
        (143, "hermes-heartbeat: SIGTERM, exiting 143\n".to_owned())
    );
}

#[test]
fn quiet_flag_silences_the_exit_line() {
    assert_eq!(stderr_after_term(&["-q"]), (143, String::new()));
}

#[test]
fn static_binary_has_no_program_interpreter() {
    const PT_LOAD: u32 = 1;
    const PT_INTERP: u32 = 3;
    let elf = fs::read(bins::heartbeat()).expect("read the binary");
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF");
    assert_eq!(elf[5], 1, "not little-endian");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    let types: Vec<u32> = (0..phnum)
        .map(|i| {
            let o = phoff + i * phentsize;
            u32::from_le_bytes(elf[o..o + 4].try_into().unwrap())
        })
        .collect();
    assert!(types.contains(&PT_LOAD), "no PT_LOAD in {types:?}");
    assert!(!types.contains(&PT_INTERP), "has PT_INTERP: {types:?}");
}

#[test]
fn static_binary_is_at_most_16_kib() {
    let size = fs::metadata(bins::heartbeat()).expect("stat").len();
    assert!(size <= 16384, "hermes-heartbeat is {size} bytes");
}
