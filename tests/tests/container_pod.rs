//! The heartbeat image (`docker/Dockerfile.heartbeat`) as the infra container
//! of a podman pod that shares one PID namespace (`--share pid,...`) with a
//! worker container (`FROM scratch` + busybox-static): the heartbeat is PID 1
//! of the whole pod, it reaps the orphans the worker leaves, and `podman pod
//! stop` ends it on the SIGTERM with its own exit code. Each test has its own
//! private podman (the harness of `container.rs`), and removes its pod and
//! containers even when it fails. Where podman cannot run at all, each test
//! prints why and skips; in CI or with HERMES_REQUIRE_PODMAN=1 it fails.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hermes_e2e::podman::{self, Podman};
use hermes_e2e::proc;

/// `podman pod stop -t 30`: podman would SIGKILL only after 30 s.
const GRACE_SECS: u32 = 30;
/// A stop on the SIGTERM itself, not on the SIGKILL after the grace: a
/// generous bound (a behaviour, not a performance figure).
const STOPPED_ON_SIGTERM: Duration = Duration::from_secs(10);
/// How long the pod's processes may take to start, settle or go.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);
/// The namespaces the pod shares. PID is the point; the others are what a
/// Kubernetes pod shares. No network is made (`--network none`).
const SHARE: &str = "pid,ipc,uts,net";
/// `/proc/PID/comm` of the heartbeat (cut to 15 bytes by the kernel).
const HEARTBEAT_COMM: &str = "hermes-heartbea";
/// Where `docker/Dockerfile.heartbeat` puts the heartbeat.
const HEARTBEAT_IN_IMAGE: &str = "/usr/local/bin/hermes-heartbeat";
/// The last argument of each orphan the worker leaves, to tell them apart.
const ORPHAN_MARK: &str = "hermes-orphan";
/// The worker's orphans: each a shell that waits for `/release`, then exits.
const ORPHANS: usize = 3;

/// A pod in a private podman, with the heartbeat image as its infra
/// container. Dropping it removes the pod and every container in it (the
/// harness removes the images, cgroups and its temp dir after).
struct Pod<'p> {
    podman: &'p Podman,
    name: String,
}

