//! `gatewayctl run` under a hostile environment, against real s6: a
//! HERMES_HEARTBEAT that is a directory, a file that is not executable or not
//! a program, a huge name, a relative name (never searched in PATH), or
//! nothing usable at all. Each bad candidate gets one warning line and the
//! next one is tried; the real heartbeat is exec'd where one is reachable;
//! with none, the in-process hold says so and keeps running. Either way it
//! never dies of anything but a stop request, which it answers with 143.
//!
//! A copy of gatewayctl alone in a temporary directory stands for an image
//! without the heartbeat (the release directory has one beside gatewayctl).
//! Each gatewayctl runs in a private mount namespace where the path fixed at
//! build time is an empty directory, so what this machine has installed
//! there (`make install`) changes nothing.

use std::ffi::OsString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::container::{BUILT_IN_HEARTBEAT, hide_built_in_heartbeat_with};
use hermes_e2e::ns::Mount;
use hermes_e2e::proc::{self, Proc};
use hermes_e2e::program;
use hermes_e2e::s6::{self, Gateway, ScanDir};
use hermes_e2e::signals::{self, NON_TERMINATING_STANDARD};

/// The line the in-process hold starts with.
const HOLD_NOTICE: &str = "`hermes-heartbeat` is unavailable; keeping the s6 CMD process alive in-process until the container is stopped.";
const BREADCRUMB: &str = "✓ gateway-default is running under s6 supervision; this CMD process now only keeps the container alive. To run the gateway in the foreground instead, pass --no-supervise or set HERMES_GATEWAY_NO_SUPERVISE=1.";
/// Signals that must not end the hold (nor stop it): the standard ones the
/// heartbeat consumes, and these realtime ones. 32-34 are left out: the C
/// library reserves them, so the in-process hold (safe Rust over musl)
/// cannot catch or block them; the heartbeat itself does (see
/// heartbeat.rs). README, "Decisions", says so.
const HARMLESS_REALTIME: std::ops::RangeInclusive<i32> = 35..=64;

fn harmless() -> impl Iterator<Item = i32> {
    NON_TERMINATING_STANDARD
        .into_iter()
        .chain(HARMLESS_REALTIME)
}

const LIMIT: Duration = Duration::from_secs(20);

/// A real s6 scan directory with a `default` gateway that is down (so `run`
/// visibly starts it), and a scratch directory.
struct Setup {
    s6: ScanDir,
    scratch: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            s6: ScanDir::with(&[Gateway::new("default").down()]),
            scratch: tempfile::Builder::new()
                .prefix("hermes-run-hostile-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// A copy of the static gatewayctl alone in its own directory.
    fn lone_gatewayctl(&self) -> PathBuf {
        let dir = self.scratch.path().join("alone");
        fs::create_dir_all(&dir).expect("mkdir");
        let copy = dir.join("gatewayctl");
        program::copy(&bins::gatewayctl(), &copy);
        copy
    }

    /// Starts `program --scandir <scandir> run` with only HERMES_HOME, the
    /// given PATH (none when `None`) and `env`, in a private mount namespace
    /// where nothing is at the build-time heartbeat path; stderr goes to a
    /// file.
    fn run(&self, program: &Path, path: Option<&str>, env: &[(&str, OsString)]) -> Running {
        let (mut cmd, stderr) = self.command(program, path, env, false);
        Running::start(&mut cmd, stderr)
    }

    /// The command [`Setup::run`] starts, for a test to adjust, and the file
    /// its stderr goes to; with an empty tmpfs over /proc in its namespace
    /// when `hide_proc` (`/proc/self/exe` cannot be read there).
    fn command(
        &self,
        program: &Path,
        path: Option<&str>,
        env: &[(&str, OsString)],
        hide_proc: bool,
    ) -> (Command, PathBuf) {
        let stderr = self.scratch.path().join(format!(
            "stderr-{}",
            fs::read_dir(self.scratch.path()).map_or(0, Iterator::count)
        ));
        let mut cmd = Command::new(program);
        // With /proc hidden, as in an image run without /proc mounted.
        let more = if hide_proc {
            vec![Mount::empty_tmpfs(Path::new("/proc"))]
        } else {
            Vec::new()
        };
        hide_built_in_heartbeat_with(&mut cmd, more);
        cmd.env_clear().env("HERMES_HOME", self.s6.home());
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.arg("--scandir")
            .arg(self.s6.scandir())
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("stderr file"));
        (cmd, stderr)
    }
}

