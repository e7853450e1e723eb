//! `gateway_state.json` is Hermes's file as much as gatewayctl's: its Python
//! gateway read-modify-writes it with atomic replaces. Against real s6 and a
//! real Python writer: every member gatewayctl does not own comes back byte
//! for byte, written compactly; a large file merges in a small address
//! space; no update of the Python writer is lost to a concurrent record;
//! and writers killed mid-write leave no temp files behind once a later
//! write has run.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hermes_e2e::proc::{self, Proc};
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

const STOPPED: &str = "✓ Stopped gateway-coder under s6\n";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The `updated_at` that a state file gatewayctl wrote ends with, which
/// must be a time since `before`.
fn updated_at_ending(text: &str, before: u64) -> u64 {
    let (_, at) = text
        .strip_suffix('}')
        .and_then(|t| t.rsplit_once(",\"updated_at\":"))
        .unwrap_or_else(|| panic!("no updated_at last: {text:.300}"));
    let at: u64 = at.parse().unwrap_or_else(|e| panic!("{at:?}: {e}"));
    assert!(at >= before && at <= now(), "updated_at {at} is not now");
    at
}

/// The temp files of gatewayctl (`.gateway_state.json.tmp.<pid>.<n>`) in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".gateway_state.json.tmp."))
        .collect()
}

/// Runs the Python `code` with `args` as `sys.argv[1:]`; its stdout.
fn python(code: &str, args: &[&Path]) -> String {
    let out = run(
        Command::new("python3").arg("-c").arg(code).args(args),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
}

// --- members gatewayctl does not own -----------------------------------------

#[test]
fn a_stop_keeps_every_member_python_writes_or_accepts_byte_for_byte() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let file = s6.state_file("coder");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    // As written, each member's value text after its key; the whitespace
    // between members is not the members'.
    let members = [
        r#""nan":NaN"#,
        r#""inf":Infinity"#,
        r#""ninf":-Infinity"#,
        r#""big":1e999"#,
        &format!(r#""deep":{deep}"#),
        r#""lone":"\ud800 and \udfff""#,
        r#""huge":123456789012345678901234567890"#,
        r#""negative_huge":-98765432109876543210987654321"#,
        r#""platforms":{"telegram": {"state": "connected", "error": null}}"#,
        r#""text":"ünïcödé ✓ \"quoted\" \\ \n""#,
    ];
    let old = format!(
        "\u{feff}{{\n  {},\n  \"desired_state\": \"running\",\n  \"updated_at\": \"2024-05-01T10:00:00+00:00\"\n}}\n",
        members.join(",\n  ")
    );
    s6::write_file(&file, &old);
    let before = now();
    let out = s6.ctl(&["stop", "coder"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, STOPPED, ""),
        "{out:?}"
    );
    let text = fs::read_to_string(&file).expect("state file");
    let at = updated_at_ending(&text, before);
    let expected = format!(
        "\u{feff}{{{},\"desired_state\":\"stopped\",\"updated_at\":{at}}}",
        members.join(",")
    );
    assert_eq!(text, expected);
    s6.wait_svstat("coder", "down", |s| !s.up && !s.want_up);
    // And Python reads every member back as it was.
    let dump = "import json,sys\n\
        d=json.loads(open(sys.argv[1],encoding='utf-8-sig').read())\n\
        d.pop('desired_state'); d.pop('updated_at')\n\
        print(json.dumps(d))";
    let merged = s6.root().join("merged");
    let original = s6.root().join("original");
    s6::write_file(&merged, &text);
    s6::write_file(&original, &old);
    assert_eq!(python(dump, &[&merged]), python(dump, &[&original]));
}

#[test]
fn a_state_file_that_is_no_object_is_left_alone_with_a_warning() {
    for content in [
        "{\"desired_state\": \"running\",",
        "[1, 2]",
        "null",
        "garbage",
    ] {
        let s6 = ScanDir::with(&[Gateway::new("coder")]);
        let file = s6.state_file("coder");
        s6::write_file(&file, content);
        let out = s6.ctl(&["stop", "coder"]);
        assert_eq!((out.code, out.stdout.as_str()), (0, STOPPED), "{out:?}");
        let warning = format!(
            "⚠ could not record the desired state in {}: not a JSON object; left it as it was",
            file.display()
        );
        assert_eq!(out.stderr_lines(), [warning.as_str()], "{out:?}");
        assert_eq!(fs::read_to_string(&file).expect("still there"), content);
        s6.wait_svstat("coder", "down", |s| !s.up && !s.want_up);
    }
}

// --- size ---------------------------------------------------------------------

/// `gatewayctl ARGS...` under an address-space limit of 80000 KiB
/// (`ulimit -v 80000`).
fn ctl_in_80000_kib(s6: &ScanDir, args: &[&str]) -> Output {
    let mut cmd = s6.gatewayctl();
    cmd.args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| proc::set_rlimit(libc::RLIMIT_AS, 80_000 * 1024));
    }
    run(&mut cmd, Duration::from_secs(60))
}

