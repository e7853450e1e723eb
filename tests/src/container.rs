//! A simulated s6-overlay container: a new PID and mount namespace whose
//! PID 1 is `s6-svscan /run/service`, on a private tmpfs `/run` that also has
//! `/run/s6/basedir`, with gateway services whose run scripts export
//! `HERMES_S6_SUPERVISED_CHILD=1` and `exec gatewayctl run -- <dummy gateway>`
//! (as s6-overlay images do). Commands run inside with `nsenter`; a
//! long-lived CMD process can be started inside and watched from here.
//! Dropping it kills the namespace (every process in it) and removes its files.
//!
//! Like a fresh image, the container has nothing at the path fixed in
//! gatewayctl at build time for the heartbeat ([`BUILT_IN_HEARTBEAT`]):
//! whatever this machine has there is hidden under an empty tmpfs, unless
//! the setup installs the heartbeat there ([`BuiltIn::Heartbeat`]).

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::bins;
use crate::ns::{self, Mount, NsOptions, PidNs};
use crate::proc::{self, Proc};
use crate::run::{self, Output};
use crate::s6::{self, CLEAN_PATH, Gateway, SvStat, shell_quote, write_script};

/// How long the fixture waits for s6 inside the container.
const S6_LIMIT: Duration = Duration::from_secs(20);

/// Where gatewayctl looks for the heartbeat last: the path fixed when it was
/// built (`HERMES_HEARTBEAT_PATH`, which `make static` sets from
/// `HEARTBEAT_PATH`/`PREFIX`), read here the same way, with the same
/// default. A static build configured otherwise needs this crate built with
/// the same `HERMES_HEARTBEAT_PATH`; the tests that name it then fail
/// loudly, never pass by accident.
pub const BUILT_IN_HEARTBEAT: &str = match option_env!("HERMES_HEARTBEAT_PATH") {
    Some(path) => path,
    None => "/usr/local/bin/hermes-heartbeat",
};

/// The directory of [`BUILT_IN_HEARTBEAT`] (what gets hidden).
pub fn built_in_dir() -> &'static Path {
    Path::new(BUILT_IN_HEARTBEAT)
        .parent()
        .expect("the built-in heartbeat path has a directory")
}

/// Makes `cmd` start in a private mount namespace of its own where
/// [`built_in_dir`] is an empty tmpfs, so nothing this machine has at
/// [`BUILT_IN_HEARTBEAT`] (`make install` puts the heartbeat there) can be
/// found. The process is still `cmd`'s program itself (no wrapper), and
/// the namespace goes away with it.
pub fn hide_built_in_heartbeat(cmd: &mut Command) {
    hide_built_in_heartbeat_with(cmd, Vec::new());
}

/// [`hide_built_in_heartbeat`], with `more` mounts made in that namespace
/// after it.
pub fn hide_built_in_heartbeat_with(cmd: &mut Command, more: Vec<Mount>) {
    let dir = built_in_dir();
    // A directory this machine lacks holds nothing to hide.
    let mut mounts: Vec<Mount> = dir
        .is_dir()
        .then(|| Mount::empty_tmpfs(dir))
        .into_iter()
        .collect();
    mounts.extend(more);
    ns::in_private_mounts(cmd, mounts);
}

/// How a gateway service's run script starts its dummy gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// `export HERMES_S6_SUPERVISED_CHILD=1; exec gatewayctl run -- dummy-gateway ...`
    /// (the s6-overlay way).
    GatewayctlRun,
    /// `exec dummy-gateway ...` (no gatewayctl involved).
    Direct,
}

/// What the container has at [`BUILT_IN_HEARTBEAT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltIn {
    /// Nothing: its directory is an empty tmpfs (whatever this machine has
    /// there is hidden).
    Hidden,
    /// A copy of the static heartbeat, alone in that directory (a tmpfs).
    Heartbeat,
}

