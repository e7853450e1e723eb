//! The project's own podman harness: a private podman (configuration, store,
//! locks, events and cgroup parent all its own, in one temp dir) that builds
//! `FROM scratch` images and runs real containers, and on drop removes every
//! container, image, mount, cgroup dir and the temp dir it made.
//!
//! The settings are the ones found to work on machines with podman 4.3 and
//! no Docker engine, as root without CAP_SYS_RESOURCE: vfs storage, runc with
//! cgroupfs (crun refuses a hybrid cgroup layout), file events logger,
//! ulimits that fit the real hard limits (podman's default 1048576 makes
//! setrlimit fail with EPERM), no network, `build --isolation chroot`. Locks are files (not the machine-wide `/dev/shm/libpod_lock`) and
//! containers run under a cgroup parent named after the temp dir, so parallel
//! harnesses never share state and cleanup touches only what this one made.
//!
//! Two writes podman's configuration cannot move: image copies (build, save,
//! load, ...) go through containers/image, whose blob info cache is
//! `/var/lib/containers/cache/blob-info-cache-v1.boltdb` for root, with no
//! setting in containers.conf or storage.conf and no environment variable
//! for it (podman 4.3). So those commands run in a private mount namespace
//! with an overlay over `/var/lib` whose upper layer is in the temp dir
//! ([`Podman::var_lib_layers`]): podman still sees `/var/lib`, and what it
//! writes there lands in the temp dir. Their big temp files (`/var/tmp` by
//! default) go to the temp dir through `image_copy_tmp_dir`.

use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::bins;
use crate::ns::{self, Mount};
use crate::proc;

/// The longest any one podman command may take before the harness gives up.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// How long a container may take to settle, exit, or let its cgroups go.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// The podman commands that copy images through containers/image, and so
/// would write its blob info cache under `/var/lib/containers/cache`.
const IMAGE_COPYING: [&str; 7] = ["build", "commit", "import", "load", "pull", "push", "save"];

/// What a podman command printed and how it ended.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// How `podman stop` ended a container: how long the stop took, and the
/// container's exit code.
#[derive(Debug, Clone, Copy)]
pub struct StopOutcome {
    pub elapsed: Duration,
    pub exit_code: i32,
}

/// A private podman. Everything it makes lives in its temp dir or under its
/// own cgroup parent, and is removed on drop.
pub struct Podman {
    dir: TempDir,
    cgroup_parent: String,
    names: AtomicUsize,
}

/// A running (or exited) container; dropping it removes it (`podman rm -f`).
pub struct Container<'p> {
    podman: &'p Podman,
    name: String,
}

/// True where podman must work: in CI (`CI` set and not empty) or with
/// `HERMES_REQUIRE_PODMAN=1`. Then a podman that cannot run is a failure,
/// not a skip.
pub fn required() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    set("CI") || std::env::var_os("HERMES_REQUIRE_PODMAN").is_some_and(|v| v == "1")
}

/// A working private podman for `test`, or `None` after printing (uncaptured,
/// so it shows in `cargo test` output) why the test is skipped. Where podman
/// is [`required`], a podman that cannot run panics with the reason instead.
pub fn podman_or_skip(test: &str) -> Option<Podman> {
    match Podman::start() {
        Ok(podman) => Some(podman),
        Err(reason) if required() => {
            panic!(
                "{test}: podman cannot run here, and CI/HERMES_REQUIRE_PODMAN requires it: {reason}"
            )
        }
        Err(reason) => {
            let _ = writeln!(
                io::stderr(),
                "SKIPPED {test}: podman cannot run here: {reason} \
                 (`make deps-containers` installs podman, runc and busybox-static; \
                 set HERMES_REQUIRE_PODMAN=1 to make this a failure)"
            );
            None
        }
    }
}

