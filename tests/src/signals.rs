//! The signal classes the suites send, named once: what ends the heartbeat
//! (and the in-process hold), what kills it by design, and what it consumes.

/// The bit of `signo` in the signal masks of /proc/PID/status.
pub fn bit(signo: i32) -> u64 {
    1 << (signo - 1)
}

/// The four termination signals: (number, name, exit code).
pub const TERMINATIONS: [(i32, &str, i32); 4] = [
    (libc::SIGTERM, "SIGTERM", 143),
    (libc::SIGINT, "SIGINT", 130),
    (libc::SIGHUP, "SIGHUP", 129),
    (libc::SIGQUIT, "SIGQUIT", 131),
];

/// The synchronous fault signals, which it leaves unblocked at their default
/// action so that a real fault kills it instead of looping.
pub const FAULTS: [(i32, &str); 7] = [
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGSYS, "SIGSYS"),
];

/// Every standard signal (1..=31) that is neither a termination signal, nor
/// uncatchable (KILL, STOP), nor a fault signal: each must be consumed.
pub const NON_TERMINATING_STANDARD: [i32; 18] = [
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGSTKFLT,
    libc::SIGCHLD,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGURG,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGWINCH,
    libc::SIGIO,
    libc::SIGPWR,
];