/// What is at `/run/s6/basedir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basedir {
    /// A directory, as s6-overlay makes it.
    Directory,
    /// A plain file: not what s6-overlay makes.
    File,
    /// Nothing.
    Missing,
}

/// Which process is the container's PID 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pid1 {
    /// s6-svscan on `/run/service` (s6-overlay's `/init` becomes it).
    S6Svscan,
    /// s6-svscan exec'd through a symlink of this name, so that
    /// `/proc/1/comm` is the name: a near miss of `s6-svscan`.
    S6SvscanNamed(&'static str),
    /// The heartbeat, with s6-svscan on `/run/service` as its child:
    /// everything else is the same.
    Heartbeat,
}

/// How to build the container. gatewayctl takes it for an s6 one only with
/// the defaults: PID 1 exactly `s6-svscan` and `/run/s6/basedir` a directory.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub launch: Launch,
    pub basedir: Basedir,
    pub pid1: Pid1,
    /// What is at the build-time heartbeat path inside.
    pub built_in: BuiltIn,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            launch: Launch::GatewayctlRun,
            basedir: Basedir::Directory,
            pid1: Pid1::S6Svscan,
            built_in: BuiltIn::Hidden,
        }
    }
}

/// A running simulated container.
pub struct Container {
    ns: Option<PidNs>,
    pid_ns: PathBuf,
    home: PathBuf,
    tmp: tempfile::TempDir,
}

impl Container {
    /// Starts a container whose gateways are launched through `gatewayctl run`
    /// (see [`Container::start_with`]).
    pub fn start(gateways: &[Gateway]) -> Container {
        Container::start_with(gateways, Launch::GatewayctlRun)
    }

    /// Starts the container: PID 1 runs a setup script that mounts a private
    /// tmpfs on `/run` (and on `/opt/data`, gatewayctl's default Hermes home,
    /// where this machine has one, so a real home is never written), and on
    /// the build-time heartbeat's directory, makes `/run/service` and `/run/s6/basedir`, copies
    /// the gateway services in, then execs `s6-svscan -t0 /run/service`.
    /// s6-svscan (and so every gateway) gets PATH and `HERMES_HOME` (a
    /// temporary directory holding the profile homes). Waits (bounded) until
    /// every service is supervised and every gateway meant to stay up runs.
    pub fn start_with(gateways: &[Gateway], launch: Launch) -> Container {
        Container::start_setup(
            gateways,
            Setup {
                launch,
                ..Setup::default()
            },
        )
    }

