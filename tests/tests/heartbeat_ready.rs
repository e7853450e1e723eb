//! hermes-heartbeat's readiness newline (`-r N`) to a pipe that is full: the
//! reader is alive but does not read. The write must never block the
//! heartbeat, whose signals are all blocked by then: a stop must always work,
//! and the newline still arrives once the reader drains the pipe.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hermes_e2e::bins;
use hermes_e2e::heartbeat::{
    asleep_in_signal_wait, command as heartbeat, exit_code, exit_of, exited, mask, wait_asleep,
};
use hermes_e2e::proc::{self, Proc};
use hermes_e2e::signals::TERMINATIONS;

const LIMIT: Duration = Duration::from_secs(10);

/// The descriptor the heartbeat is told to write its readiness to.
const READY_FD: i32 = 903;

/// The byte the pipe is filled with (anything but the newline).
const FILL: u8 = b'x';

/// The file status flags of `fd` (`fcntl(F_GETFL)`).
fn status_flags(fd: i32) -> i32 {
    // SAFETY: fcntl on an integer descriptor; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags != -1, "F_GETFL: {}", std::io::Error::last_os_error());
    flags
}

fn set_status_flags(fd: i32, flags: i32) {
    // SAFETY: fcntl on an integer descriptor; no memory is passed.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    assert_eq!(ret, 0, "F_SETFL: {}", std::io::Error::last_os_error());
}

/// A pipe with no room left for even one byte: its write end is made
/// non-blocking, written to until EAGAIN (whole pages, then single bytes),
/// and made blocking again, so the heartbeat inherits a write end on which
/// a plain write would wait for the reader. Returns (read end, write end,
/// bytes in the pipe).
fn full_pipe() -> (fs::File, fs::File, usize) {
    let (read, mut write) = proc::pipe();
    let fd = write.as_raw_fd();
    let flags = status_flags(fd);
    set_status_flags(fd, flags | libc::O_NONBLOCK);
    let mut filled = 0;
    for chunk in [&[FILL; 4096][..], &[FILL]] {
        loop {
            match write.write(chunk) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("filling the pipe: {e}"),
            }
        }
    }
    set_status_flags(fd, flags);
    assert!(filled > 0, "nothing could be written to a new pipe");
    (read, write, filled)
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

/// Gives `cmd` the write end `ready` as READY_FD.
fn with_ready_fd(cmd: &mut Command, ready: &fs::File) {
    let w = ready.as_raw_fd();
    // SAFETY: dup_onto only calls fcntl/dup2; runs in the child.
    unsafe {
        cmd.pre_exec(move || dup_onto(w, READY_FD));
    }
}

/// Starts `hermes-heartbeat -r 903` with fd 903 the write end `ready` (the
/// caller's copy is dropped), stdio on /dev/null.
fn spawn_ready_to(ready: fs::File) -> Proc {
    let mut cmd = heartbeat(&["-r", &READY_FD.to_string()]);
    with_ready_fd(&mut cmd, &ready);
    Proc::spawn(&mut cmd)
}

/// Waits until the heartbeat sleeps in its signal wait with its readiness
/// still pending: fd 903 open. Fails, naming where it sleeps instead, if it
/// has not got there within LIMIT (a write blocked on the full pipe).
fn wait_pending(pid: i32) {
    let deadline = Instant::now() + LIMIT;
    while !asleep_in_signal_wait(pid) {
        assert!(!exited(pid), "pid {pid} exited during start-up");
        assert!(
            Instant::now() < deadline,
            "the heartbeat is not in its signal wait after {LIMIT:?} \
             (asleep in {:?}): the readiness write blocks it",
            proc::wchan(pid)
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert!(
        proc::open_fds(pid).contains(&READY_FD),
        "readiness pending, yet fd {READY_FD} is closed: {:?}",
        proc::open_fds(pid)
    );
}

/// Reads `file` on a thread until `len` bytes or its end; `None` if neither
/// came within LIMIT.
fn read_bytes(mut file: fs::File, len: Option<usize>) -> Option<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = match len {
            Some(n) => file.take(n as u64).read_to_end(&mut bytes),
            None => file.read_to_end(&mut bytes),
        };
        let _ = tx.send(bytes);
    });
    rx.recv_timeout(LIMIT).ok()
}

