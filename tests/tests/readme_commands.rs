//! What a new user runs first, as the README gives it: `make demo` (here its
//! script, on the binaries under test) plays the whole story and ends with
//! the container's stop giving 143; `make rootfs` (its script) makes the
//! `FROM scratch` root holding exactly the heartbeat.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hermes_e2e::run::{Output, run};
use hermes_e2e::{bins, proc, program, tree};

/// The demo takes about 10 s on 2 cores (a 2 s idle check among its steps).
const DEMO_LIMIT: Duration = Duration::from_secs(120);
const SCRIPT_LIMIT: Duration = Duration::from_secs(20);

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The demo's temp dirs (`mktemp -d /tmp/hermes-demo.XXXXXX`) that exist now.
fn demo_dirs() -> BTreeSet<PathBuf> {
    fs::read_dir("/tmp")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("hermes-demo."))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Live processes of process group `pgid`, but `pgid` itself.
fn group_members(pgid: i32) -> Vec<i32> {
    let pids = fs::read_dir("/proc").map(|d| {
        d.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .collect::<Vec<_>>()
    });
    pids.unwrap_or_default()
        .into_iter()
        .filter(|&pid| pid != pgid && proc::process_group(pid) == Some(pgid))
        .filter(|&pid| proc::state(pid).is_some_and(|s| s != 'Z'))
        .collect()
}

/// `scripts/demo` as the leader of its own process group, its output in
/// temp files. Its group (bash, `unshare`, the `nsenter`'d CMD) is
/// SIGKILLed before the leader is reaped, on every path: a timeout, a
/// failed assertion, or an early exit that left members behind. Killing
/// `unshare` takes the namespace with it (`--kill-child` SIGKILLs its PID 1,
/// and every process of the namespace dies with PID 1). Should the test
/// fail, the demo temp dirs that appeared meanwhile are removed.
struct Demo {
    child: Child,
    reaped: bool,
    dirs_before: BTreeSet<PathBuf>,
    stdout: File,
    stderr: File,
}

impl Demo {
    fn start() -> Demo {
        let dirs_before = demo_dirs();
        let stdout = tempfile::tempfile().expect("temp file");
        let stderr = tempfile::tempfile().expect("temp file");
        let child = Command::new(repo_file("scripts/demo"))
            .env("HERMES_BIN_DIR", bins::bin_dir())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("dup"))
            .stderr(stderr.try_clone().expect("dup"))
            .spawn()
            .expect("spawn scripts/demo");
        Demo {
            child,
            reaped: false,
            dirs_before,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// True once the leader has exited; it stays unreaped (a zombie), so
    /// its pid, the group's id, cannot be reused yet.
    fn exited(&self) -> bool {
        // SAFETY: waitid on our own child with a zeroed siginfo; WNOWAIT
        // leaves it to be reaped later.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let r = libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            r == 0 && info.si_pid() == self.pid()
        }
    }