impl<'p> Pod<'p> {
    /// `podman pod create` with `infra_image` as infra, sharing [`SHARE`],
    /// under the harness's cgroup parent; then `podman pod start`. No
    /// `--infra-command`: podman then runs the image's own ENTRYPOINT.
    fn start(podman: &'p Podman, infra_image: &str) -> Pod<'p> {
        // The guard exists before the pod, so a pod half made is removed too.
        let pod = Pod {
            podman,
            name: "hermes-e2e-pod".to_owned(),
        };
        podman.run([
            "pod",
            "create",
            "--name",
            &pod.name,
            "--infra-name",
            &pod.infra(),
            "--infra-image",
            infra_image,
            "--share",
            SHARE,
            "--network",
            "none",
            "--cgroup-parent",
            &cgroup_parent(podman),
        ]);
        podman.run(["pod", "start", &pod.name]);
        pod
    }

    /// The infra container's name.
    fn infra(&self) -> String {
        format!("{}-infra", self.name)
    }

    /// The worker container's name.
    fn worker(&self) -> String {
        format!("{}-worker", self.name)
    }

    /// Starts the worker in the pod: `/busybox sh -c SCRIPT` from `image`
    /// (which holds busybox-static as `/busybox`).
    fn run_worker(&self, image: &str, script: &str) {
        self.podman.run([
            "run",
            "-d",
            "--pod",
            &self.name,
            "--name",
            &self.worker(),
            "--entrypoint",
            "/busybox",
            image,
            "sh",
            "-c",
            script,
        ]);
    }

    /// `podman inspect --format FORMAT CONTAINER`, trimmed.
    fn inspect(&self, container: &str, format: &str) -> String {
        let out = self.podman.run(["inspect", "--format", format, container]);
        out.stdout.trim().to_owned()
    }

    /// The host pid of `container`'s process (0 once it has exited).
    fn host_pid(&self, container: &str) -> i32 {
        let pid = self.inspect(container, "{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| panic!("podman inspect gave {container} pid {pid:?}"))
    }

    /// The exit code podman recorded for `container`.
    fn exit_code(&self, container: &str) -> i32 {
        let code = self.inspect(container, "{{.State.ExitCode}}");
        code.parse()
            .unwrap_or_else(|_| panic!("podman inspect gave {container} exit code {code:?}"))
    }

    /// Waits until the infra container's process is the heartbeat, asleep,
    /// and returns its host pid.
    fn wait_heartbeat_settled(&self) -> i32 {
        let pid = self.host_pid(&self.infra());
        assert!(pid > 0, "the infra container is not running");
        proc::wait_until(SETTLE_LIMIT, "the infra heartbeat to settle", || {
            comm(pid) == HEARTBEAT_COMM && proc::state(pid) == Some('S')
        });
        pid
    }

    /// Every process of the pod's PID namespace as the worker's `/proc`
    /// shows it, read by one `podman exec` in the worker.
    fn worker_view(&self) -> Vec<Seen> {
        // No PATH lookup: the image holds only /busybox.
        let script = "for d in /proc/[0-9]*; do \
                        s=$(/busybox cat $d/stat 2>/dev/null) || continue; \
                        c=$(/busybox tr '\\0' ' ' < $d/cmdline 2>/dev/null); \
                        echo \"$s|$c\"; \
                      done";
        let out = self
            .podman
            .run(["exec", &self.worker(), "/busybox", "sh", "-c", script]);
        out.stdout.lines().filter_map(Seen::parse).collect()
    }

    /// Times `podman pod stop -t GRACE`.
    fn stop(&self) -> Duration {
        let start = Instant::now();
        self.podman
            .run(["pod", "stop", "--time", &GRACE_SECS.to_string(), &self.name]);
        start.elapsed()
    }
}

impl Drop for Pod<'_> {
    fn drop(&mut self) {
        let mut cmd = self.podman.command();
        cmd.args(["pod", "rm", "--force", "--time", "0", &self.name]);
        run_quietly(&mut cmd, Duration::from_secs(60));
    }
}

/// The harness's cgroup parent: `/` and the name of its temp dir, as
/// `Podman::start` names it. Under it, the pod's cgroups go with the harness.
fn cgroup_parent(podman: &Podman) -> String {
    let name = podman
        .dir()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("the harness's temp dir has a name");
    format!("/{name}")
}

/// Runs `cmd` to its end with no output kept, killing it past `limit`:
/// for cleanup in `drop`, which must not panic.
fn run_quietly(cmd: &mut Command, limit: Duration) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return;
    };
    let deadline = Instant::now() + limit;
    while let Ok(None) = child.try_wait() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        sleep(Duration::from_millis(10));
    }
}

/// One process as the worker's `/proc` shows it.
#[derive(Debug)]
struct Seen {
    pid: i32,
    comm: String,
    state: char,
    ppid: i32,
    cmdline: String,
}

impl Seen {
    /// Parses `<contents of /proc/PID/stat>|<cmdline, NULs as spaces>`.
    fn parse(line: &str) -> Option<Seen> {
        let (stat, cmdline) = line.split_once('|')?;
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let mut rest = stat.get(close + 1..)?.split_whitespace();
        Some(Seen {
            pid: stat.get(..open)?.trim().parse().ok()?,
            comm: stat.get(open + 1..close)?.to_owned(),
            state: rest.next()?.chars().next()?,
            ppid: rest.next()?.parse().ok()?,
            cmdline: cmdline.trim_end().to_owned(),
        })
    }

