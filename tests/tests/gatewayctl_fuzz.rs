//! Property test of gatewayctl's whole command line and of profile-name
//! validation: a few thousand argument lists (a seeded generator, so every
//! failure replays; non-UTF-8 bytes included) run against the real static
//! binary, with stand-in s6 programs that record each run. Whatever the
//! input: no panic, no death by signal, exit 0, 1 or 2 only, and an invalid
//! profile name never gets as far as running an s6 program.
//!
//! `run` is generated in the structured cases only, always as
//! `run [--no-supervise] [--] /bin/true` with `HERMES_HEARTBEAT=/bin/true`,
//! so COMMAND and a hand-over to the "heartbeat" both end at once with exit
//! 0; the token soup never holds `run` (it would exec whatever followed).
//!
//! HERMES_FUZZ_SEED replays another seed; HERMES_FUZZ_CASES scales the count.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hermes_e2e::rng::Rng;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6;
use hermes_e2e::tokens;
use hermes_e2e::verb::Verb;

/// Profiles whose `gateway-<name>` directory is in the fake scan directory.
const REGISTERED: [&str; 6] = [
    "default",
    "coder",
    "a",
    "0",
    "x_y-z",
    "a123456789b123456789c123456789d123456789e123456789f123456789ghij",
];

/// What the stand-in `s6-svstat` prints: up, pid 812, 45 s.
const SVSTAT_UP: &str = "true true true false 812 -1 NA 45";

/// The COMMAND of every generated `run`, and the heartbeat it hands over to.
const TRUE: &str = "/bin/true";

/// What follows `✓ gateway-<p>` in the breadcrumb `run` prints on stderr
/// once it has handed the gateway to s6.
const BREADCRUMB_TAIL: &str = " is running under s6 supervision; this CMD process now only keeps the container alive. \
     To run the gateway in the foreground instead, pass --no-supervise or set HERMES_GATEWAY_NO_SUPERVISE=1.";

/// `run`'s refusal of an opt-out while the gateway is up under s6.
const REFUSED: &str = "✗ A gateway is already running under s6 (container supervisor) for this profile. \
     Stop it first with `gatewayctl stop`, or run without the opt-out to use it.\n";

// --- a seeded generator (hermes_e2e::rng) ------------------------------------

fn seed() -> u64 {
    std::env::var("HERMES_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x4845_524D_4553_0007)
}

/// `base` cases, times HERMES_FUZZ_CASES/100 when set (a percentage).
fn cases(base: usize) -> usize {
    let percent = std::env::var("HERMES_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100);
    (base * percent / 100).max(1)
}

// --- the oracle: the profile-name rule, written out independently ----------

/// `^[a-z0-9][a-z0-9_-]{0,63}$`, on raw bytes.
fn valid_name(name: &[u8]) -> bool {
    let first_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let rest_ok = |b: u8| first_ok(b) || b == b'_' || b == b'-';
    match name.split_first() {
        Some((&first, rest)) => {
            first_ok(first) && rest.len() <= 63 && rest.iter().all(|&b| rest_ok(b))
        }
        None => false,
    }
}

// --- names ------------------------------------------------------------------

const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-";

/// Pieces that make a name invalid, UTF-8 or not (never NUL: argv cannot
/// hold it).
const POISON: &[&[u8]] = &[
    b"A",
    b"Z",
    b".",
    b"..",
    b"/",
    b"../",
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"\x1b[31m",
    b"\x7f",
    b"=",
    b":",
    b"@",
    b"*",
    b"?",
    b"'",
    b"\"",
    b"\\",
    b"$(id)",
    b"%s%n",
    b"\xc3\xa9",
    b"\xe2\x80\xae",
    b"\xef\xbc\xa1",
    b"\xf0\x9f\x99\x82",
    b"\xff",
    b"\xfe\xff",
    b"\x80",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\x01",
];

fn valid_random_name(rng: &mut Rng) -> Vec<u8> {
    let max = if rng.chance(10) { 64 } else { 12 };
    let len = 1 + rng.below(max);
    let mut name = vec![rng.byte_from(LOWER_DIGITS)];
    while name.len() < len {
        name.push(rng.byte_from(NAME_CHARS));
    }
    name
}

/// A name that is invalid by construction (checked against the oracle by
/// the caller anyway).
fn invalid_random_name(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        // A valid name with one poisoned spot.
        0 | 1 => {
            let mut name = valid_random_name(rng);
            let at = rng.below(name.len() + 1);
            let poison = rng.pick(POISON);
            name.splice(at..at, poison.iter().copied());
            name
        }
        // Too long.
        2 => {
            let len = 65 + rng.below(300);
            let mut name = vec![rng.byte_from(LOWER_DIGITS)];
            while name.len() < len {
                name.push(rng.byte_from(NAME_CHARS));
            }
            name
        }
        // A bad first character.
        3 => {
            let mut name = valid_random_name(rng);
            name[0] = *rng.pick(&[b'_', b'-', b'.', b' ', b'A', b'\n', 0xff]);
            name
        }
        // Random bytes, mostly not UTF-8.
        4 => random_bytes(rng, 60),
        _ => rng
            .pick(&[
                &b""[..],
                b"../etc",
                b"a/b",
                b"UPPER",
                b"Default",
                b"-x",
                b"--all",
                b"--",
                b"-",
                b".",
                b"..",
                b" default",
                b"default ",
                b"default\n",
                b"caf\xc3\xa9",
                b"caf\xff",
                b"\xff",
                b"gateway-coder",
                b"co der",
                b"\xef\xbc\xa1",
            ])
            .to_vec(),
    }
}

/// 1 to `max` random bytes, never NUL.
fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = 1 + rng.below(max);
    (0..n).map(|_| 1 + (rng.next_u64() % 255) as u8).collect()
}

fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

// --- the bench: a fake scan directory and stand-in s6 programs ----------------

/// A scan directory (with `.s6-svscan/`, so gatewayctl accepts it) holding the
/// [`REGISTERED`] gateways, their profile homes, and stand-in `s6-svc` and
/// `s6-svstat` that append `<name> <args>` to `$FUZZ_S6_LOG`.
struct Bench {
    tmp: tempfile::TempDir,
    scandir: PathBuf,
    bindir: PathBuf,
    home: PathBuf,
    /// Where a stand-in writes when `FUZZ_S6_LOG` did not reach it.
    stray_log: PathBuf,
    next_log: AtomicUsize,
}

impl Bench {
    fn new() -> Bench {
        let tmp = tempfile::Builder::new()
            .prefix("hermes-fuzz-")
            .tempdir()
            .expect("tempdir");
        let scandir = tmp.path().join("service");
        let bindir = tmp.path().join("fake-s6");
        let home = tmp.path().join("home");
        for dir in [
            scandir.join(".s6-svscan"),
            bindir.clone(),
            home.clone(),
            tmp.path().join("logs"),
            tmp.path().join("cwd"),
        ] {
            fs::create_dir_all(&dir).expect("mkdir");
        }
        for p in REGISTERED {
            fs::create_dir_all(scandir.join(format!("gateway-{p}"))).expect("mkdir service");
            let home = if p == "default" {
                home.clone()
            } else {
                home.join("profiles").join(p)
            };
            fs::create_dir_all(home).expect("mkdir profile home");
        }
        let stray_log = tmp.path().join("stray.log");
        let stray = s6::shell_quote(&stray_log.to_string_lossy());
        s6::write_script(
            &bindir.join("s6-svc"),
            &format!(
                "#!/bin/sh\n{}echo \"s6-svc $*\" >> \"${{FUZZ_S6_LOG:-{stray}}}\"\nexit 0\n",
                s6::USAGE_2_11
            ),
        );
        s6::write_script(
            &bindir.join("s6-svwait"),
            &format!("#!/bin/sh\necho \"s6-svwait $*\" >> \"${{FUZZ_S6_LOG:-{stray}}}\"\nexit 0\n"),
        );
        s6::write_script(
            &bindir.join("s6-svstat"),
            &format!(
                "#!/bin/sh\necho \"s6-svstat $*\" >> \"${{FUZZ_S6_LOG:-{stray}}}\"\necho '{SVSTAT_UP}'\n"
            ),
        );
        Bench {
            tmp,
            scandir,
            bindir,
            home,
            stray_log,
            next_log: AtomicUsize::new(0),
        }
    }

    fn service_dir(&self, profile: &str) -> PathBuf {
        self.scandir.join(format!("gateway-{profile}"))
    }

