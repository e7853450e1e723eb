//! Driving the heartbeat as a plain child: start it, know when start-up is
//! over (asleep in its signal wait), read its signal masks, and take its exit
//! code, where a death by signal is a failure.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::bins;
use crate::proc::{self, Proc};

/// Bound on start-up and on the exit after a signal.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The heartbeat with `args`, all three stdio on /dev/null.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(bins::heartbeat());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// True when `pid` is gone or a zombie.
pub fn exited(pid: i32) -> bool {
    matches!(proc::state(pid), None | Some('Z'))
}

/// True once `pid` sleeps in its signal wait: start-up is over.
pub fn asleep_in_signal_wait(pid: i32) -> bool {
    proc::state(pid) == Some('S') && proc::wchan(pid).contains("sigtimedwait")
}

/// Waits until `pid` sleeps in its signal wait; fails at once if it exited.
pub fn wait_asleep(pid: i32) {
    proc::wait_until(LIMIT, "the heartbeat to sleep in its signal wait", || {
        assert!(!exited(pid), "pid {pid} exited during start-up");
        asleep_in_signal_wait(pid)
    });
}

/// Spawns `cmd` and waits until the heartbeat is asleep.
pub fn start(cmd: &mut Command) -> Proc {
    let p = Proc::spawn(cmd);
    wait_asleep(p.pid());
    p
}

/// The exit code; a death by signal fails the test.
pub fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => panic!("killed by signal {sig} instead of exiting"),
        _ => panic!("neither exited nor killed: {status:?}"),
    }
}

/// Waits for `p` to exit and returns its exit code (never a signal death).
pub fn exit_of(p: &mut Proc) -> i32 {
    let status = p
        .wait_timeout(LIMIT)
        .unwrap_or_else(|| panic!("pid {} did not exit within {LIMIT:?}", p.pid()));
    exit_code(status)
}

/// A signal mask of /proc/PID/status (`SigBlk`, `SigIgn`, `SigPnd`, ...).
pub fn mask(pid: i32, field: &str) -> u64 {
    let hex = proc::status_field(pid, field).unwrap_or_else(|| panic!("no {field} for {pid}"));
    u64::from_str_radix(&hex, 16).unwrap_or_else(|e| panic!("{field} {hex:?}: {e}"))
}