    fn is_orphan(&self) -> bool {
        self.cmdline.ends_with(&format!(" {ORPHAN_MARK}"))
    }
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// `/proc/PID/ns/pid` of a host pid.
fn pid_ns(pid: i32) -> std::path::PathBuf {
    fs::read_link(format!("/proc/{pid}/ns/pid"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/pid: {e}"))
}

/// The worker's script: leave [`ORPHANS`] orphans (each started by a
/// subshell that exits at once, so it is re-parented to the namespace's PID
/// 1), each waiting for `/release` and then exiting; then sleep.
fn orphaning_script() -> String {
    format!(
        "i=0; while [ $i -lt {ORPHANS} ]; do \
           (/busybox sh -c 'while [ ! -e /release ]; do /busybox sleep 0.1; done' {ORPHAN_MARK} \
              </dev/null >/dev/null 2>&1 &); \
           i=$((i + 1)); \
         done; \
         exec /busybox sleep 1000"
    )
}

/// A private podman's heartbeat image and busybox image, and a pod whose
/// infra is the heartbeat, with a worker running `script`.
fn pod_with_worker<'p>(podman: &'p Podman, script: &str) -> Pod<'p> {
    let heartbeat = podman.heartbeat_image();
    let busybox = podman.sleep_infinity_image();
    let pod = Pod::start(podman, &heartbeat);
    pod.wait_heartbeat_settled();
    pod.run_worker(&busybox, script);
    pod
}

/// Says (uncaptured, so it shows in `cargo test` output) what a test saw.
fn report(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// From the worker, PID 1 is the heartbeat: its `/proc/1` names it, and it
/// is the infra container's process itself (same PID namespace as the
/// worker, pid 1 in it).
#[test]
fn pid_1_of_the_pod_is_the_heartbeat() {
    let Some(podman) = podman::podman_or_skip("pid_1_of_the_pod_is_the_heartbeat") else {
        return;
    };
    let pod = pod_with_worker(&podman, "exec /busybox sleep 1000");
    let infra = pod.wait_heartbeat_settled();
    let worker = pod.host_pid(&pod.worker());
    assert!(worker > 0, "the worker is not running");

    let mut view = Vec::new();
    proc::wait_until(
        SETTLE_LIMIT,
        "the worker's sleep to show in its /proc",
        || {
            view = pod.worker_view();
            view.iter().any(|p| p.cmdline == "/busybox sleep 1000")
        },
    );
    let pid1 = view
        .iter()
        .find(|p| p.pid == 1)
        .unwrap_or_else(|| panic!("the worker sees no PID 1: {view:#?}"));
    assert_eq!(pid1.comm, HEARTBEAT_COMM, "/proc/1/comm in the worker");
    assert_eq!(
        pid1.cmdline, HEARTBEAT_IN_IMAGE,
        "/proc/1/cmdline in the worker"
    );
    assert_eq!(pid1.state, 'S', "PID 1 is not asleep: {pid1:?}");
    let sleeper = view
        .iter()
        .find(|p| p.cmdline == "/busybox sleep 1000")
        .unwrap_or_else(|| panic!("the worker's sleep is not in its own view: {view:#?}"));
    assert_ne!(sleeper.pid, 1, "the worker's process is PID 1: {view:#?}");

    // The same from the host: one PID namespace, whose pid 1 is the infra's.
    assert_eq!(pid_ns(worker), pid_ns(infra), "the worker's PID namespace");
    let nspid = proc::status_field(infra, "NSpid").unwrap_or_default();
    assert_eq!(
        nspid.split_whitespace().last(),
        Some("1"),
        "the infra heartbeat's NSpid: {nspid:?}"
    );
    let exe = fs::read_link(format!("/proc/{infra}/exe")).expect("the infra's /proc/PID/exe");
    assert!(
        exe.ends_with(
            Path::new(HEARTBEAT_IN_IMAGE)
                .strip_prefix("/")
                .expect("absolute")
        ),
        "the infra runs {}",
        exe.display()
    );
}

/// The worker leaves orphans: PID 1 (the heartbeat) adopts them, and once
/// they exit, reaps them: no zombie stays in the worker's view of `/proc`.
#[test]
fn orphans_of_the_worker_are_reaped_by_the_heartbeat() {
    let Some(podman) = podman::podman_or_skip("orphans_of_the_worker_are_reaped_by_the_heartbeat")
    else {
        return;
    };
    let pod = pod_with_worker(&podman, &orphaning_script());
    let infra = pod.wait_heartbeat_settled();

    let mut view = Vec::new();
    proc::wait_until(
        SETTLE_LIMIT,
        "the worker's orphans to be adopted by PID 1",
        || {
            view = pod.worker_view();
            view.iter().filter(|p| p.is_orphan() && p.ppid == 1).count() == ORPHANS
        },
    );
    let adopted = proc::children(infra);
    assert_eq!(
        adopted.len(),
        ORPHANS,
        "the heartbeat's children on the host: {adopted:?}"
    );

    pod.podman
        .run(["exec", &pod.worker(), "/busybox", "touch", "/release"]);
    proc::wait_until(
        SETTLE_LIMIT,
        "the orphans to exit and be reaped, with no zombie left",
        || {
            view = pod.worker_view();
            !view.iter().any(|p| p.is_orphan() || p.state == 'Z')
        },
    );
    assert!(
        proc::zombie_children(infra).is_empty(),
        "the heartbeat left zombies: {:?}",
        proc::zombie_children(infra)
    );
    assert!(
        view.iter().any(|p| p.pid == 1 && p.comm == HEARTBEAT_COMM),
        "PID 1 must outlive the orphans: {view:#?}"
    );
}

/// `podman pod stop` ends the heartbeat on the SIGTERM (well before the
/// grace and its SIGKILL), and the infra container exits 143 with the
/// heartbeat's line.
#[test]
fn podman_pod_stop_ends_the_heartbeat_at_once_with_143() {
    let test = "podman_pod_stop_ends_the_heartbeat_at_once_with_143";
    let Some(podman) = podman::podman_or_skip(test) else {
        return;
    };
    let pod = pod_with_worker(&podman, "exec /busybox sleep 1000");
    let infra = pod.wait_heartbeat_settled();
    let worker = pod.host_pid(&pod.worker());
    proc::wait_until(SETTLE_LIMIT, "the worker's sleep to settle", || {
        comm(worker) == "busybox" && proc::state(worker) == Some('S')
    });

    let took = pod.stop();
    let infra_code = pod.exit_code(&pod.infra());
    let worker_code = pod.exit_code(&pod.worker());
    // podman stops the infra together with the worker, and PID 1's exit
    // kills the rest of the namespace: the worker's code is not asserted.
    report(&format!(
        "{test}: podman pod stop -t {GRACE_SECS} took {took:?}; \
         infra exit code {infra_code}, worker exit code {worker_code}"
    ));
    assert_eq!(infra_code, 143, "the infra container's exit code");
    assert!(
        took < STOPPED_ON_SIGTERM,
        "podman pod stop took {took:?}: something waited for the SIGKILL"
    );
    assert!(
        matches!(proc::state(infra), None | Some('Z')),
        "the heartbeat ({infra}) still runs after the stop"
    );
    let logs = podman.run(["logs", &pod.infra()]);
    let logs = logs.stdout + &logs.stderr;
    assert!(
        logs.contains("hermes-heartbeat: SIGTERM, exiting 143"),
        "the infra container's log: {logs:?}"
    );
}

/// Host processes whose command line names `dir` (podman, conmon, runc,
/// all started with the harness's private paths).
fn processes_naming(dir: &Path) -> Vec<i32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .filter(|&pid| proc::state(pid).is_some_and(|s| s != 'Z'))
        .collect()
}

/// Dropping the pod removes it and both its containers (the processes go,
/// the store lists none); dropping the harness then leaves no cgroup dir,
/// process or temp dir.
#[test]
fn dropping_the_pod_and_the_harness_leaves_nothing() {
    let test = "dropping_the_pod_and_the_harness_leaves_nothing";
    let Some(podman) = podman::podman_or_skip(test) else {
        return;
    };
    let pod = pod_with_worker(&podman, &orphaning_script());
    let infra = pod.wait_heartbeat_settled();
    let worker = pod.host_pid(&pod.worker());
    let cgroups = podman.cgroup_dirs();
    assert!(
        !cgroups.is_empty(),
        "the running pod has no cgroup dir under the harness's parent"
    );
    drop(pod);
    for pid in [infra, worker] {
        assert!(
            matches!(proc::state(pid), None | Some('Z')),
            "{pid} of the removed pod still runs"
        );
    }
    let pods = podman.run(["pod", "ps", "--quiet"]);
    assert_eq!(pods.stdout.trim(), "", "pods left");
    let containers = podman.run(["ps", "--all", "--quiet"]);
    assert_eq!(containers.stdout.trim(), "", "containers left");

    let dir = podman.dir().to_path_buf();
    drop(podman);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    let left: Vec<_> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroup dirs left behind: {left:?}");
    assert_eq!(processes_naming(&dir), Vec::<i32>::new(), "processes left");
}
