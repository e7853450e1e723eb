//! The pod figure: `podman pod stop -t 10` and the infra container's resident
//! memory for a pod whose infra is the heartbeat image, against a pod with
//! podman's own default infra (the `localhost/podman-pause` image podman
//! builds from the host's catatonit, run as `catatonit -P`). Both pods share
//! their PID namespace (the infra is PID 1 of the whole pod) and hold only
//! the infra container. Measured with the project's private podman harness,
//! registered with the cleanup hook; every pod is removed after its run.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use hermes_e2e::ns::{self, Mount};
use hermes_e2e::podman::Podman;
use hermes_e2e::proc;

use crate::cleanup;
use crate::process_tree;
use crate::table::{self, Table};

const GRACE_SECS: u32 = 10;
const WARMUP: usize = 1;
const RUNS: usize = 5;
/// The longest one podman command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// How long an infra container may take to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// The namespaces both pods share; no network is made (`--network none`).
const SHARE: &str = "pid,ipc,uts,net";

/// Which infra a pod gets.
#[derive(Clone, Copy)]
enum Infra<'a> {
    /// `--infra-image IMAGE`, with the image's own ENTRYPOINT.
    Image(&'a str),
    /// Neither `--infra-image` nor `--infra-command`: podman's default.
    Default,
}

/// The runs of one kind of pod.
struct Figures {
    stops: Vec<Duration>,
    rss_kib: Vec<u64>,
    codes: Vec<i32>,
    /// The infra container's image, as podman names it.
    image: String,
}

pub fn section() -> String {
    let podman = match Podman::start() {
        Ok(p) => p,
        Err(why) => return format!("No pod figure: podman cannot run here: {why}.\n"),
    };
    cleanup::register_podman(&podman);
    let heartbeat = podman.heartbeat_image();
    let ours = measure(&podman, Infra::Image(&heartbeat));
    let theirs = make_default_infra_image(&podman).and_then(|()| measure(&podman, Infra::Default));
    drop(podman);
    render(ours, theirs)
}

fn render(ours: Result<Figures, String>, theirs: Result<Figures, String>) -> String {
    let ours = match ours {
        Ok(f) => f,
        Err(why) => return format!("No pod figure: the heartbeat pod failed: {why}.\n"),
    };
    let stop = |f: &Figures| table::median(&f.stops).unwrap_or_default();
    let rss = |f: &Figures| table::median_u64(&f.rss_kib).unwrap_or_default();
    let codes = |f: &Figures| {
        let mut codes = f.codes.clone();
        codes.dedup();
        codes
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut t = Table::new(&[
        "pod infra (PID 1 of the pod)",
        "`podman pod stop -t 10`",
        "infra exit code",
        "infra RSS",
        "stop: heartbeat / default",
        "RSS: heartbeat / default",
    ]);
    let (stop_ratio, rss_ratio) = match &theirs {
        Ok(d) => (
            table::ratio(stop(&ours), stop(d)),
            table::ratio_of_counts(rss(&ours), rss(d)),
        ),
        Err(_) => ("n/a".to_owned(), "n/a".to_owned()),
    };
    t.row(vec![
        "heartbeat image (`hermes-heartbeat`)".to_owned(),
        format!("{} (median of {RUNS})", table::time(stop(&ours))),
        codes(&ours),
        table::kib(rss(&ours)),
        stop_ratio,
        rss_ratio,
    ]);
    let mut after = String::new();
    match &theirs {
        Ok(d) => t.row(vec![
            format!("podman's default (`{}`, `catatonit -P`)", d.image),
            format!("{} (median of {RUNS})", table::time(stop(d))),
            codes(d),
            table::kib(rss(d)),
            "1.00x".to_owned(),
            "1.00x".to_owned(),
        ]),
        Err(why) => after = format!("\nNo figure for podman's default infra: {why}.\n"),
    }
    format!(
        "Pods (podman with runc, `podman pod create --share {SHARE} --network none`, \
         the infra container alone; time of the `podman pod stop` command from a \
         settled pod to its return, and the infra process's RSS while the pod idles):\n\n{}{after}",
        t.render()
    )
}

/// Warm-up and runs of one kind of pod: each created, started, settled,
/// read, stopped (timed) and removed.
fn measure(podman: &Podman, infra: Infra) -> Result<Figures, String> {
    let mut figures = Figures {
        stops: Vec::new(),
        rss_kib: Vec::new(),
        codes: Vec::new(),
        image: String::new(),
    };
    for run in 0..WARMUP + RUNS {
        let name = format!(
            "hermes-bench-pod-{}-{run}",
            match infra {
                Infra::Image(_) => "heartbeat",
                Infra::Default => "default",
            }
        );
        let result = one_run(podman, infra, &name);
        // Removed whatever happened, before the next one.
        let _ = podman_out(podman, &["pod", "rm", "--force", "--time", "0", &name]);
        let (stop, rss, code, image) = result?;
        if run >= WARMUP {
            figures.stops.push(stop);
            figures.rss_kib.push(rss);
            figures.codes.push(code);
        }
        figures.image = image;
    }
    Ok(figures)
}

/// One pod: (stop time, infra RSS in KiB, infra exit code, infra image).
fn one_run(
    podman: &Podman,
    infra: Infra,
    name: &str,
) -> Result<(Duration, u64, i32, String), String> {
    let infra_name = format!("{name}-infra");
    let parent = cgroup_parent(podman)?;
    let mut args = vec![
        "pod",
        "create",
        "--name",
        name,
        "--infra-name",
        &infra_name,
        "--share",
        SHARE,
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
    ];
    if let Infra::Image(image) = infra {
        args.extend(["--infra-image", image]);
    }
    podman_out(podman, &args)?;
    podman_out(podman, &["pod", "start", name])?;
    let pid: i32 = inspect(podman, &infra_name, "{{.State.Pid}}")?
        .parse()
        .map_err(|e| format!("the infra container's pid: {e}"))?;
    let image = inspect(podman, &infra_name, "{{.ImageName}}")?;
    settle(pid)?;
    let rss = process_tree::rollup_kib(&[pid], "Rss:");
    if rss == 0 {
        return Err(format!("no RSS readable for the infra process {pid}"));
    }
    let start = Instant::now();
    podman_out(
        podman,
        &["pod", "stop", "--time", &GRACE_SECS.to_string(), name],
    )?;
    let stop = start.elapsed();
    let code = inspect(podman, &infra_name, "{{.State.ExitCode}}")?
        .parse()
        .map_err(|e| format!("the infra container's exit code: {e}"))?;
    Ok((stop, rss, code, image))
}

/// Has podman build its default infra image (`localhost/podman-pause:...`,
/// from the host's catatonit) as the first pod without an infra image does,
/// then removes that pod: the measured pods find the image and build nothing.
fn make_default_infra_image(podman: &Podman) -> Result<(), String> {
    let name = "hermes-bench-pod-default-image";
    let parent = cgroup_parent(podman)?;
    let args = [
        "pod",
        "create",
        "--name",
        name,
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
    ];
    let mut cmd = podman.command();
    cmd.args(args);
    in_private_var_lib(podman, &mut cmd)?;
    let made = run_bounded(&mut cmd).and_then(|out| checked(&args, out));
    let _ = podman_out(podman, &["pod", "rm", "--force", "--time", "0", name]);
    made.map(drop)
}

/// Waits until `pid` has exec'd the infra's program (it is no longer runc's
/// init) and is asleep.
fn settle(pid: i32) -> Result<(), String> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    loop {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.is_empty() && !comm.starts_with("runc") && proc::state(pid) == Some('S') {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the infra process {pid} did not settle within {SETTLE_LIMIT:?}"
            ));
        }
        sleep(Duration::from_millis(5));
    }
}

