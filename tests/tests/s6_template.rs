//! The shipped s6 service directories under real s6 (the scan-directory
//! fixture). The gateway template (`docker/s6/gateway-template`): its finish
//! script leaves a gateway that exits 78 (misconfigured) down, and lets s6
//! restart one that ends any other way while it is wanted up, 0 included. The
//! Hermes gateway (it exits 1 on an unplanned SIGTERM, 0 on a planned stop)
//! comes back after `gatewayctl restart` and stays down after `stop`. The
//! keepalive example (`docker/s6/heartbeat`): ready through its
//! notification-fd, down at once on request. Both run as shipped, but for the
//! lines that name programs, pointed at the build under test; both send what
//! their program writes on stderr to the service's logger; and the gateway
//! template also runs entirely unmodified, finding gatewayctl and the gateway
//! through its own PATH fallback under an s6-svscan started with an empty
//! PATH or none at all. Every shipped `type` file says `longrun`.

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
const COMMAND_LINE: &str = r#"set -- hermes -p "$profile" gateway run --replace"#;
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
    shipped_services().join(service)
}

/// `docker/s6`: the shipped service directories.
fn shipped_services() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/s6")
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
        TemplateGateway::install_logged(fixture, profile, ending, None)
    }

    /// [`TemplateGateway::install`], with a logger (see [`add_logger`])
    /// appending the service's stdout to `log` when given.
    fn install_logged(
        fixture: &ScanDir,
        profile: &str,
        ending: &str,
        log: Option<&Path>,
    ) -> TemplateGateway {
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
        if let Some(log) = log {
            add_logger(&staged, log);
        }

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

/// Down, not wanted up, started once, still down (and not started again)
/// after s6's restart pause.
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
fn gateway_exiting_0_while_wanted_up_is_restarted() {
    // Nobody asked it to stop: s6 still wants it up, and brings it back.
    let (fixture, gateway, _) = run_until_first_exit(0);
    assert_restarted(&fixture, &gateway);
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

#[test]
fn a_hermes_gateway_comes_back_after_restart_and_stays_down_after_stop() {
    // The Hermes gateway exits 1 on a SIGTERM nobody planned, which a
    // restart is, and 0 on a stop that gatewayctl marked as planned; s6
    // wants it up after the restart and down after the stop.
    let fixture = ScanDir::start();
    let home = fixture.profile_home("coder");
    fs::create_dir_all(&home).expect("create the profile home");
    let ending = format!(
        "exec {} --hermes-home {}",
        s6::shell_quote(&s6::dummy_gateway().to_string_lossy()),
        s6::shell_quote(&home.to_string_lossy())
    );
    let gateway = TemplateGateway::install(&fixture, "coder", &ending);
    fixture.wait_armed(&["coder"]);
    let before = fixture.svstat("coder").pid;

    let out = fixture.ctl(&["restart", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    fixture.wait_svstat("coder", "up again with a new pid", |s| {
        s.up && s.pid.is_some() && s.pid != before
    });
    fixture.wait_armed(&["coder"]);
    assert_eq!(gateway.starts(), ["1 coder", "1 coder"]);

    let out = fixture.ctl(&["stop", "coder"]);
    assert_eq!(out.code, 0, "{out:?}");
    let stat = fixture.wait_svstat("coder", "down", |s| !s.up);
    assert_eq!(stat.exit_code, Some(0), "not a planned stop: {stat:?}");
    sleep(RESTART_WINDOW);
    let stat = fixture.svstat("coder");
    assert!(!stat.up && !stat.want_up, "{stat:?}");
    assert_eq!(gateway.starts().len(), 2, "started again after the stop");
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

/// Installs the heartbeat example as the service `keepalive`, as shipped
/// but for its run line, which runs the heartbeat under test with
/// `options`; with a logger (see [`add_logger`]) appending the service's
/// stdout to `log` when given. Waits until it is up and ready, and returns
/// its service directory.
fn install_heartbeat(fixture: &ScanDir, options: &str, log: Option<&Path>) -> PathBuf {
    let staged = fixture.root().join("keepalive-staged");
    fs::create_dir(&staged).expect("create the staging directory");
    for file in ["type", "notification-fd"] {
        program::copy(&shipped("heartbeat").join(file), &staged.join(file));
    }
    let run = fs::read_to_string(shipped("heartbeat").join("run")).expect("read the run script");
    let exec = format!(
        "exec {} {options}",
        s6::shell_quote(&bins::heartbeat().to_string_lossy())
    );
    s6::write_script(
        &staged.join("run"),
        &replace_line(&run, HEARTBEAT_LINE, &exec),
    );
    if let Some(log) = log {
        add_logger(&staged, log);
    }
    let service = fixture.scandir().join("keepalive");
    fs::rename(&staged, &service).expect("install the service");
    fixture.rescan();

    let mut stat = None;
    proc::wait_until(Duration::from_secs(20), "keepalive up and ready", || {
        stat = svstat_of(&service);
        stat.as_ref().is_some_and(|s| s.up && s.ready)
    });
    service
}

/// `s6-svc -wD -d` on the heartbeat service `service`: down and not wanted
/// up, the heartbeat having exited 143 on s6's SIGTERM.
fn take_heartbeat_down(service: &Path) {
    let out = run::run(
        std::process::Command::new("s6-svc")
            .args(["-wD", "-T", "10000", "-d"])
            .arg(service),
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 0, "s6-svc -wD -d: {out:?}");
    let stat = svstat_of(service).expect("s6-svstat on keepalive");
    assert!(!stat.up && !stat.want_up, "{stat:?}");
    assert_eq!(
        stat.exit_code,
        Some(143),
        "the heartbeat's exit on SIGTERM: {stat:?}"
    );
}

#[test]
fn heartbeat_service_reports_ready_and_goes_down_on_request() {
    let fixture = ScanDir::start();
    let service = install_heartbeat(&fixture, "-q -r 3", None);
    take_heartbeat_down(&service);
}

/// Gives the service directory `service` a logger, `log/run`, appending
/// what the service writes on stdout (s6 pipes only that to its logger) to
/// the file `log`.
fn add_logger(service: &Path, log: &Path) {
    fs::create_dir(service.join("log")).expect("create the log directory");
    s6::write_script(
        &service.join("log/run"),
        &format!(
            "#!/bin/sh\nexec cat >> {}\n",
            s6::shell_quote(&log.to_string_lossy())
        ),
    );
}

/// Waits (bounded) until `text` shows up either in the logger's file `log`
/// or in the fixture's svscan.log (where a service's stderr goes when its
/// run script does not send it to stdout), then checks it is in `log`.
fn assert_reaches_logger(fixture: &ScanDir, log: &Path, text: &str) {
    let svscan_log = fixture.root().join("svscan.log");
    let holds = |file: &Path| fs::read_to_string(file).is_ok_and(|t| t.contains(text));
    proc::wait_until(Duration::from_secs(20), &format!("{text:?} logged"), || {
        holds(log) || holds(&svscan_log)
    });
    assert!(
        holds(log),
        "{text:?} did not reach the service's logger: the run script lost stderr \
         (log: {:?}; svscan.log: {:?})",
        fs::read_to_string(log).unwrap_or_default(),
        fs::read_to_string(&svscan_log).unwrap_or_default()
    );
}

/// The template's `exec 2>&1`: what the gateway writes on stderr reaches
/// the service's logger, which s6 feeds from stdout only.
#[test]
fn gateway_stderr_goes_to_the_service_s_logger() {
    let fixture = ScanDir::start();
    let log = fixture.root().join("gateway-coder.log");
    let text = "gateway-coder: this on stderr";
    TemplateGateway::install_logged(
        &fixture,
        "coder",
        &format!("echo '{text}' >&2\nexit 78"),
        Some(&log),
    );
    assert_reaches_logger(&fixture, &log, text);
}

/// The heartbeat example's `exec 2>&1`: the heartbeat's exit line (on
/// stderr; the shipped `-q` silences it, so it is left out here) reaches
/// the service's logger.
#[test]
fn heartbeat_stderr_goes_to_the_service_s_logger() {
    let fixture = ScanDir::start();
    let log = fixture.root().join("keepalive.log");
    let service = install_heartbeat(&fixture, "-r 3", Some(&log));
    take_heartbeat_down(&service);
    assert_reaches_logger(&fixture, &log, "hermes-heartbeat: SIGTERM, exiting 143");
}

/// s6-svscan ignores `type`; s6-rc reads it when it compiles the service
/// directories, and every shipped service is a longrun.
#[test]
fn shipped_services_are_longruns() {
    let mut checked = Vec::new();
    let services = fs::read_dir(shipped_services()).expect("read docker/s6");
    for entry in services.flatten().filter(|e| e.path().is_dir()) {
        let type_file = entry.path().join("type");
        let text = fs::read_to_string(&type_file)
            .unwrap_or_else(|e| panic!("read {}: {e}", type_file.display()));
        assert_eq!(text, "longrun\n", "{}", type_file.display());
        checked.push(entry.file_name().to_string_lossy().into_owned());
    }
    for service in ["gateway-template", "heartbeat"] {
        assert!(
            checked.iter().any(|c| c == service),
            "{service} not checked"
        );
    }
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
    unmodified_template_runs(SvscanPath::Empty);
}

#[test]
fn unmodified_template_puts_the_caller_s_path_first() {
    unmodified_template_runs(SvscanPath::Bin);
}

/// With no PATH in its environment at all, /bin/sh searches a default of
/// its own that it does not export: only the template's `export PATH` gives
/// the gateway one.
#[test]
fn unmodified_template_exports_a_path_when_the_caller_has_none() {
    unmodified_template_runs(SvscanPath::Absent);
}

/// The PATH s6-svscan starts with in [`unmodified_template_runs`].
#[derive(Clone, Copy)]
enum SvscanPath {
    /// `PATH=` (empty); the programs only in `/usr/local/bin`.
    Empty,
    /// No PATH variable (`env -i` alone); the programs only in
    /// `/usr/local/bin`.
    Absent,
    /// PATH names only the directory holding the programs; `/usr/local/bin`
    /// is empty.
    Bin,
}

/// What `${PATH:+$PATH:}` gives in /bin/sh started with no PATH in its
/// environment: the shell's own default search path, and a colon.
fn sh_default_path_prefix() -> String {
    let out = run::run(
        std::process::Command::new("/bin/sh")
            .env_clear()
            .args(["-c", r#"printf %s "${PATH:+$PATH:}""#]),
        Duration::from_secs(10),
    );
    assert_eq!(out.code, 0, "/bin/sh -c: {out:?}");
    out.stdout
}

/// Runs the shipped template, unmodified, under s6-svscan in a private
/// mount namespace, with gatewayctl, the heartbeat and a `hermes` stand-in
/// found either in `/usr/local/bin` (a tmpfs) with an empty PATH or none,
/// or only in a directory that s6-svscan's PATH names, with
/// `/usr/local/bin` an empty tmpfs (see [`SvscanPath`]). Checks that the
/// gateway is started once through the supervised-child path with the PATH
/// the template makes, exported.
fn unmodified_template_runs(svscan_path: SvscanPath) {
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
    let install = format!(
        "cp {}/* /usr/local/bin/\n",
        s6::shell_quote(&bin.to_string_lossy())
    );
    // The setup's lines that fill /usr/local/bin, s6-svscan's PATH
    // assignment for `env -i`, and the PATH the gateway should get.
    let (install, path_env, expected_path) = match svscan_path {
        SvscanPath::Empty => (install, "PATH=''".to_owned(), fallback.to_owned()),
        SvscanPath::Absent => (
            install,
            String::new(),
            format!("{}{fallback}", sh_default_path_prefix()),
        ),
        SvscanPath::Bin => {
            let bin = bin.to_str().expect("UTF-8 path");
            (
                String::new(),
                format!("PATH={}", s6::shell_quote(bin)),
                format!("{bin}:{fallback}"),
            )
        }
    };
    s6::write_script(
        &setup,
        &format!(
            "#!/bin/sh\nset -e\nmount -t tmpfs tmpfs /usr/local/bin\n{install}\
             cd {scandir}\nexec /usr/bin/env -i {path_env} {svscan} -t0 .\n",
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
    // caller's PATH (if any; /bin/sh's default when it has none) then the
    // template's fallback, and the template's command line.
    let starts = fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(
        starts,
        format!("1|{expected_path}|-p coder gateway run --replace\n"),
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
