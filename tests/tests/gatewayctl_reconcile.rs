//! `gatewayctl reconcile`, the boot pass, on real files: a HERMES_HOME with
//! every kind of profile, the slots it makes (files, modes, owners, `down`
//! markers), its lines and its boot log; multiplexing; the container's own
//! command (dashboard, legacy `gateway run`); a second pass, with and
//! without a live s6-svscan; and, where PyPI answers, the Python reference
//! (hermes-agent 0.19.0) on the same fixtures, compared file by file.
//!
//! Each pass runs as PID 1 of its own PID namespace with its own /proc, so
//! the container command it reads is the one the test gives, never another
//! test's.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, ScanDir};
use hermes_e2e::tree::{self, Entry};

const LIMIT: Duration = Duration::from_secs(60);

/// A HERMES_HOME (`home/`) and an empty scan directory (`service/`).
struct Boot {
    tmp: tempfile::TempDir,
}

impl Boot {
    fn new() -> Boot {
        let tmp = tempfile::Builder::new()
            .prefix("hermes-boot-")
            .tempdir()
            .expect("tempdir");
        fs::create_dir_all(tmp.path().join("home/profiles")).expect("mkdir");
        fs::create_dir_all(tmp.path().join("service")).expect("mkdir");
        Boot { tmp }
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    fn scandir(&self) -> PathBuf {
        self.tmp.path().join("service")
    }

    /// `profiles/<name>/`, with `SOUL.md` when `soul`, and this state file.
    fn profile(&self, name: &str, soul: bool, state: Option<&str>) -> PathBuf {
        let dir = self.home().join("profiles").join(name);
        fs::create_dir_all(&dir).expect("mkdir profile");
        if soul {
            s6::write_file(&dir.join("SOUL.md"), "a soul\n");
        }
        if let Some(state) = state {
            s6::write_file(&dir.join("gateway_state.json"), state);
        }
        dir
    }

    /// Runs `argv` as PID 1 of a new PID namespace with its own /proc, with
    /// HERMES_HOME and the scan directory set, umask 022, and `env`.
    fn boot(&self, argv: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--mount-proc",
            "--",
        ])
        .args(argv)
        .env_clear()
        .env("PATH", s6::CLEAN_PATH)
        .env("HERMES_HOME", self.home())
        .env("S6_PROFILE_GATEWAY_SCANDIR", self.scandir());
        for (key, value) in env {
            cmd.env(key, value);
        }
        // SAFETY: umask is async-signal-safe; runs in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        run(&mut cmd, LIMIT)
    }

    /// `gatewayctl reconcile ARGS...`.
    fn reconcile(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let gatewayctl = bins::gatewayctl();
        let mut argv = vec![gatewayctl.to_str().expect("a UTF-8 path"), "reconcile"];
        argv.extend_from_slice(args);
        self.boot(&argv, env)
    }

    /// The same, from a container whose command (after the image's
    /// `main-wrapper.sh`) is `words`: the wrapper is PID 1 and runs it.
    fn reconcile_in_container(&self, words: &[&str], env: &[(&str, &str)]) -> Output {
        let wrapper = self.tmp.path().join("main-wrapper.sh");
        s6::write_script(
            &wrapper,
            &format!(
                "#!/bin/sh\n{} reconcile\n",
                s6::shell_quote(&bins::gatewayctl().to_string_lossy())
            ),
        );
        let mut argv = vec!["/bin/sh", wrapper.to_str().expect("a UTF-8 path")];
        argv.extend_from_slice(words);
        self.boot(&argv, env)
    }

    /// The boot log's lines, without their timestamps.
    fn log(&self) -> Vec<String> {
        fs::read_to_string(self.home().join("logs/container-boot.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (stamp, rest) = l.split_once(' ').expect("a timestamp");
                assert!(
                    humantime::parse_rfc3339(&stamp.replace("+0000", "Z")).is_ok(),
                    "{stamp}"
                );
                rest.to_owned()
            })
            .collect()
    }
}

