//! `docker/Dockerfile.s6`, booted as far as it can be here. No base image can
//! be pulled, so a `FROM scratch` root gets what the Dockerfile puts in the
//! image that the boot uses, at the paths its COPY lines name (read from the
//! Dockerfile itself, as are its ENV, HEALTHCHECK and CMD): s6-overlay's s6
//! 2.15 under /package and /command (`HERMES_TEST_S6_OVERLAY`; without it
//! the boot test is skipped with one line), busybox-static as /bin/sh and
//! friends, the static gatewayctl and heartbeat, the cont-init script, the
//! `hermes` user (10000), and stand-ins for what only the real image has:
//! the Hermes CLI in its virtualenv, s6-overlay's `/init` and `with-contenv`.
//!
//! Then, in new PID and mount namespaces rooted there, the boot s6-overlay
//! v3 performs: s6-svscan as PID 1 on a tmpfs /run/service, the cont-init
//! step run under it with only the supervision tree's PATH, then the CMD.
//! It proves that the cont-init step registers gateway-default, starts a
//! profile whose desired state is running and leaves a stopped one down;
//! that the CMD succeeds and becomes the heartbeat; that each gateway runs
//! as uid 10000 with the container's environment and logs through s6-log
//! into `$HERMES_HOME/logs/gateways/<profile>/`; that a profile registered
//! at run time gets the same slot; and that the HEALTHCHECK exits 0.
//! Everything is bounded; the namespaces and the temp dir go at the end,
//! and no mount reaches the host.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use hermes_e2e::bins;
use hermes_e2e::ns::PidNs;
use hermes_e2e::podman::busybox_static;
use hermes_e2e::proc::{self, Proc};
use hermes_e2e::program;
use hermes_e2e::run::{self, Output};
use hermes_e2e::s6;

/// How long any one thing may take to happen in the container.
const LIMIT: Duration = Duration::from_secs(20);
/// Where the Dockerfile's static binaries come from (`make static`).
const MUSL_RELEASE: &str = "target/x86_64-unknown-linux-musl/release/";
/// The PATH of the base image (python:3.12-slim extends Debian's), which
/// the Dockerfile's `ENV PATH=...:$PATH` extends.
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The image's `hermes` user and group.
const HERMES: u32 = 10000;
/// The stand-in for s6-overlay's `/init`, at the root.
const BOOT: &str = "/boot-as-s6-overlay";
/// The busybox applets the scripts of the image use, linked in /bin.
const APPLETS: [&str; 20] = [
    "sh", "[", "cat", "chmod", "chown", "cp", "echo", "env", "id", "ls", "mkdir", "mknod", "mount",
    "printf", "readlink", "rm", "sed", "sleep", "test", "touch",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// --- the Dockerfile ------------------------------------------------------------

/// The instructions of `docker/Dockerfile.s6` that the boot depends on.
struct Dockerfile {
    /// `COPY SRC DEST`, in order.
    copies: Vec<(String, String)>,
    /// `ENV NAME=VALUE`, with `$PATH` expanded to the base image's.
    env: Vec<(String, String)>,
    runs: Vec<String>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
}

impl Dockerfile {
    fn read() -> Dockerfile {
        let path = repo().join("docker/Dockerfile.s6");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut file = Dockerfile {
            copies: Vec::new(),
            env: Vec::new(),
            runs: Vec::new(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            healthcheck: Vec::new(),
        };
        for instruction in instructions(&text) {
            let (keyword, rest) = instruction
                .split_once(' ')
                .unwrap_or((instruction.as_str(), ""));
            let rest = rest.trim();
            match keyword {
                "COPY" => {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    assert_eq!(words.len(), 2, "not `COPY SRC DEST`: {instruction}");
                    file.copies.push((words[0].to_owned(), words[1].to_owned()));
                }
                "ENV" => {
                    let (name, value) = rest
                        .split_once('=')
                        .unwrap_or_else(|| panic!("not `ENV NAME=VALUE`: {instruction}"));
                    let value = value.replace("$PATH", BASE_PATH);
                    assert!(!value.contains('$'), "cannot expand: {instruction}");
                    file.env.push((name.to_owned(), value));
                }
                "RUN" => file.runs.push(rest.to_owned()),
                "ENTRYPOINT" => file.entrypoint = json_argv(rest, &instruction),
                "CMD" => file.cmd = json_argv(rest, &instruction),
                "HEALTHCHECK" => {
                    let argv = rest
                        .strip_prefix("CMD ")
                        .unwrap_or_else(|| panic!("not `HEALTHCHECK CMD [...]`: {instruction}"));
                    file.healthcheck = json_argv(argv, &instruction);
                }
                _ => {}
            }
        }
        file
    }

    fn env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The container's environment: the image's ENV (PATH, HERMES_HOME).
    fn container_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for (name, value) in &self.env {
            env.retain(|(n, _)| n != name);
            env.push((name.clone(), value.clone()));
        }
        if self.env("PATH").is_none() {
            env.push(("PATH".to_owned(), BASE_PATH.to_owned()));
        }
        env
    }

    /// The Hermes home the image's gateways use.
    fn hermes_home(&self) -> &str {
        self.env("HERMES_HOME").unwrap_or("/opt/data")
    }
}

/// The instructions of a Dockerfile, one string each: comments and blank
/// lines dropped, continuation lines joined.
fn instructions(text: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part.trim_end());
                current.push(' ');
            }
            None => {
                current.push_str(line);
                all.push(std::mem::take(&mut current));
            }
        }
    }
    all
}

