//! The in-process hold: when no heartbeat can be exec'd, gatewayctl itself
//! keeps the CMD process alive, with the heartbeat's own signal table and
//! exit line (its library), so the two can never disagree. It sleeps in a
//! blocking read of signal-hook's self-pipe: no timer, no wake-ups.

use hermes_heartbeat::line::Line;
use hermes_heartbeat::signals::{self, Action};
use rustix::process::{WaitOptions, waitpid};
use signal_hook::iterator::Signals;

use crate::out;

/// The line printed when the hold takes over.
pub const NOTICE: &str = "`hermes-heartbeat` is unavailable; keeping the s6 CMD process alive in-process until the container is stopped.";

/// The termination requests: these must be caught, or there is no hold.
const REQUIRED: [i32; 4] = [
    signals::SIGTERM,
    signals::SIGINT,
    signals::SIGHUP,
    signals::SIGQUIT,
];

/// Never returns: exits `128+signum` (with the heartbeat's line) on SIGTERM,
/// SIGINT, SIGHUP or SIGQUIT. Every other signal whose default would stop
/// or end the process is caught and ignored, SIGCHLD reaps; the fault
/// signals keep their default, as in the heartbeat.
///
/// # Errors
/// Only when the termination requests cannot be caught.
pub fn forever() -> Result<std::convert::Infallible, std::io::Error> {
    let mut caught = Signals::new(REQUIRED)?;
    for signo in 1..=signals::MAX_SIGNAL {
        if REQUIRED.contains(&signo)
            || signals::FAULT_SIGNALS.contains(&signo)
            || signals::is_uncatchable(signo)
        {
            continue;
        }
        // Those the C library reserves (32-34) cannot be caught; nothing to
        // do about them from safe code.
        let _ = caught.add_signal(signo);
    }
    out::stderr(NOTICE);
    // Like the heartbeat: pin no mount for as long as the container lives.
    let _ = std::env::set_current_dir("/");
    reap_children();
    loop {
        for signo in caught.wait() {
            match signals::classify(signo, false) {
                Action::Exit { code, name } => {
                    let mut line = Line::new();
                    signals::render_exit(&mut line, name, code);
                    out::stderr(String::from_utf8_lossy(line.finish()).trim_end());
                    std::process::exit(code.into());
                }
                Action::Reap => reap_children(),
                Action::Ignore => {}
            }
        }
    }
}

/// SIGCHLD coalesces: reap every exited child.
fn reap_children() {
    while let Ok(Some(_)) = waitpid(None, WaitOptions::NOHANG) {}
}
