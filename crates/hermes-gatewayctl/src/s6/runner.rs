//! Runs one s6 program with a time bound: its stdout and stderr are read as
//! they come (so a flood cannot block it), its exit is watched through a
//! pidfd (no polling loop), and an overrun kills its whole process group
//! (`s6-svc -w` execs `s6-svlisten1`, which has helpers of its own).
//!
//! A program that exits in time is never followed by a kill: `s6-svlisten1`
//! may exit as soon as the service looks right while its `s6-svc` child is
//! still writing the command, and killing the group then would take the
//! command with it. Helpers that outlive a normal exit end on their own (a
//! closed pipe, a done write).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::OFlags;
use rustix::process::{Pid, PidfdFlags, Signal, kill_process_group, pidfd_open};

use crate::interrupt::{self, Abandonable};

/// Bytes of stdout kept (s6-svstat prints one short line).
const STDOUT_KEPT: usize = 64 * 1024;
/// Bytes of stderr kept; the rest of a flood is read and dropped. Room for
/// a batched s6-svc's warning line about each of its directories (see
/// `batch`: at most 64 KiB of them).
const STDERR_KEPT: usize = 256 * 1024;
/// Bytes read from each pipe once the program has exited: more than a pipe
/// holds (64 KiB unless enlarged), so all the program itself wrote is taken,
/// while a helper that inherited the pipe and writes forever cannot hold
/// gatewayctl (the deadline bounds it too).
const DRAIN_BUDGET: usize = 1024 * 1024;

/// How a bounded run went: how it ended, and what it wrote meanwhile.
#[derive(Debug)]
pub struct Outcome {
    pub end: End,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The program exited with this code (128+signum when a signal killed it).
    Exited(i32),
    /// It overran the bound and was killed with its process group.
    TimedOut,
    /// Not started, or (a wait) killed, because the command was interrupted
    /// (see [`interrupt`]).
    Interrupted,
}

/// What an interruption does to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInterrupt {
    /// Let it finish: it sends a command, and what is recorded depends on
    /// whether s6 took it.
    Finish,
    /// Kill it with its process group: it only waits for a state.
    Abandon,
}

/// Runs `program args...` with no stdin and waits at most `limit`. Nothing
/// is started once the command has been interrupted.
///
/// # Errors
/// The program could not be started (missing, not executable, no pidfd, or
/// no process left under RLIMIT_NPROC: `WouldBlock`).
pub fn run_bounded<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    limit: Duration,
    on_interrupt: OnInterrupt,
) -> io::Result<Outcome> {
    if interrupt::signal().is_some() {
        return Ok(Outcome {
            end: End::Interrupted,
            stdout: String::new(),
            stderr: String::new(),
        });
    }
    let deadline = Instant::now() + limit;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so an overrun is killed with its helpers.
        .process_group(0)
        .spawn()?;
    let group = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let watch = match (on_interrupt, group) {
        (OnInterrupt::Abandon, Some(group)) => Some(Abandonable::register(group)),
        _ => None,
    };
    let result = collect(&mut child, deadline);
    // Before the reap: until then the group id cannot be taken by another.
    drop(watch);
    if result.as_ref().is_ok_and(|c| !c.exited) {
        if let Some(group) = group {
            // The group may be gone already; nothing to do about an error.
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
    let status = child.wait()?;
    let Collected {
        exited,
        stdout,
        stderr,
    } = result?;
    let killed = status.signal() == Some(Signal::KILL.as_raw());
    let end = if !exited {
        End::TimedOut
    } else if killed && on_interrupt == OnInterrupt::Abandon && interrupt::signal().is_some() {
        End::Interrupted
    } else {
        End::Exited(
            status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(-1),
        )
    };
    Ok(Outcome {
        end,
        stdout,
        stderr,
    })
}

/// What [`collect`] saw: whether the program exited before the deadline,
/// and its output until then.
struct Collected {
    exited: bool,
    stdout: String,
    stderr: String,
}

/// Reads both pipes until the child has exited, or the deadline passes.
fn collect(child: &mut Child, deadline: Instant) -> io::Result<Collected> {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::other("child has no valid pid"))?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    let mut out = Pipe::new(child.stdout.take(), STDOUT_KEPT)?;
    let mut err = Pipe::new(child.stderr.take(), STDERR_KEPT)?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Collected {
                exited: false,
                stdout: out.text(),
                stderr: err.text(),
            });
        }
        let timeout = Timespec::try_from(left).map_err(|_| io::Error::other("bad timeout"))?;
        let (exited, out_ready, err_ready) = {
            let mut fds = vec![PollFd::new(&pidfd, PollFlags::IN)];
            let out_at = out.fd().map(|fd| {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                fds.len() - 1
            });
            let err_at = err.fd().map(|fd| {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                fds.len() - 1
            });
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let ready = |at: Option<usize>| at.is_some_and(|i| !fds[i].revents().is_empty());
            (!fds[0].revents().is_empty(), ready(out_at), ready(err_at))
        };
        if out_ready {
            out.read_some();
        }
        if err_ready {
            err.read_some();
        }
        if exited {
            // A helper may still hold the pipes open: take what is there now.
            out.drain(deadline);
            err.drain(deadline);
            return Ok(Collected {
                exited: true,
                stdout: out.text(),
                stderr: err.text(),
            });
        }
    }
}

/// One non-blocking output pipe and what was kept of it.
struct Pipe<R> {
    reader: Option<R>,
    kept: Vec<u8>,
    cap: usize,
}

