//! Bad input to gatewayctl: one clear line, the documented exit code, and
//! nothing touched. Invalid profile names never reach s6 (proven with
//! stand-in s6 programs that record being run), s6's own failures are
//! rendered with its reason, usage errors say `usage:`, and no argument list
//! ever makes it panic.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hermes_e2e::ns::{Mount, in_private_mounts};
use hermes_e2e::program;
use hermes_e2e::rng::Rng;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};
use hermes_e2e::tokens;

/// Stand-ins for the s6 programs, in a directory for `HERMES_S6_BINDIR`:
/// each appends its name and arguments to `calls.log` and exits 0.
fn stand_ins(s6: &ScanDir) -> (PathBuf, PathBuf) {
    let dir = s6.root().join("fake-s6");
    let log = s6.root().join("calls.log");
    fs::create_dir_all(&dir).expect("mkdir");
    for name in [
        "s6-svc",
        "s6-svstat",
        "s6-svok",
        "s6-svlisten1",
        "s6-svwait",
    ] {
        s6::write_script(
            &dir.join(name),
            &format!(
                "#!/bin/sh\necho \"{name} $*\" >> {}\nexit 0\n",
                s6::shell_quote(&log.to_string_lossy())
            ),
        );
    }
    (dir, log)
}

fn calls(log: &PathBuf) -> String {
    fs::read_to_string(log).unwrap_or_default()
}

fn ctl_with_bindir(s6: &ScanDir, bindir: &PathBuf, args: &[&str]) -> Output {
    let mut cmd = s6.gatewayctl();
    cmd.env("HERMES_S6_BINDIR", bindir).args(args);
    run(&mut cmd, Duration::from_secs(30))
}

fn invalid_names() -> Vec<String> {
    vec![
        "../etc".into(),
        "a/b".into(),
        "UPPER".into(),
        "-x".into(),
        String::new(),
        "a".repeat(65),
        "has space".into(),
        "new\nline".into(),
        "_lead".into(),
        ".hidden".into(),
        "tab\there".into(),
        "café".into(),
    ]
}

fn assert_one_error_line(out: &Output, code: i32, what: &str) {
    assert_eq!(out.code, code, "{what}: {out:?}");
    assert_eq!(out.stdout, "", "{what}: {out:?}");
    assert_eq!(out.stderr_lines().len(), 1, "{what}: {out:?}");
    assert!(out.stderr.starts_with("✗ "), "{what}: {out:?}");
    assert!(out.stderr.ends_with('\n'), "{what}: {out:?}");
}

// --- invalid profile names ------------------------------------------------------

#[test]
fn stand_in_s6_programs_record_being_run() {
    // The proof below is only worth something if a valid action does reach them.
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let (bindir, log) = stand_ins(&s6);
    let out = ctl_with_bindir(&s6, &bindir, &["stop", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(calls(&log).starts_with("s6-svc "), "{:?}", calls(&log));
    assert!(calls(&log).contains("gateway-coder"), "{:?}", calls(&log));
}

#[test]
fn invalid_profile_names_exit_2_in_one_line_and_run_no_s6_program() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let (bindir, log) = stand_ins(&s6);
    for name in invalid_names() {
        let forms: Vec<Vec<&str>> = vec![
            vec!["start", &name],
            vec!["stop", &name],
            vec!["restart", &name],
            vec!["status", &name],
            vec!["stop", "--wait", &name],
            vec!["-p", &name, "stop"],
            vec!["--profile", &name, "restart"],
            vec!["-p", &name, "status"],
            vec!["-p", &name, "start", "--wait"],
            vec!["-p", &name, "list"],
        ];
        for args in forms {
            let out = ctl_with_bindir(&s6, &bindir, &args);
            assert_one_error_line(&out, 2, &format!("{args:?}"));
            if name != "-x" || args[0] == "-p" || args[0] == "--profile" {
                assert!(
                    out.stderr.starts_with("✗ invalid profile name '"),
                    "{args:?}: {out:?}"
                );
            }
        }
    }
    assert_eq!(calls(&log), "", "an s6 program ran for an invalid name");
    assert!(s6.svstat("coder").up);
}

#[test]
fn invalid_profile_name_in_hermes_home_is_a_usage_error() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let (bindir, log) = stand_ins(&s6);
    for name in ["UPPER", "has space", "_lead", "café"] {
        let mut cmd = s6.gatewayctl();
        cmd.env("HERMES_S6_BINDIR", &bindir)
            .env("HERMES_HOME", s6.home().join("profiles").join(name))
            .arg("stop");
        let out = run(&mut cmd, Duration::from_secs(30));
        assert_one_error_line(&out, 2, name);
        assert!(
            out.stderr.starts_with("✗ invalid profile name '"),
            "{out:?}"
        );
    }
    assert_eq!(calls(&log), "");
}

