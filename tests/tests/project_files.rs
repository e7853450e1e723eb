//! The project's own plumbing, which no other suite runs: the Makefile
//! installs what the tests need and fails when they fail, `.ci/run` checks
//! formatting and lints and fails with `make test`, and
//! `scripts/ensure-packages` installs exactly the missing packages. The
//! programs they call (cargo, make, rustup, apt-get, dpkg-query, id) are
//! stand-ins first on PATH that log their arguments, so nothing is built
//! or installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hermes_e2e::run::{Output, run};
use hermes_e2e::stand_ins::StandIns;

const LIMIT: Duration = Duration::from_secs(60);
const MUSL: &str = "x86_64-unknown-linux-musl";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

/// `program args...` run in the repository with `fakes` first on PATH and
/// none of an outer make's variables.
fn run_with(fakes: &StandIns, program: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(repo())
        .env("PATH", fakes.path())
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("HERMES_BIN_DIR")
        .env_remove("HERMES_HEARTBEAT_PATH")
        .env_remove("HERMES_REQUIRE_PODMAN")
        .env_remove("HERMES_TEST_S6_OVERLAY");
    run(&mut cmd, LIMIT)
}

fn stand_ins() -> StandIns {
    StandIns::new("hermes-project-files-")
}

// --- Makefile -------------------------------------------------------------------