/// The fill, then the readiness newline.
fn fill_then_newline(filled: usize) -> Vec<u8> {
    let mut want = vec![FILL; filled];
    want.push(b'\n');
    want
}

/// Asserts that the heartbeat sleeps in its signal wait with no wake-up at
/// all for two seconds: more than the longest retry delay.
fn assert_no_wake_up_for_two_seconds(hb: &mut Proc) {
    let pid = hb.pid();
    wait_asleep(pid);
    let before = proc::context_switches(pid);
    assert!(before > 0, "no context switch count for {pid}");
    thread::sleep(Duration::from_secs(2));
    assert_eq!(proc::context_switches(pid), before, "woke up while idle");
    assert!(hb.is_running());
}

fn stop(hb: &mut Proc) {
    hb.signal(libc::SIGTERM);
    assert_eq!(exit_of(hb), 143);
}

#[test]
fn each_termination_signal_ends_it_while_its_ready_pipe_is_full() {
    for (signo, name, code) in TERMINATIONS {
        let (_reader, ready, _) = full_pipe();
        let (stderr_r, stderr_w) = proc::pipe();
        let mut cmd = heartbeat(&["-r", &READY_FD.to_string()]);
        cmd.stderr(stderr_w);
        with_ready_fd(&mut cmd, &ready);
        let mut hb = Proc::spawn(&mut cmd);
        drop(cmd);
        drop(ready);
        let pid = hb.pid();
        // Sent once it has the signal in hand (blocked, or waited for), so
        // that it is a stop request and never a death by the default action.
        proc::wait_until(LIMIT, "the heartbeat to block its signals", || {
            assert!(!exited(pid), "pid {pid} exited during start-up");
            proc::has_signal_in_hand(pid, signo)
        });
        hb.signal(signo);
        let Some(status) = hb.wait_timeout(LIMIT) else {
            panic!(
                "{name}: still running {LIMIT:?} later (asleep in {:?})",
                proc::wchan(pid)
            );
        };
        assert_eq!(exit_code(status), code, "{name}");
        let line = read_bytes(stderr_r, None).expect("stderr never closed");
        assert_eq!(
            String::from_utf8_lossy(&line),
            format!("hermes-heartbeat: {name}, exiting {code}\n"),
        );
    }
}

#[test]
fn with_ready_fd_2_on_a_full_stderr_pipe_sigterm_still_ends_it() {
    // The exit line goes to the same full pipe: it may be lost, but it must
    // not hold the exit up.
    let (_reader, ready, _) = full_pipe();
    let mut cmd = heartbeat(&["-r", "2"]);
    cmd.stderr(ready);
    let mut hb = Proc::spawn(&mut cmd);
    drop(cmd);
    let pid = hb.pid();
    proc::wait_until(LIMIT, "the heartbeat to sleep in its signal wait", || {
        assert!(!exited(pid), "pid {pid} exited during start-up");
        asleep_in_signal_wait(pid)
    });
    hb.signal(libc::SIGTERM);
    let Some(status) = hb.wait_timeout(LIMIT) else {
        panic!(
            "still running {LIMIT:?} after SIGTERM (asleep in {:?})",
            proc::wchan(pid)
        );
    };
    assert_eq!(exit_code(status), 143);
}

#[test]
fn once_the_full_ready_pipe_is_drained_the_newline_comes_then_its_end_and_it_sleeps_for_good() {
    let (reader, ready, filled) = full_pipe();
    let mut cmd = heartbeat(&["-r", &READY_FD.to_string()]);
    // SAFETY: dup_onto only calls fcntl/dup2; runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            dup_onto(2, 901)?;
            dup_onto(2, 1900)
        });
    }
    with_ready_fd(&mut cmd, &ready);
    let mut hb = Proc::spawn(&mut cmd);
    drop(cmd);
    drop(ready);
    wait_pending(hb.pid());
    // The other inherited descriptors, below and above it, are closed.
    assert_eq!(proc::open_fds(hb.pid()), [0, 1, 2, READY_FD]);
    // The end of the pipe comes only once the heartbeat has closed fd 903.
    let got = read_bytes(reader, None).expect("no end of the ready pipe");
    assert!(
        got == fill_then_newline(filled),
        "read {} bytes, ending {:?}; want the {filled} filled, then one newline",
        got.len(),
        got.last().map(|&b| b as char)
    );
    assert_eq!(proc::open_fds(hb.pid()), [0, 1, 2]);
    assert_no_wake_up_for_two_seconds(&mut hb);
    stop(&mut hb);
}