    /// Starts the container as [`Container::start_with`] does, built as
    /// `setup` says.
    pub fn start_setup(gateways: &[Gateway], setup: Setup) -> Container {
        let launch = setup.launch;
        let tmp = tempfile::Builder::new()
            .prefix("hermes-ct-")
            .tempdir()
            .expect("create a temporary directory");
        let root = tmp.path();
        let home = root.join("home");
        for dir in ["services", "marks", "empty", "home", "out"] {
            fs::create_dir_all(root.join(dir)).expect("create container directories");
        }
        for gw in gateways {
            install_service(root, gw, launch);
            let profile_home = if gw.profile == "default" {
                home.clone()
            } else {
                home.join("profiles").join(&gw.profile)
            };
            fs::create_dir_all(profile_home).expect("create a profile home");
        }
        let script = root.join("setup");
        let basedir = match setup.basedir {
            Basedir::Directory => "mkdir -p /run/s6/basedir\n",
            Basedir::File => "mkdir -p /run/s6\n: > /run/s6/basedir\n",
            Basedir::Missing => "",
        };
        let quoted_dir = shell_quote(&built_in_dir().to_string_lossy());
        let built_in = match setup.built_in {
            BuiltIn::Hidden => format!(
                "if [ -d {quoted_dir} ]; then mount -t tmpfs -o mode=0755 tmpfs {quoted_dir}; fi\n"
            ),
            BuiltIn::Heartbeat => {
                // A tmpfs over a directory this machine lacks would need
                // one made on the host first: not done.
                assert!(
                    built_in_dir().is_dir(),
                    "{} does not exist here: the heartbeat cannot be put at {BUILT_IN_HEARTBEAT}",
                    built_in_dir().display()
                );
                format!(
                    "mount -t tmpfs -o mode=0755 tmpfs {quoted_dir}\n\
                     cp {} {}\n",
                    shell_quote(&bins::heartbeat().to_string_lossy()),
                    shell_quote(BUILT_IN_HEARTBEAT)
                )
            }
        };
        let (pid1_comm, start_svscan) = match setup.pid1 {
            Pid1::S6Svscan => ("s6-svscan", "exec s6-svscan -t0 /run/service\n".to_owned()),
            Pid1::S6SvscanNamed(name) => (
                name,
                format!(
                    "ln -s \"$(command -v s6-svscan)\" /run/{name}\n\
                     exec /run/{name} -t0 /run/service\n"
                ),
            ),
            Pid1::Heartbeat => (
                "hermes-heartbea",
                format!(
                    "s6-svscan -t0 /run/service </dev/null &\nexec {} -q\n",
                    shell_quote(&bins::heartbeat().to_string_lossy())
                ),
            ),
        };
        write_script(
            &script,
            &format!(
                "#!/bin/sh\n\
                 set -e\n\
                 mount -t tmpfs -o mode=0755 tmpfs /run\n\
                 if [ -d /opt/data ]; then mount -t tmpfs tmpfs /opt/data; fi\n\
                 {built_in}\
                 mkdir -p /run/service\n\
                 {basedir}\
                 cp -a {}/. /run/service/\n\
                 {start_svscan}",
                shell_quote(&root.join("services").to_string_lossy())
            ),
        );
        let log = File::create(root.join("svscan.log")).expect("create svscan.log");
        let options = NsOptions { mount: true };
        let mut cmd = PidNs::command(&script, &[] as &[&str], options);
        cmd.current_dir("/")
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .env("HERMES_HOME", &home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let ns = s6::spawn_logged(&mut cmd, &root.join("svscan.log"));
        let pid1 = ns.pid1();
        let container = Container {
            ns: Some(ns),
            pid_ns: fs::read_link(format!("/proc/{pid1}/ns/pid")).expect("read PID 1's pid ns"),
            home,
            tmp,
        };
        let control = container.run_dir().join("service/.s6-svscan/control");
        proc::wait_until(S6_LIMIT, "s6-svscan to run in the container", || {
            s6::comm_is(pid1, pid1_comm) && control.exists()
        });
        let mut pending: Vec<&Gateway> = gateways.iter().collect();
        proc::wait_until(
            S6_LIMIT,
            "the container's services to be supervised",
            || {
                pending.retain(|gw| !s6::supervise_settled(&container.service_dir(&gw.profile)));
                pending.is_empty()
            },
        );
        let up: Vec<&str> = gateways
            .iter()
            .filter(|g| g.stays_up())
            .map(|g| g.profile.as_str())
            .collect();
        container.wait_armed(&up);
        container
    }

    /// The temporary directory (host side) holding the container's files.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// HERMES_HOME given to s6-svscan and its gateways.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// An empty directory, for `PATH=<empty dir>`.
    pub fn empty_dir(&self) -> PathBuf {
        self.root().join("empty")
    }

    /// PID 1 (s6-svscan) as seen from the host.
    pub fn pid1(&self) -> i32 {
        self.ns.as_ref().map_or(0, PidNs::pid1)
    }

    /// The container's `/run`, reached from the host through PID 1's root.
    pub fn run_dir(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root/run", self.pid1()))
    }

    /// `/run/service/gateway-<profile>`, reached from the host.
    pub fn service_dir(&self, profile: &str) -> PathBuf {
        self.run_dir().join(format!("service/gateway-{profile}"))
    }

    /// The file a gateway's finish script appends to (host path, also valid
    /// inside: only /run is private).
    pub fn finish_marker(&self, profile: &str) -> PathBuf {
        self.root()
            .join("marks")
            .join(format!("{profile}.finished"))
    }

    /// True when `s6-svok` says an s6-supervise runs on the service.
    pub fn is_supervised(&self, profile: &str) -> bool {
        s6::is_supervised(&self.service_dir(profile))
    }

    /// The s6-svstat reading of `profile` (pids as the container sees them),
    /// or `None` when s6-svstat fails.
    pub fn try_svstat(&self, profile: &str) -> Option<SvStat> {
        s6::read_svstat(&self.service_dir(profile))
    }

    /// The s6-svstat reading of `profile`; panics when s6-svstat fails.
    pub fn svstat(&self, profile: &str) -> SvStat {
        s6::read_svstat(&self.service_dir(profile))
            .unwrap_or_else(|| panic!("s6-svstat failed on the container's gateway-{profile}"))
    }

    /// Waits (bounded) until the reading of `profile` satisfies `cond`.
    pub fn wait_svstat(&self, profile: &str, what: &str, cond: impl Fn(&SvStat) -> bool) -> SvStat {
        let what = format!("the container's gateway-{profile} {what}");
        s6::wait_for_svstat(&self.service_dir(profile), &what, cond)
    }

    /// True when `pid` (a host pid) lives in the container's PID namespace.
    pub fn contains(&self, pid: i32) -> bool {
        fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|ns| ns == self.pid_ns)
    }

