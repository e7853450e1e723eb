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
    start(&waited, &config);
    sleep_until_asked_to_stop(&waited, &config)
}

/// Everything between blocking signals and the first wait. Any failure here is
/// reported in one line and exits 1: the caller is still watching.
fn start(waited: &sys::SigSet, config: &Config) {
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
    if let Some(fd) = config.ready_fd {
        if let Err(e) = sys::write_all(fd, b"\n") {
            fail(startup("cannot write to the ready fd", e));
        }
        let _ = sys::close_fd(fd);
    }
    // Hold no parent's pipe or socket open: a reader waiting for EOF on a pipe
    // we inherited would otherwise wait for as long as we live.
    sys::close_from(3);
    // A child may have exited before SIGCHLD was blocked; that signal is gone.
    reap_all();
}

/// The one synchronous wait, with no timeout: the process is off the run queue
/// until a signal arrives. From here on nothing is fatal but a stop request.
fn sleep_until_asked_to_stop(waited: &sys::SigSet, config: &Config) -> ! {
    loop {
        let Some(signo) = sys::wait_signal(waited) else {
            // EINTR, where a C library passes it on (a SIGSTOP/SIGCONT pair
            // interrupts the wait); musl's sigwaitinfo retries it itself.
            continue;
        };
        match signals::classify(signo, config.exit_zero) {
            Action::Exit { code, name } => {
                if !config.quiet {
                    let mut line = Line::new();
                    line.push(cli::NAME.as_bytes())
                        .push(b": ")
                        .push(name.as_bytes())
                        .push(b", exiting ")
                        .push_u32(code.into());
                    let _ = sys::write_all(2, line.finish());
                }
                sys::exit(code.into())
            }
            Action::Reap => reap_all(),
            Action::Ignore => {}
        }
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