impl Podman {
    /// Writes the private configuration into a new temp dir and checks that
    /// podman answers with it. `Err` says why podman cannot run at all.
    pub fn start() -> Result<Podman, String> {
        let dir = tempfile::Builder::new()
            .prefix("hermes-podman-")
            .tempdir()
            .map_err(|e| format!("cannot make a temp dir: {e}"))?;
        let suffix = dir
            .path()
            .file_name()
            .and_then(OsStr::to_str)
            .unwrap_or("hermes-podman");
        let podman = Podman {
            cgroup_parent: format!("/{suffix}"),
            dir,
            names: AtomicUsize::new(0),
        };
        podman
            .write_config()
            .map_err(|e| format!("cannot write the podman configuration: {e}"))?;
        let info = podman
            .try_run(["info", "--format", "{{.Host.OCIRuntime.Name}}"])
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => "podman is not installed".to_owned(),
                _ => format!("cannot run podman: {e}"),
            })?;
        if info.code != 0 {
            return Err(format!("`podman info` failed: {}", info.stderr.trim()));
        }
        if info.stdout.trim() != "runc" {
            return Err(format!("runtime is {:?}, not runc", info.stdout.trim()));
        }
        Ok(podman)
    }

    fn write_config(&self) -> io::Result<()> {
        let d = self.dir.path().display();
        let (nofile, nproc) = hard_limits();
        fs::write(
            self.dir.path().join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/graph\"\nrunroot = \"{d}/run\"\n"
            ),
        )?;
        fs::write(
            self.dir.path().join("containers.conf"),
            format!(
                "[containers]\n\
                 default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
                 netns = \"none\"\n\
                 [network]\n\
                 network_config_dir = \"{d}/networks\"\n\
                 [engine]\n\
                 runtime = \"runc\"\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n\
                 events_logfile_path = \"{d}/events.log\"\n\
                 lock_type = \"file\"\n\
                 tmp_dir = \"{d}/tmp\"\n\
                 image_copy_tmp_dir = \"{d}/tmp\"\n"
            ),
        )
    }

    /// A `podman` command that uses this private configuration. For the
    /// image-copying commands (build, save, load, ...) use [`Podman::run`],
    /// which keeps their writes under `/var/lib` in the temp dir.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            )
            .stdin(Stdio::null());
        cmd
    }

    fn try_run<I, S>(&self, args: I) -> io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let mut cmd = self.command();
        cmd.args(&args);
        let copies_images = args
            .first()
            .is_some_and(|a| IMAGE_COPYING.iter().any(|c| a.as_ref() == OsStr::new(c)));
        if !copies_images {
            return run_bounded(&mut cmd, COMMAND_LIMIT);
        }
        self.overlay_var_lib(&mut cmd)?;
        run_bounded(&mut cmd, COMMAND_LIMIT).map_err(|e| {
            let what = "in a private mount namespace with an overlay on /var/lib";
            io::Error::new(e.kind(), format!("{e} ({what})"))
        })
    }

    /// Where the `/var/lib` overlays of the image-copying commands keep
    /// their upper layers (`<n>/upper`): what podman wrote under `/var/lib`,
    /// such as `containers/cache/blob-info-cache-v1.boltdb`, is there.
    pub fn var_lib_layers(&self) -> PathBuf {
        self.dir.path().join("var-lib")
    }

    /// Makes `cmd` run in a private mount namespace where `/var/lib` is an
    /// overlay: the real `/var/lib` below, a fresh upper layer in the temp
    /// dir on top (one per command: an upper layer serves one mount at a
    /// time). The namespace, and the overlay with it, ends with the command.
    fn overlay_var_lib(&self, cmd: &mut Command) -> io::Result<()> {
        let layers = self.var_lib_layers().join(self.unique("layer"));
        let (upper, work) = (layers.join("upper"), layers.join("work"));
        fs::create_dir_all(&upper)?;
        fs::create_dir_all(&work)?;
        let options = format!(
            "lowerdir=/var/lib,upperdir={},workdir={}",
            upper.display(),
            work.display()
        );
        // Commas and colons separate overlay options and layers.
        if options.matches([',', ':']).count() != 2 {
            return Err(io::Error::other(format!(
                "the temp dir's path cannot be an overlay layer: {options:?}"
            )));
        }
        let options = CString::new(options).map_err(io::Error::other)?;
        ns::in_private_mounts(cmd, vec![Mount::overlay(Path::new("/var/lib"), options)]);
        Ok(())
    }

    /// Runs `podman ARGS` and returns its output; panics with podman's
    /// stderr when it fails.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
        let out = self
            .try_run(&args)
            .unwrap_or_else(|e| panic!("podman {}: {e}", shown.join(" ")));
        assert!(
            out.code == 0,
            "podman {} failed ({}): {}",
            shown.join(" "),
            out.code,
            out.stderr.trim()
        );
        out
    }

    fn unique(&self, what: &str) -> String {
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        format!("hermes-e2e-{what}-{n}")
    }

    /// A fresh directory inside the temp dir, for a build context.
    fn context_dir(&self, what: &str) -> PathBuf {
        let dir = self.dir.path().join(self.unique(what));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        dir
    }

    /// Builds `dockerfile` with `context` (`podman build --isolation chroot`)
    /// and returns the image's unique tag.
    pub fn build(&self, dockerfile: &Path, context: &Path) -> String {
        let tag = format!("localhost/{}:test", self.unique("image"));
        self.run([
            OsStr::new("build"),
            OsStr::new("--quiet"),
            OsStr::new("--isolation"),
            OsStr::new("chroot"),
            OsStr::new("-f"),
            dockerfile.as_os_str(),
            OsStr::new("-t"),
            OsStr::new(&tag),
            context.as_os_str(),
        ]);
        tag
    }

    /// The image users get from `make image`: `docker/Dockerfile.heartbeat`
    /// built with the static `hermes-heartbeat` as its only context.
    pub fn heartbeat_image(&self) -> String {
        let context = self.context_dir("heartbeat");
        copy_into(&bins::heartbeat(), &context, "hermes-heartbeat");
        self.build(&heartbeat_dockerfile(), &context)
    }

    /// What people used before the heartbeat, side by side: a `FROM scratch`
    /// image whose ENTRYPOINT is busybox-static `sleep infinity`.
    pub fn sleep_infinity_image(&self) -> String {
        let busybox = busybox_static().unwrap_or_else(|e| panic!("{e}"));
        let context = self.context_dir("sleep");
        copy_into(&busybox, &context, "busybox");
        let dockerfile = context.join("Dockerfile");
        write_file(
            &dockerfile,
            "FROM scratch\nCOPY busybox /busybox\nENTRYPOINT [\"/busybox\", \"sleep\", \"infinity\"]\n",
        );
        self.build(&dockerfile, &context)
    }

    /// `podman image inspect --format FORMAT` of `image`, trimmed.
    pub fn inspect_image(&self, image: &str, format: &str) -> String {
        let out = self.run(["image", "inspect", "--format", format, image]);
        out.stdout.trim().to_owned()
    }

    /// `podman image mount`: the directory holding `image`'s files. With
    /// vfs it is the store's own copy of the image's layers (nothing is
    /// mounted), so read it and leave it be; [`Podman::image_unmount`] after.
    pub fn image_mount(&self, image: &str) -> PathBuf {
        let out = self.run(["image", "mount", image]);
        PathBuf::from(out.stdout.trim())
    }

    /// `podman image unmount`, the pair of [`Podman::image_mount`].
    pub fn image_unmount(&self, image: &str) {
        self.run(["image", "unmount", image]);
    }

    /// `podman run -d` of `image` with extra run `options` (before the
    /// image) and `args` (after it: appended to the ENTRYPOINT). Returns once
    /// the container is running.
    pub fn run_detached(&self, image: &str, options: &[&str], args: &[&str]) -> Container<'_> {
        let name = self.unique("ctr");
        let container = Container {
            podman: self,
            name: name.clone(),
        };
        let mut all = vec!["run", "-d", "--name", &name, "--cgroup-parent"];
        all.push(&self.cgroup_parent);
        all.extend_from_slice(options);
        all.push(image);
        all.extend_from_slice(args);
        self.run(all);
        container
    }

    /// Starts `image` with `args`, waits until its PID 1 has exec'd and
    /// sleeps, then times `podman stop -t GRACE`. Removes the container.
    /// The container tests and the benchmark both measure stops with this.
    pub fn measure_stop(&self, image: &str, args: &[&str], grace_secs: u32) -> StopOutcome {
        let container = self.run_detached(image, &[], args);
        container.wait_settled();
        container.stop(grace_secs)
    }

    /// The temp dir holding this podman's configuration, store and state.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cgroup dirs of this podman's cgroup parent, in every hierarchy.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_dirs(&self.cgroup_parent)
    }

    /// What to remove should this process end without dropping the harness
    /// (a `panic = abort` binary), for a cleanup hook to keep.
    pub fn remains(&self) -> Remains {
        Remains {
            dir: self.dir.path().to_owned(),
            cgroup_parent: self.cgroup_parent.clone(),
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Containers first (their conmon and mounts go with them), then images.
        let _ = self.try_run(["rm", "--all", "--force", "--time", "0"]);
        let _ = self.try_run(["rmi", "--all", "--force"]);
        remove_cgroups_and_mounts(self.dir.path(), &self.cgroup_parent);
        // The TempDir field removes the directory itself after this.
    }
}

