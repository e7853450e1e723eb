//! The heartbeat image (`docker/Dockerfile.heartbeat`, FROM scratch) in a real
//! container runtime: podman with runc. Each test has its own private podman
//! and image, so tests run in parallel and clean up everything they made.
//! Where podman cannot run at all, each test prints why and skips; in CI it
//! fails instead.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use hermes_e2e::podman::{self, Container, Podman};
use hermes_e2e::run::{Output, run};
use hermes_e2e::stand_ins::StandIns;
use hermes_e2e::{bins, proc, s6, tree};

/// `podman stop -t 10`: the grace after which podman would SIGKILL.
const GRACE_SECS: u32 = 10;
/// "Well before the grace": an exit on the SIGTERM itself, not on the
/// SIGKILL 10 s later (a behaviour, not a performance figure).
const WELL_BEFORE_GRACE: Duration = Duration::from_secs(5);

/// Builds the heartbeat image and starts it with `args`, settled.
fn start_heartbeat<'p>(podman: &'p Podman, options: &[&str], args: &[&str]) -> Container<'p> {
    let image = podman.heartbeat_image();
    let container = podman.run_detached(&image, options, args);
    container.wait_settled();
    container
}

#[test]
fn heartbeat_container_starts_and_stays_running() {
    let Some(podman) = podman::podman_or_skip("heartbeat_container_starts_and_stays_running")
    else {
        return;
    };
    let container = start_heartbeat(&podman, &[], &[]);
    let pid1 = container.host_pid();
    sleep(Duration::from_secs(1));
    assert_eq!(container.status(), "running");
    assert_eq!(container.host_pid(), pid1, "PID 1 was replaced");
    let comm = std::fs::read_to_string(format!("/proc/{pid1}/comm")).unwrap_or_default();
    assert_eq!(
        comm.trim_end(),
        "hermes-heartbea",
        "PID 1 is not the heartbeat"
    );
    assert_eq!(proc::state(pid1), Some('S'), "PID 1 is not asleep");
}

/// The ids `pid` has in its own user namespace, from its /proc status
/// `field` (`Uid` or `Gid`: real, effective, saved and filesystem ids as
/// the host sees them) mapped back through its `uid_map` or `gid_map`. As
/// podman runs here (root, no user namespace) the map is the identity.
fn ids_inside(pid: i32, field: &str) -> Vec<u64> {
    let map_file = format!("/proc/{pid}/{}_map", field.to_lowercase());
    let map = fs::read_to_string(&map_file).unwrap_or_else(|e| panic!("{map_file}: {e}"));
    let ranges: Vec<Vec<u64>> = map
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|n| n.parse().expect("a number"))
                .collect()
        })
        .collect();
    let ids = proc::status_field(pid, field).unwrap_or_else(|| panic!("no {field} of {pid}"));
    ids.split_whitespace()
        .map(|id| {
            let id: u64 = id.parse().expect("an id");
            ranges
                .iter()
                .find_map(|r| (r[1]..r[1] + r[2]).contains(&id).then(|| r[0] + id - r[1]))
                .unwrap_or_else(|| panic!("{field} {id} of {pid} is not in {map_file}: {map}"))
        })
        .collect()
}

/// The image holds what its one `COPY` makes of the static heartbeat, and
/// nothing more (no shell, no second file), owned by root so that its
/// user cannot change it; and its PID 1 runs as nobody (`USER 65534:65534`),
/// not as root.
#[test]
fn heartbeat_image_holds_only_the_binary_and_runs_it_as_nobody() {
    let test = "heartbeat_image_holds_only_the_binary_and_runs_it_as_nobody";
    let Some(podman) = podman::podman_or_skip(test) else {
        return;
    };
    let image = podman.heartbeat_image();
    assert_eq!(
        podman.inspect_image(&image, "{{.Config.User}}"),
        "65534:65534",
        "the image's user"
    );
    // The image's root itself is not compared: its layers hold no entry
    // for `/`, so its mode is the store's (vfs makes it 0555).
    let root = podman.image_mount(&image);
    let holds = std::panic::catch_unwind(|| tree::assert_holds_only_the_heartbeat(&root));
    podman.image_unmount(&image);
    if let Err(failed) = holds {
        std::panic::resume_unwind(failed);
    }

    let container = podman.run_detached(&image, &[], &[]);
    container.wait_settled();
    let pid1 = container.host_pid();
    assert_eq!(ids_inside(pid1, "Uid"), [65534; 4], "PID 1's uids");
    assert_eq!(ids_inside(pid1, "Gid"), [65534; 4], "PID 1's gids");
}