    /// Runs gatewayctl with `args` and `env` on top of a clean environment
    /// (PATH, the stand-ins, HERMES_HOME, the scan directory by environment
    /// unless `scandir_env` is false); gives its output and what the
    /// stand-ins recorded.
    fn run(
        &self,
        args: &[OsString],
        env: &[(&str, OsString)],
        scandir_env: bool,
    ) -> (Output, String) {
        let n = self.next_log.fetch_add(1, Ordering::Relaxed);
        let log = self.tmp.path().join("logs").join(format!("{n}.log"));
        let mut cmd = s6::gatewayctl_clean();
        cmd.current_dir(self.tmp.path().join("cwd"))
            .env("HERMES_S6_BINDIR", &self.bindir)
            .env("HERMES_HOME", &self.home)
            .env("FUZZ_S6_LOG", &log);
        if scandir_env {
            cmd.env("S6_PROFILE_GATEWAY_SCANDIR", &self.scandir);
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.args(args);
        let out = run(&mut cmd, Duration::from_secs(30));
        let recorded = fs::read_to_string(&log).unwrap_or_default();
        let _ = fs::remove_file(&log);
        (out, recorded)
    }
}

/// How a failing case is shown: its argv and environment, escaped.
fn describe(args: &[OsString], env: &[(&str, OsString)]) -> String {
    format!("argv {args:?} env {env:?}")
}

// --- properties ---------------------------------------------------------------

/// What holds for every argument list.
fn check_always(what: &str, out: &Output, recorded: &str, bench: &Bench) {
    assert!(
        matches!(out.code, 0..=2),
        "{what}: exit code outside 0/1/2 (a signal death shows as 128+N): {out:?}"
    );
    for text in [&out.stdout, &out.stderr] {
        for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(
                !text.contains(bad),
                "{what}: {bad:?} in the output: {out:?}"
            );
        }
    }
    for line in out.stderr.lines() {
        let breadcrumb = line
            .strip_prefix("✓ gateway-")
            .is_some_and(|rest| rest.ends_with(BREADCRUMB_TAIL));
        assert!(
            line.starts_with("✗ ") || line.starts_with("⚠ ") || breadcrumb,
            "{what}: a stderr line that is not an error or warning line: {line:?}\n{out:?}"
        );
    }
    if out.code != 0 {
        assert!(
            !out.stderr.is_empty(),
            "{what}: failed without a word: {out:?}"
        );
    }
    if out.code == 2 {
        assert_eq!(
            recorded, "",
            "{what}: an s6 program ran for a usage error: {out:?}"
        );
        assert_eq!(out.stdout, "", "{what}: {out:?}");
        assert_eq!(out.stderr_lines().len(), 1, "{what}: {out:?}");
        assert!(
            out.stderr.contains("; usage: gatewayctl ")
                || out.stderr.starts_with("✗ invalid profile name '"),
            "{what}: exit 2 without a usage or invalid-name line: {out:?}"
        );
    }
    // Whatever ran, ran on a registered gateway of this scan directory.
    for line in recorded.lines() {
        let dir = line.rsplit(' ').next().unwrap_or_default();
        assert!(
            REGISTERED
                .iter()
                .any(|p| Path::new(dir) == bench.service_dir(p)),
            "{what}: an s6 program ran on something else: {line:?}\n{out:?}"
        );
    }
}

// --- structured cases: one profile name, placed every way it can be ----------

/// Where the profile name goes.
#[derive(Debug, Clone, Copy)]
enum Place {
    Positional,
    ShortBefore,
    ShortAfter,
    Attached,
    Long,
    LongEquals,
    HermesHome,
}

