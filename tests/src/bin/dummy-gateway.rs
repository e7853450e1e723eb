//! A long-lived stand-in for a Hermes messaging gateway, run by the s6
//! services of the end-to-end suites, the demo and the benchmark. It sleeps
//! without waking (a blocked SIGTERM and one `sigwaitinfo`) until told to stop.
//!
//! ```text
//! dummy-gateway [--term-delay-ms N] [--ignore-term] [--exit N] [--notify-fd N]
//!               [--ready-delay-ms N] [--hermes-home DIR]
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
//! - `--hermes-home DIR`: behave as a Hermes gateway with HERMES_HOME=DIR
//!   does about stops: write `DIR/gateway.pid` at start; on SIGTERM, consume
//!   `DIR/.gateway-planned-stop.json` and exit 0 if it names this process
//!   (pid, start time) and is under a minute old (a planned stop), else
//!   exit 1 (an unplanned SIGTERM, which the supervisor should undo).
//!
//! Any other argument: one line on stderr and exit 2.

use std::path::PathBuf;
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
    hermes_home: Option<PathBuf>,
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
            "--hermes-home" => opts.hermes_home = Some(PathBuf::from(value(arg)?)),
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
    // Before SIGTERM is armed, so a test that sees it armed finds the file.
    if let Some(home) = &opts.hermes_home {
        hermes::write_pid_file(home);
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
    if let Some(home) = &opts.hermes_home {
        return hermes::on_sigterm(home);
    }
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

/// What a Hermes gateway does about stops (gateway/status.py and
/// gateway/run.py of hermes-agent 0.19.0): its pid file, and the planned-stop
/// marker that tells an operator's stop from any other SIGTERM.
mod hermes {
    use std::fs;
    use std::path::Path;
    use std::process::ExitCode;
    use std::time::{Duration, SystemTime};

    use serde_json::{Value, json};

    const PID_FILE: &str = "gateway.pid";
    const MARKER: &str = ".gateway-planned-stop.json";
    /// A marker older than this is stale (`_PLANNED_STOP_MARKER_TTL_S`).
    const MARKER_TTL: Duration = Duration::from_secs(60);

    pub fn write_pid_file(home: &Path) {
        let record = json!({
            "pid": std::process::id(),
            "kind": "hermes-gateway",
            "argv": std::env::args().collect::<Vec<_>>(),
            "start_time": start_time(),
        });
        if let Err(e) = fs::write(home.join(PID_FILE), record.to_string()) {
            eprintln!("dummy-gateway: cannot write {PID_FILE}: {e}");
        }
    }

    /// Consumes the marker (removed whatever it says, as the gateway does),
    /// then exits 0 for a planned stop and 1 for any other SIGTERM.
    pub fn on_sigterm(home: &Path) -> ExitCode {
        let marker = home.join(MARKER);
        let planned = fs::read(&marker)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|m| names_this_process(&m));
        let _ = fs::remove_file(&marker);
        let _ = fs::remove_file(home.join(PID_FILE));
        eprintln!(
            "dummy-gateway: SIGTERM, {}",
            if planned {
                "a planned stop: exit 0"
            } else {
                "unplanned: exit 1"
            }
        );
        ExitCode::from(u8::from(!planned))
    }

    fn names_this_process(marker: &Value) -> bool {
        let pid_matches = marker["target_pid"].as_u64() == Some(u64::from(std::process::id()));
        // Null on either side: the pid alone decides, as in the gateway.
        let start_matches = match (&marker["target_start_time"], start_time()) {
            (Value::Null, _) | (_, None) => true,
            (t, Some(own)) => t.as_u64() == Some(own),
        };
        let fresh = marker["written_at"]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
            .is_some_and(|written| {
                SystemTime::now()
                    .duration_since(written)
                    .map_or(true, |age| age <= MARKER_TTL)
            });
        pid_matches && start_matches && fresh
    }

    /// Field 22 of /proc/self/stat: the start time in clock ticks.
    fn start_time() -> Option<u64> {
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        let after_comm = &stat[stat.rfind(')')? + 1..];
        after_comm.split_whitespace().nth(19)?.parse().ok()
    }
}