    /// Host pids of every process in the container whose comm is `comm`.
    pub fn pids_named(&self, comm: &str) -> Vec<i32> {
        s6::all_pids()
            .into_iter()
            .filter(|&pid| s6::comm_is(pid, comm) && self.contains(pid))
            .filter(|&pid| proc::state(pid) != Some('Z'))
            .collect()
    }

    /// Host pid of the armed dummy gateway of `profile`, if one runs.
    pub fn gateway_pid(&self, profile: &str) -> Option<i32> {
        self.armed_gateways().get(profile).copied()
    }

    /// Host pids of the container's dummy gateways that have SIGTERM in hand.
    pub fn armed_gateways(&self) -> std::collections::HashMap<String, i32> {
        s6::armed_dummy_gateways(|pid, cwd| {
            let name = cwd.strip_prefix("/run/service").ok()?.to_str()?;
            let profile = name.strip_prefix("gateway-")?;
            self.contains(pid).then(|| profile.to_owned())
        })
    }

    /// Waits (bounded) until each of `profiles` runs an armed dummy gateway
    /// and s6-svstat says it is up.
    pub fn wait_armed(&self, profiles: &[&str]) {
        s6::wait_until_armed(
            profiles,
            || self.armed_gateways(),
            |p| {
                self.wait_svstat(p, "up", |s| s.up);
            },
        );
    }