struct Running {
    proc: Proc,
    stderr: PathBuf,
}

impl Running {
    fn start(cmd: &mut Command, stderr: PathBuf) -> Running {
        Running {
            proc: Proc::spawn(cmd),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits (bounded) until stderr holds `line` as a whole line; gives all
    /// of stderr.
    fn wait_line(&self, line: &str) -> String {
        proc::wait_until(LIMIT, &format!("the line {line:?}"), || {
            self.stderr().lines().any(|l| l == line)
        });
        self.stderr()
    }

    fn exe(&self) -> Option<PathBuf> {
        fs::read_link(format!("/proc/{}/exe", self.proc.pid())).ok()
    }

    /// Sends every harmless signal, then SIGTERM: the exit code must be 143
    /// (an earlier death would show another code, a stop would never exit)
    /// and the last line the heartbeat's exit line.
    fn survives_all_but_term(mut self) {
        let pid = self.proc.pid();
        // Only once it has them in hand: before that, any program dies of them.
        proc::wait_until(LIMIT, "the harmless signals blocked or caught", || {
            proc::in_sigtimedwait(pid)
                || proc::signals_handled(pid)
                    .is_some_and(|mask| harmless().all(|signo| mask & signals::bit(signo) != 0))
        });
        for signo in harmless() {
            self.proc.signal(signo);
        }
        // Let the harmless signals land before the TERM.
        proc::wait_until(LIMIT, "the harmless signals handled", || {
            signals_pending(pid) == Some(0)
        });
        assert!(
            self.proc.is_running(),
            "died of a harmless signal: {}",
            self.stderr()
        );
        self.proc.signal(libc::SIGTERM);
        let code = self.proc.exit_code(LIMIT);
        let stderr = self.stderr();
        assert_eq!(code, 143, "{stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some("hermes-heartbeat: SIGTERM, exiting 143"),
            "{stderr}"
        );
    }
}

/// Signals pending for `pid` (thread and process), from /proc/PID/status.
fn signals_pending(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

/// An expected stderr line: exact, or a failed exec whose OS error text is
/// the C library's own (musl's, in the static build), so only its number
/// is fixed.
enum Line {
    Exact(String),
    FailedExec { path: String, errno: i32 },
}

impl Line {
    fn exact(text: &str) -> Line {
        Line::Exact(text.to_owned())
    }

    fn failed_exec(path: &str, errno: i32) -> Line {
        Line::FailedExec {
            path: path.to_owned(),
            errno,
        }
    }

    /// `⚠ cannot exec '<path>': <OS error> (os error N); trying the next place`.
    fn matches(&self, line: &str) -> bool {
        match self {
            Line::Exact(text) => line == text,
            Line::FailedExec { path, errno } => {
                let head = format!("⚠ cannot exec '{path}': ");
                let tail = format!(" (os error {errno}); trying the next place");
                line.starts_with(&head)
                    && line.ends_with(&tail)
                    && line.len() > head.len() + tail.len()
            }
        }
    }
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Exact(text) => write!(f, "{text:?}"),
            Line::FailedExec { path, errno } => {
                write!(f, "\"⚠ cannot exec '{path}': ... (os error {errno}); ...\"")
            }
        }
    }
}

fn assert_lines(stderr: &str, expected: &[Line]) {
    let lines: Vec<&str> = stderr.lines().collect();
    let ok = lines.len() == expected.len()
        && lines
            .iter()
            .zip(expected)
            .all(|(line, want)| want.matches(line));
    assert!(ok, "stderr lines\n{lines:#?}\ndo not match\n{expected:#?}");
}

/// The lines a lone copy prints after the HERMES_HEARTBEAT warning, if any:
/// its neighbour and the built-in path are missing, then the hold.
fn lone_tail(copy: &Path) -> Vec<Line> {
    let beside = copy.with_file_name("hermes-heartbeat");
    vec![
        Line::failed_exec(&beside.to_string_lossy(), libc::ENOENT),
        Line::failed_exec(BUILT_IN_HEARTBEAT, libc::ENOENT),
        Line::exact(HOLD_NOTICE),
    ]
}

/// Starts the lone copy with HERMES_HEARTBEAT set to `heartbeat`, waits for
/// the hold, and checks the lines: breadcrumb, `first_warning`, the rest.
fn assert_falls_through_to_the_hold(heartbeat: OsString, first_warning: Line) {
    let setup = Setup::new();
    let copy = setup.lone_gatewayctl();
    let running = setup.run(
        &copy,
        Some(s6::CLEAN_PATH),
        &[("HERMES_HEARTBEAT", heartbeat)],
    );
    let stderr = running.wait_line(HOLD_NOTICE);
    let mut expected = vec![Line::exact(BREADCRUMB), first_warning];
    expected.extend(lone_tail(&copy));
    assert_lines(&stderr, &expected);
    assert_eq!(running.exe(), Some(copy.clone()), "still gatewayctl");
    let st = setup.s6.wait_svstat("default", "up", |s| s.up);
    assert!(st.want_up, "{st:?}");
    assert_eq!(
        setup.s6.desired_state("default").as_deref(),
        Some("running")
    );
    running.survives_all_but_term();
}

/// A file named `hermes-heartbeat` in a fresh directory, with `content`
/// and `mode` (a path, not an open temp file: exec of a file still open for
/// writing fails with ETXTBSY instead).
fn heartbeat_file(content: &[u8], mode: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hermes-heartbeat");
    program::write(&file, content, mode);
    (dir, file)
}

// --- one bad candidate, then the next ---------------------------------------------

#[test]
fn heartbeat_that_is_a_directory_warns_and_falls_through_to_the_hold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = dir.path().to_string_lossy().into_owned();
    assert_falls_through_to_the_hold(dir.path().into(), Line::failed_exec(&shown, libc::EACCES));
}

