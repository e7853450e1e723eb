//! PID (and mount) namespaces made with util-linux `unshare`, the way a
//! container runtime makes them: a program becomes PID 1 of a new namespace,
//! and the whole namespace dies with it.

use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::proc::{self, Proc};

/// A program running as PID 1 of a new PID namespace. Dropping it kills the
/// `unshare` parent; `--kill-child` then SIGKILLs PID 1, which takes every
/// process of the namespace with it.
pub struct PidNs {
    outer: Proc,
    pid1: i32,
}

/// How to build the namespace.
#[derive(Default, Clone, Copy)]
pub struct NsOptions {
    /// Also a new mount namespace with its own /proc (`--mount --mount-proc`).
    pub mount: bool,
}

impl PidNs {
    /// Starts `program args...` as PID 1 of a new PID namespace, with the
    /// given stdio. Waits until PID 1 has exec'd `program`.
    pub fn start<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: &[S],
        options: NsOptions,
    ) -> PidNs {
        let mut cmd = Self::command(program, args, options);
        cmd.stdin(Stdio::null());
        PidNs::spawn(&mut cmd)
    }

    /// The `unshare` command line, for callers that need to add environment
    /// or stdio before [`PidNs::spawn`].
    pub fn command<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: &[S],
        options: NsOptions,
    ) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--kill-child"]);
        if options.mount {
            cmd.args(["--mount", "--mount-proc"]);
        }
        cmd.arg("--").arg(program).args(args);
        cmd
    }

    /// Spawns a command built by [`PidNs::command`] and waits until its
    /// PID 1 has exec'd the program (its comm is no longer `unshare`).
    pub fn spawn(cmd: &mut Command) -> PidNs {
        let outer = Proc::spawn(cmd);
        let mut pid1 = 0;
        proc::wait_until(
            Duration::from_secs(10),
            "the namespace's PID 1 to start",
            || {
                pid1 = proc::children(outer.pid()).into_iter().next().unwrap_or(0);
                pid1 != 0 && !comm_is(pid1, "unshare")
            },
        );
        PidNs { outer, pid1 }
    }

    /// PID 1's pid as seen from outside the namespace.
    pub fn pid1(&self) -> i32 {
        self.pid1
    }

    /// The pid of the `unshare` process whose child PID 1 is.
    pub fn outer_pid(&self) -> i32 {
        self.outer.pid()
    }

    /// A command that runs inside the namespace (`nsenter -t PID1 -p [-m]`).
    /// With `mount`, it also enters the mount namespace (and sees its /proc).
    pub fn enter(&self, mount: bool) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t").arg(self.pid1.to_string()).arg("-p");
        if mount {
            cmd.arg("-m");
        }
        cmd.arg("--");
        cmd
    }

    /// Sends `signo` to PID 1 from outside the namespace.
    pub fn signal_pid1(&self, signo: i32) {
        proc::send_signal(self.pid1, signo);
    }

    /// The exit code of PID 1 (as `unshare` passes it on), within `limit`.
    pub fn exit_code(&mut self, limit: Duration) -> i32 {
        self.outer.exit_code(limit)
    }

    /// How PID 1 ended (as `unshare` passes it on: its exit code, or its
    /// death by signal re-raised), or `None` if it still runs after `limit`.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.outer.wait_timeout(limit)
    }

    /// True while PID 1 is alive.
    pub fn is_running(&mut self) -> bool {
        self.outer.is_running()
    }
}

impl Drop for PidNs {
    /// Kills PID 1 (the kernel then kills every process of the namespace)
    /// and waits, bounded, for `unshare` to reap it and exit, so no orphan is
    /// left for the host's init to reap; `outer`'s own drop is the backstop.
    fn drop(&mut self) {
        if self.outer.is_running() {
            proc::send_signal(self.pid1, libc::SIGKILL);
            let _ = self.outer.wait_timeout(Duration::from_secs(10));
        }
    }
}

/// True when `/proc/PID/comm` is `name`.
fn comm_is(pid: i32, name: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name)
}

/// One mount made in a private mount namespace (see [`in_private_mounts`]).
pub struct Mount {
    fstype: &'static CStr,
    target: CString,
    data: CString,
}

impl Mount {
    /// An empty tmpfs over `target`, as if nothing were there.
    pub fn empty_tmpfs(target: &Path) -> Mount {
        Mount::new(c"tmpfs", target, c"mode=0755".to_owned())
    }

    /// An overlay over `target` with these `options` (`lowerdir=...`).
    pub fn overlay(target: &Path, options: CString) -> Mount {
        Mount::new(c"overlay", target, options)
    }

    fn new(fstype: &'static CStr, target: &Path, data: CString) -> Mount {
        Mount {
            fstype,
            target: CString::new(target.as_os_str().as_bytes()).expect("a path without NUL"),
            data,
        }
    }
}

/// Makes `cmd` start in a private mount namespace of its own, with `mounts`
/// made there in order. Nothing mounted there reaches the host's namespace,
/// the process is still `cmd`'s program itself (no wrapper), and the
/// namespace, with its mounts, goes away with it.
pub fn in_private_mounts(cmd: &mut Command, mounts: Vec<Mount>) {
    let check = |ret: libc::c_int| {
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // SAFETY: the closure runs in the forked child before exec and only
    // makes system calls (unshare, mount) on C strings made beforehand (no
    // allocation, no lock).
    unsafe {
        cmd.pre_exec(move || {
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for m in &mounts {
                check(libc::mount(
                    m.fstype.as_ptr(),
                    m.target.as_ptr(),
                    m.fstype.as_ptr(),
                    0,
                    m.data.as_ptr().cast(),
                ))?;
            }
            Ok(())
        });
    }
}
