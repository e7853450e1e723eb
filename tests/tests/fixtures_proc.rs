//! Self-tests of the readings the suites base their verdicts on: each one
//! is shown to see the thing it is asked about, so that a check like "no
//! zombie left" or "not blocked" cannot pass only because the reading is
//! blind to it.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use hermes_e2e::heartbeat::{exit_code, mask};
use hermes_e2e::proc::{self, Proc};
use hermes_e2e::run::Output;
use hermes_e2e::s6;
use hermes_e2e::signals::bit;

const LIMIT: Duration = Duration::from_secs(10);

fn sleeper(cmd: &mut Command) -> Proc {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn(cmd)
}

#[test]
fn children_and_zombie_children_see_an_unreaped_child() {
    let me = std::process::id() as i32;
    let mut child = sleeper(&mut Command::new("/bin/true"));
    let pid = child.pid();
    proc::wait_until(LIMIT, "the child to be a zombie", || {
        proc::state(pid) == Some('Z')
    });
    assert!(
        proc::children(me).contains(&pid),
        "children() misses a zombie"
    );
    assert!(proc::zombie_children(me).contains(&pid));
    assert!(s6::all_pids().contains(&pid) && s6::all_pids().contains(&me));
    assert_eq!(child.wait_timeout(LIMIT).map(exit_code), Some(0));
    assert!(!proc::children(me).contains(&pid), "reaped, still listed");
}

#[test]
fn mask_sees_blocked_and_ignored_signals() {
    let mut plain = sleeper(Command::new("/bin/sleep").arg("30"));
    let mut cmd = Command::new("/bin/sleep");
    cmd.arg("30");
    // SAFETY: block_every_signal and signal() are async-signal-safe; runs
    // in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            proc::block_every_signal()
        });
    }
    let mut marked = sleeper(&mut cmd);
    let term = bit(libc::SIGTERM);
    proc::wait_until(LIMIT, "both to sleep", || {
        proc::state(plain.pid()) == Some('S') && proc::state(marked.pid()) == Some('S')
    });
    assert_eq!(mask(plain.pid(), "SigIgn") & term, 0);
    assert_eq!(mask(plain.pid(), "SigBlk") & term, 0);
    assert_ne!(mask(marked.pid(), "SigIgn") & term, 0);
    assert_ne!(mask(marked.pid(), "SigBlk") & bit(libc::SIGSEGV), 0);
    plain.signal(libc::SIGKILL);
    marked.signal(libc::SIGKILL);
    let _ = plain.wait_timeout(LIMIT);
    let _ = marked.wait_timeout(LIMIT);
}

#[test]
fn signal_in_hand_sees_ignored_caught_and_awaited_but_not_default() {
    let term = libc::SIGTERM;
    let mut plain = sleeper(Command::new("/bin/sleep").arg("30"));
    let mut ignoring = sleeper(Command::new("/bin/sh").args(["-c", "trap '' TERM; exec sleep 30"]));
    // dash installs a handler for a trapped signal: SigCgt.
    let mut catching = sleeper(Command::new("/bin/sh").args(["-c", "trap : TERM; sleep 30; :"]));
    let mut heartbeat = sleeper(&mut Command::new(hermes_e2e::bins::heartbeat()));
    let asleep = |p: &Proc| proc::state(p.pid()) == Some('S');
    proc::wait_until(LIMIT, "all four to sleep", || {
        [&plain, &ignoring, &catching, &heartbeat]
            .iter()
            .all(|p| asleep(p))
            && mask(ignoring.pid(), "SigIgn") & bit(term) != 0
            && mask(catching.pid(), "SigCgt") & bit(term) != 0
    });
    assert!(
        !proc::has_signal_in_hand(plain.pid(), term),
        "default taken for in hand"
    );
    assert!(proc::has_signal_in_hand(ignoring.pid(), term));
    assert!(proc::has_signal_in_hand(catching.pid(), term));
    // Waiting in rt_sigtimedwait lifts the block: only the wait shows it.
    assert_eq!(mask(heartbeat.pid(), "SigBlk") & bit(term), 0);
    assert!(proc::in_sigtimedwait(heartbeat.pid()));
    assert!(!proc::in_sigtimedwait(plain.pid()));
    assert!(proc::has_signal_in_hand(heartbeat.pid(), term));
    for p in [&mut plain, &mut ignoring, &mut catching, &mut heartbeat] {
        p.signal(libc::SIGKILL);
        let _ = p.wait_timeout(LIMIT);
    }
    assert_eq!(proc::signals_handled(plain.pid()), None, "gone, still read");
}

#[test]
fn context_switches_move_when_a_sleeper_is_woken() {
    let mut p = sleeper(Command::new("/bin/sleep").arg("30"));
    let pid = p.pid();
    proc::wait_until(LIMIT, "it to sleep", || proc::state(pid) == Some('S'));
    let before = proc::context_switches(pid);
    p.signal(libc::SIGSTOP);
    proc::wait_until(LIMIT, "it to stop", || proc::state(pid) == Some('T'));
    p.signal(libc::SIGCONT);
    proc::wait_until(LIMIT, "it to sleep again", || proc::state(pid) == Some('S'));
    assert!(
        proc::context_switches(pid) > before,
        "the count never moves"
    );
    p.signal(libc::SIGKILL);
    let _ = p.wait_timeout(LIMIT);
}

#[test]
#[should_panic(expected = "killed by signal 15")]
fn exit_code_refuses_a_death_by_signal() {
    // 143 from a handler is not the same as dying of SIGTERM.
    let status = Command::new("/bin/sh")
        .args(["-c", "kill -TERM $$"])
        .status()
        .expect("run sh");
    exit_code(status);
}

#[test]
fn stderr_lines_sees_every_line() {
    let out = Output {
        code: 1,
        stdout: String::new(),
        stderr: "✗ one\n✗ two\n".into(),
    };
    assert_eq!(out.stderr_lines(), ["✗ one", "✗ two"]);
}
