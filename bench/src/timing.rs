//! Exact waits for a process's exit (a pidfd polled with a deadline, so the
//! wake-up is the exit itself, not a polling tick) and timed runs of a
//! command to its end with its peak RSS (wait4's rusage) and its output.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hermes_e2e::proc;

/// A pidfd: becomes readable when the process exits.
pub struct PidFd(OwnedFd);

impl PidFd {
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes two integers and returns a new descriptor
        // (or -1), which we own from here on.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        Ok(PidFd(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Blocks until the process has exited (true) or `limit` passed (false).
    pub fn wait(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n > 0 {
                return true;
            }
            if n == 0 || left.is_zero() {
                return false;
            }
            // EINTR: poll again with what is left.
        }
    }
}

/// A command run to its end.
pub struct Timed {
    /// From just before the spawn to the exit.
    pub wall: Duration,
    /// Shell-style exit code (128+signum when killed); `None`: it overran
    /// its limit and was killed.
    pub code: Option<i32>,
    /// Peak resident set size of the process and its reaped descendants.
    pub maxrss_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

impl Timed {
    /// One line saying why this run does not count, or `None` if it exited 0.
    pub fn failure(&self) -> Option<String> {
        match self.code {
            Some(0) => None,
            None => Some("did not finish in time (killed)".to_owned()),
            Some(code) => {
                let why = self
                    .stderr
                    .lines()
                    .chain(self.stdout.lines())
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output");
                Some(format!("exit {code}: {}", why.trim()))
            }
        }
    }
}

/// Runs `cmd` (stdin from /dev/null, outputs to anonymous files) through
/// `spawn`, which may place it in a container, and waits at most `limit`.
pub fn run_timed(
    cmd: &mut Command,
    limit: Duration,
    spawn: &dyn Fn(&mut Command) -> io::Result<Child>,
) -> io::Result<Timed> {
    let mut out = tempfile::tempfile()?;
    let mut err = tempfile::tempfile()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(err.try_clone()?));
    let start = Instant::now();
    let child = spawn(cmd)?;
    let pid = child.id() as i32;
    // The Child is reaped below with wait4; dropping it neither waits nor kills.
    drop(child);
    let exited = PidFd::open(pid)?.wait(limit);
    let wall = start.elapsed();
    if !exited {
        proc::send_signal(pid, libc::SIGKILL);
    }
    let (status, maxrss_kib) = wait4(pid)?;
    let code = exited.then(|| shell_code(status));
    Ok(Timed {
        wall,
        code,
        maxrss_kib,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    })
}

/// Reaps `pid`, returning its raw wait status and peak RSS in KiB.
fn wait4(pid: i32) -> io::Result<(i32, u64)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals for the duration of the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((status, usage.ru_maxrss.max(0) as u64));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// 128+signum for a signal death, else the exit code.
fn shell_code(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

fn read_all(file: &mut File) -> String {
    let mut bytes = Vec::new();
    if file.rewind().is_ok() {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
