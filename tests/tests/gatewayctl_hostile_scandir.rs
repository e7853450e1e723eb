//! A scan directory that other tools and people have filled: 1,000 entries
//! mixing valid gateways (directories, and symlinks to service directories
//! elsewhere, as s6-rc makes them) with dot-names, plain files, FIFOs,
//! sockets, dangling symlinks, symlink loops, names with spaces, newlines and
//! non-UTF-8 bytes, and over-long names. `list`, `status --all`, `stop --all`
//! and `restart --all` finish, see exactly the valid gateways, and act on
//! nothing else: proven once with stand-in s6 programs that record every
//! run, and once with real s6 and real supervised decoys under invalid names.

use std::collections::BTreeSet;
use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hermes_e2e::proc;
use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{self, Gateway, ScanDir};

/// Entries made in the scan directory.
const ENTRIES: usize = 1000;

/// What the stand-in `s6-svstat` prints: up, pid 812, 45 s.
const SVSTAT_UP: &str = "true true true false 812 -1 NA 45";

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

fn mkdir(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {:?}: {e}", path));
}

fn ln(target: &Path, link: &Path) {
    symlink(target, link).unwrap_or_else(|e| panic!("symlink {:?} -> {:?}: {e}", link, target));
}

fn name_bytes(parts: &[&[u8]]) -> OsString {
    OsString::from_vec(parts.concat())
}

/// Fills `scandir` up to [`ENTRIES`] entries (counting what is already
/// there), service directories that symlinks point to going in `elsewhere`.
/// Returns the profiles of the valid gateways it made (none supervised).
fn fill_hostile(scandir: &Path, elsewhere: &Path) -> BTreeSet<String> {
    mkdir(elsewhere);
    let plain = elsewhere.join("plain-file");
    fs::write(&plain, "not a service\n").expect("write");
    let fifo = elsewhere.join("a-fifo");
    mkfifo(&fifo);
    let mut valid = BTreeSet::new();
    let existing = fs::read_dir(scandir).expect("read scandir").count();
    let mut i = 0usize;
    while existing + count_made(i) < ENTRIES {
        let at = |name: &OsStr| scandir.join(name);
        let n = format!("{i:03}");
        // One kind per step, cycling; the valid ones are 3 kinds in 30.
        match i % 30 {
            // Valid: a plain service directory, with names using every
            // allowed character and the longest allowed length.
            0 => {
                let profile = match (i / 30) % 4 {
                    0 => format!("u{n}"),
                    1 => format!("{n}-x_y"),
                    2 => format!("{n}{}", "z".repeat(61)),
                    _ => format!("u_{n}-"),
                };
                mkdir(&at(OsStr::new(&format!("gateway-{profile}"))));
                valid.insert(profile);
            }
            // Valid: a symlink to a service directory elsewhere (absolute).
            1 => {
                let target = elsewhere.join(format!("svc-{n}"));
                mkdir(&target);
                ln(&target, &at(OsStr::new(&format!("gateway-l{n}"))));
                valid.insert(format!("l{n}"));
            }
            // Valid: a relative symlink to a symlink to a directory.
            2 => {
                let target = elsewhere.join(format!("svc-chain-{n}"));
                mkdir(&target);
                let hop = elsewhere.join(format!("hop-{n}"));
                ln(&target, &hop);
                let rel = Path::new("..")
                    .join(elsewhere.file_name().expect("named"))
                    .join(format!("hop-{n}"));
                ln(&rel, &at(OsStr::new(&format!("gateway-c{n}"))));
                valid.insert(format!("c{n}"));
            }
            3 => mkdir(&at(OsStr::new(&format!(".gateway-h{n}")))),
            4 => fs::write(at(OsStr::new(&format!("gateway-f{n}"))), "x").expect("write"),
            5 => mkfifo(&at(OsStr::new(&format!("gateway-p{n}")))),
            6 => {
                // A socket file; the listener is dropped, the file stays.
                let _ = std::os::unix::net::UnixListener::bind(at(OsStr::new(&format!(
                    "gateway-s{n}"
                ))))
                .expect("bind");
            }
            7 => ln(
                &elsewhere.join(format!("missing-{n}")),
                &at(OsStr::new(&format!("gateway-d{n}"))),
            ),
            8 => {
                let a = at(OsStr::new(&format!("gateway-loopa{n}")));
                let b = at(OsStr::new(&format!("gateway-loopb{n}")));
                ln(&b, &a);
                ln(&a, &b);
            }
            9 => {
                let me = at(OsStr::new(&format!("gateway-self{n}")));
                ln(&me, &me);
            }
            10 => ln(&plain, &at(OsStr::new(&format!("gateway-tf{n}")))),
            11 => ln(&fifo, &at(OsStr::new(&format!("gateway-tp{n}")))),
            12 => mkdir(&at(OsStr::new(&format!("gateway-a b{n}")))),
            13 => mkdir(&at(OsStr::new(&format!("gateway-a\nb{n}")))),
            14 => mkdir(&at(OsStr::new(&format!("gateway-x{n}\n")))),
            15 => mkdir(&at(&name_bytes(&[b"gateway-u\xff", n.as_bytes()]))),
            16 => mkdir(&at(&name_bytes(&[b"gateway-", n.as_bytes(), b"\xc3"]))),
            17 => mkdir(&at(OsStr::new(&format!("gateway-caf\u{e9}{n}")))),
            // Over-long: 65 characters, up to the file system's 255 bytes.
            18 => {
                let len = 65 + (i * 7) % (255 - 8 - 65);
                let profile = format!("{n}{}", "a".repeat(len - n.len()));
                mkdir(&at(OsStr::new(&format!("gateway-{profile}"))));
            }
            19 => mkdir(&at(OsStr::new(&format!("gateway-U{n}")))),
            20 => mkdir(&at(OsStr::new(&format!("gateway-_{n}")))),
            21 => mkdir(&at(OsStr::new(&format!("gateway--{n}")))),
            22 => mkdir(&at(OsStr::new(&format!("Gateway-{n}")))),
            23 => mkdir(&at(OsStr::new(&format!("gateway_{n}")))),
            24 => mkdir(&at(OsStr::new(&format!("xgateway-{n}")))),
            25 => mkdir(&at(OsStr::new(&format!("gateway-{n}.bak")))),
            26 => mkdir(&at(OsStr::new(&format!(" gateway-{n}")))),
            27 => mkdir(&at(OsStr::new(&format!("gateway-t\t{n}")))),
            28 => mkdir(&at(OsStr::new(&format!("gateway-{n}\u{1}")))),
            _ => {
                if i == 29 {
                    // The bare prefix: an empty profile name.
                    mkdir(&at(OsStr::new("gateway-")));
                } else {
                    mkdir(&at(OsStr::new(&format!("gateway {n}"))));
                }
            }
        }
        i += 1;
    }
    let total = fs::read_dir(scandir).expect("read scandir").count();
    assert!(total >= ENTRIES, "made {total} entries");
    valid
}