/// A harness's temp dir and cgroup parent, for a process that cannot drop
/// the harness itself: a panic hook of a `panic = abort` binary kills the
/// containers' processes (conmon, runc, PID 1s), then calls [`Remains::remove`].
#[derive(Clone, Debug)]
pub struct Remains {
    dir: PathBuf,
    cgroup_parent: String,
}

impl Remains {
    /// Removes the cgroup dirs, unmounts whatever is mounted inside the temp
    /// dir, and removes the temp dir. Nothing of podman's is asked: its
    /// processes must be gone already.
    pub fn remove(&self) {
        remove_cgroups_and_mounts(&self.dir, &self.cgroup_parent);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// runc with cgroupfs leaves the (empty) cgroup dirs behind, and a killed
/// podman its mounts (a container's /dev/shm): removes both.
fn remove_cgroups_and_mounts(dir: &Path, cgroup_parent: &str) {
    for cgroup in cgroup_dirs(cgroup_parent) {
        remove_cgroup_tree(&cgroup);
    }
    for point in mounts_inside(dir) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&point)
            .stdin(Stdio::null())
            .status();
    }
}

/// The dirs named `cgroup_parent` in every cgroup hierarchy.
fn cgroup_dirs(cgroup_parent: &str) -> Vec<PathBuf> {
    let relative = cgroup_parent.trim_start_matches('/');
    let root = Path::new("/sys/fs/cgroup");
    let mut roots = vec![root.to_path_buf()];
    if let Ok(entries) = fs::read_dir(root) {
        roots.extend(entries.filter_map(|e| Some(e.ok()?.path())));
    }
    roots
        .into_iter()
        .map(|r| r.join(relative))
        .filter(|d| d.is_dir())
        .collect()
}