#[test]
fn a_6_8_mb_state_file_merges_within_80000_kib_of_address_space() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let file = s6.state_file("coder");
    // Many small objects: what costs a parser that builds them the most.
    let entries: Vec<String> = (0..600_000).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    let history = format!(r#""history":[{}]"#, entries.join(","));
    let old = format!(r#"{{"desired_state":"running",{history}}}"#);
    assert!(old.len() > 6_800_000, "{}", old.len());
    s6::write_file(&file, &old);
    let before = now();
    let out = ctl_in_80000_kib(&s6, &["stop", "coder"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, STOPPED, ""),
        "{out:?}"
    );
    let text = fs::read_to_string(&file).expect("state file");
    let at = updated_at_ending(&text, before);
    assert!(
        text == format!(r#"{{"desired_state":"stopped",{history},"updated_at":{at}}}"#),
        "not merged byte for byte: {:.300}...",
        text
    );
    assert_eq!(temp_files(&s6.profile_home("coder")), Vec::<String>::new());
}

#[test]
fn a_state_file_past_16_mib_is_left_alone_with_a_warning() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let file = s6.state_file("coder");
    let len = (16 << 20) + 1;
    // Sparse: gatewayctl must go by its size, and read none of it.
    fs::File::create(&file)
        .and_then(|f| f.set_len(len))
        .expect("a sparse file");
    let out = ctl_in_80000_kib(&s6, &["stop", "coder"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, STOPPED), "{out:?}");
    let warning = format!(
        "⚠ could not record the desired state in {}: larger than 16 MiB; left it as it was",
        file.display()
    );
    assert_eq!(out.stderr_lines(), [warning.as_str()], "{out:?}");
    assert_eq!(fs::metadata(&file).expect("stat").len(), len);
    s6.wait_svstat("coder", "down", |s| !s.up && !s.want_up);
}

// --- another writer -------------------------------------------------------------

/// Hermes's `write_runtime_status`, reduced to its file handling: read the
/// state file, add one key, replace it atomically (`mkstemp` beside it,
/// then `os.replace`), compactly; over and over, without Hermes's fsync so
/// that it replaces the file as often as it can. A file it cannot parse
/// stops it with an error (Hermes would start afresh, losing every key, and
/// the test would blame gatewayctl). It stops when the `stop` file appears
/// (or after 60 s) and prints how many keys it added.
const PYTHON_WRITER: &str = r#"
import json, os, sys, tempfile, time
path, stop = sys.argv[1], sys.argv[2]
folder = os.path.dirname(path)
deadline = time.monotonic() + 60
i = 0
while not os.path.exists(stop) and time.monotonic() < deadline:
    with open(path, encoding="utf-8") as f:
        payload = json.loads(f.read())
    payload[f"writer_{i}"] = i
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".gateway_state_", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=None, separators=(",", ":"), ensure_ascii=False)
    os.replace(tmp, path)
    i += 1
print(i)
"#;

