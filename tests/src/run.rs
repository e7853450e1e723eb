//! Running a program to its end with its exit code, stdout and stderr
//! captured, bounded in time (a program that overruns is killed and the
//! caller panics with its name).

use std::fmt;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::proc::{Proc, shell_code};

/// What a finished program left behind.
#[derive(Clone)]
pub struct Output {
    /// The shell-style exit code (`128 + signum` when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The non-empty lines of stdout.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| !l.is_empty()).collect()
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.is_empty()).collect()
    }
}

/// Shows all three parts, for assertion messages.
impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with stdin from /dev/null and both outputs captured; panics
/// (after killing it) when it has not exited within `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(cmd);
    let stdout = collect(proc.child().stdout.take());
    let stderr = collect(proc.child().stderr.take());
    let Some(status) = proc.wait_timeout(limit) else {
        panic!(
            "{:?} {:?} did not exit within {limit:?}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>()
        );
    };
    // A descendant that kept the pipe open would block the readers forever.
    let pipe_limit = Duration::from_secs(10);
    let read = |rx: mpsc::Receiver<Vec<u8>>, what: &str| {
        let bytes = rx.recv_timeout(pipe_limit).unwrap_or_else(|_| {
            panic!(
                "{what} of {:?} still open after it exited",
                cmd.get_program()
            )
        });
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Output {
        code: shell_code(status),
        stdout: read(stdout, "stdout"),
        stderr: read(stderr, "stderr"),
    }
}

/// Reads a pipe to its end on a thread; the bytes arrive on the channel.
fn collect(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(bytes);
    });
    rx
}
