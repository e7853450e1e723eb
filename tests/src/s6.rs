//! A real s6 supervision tree on a temporary scan directory: `s6-svscan` as
//! PID 1 of its own PID namespace (teardown kills the whole tree), real
//! `gateway-<profile>` services running the dummy gateway, a HERMES_HOME with
//! the profile homes, `s6-svstat` readings, and a preset `gatewayctl` command.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::bins;
use crate::ns::{NsOptions, PidNs};
use crate::proc;
use crate::run::{self, Output};

/// The PATH given to every program the fixtures start (a clean environment,
/// so results never depend on the caller's).
pub const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The fields gatewayctl asks `s6-svstat -o` for, in this order.
pub const SVSTAT_FIELDS: &str = "up,wantedup,normallyup,ready,pid,exitcode,signal,updownfor";

/// How long a fixture waits for s6 to pick something up before giving up.
const S6_LIMIT: Duration = Duration::from_secs(20);

/// The `dummy-gateway` test program (tests/src/bin/dummy-gateway.rs).
/// `HERMES_DUMMY_GATEWAY` names it explicitly; otherwise the first that
/// exists of: beside the running executable and one level up (an
/// integration test runs from `target/<profile>/deps/`, a bin from
/// `target/<profile>/`), then `debug/` and `release/` of `$CARGO_TARGET_DIR`
/// and of the workspace's `target/`.
pub fn dummy_gateway() -> PathBuf {
    if let Some(path) = std::env::var_os("HERMES_DUMMY_GATEWAY").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dirs: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(Path::to_path_buf)
        .collect();
    let targets = [
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")),
    ];
    for target in targets.into_iter().flatten() {
        dirs.extend([target.join("debug"), target.join("release")]);
    }
    dirs.iter()
        .map(|dir| dir.join("dummy-gateway"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "dummy-gateway not found near {}: build it with `cargo build -p hermes-e2e --bin dummy-gateway` or set HERMES_DUMMY_GATEWAY",
                exe.display()
            )
        })
}

/// One `gateway-<profile>` service to install: how its dummy gateway behaves
/// and which s6 files its service directory has.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub profile: String,
    term_delay_ms: Option<u64>,
    ignore_term: bool,
    exit: Option<u8>,
    notification_fd: Option<u32>,
    ready_delay_ms: u64,
    finish_delay_ms: Option<u64>,
    down: bool,
    linked: bool,
    hermes: bool,
}

impl Gateway {
    /// A gateway that starts at once and dies at once on SIGTERM.
    pub fn new(profile: &str) -> Gateway {
        Gateway {
            profile: profile.to_owned(),
            term_delay_ms: None,
            ignore_term: false,
            exit: None,
            notification_fd: None,
            ready_delay_ms: 0,
            finish_delay_ms: None,
            down: false,
            linked: false,
            hermes: false,
        }
    }

    /// On SIGTERM it takes `ms` milliseconds, then exits 0.
    pub fn term_delay_ms(mut self, ms: u64) -> Gateway {
        self.term_delay_ms = Some(ms);
        self
    }

    /// It ignores SIGTERM (only SIGKILL ends it).
    pub fn ignore_term(mut self) -> Gateway {
        self.ignore_term = true;
        self
    }

    /// It exits at once with `code` (it never stays up).
    pub fn exit_code(mut self, code: u8) -> Gateway {
        self.exit = Some(code);
        self
    }

    /// The service has a `notification-fd` file and the gateway writes its
    /// readiness there, after `ready_delay_ms`.
    pub fn notification_fd(mut self, fd: u32, ready_delay_ms: u64) -> Gateway {
        self.notification_fd = Some(fd);
        self.ready_delay_ms = ready_delay_ms;
        self
    }

    /// The service has a `finish` script that sleeps `delay_ms`, then appends
    /// a line to [`ScanDir::finish_marker`].
    pub fn finish_marker(mut self, delay_ms: u64) -> Gateway {
        self.finish_delay_ms = Some(delay_ms);
        self
    }