#[test]
fn no_update_of_a_python_writer_is_lost_while_gatewayctl_records() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let file = s6.state_file("coder");
    s6::write_file(&file, r#"{"kind":"hermes-gateway","platforms":{}}"#);
    let stop = s6.root().join("stop-the-writer");
    let mut writer = Proc::spawn(
        Command::new("python3")
            .arg("-c")
            .arg(PYTHON_WRITER)
            .arg(&file)
            .arg(&stop)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    proc::wait_until(Duration::from_secs(30), "the writer's first key", || {
        fs::read_to_string(&file).is_ok_and(|t| t.contains("writer_0"))
    });
    // Records for a while, as many as fit; each one overlaps some of the
    // writer's replaces.
    let kept_changing = format!(
        "⚠ could not record the desired state in {}: another writer kept replacing it; left it as it was",
        file.display()
    );
    let start = Instant::now();
    let mut records = 0;
    while start.elapsed() < Duration::from_secs(3) || records < 20 {
        let out = s6.ctl(&["start", "coder"]);
        assert_eq!(out.code, 0, "{out:?}");
        // Recording may give up against a writer this busy, but only so.
        assert!(
            out.stderr.is_empty() || out.stderr_lines() == [kept_changing.as_str()],
            "{out:?}"
        );
        records += 1;
    }
    s6::write_file(&stop, "");
    let status = writer.wait_timeout(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the writer failed: {status:?}"
    );
    let mut added = String::new();
    std::io::Read::read_to_string(
        writer.child().stdout.as_mut().expect("piped stdout"),
        &mut added,
    )
    .expect("read the writer's count");
    let added: u64 = added.trim().parse().expect("a count");
    assert!(added > 0, "the writer wrote nothing");

    assert_eq!(s6.ctl(&["stop", "coder"]).code, 0);
    let state = s6.state("coder").expect("state file");
    let lost: Vec<u64> = (0..added)
        .filter(|i| state.get(format!("writer_{i}")).is_none())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {added} keys lost over {records} records: {lost:?}",
        lost.len()
    );
    assert_eq!(state["desired_state"], "stopped");
    assert_eq!(state["kind"], "hermes-gateway");
}

// --- temp files -------------------------------------------------------------------

#[test]
fn writers_killed_mid_write_leave_no_temp_files_once_a_later_write_has_run() {
    let s6 = ScanDir::with(&[Gateway::new("coder")]);
    let home = s6.profile_home("coder");
    let file = s6.state_file("coder");
    // Large enough that a write takes a while to catch it at.
    let padding = "x".repeat(4 << 20);
    s6::write_file(&file, &format!(r#"{{"padding":"{padding}"}}"#));
    // Kills that left a temp file behind, and the temp files there now.
    let (mut landed, mut left) = (0, Vec::new());
    for _ in 0..60 {
        let mut ctl = Proc::spawn(
            s6.gatewayctl()
                .args(["start", "coder"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        // SIGKILL as soon as its own temp file appears.
        let own = format!(".gateway_state.json.tmp.{}.", ctl.pid());
        while ctl.is_running() && !temp_files(&home).iter().any(|n| n.starts_with(&own)) {}
        ctl.signal(libc::SIGKILL);
        let _ = ctl.wait_timeout(Duration::from_secs(30));
        left = temp_files(&home);
        if left.iter().any(|n| n.starts_with(&own)) {
            landed += 1;
            if landed >= 8 {
                break;
            }
        }
    }
    assert!(landed > 0, "no kill landed in a write: nothing was tested");

    let out = s6.ctl(&["stop", "coder"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, STOPPED, ""),
        "{out:?}"
    );
    assert_eq!(
        temp_files(&home),
        Vec::<String>::new(),
        "{landed} kills landed mid-write; before this write there were {left:?}"
    );
    let state = s6.state("coder").expect("state file");
    assert_eq!(state["desired_state"], "stopped");
    assert_eq!(state["padding"].as_str().map(str::len), Some(padding.len()));
}

#[test]
fn run_as_root_the_files_it_writes_in_a_users_home_stay_the_users() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
    let s6 = ScanDir::with(&[
        Gateway::new("coder").hermes(),
        Gateway::new("fresh").hermes(),
    ]);
    // Both homes belong to uid 1000, as in the Hermes image; coder's state
    // file is that user's, mode 0640; fresh has none yet.
    for p in ["coder", "fresh"] {
        chown(s6.profile_home(p), Some(1000), Some(1000)).expect("chown the home");
    }
    let state = s6.state_file("coder");
    fs::write(&state, r#"{"gateway_state": "running"}"#).expect("write");
    chown(&state, Some(1000), Some(1000)).expect("chown");
    fs::set_permissions(&state, fs::Permissions::from_mode(0o640)).expect("chmod");
    fs::remove_file(s6.state_file("fresh")).ok();

    let out = s6.ctl(&["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    let meta = fs::metadata(&state).expect("the state file");
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1000, 1000, 0o640),
        "the replaced state file"
    );
    assert_eq!(s6.desired_state("coder").as_deref(), Some("stopped"));
    let meta = fs::metadata(s6.state_file("fresh")).expect("a new state file");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (1000, 1000),
        "a new state file goes to the home's owner"
    );
}
