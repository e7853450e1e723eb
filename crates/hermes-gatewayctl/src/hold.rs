//! The in-process hold: when no heartbeat can be exec'd, gatewayctl itself
//! keeps the CMD process alive, with the heartbeat's signals, exit codes and
//! exit line. It sleeps in a blocking read of signal-hook's self-pipe: no
//! timer, no wake-ups.

use rustix::process::{WaitOptions, waitpid};
use signal_hook::consts::signal::{
    SIGALRM, SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGIO, SIGPIPE, SIGPROF, SIGQUIT, SIGTERM, SIGTSTP,
    SIGTTIN, SIGTTOU, SIGURG, SIGUSR1, SIGUSR2, SIGVTALRM, SIGWINCH, SIGXCPU, SIGXFSZ,
};
use signal_hook::iterator::Signals;

use crate::out;

/// Not exported by signal-hook; Linux numbers (x86, arm, generic).
const SIGSTKFLT: i32 = 16;
const SIGPWR: i32 = 30;

/// The line printed when the hold takes over.
pub const NOTICE: &str = "`hermes-heartbeat` is unavailable; keeping the s6 CMD process alive in-process until the container is stopped.";

/// Signals whose default action would stop or end the process: all are
/// caught, so only the four termination requests end the hold. The fault
/// signals (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS) keep their default, as in
/// the heartbeat.
const CAUGHT: [i32; 22] = [
    SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGWINCH,
    SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT, SIGURG, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO,
    SIGPWR, SIGSTKFLT,
];
/// Realtime signals (their default action terminates). Those the libc
/// reserves for itself cannot be caught and are skipped.
const REALTIME: std::ops::RangeInclusive<i32> = 32..=64;

/// Never returns: exits `128+signum` (with the heartbeat's line) on SIGTERM,
/// SIGINT, SIGHUP or SIGQUIT.
///
/// # Errors
/// Only when the signal handlers cannot be installed at all.
pub fn hold() -> Result<std::convert::Infallible, std::io::Error> {
    let mut signals = Signals::new(CAUGHT)?;
    for signo in REALTIME {
        // Reserved realtime signals fail to register; nothing to catch there.
        let _ = signals.add_signal(signo);
    }
    out::stderr(NOTICE);
    // Like the heartbeat: pin no mount for as long as the container lives.
    let _ = std::env::set_current_dir("/");
    reap_children();
    loop {
        for signo in signals.wait() {
            match termination_name(signo) {
                Some(name) => {
                    let code = 128 + signo;
                    out::stderr(format_args!("hermes-heartbeat: {name}, exiting {code}"));
                    std::process::exit(code);
                }
                None if signo == SIGCHLD => reap_children(),
                None => {}
            }
        }
    }
}

fn termination_name(signo: i32) -> Option<&'static str> {
    match signo {
        SIGTERM => Some("SIGTERM"),
        SIGINT => Some("SIGINT"),
        SIGHUP => Some("SIGHUP"),
        SIGQUIT => Some("SIGQUIT"),
        _ => None,
    }
}

/// SIGCHLD coalesces: reap every exited child.
fn reap_children() {
    while let Ok(Some(_)) = waitpid(None, WaitOptions::NOHANG) {}
}
