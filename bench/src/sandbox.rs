//! The simulated container both CLIs are measured in: a new PID and mount
//! namespace whose PID 1 is `s6-svscan /run/service`, with `/run/s6/basedir`,
//! `/command/` links to the s6 programs and a Hermes home with one profile
//! folder per gateway, inside a private root that holds no `sleep` unless
//! asked (so the Python CLI's no-`sleep` fallback is reachable).
//!
//! The private root is a temp dir; inside the namespace, read-only bind
//! mounts bring in /usr/lib, /usr/lib64, /etc, /dev and the Python
//! interpreter and virtualenv. Commands are started inside it by entering
//! the namespaces directly (setns + chroot in the forked child), so no
//! `nsenter` start-up is counted in the figures.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hermes_e2e::bins;
use hermes_e2e::proc::{self, Proc};

use crate::cleanup;
use crate::timing::PidFd;

/// What a gateway's run script does.
#[derive(Clone, Copy)]
pub enum Gateway {
    /// Stays up doing nothing (the heartbeat) and exits at once on SIGTERM.
    Idle,
    /// Takes 1 s to exit after SIGTERM.
    SlowExit,
    /// [`Gateway::Idle`] that, like a Hermes gateway, records its pid in its
    /// profile home's `gateway.pid`, so a stop marks it as planned (unless
    /// [`Sandbox::set_pid_files`] turned that off).
    Hermes,
}

/// Which s6 the box runs.
#[derive(Clone, Debug)]
pub enum S6Build {
    /// Debian's (the host's `/usr/bin/s6-*`), dynamically linked.
    Debian,
    /// s6-overlay's: the `package/admin/s6-<version>/command/` of this
    /// directory, laid out as in an s6-overlay image (`/package/admin/s6`,
    /// `/command` links), static.
    Overlay(PathBuf),
}

impl S6Build {
    /// Debian's, then s6-overlay's where `HERMES_TEST_S6_OVERLAY` names its
    /// directory; the error says why the second is missing.
    pub fn available() -> (Vec<S6Build>, Option<String>) {
        let mut builds = vec![S6Build::Debian];
        match std::env::var_os("HERMES_TEST_S6_OVERLAY").filter(|d| !d.is_empty()) {
            None => {
                return (
                    builds,
                    Some(
                        "HERMES_TEST_S6_OVERLAY is not set: s6-overlay's s6 2.15 not measured"
                            .to_owned(),
                    ),
                );
            }
            Some(dir) => builds.push(S6Build::Overlay(PathBuf::from(dir))),
        }
        (builds, None)
    }