#[test]
fn heartbeat_that_is_not_executable_warns_and_falls_through_to_the_hold() {
    let (_dir, file) = heartbeat_file(b"#!/bin/sh\nexec sleep 1000\n", 0o644);
    let shown = file.to_string_lossy().into_owned();
    assert_falls_through_to_the_hold(file.into(), Line::failed_exec(&shown, libc::EACCES));
}

#[test]
fn heartbeat_that_is_no_program_warns_and_falls_through_to_the_hold() {
    let (_dir, file) = heartbeat_file(b"\x7fELF but not really\n", 0o755);
    let shown = file.to_string_lossy().into_owned();
    assert_falls_through_to_the_hold(file.into(), Line::failed_exec(&shown, libc::ENOEXEC));
}

#[test]
fn heartbeat_with_a_huge_name_warns_in_one_short_line_and_falls_through_to_the_hold() {
    // 100,000 bytes, no NUL: far past PATH_MAX, within one environment string.
    let mut huge = b"/".to_vec();
    while huge.len() < 100_000 {
        huge.extend_from_slice(b"hermes-heartbeat-");
    }
    // The warning shows the first 80 characters, then `...`.
    let shown: String = String::from_utf8_lossy(&huge).chars().take(80).collect();
    assert_falls_through_to_the_hold(
        OsString::from_vec(huge),
        Line::failed_exec(&format!("{shown}..."), libc::ENAMETOOLONG),
    );
}

#[test]
fn relative_heartbeat_is_never_searched_in_path() {
    let setup = Setup::new();
    let copy = setup.lone_gatewayctl();
    // PATH leads straight to a real heartbeat: searching it would find one.
    let path = format!("{}:{}", bins::bin_dir().display(), s6::CLEAN_PATH);
    let running = setup.run(
        &copy,
        Some(&path),
        &[("HERMES_HEARTBEAT", "hermes-heartbeat".into())],
    );
    let stderr = running.wait_line(HOLD_NOTICE);
    let mut expected = vec![
        Line::exact(BREADCRUMB),
        Line::exact(
            "⚠ cannot exec 'hermes-heartbeat': not an absolute path; trying the next place",
        ),
    ];
    expected.extend(lone_tail(&copy));
    assert_lines(&stderr, &expected);
    assert_eq!(running.exe(), Some(copy));
    running.survives_all_but_term();
}