    /// The service has a `down` file: supervised, but not started.
    pub fn down(mut self) -> Gateway {
        self.down = true;
        self
    }

    /// The service directory lives outside the scan directory, which holds a
    /// symlink to it (as s6-rc links its compiled service directories).
    pub fn linked(mut self) -> Gateway {
        self.linked = true;
        self
    }

    /// It behaves as a Hermes gateway does about stops, with its profile
    /// home as HERMES_HOME: it writes `gateway.pid` there, and on SIGTERM
    /// exits 0 if a planned-stop marker names it, else 1 (see the
    /// `--hermes-home` of tests/src/bin/dummy-gateway.rs).
    pub fn hermes(mut self) -> Gateway {
        self.hermes = true;
        self
    }

    /// True when, once supervised, the gateway should be up and stay up.
    pub fn stays_up(&self) -> bool {
        !self.down && self.exit.is_none()
    }

    /// The dummy gateway's arguments for this behaviour.
    pub fn dummy_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(ms) = self.term_delay_ms {
            args.extend(["--term-delay-ms".to_owned(), ms.to_string()]);
        }
        if self.ignore_term {
            args.push("--ignore-term".to_owned());
        }
        if let Some(code) = self.exit {
            args.extend(["--exit".to_owned(), code.to_string()]);
        }
        if let Some(fd) = self.notification_fd {
            args.extend(["--notify-fd".to_owned(), fd.to_string()]);
            if self.ready_delay_ms > 0 {
                args.extend([
                    "--ready-delay-ms".to_owned(),
                    self.ready_delay_ms.to_string(),
                ]);
            }
        }
        args
    }

    /// Writes the service directory `dir` (which must not exist yet) whose
    /// run script is `#!/bin/sh`, the `prelude` lines, then `exec <exec_line>`.
    /// The finish script, if any, appends to `marker`.
    pub fn write_service(&self, dir: &Path, prelude: &[String], exec_line: &str, marker: &Path) {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let mut run = String::from("#!/bin/sh\n");
        for line in prelude {
            run.push_str(line);
            run.push('\n');
        }
        run.push_str(&format!("exec {exec_line}\n"));
        write_script(&dir.join("run"), &run);
        if let Some(ms) = self.finish_delay_ms {
            let finish = format!(
                "#!/bin/sh\nsleep {}.{:03}\necho \"finished $1 $2\" >> {}\n",
                ms / 1000,
                ms % 1000,
                shell_quote(&marker.to_string_lossy())
            );
            write_script(&dir.join("finish"), &finish);
        }
        if let Some(fd) = self.notification_fd {
            write_file(&dir.join("notification-fd"), &format!("{fd}\n"));
        }
        if self.down {
            write_file(&dir.join("down"), "");
        }
    }
}