#[test]
fn while_readiness_is_pending_sigusr1_is_ignored_and_sigchld_reaps() {
    // The shell leaves a child blocked on its stdin (a pipe the test holds,
    // without fd 903) and execs the heartbeat, which inherits the child.
    let (reader, ready, _) = full_pipe();
    let (release_r, release_w) = proc::pipe();
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", r#"exec 3<&0; read x <&3 903>&- & exec "$0" -r 903"#])
        .arg(bins::heartbeat())
        .stdin(release_r)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    with_ready_fd(&mut cmd, &ready);
    let mut hb = Proc::spawn(&mut cmd);
    drop(cmd);
    drop(ready);
    let pid = hb.pid();
    wait_pending(pid);
    proc::wait_until(LIMIT, "the heartbeat to have the shell's child", || {
        proc::children(pid).len() == 1
    });

    hb.signal(libc::SIGUSR1);
    proc::wait_until(LIMIT, "SIGUSR1 to be consumed", || {
        assert!(!exited(pid), "SIGUSR1 ended the heartbeat");
        mask(pid, "SigPnd") | mask(pid, "ShdPnd") == 0 && asleep_in_signal_wait(pid)
    });

    drop(release_w); // the child reads end-of-file and exits
    proc::wait_until(LIMIT, "the heartbeat to reap its child", || {
        proc::children(pid).is_empty()
    });
    assert!(hb.is_running());
    wait_pending(pid);
    drop(reader);
    stop(&mut hb);
}

#[test]
fn when_the_reader_of_a_full_ready_pipe_goes_away_it_closes_the_fd_and_sleeps_on() {
    let (reader, ready, _) = full_pipe();
    let (stderr_r, stderr_w) = proc::pipe();
    let mut cmd = heartbeat(&["-r", &READY_FD.to_string()]);
    cmd.stderr(stderr_w);
    with_ready_fd(&mut cmd, &ready);
    let mut hb = Proc::spawn(&mut cmd);
    drop(cmd);
    drop(ready);
    let pid = hb.pid();
    wait_pending(pid);
    // The next try fails with EPIPE: after start-up, not a failure.
    drop(reader);
    proc::wait_until(LIMIT, "the heartbeat to close fd 903", || {
        assert!(!exited(pid), "the reader's end stopped the heartbeat");
        proc::open_fds(pid) == [0, 1, 2]
    });
    assert_no_wake_up_for_two_seconds(&mut hb);
    stop(&mut hb);
    let line = read_bytes(stderr_r, None).expect("stderr never closed");
    assert_eq!(
        String::from_utf8_lossy(&line),
        "hermes-heartbeat: SIGTERM, exiting 143\n"
    );
}

#[test]
fn a_ready_pipe_that_was_full_is_left_blocking_for_the_other_holders_of_its_write_end() {
    // The heartbeat makes its write non-blocking through the open file
    // description, which every copy of the write end shares (fd 1 may be
    // the parent's terminal): it must leave the flags as it found them.
    let (reader, ready, filled) = full_pipe();
    let kept = ready.try_clone().expect("dup the write end");
    let mut hb = spawn_ready_to(ready);
    wait_pending(hb.pid());
    let got = read_bytes(reader, Some(filled + 1)).expect("no readiness newline");
    assert!(got == fill_then_newline(filled), "read {} bytes", got.len());
    proc::wait_until(LIMIT, "the heartbeat to close fd 903", || {
        proc::open_fds(hb.pid()) == [0, 1, 2]
    });
    assert_eq!(status_flags(kept.as_raw_fd()) & libc::O_NONBLOCK, 0);
    stop(&mut hb);
}

#[test]
fn a_ready_pipe_with_room_is_left_blocking_for_the_other_holders_of_its_write_end() {
    let (reader, ready) = proc::pipe();
    let kept = ready.try_clone().expect("dup the write end");
    let mut hb = spawn_ready_to(ready);
    let got = read_bytes(reader, Some(1)).expect("no readiness newline");
    assert_eq!(got, b"\n");
    wait_asleep(hb.pid());
    assert_eq!(proc::open_fds(hb.pid()), [0, 1, 2]);
    assert_eq!(status_flags(kept.as_raw_fd()) & libc::O_NONBLOCK, 0);
    stop(&mut hb);
}