fn json_argv(text: &str, instruction: &str) -> Vec<String> {
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("not a JSON array of strings ({e}): {instruction}"))
}

/// Where the image gets COPY's source: the static build under test for
/// `target/.../release/NAME`, else the file in this repository.
fn copy_source(source: &str) -> PathBuf {
    match source.strip_prefix(MUSL_RELEASE) {
        Some(name) => bins::bin_dir().join(name),
        None => repo().join(source),
    }
}

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[test]
fn the_dockerfile_is_what_the_boot_test_boots() {
    let file = Dockerfile::read();
    assert_eq!(file.entrypoint, words(&["/init"]), "s6-overlay's /init");
    assert_eq!(
        file.cmd,
        words(&[
            "/usr/local/bin/gatewayctl",
            "run",
            "--",
            "hermes",
            "gateway",
            "run"
        ])
    );
    assert_eq!(
        file.healthcheck,
        words(&["/usr/local/bin/gatewayctl", "check"])
    );
    // Every COPY is something the boot test puts in its root.
    for (source, _) in &file.copies {
        let known = source.starts_with("docker/s6/")
            || [
                MUSL_RELEASE.to_owned() + "gatewayctl",
                MUSL_RELEASE.to_owned() + "hermes-heartbeat",
            ]
            .contains(source);
        assert!(known, "the boot test does not know COPY {source}");
        assert!(
            repo().join(source).exists() || source.starts_with(MUSL_RELEASE),
            "{source}"
        );
    }
    let cont_init = "/etc/cont-init.d/02-reconcile-profiles";
    let (source, _) = file
        .copies
        .iter()
        .find(|(_, dest)| dest == cont_init)
        .unwrap_or_else(|| panic!("nothing is copied to {cont_init}"));
    let script = fs::read_to_string(repo().join(source)).expect("read the cont-init script");
    assert!(
        script.starts_with("#!/command/with-contenv sh\n"),
        "{script}"
    );
    assert_eq!(
        script.lines().rfind(|l| !l.trim().is_empty()),
        Some("exec /usr/local/bin/gatewayctl reconcile"),
        "{script}"
    );
    let mode = fs::metadata(repo().join(source)).expect("stat").mode();
    assert_eq!(mode & 0o111, 0o111, "{source} is not executable");
    // The `hermes` user the slots are owned by and drop to, and the
    // virtualenv and home their run script uses.
    assert!(
        file.runs
            .iter()
            .any(|r| r.contains("groupadd --gid 10000 hermes")
                && r.contains("useradd --uid 10000 --gid 10000")
                && r.contains("chown hermes:hermes /opt/data")),
        "no hermes user 10000:10000 owning /opt/data"
    );
    assert!(
        file.runs
            .iter()
            .any(|r| r.contains("python -m venv /opt/hermes/.venv")),
        "no virtualenv at /opt/hermes/.venv"
    );
    assert_eq!(file.hermes_home(), "/opt/data");
}

// --- the image's root ----------------------------------------------------------

