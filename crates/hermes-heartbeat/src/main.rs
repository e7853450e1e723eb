//! hermes-heartbeat: blocks signals, sleeps with zero wake-ups until asked to
//! stop, reaps zombies, and exits 128+signum.
//!
//! The order of start-up matters: signals are blocked before anything else,
//! so a TERM that arrives during start-up waits for us instead of killing us.
//! After start-up nothing may end the process except a termination signal: a
//! dying PID 1 takes the whole container with it.
#![no_std]
#![no_main]
// Every `unsafe` lives in `sys`, each with its `// SAFETY:` line.
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[allow(unsafe_code)]
mod sys;

use hermes_heartbeat::cli::{self, Command, Config};
use hermes_heartbeat::error::{self, Error};
use hermes_heartbeat::line::Line;
use hermes_heartbeat::ready;
use hermes_heartbeat::signals::{self, Action};

/// Exit code of the (unreachable) panic handler: distinct from every
/// documented code, and an exit rather than a spin, since we may be PID 1.
const PANIC_EXIT: i32 = 70;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    sys::exit(PANIC_EXIT)
}

fn run(args: sys::Args) -> ! {
    let waited = sys::SigSet::all_except(&signals::FAULT_SIGNALS);
    if let Err(e) = sys::block_signals(&waited) {
        fail(startup("cannot block signals", e));
    }
    let config = match cli::parse(args) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print(1, &[cli::USAGE.as_bytes(), b"\n\n", cli::HELP.as_bytes()]);
            sys::exit(0)
        }
        Ok(Command::Version) => {
            print(
                1,
                &[cli::NAME.as_bytes(), b" ", cli::VERSION.as_bytes(), b"\n"],
            );
            sys::exit(0)
        }
        Err(e) => fail(Error::from(e)),
    };
    let pending = start(&waited, &config);
    sleep_until_asked_to_stop(&waited, &config, pending)
}

/// Everything between blocking signals and the first wait. Any failure here is
/// reported in one line and exits 1: the caller is still watching. Returns the
/// readiness newline if its pipe was full.
fn start(waited: &sys::SigSet, config: &Config) -> Option<PendingReady> {
    for signo in 1..=signals::MAX_SIGNAL {
        if waited.contains(signo) && !signals::is_uncatchable(signo) {
            if let Err(e) = sys::set_default_action(signo) {
                fail(startup("cannot reset a signal's inherited disposition", e));
            }
        }
    }
    if let Err(e) = sys::change_dir(c"/") {
        fail(startup("cannot chdir to /", e));
    }
    if config.subreaper {
        if let Err(e) = sys::become_subreaper() {
            fail(startup("cannot become a child subreaper", e));
        }
    }
    let pending = match config.ready_fd.map(notify_ready) {
        Some(Err(e)) => fail(startup("cannot write to the ready fd", e)),
        Some(Ok(pending)) => pending,
        None => None,
    };
    // Hold no parent's pipe or socket open: a reader waiting for EOF on a pipe
    // we inherited would otherwise wait for as long as we live.
    close_inherited(pending.as_ref().map(|p| p.fd));
    // A child may have exited before SIGCHLD was blocked; that signal is gone.
    reap_all();
    pending
}

/// Closes every descriptor from 3 up, except `keep`.
fn close_inherited(keep: Option<i32>) {
    match keep {
        Some(fd) if fd >= 3 => {
            sys::close_range(3, fd as u32 - 1);
            sys::close_range(fd as u32 + 1, u32::MAX);
        }
        _ => sys::close_range(3, u32::MAX),
    }
}

/// Writes the readiness newline to `fd` and closes it, without ever blocking:
/// with every signal blocked, a write waiting on a full pipe would make a stop
/// impossible. When the pipe is full, `fd` stays open and the newline is
/// returned pending. Any other error is returned: at start-up, a failure.
fn notify_ready(fd: i32) -> Result<Option<PendingReady>, sys::Errno> {
    let flags = sys::status_flags(fd)?;
    sys::set_status_flags(fd, flags | sys::O_NONBLOCK)?;
    let pending = PendingReady {
        fd,
        flags,
        retry_ms: ready::FIRST_RETRY_MS,
    };
    match sys::write_all(fd, b"\n") {
        Err(e) if e.would_block() => Ok(Some(pending)),
        written => {
            pending.finish();
            written.map(|()| None)
        }
    }
}

/// The readiness newline while its pipe is full: the reader is alive but not
/// reading. It is retried after each wake-up of a timed wait.
struct PendingReady {
    fd: i32,
    /// The status flags as found, given back when done: the open file
    /// description may be shared (fd 1 may be the parent's terminal).
    flags: i32,
    retry_ms: u32,
}

impl PendingReady {
    /// Tries the newline again; `true` once done and the fd closed: written,
    /// or never to be (EPIPE: the reader is gone), which after start-up is
    /// not a failure.
    fn retry(&mut self) -> bool {
        match sys::write_all(self.fd, b"\n") {
            Err(e) if e.would_block() => {
                self.retry_ms = ready::next_retry_ms(self.retry_ms);
                false
            }
            _ => {
                self.finish();
                true
            }
        }
    }

    fn give_back_flags(&self) {
        let _ = sys::set_status_flags(self.fd, self.flags);
    }

    fn finish(&self) {
        self.give_back_flags();
        let _ = sys::close_fd(self.fd);
    }
}

/// The one synchronous wait, with no timeout: the process is off the run queue
/// until a signal arrives. Only while the readiness newline is pending does
/// the wait time out, to retry it. From here on nothing is fatal but a stop
/// request.
fn sleep_until_asked_to_stop(
    waited: &sys::SigSet,
    config: &Config,
    mut pending: Option<PendingReady>,
) -> ! {
    loop {
        // `None` after a timeout, or after EINTR where a C library passes it
        // on (a SIGSTOP/SIGCONT pair interrupts the wait; musl retries it).
        let signo = match &pending {
            None => sys::wait_signal(waited),
            Some(p) => sys::wait_signal_for(waited, p.retry_ms),
        };
        if let Some(signo) = signo {
            act_on(signo, config, pending.as_ref());
        }
        if pending.as_mut().is_some_and(PendingReady::retry) {
            pending = None;
        }
    }
}

/// Does what `signo` asks for: exit, reap, or nothing.
fn act_on(signo: i32, config: &Config, pending: Option<&PendingReady>) {
    match signals::classify(signo, config.exit_zero) {
        Action::Exit { code, name } => {
            if !config.quiet {
                let mut line = Line::new();
                signals::render_exit(&mut line, name, code);
                let _ = sys::write_all(2, line.finish());
            }
            // Only after the line: with `-r 2`, blocking again on a full
            // stderr would hold the exit up.
            if let Some(p) = pending {
                p.give_back_flags();
            }
            sys::exit(code.into())
        }
        Action::Reap => reap_all(),
        Action::Ignore => {}
    }
}

/// SIGCHLD coalesces: one signal may stand for many exited children.
fn reap_all() {
    while sys::reap_one() {}
}

fn print(fd: i32, parts: &[&[u8]]) {
    for part in parts {
        let _ = sys::write_all(fd, part);
    }
}

fn startup(doing: &'static str, e: sys::Errno) -> Error<'static> {
    Error::Startup { doing, errno: e.0 }
}

/// Reports `e` in one line on stderr and exits with its code.
fn fail(e: Error<'_>) -> ! {
    let mut line = Line::new();
    e.render(&mut line);
    let _ = sys::write_all(2, line.finish());
    sys::exit(error::exit_code(&e))
}
