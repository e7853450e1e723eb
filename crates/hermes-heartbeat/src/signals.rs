//! What the heartbeat does with each signal it receives.
//!
//! Numbers are the Linux ones of x86_64 and aarch64, the targets built here
//! (the "generic" table most architectures share; mips, sparc and alpha
//! number signals differently).

use crate::line::Line;

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGABRT: i32 = 6;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGSEGV: i32 = 11;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGSTOP: i32 = 19;
pub const SIGSYS: i32 = 31;

/// Highest signal number on Linux (`_NSIG - 1`).
pub const MAX_SIGNAL: i32 = 64;

/// Synchronous fault signals: left unblocked so that a real fault in the
/// process kills it instead of looping forever on the faulting instruction.
pub const FAULT_SIGNALS: [i32; 7] = [SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS];

/// Signals whose disposition cannot be changed (and which cannot be blocked).
pub fn is_uncatchable(signo: i32) -> bool {
    signo == SIGKILL || signo == SIGSTOP
}

/// What to do with one received signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A termination request: leave with this exit code.
    Exit { code: u8, name: &'static str },
    /// A child changed state: reap every exited child.
    Reap,
    /// Anything else: consumed and ignored.
    Ignore,
}

/// Maps a received signal to the heartbeat's action. With `exit_zero`, a
/// termination request exits 0 (the Kubernetes pause / catatonit -P
/// convention) instead of `128+signum`.
pub fn classify(signo: i32, exit_zero: bool) -> Action {
    let name = match signo {
        SIGTERM => "SIGTERM",
        SIGINT => "SIGINT",
        SIGHUP => "SIGHUP",
        SIGQUIT => "SIGQUIT",
        SIGCHLD => return Action::Reap,
        _ => return Action::Ignore,
    };
    // signo is at most 15 here, so 128 + signo fits in a u8.
    let code = if exit_zero { 0 } else { 128 + signo as u8 };
    Action::Exit { code, name }
}

/// The line printed on the way out: `hermes-heartbeat: SIGTERM, exiting 143`
/// (the in-process hold of gatewayctl prints the same, so log greps match
/// either).
pub fn render_exit(line: &mut Line, name: &str, code: u8) {
    line.push(crate::cli::NAME.as_bytes())
        .push(b": ")
        .push(name.as_bytes())
        .push(b", exiting ")
        .push_u32(code.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_line_names_the_signal_and_the_code() {
        let mut line = Line::new();
        render_exit(&mut line, "SIGTERM", 143);
        assert_eq!(line.finish(), b"hermes-heartbeat: SIGTERM, exiting 143\n");
    }

    #[test]
    fn termination_signals_exit_128_plus_signum() {
        let codes: Vec<_> = [SIGTERM, SIGINT, SIGHUP, SIGQUIT]
            .iter()
            .map(|&s| classify(s, false))
            .collect();
        assert_eq!(
            codes,
            [
                Action::Exit {
                    code: 143,
                    name: "SIGTERM"
                },
                Action::Exit {
                    code: 130,
                    name: "SIGINT"
                },
                Action::Exit {
                    code: 129,
                    name: "SIGHUP"
                },
                Action::Exit {
                    code: 131,
                    name: "SIGQUIT"
                },
            ]
        );
    }

    #[test]
    fn exit_zero_turns_every_termination_into_zero() {
        for s in [SIGTERM, SIGINT, SIGHUP, SIGQUIT] {
            assert!(matches!(classify(s, true), Action::Exit { code: 0, .. }));
        }
    }

    #[test]
    fn sigchld_reaps_and_others_are_ignored() {
        assert_eq!(classify(SIGCHLD, false), Action::Reap);
        for s in [10, 12, 13, 14, 18, 20, 21, 22, 28, 34, 64] {
            assert_eq!(classify(s, false), Action::Ignore, "signal {s}");
        }
    }

    #[test]
    fn fault_signals_are_never_waited_for() {
        for s in FAULT_SIGNALS {
            assert!(!matches!(classify(s, false), Action::Exit { .. }));
        }
    }
}
