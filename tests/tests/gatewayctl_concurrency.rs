//! Many gatewayctl processes at once against real s6: 20 start/stop/restart
//! requests (some with --wait, some --all) released together, on one shared
//! gateway and on several others. Each exits 0 with its confirmation or 1
//! with one clear s6 line; afterwards a last request per gateway is honoured,
//! and s6-svstat and gateway_state.json both match it.

use std::fs;
use std::sync::Barrier;
use std::time::Duration;

use hermes_e2e::run::{Output, run};
use hermes_e2e::s6::{Gateway, ScanDir};
use hermes_e2e::verb::Verb;

/// The gateways: `shared` gets half the requests, the rest share the others.
const SHARED: &str = "shared";
const OTHERS: [&str; 3] = ["b", "c", "d"];
const PROCESSES: usize = 20;
const ROUNDS: usize = 3;

/// One request of the storm.
#[derive(Debug, Clone)]
struct Request {
    verb: Verb,
    /// `None` for `--all`.
    profile: Option<&'static str>,
    wait: bool,
}

impl Request {
    fn args(&self) -> Vec<String> {
        let mut args = vec![self.verb.word().to_owned()];
        match self.profile {
            Some(p) => args.push(p.to_owned()),
            None => args.push("--all".to_owned()),
        }
        if self.wait {
            args.extend(["-T".to_owned(), "3".to_owned()]);
        }
        args
    }
}

/// The storm of one round: half on the shared gateway, the rest spread
/// over the others, verbs rotating; a few wait; one `stop --all` and one
/// `restart --all`.
fn storm(round: usize) -> Vec<Request> {
    let verbs = [Verb::Start, Verb::Stop, Verb::Restart];
    (0..PROCESSES)
        .map(|i| {
            let verb = verbs[(i + round) % 3];
            match i {
                0 => Request {
                    verb: Verb::Stop,
                    profile: None,
                    wait: false,
                },
                1 => Request {
                    verb: Verb::Restart,
                    profile: None,
                    wait: false,
                },
                _ => Request {
                    verb,
                    profile: Some(if i % 2 == 0 {
                        SHARED
                    } else {
                        OTHERS[i % OTHERS.len()]
                    }),
                    wait: i % 5 == 0,
                },
            }
        })
        .collect()
}

/// True for one line of s6 trouble about `profile`'s action `verb`: the
/// failed, timed-out and --wait lines.
fn is_s6_error(reason: &str, verb: Verb, profile: &str) -> bool {
    let service = format!("gateway-{profile}");
    reason.starts_with(&format!("s6-svc {} on '{service}' ", verb.word()))
        || reason.starts_with(&format!("s6-svstat status on '{service}' "))
        || reason == format!("{service} did not {} within 3s (--timeout)", verb.word())
}

fn check(req: &Request, out: &Output) {
    let what = format!("{:?}", req.args());
    assert!(!out.stderr.contains("panicked"), "{what}: {out:?}");
    match req.profile {
        Some(p) => match out.code {
            0 => {
                assert_eq!(
                    out.stdout,
                    format!("✓ {} gateway-{p} under s6\n", req.verb.done()),
                    "{what}"
                );
                assert_eq!(out.stderr, "", "{what}: {out:?}");
            }
            1 => {
                assert_eq!(out.stdout, "", "{what}: {out:?}");
                assert_eq!(out.stderr_lines().len(), 1, "{what}: {out:?}");
                let reason = out.stderr.trim_end().strip_prefix("✗ ").unwrap_or("");
                assert!(
                    is_s6_error(reason, req.verb, p),
                    "{what}: not a clear s6 line: {out:?}"
                );
            }
            _ => panic!("{what}: exit {}: {out:?}", out.code),
        },
        None => {
            let failures = out.stderr_lines();
            assert_eq!(out.code, i32::from(!failures.is_empty()), "{what}: {out:?}");
            let all = 1 + OTHERS.len();
            assert_eq!(
                out.stdout,
                format!(
                    "✓ {} {} profile gateway(s) under s6\n",
                    req.verb.done(),
                    all - failures.len()
                ),
                "{what}: {out:?}"
            );
            for line in failures {
                let rest = line
                    .strip_prefix(&format!("✗ Could not {} gateway-", req.verb.word()))
                    .unwrap_or_else(|| panic!("{what}: {line:?}"));
                let (p, reason) = rest.split_once(": ").expect("a reason");
                assert!(is_s6_error(reason, req.verb, p), "{what}: {line:?}");
            }
        }
    }
}

/// Runs `requests` all at once (released together by a barrier) and checks
/// each output.
/// Returns how many exited 1.
fn release(s6: &ScanDir, requests: &[Request]) -> usize {
    let barrier = Barrier::new(requests.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|req| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut cmd = s6.gatewayctl();
                    cmd.args(req.args());
                    barrier.wait();
                    let out = run(&mut cmd, Duration::from_secs(60));
                    check(req, &out);
                    usize::from(out.code == 1)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .sum()
    })
}

/// What gateway_state.json says for a gateway s6 wants up (or down).
fn desired_state(want_up: bool) -> &'static str {
    if want_up { "running" } else { "stopped" }
}

fn assert_no_temp_files(s6: &ScanDir, profile: &str) {
    let home = s6.profile_home(profile);
    let names: Vec<String> = fs::read_dir(&home)
        .expect("profile home")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["gateway_state.json"],
        "{profile} home holds {names:?}"
    );
}

#[test]
fn twenty_concurrent_gatewayctls_succeed_or_fail_in_one_s6_line_and_the_last_request_wins() {
    let mut gateways = vec![Gateway::new(SHARED)];
    gateways.extend(OTHERS.iter().map(|p| Gateway::new(p)));
    let s6 = ScanDir::with(&gateways);
    let profiles: Vec<&str> = std::iter::once(SHARED).chain(OTHERS).collect();
    for round in 0..ROUNDS {
        let failed = release(&s6, &storm(round));
        eprintln!("round {round}: {failed} of {PROCESSES} exited 1 with an s6 line");
        // Concurrent requests on one profile are serialised, so what s6 was
        // last told is what gateway_state.json says.
        for p in &profiles {
            assert_eq!(
                s6.desired_state(p).as_deref(),
                Some(desired_state(s6.svstat(p).want_up)),
                "round {round}: after the storm, {p}'s state file disagrees with s6"
            );
        }
        // The last request per gateway, rotating so each round ends each
        // gateway in another state than the round before.
        for (i, p) in profiles.iter().enumerate() {
            let verb = [Verb::Stop, Verb::Start, Verb::Restart][(round + i) % 3];
            let out = s6.ctl(&[verb.word(), p]);
            assert_eq!(
                (out.code, out.stdout.clone()),
                (0, format!("✓ {} gateway-{p} under s6\n", verb.done())),
                "round {round}: last {verb:?} of {p}: {out:?}"
            );
            let st = s6.wait_svstat(p, "in the last requested state", |s| {
                s.want_up == verb.wants_up() && s.up == verb.wants_up()
            });
            assert_eq!(st.want_up, verb.wants_up(), "{p}: {st:?}");
            assert_eq!(
                s6.desired_state(p).as_deref(),
                Some(desired_state(verb.wants_up())),
                "round {round}: {p}"
            );
            assert_no_temp_files(&s6, p);
        }
    }
}