#[test]
fn make_test_installs_s6_podman_and_the_musl_target_before_testing() {
    let out = run_with(&stand_ins(), "make", &["-n", "test"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines = out.stdout_lines();
    let at = |wanted: &str| {
        lines
            .iter()
            .position(|l| l.contains(wanted))
            .unwrap_or_else(|| panic!("`make test` does not run {wanted:?}: {out:?}"))
    };
    let s6 = at("scripts/ensure-packages s6");
    let containers = at("scripts/ensure-packages podman runc busybox-static");
    let musl = at(&format!("rustup target add {MUSL}"));
    let build = at(&format!("build --release --locked --target {MUSL}"));
    let test = at("cargo test --workspace --locked --no-fail-fast");
    assert!(
        s6.max(containers).max(musl) < build && build < test,
        "{out:?}"
    );
    for (target, runs) in [
        ("image", "docker/build-image"),
        ("rootfs", "docker/build-rootfs"),
        ("demo", "scripts/demo"),
    ] {
        let out = run_with(&stand_ins(), "make", &["-n", target]);
        assert!(out.stdout_lines().contains(&runs), "make {target}: {out:?}");
    }
}

#[test]
fn make_test_fails_when_the_tests_fail_and_passes_both_paths_on() {
    // The stand-in cargo logs what the build and the suites are given,
    // and fails `cargo test`.
    let fakes = stand_ins();
    let log = fakes.log();
    fakes.add(
        "cargo",
        &format!(
            "echo \"  HERMES_HEARTBEAT_PATH=$HERMES_HEARTBEAT_PATH HERMES_BIN_DIR=$HERMES_BIN_DIR\" >> '{}'\n[ \"$1\" = test ] && exit 3\nexit 0",
            log.display()
        ),
    );
    let cargo = fakes.program("cargo");
    // Where the static binaries are looked for (`ls -l` after the build),
    // here a place of this test's own: the stand-in builds nothing.
    let bin_dir = fakes.dir().join("static");
    fs::create_dir(&bin_dir).expect("mkdir");
    for name in ["hermes-heartbeat", "gatewayctl"] {
        fs::write(bin_dir.join(name), "").expect("write");
    }
    let out = run_with(
        &fakes,
        "make",
        &[
            "test",
            &format!("CARGO={}", cargo.display()),
            &format!("STATIC_DIR={}", bin_dir.display()),
            &format!("ARM64_DIR={}", bin_dir.display()),
        ],
    );
    assert_ne!(out.code, 0, "make test passed with failing tests: {out:?}");
    let env = format!(
        "  HERMES_HEARTBEAT_PATH=/usr/local/bin/hermes-heartbeat HERMES_BIN_DIR={}",
        bin_dir.display()
    );
    assert_eq!(
        fakes.logged(),
        [
            format!(
                "cargo build --release --locked --target {MUSL} -p hermes-heartbeat -p hermes-gatewayctl"
            ),
            env.clone(),
            "cargo build --release --locked --target aarch64-unknown-linux-musl -p hermes-heartbeat -p hermes-gatewayctl".to_owned(),
            env.clone(),
            "cargo test --workspace --locked --no-fail-fast".to_owned(),
            env,
        ],
        "{out:?}"
    );
}

#[test]
fn make_test_runs_the_s6_suites_again_in_the_s6_overlay_layout_only_when_asked() {
    // A stand-in cargo that passes and says what it was given and, when it
    // runs the tests, which s6-svc /command holds; a stand-in fixture whose
    // s6-svc names itself.
    let fakes = stand_ins();
    fakes.add(
        "cargo",
        "echo \"cargo $*\"\n[ \"$1\" = test ] && [ -x /command/s6-svc ] && echo \"/command/s6-svc: $(/command/s6-svc)\"\nexit 0",
    );
    let cargo = fakes.program("cargo");
    let bin_dir = fakes.dir().join("static");
    fs::create_dir(&bin_dir).expect("mkdir");
    for name in ["hermes-heartbeat", "gatewayctl"] {
        fs::write(bin_dir.join(name), "").expect("write");
    }
    let fixture = fakes.dir().join("s6-overlay");
    let command = fixture.join("package/admin/s6-9.9.9.9/command");
    fs::create_dir_all(&command).expect("mkdir");
    for (name, says) in [("s6-svscan", "svscan"), ("s6-svc", "the fixture's")] {
        hermes_e2e::s6::write_script(
            &command.join(name),
            &format!("#!/bin/sh\necho \"{says}\"\n"),
        );
    }
    let make_test = |extra: &[String]| {
        let mut args = vec![
            "test".to_owned(),
            format!("CARGO={}", cargo.display()),
            format!("STATIC_DIR={}", bin_dir.display()),
            format!("ARM64_DIR={}", bin_dir.display()),
        ];
        args.extend_from_slice(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_with(&fakes, "make", &args)
    };
    let suites = "cargo test -p hermes-e2e --locked --no-fail-fast --test gatewayctl_* --test run_* --test s6_template";

    let out = make_test(&[]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines = out.stdout_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("make test: HERMES_TEST_S6_OVERLAY is not set: skipped")),
        "{out:?}"
    );
    assert!(!lines.contains(&suites), "{out:?}");

    let out = make_test(&[format!("HERMES_TEST_S6_OVERLAY={}", fixture.display())]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines = out.stdout_lines();
    let at = lines
        .iter()
        .position(|l| *l == suites)
        .unwrap_or_else(|| panic!("no second pass: {out:?}"));
    assert_eq!(
        lines.get(at + 1).copied(),
        Some("/command/s6-svc: the fixture's"),
        "{out:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("not set: skipped")),
        "{out:?}"
    );
    // The layout was the run's own: the host's /command holds no fixture.
    let host = fs::read_to_string("/command/s6-svc").unwrap_or_default();
    assert!(!host.contains("the fixture's"), "{host}");
}

// --- .ci/run --------------------------------------------------------------------

/// Stand-ins for `.ci/run`: rustup (clippy and rustfmt installed), cargo,
/// and make, which logs HERMES_REQUIRE_PODMAN; `cargo_fmt_rc` and `make_rc`
/// are their exit codes.
fn ci_stand_ins(cargo_fmt_rc: i32, make_rc: i32) -> StandIns {
    let fakes = stand_ins();
    let log = fakes.log();
    fakes.add("rustup", "printf 'clippy-x86_64\\nrustfmt-x86_64\\n'");
    fakes.add(
        "cargo",
        &format!("[ \"$1\" = fmt ] && exit {cargo_fmt_rc}\nexit 0"),
    );
    fakes.add(
        "make",
        &format!(
            "echo \"  HERMES_REQUIRE_PODMAN=$HERMES_REQUIRE_PODMAN\" >> '{log}'\necho \"  HERMES_TEST_S6_OVERLAY=$HERMES_TEST_S6_OVERLAY\" >> '{log}'\nexit {make_rc}",
            log = log.display()
        ),
    );
    fakes
}

#[test]
fn ci_run_checks_format_and_lints_then_runs_make_test_requiring_podman() {
    let fakes = ci_stand_ins(0, 0);
    let out = run_with(&fakes, "bash", &[".ci/run"]);
    assert_eq!(out.code, 0, "{out:?}");
    let logged = fakes.logged();
    for wanted in [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets --locked -- -D warnings",
        "make test",
        "  HERMES_REQUIRE_PODMAN=1",
    ] {
        assert!(
            logged.iter().any(|l| l == wanted),
            "no {wanted:?} in {logged:?}"
        );
    }
    // The s6 2.15 pass is pointed at the fixture beside the checkout, where
    // there is one (CI's machines have it).
    let fixture = repo().join("../shared/s6-overlay");
    let expected = if fixture.join("package/admin").is_dir() {
        format!(
            "  HERMES_TEST_S6_OVERLAY={}",
            repo()
                .join("..")
                .canonicalize()
                .expect("parent")
                .join("shared/s6-overlay")
                .display()
        )
    } else {
        "  HERMES_TEST_S6_OVERLAY=".to_owned()
    };
    assert!(logged.contains(&expected), "no {expected:?} in {logged:?}");
}

#[test]
fn ci_run_fails_when_make_test_fails_or_the_format_is_off() {
    let out = run_with(&ci_stand_ins(0, 2), "bash", &[".ci/run"]);
    assert_ne!(out.code, 0, "passed with make test failing: {out:?}");
    let fakes = ci_stand_ins(1, 0);
    let out = run_with(&fakes, "bash", &[".ci/run"]);
    assert_ne!(out.code, 0, "passed with the format off: {out:?}");
    assert!(
        !fakes.logged().iter().any(|l| l.starts_with("make")),
        "ran the tests anyway: {:?}",
        fakes.logged()
    );
}

// --- scripts/ensure-packages ----------------------------------------------------

/// Stand-ins for ensure-packages: `dpkg-query` reports only `installed` as
/// installed, `id -u` prints `uid`, and `apt-get install` fails until an
/// `apt-get update` has run (as on a fresh machine with stale lists).
fn apt_stand_ins(installed: &[&str], uid: u32) -> StandIns {
    let fakes = stand_ins();
    let updated = fakes.dir().join("updated");
    let known = installed.join(" ");
    fakes.add(
        "dpkg-query",
        &format!(
            "for p in {known}; do [ \"$p\" = \"$3\" ] && printf 'install ok installed'; done\nexit 0"
        ),
    );
    fakes.add("id", &format!("echo {uid}"));
    fakes.add(
        "apt-get",
        &format!(
            "case \"$*\" in\n*' update '*) touch '{u}';;\n*' install '*) [ -e '{u}' ] || exit 100;;\nesac\nexit 0",
            u = updated.display()
        ),
    );
    fakes
}

#[test]
fn ensure_packages_installs_exactly_the_missing_ones() {
    let fakes = apt_stand_ins(&["s6", "runc"], 0);
    let out = run_with(
        &fakes,
        "scripts/ensure-packages",
        &["s6", "podman", "runc", "tini"],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let installs: Vec<String> = fakes
        .logged()
        .into_iter()
        .filter(|l| l.starts_with("apt-get"))
        .collect();
    let install = "apt-get -o DPkg::Lock::Timeout=600 install -y -q podman tini";
    assert_eq!(
        installs,
        [
            install,
            "apt-get -o DPkg::Lock::Timeout=600 update -q",
            install
        ],
        "{out:?}"
    );
}

#[test]
fn ensure_packages_with_nothing_missing_runs_no_apt_get_even_as_non_root() {
    let fakes = apt_stand_ins(&["s6", "podman"], 1000);
    let out = run_with(&fakes, "scripts/ensure-packages", &["s6", "podman"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    assert!(
        !fakes.logged().iter().any(|l| l.starts_with("apt-get")),
        "{:?}",
        fakes.logged()
    );
}

#[test]
fn ensure_packages_without_dpkg_or_apt_get_looks_for_the_programs_and_never_fails() {
    // A machine that is not Debian: PATH holds only what the script needs
    // besides dpkg and apt-get, and a stand-in s6-svscan (s6 installed).
    let fakes = stand_ins();
    fakes.add("s6-svscan", "exit 0");
    let tools = fakes.dir().join("tools");
    fs::create_dir(&tools).expect("mkdir");
    for tool in ["flock", "grep", "id"] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no {tool} on this machine"));
        std::os::unix::fs::symlink(real, tools.join(tool)).expect("symlink");
    }
    let path = format!(
        "{}:{}",
        fakes.program("s6-svscan").parent().expect("bin").display(),
        tools.display()
    );
    let ensure = |packages: &[&str]| {
        run(
            Command::new(repo().join("scripts/ensure-packages"))
                .args(packages)
                .env("PATH", &path)
                .env_remove("HERMES_ENSURE_PACKAGES_LOCKED"),
            LIMIT,
        )
    };
    let out = ensure(&["s6"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    let out = ensure(&["s6", "podman"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            0,
            "ensure-packages: no apt-get here; not found: podman (install them to run what needs them)\n"
        ),
        "{out:?}"
    );
}

#[test]
fn ensure_packages_missing_some_as_non_root_says_what_is_needed() {
    let fakes = apt_stand_ins(&["s6"], 1000);
    let out = run_with(&fakes, "scripts/ensure-packages", &["s6", "podman"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (1, "ensure-packages: root is needed to install: podman\n"),
        "{out:?}"
    );
    assert!(
        !fakes.logged().iter().any(|l| l.starts_with("apt-get")),
        "{:?}",
        fakes.logged()
    );
}

// --- the documented examples ----------------------------------------------------

/// The heartbeat's path in every image: where Dockerfile.heartbeat puts it,
/// and gatewayctl's build-time fallback (the Makefile's default).
const IMAGE_HEARTBEAT: &str = "/usr/local/bin/hermes-heartbeat";

fn repo_text(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_examples_name_the_paths_and_the_version_the_programs_really_have() {
    // The examples that no suite runs (Kubernetes, the s6-overlay
    // Dockerfile) still agree with what is built and tested.
    let heartbeat_image = repo_text("docker/Dockerfile.heartbeat");
    assert!(
        heartbeat_image.contains(&format!("ENTRYPOINT [\"{IMAGE_HEARTBEAT}\"]")),
        "{heartbeat_image}"
    );
    assert!(
        repo_text("Makefile").contains("HEARTBEAT_PATH ?= $(PREFIX)/bin/hermes-heartbeat")
            && repo_text("Makefile").contains("PREFIX ?= /usr/local"),
        "the build-time heartbeat path is no longer {IMAGE_HEARTBEAT}"
    );
    let crio = repo_text("docker/k8s/crio-pause.conf");
    assert!(
        crio.contains(&format!("pause_command = \"{IMAGE_HEARTBEAT}\"")),
        "{crio}"
    );
    let s6_image = repo_text("docker/Dockerfile.s6");
    for name in ["gatewayctl", "hermes-heartbeat"] {
        assert!(
            s6_image.contains(&format!("COPY target/{MUSL}/release/{name} ")),
            "Dockerfile.s6 does not copy what `make static` builds: {name}"
        );
    }
    assert!(
        s6_image.contains(&format!("{IMAGE_HEARTBEAT}\n")),
        "Dockerfile.s6 puts the heartbeat elsewhere"
    );
    // Every `hermes-heartbeat:<version>` image tag is this version.
    let version = env!("CARGO_PKG_VERSION");
    for path in [
        "docker/k8s/README.md",
        "docker/k8s/containerd-sandbox.toml",
        "docker/k8s/crio-pause.conf",
        "docker/k8s/placeholder-pod.yaml",
    ] {
        let text = repo_text(path);
        let tags: Vec<&str> = text
            .match_indices("hermes-heartbeat:")
            .map(|(at, tag)| &text[at + tag.len()..])
            .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            .map(|rest| {
                rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                    .next()
                    .unwrap_or("")
            })
            .collect();
        assert!(
            !tags.is_empty() && tags.iter().all(|t| *t == version),
            "{path}: {tags:?}"
        );
    }
}