#[test]
fn a_heartbeat_named_twice_is_tried_once() {
    // HERMES_HEARTBEAT names the very place beside gatewayctl (as after an
    // install that forgot the heartbeat): one warning for it, not two.
    let setup = Setup::new();
    let copy = setup.lone_gatewayctl();
    let beside = copy.with_file_name("hermes-heartbeat");
    let running = setup.run(
        &copy,
        Some(s6::CLEAN_PATH),
        &[("HERMES_HEARTBEAT", beside.into())],
    );
    let stderr = running.wait_line(HOLD_NOTICE);
    let mut expected = vec![Line::exact(BREADCRUMB)];
    expected.extend(lone_tail(&copy));
    assert_lines(&stderr, &expected);
    running.survives_all_but_term();
}

#[test]
fn without_proc_a_relative_argv0_names_no_place_at_all() {
    // /proc hidden and argv[0] a bare name: gatewayctl cannot know its own
    // directory, so it tries only the built-in path (a relative candidate
    // would warn, and would search PATH if exec'd).
    let setup = Setup::new();
    let copy = setup.lone_gatewayctl();
    let (mut cmd, stderr) = setup.command(&copy, Some(s6::CLEAN_PATH), &[], true);
    cmd.arg0("gatewayctl");
    let running = Running::start(&mut cmd, stderr);
    let stderr = running.wait_line(HOLD_NOTICE);
    assert_lines(
        &stderr,
        &[
            Line::exact(BREADCRUMB),
            Line::failed_exec(BUILT_IN_HEARTBEAT, libc::ENOENT),
            Line::exact(HOLD_NOTICE),
        ],
    );
    running.survives_all_but_term();
}

// --- nothing usable at all ---------------------------------------------------------

/// Makes `cmd`, before its exec, fork `n` children that each block reading
/// a new pipe and exit 0 at its end of file. Returns the pipe (read end,
/// write end): drop the read end once `cmd` is spawned, then the write end
/// to let every child exit at the same moment.
fn fork_children_held_by_a_pipe(cmd: &mut Command, n: usize) -> (fs::File, fs::File) {
    let (release_r, release_w) = proc::pipe();
    let (r, w) = (release_r.as_raw_fd(), release_w.as_raw_fd());
    // SAFETY: fork, close, read, the close_range syscall and _exit are
    // async-signal-safe; runs in the child before its exec.
    unsafe {
        cmd.pre_exec(move || {
            for _ in 0..n {
                match libc::fork() {
                    -1 => return Err(std::io::Error::last_os_error()),
                    0 => {
                        // Keep only the read end: above all not the error
                        // pipe of Rust's spawn, whose end the test waits for.
                        let max = libc::c_uint::MAX;
                        libc::syscall(libc::SYS_close_range, 0, (r - 1) as libc::c_uint, 0);
                        libc::syscall(libc::SYS_close_range, (r + 1) as libc::c_uint, max, 0);
                        let mut byte = 0u8;
                        while libc::read(r, (&raw mut byte).cast(), 1) == -1
                            && *libc::__errno_location() == libc::EINTR
                        {}
                        libc::_exit(0)
                    }
                    _ => {}
                }
            }
            libc::close(r);
            libc::close(w);
            Ok(())
        });
    }
    (release_r, release_w)
}