/// `run` with an invalid profile, by `-p`, `--profile`, `--profile=` or
/// `HERMES_HOME=<root>/profiles/<name>`, pointed at the fixture's scan
/// directory (so it is "under s6"): exit 2 in one line, nothing on stdout,
/// no s6 program run, and COMMAND not run, opted out or not. COMMAND is
/// `/bin/true` (it would exit 0) and a shell that appends to a marker file.
#[test]
fn run_with_an_invalid_profile_exits_2_and_neither_s6_nor_command_runs() {
    let s6 = ScanDir::with(&[Gateway::new("coder"), Gateway::new("default")]);
    let (bindir, log) = stand_ins(&s6);
    let marker = s6.root().join("command-ran");
    let marker_script = format!("echo ran >> {}", s6::shell_quote(&marker.to_string_lossy()));
    let commands: [&[&str]; 2] = [&["/bin/true"], &["/bin/sh", "-c", &marker_script]];
    // The marker works: the supervised child runs COMMAND in the foreground.
    let mut cmd = s6.gatewayctl();
    cmd.env("HERMES_S6_BINDIR", &bindir)
        .env("HERMES_S6_SUPERVISED_CHILD", "1")
        .args(["-p", "coder", "run", "--"])
        .args(commands[1]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(fs::read_to_string(&marker).unwrap_or_default(), "ran\n");
    fs::remove_file(&marker).expect("remove the marker");

    for command in commands {
        for opt_out in [&[][..], &["--no-supervise"]] {
            for name in ["UPPER", "../x", "_lead", "has space", ""] {
                let profile_eq = format!("--profile={name}");
                let given: [&[&str]; 3] = [&["-p", name], &["--profile", name], &[&profile_eq]];
                for profile in given {
                    let mut args: Vec<&str> = profile.to_vec();
                    args.push("run");
                    args.extend(opt_out);
                    args.push("--");
                    args.extend(command);
                    let out = ctl_with_bindir(&s6, &bindir, &args);
                    assert_one_error_line(&out, 2, &format!("{args:?}"));
                    assert!(
                        out.stderr.starts_with("✗ invalid profile name '"),
                        "{args:?}: {out:?}"
                    );
                }
            }
            for name in ["UPPER", "has space", "_lead", "café", "a.b"] {
                let mut cmd = s6.gatewayctl();
                cmd.env("HERMES_S6_BINDIR", &bindir)
                    .env("HERMES_HOME", s6.home().join("profiles").join(name))
                    .arg("run")
                    .args(opt_out)
                    .arg("--")
                    .args(command);
                let out = run(&mut cmd, Duration::from_secs(30));
                let what = format!("HERMES_HOME=.../profiles/{name} run {opt_out:?} {command:?}");
                assert_one_error_line(&out, 2, &what);
                assert!(
                    out.stderr.starts_with("✗ invalid profile name '"),
                    "{what}: {out:?}"
                );
            }
        }
    }
    // Even where run would not use the profile: as the supervised child,
    // and outside s6 (no scan directory named).
    let mut supervised = s6.gatewayctl();
    supervised
        .env("HERMES_S6_BINDIR", &bindir)
        .env("HERMES_S6_SUPERVISED_CHILD", "1");
    for (what, mut cmd) in [
        ("supervised child", supervised),
        ("outside s6", s6::gatewayctl_clean()),
    ] {
        cmd.args(["-p", "BAD", "run", "--"]).args(commands[1]);
        let out = run(&mut cmd, Duration::from_secs(30));
        assert_one_error_line(&out, 2, what);
    }
    assert_eq!(calls(&log), "", "an s6 program ran for an invalid name");
    assert!(!marker.exists(), "COMMAND ran for an invalid name");
    for p in ["coder", "default"] {
        let st = s6.svstat(p);
        assert!(st.up && st.want_up, "{p}: {st:?}");
        assert_eq!(s6.desired_state(p), None, "{p}");
    }
}

#[test]
fn invalid_name_with_a_newline_is_shown_escaped_on_one_line() {
    let s6 = ScanDir::start();
    let out = s6.ctl(&["stop", "evil\nname"]);
    assert_one_error_line(&out, 2, "newline");
    assert!(!out.stderr.contains("evil\nname"), "{out:?}");
}

#[test]
fn name_of_64_characters_is_valid() {
    let s6 = ScanDir::start();
    let (bindir, log) = stand_ins(&s6);
    let name = "a".repeat(64);
    let out = ctl_with_bindir(&s6, &bindir, &["stop", &name]);
    assert_one_error_line(&out, 1, "64 characters");
    assert!(
        out.stderr
            .starts_with(&format!("✗ no such gateway '{name}'")),
        "{out:?}"
    );
    assert_eq!(
        calls(&log),
        "",
        "an s6 program ran for an unregistered gateway"
    );
}

// --- unknown profile -----------------------------------------------------------

#[test]
fn unknown_profile_names_the_fix_and_exits_1() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    for action in ["start", "stop", "restart", "status"] {
        let out = s6.ctl(&[action, "typo"]);
        assert_eq!(out.code, 1, "{action}: {out:?}");
        assert_eq!(out.stdout, "", "{action}: {out:?}");
        assert_eq!(
            out.stderr,
            "✗ no such gateway 'typo': register it with `hermes profile create typo` first, or pass an existing profile name via `-p <name>`\n",
            "{action}: {out:?}"
        );
    }
}