/// True when `s6-svok` says an s6-supervise runs on the service directory.
pub fn is_supervised(service_dir: &Path) -> bool {
    Command::new("s6-svok")
        .arg(service_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits (bounded) until the s6-svstat reading of a service directory
/// satisfies `cond` (`what` names the wait in a failure), and returns it.
pub fn wait_for_svstat(service_dir: &Path, what: &str, cond: impl Fn(&SvStat) -> bool) -> SvStat {
    let mut last = None;
    proc::wait_until(S6_LIMIT, what, || {
        last = read_svstat(service_dir);
        last.as_ref().is_some_and(&cond)
    });
    last.expect("a reading")
}

/// The s6-svstat reading of a service directory, or `None` when s6-svstat
/// fails (no supervisor); panics on output it cannot parse.
pub fn read_svstat(service_dir: &Path) -> Option<SvStat> {
    let out = run::run(
        Command::new("s6-svstat")
            .arg("-o")
            .arg(SVSTAT_FIELDS)
            .arg(service_dir),
        Duration::from_secs(10),
    );
    (out.code == 0).then(|| {
        SvStat::parse(out.stdout.trim())
            .unwrap_or_else(|| panic!("cannot parse s6-svstat output {:?}", out.stdout))
    })
}

/// What `s6-svstat -o up,wantedup,normallyup,ready,pid,exitcode,signal,updownfor`
/// says about one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvStat {
    pub up: bool,
    pub want_up: bool,
    pub normally_up: bool,
    pub ready: bool,
    /// The pid as s6-supervise sees it (inside the fixture's namespace).
    pub pid: Option<i32>,
    pub exit_code: Option<i32>,
    /// `SIGTERM` and the like.
    pub signal: Option<String>,
    pub seconds: u64,
}

impl SvStat {
    /// Parses one line of `s6-svstat -o` output with [`SVSTAT_FIELDS`].
    pub fn parse(line: &str) -> Option<SvStat> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [up, want, normally, ready, pid, exit, signal, secs] = f[..] else {
            return None;
        };
        let flag = |s: &str| match s {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        let num = |s: &str| s.parse::<i32>().ok().filter(|&n| n >= 0);
        Some(SvStat {
            up: flag(up)?,
            want_up: flag(want)?,
            normally_up: flag(normally)?,
            ready: flag(ready)?,
            pid: num(pid),
            exit_code: num(exit),
            signal: (signal != "NA").then(|| signal.to_owned()),
            seconds: secs.parse().ok()?,
        })
    }
}

/// A temporary directory holding a scan directory (`service/`) supervised by
/// a real `s6-svscan`, and a HERMES_HOME (`home/`). Dropping it kills the
/// namespace (every supervisor and gateway) and removes the directory.
pub struct ScanDir {
    ns: Option<PidNs>,
    scandir: PathBuf,
    home: PathBuf,
    tmp: tempfile::TempDir,
}

impl ScanDir {
    /// Creates the directories and starts `s6-svscan -t0` on the scan
    /// directory as PID 1 of a new PID namespace (no periodic rescans: new
    /// services are picked up by [`ScanDir::add`]). Its output and the
    /// gateways' go to `svscan.log` in the temporary directory.
    pub fn start() -> ScanDir {
        ScanDir::start_sized(None)
    }

    /// [`ScanDir::start`] with room for `services` service directories
    /// (`s6-svscan -c`, or `-C` in 2.14+), where more than its
    /// default are wanted.
    pub fn start_sized(services: Option<usize>) -> ScanDir {
        let tmp = tempfile::Builder::new()
            .prefix("hermes-s6-")
            .tempdir()
            .expect("create a temporary directory");
        let scandir = tmp.path().join("service");
        let home = tmp.path().join("home");
        for dir in [
            &scandir,
            &home,
            &tmp.path().join("staging"),
            &tmp.path().join("marks"),
        ] {
            fs::create_dir_all(dir).expect("create fixture directories");
        }
        let log = fs::File::create(tmp.path().join("svscan.log")).expect("create svscan.log");
        let mut args = vec!["-t0".to_owned()];
        // Both keep a fixed table of services (1000 by default), sized by
        // `-c` in 2.11 and by `-C` in 2.14+, which no longer takes `-c`.
        if let Some(max) = services {
            let option = if is_multi_dir() { "-C" } else { "-c" };
            args.extend([option.to_owned(), max.to_string()]);
        }
        args.push(".".to_owned());
        let mut cmd = PidNs::command("s6-svscan", &args, NsOptions::default());
        cmd.current_dir(&scandir)
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let ns = spawn_logged(&mut cmd, &tmp.path().join("svscan.log"));
        let control = scandir.join(".s6-svscan/control");
        proc::wait_until(S6_LIMIT, "s6-svscan to create .s6-svscan/control", || {
            control.exists()
        });
        ScanDir {
            ns: Some(ns),
            scandir,
            home,
            tmp,
        }
    }

    /// Starts s6-svscan with `gateways` already supervised (see [`ScanDir::add`]).
    pub fn with(gateways: &[Gateway]) -> ScanDir {
        let fixture = ScanDir::start();
        fixture.add(gateways);
        fixture
    }

    /// The temporary directory everything lives in.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The scan directory (what gatewayctl gets as `--scandir`).
    pub fn scandir(&self) -> &Path {
        &self.scandir
    }

    /// HERMES_HOME: the Hermes root, and the `default` profile's home.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The home of `profile`: HERMES_HOME for `default`, else
    /// `HERMES_HOME/profiles/<profile>`.
    pub fn profile_home(&self, profile: &str) -> PathBuf {
        if profile == "default" {
            self.home.clone()
        } else {
            self.home.join("profiles").join(profile)
        }
    }

    /// `<profile home>/gateway_state.json`.
    pub fn state_file(&self, profile: &str) -> PathBuf {
        self.profile_home(profile).join("gateway_state.json")
    }

    /// The parsed `gateway_state.json` of `profile`, or `None` if absent.
    pub fn state(&self, profile: &str) -> Option<serde_json::Value> {
        let text = fs::read_to_string(self.state_file(profile)).ok()?;
        Some(serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {text:?}",
                self.state_file(profile).display()
            )
        }))
    }

    /// `desired_state` from `gateway_state.json`, if any.
    pub fn desired_state(&self, profile: &str) -> Option<String> {
        Some(
            self.state(profile)?
                .get("desired_state")?
                .as_str()?
                .to_owned(),
        )
    }

    /// `<scandir>/gateway-<profile>`.
    pub fn service_dir(&self, profile: &str) -> PathBuf {
        self.scandir.join(format!("gateway-{profile}"))
    }

    /// The file a gateway's finish script appends a line to on each run.
    pub fn finish_marker(&self, profile: &str) -> PathBuf {
        self.root()
            .join("marks")
            .join(format!("{profile}.finished"))
    }

    /// How many times the finish script of `profile` has completed.
    pub fn finish_count(&self, profile: &str) -> usize {
        fs::read_to_string(self.finish_marker(profile))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// The namespace's PID 1 (s6-svscan) as seen from here.
    pub fn svscan_pid(&self) -> i32 {
        self.ns.as_ref().map_or(0, PidNs::pid1)
    }

    /// Installs the services without telling s6-svscan (their directories are
    /// built aside and renamed in, so no half-written service is ever seen),
    /// and creates the profile homes.
    pub fn install(&self, gateways: &[Gateway]) {
        for gw in gateways {
            let staged = self
                .root()
                .join("staging")
                .join(format!("gateway-{}", gw.profile));
            let mut args = gw.dummy_args();
            if gw.hermes {
                args.push("--hermes-home".to_owned());
                args.push(shell_quote(
                    &self.profile_home(&gw.profile).to_string_lossy(),
                ));
            }
            let exec = format!(
                "{} {}",
                shell_quote(&dummy_gateway().to_string_lossy()),
                args.join(" ")
            );
            gw.write_service(
                &staged,
                &[],
                exec.trim_end(),
                &self.finish_marker(&gw.profile),
            );
            let target = self.service_dir(&gw.profile);
            if gw.linked {
                let real = self
                    .root()
                    .join("linked")
                    .join(format!("gateway-{}", gw.profile));
                fs::create_dir_all(self.root().join("linked")).expect("mkdir linked");
                fs::rename(&staged, &real)
                    .unwrap_or_else(|e| panic!("install {}: {e}", real.display()));
                std::os::unix::fs::symlink(&real, &target)
                    .unwrap_or_else(|e| panic!("symlink {}: {e}", target.display()));
            } else {
                fs::rename(&staged, &target)
                    .unwrap_or_else(|e| panic!("install {}: {e}", target.display()));
            }
            fs::create_dir_all(self.profile_home(&gw.profile)).expect("create the profile home");
        }
    }

    /// Installs `gateways`, has s6-svscan pick them up (`s6-svscanctl -a`),
    /// and waits (bounded) until each is supervised and each that should stay
    /// up runs its dummy gateway with SIGTERM handled (see [`ScanDir::wait_armed`]).
    pub fn add(&self, gateways: &[Gateway]) {
        self.install(gateways);
        self.rescan();
        let mut pending: Vec<&Gateway> = gateways.iter().collect();
        proc::wait_until(
            S6_LIMIT,
            "s6-supervise listening on the new services",
            || {
                pending.retain(|gw| !supervise_settled(&self.service_dir(&gw.profile)));
                pending.is_empty()
            },
        );
        let up: Vec<&str> = gateways
            .iter()
            .filter(|g| g.stays_up())
            .map(|g| g.profile.as_str())
            .collect();
        self.wait_armed(&up);
    }

    /// `s6-svscanctl -a`: rescan now. Retried (bounded) while s6-svscan is
    /// not listening yet: its control FIFO exists a moment before it is open.
    pub fn rescan(&self) {
        let deadline = std::time::Instant::now() + S6_LIMIT;
        loop {
            let out = run::run(
                Command::new("s6-svscanctl").arg("-a").arg(&self.scandir),
                Duration::from_secs(10),
            );
            if out.code == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "s6-svscanctl -a keeps failing: {out:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// True when `s6-svok` says an s6-supervise runs on the service.
    pub fn is_supervised(&self, profile: &str) -> bool {
        is_supervised(&self.service_dir(profile))
    }

    /// The s6-svstat reading of `profile`, or `None` when s6-svstat fails
    /// (no supervisor).
    pub fn try_svstat(&self, profile: &str) -> Option<SvStat> {
        read_svstat(&self.service_dir(profile))
    }

    /// The s6-svstat reading of `profile`; panics when s6-svstat fails.
    pub fn svstat(&self, profile: &str) -> SvStat {
        read_svstat(&self.service_dir(profile))
            .unwrap_or_else(|| panic!("s6-svstat failed on gateway-{profile}"))
    }

    /// Waits (bounded) until the reading of `profile` satisfies `cond`, and
    /// returns that reading.
    pub fn wait_svstat(&self, profile: &str, what: &str, cond: impl Fn(&SvStat) -> bool) -> SvStat {
        wait_for_svstat(
            &self.service_dir(profile),
            &format!("gateway-{profile} {what}"),
            cond,
        )
    }

    /// Host pids of the dummy gateways of this fixture that are running and
    /// have SIGTERM blocked or ignored (so a stop now meets the configured
    /// behaviour), by profile.
    pub fn armed_gateways(&self) -> HashMap<String, i32> {
        let mut by_dir = HashMap::new();
        if let Ok(entries) = fs::read_dir(&self.scandir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let (Some(profile), Ok(real)) = (
                    name.strip_prefix("gateway-"),
                    fs::canonicalize(entry.path()),
                ) {
                    by_dir.insert(real, profile.to_owned());
                }
            }
        }
        armed_dummy_gateways(|_, cwd| by_dir.get(cwd).cloned())
    }

    /// Waits (bounded) until every profile in `profiles` runs an armed dummy
    /// gateway (see [`ScanDir::armed_gateways`]) and s6-svstat says it is up.
    pub fn wait_armed(&self, profiles: &[&str]) {
        wait_until_armed(
            profiles,
            || self.armed_gateways(),
            |p| {
                self.wait_svstat(p, "up", |s| s.up);
            },
        );
    }

    /// The host pid of the armed dummy gateway of `profile`, if one runs.
    pub fn gateway_pid(&self, profile: &str) -> Option<i32> {
        self.armed_gateways().get(profile).copied()
    }

    /// `gatewayctl --scandir <scandir>` with a clean environment: only PATH
    /// and HERMES_HOME set. Add the command and its arguments.
    pub fn gatewayctl(&self) -> Command {
        let mut cmd = gatewayctl_clean();
        cmd.env("HERMES_HOME", &self.home)
            .arg("--scandir")
            .arg(&self.scandir);
        cmd
    }

    /// Runs `gatewayctl --scandir <scandir> ARGS...` (clean environment,
    /// bounded to 60 s).
    pub fn ctl(&self, args: &[&str]) -> Output {
        run::run(self.gatewayctl().args(args), Duration::from_secs(60))
    }

    /// Opens the tree to every user (directories 0755, profile homes 0777,
    /// each `supervise/` 0755 and `supervise/control` FIFO 0622) except the
    /// control FIFO of each profile in `locked`, which stays 0600: an
    /// unprivileged caller can then control every gateway but those.
    pub fn open_control_to_all_users(&self, locked: &[&str]) {
        let svscan = self.scandir.join(".s6-svscan");
        for dir in [self.root(), &self.scandir, &svscan, &self.home] {
            chmod(dir, 0o755);
        }
        let profiles = self.home.join("profiles");
        if profiles.is_dir() {
            chmod(&profiles, 0o755);
        }
        for profile in self.listed_services() {
            let home = self.profile_home(&profile);
            if home.is_dir() {
                chmod(&home, 0o777);
            }
            let svc = self.service_dir(&profile);
            chmod(&svc.join("supervise"), 0o755);
            let mode = if locked.contains(&profile.as_str()) {
                0o600
            } else {
                0o622
            };
            chmod(&svc.join("supervise/control"), mode);
        }
    }

    /// Profiles of the `gateway-*` directories in the scan directory.
    fn listed_services(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.scandir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("supervise").is_dir())
                    .filter_map(|e| {
                        Some(e.file_name().to_str()?.strip_prefix("gateway-")?.to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for ScanDir {
    /// Kills the namespace (its PID 1 takes every supervisor and gateway
    /// with it), waits until PID 1 is gone, then lets the directory go.
    fn drop(&mut self) {
        // The namespace goes first (PidNs waits until its PID 1 is gone),
        // then the directory.
        drop(self.ns.take());
    }
}

/// [`PidNs::spawn`], but a failure to start also shows `log` (where the
/// namespace's output goes), so a broken setup explains itself.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> PidNs {
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| PidNs::spawn(cmd)));
    started.unwrap_or_else(|_| {
        panic!(
            "the namespace did not start; {}:\n{}",
            log.display(),
            fs::read_to_string(log).unwrap_or_default()
        )
    })
}

/// `gatewayctl` (the static build under test) with an environment holding
/// only PATH.
pub fn gatewayctl_clean() -> Command {
    let mut cmd = Command::new(bins::gatewayctl());
    cmd.env_clear().env("PATH", CLEAN_PATH);
    cmd
}

/// The same command run as uid and gid 65534 with no supplementary groups
/// (`setpriv --reuid=65534 --regid=65534 --clear-groups`); see [`wrapped`].
pub fn as_nobody(cmd: &Command) -> Command {
    wrapped(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
        cmd,
    )
}

/// `cmd` run through the program and options `wrapper` (which ends in
/// `--`): its program, arguments, working directory and the environment
/// variables set on it (the environment is otherwise empty, as with
/// [`gatewayctl_clean`]).
pub fn wrapped(wrapper: &[&str], cmd: &Command) -> Command {
    let (program, options) = wrapper.split_first().expect("a wrapper program");
    let mut wrapped = Command::new(program);
    wrapped
        .env_clear()
        .args(options)
        .arg(cmd.get_program())
        .args(cmd.get_args());
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

/// Single-quotes `text` for /bin/sh.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Writes `text` to `path` with mode 0755.
pub fn write_script(path: &Path, text: &str) {
    crate::program::write(path, text.as_bytes(), 0o755);
}

/// Writes `text` to `path`, panicking with the path on failure.
pub fn write_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Sets the mode of `path`, panicking with the path on failure.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

/// Host pids of the running dummy gateways that have SIGTERM in hand (so a
/// stop now meets the configured behaviour), keyed by the profile `which`
/// names from the pid and its working directory (its service directory, as
/// the process sees it); `None` skips the process.
pub fn armed_dummy_gateways(which: impl Fn(i32, &Path) -> Option<String>) -> HashMap<String, i32> {
    let mut armed = HashMap::new();
    for pid in all_pids() {
        if !comm_is(pid, "dummy-gateway") || !proc::has_signal_in_hand(pid, libc::SIGTERM) {
            continue;
        }
        let Ok(cwd) = fs::read_link(format!("/proc/{pid}/cwd")) else {
            continue;
        };
        if let Some(profile) = which(pid, &cwd) {
            armed.insert(profile, pid);
        }
    }
    armed
}

/// Waits (bounded) until every profile in `profiles` is among the `armed`
/// gateways, then for each until `up` says s6 sees it up (s6-supervise
/// writes its status file after the fork, so the gateway can be running
/// before s6 says so).
pub fn wait_until_armed(
    profiles: &[&str],
    armed: impl Fn() -> HashMap<String, i32>,
    up: impl Fn(&str),
) {
    if profiles.is_empty() {
        return;
    }
    proc::wait_until(S6_LIMIT, "the dummy gateways to be up", || {
        let armed = armed();
        profiles.iter().all(|p| armed.contains_key(*p))
    });
    for p in profiles {
        up(p);
    }
}

/// True when an s6-supervise has the control FIFO of the service directory
/// `dir` open (opening it for writing without blocking then succeeds; s6-svok
/// only checks the lock, which is taken a moment before).
pub fn is_listening(dir: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("supervise/control"))
        .is_ok()
}

/// True once the s6-supervise of the service directory `dir` is fully
/// started: it listens on its control FIFO and has written its status file
/// (s6-svok says yes earlier, from the lock alone).
pub fn supervise_settled(dir: &Path) -> bool {
    is_listening(dir) && dir.join("supervise/status").is_file()
}

/// Every pid in /proc.
pub fn all_pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// True when `/proc/PID/comm` is `name`.
pub fn comm_is(pid: i32, name: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == name)
}

/// The first line of a shell stand-in for `s6-svc`: asked with no arguments
/// (gatewayctl reads the usage line once, to know whether it takes several
/// directories), it answers as Debian's s6 2.11 does.
pub const USAGE_2_11: &str = "[ $# -eq 0 ] && { echo 's6-svc: usage: s6-svc [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -abqhkti12pcyroduDUxOQ ] servicedir' >&2; exit 100; }\n";

/// True when the s6 the suites run against takes several service
/// directories per `s6-svc` call (2.14 and later: s6-overlay's 2.15 under
/// `scripts/with-s6-overlay`), as its usage line says; false for Debian's
/// 2.11. Asked once.
pub fn is_multi_dir() -> bool {
    static MULTI: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MULTI.get_or_init(|| {
        let out = run::run(&mut Command::new("s6-svc"), Duration::from_secs(10));
        out.stderr.contains("servicedirs...")
    })
}

/// s6-svc's exit code for a service no s6-supervise listens on: 100 in
/// 2.11, 102 from 2.14 on.
pub fn rc_not_listening() -> i32 {
    if is_multi_dir() { 102 } else { 100 }
}

/// What `s6-svstat -o exitcode` says of a service that never ran: 0 in 2.11,
/// -1 (no exit yet) in 2.15.
pub fn never_ran_exit_code() -> Option<i32> {
    if is_multi_dir() { None } else { Some(0) }
}

/// The word s6-svc puts before a directory it could not control: `fatal`
/// in 2.11 (one directory per run), `warning` from 2.14 on (one line per
/// directory of a run, and it goes on with the others).
pub fn control_failure_word() -> &'static str {
    if is_multi_dir() { "warning" } else { "fatal" }
}