/// The s6 of `HERMES_TEST_S6_OVERLAY` (`package/admin/s6-<version>`), or
/// `None` after one line saying the boot test is skipped.
fn s6_overlay_or_skip(test: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("HERMES_TEST_S6_OVERLAY").filter(|d| !d.is_empty()) else {
        // Uncaptured, so it shows in `cargo test` output.
        let _ = writeln!(
            io::stderr(),
            "SKIPPED {test}: HERMES_TEST_S6_OVERLAY is not set (a directory holding s6-overlay's s6 as package/admin/s6-<version>/command/)"
        );
        return None;
    };
    let admin = Path::new(&dir).join("package/admin");
    let package = fs::read_dir(&admin)
        .unwrap_or_else(|e| panic!("HERMES_TEST_S6_OVERLAY: {}: {e}", admin.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("s6-") && n[3..].starts_with(|c: char| c.is_ascii_digit())
            }) && p.join("command/s6-svscan").is_file()
        });
    Some(package.unwrap_or_else(|| {
        panic!(
            "HERMES_TEST_S6_OVERLAY: no s6-<version>/command/s6-svscan in {}",
            admin.display()
        )
    }))
}

/// s6-overlay's `with-contenv` is an execline script and the fixture ships
/// only s6 (no execline, no s6-overlay scripts), so this stand-in does what
/// it does: unless S6_KEEP_ENV is set, an environment holding only PATH
/// (`emptyenv -p`) plus the container's, from /run/s6/container_environment
/// (`s6-envdir -Lf`), then the program.
const WITH_CONTENV: &str = r#"#!/bin/sh
# Stand-in for s6-overlay's with-contenv (see tests/tests/s6_overlay_image.rs).
if [ "0${S6_KEEP_ENV}" -eq 0 ]; then
  exec env -i PATH="$PATH" /command/s6-envdir -Lf -- /run/s6/container_environment "$@"
fi
exec "$@"
"#;

/// What the slot's run script sources: a virtualenv's `activate`, which
/// puts the virtualenv's bin first on PATH.
const ACTIVATE: &str = r#"# Stand-in for a virtualenv's activate script.
VIRTUAL_ENV=/opt/hermes/.venv
export VIRTUAL_ENV
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH
"#;

/// The Hermes CLI's `hermes [-p PROFILE] gateway run --replace`: records
/// its pid in the profile home's gateway.pid (as a Hermes gateway does),
/// says on stdout (its slot's logger) who it runs as and with what, then
/// becomes the heartbeat, which sleeps until SIGTERM.
const HERMES_CLI: &str = r#"#!/bin/sh
# Stand-in for the Hermes CLI's gateway (see tests/tests/s6_overlay_image.rs).
set -e
home=${HERMES_HOME:?is not set: the container environment did not reach the gateway}
profile=default
if [ "$1" = -p ]; then profile=$2; home=$home/profiles/$2; shift 2; fi
if [ "$*" != "gateway run --replace" ]; then
  echo "hermes stand-in: unexpected arguments: $*" >&2
  exit 64
fi
printf '{"pid": %s, "kind": "hermes-gateway"}\n' "$$" >"$home/gateway.pid"
echo "hermes stand-in: profile=$profile uid=$(id -u) gid=$(id -g) HERMES_HOME=$HERMES_HOME supervised=$HERMES_S6_SUPERVISED_CHILD"
exec /usr/local/bin/hermes-heartbeat
"#;

/// s6-overlay's `/init`, for what matters to the gateways, in its order.
/// Stage 1: /run a tmpfs, /command on PATH, the container's environment
/// dumped for with-contenv, then s6-svscan as PID 1 on /run/service with an
/// environment holding only PATH. Stage 2 (rc.init, a child of PID 1),
/// once s6-svscan answers: each /etc/cont-init.d script with that
/// environment. The test runs the CMD itself, as rc.init would next.
const INIT: &str = r#"#!/bin/sh
# Stand-in for s6-overlay's /init (see tests/tests/s6_overlay_image.rs).
set -e
umask 022
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /dev
mknod -m 666 /dev/null c 1 3
case ":$PATH:" in *:/command:*) ;; *) PATH=/command:$PATH ;; esac
export PATH
mkdir -p /run/service /run/s6/basedir /run/s6/container_environment
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
  eval "printf %s \"\$$name\"" >"/run/s6/container_environment/$name"