impl<R: Read + AsFd> Pipe<R> {
    fn new(reader: Option<R>, cap: usize) -> io::Result<Pipe<R>> {
        if let Some(r) = &reader {
            rustix::fs::fcntl_setfl(r, OFlags::NONBLOCK)?;
        }
        Ok(Pipe {
            reader,
            kept: Vec::new(),
            cap,
        })
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.reader.as_ref().map(AsFd::as_fd)
    }

    /// Reads what is available, giving the bytes read (0 when none were, or
    /// on EINTR); at EOF or on error the pipe is closed.
    fn read_some(&mut self) -> Option<usize> {
        let reader = self.reader.as_mut()?;
        let mut buf = [0u8; 8192];
        match reader.read(&mut buf) {
            Ok(0) => {
                self.reader = None;
                None
            }
            Ok(n) => {
                let room = self.cap.saturating_sub(self.kept.len());
                self.kept.extend_from_slice(&buf[..n.min(room)]);
                Some(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Some(0),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(_) => {
                self.reader = None;
                None
            }
        }
    }

    /// Reads until the pipe is empty, [`DRAIN_BUDGET`] bytes have been read,
    /// or the deadline has passed, whichever comes first.
    fn drain(&mut self, deadline: Instant) {
        let mut budget = DRAIN_BUDGET;
        while budget > 0 && Instant::now() < deadline {
            match self.read_some() {
                Some(n) => budget = budget.saturating_sub(n),
                None => return,
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn sh(script: &str, limit: Duration) -> Outcome {
        match run_bounded(
            Path::new("/bin/sh"),
            &["-c", script],
            limit,
            OnInterrupt::Finish,
        ) {
            Ok(o) => o,
            Err(e) => panic!("sh failed to start: {e}"),
        }
    }

    #[test]
    fn captures_exit_code_and_output() {
        match sh("echo out; echo err >&2; exit 3", Duration::from_secs(5)) {
            Outcome {
                end: End::Exited(rc),
                stdout,
                stderr,
            } => {
                assert_eq!(
                    (rc, stdout.as_str(), stderr.as_str()),
                    (3, "out\n", "err\n")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn overrun_is_killed_with_its_group() {
        let start = Instant::now();
        assert!(matches!(
            sh("sleep 30 & sleep 30", Duration::from_millis(200)),
            Outcome {
                end: End::TimedOut,
                ..
            }
        ));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_stderr_flood_is_read_and_cut() {
        match sh(
            "head -c 1000000 /dev/zero | tr '\\0' x >&2; exit 1",
            Duration::from_secs(10),
        ) {
            Outcome {
                end: End::Exited(rc),
                stderr,
                ..
            } => {
                assert_eq!(rc, 1);
                assert_eq!(stderr.len(), STDERR_KEPT);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exit_is_seen_even_when_a_grandchild_keeps_the_pipes() {
        match sh("sleep 5 & echo done", Duration::from_secs(4)) {
            Outcome {
                end: End::Exited(rc),
                stdout,
                ..
            } => assert_eq!((rc, stdout.as_str()), (0, "done\n")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_helper_left_running_after_a_normal_exit_is_let_finish() {
        // As s6-svlisten1 may exit while its s6-svc child still writes the
        // command: the helper's work must not be killed with the group.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let done = dir.path().join("done");
        let script = format!(
            "(sleep 0.3; echo sent > '{}') >/dev/null 2>&1 </dev/null & exit 0",
            done.display()
        );
        match sh(&script, Duration::from_secs(5)) {
            Outcome {
                end: End::Exited(0),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done.exists() {
            assert!(Instant::now() < deadline, "the helper was killed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Never empty: every read returns a full buffer, counted in `.1`.
    struct Endless(fs::File, std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(b'y');
            self.1
                .fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
            Ok(buf.len())
        }
    }

    impl AsFd for Endless {
        fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    /// Drains `pipe` (keeping 16 bytes) up to `deadline` and gives what it
    /// kept. The drain runs on a thread, so that an unbounded one fails the
    /// test instead of hanging it.
    fn drained_until<R: Read + AsFd + Send + 'static>(pipe: R, deadline: Instant) -> String {
        let mut pipe = Pipe::new(Some(pipe), 16).unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            pipe.drain(deadline);
            let _ = tx.send(pipe.text());
        });
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("drain did not return: {e}"))
    }

    /// An [`Endless`] pipe and the count of bytes read from it.
    fn endless() -> (Endless, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let null = fs::File::open("/dev/null").unwrap_or_else(|e| panic!("{e}"));
        let read = std::sync::Arc::default();
        (Endless(null, std::sync::Arc::clone(&read)), read)
    }

    #[test]
    fn draining_a_pipe_that_never_empties_stops_at_the_1_mib_budget() {
        let far = Instant::now() + Duration::from_secs(3600);
        let (pipe, read) = endless();
        assert_eq!(drained_until(pipe, far), "y".repeat(16));
        let read = read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            (1 << 20..(1 << 20) + 8192).contains(&read),
            "read {read} bytes"
        );
    }

    #[test]
    fn draining_a_pipe_that_never_empties_stops_at_the_deadline() {
        let (pipe, _) = endless();
        let kept = drained_until(pipe, Instant::now());
        assert_eq!(kept, "", "read past its deadline");
    }

    #[test]
    fn draining_an_empty_pipe_still_held_open_returns_at_once() {
        // A helper holds the write end and writes nothing: the drain takes
        // what is there and returns, without spinning until the deadline.
        let (reader, mut writer) = io::pipe().unwrap_or_else(|e| panic!("{e}"));
        let _ = io::Write::write_all(&mut writer, b"last words");
        // Functional, not a benchmark: at once, or at the deadline.
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        assert_eq!(drained_until(reader, deadline), "last words");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "spun until the deadline: {:?}",
            start.elapsed()
        );
        drop(writer);
    }
}