/// A slot as the Hermes image makes one (umask 022, run as root): its
/// entries, and whether it has a `down` file.
fn expected_slot(down: bool) -> Vec<Entry> {
    let hermes = 10000;
    let mut entries: Vec<(&str, char, u32, u32)> = vec![
        ("event", 'd', 0o3730, hermes),
        ("finish", 'f', 0o755, 0),
        ("log", 'd', 0o755, 0),
        ("log/event", 'd', 0o3730, hermes),
        ("log/run", 'f', 0o755, 0),
        ("log/supervise", 'd', 0o755, hermes),
        ("log/supervise/control", '?', 0o660, hermes),
        ("log/supervise/event", 'd', 0o3730, hermes),
        ("run", 'f', 0o755, 0),
        ("supervise", 'd', 0o755, hermes),
        ("supervise/control", '?', 0o660, hermes),
        ("supervise/event", 'd', 0o3730, hermes),
        ("type", 'f', 0o644, 0),
    ];
    if down {
        entries.push(("down", 'f', 0o644, 0));
    }
    let mut entries: Vec<Entry> = entries
        .into_iter()
        .map(|(path, kind, mode, owner)| Entry {
            path: PathBuf::from(path),
            kind,
            mode,
            uid: owner,
            gid: owner,
        })
        .collect();
    entries.sort();
    entries
}

fn assert_slot(scandir: &Path, profile: &str, down: bool) {
    let dir = scandir.join(format!("gateway-{profile}"));
    assert_eq!(tree::entries(&dir), expected_slot(down), "{profile}");
    let run = fs::read_to_string(dir.join("run")).expect("run");
    let gateway = if profile == "default" {
        "hermes gateway run --replace".to_owned()
    } else {
        format!("hermes -p {profile} gateway run --replace")
    };
    assert!(
        run.starts_with("#!/command/with-contenv sh\n")
            && run.contains("export HERMES_S6_SUPERVISED_CHILD=1\n")
            && run.ends_with(&format!("exec s6-setuidgid hermes {gateway}\n")),
        "{profile}: {run}"
    );
    let log = fs::read_to_string(dir.join("log/run")).expect("log/run");
    assert!(
        log.contains(&format!(
            "log_dir=\"$HERMES_HOME/logs/gateways/{profile}\"\n"
        )),
        "{log}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("type")).ok().as_deref(),
        Some("longrun\n")
    );
}