    /// `nsenter -t PID1 -p -m -- PROGRAM ARGS...`: runs inside the container
    /// (its PID and mount namespaces, its /proc) with exactly the environment
    /// `env` (empty is `env -i`). The working directory is `/`.
    pub fn command<S: AsRef<OsStr>>(
        &self,
        env: &[(&str, &str)],
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> Command {
        let mut cmd = Command::new(nsenter());
        cmd.current_dir("/")
            .env_clear()
            .arg("-t")
            .arg(self.pid1().to_string())
            .args(["-p", "-m", "--"])
            .arg(program)
            .args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs `gatewayctl ARGS...` inside with exactly `env`, bounded to 60 s.
    pub fn gatewayctl(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.exec(env, bins::gatewayctl(), args)
    }

    /// Runs `program args...` inside with exactly `env` and captures its
    /// output, bounded to 60 s.
    pub fn exec<S: AsRef<OsStr>>(
        &self,
        env: &[(&str, &str)],
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> Output {
        run::run(
            &mut self.command(env, program, args),
            Duration::from_secs(60),
        )
    }

    /// Starts `program args...` inside as a long-lived CMD process with
    /// exactly `env`; its stdout and stderr go to files. Waits (bounded)
    /// until the process inside exists (the child of `nsenter`).
    pub fn spawn_cmd<S: AsRef<OsStr>>(
        &self,
        env: &[(&str, &str)],
        program: impl AsRef<OsStr>,
        args: &[S],
    ) -> CmdProcess {
        let n = fs::read_dir(self.root().join("out")).map_or(0, |d| d.count());
        let stdout = self.root().join(format!("out/cmd{n}.stdout"));
        let stderr = self.root().join(format!("out/cmd{n}.stderr"));
        let mut cmd = self.command(env, program, args);
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create the CMD stdout file"))
            .stderr(File::create(&stderr).expect("create the CMD stderr file"));
        let nsenter = Proc::spawn(&mut cmd);
        let mut pid = 0;
        proc::wait_until(S6_LIMIT, "the CMD process to start inside", || {
            pid = proc::children(nsenter.pid())
                .into_iter()
                .next()
                .unwrap_or(0);
            pid != 0 && self.contains(pid)
        });
        CmdProcess {
            nsenter,
            pid,
            stdout,
            stderr,
        }
    }
}

impl Drop for Container {
    /// Kills the namespace (PID 1 takes every process inside with it, and
    /// the private /run goes with the mount namespace), waits until PID 1 is
    /// gone, then lets the directory go.
    fn drop(&mut self) {
        // The namespace goes first (PidNs waits until its PID 1 is gone),
        // then the directory.
        drop(self.ns.take());
    }
}

/// A CMD process running inside a container, started by
/// [`Container::spawn_cmd`]. Dropping it kills `nsenter` and the process.
pub struct CmdProcess {
    nsenter: Proc,
    pid: i32,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl CmdProcess {
    /// The host pid of the process inside (what to signal, what /proc shows).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signo` to the process inside.
    pub fn signal(&self, signo: i32) {
        proc::send_signal(self.pid, signo);
    }

    /// True while the process inside has not exited.
    pub fn is_running(&self) -> bool {
        !matches!(proc::state(self.pid), None | Some('Z'))
    }

    /// `/proc/PID/exe` of the process inside (what it exec'd last).
    pub fn exe(&self) -> Option<PathBuf> {
        fs::read_link(format!("/proc/{}/exe", self.pid)).ok()
    }

    /// The shell-style exit code of the process inside, as `nsenter` passes
    /// it on, within `limit`; panics on timeout.
    pub fn exit_code(&mut self, limit: Duration) -> i32 {
        self.nsenter.exit_code(limit)
    }

    /// What it has written to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What it has written to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for CmdProcess {
    fn drop(&mut self) {
        if self.is_running() {
            proc::send_signal(self.pid, libc::SIGKILL);
        }
    }
}

/// Writes `services/gateway-<profile>` for the container's setup to copy in.
fn install_service(root: &Path, gw: &Gateway, launch: Launch) {
    let dir = root
        .join("services")
        .join(format!("gateway-{}", gw.profile));
    let dummy = shell_quote(&s6::dummy_gateway().to_string_lossy());
    let args = gw.dummy_args().join(" ");
    let (prelude, exec) = match launch {
        Launch::GatewayctlRun => (
            vec!["export HERMES_S6_SUPERVISED_CHILD=1".to_owned()],
            format!(
                "{} run -- {dummy} {args}",
                shell_quote(&bins::gatewayctl().to_string_lossy())
            ),
        ),
        Launch::Direct => (Vec::new(), format!("{dummy} {args}")),
    };
    let marker = root.join("marks").join(format!("{}.finished", gw.profile));
    gw.write_service(&dir, &prelude, exec.trim_end(), &marker);
}

/// The absolute path of util-linux `nsenter` (the CMD gets an empty
/// environment, so nothing may depend on PATH lookup).
fn nsenter() -> PathBuf {
    [
        "/usr/bin/nsenter",
        "/bin/nsenter",
        "/usr/sbin/nsenter",
        "/sbin/nsenter",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0))
    .expect("util-linux nsenter is not installed")
}
