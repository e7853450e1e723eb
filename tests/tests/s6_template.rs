//! The shipped s6 service directories under real s6 (the scan-directory
//! fixture). The gateway template (`docker/s6/gateway-template`): its finish
//! script leaves a gateway that exits 78 (misconfigured) or 0 (chose to stop)
//! down, and lets s6 restart one that fails with any other code. The
//! keepalive example (`docker/s6/heartbeat`): ready through its
//! notification-fd, down at once on request. Both run as shipped, but for the
//! lines that name programs, pointed at the build under test; and the gateway
//! template also runs entirely unmodified, finding gatewayctl and the gateway
//! through its own PATH fallback under an s6-svscan started with an empty PATH.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use hermes_e2e::bins;
use hermes_e2e::ns::{NsOptions, PidNs};
use hermes_e2e::proc;
use hermes_e2e::program;
use hermes_e2e::run;
use hermes_e2e::s6::{self, ScanDir, SvStat};

/// The template's command line, where a user names the gateway.
const COMMAND_LINE: &str = r#"set -- hermes -p "$profile" gateway run"#;
/// The template's last line: gatewayctl found through PATH.
const EXEC_LINE: &str = r#"exec gatewayctl run -- "$@""#;
/// Longer than s6-supervise's one-second pause between two starts: a
/// service still down after this was not restarted.
const RESTART_WINDOW: Duration = Duration::from_millis(2500);

/// The heartbeat example's run line: the heartbeat by absolute path.
const HEARTBEAT_LINE: &str = "exec /usr/local/bin/hermes-heartbeat -q -r 3";

fn template_dir() -> PathBuf {
    shipped("gateway-template")
}

fn shipped(service: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docker/s6")
        .join(service)
}