#[test]
fn a_plain_file_or_dangling_link_named_like_a_gateway_is_no_such_gateway() {
    // Listing skips them, so acting on one by name says the same, before any
    // s6 program is run.
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    s6::write_file(&s6.scandir().join("gateway-plain"), "not a service\n");
    std::os::unix::fs::symlink(
        s6.root().join("nowhere"),
        s6.scandir().join("gateway-dangling"),
    )
    .expect("symlink");
    let (bindir, log) = stand_ins(&s6);
    for name in ["plain", "dangling"] {
        for action in ["start", "stop", "restart", "status"] {
            let out = ctl_with_bindir(&s6, &bindir, &[action, name]);
            assert_eq!(out.code, 1, "{action} {name}: {out:?}");
            assert!(
                out.stderr
                    .starts_with(&format!("✗ no such gateway '{name}': ")),
                "{action} {name}: {out:?}"
            );
        }
    }
    assert_eq!(calls(&log), "", "an s6 program was run");
}

// --- s6's own failures ---------------------------------------------------------

fn as_nobody(s6: &ScanDir, args: &[&str]) -> Output {
    run(
        &mut s6::as_nobody(s6.gatewayctl().args(args)),
        Duration::from_secs(30),
    )
}

#[test]
fn an_unreadable_scan_directory_is_one_line_and_exit_1_not_an_empty_one() {
    // Searchable but not readable for the caller: `.s6-svscan` is found,
    // the listing is refused, and that is a failure, not "no gateways".
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    s6::chmod(s6.scandir(), 0o711);
    for args in [&["list"][..], &["status", "--all"], &["stop", "--all"]] {
        let out = as_nobody(&s6, args);
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (
                1,
                "",
                format!(
                    "✗ cannot read the scan directory {}: Permission denied (os error 13)\n",
                    s6.scandir().display()
                )
                .as_str()
            ),
            "{args:?}"
        );
    }
    s6::chmod(s6.scandir(), 0o755);
    assert!(s6.svstat("coder").up, "acted on a gateway");
}

#[test]
fn permission_denied_on_the_control_fifo_is_rc_111_with_s6s_reason() {
    let s6 = ScanDir::with(&[Gateway::new("writer")]);
    s6.open_control_to_all_users(&["writer"]);
    for action in ["start", "stop", "restart"] {
        let out = as_nobody(&s6, &[action, "writer"]);
        assert_one_error_line(&out, 1, action);
        let line = out.stderr.trim_end();
        assert!(
            line.starts_with(&format!(
                "✗ s6-svc {action} on 'gateway-writer' failed (rc=111): s6-svc: {}: unable to control ",
                s6::control_failure_word()
            )),
            "{out:?}"
        );
        assert!(line.ends_with(": Permission denied"), "{out:?}");
    }
    let st = s6.svstat("writer");
    assert!(st.up && st.want_up, "{st:?}");
    assert_eq!(s6.desired_state("writer"), None);
}