struct Structured {
    args: Vec<OsString>,
    env: Vec<(&'static str, OsString)>,
    name: Vec<u8>,
    verb: Verb,
    json: bool,
    /// `run --no-supervise`.
    no_supervise: bool,
    /// `-w` or `-T`: the command is sent, then waited for.
    wait: bool,
}

fn structured(rng: &mut Rng, home: &Path) -> Structured {
    let verb = *rng.pick(&[
        Verb::Start,
        Verb::Stop,
        Verb::Restart,
        Verb::Status,
        Verb::Run,
    ]);
    let name = match rng.below(10) {
        0..=2 => rng.pick(&REGISTERED).as_bytes().to_vec(),
        3 => valid_random_name(rng),
        _ => invalid_random_name(rng),
    };
    let mut places = vec![
        Place::ShortBefore,
        Place::ShortAfter,
        Place::Long,
        Place::LongEquals,
    ];
    // `-pNAME`: lexopt strips a leading `=` there (`-p=x` is `x`).
    if !name.is_empty() && name[0] != b'=' {
        places.push(Place::Attached);
    }
    if verb != Verb::Run {
        places.push(Place::Positional);
    }
    // HERMES_HOME=<home>/profiles/NAME names the profile only when NAME is
    // one path component. Non-UTF-8 names there are a separate test (bug).
    let one_component = !name.is_empty() && !name.contains(&b'/') && name != b"." && name != b"..";
    if one_component && std::str::from_utf8(&name).is_ok() {
        places.push(Place::HermesHome);
    }
    let place = *rng.pick(&places);
    let mut extras: Vec<OsString> = Vec::new();
    let json = verb == Verb::Status && rng.chance(40);
    if json {
        extras.push("--json".into());
    }
    let no_supervise = verb == Verb::Run && rng.chance(50);
    if no_supervise {
        extras.push("--no-supervise".into());
    }
    let mut wait = false;
    if !matches!(verb, Verb::Status | Verb::Run) {
        wait = true;
        match rng.below(4) {
            0 => extras.push("-w".into()),
            1 => extras.extend(["-T".into(), "2".into()]),
            2 => extras.push("--timeout=0.5".into()),
            _ => wait = false,
        }
    }
    let name_os = os(&name);
    let mut args: Vec<OsString> = Vec::new();
    let mut env = Vec::new();
    match place {
        Place::ShortBefore => {
            args.extend(["-p".into(), name_os, verb.word().into()]);
            args.extend(extras);
        }
        Place::ShortAfter => {
            args.push(verb.word().into());
            args.extend(extras);
            args.extend(["-p".into(), name_os]);
        }
        Place::Attached => {
            let mut attached = OsString::from("-p");
            attached.push(&name_os);
            args.extend([verb.word().into(), attached]);
            args.extend(extras);
        }
        Place::Long => {
            args.extend(["--profile".into(), name_os, verb.word().into()]);
            args.extend(extras);
        }
        Place::LongEquals => {
            let mut joined = OsString::from("--profile=");
            joined.push(&name_os);
            args.push(verb.word().into());
            args.extend(extras);
            args.push(joined);
        }
        Place::Positional => {
            args.push(verb.word().into());
            args.extend(extras);
            // After `--` a name that looks like an option is still a name.
            if name.first() == Some(&b'-') || rng.chance(20) {
                args.push("--".into());
            }
            args.push(name_os);
        }
        Place::HermesHome => {
            let mut path = home.join("profiles").into_os_string();
            path.push("/");
            path.push(&name_os);
            env.push(("HERMES_HOME", path));
            args.push(verb.word().into());
            args.extend(extras);
        }
    }
    if verb == Verb::Run {
        // COMMAND last, after `--` or not; a hand-over to s6 execs
        // "the heartbeat", which is /bin/true too, so nothing holds.
        if rng.chance(50) {
            args.push("--".into());
        }
        args.push(TRUE.into());
        env.push(("HERMES_HEARTBEAT", TRUE.into()));
    }
    Structured {
        args,
        env,
        name,
        verb,
        json,
        no_supervise,
        wait,
    }
}

fn check_structured(case: &Structured, out: &Output, recorded: &str, bench: &Bench) {
    let what = describe(&case.args, &case.env);
    check_always(&what, out, recorded, bench);
    if !valid_name(&case.name) {
        assert_eq!(out.code, 2, "{what}: an invalid name was accepted: {out:?}");
        assert!(
            out.stderr.starts_with("✗ invalid profile name '"),
            "{what}: {out:?}"
        );
        assert_eq!(
            recorded, "",
            "{what}: an s6 program ran for an invalid name"
        );
        return;
    }
    let name = String::from_utf8(case.name.clone()).expect("a valid name is ASCII");
    let registered = REGISTERED.contains(&name.as_str());
    // An opted-out `run` of an unregistered gateway has nothing to refuse:
    // it runs COMMAND.
    if !registered && !case.no_supervise {
        assert_eq!(out.code, 1, "{what}: {out:?}");
        assert_eq!(
            out.stderr,
            format!(
                "✗ no such gateway '{name}': register it with `hermes profile create {name}` first, \
                 or pass an existing profile name via `-p <name>`\n"
            ),
            "{what}"
        );
        assert_eq!(
            recorded, "",
            "{what}: an s6 program ran for an unregistered gateway"
        );
        return;
    }
    let dir = bench.service_dir(&name);
    let svstat_line = format!("s6-svstat -o {} {}", s6::SVSTAT_FIELDS, dir.display());
    if case.verb == Verb::Run {
        // (code, stdout, stderr, recorded) for each way `run` can go here.
        let expected = match (case.no_supervise, registered) {
            // Opted out, nothing registered: COMMAND (/bin/true) runs.
            (true, false) => (0, String::new(), String::new(), String::new()),
            // Opted out while the stand-in s6-svstat says it is up.
            (true, true) => (
                1,
                String::new(),
                REFUSED.to_owned(),
                format!("{svstat_line}\n"),
            ),
            // Handed to s6, then the "heartbeat" (/bin/true) is exec'd.
            (false, _) => (
                0,
                String::new(),
                format!("✓ gateway-{name}{BREADCRUMB_TAIL}\n"),
                format!("s6-svc {} {}\n", Verb::Run.svc_flags(), dir.display()),
            ),
        };
        assert_eq!(
            (
                out.code,
                out.stdout.clone(),
                out.stderr.clone(),
                recorded.to_owned()
            ),
            expected,
            "{what}: {out:?}"
        );
        return;
    }
    assert_eq!(out.code, 0, "{what}: {out:?}");
    match case.verb {
        Verb::Status => {
            assert_eq!(recorded, format!("{svstat_line}\n"), "{what}");
            if case.json {
                let v: serde_json::Value = serde_json::from_str(&out.stdout)
                    .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {out:?}"));
                assert_eq!(v[0]["profile"], name.as_str(), "{what}: {out:?}");
                assert_eq!(v[0]["pid"], 812, "{what}: {out:?}");
            } else {
                assert_eq!(out.stdout, format!("{name}  up (pid 812) 45s\n"), "{what}");
            }
        }
        verb => {
            assert_eq!(
                out.stdout,
                format!("✓ {} gateway-{name} under s6\n", verb.done()),
                "{what}: {out:?}"
            );
            // The command first; with a wait, s6-svwait after it, or for the
            // restart of an up gateway `-u` then s6-svc's own wait, which
            // sends the `-r`.
            let dir = dir.display();
            let (sent, waited): (Vec<String>, Option<&str>) = match (verb, case.wait) {
                (Verb::Restart, true) => (vec![format!(" -u {dir}"), format!(" -r {dir}")], None),
                (_, true) => (
                    vec![format!(" {} {dir}", verb.svc_flags())],
                    Some(if verb == Verb::Stop {
                        "s6-svwait -D -t "
                    } else {
                        "s6-svwait -u -t "
                    }),
                ),
                (_, false) => (vec![format!(" {} {dir}", verb.svc_flags())], None),
            };
            let svc: Vec<&str> = recorded
                .lines()
                .filter(|l| l.starts_with("s6-svc "))
                .collect();
            assert_eq!(svc.len(), sent.len(), "{what}: {recorded:?}");
            for (line, tail) in svc.iter().zip(&sent) {
                assert!(
                    line.ends_with(tail.as_str()),
                    "{what}: s6-svc ran as {line:?}"
                );
            }
            let others: Vec<&str> = recorded
                .lines()
                .filter(|l| !l.starts_with("s6-svc "))
                .collect();
            let mut expected_others = 0;
            if verb == Verb::Restart {
                assert_eq!(others.first(), Some(&svstat_line.as_str()), "{what}");
                expected_others += 1;
            }
            if let Some(prefix) = waited {
                assert!(
                    others
                        .last()
                        .is_some_and(|l| l.starts_with(prefix) && l.ends_with(&format!(" {dir}"))),
                    "{what}: {others:?}"
                );
                expected_others += 1;
            }
            assert_eq!(others.len(), expected_others, "{what}: {others:?}");
        }
    }
}

// --- free-form cases: token soup --------------------------------------------

fn token(rng: &mut Rng, bench: &Bench) -> OsString {
    match rng.below(10) {
        0..=4 => OsString::from(*rng.pick(tokens::WORDS)),
        5 => os(&valid_random_name(rng)),
        6 => os(&invalid_random_name(rng)),
        7 => {
            let mut t =
                OsString::from(*rng.pick(&["--profile=", "-p", "-T", "--timeout=", "--scandir="]));
            t.push(os(&random_bytes(rng, 20)));
            t
        }
        8 => match rng.below(4) {
            0 => bench.scandir.clone().into_os_string(),
            1 => bench.tmp.path().into(),
            2 => OsString::from("/nonexistent/scan"),
            _ => os(&random_bytes(rng, 30)),
        },
        _ => {
            let max = if rng.chance(5) { 3000 } else { 40 };
            os(&random_bytes(rng, max))
        }
    }
}

fn free_form(rng: &mut Rng, bench: &Bench) -> (Vec<OsString>, Vec<(&'static str, OsString)>, bool) {
    let mut args: Vec<OsString> = Vec::new();
    // Half the lists start like a real command, so the soup also reaches
    // past the command word into each command's own options.
    let len = if rng.chance(50) {
        let word = *rng.pick(&["start", "stop", "restart", "status", "list"]);
        args.push(word.into());
        rng.below(4)
    } else {
        rng.below(9)
    };
    for _ in 0..len {
        let t = token(rng, bench);
        // Never `run`: it would exec whatever follows.
        if t.as_bytes() != b"run" {
            args.push(t);
        }
    }
    let mut env = Vec::new();
    // HERMES_HOME is always under the bench or relative to the empty working
    // directory, so no state file can land anywhere else.
    let component: Vec<u8> = random_bytes(rng, 12)
        .into_iter()
        .map(|b| if b == b'/' { b'_' } else { b })
        .collect();
    match rng.below(4) {
        0 => {
            let mut home = bench.home.join("profiles").into_os_string();
            home.push("/");
            home.push(os(&component));
            env.push(("HERMES_HOME", home));
        }
        1 => env.push(("HERMES_HOME", os(&component))),
        _ => {}
    }
    (args, env, rng.chance(80))
}

// --- the tests ----------------------------------------------------------------

/// Runs `count` cases made by `make` on two threads.
fn run_cases<C: Send>(
    count: usize,
    salt: u64,
    make: impl Fn(&mut Rng) -> C + Sync,
    check: impl Fn(&C) + Sync,
) {
    let seed = seed();
    std::thread::scope(|scope| {
        for worker in 0..2u64 {
            let (make, check) = (&make, &check);
            scope.spawn(move || {
                let mut rng = Rng(seed ^ salt ^ (worker << 32));
                for _ in 0..count / 2 {
                    let case = make(&mut rng);
                    check(&case);
                }
            });
        }
    });
}

#[test]
fn profile_names_placed_every_way_are_accepted_exactly_when_valid_and_invalid_ones_never_reach_s6()
{
    let bench = Bench::new();
    let seen_invalid = AtomicUsize::new(0);
    let seen_acted = AtomicUsize::new(0);
    let seen_run_invalid = AtomicUsize::new(0);
    let seen_run_handed_over = AtomicUsize::new(0);
    run_cases(
        cases(2000),
        0x5157,
        |rng| structured(rng, &bench.home),
        |case| {
            let (out, recorded) = bench.run(&case.args, &case.env, true);
            check_structured(case, &out, &recorded, &bench);
            let run = case.verb == Verb::Run;
            if !valid_name(&case.name) {
                seen_invalid.fetch_add(1, Ordering::Relaxed);
                if run {
                    seen_run_invalid.fetch_add(1, Ordering::Relaxed);
                }
            } else if out.code == 0 && !recorded.is_empty() {
                seen_acted.fetch_add(1, Ordering::Relaxed);
                if run {
                    seen_run_handed_over.fetch_add(1, Ordering::Relaxed);
                }
            }
        },
    );
    // The generator must have exercised both sides of the rule, `run` too.
    let (invalid, acted) = (seen_invalid.into_inner(), seen_acted.into_inner());
    let (run_invalid, run_handed_over) = (
        seen_run_invalid.into_inner(),
        seen_run_handed_over.into_inner(),
    );
    eprintln!(
        "invalid names {invalid} ({run_invalid} in run), successful actions {acted} \
         ({run_handed_over} run hand-overs)"
    );
    assert!(
        invalid > cases(2000) / 4 && acted > cases(2000) / 10,
        "invalid {invalid}, acted {acted}"
    );
    assert!(
        run_invalid > cases(2000) / 50 && run_handed_over > cases(2000) / 200,
        "run: invalid {run_invalid}, handed over {run_handed_over}"
    );
    assert!(
        !bench.stray_log.exists(),
        "a stand-in ran without FUZZ_S6_LOG"
    );
}

#[test]
fn arbitrary_argument_lists_never_panic_exit_0_1_or_2_and_touch_only_registered_gateways() {
    let bench = Bench::new();
    let by_code = [0, 1, 2].map(|_| AtomicUsize::new(0));
    run_cases(
        cases(3000),
        0xF4EE,
        |rng| free_form(rng, &bench),
        |(args, env, scandir_env)| {
            let (out, recorded) = bench.run(args, env, *scandir_env);
            check_always(&describe(args, env), &out, &recorded, &bench);
            by_code[out.code as usize].fetch_add(1, Ordering::Relaxed);
        },
    );
    let counts = by_code.map(AtomicUsize::into_inner);
    eprintln!("exit 0/1/2 counts: {counts:?}");
    // Token soup is mostly usage errors; some lists must also have got
    // through to real work and to real failures, or the test proves little.
    assert!(
        counts.iter().all(|&c| c > 0),
        "exit 0/1/2 counts: {counts:?}"
    );
    assert!(
        !bench.stray_log.exists(),
        "a stand-in ran without FUZZ_S6_LOG"
    );
}

#[test]
fn a_non_utf8_profile_name_in_hermes_home_is_rejected() {
    let bench = Bench::new();
    for name in [&b"caf\xff"[..], b"\xff", b"coder\x80", b"\xc3"] {
        let mut home = bench.home.join("profiles").into_os_string();
        home.push("/");
        home.push(OsStr::from_bytes(name));
        let env = [("HERMES_HOME", home)];
        for verb in ["stop", "start", "status"] {
            let args = [OsString::from(verb)];
            let (out, recorded) = bench.run(&args, &env, true);
            let what = describe(&args, &env);
            assert_eq!(
                out.code, 2,
                "{what}: acted on another profile: {out:?}\nrecorded: {recorded}"
            );
            assert!(
                out.stderr.starts_with("✗ invalid profile name '"),
                "{what}: {out:?}"
            );
            assert_eq!(recorded, "", "{what}");
        }
    }
}

#[test]
fn paths_with_newlines_and_escapes_are_shown_on_one_line() {
    let bench = Bench::new();
    let hostile = bench.tmp.path().join("x\ny\x1b[31m");
    let check = |what: &str, out: &Output, code: i32| {
        assert_eq!(out.code, code, "{what}: {out:?}");
        assert_eq!(out.stderr_lines().len(), 1, "{what}: not one line: {out:?}");
        assert!(
            !out.stderr.trim_end().chars().any(char::is_control),
            "{what}: control characters: {out:?}"
        );
    };
    let args: Vec<OsString> = vec!["--scandir".into(), hostile.clone().into(), "list".into()];
    check("--scandir", &bench.run(&args, &[], false).0, 1);
    let env = [(
        "S6_PROFILE_GATEWAY_SCANDIR",
        hostile.clone().into_os_string(),
    )];
    check(
        "S6_PROFILE_GATEWAY_SCANDIR",
        &bench.run(&["list".into()], &env, false).0,
        1,
    );
    let env = [("HERMES_S6_BINDIR", hostile.clone().into_os_string())];
    check(
        "HERMES_S6_BINDIR",
        &bench.run(&["stop".into(), "coder".into()], &env, true).0,
        1,
    );
    // A profile home under that name with a state file that is not JSON:
    // the action succeeds with one warning line.
    fs::create_dir_all(&hostile).expect("mkdir");
    fs::write(hostile.join("gateway_state.json"), "garbage").expect("write");
    let env = [("HERMES_HOME", hostile.into_os_string())];
    let (out, _) = bench.run(&["stop".into()], &env, true);
    check("HERMES_HOME warning", &out, 0);
    assert!(out.stderr.starts_with("⚠ "), "{out:?}");
}
