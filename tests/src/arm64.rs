//! Running the aarch64 builds here: in a user and mount namespace of its
//! own, a command finds binfmt_misc mounted and qemu-aarch64-static
//! registered for aarch64 ELF (with the `F` flag: the interpreter is opened
//! once, so it works whatever the command's root and PATH). binfmt_misc is
//! private to a user namespace on these kernels, so nothing on the host
//! changes, and everything the command starts runs aarch64 programs too.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::proc::{self, Proc};
use crate::run::Output;

pub const TARGET: &str = "aarch64-unknown-linux-musl";
const QEMU: &str = "/usr/bin/qemu-aarch64-static";
/// The registration line: aarch64 ELF executables (e_machine 183) by magic
/// and mask, as qemu's own binfmt configuration has them; the kernel reads
/// the `\x` escapes itself.
const REGISTER: &str = concat!(
    r":qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
    r":\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    ":/usr/bin/qemu-aarch64-static:F"
);
/// Run by `sh` as the namespace's first program, before the command.
const SETUP: &str = r#"/bin/mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && printf '%s' "$REGISTER" > /proc/sys/fs/binfmt_misc/register && unset REGISTER && exec "$@""#;

/// The directory of the aarch64 static builds (`make static
/// TARGET=aarch64-unknown-linux-musl`), canonical.
pub fn bin_dir() -> PathBuf {
    let dir = match std::env::var_os("HERMES_BIN_DIR_AARCH64") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../target/{TARGET}/release")),
    };
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

pub fn heartbeat() -> PathBuf {
    bin_dir().join("hermes-heartbeat")
}

pub fn gatewayctl() -> PathBuf {
    bin_dir().join("gatewayctl")
}

/// Why aarch64 programs cannot run here (`None`: they can). Checked once:
/// qemu-aarch64-static, the builds, and a namespace that runs one.
fn why_not() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        if !std::path::Path::new(QEMU).is_file() {
            return Some(format!(
                "{QEMU} is not installed (Debian's qemu-user-static)"
            ));
        }
        if !heartbeat().is_file() || !gatewayctl().is_file() {
            return Some(format!(
                "no aarch64 builds in {} (make static TARGET={TARGET})",
                bin_dir().display()
            ));
        }
        let out = emulated(Command::new(heartbeat()).arg("--version")).output();
        match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!(
                "the aarch64 heartbeat does not run in a user namespace with binfmt_misc: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Some(format!("unshare cannot run: {e}")),
        }
    })
    .clone()
}

/// True when aarch64 programs can run here. Otherwise one line says why and
/// the caller skips, unless `HERMES_REQUIRE_ARM64` is set (CI), which makes
/// it a failure.
pub fn available(test: &str) -> bool {
    match why_not() {
        None => true,
        Some(why) if std::env::var_os("HERMES_REQUIRE_ARM64").is_some_and(|v| !v.is_empty()) => {
            panic!("{test}: aarch64 programs must run here (HERMES_REQUIRE_ARM64), but {why}")
        }
        Some(why) => {
            eprintln!("{test}: skipped: {why}");
            false
        }
    }
}

/// `cmd` run in a user and mount namespace that runs aarch64 programs:
/// its program, arguments, working directory and the environment variables
/// set on it (the environment is otherwise empty). Stdio and `pre_exec`
/// are the caller's to set on the result.
pub fn emulated(cmd: &Command) -> Command {
    let mut wrapped = Command::new("/usr/bin/unshare");
    wrapped
        .env_clear()
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--",
            "/bin/sh",
            "-c",
            SETUP,
            "sh",
        ])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("REGISTER", REGISTER);
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// [`emulated`], but with the namespace's ids 0..65535 mapped to the same
/// ids outside (not root alone), as a container runtime needs (a devpts
/// owned by group 5, a user 65534): only a process of the parent namespace
/// with CAP_SETUID can write such a map, so this one does, while the
/// namespace's first program waits on fd 3. Runs to the end (at most
/// `limit`) and gives the output.
pub fn run_with_ids(cmd: &Command, limit: Duration) -> Output {
    let (reader, mut writer) = proc::pipe();
    let mut wrapped = Command::new("/usr/bin/unshare");
    wrapped
        .env_clear()
        .args(["--user", "--mount", "--", "/bin/sh", "-c"])
        .arg(format!("read go <&3 && exec 3<&- && {SETUP}"))
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env("REGISTER", REGISTER);
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let fd = reader.as_raw_fd();
    wrapped
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).expect("stdout file"))
        .stderr(fs::File::create(&err).expect("stderr file"));
    // SAFETY: dup2 and fcntl are async-signal-safe; runs in the child before exec.
    unsafe {
        wrapped.pre_exec(move || {
            // dup2 onto itself would leave close-on-exec set.
            let ok = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0) != -1
            } else {
                libc::dup2(fd, 3) != -1
            };
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut p = Proc::spawn(&mut wrapped);
    drop(reader);
    let pid = p.pid();
    let own = fs::read_link("/proc/self/ns/user").expect("our user namespace");
    proc::wait_until(limit, "the new user namespace", || {
        fs::read_link(format!("/proc/{pid}/ns/user")).is_ok_and(|ns| ns != own)
    });
    for map in ["uid_map", "gid_map"] {
        fs::write(format!("/proc/{pid}/{map}"), "0 0 65536\n")
            .unwrap_or_else(|e| panic!("write {map}: {e}"));
    }
    writer.write_all(b"go\n").expect("let it go on");
    drop(writer);
    let code = p.exit_code(limit);
    Output {
        code,
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    }
}