#[test]
fn registered_gateway_without_a_supervisor_reports_supervisor_not_listening() {
    let s6 = ScanDir::start();
    s6.install(&[Gateway::new("ghost")]);
    let out = s6.ctl(&["stop", "ghost"]);
    assert_one_error_line(&out, 1, "stop ghost");
    let line = out.stderr.trim_end();
    // s6 2.11 exits 100 here with a fatal line, 2.14+ 102 with a warning.
    assert!(
        line.starts_with(&format!(
            "✗ s6-svc stop on 'gateway-ghost' failed (rc={}): s6-svc: {}: ",
            s6::rc_not_listening(),
            s6::control_failure_word()
        )),
        "{out:?}"
    );
    assert!(line.ends_with("supervisor not listening"), "{out:?}");
    assert_eq!(s6.desired_state("ghost"), None);
}

/// `args` with HERMES_S6_BINDIR=`bindir`, which lacks `program`: exit 1 and
/// the one line saying where it looked.
fn assert_program_not_found(s6: &ScanDir, bindir: &PathBuf, args: &[&str], program: &str) {
    let out = ctl_with_bindir(s6, bindir, args);
    assert_one_error_line(&out, 1, &format!("{args:?}"));
    assert_eq!(
        out.stderr,
        format!("✗ {program} not found (looked in {})\n", bindir.display()),
        "{args:?}"
    );
}

#[test]
fn s6_bindir_without_s6_programs_says_where_it_looked() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let empty = s6.root().join("no-s6-here");
    fs::create_dir(&empty).expect("mkdir");
    // A non-executable file of the right name does not count.
    s6::write_file(&empty.join("s6-svc"), "#!/bin/sh\nexit 0\n");
    // Each command needs only the programs it runs: status reads with
    // s6-svstat, the actions write with s6-svc.
    for (args, program) in [
        (&["stop", "coder"][..], "s6-svc"),
        (&["stop", "--all"], "s6-svc"),
        (&["status", "coder"], "s6-svstat"),
    ] {
        assert_program_not_found(&s6, &empty, args, program);
    }
    let st = s6.svstat("coder");
    assert!(st.up && st.want_up, "{st:?}");
}

#[test]
fn s6_bindir_without_s6_svstat_says_so_once_for_status_and_restart() {
    // A restart reads the state first, so it needs s6-svstat too: one line
    // before anything runs, not one failure per gateway.
    let s6 = ScanDir::with(&[Gateway::new("coder"), Gateway::new("writer")]);
    let (stand_ins, log) = stand_ins(&s6);
    let dir = s6.root().join("only-svc");
    fs::create_dir(&dir).expect("mkdir");
    program::copy(&stand_ins.join("s6-svc"), &dir.join("s6-svc"));
    for args in [
        &["status", "coder"][..],
        &["status", "--all"],
        &["restart", "coder"],
        &["restart", "--all"],
    ] {
        assert_program_not_found(&s6, &dir, args, "s6-svstat");
    }
    assert_eq!(calls(&log), "", "an s6 program ran");
    assert_eq!(s6.desired_state("coder"), None);
}

#[test]
fn list_runs_no_s6_program_so_needs_none() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let empty = s6.root().join("no-s6-here");
    fs::create_dir(&empty).expect("mkdir");
    let out = ctl_with_bindir(&s6, &empty, &["list"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "coder\n"), "{out:?}");
}

#[test]
fn with_s6_nowhere_the_usual_places_are_named_in_their_order() {
    // /usr/bin hidden (Debian's s6 is there), and s6-overlay's places where
    // they exist: none of the places has it.
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let mut cmd = s6.gatewayctl();
    cmd.env_remove("HERMES_S6_BINDIR").args(["stop", "coder"]);
    let hidden: Vec<Mount> = ["/usr/bin", "/command", "/package/admin/s6/command"]
        .into_iter()
        .map(Path::new)
        .filter(|dir| dir.is_dir())
        .map(Mount::empty_tmpfs)
        .collect();
    in_private_mounts(&mut cmd, hidden);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            1,
            "✗ s6-svc not found (looked in /command, /package/admin/s6/command, /usr/bin, /bin, /usr/local/bin)\n"
        ),
        "{out:?}"
    );
    assert!(s6.svstat("coder").up);
}

