//! A long-lived stand-in for a Hermes messaging gateway, run by the s6
//! services of the end-to-end suites, the demo and the benchmark. It sleeps
//! without waking (a blocked SIGTERM and one `sigwaitinfo`) until told to stop.
//!
//! ```text
//! dummy-gateway [--term-delay-ms N] [--ignore-term] [--exit N] [--notify-fd N]
//!               [--ready-delay-ms N]
//! ```
//!
//! - default: SIGTERM kills it at once (it dies by the signal, as a program
//!   with the default disposition does; s6-svstat shows `signal SIGTERM`).
//! - `--term-delay-ms N`: on SIGTERM, wait N ms, then exit 0 (a slow shutdown).
//! - `--ignore-term`: SIGTERM is ignored; only SIGKILL (or another fatal
//!   signal) ends it.
//! - `--exit N`: exit with code N at once (a gateway that fails to start).
//! - `--notify-fd N`: write `\n` to fd N once ready, then close it (s6's
//!   `notification-fd` readiness protocol).
//! - `--ready-delay-ms N`: take N ms to become ready (before notifying).
//!
//! Any other argument: one line on stderr and exit 2.

use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

#[derive(Default)]
struct Options {
    term_delay_ms: Option<u64>,
    ignore_term: bool,
    exit: Option<u8>,
    notify_fd: Option<i32>,
    ready_delay_ms: u64,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--term-delay-ms" => opts.term_delay_ms = Some(number(&value(arg)?)?),
            "--ignore-term" => opts.ignore_term = true,
            "--exit" => opts.exit = Some(number(&value(arg)?)?),
            "--notify-fd" => opts.notify_fd = Some(number(&value(arg)?)?),
            "--ready-delay-ms" => opts.ready_delay_ms = number(&value(arg)?)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("dummy-gateway: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(code) = opts.exit {
        return ExitCode::from(code);
    }
    let term = sigset(&[libc::SIGTERM]);
    if opts.ignore_term {
        set_disposition(libc::SIGTERM, libc::SIG_IGN);
    } else {
        // An inherited SIG_IGN would discard the signal; block it and wait.
        set_disposition(libc::SIGTERM, libc::SIG_DFL);
        // SAFETY: `term` is an initialised sigset; the old mask is not wanted.
        unsafe { libc::sigprocmask(libc::SIG_BLOCK, &term, std::ptr::null_mut()) };
    }
    if opts.ready_delay_ms > 0 {
        sleep(Duration::from_millis(opts.ready_delay_ms));
    }
    if let Some(fd) = opts.notify_fd {
        notify(fd);
    }
    if opts.ignore_term {
        loop {
            // SAFETY: pause has no preconditions; it returns only after a
            // handler ran, and none is installed, so this never spins.
            unsafe { libc::pause() };
        }
    }
    wait_for(&term);
    match opts.term_delay_ms {
        Some(ms) => {
            sleep(Duration::from_millis(ms));
            ExitCode::SUCCESS
        }
        None => die_by_sigterm(&term),
    }
}

/// Blocks until a signal of `set` arrives (no timeout, no wake-ups).
fn wait_for(set: &libc::sigset_t) {
    loop {
        // SAFETY: `set` is initialised; a null siginfo pointer is allowed.
        let got = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if got == libc::SIGTERM {
            return;
        }
    }
}

/// Unblocks the pending-again SIGTERM with the default action, so the
/// process ends the way an unprepared program does: killed by the signal.
fn die_by_sigterm(term: &libc::sigset_t) -> ExitCode {
    // SAFETY: plain signal calls on our own process with initialised sets.
    unsafe {
        libc::raise(libc::SIGTERM);
        libc::sigprocmask(libc::SIG_UNBLOCK, term, std::ptr::null_mut());
    }
    ExitCode::from(143)
}

fn notify(fd: i32) {
    // SAFETY: writing one byte from a static buffer and closing a descriptor
    // we were told is ours; errors (a bad fd) are ignored on purpose.
    unsafe {
        libc::write(fd, b"\n".as_ptr().cast(), 1);
        libc::close(fd);
    }
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set before any use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn set_disposition(signo: i32, handler: libc::sighandler_t) {
    // SAFETY: SIG_DFL and SIG_IGN are valid dispositions for SIGTERM.
    unsafe { libc::signal(signo, handler) };
}