done
(
  exec </dev/null
  until s6-svscanctl -a /run/service 2>/dev/null; do sleep 0.01; done
  for script in /etc/cont-init.d/*; do
    rc=0
    env -i PATH="$PATH" "$script" || rc=$?
    echo "cont-init: info: $script exited $rc"
  done
  : >/run/stage2-done
) &
exec env -i PATH="$PATH" s6-svscan /run/service
"#;

/// The `FROM scratch` root, booted: PID 1 of new PID and mount namespaces
/// (unshare --root), its output in `container.log`. Dropping it kills the
/// namespaces (every process in them) and removes the temp dir.
struct Image {
    ns: Option<PidNs>,
    cmd: Option<Proc>,
    file: Dockerfile,
    tmp: tempfile::TempDir,
}

impl Image {
    fn build(s6_package: &Path, file: Dockerfile) -> Image {
        let tmp = tempfile::Builder::new()
            .prefix("hermes-s6-image-")
            .tempdir()
            .expect("tempdir");
        let image = Image {
            ns: None,
            cmd: None,
            file,
            tmp,
        };
        let root = image.root();
        for dir in [
            "bin",
            "usr/bin",
            "command",
            "package/admin",
            "etc",
            "opt/hermes/.venv/bin",
            "proc",
            "run",
            "dev",
            "tmp",
        ] {
            fs::create_dir_all(root.join(dir)).expect("mkdir in the root");
        }
        // busybox-static as /bin/sh and the other commands the scripts use.
        let busybox = busybox_static().unwrap_or_else(|e| panic!("{e}"));
        program::copy(&busybox, &root.join("bin/busybox"));
        for applet in APPLETS {
            symlink("busybox", root.join("bin").join(applet)).expect("link an applet");
        }
        // s6 as s6-overlay lays it out.
        let version = s6_package.file_name().expect("a version directory");
        copy_tree(s6_package, &root.join("package/admin").join(version));
        symlink(version, root.join("package/admin/s6")).expect("link /package/admin/s6");
        for entry in fs::read_dir(s6_package.join("command")).expect("read s6's commands") {
            let name = entry.expect("an entry").file_name();
            let target = Path::new("/package/admin/s6/command").join(&name);
            symlink(target, root.join("command").join(&name)).expect("link into /command");
        }
        program::write(
            &root.join("command/with-contenv"),
            WITH_CONTENV.as_bytes(),
            0o755,
        );
        // What the Dockerfile copies, where it copies it.
        for (source, dest) in &image.file.copies {
            let to = root.join(dest.trim_start_matches('/'));
            fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir for COPY");
            let from = copy_source(source);
            if from.is_dir() {
                copy_tree(&from, &to);
            } else {
                program::copy(&from, &to);
            }
        }
        // Its RUN lines: the hermes user, the Hermes CLI in its virtualenv.
        s6::write_file(
            &root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nhermes:x:10000:10000::/opt/data:/usr/sbin/nologin\n",
        );
        s6::write_file(&root.join("etc/group"), "root:x:0:\nhermes:x:10000:\n");
        s6::write_file(&root.join("opt/hermes/.venv/bin/activate"), ACTIVATE);
        program::write(
            &root.join("opt/hermes/.venv/bin/hermes"),
            HERMES_CLI.as_bytes(),
            0o755,
        );
        program::write(
            &root.join(BOOT.trim_start_matches('/')),
            INIT.as_bytes(),
            0o755,
        );
        // The persistent volume: the root profile has no state yet, coder
        // was running when the container last stopped, writer was stopped.
        let home = image.home();
        for (profile, state) in [("coder", "running"), ("writer", "stopped")] {
            let dir = home.join("profiles").join(profile);
            fs::create_dir_all(&dir).expect("mkdir a profile");
            s6::write_file(&dir.join("SOUL.md"), &format!("# {profile}\n"));
            s6::write_file(
                &dir.join("gateway_state.json"),
                &format!("{{\"desired_state\":\"{state}\"}}\n"),
            );
        }
        give_to_hermes(&home);
        image
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    /// HERMES_HOME, as the host reaches it.
    fn home(&self) -> PathBuf {
        self.root()
            .join(self.file.hermes_home().trim_start_matches('/'))
    }

    fn log_path(&self) -> PathBuf {
        self.tmp.path().join("container.log")
    }

    /// What PID 1 and the supervision tree wrote (the container's output).
    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn pid1(&self) -> i32 {
        self.ns.as_ref().map_or(0, PidNs::pid1)
    }

    /// `path` inside the container (its /run and /proc are its own), as
    /// the host reaches it.
    fn inside(&self, path: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{path}", self.pid1()))
    }

    /// Starts the container and waits (bounded) until its cont-init step
    /// is done.
    fn boot(&mut self) {
        let log = File::create(self.log_path()).expect("create container.log");
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--kill-child", "--mount", "--mount-proc"])
            .arg(format!("--root={}", self.root().display()))
            .args(["--", BOOT])
            .current_dir("/")
            .env_clear()
            .envs(self.file.container_env())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the log"))
            .stderr(log);
        self.ns = Some(s6::spawn_logged(&mut cmd, &self.log_path()));
        let done = self.inside("/run/stage2-done");
        self.wait_for("the cont-init step to finish", || done.exists());
    }

    /// Polls `cond` every 20 ms; panics with the container's output once
    /// [`LIMIT`] has passed.
    fn wait_for(&self, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "timed out after {LIMIT:?} waiting for {what}; the container's output:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// `argv` run inside (`nsenter` into its namespaces and root) with
    /// exactly `env` and umask 022, as a container runtime starts it.
    fn command(&self, env: &[(String, String)], argv: &[String]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid1().to_string())
            .args(["-p", "-m", "-r", "-w", "--"])
            .args(argv)
            .current_dir("/")
            .env_clear()
            .envs(env.iter().cloned());
        // SAFETY: umask is async-signal-safe; runs in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        cmd
    }

    /// As `docker exec` runs `argv`: with the image's environment.
    fn exec(&self, argv: &[&str]) -> Output {
        let mut cmd = self.command(&self.file.container_env(), &words(argv));
        run::run(&mut cmd, Duration::from_secs(60))
    }

    /// Starts the image's CMD as rc.init does (the container's environment,
    /// /command first on PATH as /init puts it), its output in files, and
    /// returns the host pid of the process inside.
    fn start_cmd(&mut self) -> i32 {
        let mut env = self.file.container_env();
        for (name, value) in &mut env {
            if name == "PATH" {
                *value = format!("/command:{value}");
            }
        }
        let mut cmd = self.command(&env, &self.file.cmd);
        cmd.stdin(Stdio::null())
            .stdout(File::create(self.tmp.path().join("cmd.stdout")).expect("create"))
            .stderr(File::create(self.tmp.path().join("cmd.stderr")).expect("create"));
        let nsenter = Proc::spawn(&mut cmd);
        let outer = nsenter.pid();
        self.cmd = Some(nsenter);
        let mut pid = 0;
        self.wait_for("the CMD to start inside", || {
            pid = proc::children(outer).into_iter().next().unwrap_or(0);
            pid != 0
        });
        pid
    }

    fn cmd_stderr(&self) -> String {
        fs::read_to_string(self.tmp.path().join("cmd.stderr")).unwrap_or_default()
    }

    /// `gatewayctl status --all --json`, by profile.
    fn status(&self, profile: &str) -> Value {
        let out = self.exec(&["/usr/local/bin/gatewayctl", "status", "--all", "--json"]);
        assert_eq!(out.code, 0, "{out:?}");
        let all: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        all.as_array()
            .and_then(|a| a.iter().find(|g| g["profile"] == profile))
            .cloned()
            .unwrap_or_else(|| panic!("no gateway-{profile} in {out:?}"))
    }

    /// Waits until gateway-`profile` is up and its gateway has become the
    /// heartbeat; returns its pid as the container numbers it.
    fn wait_gateway(&self, profile: &str) -> u64 {
        let pid_file = self.profile_home(profile).join("gateway.pid");
        let heartbeat = self.root().join("usr/local/bin/hermes-heartbeat");
        let mut pid = 0;
        self.wait_for(&format!("gateway-{profile} to run the gateway"), || {
            let recorded = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v["pid"].as_u64());
            let Some(recorded) = recorded else {
                return false;
            };
            pid = recorded;
            same_file(&self.inside(&format!("/proc/{pid}/exe")), &heartbeat)
        });
        let status = self.status(profile);
        assert_eq!(
            (status["up"].as_bool(), status["pid"].as_u64()),
            (Some(true), Some(pid)),
            "s6 does not run the gateway that wrote gateway.pid: {status}"
        );
        pid
    }

    fn profile_home(&self, profile: &str) -> PathBuf {
        if profile == "default" {
            self.home()
        } else {
            self.home().join("profiles").join(profile)
        }
    }

    /// The real, effective, saved and filesystem uids and gids of `pid`
    /// (as the container numbers it).
    fn ids(&self, pid: u64) -> (Vec<u32>, Vec<u32>) {
        let status = fs::read_to_string(self.inside(&format!("/proc/{pid}/status")))
            .unwrap_or_else(|e| panic!("the status of pid {pid} inside: {e}"));
        let field = |name: &str| -> Vec<u32> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        };
        (field("Uid:"), field("Gid:"))
    }

    /// The lines gateway-`profile`'s logger wrote so far.
    fn gateway_log(&self, profile: &str) -> String {
        let path = self
            .home()
            .join("logs/gateways")
            .join(profile)
            .join("current");
        fs::read_to_string(path).unwrap_or_default()
    }
}

impl Drop for Image {
    /// The namespaces first (PidNs waits until PID 1 is gone, and every
    /// process inside with it), then the CMD's nsenter, then the temp dir.
    fn drop(&mut self) {
        drop(self.ns.take());
        drop(self.cmd.take());
    }
}

/// `cp -a FROM TO`: a directory with all it holds, modes kept.
fn copy_tree(from: &Path, to: &Path) {
    let copied = Command::new("/bin/cp")
        .arg("-a")
        .arg("--")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp");
    assert!(
        copied.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

/// Gives `path` and all below it to hermes, as the Dockerfile's `chown` and
/// the Hermes CLI (which makes profiles as hermes) leave the volume.
fn give_to_hermes(path: &Path) {
    let owned = Command::new("chown")
        .args(["-R", "10000:10000"])
        .arg(path)
        .status()
        .expect("run chown");
    assert!(owned.success(), "chown -R 10000:10000 {}", path.display());
}

/// True when `a` and `b` (followed) are the same file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// The kind, mode and owner of `path`, links not followed.
fn shape(path: &Path) -> Option<(bool, bool, u32, u32, u32)> {
    let meta = fs::symlink_metadata(path).ok()?;
    Some((
        meta.is_dir(),
        meta.is_file(),
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid(),
    ))
}

// --- the boot ------------------------------------------------------------------

#[test]
fn the_image_boots_its_gateways_as_hermes_with_logs_and_a_healthy_check() {
    let test = "the_image_boots_its_gateways_as_hermes_with_logs_and_a_healthy_check";
    let Some(s6_package) = s6_overlay_or_skip(test) else {
        return;
    };
    let mut image = Image::build(&s6_package, Dockerfile::read());
    let tmp_path = image.tmp.path().to_owned();
    image.boot();

    // The cont-init step: a slot per profile, as recorded on the volume.
    let log = image.log();
    for line in [
        "reconcile: profile=default prior_state=None action=registered",
        "reconcile: profile=coder prior_state=running action=started",
        "reconcile: profile=writer prior_state=stopped action=registered",
        "cont-init: info: /etc/cont-init.d/02-reconcile-profiles exited 0",
    ] {
        assert!(
            log.lines().any(|l| l == line),
            "no {line:?} in the container's output:\n{log}"
        );
    }
    let boot_log =
        fs::read_to_string(image.home().join("logs/container-boot.log")).expect("the boot log");
    assert_eq!(boot_log.lines().count(), 3, "{boot_log}");
    for profile in ["default", "coder", "writer"] {
        let slot = image.inside(&format!("/run/service/gateway-{profile}"));
        for file in ["run", "finish", "log/run"] {
            assert!(slot.join(file).is_file(), "gateway-{profile}: no {file}");
        }
        assert_eq!(
            shape(&slot.join("supervise")).map(|s| (s.3, s.4)),
            Some((HERMES, HERMES)),
            "gateway-{profile}/supervise is not hermes's"
        );
    }
    // gateway-coder was running: it is up, as hermes, with the container's
    // environment; writer was stopped: it stays down.
    let coder = image.wait_gateway("coder");
    assert_eq!(
        image.ids(coder),
        (vec![HERMES; 4], vec![HERMES; 4]),
        "coder's gateway"
    );
    let writer = image.status("writer");
    assert_eq!(
        (writer["up"].as_bool(), writer["want_up"].as_bool()),
        (Some(false), Some(false)),
        "{writer}"
    );
    assert!(image.inside("/run/service/gateway-writer/down").exists());
    assert!(!image.profile_home("writer").join("gateway.pid").exists());
    let default = image.status("default");
    assert_eq!(
        default["up"].as_bool(),
        Some(false),
        "before the CMD: {default}"
    );

    // The CMD: it starts gateway-default and becomes the heartbeat.
    let cmd = image.start_cmd();
    let heartbeat = image.root().join("usr/local/bin/hermes-heartbeat");
    let exe = PathBuf::from(format!("/proc/{cmd}/exe"));
    image.wait_for("the CMD to become the heartbeat", || {
        same_file(&exe, &heartbeat) && proc::state(cmd) == Some('S')
    });
    assert!(
        image.cmd_stderr().contains(
            "✓ gateway-default is running under s6 supervision; this CMD process now only keeps the container alive."
        ),
        "{}",
        image.cmd_stderr()
    );
    let gateway = image.wait_gateway("default");
    assert_eq!(
        image.ids(gateway),
        (vec![HERMES; 4], vec![HERMES; 4]),
        "the default gateway"
    );
    let state = fs::read_to_string(image.home().join("gateway_state.json")).expect("state");
    assert!(state.contains("\"desired_state\":\"running\""), "{state}");

    // Each gateway's output goes through its s6-log, as hermes, into the
    // Hermes home (and on to the container's output).
    for profile in ["default", "coder"] {
        let line = format!(
            "hermes stand-in: profile={profile} uid=10000 gid=10000 HERMES_HOME={} supervised=1",
            image.file.hermes_home()
        );
        image.wait_for(&format!("{profile}'s line in its log"), || {
            image.gateway_log(profile).contains(&line)
        });
        let current = image
            .home()
            .join("logs/gateways")
            .join(profile)
            .join("current");
        assert_eq!(
            shape(&current).map(|s| (s.3, s.4)),
            Some((HERMES, HERMES)),
            "{} is not hermes's",
            current.display()
        );
        assert!(image.log().contains(&line), "{}", image.log());
    }

    // A profile made at run time: `gatewayctl register` makes the slot the
    // boot made, and s6 runs its gateway as hermes too.
    let reader = image.home().join("profiles/reader");
    fs::create_dir_all(&reader).expect("mkdir reader");
    s6::write_file(&reader.join("SOUL.md"), "# reader\n");
    give_to_hermes(&reader);
    let out = image.exec(&["/usr/local/bin/gatewayctl", "register", "reader", "--start"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout_lines(),
        ["✓ Registered and started gateway-reader under s6"]
    );
    let pid = image.wait_gateway("reader");
    assert_eq!(image.ids(pid), (vec![HERMES; 4], vec![HERMES; 4]));
    let (booted, registered) = (
        image.inside("/run/service/gateway-coder"),
        image.inside("/run/service/gateway-reader"),
    );
    for file in [
        "type",
        "run",
        "finish",
        "log",
        "log/run",
        "event",
        "supervise",
        "supervise/control",
        "supervise/event",
        "log/event",
        "log/supervise",
        "log/supervise/control",
        "log/supervise/event",
        "down",
    ] {
        assert_eq!(
            shape(&registered.join(file)),
            shape(&booted.join(file)),
            "{file} differs between the booted and the registered slot"
        );
    }
    for file in ["type", "run", "finish", "log/run"] {
        let read = |dir: &Path| fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert_eq!(
            read(&registered).replace("reader", "coder"),
            read(&booted),
            "{file}"
        );
    }

    // The HEALTHCHECK: every gateway s6 wants up is up.
    let healthcheck: Vec<&str> = image.file.healthcheck.iter().map(String::as_str).collect();
    let out = image.exec(&healthcheck);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout_lines(),
        ["✓ 4 profile gateway(s) healthy under s6"],
        "{out:?}"
    );
    // The CMD is still the heartbeat, keeping the container alive.
    assert!(
        same_file(&exe, &heartbeat),
        "the CMD is no longer the heartbeat"
    );

    // Torn down: nothing of the container is left on the host.
    drop(image);
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let tmp_text = tmp_path.to_string_lossy().into_owned();
    assert!(
        !mountinfo.contains(&tmp_text),
        "a mount of the container reached the host:\n{mountinfo}"
    );
    assert!(!tmp_path.exists(), "{} is left behind", tmp_path.display());
}