#[test]
fn empty_s6_bindir_means_the_usual_places() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let mut cmd = s6.gatewayctl();
    cmd.env("HERMES_S6_BINDIR", "").args(["stop", "coder"]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out:?}");
    s6.wait_svstat("coder", "down", |s| !s.up);
}

// --- usage errors --------------------------------------------------------------

#[test]
fn usage_errors_exit_2_with_one_usage_line() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["--frob"],
        &["stop", "--frob", "coder"],
        &["-p"],
        &["--profile"],
        &["--scandir"],
        &["stop", "-T"],
        &["stop", "--timeout"],
        &["stop", "-T", "abc", "coder"],
        &["stop", "-T", "-1", "coder"],
        &["stop", "-T", "86401", "coder"],
        &["stop", "-T", "1e20", "coder"],
        &["stop", "--all", "coder"],
        &["restart", "coder", "--all"],
        &["status", "--all", "coder"],
        &["start", "--all"],
        &["stop", "a", "b"],
        &["list", "extra"],
        &["list", "--all"],
        &["status", "--wait"],
        &["start", "--json"],
    ];
    for args in cases {
        let out = s6.ctl(args);
        assert_one_error_line(&out, 2, &format!("{args:?}"));
        assert!(out.stderr.contains("usage:"), "{args:?}: {out:?}");
    }
    // The whole line, once: what was wrong (quoted, cut), the usage, the hint.
    let usage = "usage: gatewayctl [-p|--profile NAME] [--scandir DIR] \
                 start|stop|restart|status|list|run|reconcile|register|unregister|check ... \
                 (see gatewayctl --help)";
    for (command, shown) in [
        ("frobnicate".to_string(), "'frobnicate'".to_string()),
        ("f".repeat(500), format!("'{}...'", "f".repeat(80))),
    ] {
        let out = s6.ctl(&[&command]);
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(
            out.stderr,
            format!("✗ unknown command {shown}; {usage}\n"),
            "{out:?}"
        );
    }
    assert!(s6.svstat("coder").up);
    assert_eq!(s6.desired_state("coder"), None);
}

#[test]
fn help_and_version_succeed_on_stdout() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let out = run(s6::gatewayctl_clean().args(args), Duration::from_secs(10));
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stdout.contains("usage:"), "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}: {out:?}");
    }
    let out = run(
        s6::gatewayctl_clean().arg("--version"),
        Duration::from_secs(10),
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout_lines().len(), 1, "{out:?}");
}

// --- never a panic -----------------------------------------------------------------

#[test]
fn malformed_argument_lists_never_panic_and_exit_0_1_or_2() {
    let s6 = ScanDir::with(&[Gateway::new("coder"), Gateway::new("default")]);
    let pool = tokens::pool();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..400 {
        let len = rng.below(6);
        let args: Vec<OsString> = (0..len)
            .map(|_| pool[rng.below(pool.len())].clone())
            .collect();
        // Half run against the fixture's scan directory, half as they are
        // (not under s6 here).
        let mut cmd = if round % 2 == 0 {
            s6.gatewayctl()
        } else {
            s6::gatewayctl_clean()
        };
        cmd.env("RUST_BACKTRACE", "1").args(&args);
        let out = run(&mut cmd, Duration::from_secs(60));
        let all = format!("{}{}", out.stdout, out.stderr);
        for bad in [
            "panicked",
            "RUST_BACKTRACE",
            "stack backtrace",
            "thread 'main'",
        ] {
            assert!(!all.contains(bad), "{args:?}: {out:?}");
        }
        assert!([0, 1, 2].contains(&out.code), "{args:?}: {out:?}");
        if out.code == 2 {
            assert!(out.stderr_lines().len() <= 1, "{args:?}: {out:?}");
            assert_eq!(out.stdout, "", "{args:?}: {out:?}");
        }
    }
}