/// Starts a lone copy that falls through to the hold, with `n` children
/// held by a pipe (see [`fork_children_held_by_a_pipe`]) and `start_dir`
/// as its working directory; waits for the hold. Gives the pipe's write end.
fn hold_with_children(setup: &Setup, start_dir: &Path, n: usize) -> (Running, fs::File) {
    let copy = setup.lone_gatewayctl();
    let (mut cmd, stderr) = setup.command(&copy, Some(s6::CLEAN_PATH), &[], false);
    cmd.current_dir(start_dir);
    let (release_r, release_w) = fork_children_held_by_a_pipe(&mut cmd, n);
    let running = Running::start(&mut cmd, stderr);
    drop(cmd);
    drop(release_r);
    running.wait_line(HOLD_NOTICE);
    let children = proc::children(running.proc.pid());
    assert!(
        children.len() == n && children.iter().all(|&c| proc::state(c) != Some('Z')),
        "the {n} children should still run: {children:?}"
    );
    (running, release_w)
}

#[test]
fn the_hold_sits_in_the_root_directory_and_reaps_a_child_that_exits_later() {
    // Like the heartbeat: it pins no mount, and a child of the CMD process
    // that exits (here, one forked before gatewayctl was exec'd, released
    // by the test once the hold runs) is reaped, not left a zombie.
    let setup = Setup::new();
    let start_dir = setup.scratch.path().join("started-here");
    fs::create_dir(&start_dir).expect("mkdir");
    let (running, release_w) = hold_with_children(&setup, &start_dir, 1);
    let pid = running.proc.pid();
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/cwd")).ok(),
        Some(PathBuf::from("/"))
    );
    drop(release_w);
    proc::wait_until(LIMIT, "the hold to reap its child", || {
        proc::children(pid).is_empty()
    });
    running.survives_all_but_term();
}

#[test]
fn the_hold_reaps_every_child_of_a_burst_that_raised_one_sigchld() {
    // Twenty children exit while the hold is stopped (SIGSTOP, which no
    // program can catch): their SIGCHLDs merge into one pending signal, so
    // the hold, once continued, must reap until none is left, not one per
    // signal.
    const N: usize = 20;
    let setup = Setup::new();
    let (mut running, release_w) = hold_with_children(&setup, setup.scratch.path(), N);
    let pid = running.proc.pid();
    running.proc.signal(libc::SIGSTOP);
    proc::wait_until(LIMIT, "the hold to be stopped", || {
        proc::state(pid) == Some('T')
    });
    drop(release_w);
    proc::wait_until(LIMIT, "every child to have exited", || {
        proc::zombie_children(pid).len() == N
    });
    assert_eq!(proc::state(pid), Some('T'), "the hold was not stopped");
    running.proc.signal(libc::SIGCONT);
    proc::wait_until(LIMIT, "the hold to reap all its children", || {
        proc::children(pid).is_empty()
    });
    assert!(
        running.proc.is_running(),
        "the hold died: {}",
        running.stderr()
    );
    running.survives_all_but_term();
}

#[test]
fn the_hold_reaps_a_child_that_exited_before_it_began() {
    // The child exited, unreaped, before gatewayctl was even exec'd, and its
    // SIGCHLD was discarded then: no signal will ever come for it, so only
    // the reap at the start of the hold clears it.
    let setup = Setup::new();
    let copy = setup.lone_gatewayctl();
    let (mut cmd, stderr) = setup.command(&copy, Some(s6::CLEAN_PATH), &[], false);
    // SAFETY: leave_a_zombie_child is async-signal-safe; runs in the child.
    unsafe {
        cmd.pre_exec(proc::leave_a_zombie_child);
    }
    let running = Running::start(&mut cmd, stderr);
    running.wait_line(HOLD_NOTICE);
    let pid = running.proc.pid();
    proc::wait_until(LIMIT, "the hold to reap the zombie it started with", || {
        proc::children(pid).is_empty()
    });
    running.survives_all_but_term();
}

#[test]
fn no_usable_heartbeat_and_no_path_holds_in_process_and_answers_term_with_143() {
    let setup = Setup::new();
    let copy = setup.lone_gatewayctl();
    // The neighbour is there by name, but it is a directory.
    let beside = copy.with_file_name("hermes-heartbeat");
    fs::create_dir(&beside).expect("mkdir");
    // No PATH at all, and an empty HERMES_HEARTBEAT (the same as unset).
    let running = setup.run(&copy, None, &[("HERMES_HEARTBEAT", OsString::new())]);
    let stderr = running.wait_line(HOLD_NOTICE);
    assert_lines(
        &stderr,
        &[
            Line::exact(BREADCRUMB),
            Line::failed_exec(&beside.to_string_lossy(), libc::EACCES),
            Line::failed_exec(BUILT_IN_HEARTBEAT, libc::ENOENT),
            Line::exact(HOLD_NOTICE),
        ],
    );
    running.survives_all_but_term();
}

