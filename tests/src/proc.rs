//! Child processes that are always cleaned up (killed and reaped by PID on
//! drop), bounded waits, and readings from /proc.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// A started process. Dropping it sends SIGKILL and reaps it, so a failing
/// test never leaves it behind.
pub struct Proc {
    child: Child,
    status: Option<ExitStatus>,
}

/// How a process ended, as a shell reports it: the exit code, or
/// `128 + signum` when a signal killed it.
pub fn shell_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

impl Proc {
    /// Starts `cmd`; panics with the program name when it cannot start.
    pub fn spawn(cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        Proc {
            child,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `signo` to the process (not its group).
    pub fn signal(&self, signo: i32) {
        send_signal(self.pid(), signo);
    }

    /// True while the process has not exited (a zombie counts as exited).
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `limit` for the exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(2));
        }
    }

    /// The shell-style exit code, waiting up to `limit`; panics on timeout.
    pub fn exit_code(&mut self, limit: Duration) -> i32 {
        match self.wait_timeout(limit) {
            Some(status) => shell_code(status),
            None => panic!("pid {} did not exit within {limit:?}", self.pid()),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `kill(pid, signo)`; a process that is already gone is not an error.
pub fn send_signal(pid: i32, signo: i32) {
    // SAFETY: kill has no memory effects; a stale pid gives ESRCH.
    unsafe {
        libc::kill(pid, signo);
    }
}

/// Polls `cond` every few milliseconds until it holds; panics naming `what`
/// once `limit` has passed.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        sleep(Duration::from_millis(5));
    }
}

/// Fields of /proc/PID/stat after the command name: index 0 is the state.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    Some(after_comm.split_whitespace().map(str::to_owned).collect())
}

/// The one-letter state (R, S, Z, T, ...) or `None` when the pid is gone.
pub fn state(pid: i32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// The process group of `pid`.
pub fn process_group(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// The parent pid as /proc sees it.
pub fn parent(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Every pid whose parent is `ppid`.
pub fn children(ppid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent(pid) == Some(ppid))
        .collect()
}

/// Zombie children of `ppid`.
pub fn zombie_children(ppid: i32) -> Vec<i32> {
    children(ppid)
        .into_iter()
        .filter(|&pid| state(pid) == Some('Z'))
        .collect()
}

/// Voluntary plus involuntary context switches so far.
pub fn context_switches(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// Open descriptor numbers of `pid`, sorted.
pub fn open_fds(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort_unstable();
    fds
}

/// One field of /proc/PID/status (`SigPnd`, `VmRSS`, `Uid`, ...), its value
/// trimmed; `None` when the pid is gone or has no such field.
pub fn status_field(pid: i32, name: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field_of(&status, name).map(str::to_owned)
}

/// One field of a /proc/PID/status text, its value trimmed.
fn field_of<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key == name).then_some(value.trim())
    })
}

/// The kernel function the process sleeps in (/proc/PID/wchan), e.g.
/// `do_sigtimedwait`; empty when it runs or is gone.
pub fn wchan(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// Signals `pid` blocks, ignores or catches (`SigBlk | SigIgn | SigCgt` of
/// one reading of /proc/PID/status); `None` once it is gone.
pub fn signals_handled(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    ["SigBlk", "SigIgn", "SigCgt"]
        .iter()
        .try_fold(0, |all, field| {
            let hex = field_of(&status, field)?;
            Some(all | u64::from_str_radix(hex, 16).ok()?)
        })
}

/// True while `pid` sleeps in rt_sigtimedwait, which lifts the block on the
/// signals it waits for, so the masks alone do not show them (x86_64
/// syscall 128 in /proc/PID/syscall, for kernels without a useful wchan).
pub fn in_sigtimedwait(pid: i32) -> bool {
    wchan(pid).contains("sigtimedwait")
        || fs::read_to_string(format!("/proc/{pid}/syscall"))
            .is_ok_and(|s| s.split_whitespace().next() == Some("128"))
}

/// True when `pid` has `signo` in hand: blocked, ignored, caught, or waited
/// for in rt_sigtimedwait. Before that, the signal's default action applies.
pub fn has_signal_in_hand(pid: i32, signo: i32) -> bool {
    in_sigtimedwait(pid)
        || signals_handled(pid).is_some_and(|mask| mask & crate::signals::bit(signo) != 0)
}

/// A pipe as (read end, write end), both close-on-exec, so no other child
/// inherits them by accident.
pub fn pipe() -> (fs::File, fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(ret, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe { (fs::File::from_raw_fd(fds[0]), fs::File::from_raw_fd(fds[1])) }
}

/// Blocks every signal 1..=64 with the raw `rt_sigprocmask` call (libc's
/// wrapper silently drops the numbers it reserves). Async-signal-safe: meant
/// for a `pre_exec` closure, so the program starts with everything blocked.
pub fn block_every_signal() -> std::io::Result<()> {
    let all: u64 = !0;
    // SAFETY: the kernel reads 8 bytes from `all`, which lives across the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if ret == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Closes fds 0, 1 and 2. Async-signal-safe: meant for a `pre_exec` closure,
/// so the program starts with no standard streams at all.
pub fn close_stdio() -> std::io::Result<()> {
    for fd in 0..=2 {
        // SAFETY: closing a descriptor number; in the child nothing owns them.
        unsafe {
            libc::close(fd);
        }
    }
    Ok(())
}

/// Forks a child that exits at once and waits for that exit without reaping
/// it (WNOWAIT). Async-signal-safe: meant for a `pre_exec` closure, so the
/// program starts with a zombie child whose SIGCHLD is long gone (the
/// default action discarded it): only a reap of its own clears it.
pub fn leave_a_zombie_child() -> std::io::Result<()> {
    // SAFETY: fork, _exit and waitid are async-signal-safe; `info` lives
    // across the call.
    unsafe {
        match libc::fork() {
            -1 => Err(std::io::Error::last_os_error()),
            0 => libc::_exit(0),
            child => {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let waited = libc::waitid(
                    libc::P_PID,
                    child as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                );
                if waited == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            }
        }
    }
}

/// Sets the soft and hard limit of `resource` to `value`. Async-signal-safe:
/// meant for a `pre_exec` closure, so the program starts under that limit.
pub fn set_rlimit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    set_rlimits(resource, value, value)
}

/// Sets the `soft` and `hard` limit of `resource`; async-signal-safe, like
/// [`set_rlimit`].
pub fn set_rlimits(
    resource: libc::__rlimit_resource_t,
    soft: u64,
    hard: u64,
) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit that lives across the call.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