    /// SIGKILLs the whole group, reaps the leader, and waits (bounded)
    /// until no member is left.
    fn kill_group_and_reap(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: kill with a negative pid signals the process group.
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
        let _ = self.child.wait();
        self.reaped = true;
        let pgid = self.pid();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !group_members(pgid).is_empty() && Instant::now() < deadline {
            sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the demo to end within `limit` (panics after killing its
    /// group if it does not), and returns its output. Panics, too, when
    /// processes of its group outlived it.
    fn wait(&mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        while !self.exited() {
            if Instant::now() >= deadline {
                self.kill_group_and_reap();
                panic!(
                    "scripts/demo did not finish within {limit:?}:\n{:?}",
                    self.output(-1)
                );
            }
            sleep(Duration::from_millis(20));
        }
        let left = group_members(self.pid());
        // SAFETY: kill with a negative pid signals the process group.
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
        let status = self.child.wait().expect("reap scripts/demo");
        self.reaped = true;
        let out = self.output(proc::shell_code(status));
        assert!(
            left.is_empty(),
            "processes of the demo outlived it: {left:?}\n{out:?}"
        );
        out
    }

    fn output(&mut self, code: i32) -> Output {
        let read = |file: &mut File| {
            let mut bytes = Vec::new();
            let _ = file.rewind().and_then(|()| file.read_to_end(&mut bytes));
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Output {
            code,
            stdout: read(&mut self.stdout),
            stderr: read(&mut self.stderr),
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.kill_group_and_reap();
        if std::thread::panicking() {
            for dir in demo_dirs().difference(&self.dirs_before) {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

/// The demo tests run one at a time: each checks that no demo temp dir
/// outlives it, and two demos at once would also share 2 cores.
static ONE_DEMO_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn demo_plays_the_whole_story_and_the_container_stop_exits_143() {
    let _one = ONE_DEMO_AT_A_TIME.lock();
    let mut demo = Demo::start();
    let out = demo.wait(DEMO_LIMIT);
    assert_eq!(out.code, 0, "{out:?}");
    let heartbeat = bins::heartbeat();
    for expected in [
        // The CMD became the heartbeat, by absolute path, with no PATH.
        format!("The CMD's /proc/PID/exe is now: {}", heartbeat.display()),
        "its environment holds 0 variables".to_owned(),
        // status --all before the CMD ran, after, and after stop --all.
        // The boot pass: one slot started, one left down, as recorded.
        "| reconcile: profile=default prior_state=None action=registered".to_owned(),
        "| reconcile: profile=coder prior_state=running action=started".to_owned(),
        "| reconcile: profile=writer prior_state=stopped action=registered".to_owned(),
        "| default  down (exit 0)".to_owned(),
        "| coder  up (pid ".to_owned(),
        "| default  up (pid ".to_owned(),
        "| writer  down (exit 0)".to_owned(),
        "| ✓ Registered and started gateway-reader under s6".to_owned(),
        "| ✓ 4 profile gateway(s) healthy under s6".to_owned(),
        "| ✓ Restarted gateway-coder under s6".to_owned(),
        "| ✓ Stopped 4 profile gateway(s) under s6".to_owned(),
        "| coder  down (exit 143)".to_owned(),
        "| default  down (exit 143)".to_owned(),
        "| reader  down (exit 143)".to_owned(),
        "\"desired_state\":\"stopped\"".to_owned(),
        "The CMD said: hermes-heartbeat: SIGTERM, exiting 143".to_owned(),
        "exit code 143, ".to_owned(),
    ] {
        assert!(
            out.stdout.contains(&expected),
            "no {expected:?} in\n{out:?}"
        );
    }
    // Its listing of the container's processes: one stand-in per running
    // gateway (default, coder), one CMD (the heartbeat), no gatewayctl.
    let listing: Vec<&str> = out
        .stdout
        .split("no gatewayctl left anywhere:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no process listing in\n{out:?}"))
        .lines()
        .take_while(|l| l.starts_with("   |"))
        .collect();
    let count = |what: &str| listing.iter().filter(|l| l.contains(what)).count();
    // A line is "   | PID  PROGRAM ARGS...": the program's own name.
    let program = |l: &&str| {
        let word = l.split_whitespace().nth(2).unwrap_or("");
        word.rsplit('/').next().unwrap_or(word).to_owned()
    };
    let gatewayctls = listing
        .iter()
        .filter(|l| program(l) == "gatewayctl")
        .count();
    assert_eq!(
        (count("/dummy-gateway -q"), count("<- the CMD"), gatewayctls),
        (2, 1, 0),
        "{listing:#?}"
    );
    assert!(
        listing
            .iter()
            .any(|l| l.ends_with("hermes-heartbeat    <- the CMD")),
        "{listing:#?}"
    );
    // It removes its temp dir ("/tmp/hermes-demo.XXXXXX is removed.").
    let tmp = out
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("/tmp/hermes-demo."))
        .map(|w| w.trim_end_matches('.'))
        .unwrap_or_else(|| panic!("the demo names no temp dir:\n{out:?}"));
    assert!(!Path::new(tmp).exists(), "{tmp} is left behind");
}

#[test]
fn demo_stopped_midway_by_sigterm_exits_130_and_leaves_nothing_behind() {
    // A user's Ctrl-C, or a CI job's timeout: the demo stops with 130, and
    // its container, its processes and its temp dir go with it.
    let _one = ONE_DEMO_AT_A_TIME.lock();
    let mut demo = Demo::start();
    let deadline = Instant::now() + DEMO_LIMIT;
    while !demo.output(0).stdout.contains("\n== 3. ") {
        assert!(
            !demo.exited() && Instant::now() < deadline,
            "the demo never reached its step 3: {:?}",
            demo.output(-1)
        );
        sleep(Duration::from_millis(20));
    }
    // SAFETY: kill on the demo's own pid (the leader, unreaped).
    unsafe {
        libc::kill(demo.pid(), libc::SIGTERM);
    }
    let out = demo.wait(DEMO_LIMIT);
    assert_eq!(out.code, 130, "{out:?}");
    assert_eq!(
        demo_dirs(),
        demo.dirs_before,
        "a demo temp dir is left behind"
    );
}

#[test]
fn rootfs_holds_exactly_the_static_heartbeat() {
    let dir = tempfile::Builder::new()
        .prefix("hermes-rootfs-test-")
        .tempdir()
        .expect("tempdir");
    let root = dir.path().join("root");
    build_rootfs(&repo_file("docker/build-rootfs"), Some(&root));
    assert_holds_exactly_the_heartbeat(&root);
}

#[test]
fn rootfs_at_the_default_path_is_rebuilt_from_scratch() {
    // The script in a copy of the repository's layout, so its default
    // (<repo>/target/rootfs) is a temp dir holding a stale file.
    let repo = tempfile::Builder::new()
        .prefix("hermes-rootfs-repo-")
        .tempdir()
        .expect("tempdir");
    let script = repo.path().join("docker/build-rootfs");
    fs::create_dir_all(script.parent().expect("parent")).expect("mkdir");
    for name in ["build-rootfs", "podman-ulimits"] {
        program::copy(
            &repo_file(&format!("docker/{name}")),
            &repo.path().join("docker").join(name),
        );
    }
    let root = repo.path().join("target/rootfs");
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("etc/stale"), "left from an earlier run").expect("write");
    build_rootfs(&script, None);
    assert_holds_exactly_the_heartbeat(&root);
}

/// Runs the build-rootfs `script` on the static binaries, with ROOTFS=`rootfs`
/// (unset for `None`: the script's default path), and expects success.
fn build_rootfs(script: &Path, rootfs: Option<&Path>) {
    let mut cmd = Command::new(script);
    cmd.env("HERMES_BIN_DIR", bins::bin_dir())
        .env_remove("ROOTFS");
    if let Some(rootfs) = rootfs {
        cmd.env("ROOTFS", rootfs);
    }
    let out = run(&mut cmd, SCRIPT_LIMIT);
    assert_eq!(out.code, 0, "{out:?}");
}

/// `root` holds what `COPY` makes of Dockerfile.heartbeat (see
/// [`tree::assert_holds_only_the_heartbeat`]), is itself mode 0755, and the
/// heartbeat runs there, as the script's own comment shows
/// (`unshare --root`).
fn assert_holds_exactly_the_heartbeat(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    tree::assert_holds_only_the_heartbeat(root);
    let mode = fs::metadata(root)
        .expect("stat the root")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755, "the root's mode");
    let out = run(
        Command::new("unshare")
            .args(["--pid", "--fork", "--root"])
            .arg(root)
            .args(["/usr/local/bin/hermes-heartbeat", "--version"]),
        SCRIPT_LIMIT,
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (
            0,
            format!("hermes-heartbeat {}\n", env!("CARGO_PKG_VERSION")).as_str()
        ),
        "{out:?}"
    );
}