// --- a bad candidate, then the real heartbeat ------------------------------------------

#[test]
fn bad_heartbeat_falls_through_to_the_real_one_beside_gatewayctl() {
    let setup = Setup::new();
    let heartbeat = fs::canonicalize(bins::heartbeat()).expect("heartbeat path");
    let dir = tempfile::tempdir().expect("tempdir");
    let running = setup.run(
        &bins::gatewayctl(),
        Some(s6::CLEAN_PATH),
        &[("HERMES_HEARTBEAT", dir.path().into())],
    );
    proc::wait_until(LIMIT, "the exec of the real heartbeat", || {
        running.exe().as_deref() == Some(heartbeat.as_path())
    });
    assert_lines(
        &running.stderr(),
        &[
            Line::exact(BREADCRUMB),
            Line::failed_exec(&dir.path().to_string_lossy(), libc::EACCES),
        ],
    );
    assert!(setup.s6.wait_svstat("default", "up", |s| s.up).want_up);
    running.survives_all_but_term();
}

/// A copy of gatewayctl with a real heartbeat beside it, alone in a
/// directory of `setup`'s; gives (the copy, the heartbeat).
fn together(setup: &Setup) -> (PathBuf, PathBuf) {
    let dir = setup.scratch.path().join("together");
    fs::create_dir_all(&dir).expect("mkdir");
    let copy = dir.join("gatewayctl");
    let heartbeat = dir.join("hermes-heartbeat");
    program::copy(&bins::gatewayctl(), &copy);
    program::copy(&bins::heartbeat(), &heartbeat);
    (copy, heartbeat)
}

/// `cmd`, started, hands gateway-default to s6 and becomes `heartbeat`,
/// with only the breadcrumb said (no hold, no failed candidate).
fn assert_becomes(setup: &Setup, cmd: &mut Command, stderr: PathBuf, heartbeat: &Path) {
    let running = Running::start(cmd, stderr);
    proc::wait_until(LIMIT, "the exec of the heartbeat beside gatewayctl", || {
        assert!(
            !running.stderr().contains(HOLD_NOTICE),
            "held in-process: {}",
            running.stderr()
        );
        running.exe().as_deref() == Some(heartbeat)
    });
    assert_lines(&running.stderr(), &[Line::exact(BREADCRUMB)]);
    assert!(setup.s6.wait_svstat("default", "up", |s| s.up).want_up);
    running.survives_all_but_term();
}

#[test]
fn without_proc_the_heartbeat_beside_an_absolute_argv0_is_exec_d() {
    // With /proc hidden, `/proc/self/exe` cannot be read: only the absolute
    // argv[0] tells gatewayctl which directory it is in. Nothing else has a
    // heartbeat (HERMES_HEARTBEAT unset, the built-in path hidden).
    let setup = Setup::new();
    let (copy, heartbeat) = together(&setup);
    let (mut cmd, stderr) = setup.command(&copy, None, &[], true);
    assert_becomes(&setup, &mut cmd, stderr, &heartbeat);
}

#[test]
fn the_heartbeat_beside_gatewayctl_is_found_through_proc_even_with_a_relative_argv0() {
    // Started by name through PATH, as a shell would: argv[0] is a bare
    // name, so only `/proc/self/exe` tells gatewayctl which directory it is
    // in. Nothing else has a heartbeat (HERMES_HEARTBEAT unset, the built-in
    // path hidden).
    let setup = Setup::new();
    let (copy, heartbeat) = together(&setup);
    let path = copy.parent().and_then(Path::to_str).expect("UTF-8 path");
    let (mut cmd, stderr) = setup.command(&copy, Some(path), &[], false);
    cmd.arg0("gatewayctl");
    assert_becomes(&setup, &mut cmd, stderr, &heartbeat);
}