fn slots(scandir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(scandir)
        .expect("read the scan directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A HERMES_HOME with every case the boot pass meets.
fn every_case() -> Boot {
    let boot = Boot::new();
    s6::write_file(
        &boot.home().join("gateway_state.json"),
        r#"{"gateway_state":"degraded"}"#,
    );
    s6::write_file(&boot.home().join("gateway.pid"), r#"{"pid": 7}"#);
    let run = boot.profile(
        "a-run",
        true,
        Some(r#"{"desired_state":"running","gateway_state":"startup_failed"}"#),
    );
    s6::write_file(&run.join("gateway.pid"), "7");
    s6::write_file(&run.join("processes.json"), "[]");
    s6::write_file(&run.join("config.yaml"), "kept: yes\n");
    boot.profile(
        "b-stop",
        true,
        Some(r#"{"desired_state":"stopped","gateway_state":"running"}"#),
    );
    boot.profile("c-drain", true, Some(r#"{"gateway_state":"draining"}"#));
    boot.profile(
        "d-failed",
        true,
        Some(r#"{"gateway_state":"startup_failed"}"#),
    );
    boot.profile("e-none", true, None);
    boot.profile("f-corrupt", true, Some("{not json"));
    boot.profile("g-nosoul", false, Some(r#"{"desired_state":"running"}"#));
    boot.profile("default", true, Some(r#"{"desired_state":"running"}"#));
    for bad in ["Bad Name", "UPPER", "-x", &"x".repeat(70)] {
        boot.profile(bad, true, Some(r#"{"desired_state":"running"}"#));
    }
    s6::write_file(&boot.home().join("profiles/plain-file"), "not a profile");
    boot
}

const EVERY_CASE_LINES: [&str; 7] = [
    "reconcile: profile=default prior_state=running action=started",
    "reconcile: profile=a-run prior_state=running action=started",
    "reconcile: profile=b-stop prior_state=stopped action=registered",
    "reconcile: profile=c-drain prior_state=running action=started",
    "reconcile: profile=d-failed prior_state=startup_failed action=registered",
    "reconcile: profile=e-none prior_state=None action=registered",
    "reconcile: profile=f-corrupt prior_state=None action=registered",
];

#[test]
fn every_kind_of_profile_gets_the_slot_its_recorded_intent_asks_for() {
    let boot = every_case();
    let out = boot.reconcile(&[], &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout_lines(), EVERY_CASE_LINES, "{out:?}");
    let warnings = out.stderr_lines();
    assert_eq!(warnings.len(), 6, "{out:?}");
    assert!(warnings.iter().all(|w| w.starts_with("⚠ ")), "{out:?}");
    for needle in [
        "'-x'",
        "'Bad Name'",
        "'UPPER'",
        "profiles/default/",
        "f-corrupt/gateway_state.json",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(needle)),
            "{needle}: {out:?}"
        );
    }
    let scandir = boot.scandir();
    assert_eq!(
        slots(&scandir),
        [
            "gateway-a-run",
            "gateway-b-stop",
            "gateway-c-drain",
            "gateway-d-failed",
            "gateway-default",
            "gateway-e-none",
            "gateway-f-corrupt"
        ]
    );
    for (profile, down) in [
        ("default", false),
        ("a-run", false),
        ("b-stop", true),
        ("c-drain", false),
        ("d-failed", true),
        ("e-none", true),
        ("f-corrupt", true),
    ] {
        assert_slot(&scandir, profile, down);
    }
    // The dead container's runtime files are gone; nothing else is touched.
    let run = boot.home().join("profiles/a-run");
    assert!(!run.join("gateway.pid").exists() && !run.join("processes.json").exists());
    assert!(!boot.home().join("gateway.pid").exists());
    assert!(run.join("config.yaml").is_file());
    assert_eq!(
        fs::read_to_string(boot.home().join("profiles/f-corrupt/gateway_state.json"))
            .ok()
            .as_deref(),
        Some("{not json")
    );
    let expected_log: Vec<String> = EVERY_CASE_LINES
        .iter()
        .map(|l| l.trim_start_matches("reconcile: ").to_owned())
        .collect();
    assert_eq!(boot.log(), expected_log);
}

#[test]
fn dry_run_says_the_same_and_changes_nothing_and_json_says_it_as_json() {
    let boot = every_case();
    let out = boot.reconcile(&["--dry-run"], &[]);
    assert_eq!(
        (out.code, out.stdout_lines()),
        (0, EVERY_CASE_LINES.to_vec()),
        "{out:?}"
    );
    assert!(slots(&boot.scandir()).is_empty(), "a slot was made");
    assert!(boot.home().join("profiles/a-run/gateway.pid").exists());
    assert!(!boot.home().join("logs").exists(), "a log was written");
    let out = boot.reconcile(&["--dry-run", "--json"], &[]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        json[0],
        serde_json::json!({"profile": "default", "prior_state": "running", "action": "started"})
    );
    assert_eq!(json[5]["prior_state"], serde_json::Value::Null);
    assert_eq!(json.as_array().map(Vec::len), Some(7));
}

#[test]
fn with_profiles_multiplexed_only_the_default_gateway_starts() {
    for on in ["1", "true", " YES ", "On"] {
        let boot = Boot::new();
        s6::write_file(
            &boot.home().join("gateway_state.json"),
            r#"{"desired_state":"running"}"#,
        );
        boot.profile("coder", true, Some(r#"{"desired_state":"running"}"#));
        let out = boot.reconcile(&[], &[("GATEWAY_MULTIPLEX_PROFILES", on)]);
        assert_eq!(
            out.stdout_lines(),
            [
                "reconcile: profile=default prior_state=running action=started",
                "reconcile: profile=coder prior_state=running action=registered",
            ],
            "{on:?}: {out:?}"
        );
        assert_slot(&boot.scandir(), "coder", true);
    }
    let boot = Boot::new();
    boot.profile("coder", true, Some(r#"{"desired_state":"running"}"#));
    let out = boot.reconcile(&[], &[("GATEWAY_MULTIPLEX_PROFILES", "off")]);
    assert_eq!(
        out.stdout_lines().get(1),
        Some(&"reconcile: profile=coder prior_state=running action=started")
    );
}

#[test]
fn a_dashboard_container_reconciles_nothing() {
    let boot = every_case();
    let out = boot.reconcile_in_container(&["dashboard", "--port", "9119"], &[]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (
            0,
            "reconcile: skipping (dashboard container — does not need per-profile gateways)\n"
        ),
        "{out:?}"
    );
    assert!(slots(&boot.scandir()).is_empty());
}

#[test]
fn a_legacy_gateway_run_container_gets_its_default_gateway_started() {
    let boot = Boot::new();
    let out = boot.reconcile_in_container(&["hermes", "gateway", "run"], &[]);
    assert_eq!(
        out.stdout_lines(),
        ["reconcile: profile=default prior_state=running action=started"],
        "{out:?}"
    );
    let seeded = fs::read_to_string(boot.home().join("gateway_state.json")).expect("seeded");
    let state: serde_json::Value = serde_json::from_str(&seeded).expect("JSON");
    assert_eq!(state["desired_state"], "running");
    assert_eq!(state["gateway_state"], "running");
    assert_eq!(state["migrated_from"], "legacy-container-cmd");
    assert!(
        state["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000)
    );
    assert_slot(&boot.scandir(), "default", false);

    // An existing state wins, and so do the opt-outs.
    for (words, env) in [
        (&["gateway", "run", "--no-supervise"][..], &[][..]),
        (&["gateway", "run"], &[("HERMES_GATEWAY_NO_SUPERVISE", "1")]),
        (&["chat"], &[]),
    ] {
        let boot = Boot::new();
        let out = boot.reconcile_in_container(words, env);
        assert_eq!(
            out.stdout_lines(),
            ["reconcile: profile=default prior_state=None action=registered"],
            "{words:?}: {out:?}"
        );
        assert!(
            !boot.home().join("gateway_state.json").exists(),
            "{words:?}"
        );
    }
    let boot = Boot::new();
    s6::write_file(
        &boot.home().join("gateway_state.json"),
        r#"{"desired_state":"stopped"}"#,
    );
    let out = boot.reconcile_in_container(&["gateway", "run"], &[]);
    assert_eq!(
        out.stdout_lines(),
        ["reconcile: profile=default prior_state=stopped action=registered"]
    );
}

#[test]
fn a_second_pass_replaces_unsupervised_slots_and_keeps_supervised_ones() {
    let boot = every_case();
    assert_eq!(boot.reconcile(&[], &[]).code, 0);
    // Without s6, the slots are made again, whole.
    s6::write_file(&boot.scandir().join("gateway-b-stop/stray"), "left by hand");
    let out = boot.reconcile(&[], &[]);
    assert_eq!(out.stdout_lines(), EVERY_CASE_LINES, "{out:?}");
    assert_slot(&boot.scandir(), "b-stop", true);
    assert_eq!(boot.log().len(), 14, "a line per slot per pass");

    // With an s6-svscan on the scan directory: a first pass is picked up at
    // once (told to rescan), a second keeps every slot it supervises.
    let s6 = ScanDir::start();
    let at = s6.scandir().to_str().expect("a UTF-8 path").to_owned();
    let run_in = |args: &[&str]| boot.reconcile(args, &[("S6_PROFILE_GATEWAY_SCANDIR", &at)]);
    let out = run_in(&[]);
    assert_eq!(out.code, 0, "{out:?}");
    hermes_e2e::proc::wait_until(
        Duration::from_secs(20),
        "s6 to supervise every slot",
        || {
            ["default", "a-run", "b-stop", "f-corrupt"]
                .iter()
                .all(|p| s6.is_supervised(p))
        },
    );
    let out = run_in(&[]);
    let kept: Vec<String> = EVERY_CASE_LINES
        .iter()
        .map(|l| {
            format!(
                "{} action=kept",
                l.rsplit_once(" action=").map_or(*l, |(head, _)| head)
            )
        })
        .collect();
    assert_eq!(out.stdout_lines(), kept, "{out:?}");
    assert!(
        s6.is_supervised("b-stop"),
        "a supervised slot was pulled away"
    );
}

#[test]
fn the_boot_log_is_turned_over_past_256_kib() {
    let boot = Boot::new();
    let logs = boot.home().join("logs");
    fs::create_dir_all(&logs).expect("mkdir");
    s6::write_file(&logs.join("container-boot.log"), &"x".repeat(256 * 1024));
    assert_eq!(boot.reconcile(&[], &[]).code, 0);
    assert_eq!(
        fs::metadata(logs.join("container-boot.log.1"))
            .map(|m| m.len())
            .ok(),
        Some(256 * 1024)
    );
    assert_eq!(
        boot.log(),
        ["profile=default prior_state=None action=registered"]
    );
}

#[test]
fn a_hermes_home_that_is_a_file_is_one_line_and_exit_1() {
    let boot = Boot::new();
    let file = boot.tmp.path().join("not-a-dir");
    s6::write_file(&file, "x");
    let out = boot.reconcile(
        &[],
        &[("HERMES_HOME", file.to_str().expect("a UTF-8 path"))],
    );
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr_lines().len()),
        (1, "", 1),
        "{out:?}"
    );
    assert!(out.stderr.starts_with("✗ HERMES_HOME "), "{out:?}");
    assert!(slots(&boot.scandir()).is_empty());
}

// --- side by side with the Python reference -----------------------------------

/// The Python of a throwaway virtualenv holding hermes-agent 0.19.0, or
/// `None` (with a line saying why) where PyPI does not answer.
fn reference() -> Option<&'static Path> {
    static VENV: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("hermes-ref-")
            .tempdir()
            .ok()?;
        let venv = dir.path().join("venv");
        let made = run(
            Command::new("/usr/bin/python3")
                .args(["-m", "venv"])
                .arg(&venv),
            Duration::from_secs(120),
        );
        assert_eq!(made.code, 0, "python3 -m venv: {made:?}");
        let got = run(
            Command::new(venv.join("bin/pip")).args([
                "install",
                "--quiet",
                "--no-input",
                "--no-cache-dir",
                "hermes-agent==0.19.0",
            ]),
            Duration::from_secs(600),
        );
        if got.code != 0 {
            eprintln!(
                "skipped: hermes-agent==0.19.0 could not be installed from PyPI ({})",
                got.stderr.trim()
            );
            return None;
        }
        Some((dir, venv.join("bin/python")))
    })
    .as_ref()
    .map(|(_, python)| python.as_path())
}

/// Every entry of `root` with its content (files), for comparing trees.
fn contents(root: &Path) -> Vec<(Entry, Option<String>)> {
    tree::entries(root)
        .into_iter()
        .map(|e| {
            let text =
                (e.kind == 'f').then(|| fs::read_to_string(root.join(&e.path)).unwrap_or_default());
            (e, text)
        })
        .collect()
}

#[test]
fn the_python_reference_makes_the_same_slots_lines_log_and_state_files() {
    let Some(python) = reference() else {
        return;
    };
    let python = python.to_str().expect("a UTF-8 path");
    // What both can take: the reference dies on an invalid name.
    let fixture = || {
        let boot = Boot::new();
        s6::write_file(
            &boot.home().join("gateway_state.json"),
            r#"{"gateway_state":"draining"}"#,
        );
        boot.profile("a-run", true, Some(r#"{"desired_state":"running"}"#));
        boot.profile("b-stop", true, Some(r#"{"desired_state":"stopped"}"#));
        boot.profile(
            "c-failed",
            true,
            Some(r#"{"gateway_state":"startup_failed"}"#),
        );
        boot.profile("d-none", true, None);
        boot.profile("e-corrupt", true, Some("{not json"));
        boot.profile("f-nosoul", false, None);
        boot.profile("default", true, None);
        s6::write_file(&boot.home().join("profiles/a-run/gateway.pid"), "1");
        boot
    };
    for multiplex in ["0", "1"] {
        let env = [("GATEWAY_MULTIPLEX_PROFILES", multiplex)];
        let ours = fixture();
        let out = ours.reconcile(&[], &env);
        let theirs = fixture();
        let python = theirs.boot(
            &[
                python,
                "-c",
                "import sys; from hermes_cli import container_boot as c; sys.exit(c.main())",
            ],
            &env,
        );
        assert_eq!(python.code, 0, "{python:?}");
        assert_eq!(out.stdout, python.stdout, "lines, multiplex {multiplex}");
        assert_eq!(
            contents(&ours.scandir()),
            contents(&theirs.scandir()),
            "slots, multiplex {multiplex}"
        );
        assert_eq!(ours.log(), theirs.log(), "boot log, multiplex {multiplex}");
        assert_eq!(
            contents(&ours.home().join("profiles")),
            contents(&theirs.home().join("profiles"))
        );
        assert_eq!(
            fs::read_to_string(ours.home().join("gateway_state.json")).ok(),
            fs::read_to_string(theirs.home().join("gateway_state.json")).ok()
        );
    }
}