/// `text` with the single line `line` replaced by `with`; panics unless the
/// line occurs exactly once, so a changed template fails loudly here.
fn replace_line(text: &str, line: &str, with: &str) -> String {
    let found = text.lines().filter(|l| *l == line).count();
    assert_eq!(
        found, 1,
        "the template's run script must hold `{line}` once"
    );
    text.lines()
        .map(|l| if l == line { with } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A gateway installed from the template, whose command records each start
/// (the value of HERMES_S6_SUPERVISED_CHILD and the profile it was given)
/// in a marker file, then ends with the shell line `ending` (`exit 78`,
/// `kill -KILL $$`).
struct TemplateGateway {
    profile: String,
    marker: PathBuf,
}

impl TemplateGateway {
    fn install(fixture: &ScanDir, profile: &str, ending: &str) -> TemplateGateway {
        let marker = fixture.root().join(format!("{profile}.starts"));
        let gateway = fixture.root().join(format!("{profile}-gateway"));
        s6::write_script(
            &gateway,
            &format!(
                "#!/bin/sh\necho \"$HERMES_S6_SUPERVISED_CHILD $1\" >> {}\n{ending}\n",
                s6::shell_quote(&marker.to_string_lossy())
            ),
        );

        let staged = fixture.root().join(format!("template-{profile}"));
        fs::create_dir(&staged).expect("create the staging directory");
        for file in ["type", "finish"] {
            program::copy(&template_dir().join(file), &staged.join(file));
        }
        let run = fs::read_to_string(template_dir().join("run")).expect("read the template's run");
        let command = format!(
            r#"set -- {} "$profile""#,
            s6::shell_quote(&gateway.to_string_lossy())
        );
        let exec = format!(
            r#"exec {} run -- "$@""#,
            s6::shell_quote(&bins::gatewayctl().to_string_lossy())
        );
        let run = replace_line(&run, COMMAND_LINE, &command);
        let run = replace_line(&run, EXEC_LINE, &exec);
        s6::write_script(&staged.join("run"), &run);

        let service = fixture.scandir().join(format!("gateway-{profile}"));
        fs::rename(&staged, &service).expect("install the service");
        fixture.rescan();
        proc::wait_until(
            Duration::from_secs(20),
            "s6-supervise on the template service",
            || fixture.is_supervised(profile),
        );
        TemplateGateway {
            profile: profile.to_owned(),
            marker,
        }
    }

    /// One line per start: `<HERMES_S6_SUPERVISED_CHILD> <profile>`.
    fn starts(&self) -> Vec<String> {
        fs::read_to_string(&self.marker)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// Starts a gateway exiting `code` and waits until s6 reports it down with
/// that exit code, after its first start.
fn run_until_first_exit(code: u8) -> (ScanDir, TemplateGateway, SvStat) {
    let fixture = ScanDir::start();
    let gateway = TemplateGateway::install(&fixture, "coder", &format!("exit {code}"));
    let stat = fixture.wait_svstat(&gateway.profile, "down after its first run", |s| {
        !s.up && s.exit_code == Some(i32::from(code))
    });
    (fixture, gateway, stat)
}

/// The assertions shared by 78 and 0: down, not wanted up, started once,
/// still down (and not started again) after s6's restart pause.
fn assert_left_down(code: u8) {
    let (fixture, gateway, _) = run_until_first_exit(code);
    let stat = fixture.wait_svstat(&gateway.profile, "no longer wanted up", |s| !s.want_up);
    assert!(!stat.up, "gateway-coder is up: {stat:?}");
    sleep(RESTART_WINDOW);
    let stat = fixture.svstat(&gateway.profile);
    assert!(
        !stat.up && !stat.want_up,
        "gateway-coder came back: {stat:?}"
    );
    assert_eq!(stat.exit_code, Some(i32::from(code)), "{stat:?}");
    assert_eq!(gateway.starts(), ["1 coder"], "starts of gateway-coder");
}

#[test]
fn gateway_exiting_78_is_left_down() {
    assert_left_down(78);
}

#[test]
fn gateway_exiting_0_is_left_down() {
    assert_left_down(0);
}

#[test]
fn gateway_exiting_1_is_restarted() {
    let (fixture, gateway, _) = run_until_first_exit(1);
    assert_restarted(&fixture, &gateway);
}

#[test]
fn gateway_killed_by_a_signal_is_restarted() {
    // A crash by signal (256 and the signal for finish) is not a choice to
    // stop: s6 brings it back.
    let fixture = ScanDir::start();
    let gateway = TemplateGateway::install(&fixture, "coder", "kill -KILL $$");
    fixture.wait_svstat(&gateway.profile, "down after its first run", |s| {
        !s.up && s.signal.as_deref() == Some("SIGKILL")
    });
    assert_restarted(&fixture, &gateway);
}

/// Waits for a second start of `gateway`, still wanted up, each start
/// through the supervised-child path.
fn assert_restarted(fixture: &ScanDir, gateway: &TemplateGateway) {
    proc::wait_until(
        Duration::from_secs(20),
        "a second start of gateway-coder",
        || gateway.starts().len() >= 2,
    );
    assert!(fixture.svstat(&gateway.profile).want_up, "s6 gave up on it");
    assert!(
        gateway.starts().iter().all(|s| s == "1 coder"),
        "{:?}",
        gateway.starts()
    );
}

/// `s6-svstat -o ...` of the service directory `dir`.
fn svstat_of(dir: &Path) -> Option<SvStat> {
    let out = run::run(
        std::process::Command::new("s6-svstat")
            .arg("-o")
            .arg(s6::SVSTAT_FIELDS)
            .arg(dir),
        Duration::from_secs(10),
    );
    (out.code == 0)
        .then(|| SvStat::parse(out.stdout.trim()))
        .flatten()
}

#[test]
fn heartbeat_service_reports_ready_and_goes_down_on_request() {
    let fixture = ScanDir::start();
    let staged = fixture.root().join("keepalive-staged");
    fs::create_dir(&staged).expect("create the staging directory");
    for file in ["type", "notification-fd"] {
        program::copy(&shipped("heartbeat").join(file), &staged.join(file));
    }
    let run = fs::read_to_string(shipped("heartbeat").join("run")).expect("read the run script");
    let exec = format!(
        "exec {} -q -r 3",
        s6::shell_quote(&bins::heartbeat().to_string_lossy())
    );
    s6::write_script(
        &staged.join("run"),
        &replace_line(&run, HEARTBEAT_LINE, &exec),
    );
    let service = fixture.scandir().join("keepalive");
    fs::rename(&staged, &service).expect("install the service");
    fixture.rescan();

    let mut stat = None;
    proc::wait_until(Duration::from_secs(20), "keepalive up and ready", || {
        stat = svstat_of(&service);
        stat.as_ref().is_some_and(|s| s.up && s.ready)
    });
    let out = run::run(
        std::process::Command::new("s6-svc")
            .args(["-wD", "-T", "10000", "-d"])
            .arg(&service),
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "s6-svc -wD -d: {out:?}");
    let stat = svstat_of(&service).expect("s6-svstat on keepalive");
    assert!(!stat.up && !stat.want_up, "{stat:?}");
    assert_eq!(
        stat.exit_code,
        Some(143),
        "the heartbeat's exit on SIGTERM: {stat:?}"
    );
}

/// The first `name` in the clean PATH's directories, by absolute path.
fn which(name: &str) -> PathBuf {
    s6::CLEAN_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no {name} in {}", s6::CLEAN_PATH))
}

/// The template exactly as shipped, in the place it is written for: a
/// private mount namespace (and PID namespace, s6-svscan its PID 1) whose
/// `/usr/local/bin` is a tmpfs holding the static gatewayctl and heartbeat
/// and a `hermes` that records how it was started, then execs the dummy
/// gateway. s6-svscan starts with an empty PATH, so only the run script's
/// own `PATH=${PATH:+$PATH:}/usr/local/bin:...` line can find `gatewayctl`
/// and `hermes` by their bare names.
#[test]
fn unmodified_template_finds_gatewayctl_and_the_gateway_through_its_path_fallback() {
    unmodified_template_runs(false);
}

#[test]
fn unmodified_template_puts_the_caller_s_path_first() {
    unmodified_template_runs(true);
}

/// Runs the shipped template, unmodified, under s6-svscan in a private
/// mount namespace, with gatewayctl, the heartbeat and a `hermes` stand-in
/// found either in `/usr/local/bin` (a tmpfs) with an empty PATH, or
/// (`on_callers_path`) only in a directory that s6-svscan's PATH names,
/// with `/usr/local/bin` an empty tmpfs. Checks that the gateway is started
/// once through the supervised-child path with the PATH the template makes.
fn unmodified_template_runs(on_callers_path: bool) {
    let tmp = tempfile::Builder::new()
        .prefix("hermes-s6-template-")
        .tempdir()
        .expect("tempdir");
    let (bin, scandir) = (tmp.path().join("bin"), tmp.path().join("service"));
    let marker = tmp.path().join("hermes.starts");
    let service = scandir.join("gateway-coder");
    fs::create_dir_all(&bin).expect("mkdir bin");
    fs::create_dir_all(&service).expect("mkdir the service");
    for (from, name) in [
        (bins::gatewayctl(), "gatewayctl"),
        (bins::heartbeat(), "hermes-heartbeat"),
    ] {
        program::copy(&from, &bin.join(name));
    }
    s6::write_script(
        &bin.join("hermes"),
        &format!(
            "#!/bin/sh\necho \"$HERMES_S6_SUPERVISED_CHILD|$PATH|$*\" >> {}\nexec {}\n",
            s6::shell_quote(&marker.to_string_lossy()),
            s6::shell_quote(&s6::dummy_gateway().to_string_lossy())
        ),
    );
    for file in ["run", "finish", "type"] {
        program::copy(&template_dir().join(file), &service.join(file));
    }
    let host_bin = || fs::read_dir("/usr/local/bin").map(|d| d.count()).ok();
    let host_bin_before = host_bin();

    let setup = tmp.path().join("setup");
    let fallback = "/usr/local/bin:/command:/usr/bin:/bin";
    let (install, caller_path, expected_path) = if on_callers_path {
        let bin = bin.to_str().expect("UTF-8 path");
        (String::new(), bin.to_owned(), format!("{bin}:{fallback}"))
    } else {
        let quoted = s6::shell_quote(&bin.to_string_lossy());
        (
            format!("cp {quoted}/* /usr/local/bin/\n"),
            String::new(),
            fallback.to_owned(),
        )
    };
    s6::write_script(
        &setup,
        &format!(
            "#!/bin/sh\nset -e\nmount -t tmpfs tmpfs /usr/local/bin\n{install}\
             cd {scandir}\nexec /usr/bin/env -i PATH={path} {svscan} -t0 .\n",
            path = s6::shell_quote(&caller_path),
            scandir = s6::shell_quote(&scandir.to_string_lossy()),
            svscan = s6::shell_quote(&which("s6-svscan").to_string_lossy()),
        ),
    );
    let log_path = tmp.path().join("svscan.log");
    let log = fs::File::create(&log_path).expect("create svscan.log");
    let mut cmd = PidNs::command(&setup, &[] as &[&str], NsOptions { mount: true });
    cmd.stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log);
    let ns = s6::spawn_logged(&mut cmd, &log_path);

    let stat = s6::wait_for_svstat(&service, "gateway-coder up", |s| s.up);
    let mut host_pid = None;
    proc::wait_until(
        Duration::from_secs(20),
        "the dummy gateway as gateway-coder's process",
        || {
            host_pid = s6::armed_dummy_gateways(|_, cwd| (cwd == service).then(String::new))
                .into_values()
                .next();
            host_pid.is_some()
        },
    );
    let host_pid = host_pid.expect("found");
    let ns_pid = proc::status_field(host_pid, "NSpid")
        .and_then(|f| f.split_whitespace().last()?.parse().ok());
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(
        ns_pid, stat.pid,
        "s6 supervises another process than the dummy gateway; log:\n{log}"
    );
    // Started once, through gatewayctl's supervised-child path, with the
    // caller's PATH (if any) then the template's fallback, and the
    // template's command line.
    let starts = fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(
        starts,
        format!("1|{expected_path}|-p coder gateway run\n"),
        "log:\n{log}"
    );
    assert!(
        fs::read_to_string(format!("/proc/{host_pid}/environ"))
            .is_ok_and(|e| e.split('\0').any(|v| v == format!("PATH={expected_path}"))),
        "the gateway's exported PATH is not {expected_path}"
    );
    drop(ns);
    assert_eq!(
        proc::state(host_pid).filter(|&s| s != 'Z'),
        None,
        "the dummy gateway outlived the namespace"
    );
    assert_eq!(
        host_bin(),
        host_bin_before,
        "the host's /usr/local/bin changed: the tmpfs was not private"
    );
}