#[test]
fn podman_stop_ends_it_with_143_well_before_the_grace() {
    let Some(podman) = podman::podman_or_skip("podman_stop_ends_it_with_143_well_before_the_grace")
    else {
        return;
    };
    let image = podman.heartbeat_image();
    let stop = podman.measure_stop(&image, &[], GRACE_SECS);
    assert_eq!(stop.exit_code, 143, "exit code after podman stop");
    assert!(
        stop.elapsed < WELL_BEFORE_GRACE,
        "podman stop took {:?}: the heartbeat waited for the SIGKILL",
        stop.elapsed
    );
}

#[test]
fn exit_line_names_the_signal_and_the_code() {
    let Some(podman) = podman::podman_or_skip("exit_line_names_the_signal_and_the_code") else {
        return;
    };
    let container = start_heartbeat(&podman, &[], &[]);
    container.stop(GRACE_SECS);
    let logs = container.logs();
    assert!(
        logs.contains("hermes-heartbeat: SIGTERM, exiting 143"),
        "container log: {logs:?}"
    );
}

#[test]
fn exit_zero_flag_makes_podman_stop_give_0() {
    let Some(podman) = podman::podman_or_skip("exit_zero_flag_makes_podman_stop_give_0") else {
        return;
    };
    let container = start_heartbeat(&podman, &[], &["-z"]);
    let stop = container.stop(GRACE_SECS);
    assert_eq!(stop.exit_code, 0, "exit code after podman stop with -z");
    assert!(
        stop.elapsed < WELL_BEFORE_GRACE,
        "podman stop took {:?}",
        stop.elapsed
    );
}

#[test]
fn podman_kill_signal_int_gives_130() {
    let Some(podman) = podman::podman_or_skip("podman_kill_signal_int_gives_130") else {
        return;
    };
    let container = start_heartbeat(&podman, &[], &[]);
    container.kill("INT");
    assert_eq!(container.wait_exit(), 130, "exit code after SIGINT");
}

/// The image has no shell, so busybox-static is bind-mounted (read-only) for
/// `podman exec`: the image under test stays exactly the one users build.
/// The exec'd shell backgrounds short sleeps and exits; its orphans are
/// adopted by the container's PID 1. They then end on their own, and must
/// not stay behind as zombies.
#[test]
fn orphans_left_by_podman_exec_are_reaped() {
    let Some(podman) = podman::podman_or_skip("orphans_left_by_podman_exec_are_reaped") else {
        return;
    };
    let busybox = podman::busybox_static().unwrap_or_else(|e| panic!("{e}"));
    let mount = format!("{}:/busybox:ro", busybox.display());
    let container = start_heartbeat(&podman, &["--volume", &mount], &[]);
    let pid1 = container.host_pid();

    container.exec(&[
        "/busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do /busybox sleep 2 </dev/null >/dev/null 2>&1 & done; exit 0",
    ]);
    let mut orphans = Vec::new();
    proc::wait_until(
        Duration::from_secs(10),
        "the three orphaned sleeps to be adopted by PID 1",
        || {
            orphans = proc::children(pid1);
            orphans.len() == 3
        },
    );
    // The short sleeps now end on their own, as orphans of PID 1.
    proc::wait_until(
        Duration::from_secs(10),
        "PID 1 to reap its exited orphans",
        || proc::children(pid1).is_empty(),
    );
    assert!(proc::zombie_children(pid1).is_empty());
    assert_eq!(
        container.status(),
        "running",
        "PID 1 must outlive its orphans"
    );
}

/// Host processes whose command line names `dir` (podman, conmon, runc and
/// the like, all started with this harness's private paths).
fn processes_naming(dir: &std::path::Path) -> Vec<i32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .filter(|&pid| proc::state(pid).is_some_and(|s| s != 'Z'))
        .collect()
}