    /// `s6 2.11.3.2 (Debian, dynamic)` and the like.
    pub fn label(&self) -> String {
        match self {
            S6Build::Debian => {
                let version = Command::new("dpkg-query")
                    .args(["-W", "-f", "${Version}", "s6"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_default();
                format!("s6 {version} (Debian, dynamic)")
            }
            S6Build::Overlay(dir) => match overlay_package(dir) {
                Ok(package) => format!(
                    "{} (s6-overlay, static)",
                    package
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .replacen('-', " ", 1)
                ),
                Err(e) => format!("s6-overlay's s6 ({e})"),
            },
        }
    }

    /// True when its s6-svc takes several service directories at once.
    pub fn takes_many(&self) -> bool {
        matches!(self, S6Build::Overlay(_))
    }
}

/// `DIR/package/admin/s6-<version>`, the s6 package of an s6-overlay
/// fixture.
fn overlay_package(dir: &Path) -> io::Result<PathBuf> {
    fs::read_dir(dir.join("package/admin"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b"s6-") && !p.is_symlink())
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no package/admin/s6-<version>"))
}

/// While this exists in the box, [`Gateway::Hermes`] writes no `gateway.pid`.
const NO_PID_FILES: &str = "/opt/data/.bench-no-pid-files";

/// The service directory of `profile` inside the box.
pub fn box_service_dir(profile: &str) -> String {
    format!("/run/service/gateway-{profile}")
}

/// The home of `profile` inside the box: the Hermes root for `default`.
pub fn profile_home(profile: &str) -> String {
    if profile == "default" {
        "/opt/data".to_owned()
    } else {
        format!("/opt/data/profiles/{profile}")
    }
}

/// The run script of a [`Gateway::Hermes`] whose profile home is `home`: the
/// shell's pid is the heartbeat's after the exec.
fn hermes_run(home: &str) -> String {
    format!(
        r#"#!/usr/bin/busybox sh
if [ -e {NO_PID_FILES} ]; then /usr/bin/busybox rm -f {home}/gateway.pid
else echo '{{"pid": '$$', "kind": "hermes-gateway", "start_time": null}}' > {home}/gateway.pid
fi
exec /usr/bin/hermes-heartbeat -q
"#
    )
}

const IDLE_RUN: &str = "#!/usr/bin/busybox sh\nexec /usr/bin/hermes-heartbeat -q\n";
const SLOW_RUN: &str = "#!/usr/bin/busybox sh\n\
/usr/bin/busybox sleep 2147483647 &\n\
trap 'kill $!; /usr/bin/busybox sleep 1; exit 0' TERM\n\
wait\n";

/// Mounts the private root inside the new namespaces, then becomes
/// `s6-svscan` as PID 1. $1: the root; $2: the virtualenv or empty; $3: the
/// Python interpreter (bound in at its own path).
const BOOT: &str = r#"set -e
R=$1
mount --bind -o ro /usr/lib "$R/usr/lib"
mount --bind -o ro /usr/lib64 "$R/usr/lib64"
mount --bind -o ro /etc "$R/etc"
mount --rbind /dev "$R/dev"
if [ -n "$2" ]; then
  mount --bind -o ro "$3" "$R$3"
  mount --bind "$2" "$R$2"
fi
mount -t proc proc "$R/proc"
exec chroot "$R" /usr/bin/s6-svscan /run/service
"#;

pub struct Sandbox {
    // Field order is drop order: the namespaces go before the temp dir.
    outer: Option<Proc>,
    pid1: i32,
    mnt: File,
    pidns: File,
    own_pidns: File,
    root: PathBuf,
    gateways: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    /// Builds the root with the given gateways (and the virtualenv bound
    /// in at its own path, when given), boots it and waits until every
    /// gateway is up.
    pub fn start(gateways: &[(String, Gateway)], venv: Option<&Path>) -> Result<Sandbox, String> {
        Sandbox::start_with(gateways, venv, &S6Build::Debian)
    }

    /// [`Sandbox::start`] with the given s6.
    pub fn start_with(
        gateways: &[(String, Gateway)],
        venv: Option<&Path>,
        s6: &S6Build,
    ) -> Result<Sandbox, String> {
        let dir = tempfile::Builder::new()
            .prefix("hermes-bench-box-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        cleanup::register_temp_dir(dir.path());
        let root = dir.path().join("root");
        let python =
            build_root(&root, gateways, venv, s6).map_err(|e| format!("building the root: {e}"))?;

        let mut cmd = Command::new("unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--",
            "/bin/sh",
            "-c",
            BOOT,
            "sh",
        ])
        .arg(&root)
        .arg(venv.map(Path::as_os_str).unwrap_or_default())
        .arg(python.as_os_str())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let outer = Proc::spawn(&mut cmd);
        let mut pid1 = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid1 == 0 {
            if Instant::now() > deadline {
                return Err("s6-svscan did not start as PID 1".to_owned());
            }
            pid1 = proc::children(outer.pid())
                .into_iter()
                .find(|&p| {
                    crate::process_tree::comm_state(p).is_some_and(|(c, _)| c == "s6-svscan")
                })
                .unwrap_or(0);
            sleep(Duration::from_millis(5));
        }
        let open = |p: String| File::open(&p).map_err(|e| format!("{p}: {e}"));
        let sandbox = Sandbox {
            mnt: open(format!("/proc/{pid1}/ns/mnt"))?,
            pidns: open(format!("/proc/{pid1}/ns/pid"))?,
            own_pidns: open("/proc/self/ns/pid".to_owned())?,
            outer: Some(outer),
            pid1,
            root,
            gateways: gateways.iter().map(|(p, _)| p.clone()).collect(),
            _dir: dir,
        };
        sandbox.wait_supervised(Duration::from_secs(20))?;
        sandbox.wait_all('u', Duration::from_secs(20))?;
        Ok(sandbox)
    }

    /// The profile names, in order.
    pub fn gateways(&self) -> &[String] {
        &self.gateways
    }

    /// The host path of a path inside the box.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    fn service_dir(&self, profile: &str) -> PathBuf {
        self.host_path(&box_service_dir(profile))
    }

    /// Spawns `cmd` inside the box: in its PID namespace (the bench enters
    /// it for the fork only) and, in the child, its mount namespace and root.
    pub fn spawn(&self, cmd: &mut Command) -> io::Result<Child> {
        let mnt = self.mnt.as_raw_fd();
        let root = CString::new(self.root.as_os_str().as_bytes())?;
        // SAFETY: the closure runs in the forked child before exec and only
        // makes async-signal-safe system calls on memory it owns.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(mnt, libc::CLONE_NEWNS) != 0
                    || libc::chroot(root.as_ptr()) != 0
                    || libc::chdir(c"/".as_ptr()) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // SAFETY: setns on descriptors we own; it only changes the PID
        // namespace of the bench's future children.
        if unsafe { libc::setns(self.pidns.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let child = cmd.spawn();
        // SAFETY: as above, back to the bench's own namespace.
        unsafe { libc::setns(self.own_pidns.as_raw_fd(), libc::CLONE_NEWPID) };
        child
    }

    /// Makes `sleep` present in the box (a copy of /usr/bin/sleep) or absent.
    pub fn set_sleep(&self, present: bool) -> io::Result<()> {
        let path = self.host_path("/usr/bin/sleep");
        if present {
            fs::copy("/usr/bin/sleep", &path).map(|_| ())
        } else {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    }

    /// Whether each [`Gateway::Hermes`] records its pid in `gateway.pid` from
    /// its next start on (when not, it removes the file at start).
    pub fn set_pid_files(&self, on: bool) -> io::Result<()> {
        let flag = self.host_path(NO_PID_FILES);
        if on {
            match fs::remove_file(&flag) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            File::create(&flag).map(drop)
        }
    }

    /// Sends an s6 control command (`u`, `d`) to every gateway's supervisor
    /// through its control FIFO, as `s6-svc` does.
    pub fn control_all(&self, command: &str) -> Result<(), String> {
        for p in &self.gateways {
            self.control(p, command)?;
        }
        Ok(())
    }

    pub fn control(&self, profile: &str, command: &str) -> Result<(), String> {
        let fifo = self.service_dir(profile).join("supervise/control");
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .and_then(|mut f| f.write_all(command.as_bytes()))
            .map_err(|e| format!("{}: {e}", fifo.display()))
    }

    /// Waits until every gateway is up (`'u'`) or really down (`'D'`),
    /// with the host's `s6-svwait`.
    pub fn wait_all(&self, state: char, limit: Duration) -> Result<(), String> {
        let dirs: Vec<String> = self.gateways.iter().map(|p| box_service_dir(p)).collect();
        self.wait_dirs(&dirs, state, limit)
    }

    pub fn wait_one(&self, profile: &str, state: char, limit: Duration) -> Result<(), String> {
        self.wait_dirs(&[box_service_dir(profile)], state, limit)
    }

    /// With the box's own `s6-svwait`: a supervisor's status file is read by
    /// the s6 that wrote it.
    fn wait_dirs(&self, dirs: &[String], state: char, limit: Duration) -> Result<(), String> {
        let mut cmd = Command::new("/command/s6-svwait");
        cmd.arg(format!("-{state}"))
            .arg("-a")
            .arg("-t")
            .arg(limit.as_millis().to_string())
            .args(dirs);
        let run =
            crate::timing::run_timed(&mut cmd, limit + Duration::from_secs(5), &|c| self.spawn(c))
                .map_err(|e| format!("s6-svwait: {e}"))?;
        match run.failure() {
            None => Ok(()),
            Some(why) => Err(format!(
                "gateways not {} within {}: {why}",
                if state == 'u' { "up" } else { "down" },
                crate::table::time(limit)
            )),
        }
    }

    /// What the box's `s6-svstat` says about one gateway (`-o FIELDS` when
    /// `fields` is not empty).
    pub fn svstat(&self, profile: &str) -> String {
        self.svstat_fields(profile, "")
    }

    pub fn svstat_fields(&self, profile: &str, fields: &str) -> String {
        let mut cmd = Command::new("/command/s6-svstat");
        if !fields.is_empty() {
            cmd.args(["-o", fields]);
        }
        cmd.arg(box_service_dir(profile))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        self.spawn(&mut cmd)
            .and_then(Child::wait_with_output)
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// Until every gateway has a listening supervisor (s6-svscan has
    /// scanned and started its s6-supervise).
    fn wait_supervised(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        for p in &self.gateways {
            let status = self.service_dir(p).join("supervise/status");
            while !status.exists() {
                if Instant::now() > deadline {
                    return Err(format!("gateway-{p} never got a supervisor"));
                }
                sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // PID 1 dies with `unshare` (--kill-child) and takes the whole
        // namespace along; once orphaned it is the bench's to reap.
        let pidfd = PidFd::open(self.pid1).ok();
        proc::send_signal(self.pid1, libc::SIGKILL);
        drop(self.outer.take());
        if let Some(fd) = pidfd {
            fd.wait(Duration::from_secs(10));
        }
        cleanup::reap(self.pid1, Duration::from_secs(5));
    }
}

/// Lays out the private root; returns the real path of the Python
/// interpreter to bind in (empty without a virtualenv).
fn build_root(
    root: &Path,
    gateways: &[(String, Gateway)],
    venv: Option<&Path>,
    s6: &S6Build,
) -> io::Result<PathBuf> {
    for d in [
        "usr/bin",
        "usr/lib",
        "usr/lib64",
        "etc",
        "dev",
        "proc",
        "tmp",
        "run/service",
        "run/s6/basedir",
        "opt/data/profiles",
        "opt/ctl",
        "command",
    ] {
        fs::create_dir_all(root.join(d))?;
    }
    symlink("usr/bin", root.join("bin"))?;
    symlink("usr/bin", root.join("sbin"))?;
    symlink("usr/lib", root.join("lib"))?;
    symlink("usr/lib64", root.join("lib64"))?;
    symlink("bin", root.join("usr/sbin"))?;
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;

    let bin = root.join("usr/bin");
    lay_out_s6(root, s6)?;
    fs::copy("/bin/busybox", bin.join("busybox"))?;
    fs::copy(bins::heartbeat(), bin.join("hermes-heartbeat"))?;
    fs::copy(bins::gatewayctl(), bin.join("gatewayctl"))?;
    // A gatewayctl with no heartbeat beside it: the in-process hold path.
    fs::copy(bins::gatewayctl(), root.join("opt/ctl/gatewayctl"))?;

    for (profile, kind) in gateways {
        let svc = root.join("run/service").join(format!("gateway-{profile}"));
        fs::create_dir_all(&svc)?;
        let run = svc.join("run");
        fs::write(
            &run,
            match kind {
                Gateway::Idle => IDLE_RUN.to_owned(),
                Gateway::SlowExit => SLOW_RUN.to_owned(),
                Gateway::Hermes => hermes_run(&profile_home(profile)),
            },
        )?;
        fs::set_permissions(&run, fs::Permissions::from_mode(0o755))?;
        if profile != "default" {
            fs::create_dir_all(root.join("opt/data/profiles").join(profile))?;
        }
    }

    let Some(venv) = venv else {
        return Ok(PathBuf::new());
    };
    let python = fs::canonicalize("/usr/bin/python3")?;
    let name = python.file_name().unwrap_or_default();
    File::create(bin.join(name))?;
    symlink(name, bin.join("python3"))?;
    fs::create_dir_all(root.join(venv.strip_prefix("/").unwrap_or(venv)))?;
    Ok(python)
}

/// Puts the s6 programs in the box: Debian's in /usr/bin with /command
/// links to them; s6-overlay's under /package/admin/s6-<version>/command
/// (slashpackage: its programs run each other by those absolute paths),
/// with /package/admin/s6, /command and /usr/bin links, as in its images.
fn lay_out_s6(root: &Path, s6: &S6Build) -> io::Result<()> {
    let bin = root.join("usr/bin");
    let command = root.join("command");
    let s6_programs = |dir: &Path| -> io::Result<Vec<(PathBuf, std::ffi::OsString)>> {
        Ok(fs::read_dir(dir)?
            .flatten()
            .filter(|e| e.file_name().as_bytes().starts_with(b"s6-"))
            .map(|e| (e.path(), e.file_name()))
            .collect())
    };
    match s6 {
        S6Build::Debian => {
            for (path, name) in s6_programs(Path::new("/usr/bin"))? {
                fs::copy(path, bin.join(&name))?;
                symlink(Path::new("/usr/bin").join(&name), command.join(&name))?;
            }
        }
        S6Build::Overlay(dir) => {
            let package = overlay_package(dir)?;
            let version = package.file_name().unwrap_or_default();
            let admin = root.join("package/admin");
            let programs = admin.join(version).join("command");
            fs::create_dir_all(&programs)?;
            symlink(version, admin.join("s6"))?;
            for (path, name) in s6_programs(&package.join("command"))? {
                fs::copy(path, programs.join(&name))?;
                symlink(
                    Path::new("/package/admin/s6/command").join(&name),
                    command.join(&name),
                )?;
                symlink(Path::new("/command").join(&name), bin.join(&name))?;
            }
        }
    }
    Ok(())
}