/// The harness's cgroup parent (`/` and its temp dir's name, as the harness
/// names it), so the pods' cgroups are removed with the harness.
fn cgroup_parent(podman: &Podman) -> Result<String, String> {
    podman
        .dir()
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| format!("/{n}"))
        .ok_or_else(|| "the harness's temp dir has no name".to_owned())
}

/// Makes `cmd` run where `/var/lib` is an overlay whose upper layer is in
/// the harness's temp dir, and its temp files go there too: building the
/// pause image writes containers/image's blob info cache under
/// `/var/lib/containers`, which no podman setting moves.
fn in_private_var_lib(podman: &Podman, cmd: &mut Command) -> Result<(), String> {
    let layers = podman.dir().join("pod-var-lib");
    let n = fs::read_dir(&layers).map_or(0, |d| d.count());
    let layer = layers.join(n.to_string());
    let (upper, work) = (layer.join("upper"), layer.join("work"));
    for dir in [&upper, &work] {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    let options = format!(
        "lowerdir=/var/lib,upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    // Commas and colons separate overlay options and layers.
    if options.matches([',', ':']).count() != 2 {
        return Err(format!(
            "the temp dir's path cannot be an overlay layer: {options}"
        ));
    }
    let options = CString::new(options).map_err(|e| format!("overlay options: {e}"))?;
    ns::in_private_mounts(cmd, vec![Mount::overlay(Path::new("/var/lib"), options)]);
    cmd.env("TMPDIR", podman.dir());
    Ok(())
}

fn inspect(podman: &Podman, container: &str, format: &str) -> Result<String, String> {
    podman_out(podman, &["inspect", "--format", format, container]).map(|s| s.trim().to_owned())
}

/// `podman ARGS` with the harness's configuration: its stdout, or why not.
fn podman_out(podman: &Podman, args: &[&str]) -> Result<String, String> {
    let mut cmd = podman.command();
    cmd.args(args);
    checked(args, run_bounded(&mut cmd)?)
}

fn checked(args: &[&str], (code, stdout, stderr): (i32, String, String)) -> Result<String, String> {
    if code == 0 {
        Ok(stdout)
    } else {
        let why = stderr.trim().lines().last().unwrap_or("").to_owned();
        Err(format!(
            "`podman {}` failed ({code}): {why}",
            args.join(" ")
        ))
    }
}

/// Runs `cmd` with its output in anonymous temp files (a conmon it starts
/// would hold a pipe open), killed past [`COMMAND_LIMIT`]: (exit code,
/// stdout, stderr).
fn run_bounded(cmd: &mut Command) -> Result<(i32, String, String), String> {
    let file = || tempfile::tempfile().map_err(|e| format!("a temp file: {e}"));
    let (mut stdout, mut stderr) = (file()?, file()?);
    let dup = |f: &File| f.try_clone().map_err(|e| format!("dup: {e}"));
    cmd.stdin(Stdio::null())
        .stdout(dup(&stdout)?)
        .stderr(dup(&stderr)?);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run podman: {e}"))?;
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{:?} did not finish within {COMMAND_LIMIT:?}",
                    cmd.get_args().collect::<Vec<_>>()
                ));
            }
            Ok(None) => sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("waiting for podman: {e}")),
        }
    };
    let read = |f: &mut File| -> Result<String, String> {
        let mut text = String::new();
        f.rewind()
            .and_then(|()| f.read_to_string(&mut text))
            .map_err(|e| format!("reading podman's output: {e}"))?;
        Ok(text)
    };
    Ok((
        proc::shell_code(status),
        read(&mut stdout)?,
        read(&mut stderr)?,
    ))
}