/// Where root's podman writes system-wide by default: the default store
/// and containers/image's blob info cache (`cache/blob-info-cache-v1.boltdb`).
const SYSTEM_STATE: &str = "/var/lib/containers";

/// Every entry under [`SYSTEM_STATE`] (the dir itself included) with its
/// size and modification time; empty when it does not exist. Two equal
/// snapshots: nothing there was created, removed or written in between.
fn system_state() -> Vec<(PathBuf, u64, i64, i64)> {
    let mut found = Vec::new();
    let mut todo = vec![PathBuf::from(SYSTEM_STATE)];
    while let Some(path) = todo.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        }
        found.push((path, meta.len(), meta.mtime(), meta.mtime_nsec()));
    }
    found.sort();
    found
}

/// The files a harness's image copies wrote under `/var/lib`, as captured
/// by its overlays (paths relative to `/var/lib`).
fn captured_var_lib_writes(layers: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo: Vec<PathBuf> = fs::read_dir(layers)
        .map(|d| d.flatten().map(|e| e.path().join("upper")).collect())
        .unwrap_or_default();
    let roots = todo.clone();
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            if let Ok(entries) = fs::read_dir(&path) {
                todo.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Some(root) = roots.iter().find(|r| path.starts_with(r)) {
            found.push(path.strip_prefix(root).expect("inside").to_path_buf());
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn dropping_the_harness_leaves_no_process_cgroup_mount_or_temp_dir() {
    let Some(podman) =
        podman::podman_or_skip("dropping_the_harness_leaves_no_process_cgroup_mount_or_temp_dir")
    else {
        return;
    };
    let system_before = system_state();
    let container = start_heartbeat(&podman, &[], &[]);
    // The build did write podman's blob info cache, into the harness's
    // overlay: the check on /var/lib/containers below is not vacuous.
    let captured = captured_var_lib_writes(&podman.var_lib_layers());
    assert!(
        captured.contains(&PathBuf::from("containers/cache/blob-info-cache-v1.boltdb")),
        "the build wrote no blob info cache into the harness's /var/lib overlay: {captured:?}"
    );
    let pid1 = container.host_pid();
    let dir = podman.dir().to_path_buf();
    let cgroups = podman.cgroup_dirs();
    assert!(
        !cgroups.is_empty(),
        "a running container has no cgroup dir under the harness's parent"
    );
    assert!(
        !processes_naming(&dir).is_empty(),
        "no conmon names the harness's dir while a container runs"
    );
    drop(container);
    drop(podman);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    let left: Vec<_> = cgroups.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroup dirs left behind: {left:?}");
    // The container's PID 1 is gone (a zombie only until the host's init
    // gets to it), and so is every podman, conmon or runc of this harness.
    assert!(
        matches!(proc::state(pid1), None | Some('Z')),
        "the container's PID 1 ({pid1}) still runs"
    );
    assert_eq!(processes_naming(&dir), Vec::<i32>::new(), "processes left");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy();
    let mounts: Vec<&str> = mountinfo.lines().filter(|l| l.contains(&*prefix)).collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:#?}");
    assert_eq!(
        system_state(),
        system_before,
        "{SYSTEM_STATE} changed while the harness built and ran an image \
         (another podman on this machine may also have written there)"
    );
}

/// Kills, by pid, every process whose command line names `dir`, then
/// waits (bounded) until they are gone.
fn kill_processes_naming(dir: &Path) {
    for pid in processes_naming(dir) {
        proc::send_signal(pid, libc::SIGKILL);
    }
    proc::wait_until(
        Duration::from_secs(10),
        "the processes naming the temp dir to go",
        || processes_naming(dir).is_empty(),
    );
}

/// What `docker/build-image` made in OUT: its podman store and the archive.
/// Dropping it removes the images (with the script's own configuration),
/// any process or mount left in OUT, and OUT.
struct BuildImageOut {
    dir: tempfile::TempDir,
}

impl BuildImageOut {
    fn new() -> BuildImageOut {
        BuildImageOut {
            dir: tempfile::Builder::new()
                .prefix("hermes-build-image-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// The script, told to build `image` into this OUT with the static
    /// heartbeats of both architectures, with podman.
    fn script(&self, image: &str) -> Command {
        let mut cmd = Command::new(repo().join("docker/build-image"));
        cmd.env("HERMES_BIN_DIR", bins::bin_dir())
            .env("HERMES_BIN_DIR_AARCH64", hermes_e2e::arm64::bin_dir())
            .env("BUILDER", "podman")
            .env("IMAGE", image)
            .env("OUT", self.dir.path());
        cmd
    }

    fn podman(&self) -> Command {
        let state = self.dir.path().join("podman");
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", state.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", state.join("storage.conf"));
        cmd
    }
}

impl Drop for BuildImageOut {
    fn drop(&mut self) {
        if self.dir.path().join("podman/storage.conf").exists() {
            let _ = run(
                self.podman().args(["rmi", "--all", "--force"]),
                Duration::from_secs(60),
            );
        }
        kill_processes_naming(self.dir.path());
    }
}

/// `make image` on a machine without a docker engine: `docker/build-image`
/// builds with podman, for linux/amd64 and linux/arm64, the manifest list
/// `<image>:<version>` (and `:latest`) in its private store, and saves an
/// OCI archive holding both that loads and runs elsewhere (here: in the
/// harness's own podman, which takes this machine's architecture). System-
/// wide, nothing changes.
#[test]
fn build_image_script_makes_the_tagged_image_and_a_loadable_archive() {
    let test = "build_image_script_makes_the_tagged_image_and_a_loadable_archive";
    let Some(elsewhere) = podman::podman_or_skip(test) else {
        return;
    };
    let out = BuildImageOut::new();
    let version = env!("CARGO_PKG_VERSION");
    let image = "hermes-e2e-build-image";
    // podman names a local image without a registry `localhost/<name>`.
    let local = format!("localhost/{image}");
    let system_before = system_state();
    let built = run(&mut out.script(image), Duration::from_secs(180));
    assert_eq!(built.code, 0, "docker/build-image: {built:?}");
    assert!(
        built.stdout.contains(&format!(
            "Built {image}:{version} (linux/amd64, linux/arm64) with podman"
        )),
        "{built:?}"
    );

    // Both tags, on one image, in the script's store.
    let listed = run(
        out.podman()
            .args(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
        Duration::from_secs(60),
    );
    assert_eq!(listed.code, 0, "podman images: {listed:?}");
    // The list's two images are untagged (`<none>`); the list has the tags.
    let mut tags: Vec<&str> = listed
        .stdout_lines()
        .into_iter()
        .filter(|l| !l.starts_with("<none>"))
        .collect();
    tags.sort();
    let id = tags
        .first()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("?");
    assert_eq!(
        tags,
        [
            format!("{local}:{version} {id}"),
            format!("{local}:latest {id}")
        ],
        "the script's store"
    );

    let inspected = run(
        out.podman()
            .args(["manifest", "inspect", &format!("{local}:{version}")]),
        Duration::from_secs(60),
    );
    let list: serde_json::Value = serde_json::from_str(&inspected.stdout)
        .unwrap_or_else(|e| panic!("podman manifest inspect: {e}: {inspected:?}"));
    let mut platforms: Vec<String> = list["manifests"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| format!("{}/{}", m["platform"]["os"], m["platform"]["architecture"]))
                .collect()
        })
        .unwrap_or_default();
    platforms.sort();
    assert_eq!(
        platforms,
        ["\"linux\"/\"amd64\"", "\"linux\"/\"arm64\""],
        "{inspected:?}"
    );

    // The archive loads into another store and runs: the heartbeat as PID 1,
    // stopped with 143.
    let archive = out.dir.path().join(format!("{image}-{version}.oci.tar"));
    assert!(archive.is_file(), "no {}: {built:?}", archive.display());
    // An OCI layout, as its name says: not a docker-archive, which podman
    // load (and so the check below) would take as well.
    let members = run(
        Command::new("tar").arg("-tf").arg(&archive),
        Duration::from_secs(60),
    );
    assert_eq!(
        members.code,
        0,
        "tar -tf {}: {members:?}",
        archive.display()
    );
    for member in ["oci-layout", "index.json"] {
        assert!(
            members.stdout_lines().contains(&member),
            "no {member} in the archive: {members:?}"
        );
    }
    let loaded = elsewhere.run([
        "load".as_ref(),
        "--quiet".as_ref(),
        "--input".as_ref(),
        archive.as_os_str(),
    ]);
    assert!(
        loaded.stdout.contains(&format!("{local}:{version}")),
        "podman load: {}",
        loaded.stdout
    );
    let stop = elsewhere.measure_stop(&format!("{local}:{version}"), &[], GRACE_SECS);
    assert_eq!(stop.exit_code, 143, "the loaded image's stop");
    drop(elsewhere);

    assert_eq!(
        processes_naming(out.dir.path()),
        Vec::<i32>::new(),
        "processes of the script left"
    );
    drop(out);
    assert_eq!(
        system_state(),
        system_before,
        "{SYSTEM_STATE} changed while docker/build-image ran \
         (another podman on this machine may also have written there)"
    );
}

/// The repository (canonical: docker/build-image names its files by it).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

/// `docker/build-image` with no BUILDER, no IMAGE, and stand-ins for
/// `docker` and `podman` first on PATH: each logs `<name> <args>` (and, for
/// `build`, what its context holds) and exits 0, but `docker info` exits
/// `docker_info`. OUT and TMPDIR are empty dirs of the run's own.
struct FakeEngines {
    fakes: StandIns,
    out: Output,
}

impl FakeEngines {
    fn run(docker_info: i32) -> FakeEngines {
        let fakes = StandIns::new("hermes-fake-engines-");
        let [out, tmp] = ["out", "tmp"].map(|f| fakes.dir().join(f));
        for sub in [&out, &tmp] {
            fs::create_dir(sub).expect("mkdir");
        }
        for (name, info) in [("docker", docker_info), ("podman", 0)] {
            fakes.add(
                name,
                &format!(
                    "case $1 in\n\
                     info) exit {info} ;;\n\
                     build) for context; do :; done; echo \"  context: $(ls -A \"$context\")\" >> '{log}' ;;\n\
                     esac",
                    log = fakes.log().display()
                ),
            );
        }
        let out = run(
            Command::new(repo().join("docker/build-image"))
                .env("PATH", fakes.path())
                .env("HERMES_BIN_DIR", bins::bin_dir())
                .env("HERMES_BIN_DIR_AARCH64", hermes_e2e::arm64::bin_dir())
                .env("OUT", out)
                .env("TMPDIR", tmp)
                .env_remove("BUILDER")
                .env_remove("IMAGE"),
            Duration::from_secs(60),
        );
        FakeEngines { fakes, out }
    }

    fn out_dir(&self) -> PathBuf {
        self.fakes.dir().join("out")
    }

    fn tmp(&self) -> PathBuf {
        self.fakes.dir().join("tmp")
    }

    fn logged(&self) -> Vec<String> {
        self.fakes.logged()
    }

    /// The build context the stand-in `<engine> build` was given, which
    /// must be in the script's scratch dir in TMPDIR.
    fn context(&self, engine: &str) -> String {
        let logged = self.logged();
        let build = logged
            .iter()
            .find(|l| l.starts_with(&format!("{engine} build ")))
            .unwrap_or_else(|| panic!("no {engine} build: {logged:#?}\n{:?}", self.out));
        let context = build.rsplit(' ').next().expect("a last word");
        assert_eq!(
            Path::new(context).parent().and_then(Path::parent),
            Some(self.tmp().as_path()),
            "the context is not <TMPDIR>/<scratch dir>/context: {build}"
        );
        context.to_owned()
    }

    /// The script removed its scratch dir (`mktemp -d` in TMPDIR).
    fn assert_left_nothing_in_tmp(&self) {
        let left: Vec<_> = fs::read_dir(self.tmp())
            .expect("read TMPDIR")
            .map(|e| e.expect("an entry").path())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    }
}

/// `make image` picks its engine: docker where `docker info` answers (an
/// engine runs), podman where it fails (a docker client without one), each
/// given the Dockerfile, one context per architecture holding that
/// architecture's heartbeat alone, and the tags. Either way the script's
/// scratch dir goes.
#[test]
fn build_image_script_builds_with_docker_only_where_docker_info_answers() {
    let version = env!("CARGO_PKG_VERSION");
    let dockerfile = repo().join("docker/Dockerfile.heartbeat");
    let dockerfile = dockerfile.display();

    let engine = FakeEngines::run(0);
    assert_eq!(engine.out.code, 0, "{:?}", engine.out);
    let amd64 = engine.context("docker");
    let arm64 = amd64.replace("/context-amd64", "/context-arm64");
    assert_eq!(
        engine.logged(),
        [
            "docker info".to_owned(),
            format!(
                "docker build --platform linux/amd64 -f {dockerfile} -t hermes-heartbeat:{version}-amd64 {amd64}"
            ),
            "  context: hermes-heartbeat".to_owned(),
            format!(
                "docker build --platform linux/arm64 -f {dockerfile} -t hermes-heartbeat:{version}-arm64 {arm64}"
            ),
            "  context: hermes-heartbeat".to_owned(),
            format!("docker tag hermes-heartbeat:{version}-amd64 hermes-heartbeat:{version}"),
            format!("docker tag hermes-heartbeat:{version}-amd64 hermes-heartbeat:latest"),
        ],
        "with docker info answering"
    );
    engine.assert_left_nothing_in_tmp();

    let engine = FakeEngines::run(1);
    assert_eq!(engine.out.code, 0, "{:?}", engine.out);
    let amd64 = engine.context("podman");
    let arm64 = amd64.replace("/context-amd64", "/context-arm64");
    let archive = engine
        .out_dir()
        .join(format!("hermes-heartbeat-{version}.oci.tar"));
    let list = format!("hermes-heartbeat:{version}");
    assert_eq!(
        engine.logged(),
        [
            "docker info".to_owned(),
            format!("podman manifest rm {list}"),
            "podman manifest rm hermes-heartbeat:latest".to_owned(),
            format!("podman manifest create {list}"),
            format!(
                "podman build --quiet --isolation chroot --platform linux/amd64 -f {dockerfile} --manifest {list} {amd64}"
            ),
            "  context: hermes-heartbeat".to_owned(),
            format!(
                "podman build --quiet --isolation chroot --platform linux/arm64 -f {dockerfile} --manifest {list} {arm64}"
            ),
            "  context: hermes-heartbeat".to_owned(),
            format!("podman tag {list} hermes-heartbeat:latest"),
            format!(
                "podman manifest push --quiet --all {list} oci-archive:{}:{list}",
                archive.display()
            ),
        ],
        "with docker info failing"
    );
    assert!(
        engine.out.stdout.contains(&format!(
            "Built hermes-heartbeat:{version} (linux/amd64, linux/arm64) with podman"
        )),
        "{:?}",
        engine.out
    );
    engine.assert_left_nothing_in_tmp();
}

/// `make image LOAD=1`: the image also lands in the caller's own podman
/// store (here the harness's, named by the caller's CONTAINERS_CONF and
/// CONTAINERS_STORAGE_CONF), and the run command the script prints there
/// starts it: the heartbeat as PID 1, stopped with 143. The load writes
/// podman's blob cache under /var/lib/containers, so the script runs in a
/// private mount namespace with a tmpfs there.
#[test]
fn build_image_with_load_puts_the_image_where_the_callers_podman_runs_it() {
    let test = "build_image_with_load_puts_the_image_where_the_callers_podman_runs_it";
    let Some(caller) = podman::podman_or_skip(test) else {
        return;
    };
    let out = BuildImageOut::new();
    let version = env!("CARGO_PKG_VERSION");
    let image = "hermes-e2e-load";
    let conf = caller.dir().join("containers.conf");
    let storage = caller.dir().join("storage.conf");
    let mut script = out.script(image);
    // The wrapper starts from an empty environment: what the script needs.
    script
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LOAD", "1")
        .env("CONTAINERS_CONF", &conf)
        .env("CONTAINERS_STORAGE_CONF", &storage);
    let built = run(
        &mut s6::wrapped(
            &[
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                "mount -t tmpfs tmpfs /var/lib/containers && exec \"$@\"",
                "sh",
            ],
            &script,
        ),
        Duration::from_secs(180),
    );
    assert_eq!(built.code, 0, "docker/build-image: {built:?}");
    let lines = built.stdout_lines();
    let loaded = lines
        .iter()
        .position(|l| l.starts_with("Loaded into your podman's store as "))
        .unwrap_or_else(|| panic!("no load line: {built:?}"));
    assert_eq!(
        lines[loaded],
        format!(
            "Loaded into your podman's store as localhost/{image}:{version} (this machine's architecture):"
        )
    );
    // The printed command, run as printed, with the caller's configuration.
    let printed = lines
        .get(loaded + 1)
        .and_then(|l| l.trim().strip_prefix("podman "))
        .unwrap_or_else(|| panic!("no run command: {built:?}"));
    let args: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(
        (args.first(), args.last()),
        (Some(&"run"), Some(&format!("{image}:{version}").as_str())),
        "{printed}"
    );
    let started = caller.run(&args);
    let id = started.stdout.trim().to_owned();
    let stopped = caller.run(["stop", "-t", "10", id.as_str()]);
    assert!(
        stopped.stdout.contains(&id),
        "podman stop: {}",
        stopped.stdout
    );
    let code = caller.run(["inspect", "-f", "{{.State.ExitCode}}", id.as_str()]);
    assert_eq!(code.stdout.trim(), "143", "the stop's exit code");
    let _ = caller.run(["rm", "-f", id.as_str()]);
}

/// `make rootfs` prints how to run the root it made, and the podman command
/// it prints works with podman's own default ulimits, which exceed this
/// machine's hard limits where the script adds `--ulimit` options (there,
/// the same command without them fails in runc). The harness's private
/// configuration, less its ulimits, stands for a stock one.
#[test]
fn the_rootfs_run_command_the_script_prints_works_with_podmans_default_ulimits() {
    let test = "the_rootfs_run_command_the_script_prints_works_with_podmans_default_ulimits";
    let Some(harness) = podman::podman_or_skip(test) else {
        return;
    };
    let root = tempfile::Builder::new()
        .prefix("hermes-rootfs-run-")
        .tempdir()
        .expect("tempdir");
    let built = run(
        Command::new(repo().join("docker/build-rootfs"))
            .env("HERMES_BIN_DIR", bins::bin_dir())
            .env("ROOTFS", root.path()),
        Duration::from_secs(60),
    );
    assert_eq!(built.code, 0, "{built:?}");
    let printed = built
        .stdout_lines()
        .iter()
        .find_map(|l| l.trim().strip_prefix("podman "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no podman command printed: {built:?}"));
    let stock = harness.dir().join("stock-ulimits.conf");
    let conf = fs::read_to_string(harness.dir().join("containers.conf")).expect("read the conf");
    let without: String = conf
        .lines()
        .filter(|l| !l.starts_with("default_ulimits"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, conf, "the harness sets no default_ulimits");
    fs::write(&stock, without).expect("write");
    let podman = |args: &[&str]| {
        run(
            Command::new("podman")
                .args(args)
                .env("CONTAINERS_CONF", &stock)
                .env(
                    "CONTAINERS_STORAGE_CONF",
                    harness.dir().join("storage.conf"),
                ),
            Duration::from_secs(60),
        )
    };
    let args: Vec<&str> = printed.split_whitespace().collect();
    let started = podman(&args);
    assert_eq!(started.code, 0, "{printed}: {started:?}");
    let id = started.stdout.trim().to_owned();
    let stopped = podman(&["stop", "-t", "10", &id]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    let code = podman(&["inspect", "-f", "{{.State.ExitCode}}", &id]);
    assert_eq!(code.stdout.trim(), "143", "{code:?}");
    let _ = podman(&["rm", "-f", &id]);
    if printed.contains("--ulimit") {
        // The options are needed here: without them runc refuses.
        let bare: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| *a != "--ulimit" && !a.starts_with("nofile=") && !a.starts_with("nproc="))
            .collect();
        let refused = podman(&bare);
        assert_ne!(refused.code, 0, "ran without --ulimit: {refused:?}");
        assert!(refused.stderr.contains("rlimit"), "{refused:?}");
        let _ = podman(&["rm", "-fa"]);
    }
}