/// Entries made by the first `steps` steps of [`fill_hostile`] (a loop step
/// makes two).
fn count_made(steps: usize) -> usize {
    steps + (0..steps).filter(|i| i % 30 == 8).count()
}

/// The profile names a sloppy reading of the entries of `scandir` would
/// take for gateways, other than the `valid` ones: for each entry, what
/// follows the first `gateway` (any case) and one separator after it
/// (`.gateway-h003` gives `h003`, `gateway-U019` gives `U019`, `xgateway-024`
/// and `gateway_024` give `024`). A home made under each of these names
/// would get a state file if gatewayctl acted on that entry.
fn decoy_profiles(scandir: &Path, valid: &BTreeSet<String>) -> BTreeSet<OsString> {
    let mut decoys = BTreeSet::new();
    for entry in fs::read_dir(scandir).expect("read scandir").flatten() {
        let name = entry.file_name();
        let bytes = name.as_bytes();
        let Some(at) = bytes
            .windows(b"gateway".len())
            .position(|w| w.eq_ignore_ascii_case(b"gateway"))
        else {
            continue;
        };
        let Some(profile) = bytes.get(at + b"gateway".len() + 1..) else {
            continue;
        };
        let usable =
            !profile.is_empty() && !profile.contains(&b'/') && profile != b"." && profile != b"..";
        let is_valid = std::str::from_utf8(profile).is_ok_and(|p| valid.contains(p));
        if usable && !is_valid {
            decoys.insert(OsStr::from_bytes(profile).to_os_string());
        }
    }
    decoys
}