/// Mount points inside `dir` (deepest first), if any survive.
fn mounts_inside(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points
}

impl Container<'_> {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn inspect(&self, format: &str) -> String {
        let out = self.podman.run(["inspect", "--format", format, &self.name]);
        out.stdout.trim().to_owned()
    }

    /// `running`, `exited`, ... as podman reports it.
    pub fn status(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    /// The container's PID 1 as the host sees it (0 once it has exited).
    pub fn host_pid(&self) -> i32 {
        let pid = self.inspect("{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| panic!("podman inspect gave pid {pid:?}"))
    }

    /// The exit code podman recorded (meaningful once exited).
    pub fn exit_code(&self) -> i32 {
        let code = self.inspect("{{.State.ExitCode}}");
        code.parse()
            .unwrap_or_else(|_| panic!("podman inspect gave exit code {code:?}"))
    }

    /// Waits until PID 1 has exec'd the image's program (it is no longer
    /// runc's init) and is asleep, so a signal sent now reaches the program
    /// itself, after it has set up its signal handling.
    pub fn wait_settled(&self) {
        let pid = self.host_pid();
        assert!(pid > 0, "container {} is not running", self.name);
        proc::wait_until(SETTLE_LIMIT, "the container's PID 1 to settle", || {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            !comm.is_empty() && !comm.starts_with("runc") && proc::state(pid) == Some('S')
        });
    }

    /// Times `podman stop -t GRACE` and reads the exit code.
    pub fn stop(&self, grace_secs: u32) -> StopOutcome {
        let start = Instant::now();
        self.podman
            .run(["stop", "--time", &grace_secs.to_string(), &self.name]);
        let elapsed = start.elapsed();
        StopOutcome {
            elapsed,
            exit_code: self.exit_code(),
        }
    }

    /// `podman kill --signal SIGNAL`.
    pub fn kill(&self, signal: &str) {
        self.podman.run(["kill", "--signal", signal, &self.name]);
    }

    /// Waits (bounded) for the container to exit and returns its exit code.
    pub fn wait_exit(&self) -> i32 {
        let mut cmd = self.podman.command();
        cmd.args(["wait", &self.name]);
        let out = run_bounded(&mut cmd, SETTLE_LIMIT)
            .unwrap_or_else(|e| panic!("podman wait {}: {e}", self.name));
        assert!(out.code == 0, "podman wait failed: {}", out.stderr.trim());
        out.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("podman wait printed {:?}", out.stdout))
    }

    /// `podman exec` of `args` in the container; panics if it fails.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["exec", self.name.as_str()];
        all.extend_from_slice(args);
        self.podman.run(all)
    }

    /// What the container wrote to stdout and stderr.
    pub fn logs(&self) -> String {
        let out = self.podman.run(["logs", &self.name]);
        out.stdout + &out.stderr
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self
            .podman
            .try_run(["rm", "--force", "--time", "0", &self.name]);
    }
}

