//! Ctrl-C, SIGTERM and SIGHUP while gatewayctl acts on gateways.
//!
//! The s6 programs run in process groups of their own (so that an overrun
//! can be killed with its helpers), which also keeps a terminal's Ctrl-C
//! away from them. Dying at once would leave them behind and leave the state
//! files saying whatever they said before. Instead the signal is noted: no
//! new s6 program starts, a command being sent to s6 is let finish (it takes
//! milliseconds, and its outcome decides what is recorded), and every wait
//! for a state (`--wait`) is abandoned by killing its process group. The
//! command then exits `128+signum`.

use std::io;
use std::sync::Mutex;
use std::thread;

use rustix::process::{Pid, Signal, kill_process_group};
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The first interrupting signal, and the process groups of the waits that
/// run now. One lock for both, so a wait registered as the signal comes is
/// either killed by the handler or sees the signal itself.
static STATE: Mutex<State> = Mutex::new(State {
    signal: None,
    waits: Vec::new(),
});

struct State {
    signal: Option<i32>,
    waits: Vec<Pid>,
}

/// The signals that interrupt a command.
const INTERRUPTING: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Starts noting the interrupting signals (from now on they no longer end
/// the process by themselves).
///
/// # Errors
/// The handlers or the thread that takes the signals cannot be set up.
pub fn watch() -> io::Result<()> {
    let mut signals = Signals::new(INTERRUPTING)?;
    thread::Builder::new()
        .name("interrupt".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            for signo in signals.forever() {
                interrupted_by(signo);
            }
        })?;
    Ok(())
}

fn interrupted_by(signo: i32) {
    let mut state = lock();
    state.signal.get_or_insert(signo);
    for group in state.waits.drain(..) {
        kill(group);
    }
}

/// The signal that interrupted the command, if one did.
pub fn signal() -> Option<i32> {
    lock().signal
}

/// A wait running in process group `group`, abandoned (killed) when an
/// interrupting signal comes; dropping it ends the watch. A wait that starts
/// after the signal is killed at once.
pub struct Abandonable(Pid);

impl Abandonable {
    pub fn register(group: Pid) -> Abandonable {
        let mut state = lock();
        if state.signal.is_some() {
            kill(group);
        } else {
            state.waits.push(group);
        }
        Abandonable(group)
    }
}

impl Drop for Abandonable {
    fn drop(&mut self) {
        lock().waits.retain(|g| *g != self.0);
    }
}

fn kill(group: Pid) {
    // The group may have ended already; nothing to do about an error.
    let _ = kill_process_group(group, Signal::KILL);
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    // Nothing panics while holding it; should anything, the state is still
    // a plain value worth using.
    STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