/// Every entry of `dir`: name and file type (links not followed).
fn snapshot(dir: &Path) -> BTreeSet<(Vec<u8>, String)> {
    fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| {
            let kind = e.file_type().map(|t| format!("{t:?}")).unwrap_or_default();
            (e.file_name().as_bytes().to_vec(), kind)
        })
        .collect()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// --- with stand-ins: every s6 run recorded ------------------------------------

/// A fake scan directory (`.s6-svscan/` only) and stand-in s6 programs that
/// record their arguments; HERMES_HOME with a home for every valid profile.
struct Fake {
    tmp: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let tmp = tempfile::Builder::new()
            .prefix("hermes-hostile-")
            .tempdir()
            .expect("tempdir");
        mkdir(&tmp.path().join("service/.s6-svscan"));
        mkdir(&tmp.path().join("fake-s6"));
        mkdir(&tmp.path().join("home/profiles"));
        let log = s6::shell_quote(&tmp.path().join("calls.log").to_string_lossy());
        s6::write_script(
            &tmp.path().join("fake-s6/s6-svc"),
            &format!("#!/bin/sh\n{}echo \"s6-svc $*\" >> {log}\n", s6::USAGE_2_11),
        );
        s6::write_script(
            &tmp.path().join("fake-s6/s6-svstat"),
            &format!("#!/bin/sh\necho \"s6-svstat $*\" >> {log}\necho '{SVSTAT_UP}'\n"),
        );
        Fake { tmp }
    }

    fn scandir(&self) -> PathBuf {
        self.tmp.path().join("service")
    }

    /// `home/profiles/<profile>`; the name may be any bytes (decoys).
    fn home(&self, profile: impl AsRef<Path>) -> PathBuf {
        self.tmp.path().join("home/profiles").join(profile)
    }

    /// The profiles whose home holds a `gateway_state.json`, and whether
    /// the Hermes root (the `default` profile's home) does.
    fn homes_with_state(&self) -> (BTreeSet<OsString>, bool) {
        let with_state = fs::read_dir(self.tmp.path().join("home/profiles"))
            .expect("read home/profiles")
            .flatten()
            .filter(|e| e.path().join("gateway_state.json").exists())
            .map(|e| e.file_name())
            .collect();
        let root = self.tmp.path().join("home/gateway_state.json").exists();
        (with_state, root)
    }

    /// Runs gatewayctl on the fake scan directory; gives its output and the
    /// stand-ins' record of this run, sorted (they run concurrently).
    fn ctl(&self, args: &[&str]) -> (Output, Vec<String>) {
        let log = self.tmp.path().join("calls.log");
        let _ = fs::remove_file(&log);
        let mut cmd = s6::gatewayctl_clean();
        cmd.env("HERMES_S6_BINDIR", self.tmp.path().join("fake-s6"))
            .env("HERMES_HOME", self.tmp.path().join("home"))
            .arg("--scandir")
            .arg(self.scandir())
            .args(args);
        let out = run(&mut cmd, Duration::from_secs(120));
        let recorded = sorted(lines(&fs::read_to_string(&log).unwrap_or_default()));
        (out, recorded)
    }
}