/// Runs `cmd` with its output collected in anonymous temp files, killing it
/// if it outlives `limit`. Files, not pipes: podman's conmon outlives the
/// podman command, and a pipe it inherited would never reach end-of-file.
/// A program that cannot start is an `Err` (so a missing podman is a skip).
fn run_bounded(cmd: &mut Command, limit: Duration) -> io::Result<Output> {
    let mut stdout = tempfile::tempfile()?;
    let mut stderr = tempfile::tempfile()?;
    cmd.stdout(stdout.try_clone()?).stderr(stderr.try_clone()?);
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let args: Vec<_> = cmd.get_args().collect();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{args:?} did not finish within {limit:?}"),
            ));
        }
        sleep(Duration::from_millis(5));
    };
    Ok(Output {
        code: proc::shell_code(status),
        stdout: read_back(&mut stdout)?,
        stderr: read_back(&mut stderr)?,
    })
}

fn read_back(file: &mut File) -> io::Result<String> {
    let mut text = String::new();
    file.rewind()?;
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// The hard limits podman's default ulimits must fit under: open files, and
/// processes (no more than `pid_max`). Read from /proc/self/limits.
fn hard_limits() -> (u64, u64) {
    let limits = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = |name: &str, default: u64| {
        limits
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l[name.len()..].split_whitespace().nth(1))
            .map_or(default, |v| v.parse().unwrap_or(default))
    };
    let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    let nofile = hard("Max open files", 1_048_576);
    let nproc = hard("Max processes", pid_max).min(pid_max);
    (nofile, nproc)
}

/// Removes a cgroup dir and its child cgroups, deepest first, retrying while
/// a process that is on its way out still holds one.
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    let deadline = Instant::now() + SETTLE_LIMIT;
    while let Err(e) = fs::remove_dir(dir) {
        if e.kind() == io::ErrorKind::NotFound || Instant::now() >= deadline {
            return;
        }
        sleep(Duration::from_millis(20));
    }
}

/// `docker/Dockerfile.heartbeat` in this repository.
pub fn heartbeat_dockerfile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/Dockerfile.heartbeat")
}

/// Debian's static busybox (package busybox-static), which runs in a
/// `FROM scratch` container: `Err` says why there is none.
pub fn busybox_static() -> Result<PathBuf, String> {
    for path in ["/bin/busybox", "/usr/bin/busybox"] {
        let path = Path::new(path);
        if let Ok(bytes) = fs::read(path) {
            return if crate::elf::is_static_elf(&bytes) {
                Ok(path.to_path_buf())
            } else {
                Err(format!(
                    "{} is dynamically linked: install busybox-static",
                    path.display()
                ))
            };
        }
    }
    Err("no busybox: install busybox-static (make deps-containers)".to_owned())
}

fn copy_into(file: &Path, dir: &Path, name: &str) {
    fs::copy(file, dir.join(name))
        .unwrap_or_else(|e| panic!("copy {} into {}: {e}", file.display(), dir.display()));
}

fn write_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