#[test]
fn hostile_scan_directory_lists_and_acts_on_exactly_the_valid_gateways() {
    let fake = Fake::new();
    let scandir = fake.scandir();
    let valid = fill_hostile(&scandir, &fake.tmp.path().join("elsewhere"));
    assert!(valid.len() > 90, "{} valid gateways", valid.len());
    // Profile homes for every valid gateway, and for names that are not
    // valid profiles (a state file there would mean it was acted on).
    for p in &valid {
        mkdir(&fake.home(p));
    }
    let decoy_homes = decoy_profiles(&scandir, &valid);
    for known in [
        "U019", "_020", "a b012", "025.bak", "h003", "f004", "d007", "loopa008", "024",
    ] {
        assert!(
            decoy_homes.contains(OsStr::new(known)),
            "no decoy home {known:?} derived from the entries made"
        );
    }
    for p in &decoy_homes {
        mkdir(&fake.home(p));
    }
    let before = snapshot(&scandir);
    let valid: Vec<String> = valid.into_iter().collect();
    let dir = |p: &String| scandir.join(format!("gateway-{p}")).display().to_string();

    let (out, recorded) = fake.ctl(&["list"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    assert_eq!(lines(&out.stdout), valid, "list");
    assert!(recorded.is_empty(), "list ran {recorded:?}");

    let (out, _) = fake.ctl(&["list", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let listed: Vec<String> = serde_json::from_str(&out.stdout).expect("JSON array");
    assert_eq!(listed, valid, "list --json");

    let (out, recorded) = fake.ctl(&["status", "--all"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    let expected: Vec<String> = valid
        .iter()
        .map(|p| format!("{p}  up (pid 812) 45s"))
        .collect();
    assert_eq!(lines(&out.stdout), expected, "status --all");
    let expected: Vec<String> = sorted(
        valid
            .iter()
            .map(|p| format!("s6-svstat -o {} {}", s6::SVSTAT_FIELDS, dir(p)))
            .collect(),
    );
    assert_eq!(
        recorded, expected,
        "s6-svstat ran on exactly the valid gateways"
    );

    let (out, recorded) = fake.ctl(&["stop", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("✓ Stopped {} profile gateway(s) under s6\n", valid.len())
    );
    assert_eq!(out.stderr, "", "{out:?}");
    let expected: Vec<String> = sorted(
        valid
            .iter()
            .map(|p| format!("s6-svc -d {}", dir(p)))
            .collect(),
    );
    assert_eq!(
        recorded, expected,
        "s6-svc ran on exactly the valid gateways"
    );
    for p in &valid {
        let state = fs::read_to_string(fake.home(p).join("gateway_state.json"))
            .unwrap_or_else(|e| panic!("no state for {p}: {e}"));
        assert!(state.contains("\"stopped\""), "{p}: {state}");
    }

    let (out, recorded) = fake.ctl(&["restart", "--all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        format!("✓ Restarted {} profile gateway(s) under s6\n", valid.len())
    );
    let mut expected: Vec<String> = valid
        .iter()
        .map(|p| format!("s6-svc -r -u {}", dir(p)))
        .collect();
    expected.extend(
        valid
            .iter()
            .map(|p| format!("s6-svstat -o {} {}", s6::SVSTAT_FIELDS, dir(p))),
    );
    assert_eq!(recorded, sorted(expected), "restart --all");

    for p in &decoy_homes {
        assert!(
            !fake.home(p).join("gateway_state.json").exists(),
            "a state file for decoy {p:?}"
        );
    }
    // And nowhere else either: exactly the valid gateways got a state file.
    let valid_os: BTreeSet<OsString> = valid.iter().map(OsString::from).collect();
    assert_eq!(
        fake.homes_with_state(),
        (valid_os, false),
        "state files outside the valid gateways' homes"
    );
    assert_eq!(snapshot(&scandir), before, "the scan directory changed");
}

// --- with real s6: decoys under invalid names stay up -------------------------

/// `s6-svstat -o up,pid` of a service directory given by path.
fn up_and_pid(dir: &Path) -> Option<(bool, String)> {
    let out = run(
        Command::new("s6-svstat").args(["-o", "up,pid"]).arg(dir),
        Duration::from_secs(10),
    );
    let mut f = out.stdout.split_whitespace();
    (out.code == 0).then(|| (f.next() == Some("true"), f.next().unwrap_or("").to_owned()))
}

#[test]
fn stop_all_in_a_hostile_real_scan_directory_stops_the_valid_gateways_and_no_decoy() {
    let s6 = ScanDir::start();
    let root = s6.root().to_path_buf();
    let scandir = s6.scandir().to_path_buf();
    let dummy = s6::shell_quote(&s6::dummy_gateway().to_string_lossy());
    let marker = root.join("marks/unused");

    // A valid gateway whose service directory lives elsewhere, linked in.
    let linked_dir = root.join("rc/gateway-linked");
    Gateway::new("linked").write_service(&linked_dir, &[], &dummy, &marker);
    ln(&linked_dir, &scandir.join("gateway-linked"));
    mkdir(&s6.profile_home("linked"));
    // A supervised decoy whose name is not UTF-8.
    let bad_utf8 = scandir.join(OsStr::from_bytes(b"gateway-caf\xff"));
    Gateway::new("staged").write_service(&root.join("staging/x"), &[], &dummy, &marker);
    fs::rename(root.join("staging/x"), &bad_utf8).expect("rename");

    // Real supervised gateways, valid and decoys (this rescans, so the two
    // above are picked up too).
    let valid_up = ["alpha", "beta", "0"];
    let long = "a".repeat(65);
    let decoys = ["UPPER", "a b", "_lead", "x.y", "nl\nx", long.as_str()];
    let gateways: Vec<Gateway> = valid_up
        .iter()
        .chain(decoys.iter())
        .map(|p| Gateway::new(p))
        .collect();
    s6.add(&gateways);
    proc::wait_until(
        Duration::from_secs(20),
        "the linked and non-UTF-8 services up",
        || {
            up_and_pid(&linked_dir).is_some_and(|(up, _)| up)
                && up_and_pid(&bad_utf8).is_some_and(|(up, _)| up)
        },
    );
    s6.wait_armed(&["linked"]);
    let decoy_pids: Vec<(String, Option<i32>)> = decoys
        .iter()
        .map(|p| (p.to_string(), s6.svstat(p).pid))
        .collect();
    let bad_utf8_pid = up_and_pid(&bad_utf8).expect("supervised").1;

    // Then the junk, never rescanned: its valid gateways are unsupervised.
    let unsupervised = fill_hostile(&scandir, &root.join("elsewhere"));
    assert!(
        unsupervised.len() > 90,
        "{} valid junk gateways",
        unsupervised.len()
    );
    let supervised: BTreeSet<String> = valid_up
        .iter()
        .map(|p| p.to_string())
        .chain(["linked".to_owned()])
        .collect();
    let all_valid: Vec<String> = supervised.union(&unsupervised).cloned().collect();

    let out = s6.ctl(&["list"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    assert_eq!(lines(&out.stdout), all_valid, "list");

    let out = s6.ctl(&["status", "--all"]);
    assert_eq!((out.code, out.stderr.as_str()), (0, ""), "{out:?}");
    let mut seen = Vec::new();
    for line in out.stdout.lines() {
        let (p, state) = line.split_once("  ").expect("`profile  state`");
        if supervised.contains(p) {
            assert!(state.starts_with("up (pid "), "{line:?}");
        } else {
            assert_eq!(state, "unsupervised", "{line:?}");
        }
        seen.push(p.to_owned());
    }
    assert_eq!(seen, all_valid, "status --all");

    let out = s6.ctl(&["stop", "--all"]);
    assert_eq!(out.code, 1, "the unsupervised ones fail: {out:?}");
    assert_eq!(
        out.stdout,
        format!(
            "✓ Stopped {} profile gateway(s) under s6\n",
            supervised.len()
        )
    );
    let mut failed = BTreeSet::new();
    for line in out.stderr.lines() {
        let rest = line
            .strip_prefix("✗ Could not stop gateway-")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        let (p, reason) = rest.split_once(": ").expect("a reason");
        assert!(
            reason.starts_with(&format!("s6-svc stop on 'gateway-{p}' failed (rc="))
                && reason.contains("supervisor not listening"),
            "{line:?}"
        );
        failed.insert(p.to_owned());
    }
    assert_eq!(
        failed, unsupervised,
        "failures are exactly the unsupervised valid gateways"
    );

    for p in &supervised {
        let st = s6.wait_svstat(p, "down", |s| !s.up);
        assert!(!st.want_up, "{p}: {st:?}");
        assert_eq!(s6.desired_state(p).as_deref(), Some("stopped"), "{p}");
    }
    for (p, pid) in &decoy_pids {
        let st = s6.svstat(p);
        assert!(
            st.up && st.want_up && st.pid == *pid,
            "decoy {p:?} touched: {st:?}"
        );
        assert_eq!(s6.state(p), None, "a state file for decoy {p:?}");
    }
    assert_eq!(
        up_and_pid(&bad_utf8),
        Some((true, bad_utf8_pid)),
        "the non-UTF-8 decoy was touched"
    );
}
