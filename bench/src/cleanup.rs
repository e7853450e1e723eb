//! Everything the bench starts goes away: the bench is a child subreaper (so
//! orphans of what it started come back to it), it kills process trees by
//! pid and reaps what comes back, and a panic hook kills every descendant and
//! removes the bench's temp dirs before the (panic = abort) process ends,
//! along with what a podman harness would have removed on drop (its temp
//! dir, the mounts in it and its cgroup dirs; its containers' processes,
//! conmon and the rest, are descendants and die first).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use hermes_e2e::podman::{Podman, Remains};
use hermes_e2e::proc;

use crate::process_tree;

static TEMP_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static PODMANS: Mutex<Vec<Remains>> = Mutex::new(Vec::new());

/// Makes the bench a subreaper and installs the panic hook.
pub fn install() {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        eprintln!("bench: cleaning up after the panic");
        kill_descendants();
        remove_podmans();
        remove_temp_dirs();
    }));
}

/// Remembers a podman harness so a panic still removes what it made
/// (a panic = abort process never drops it).
pub fn register_podman(podman: &Podman) {
    if let Ok(mut podmans) = PODMANS.lock() {
        podmans.push(podman.remains());
    }
}

fn remove_podmans() {
    if let Ok(podmans) = PODMANS.lock() {
        for remains in podmans.iter() {
            remains.remove();
        }
    }
}

/// Remembers a temp dir so a panic still removes it.
pub fn register_temp_dir(path: &Path) {
    if let Ok(mut dirs) = TEMP_DIRS.lock() {
        dirs.push(path.to_owned());
    }
}

fn remove_temp_dirs() {
    if let Ok(dirs) = TEMP_DIRS.lock() {
        for dir in dirs.iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// SIGKILLs `child` and all its descendants, then reaps them all (the
/// descendants come back to the bench, a subreaper, once their parent dies).
pub fn kill_tree(mut child: Child) {
    let pids = process_tree::members(child.id() as i32);
    for &pid in &pids {
        proc::send_signal(pid, libc::SIGKILL);
    }
    let _ = child.wait();
    for &pid in &pids[1..] {
        reap(pid, Duration::from_secs(5));
    }
}

/// Waits (bounded) for `pid` to be gone, reaping it if it is our child.
pub fn reap(pid: i32, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        // SAFETY: waitpid with a null status pointer is allowed.
        let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        if r == pid || (r < 0 && process_tree::comm_state(pid).is_none()) {
            return;
        }
        if Instant::now() >= deadline {
            return;
        }
        sleep(Duration::from_millis(2));
    }
}

/// Kills every descendant of the bench and reaps its children. Called when
/// a section is done (no `Child` handle may be alive then) and on panic.
pub fn kill_descendants() {
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    for _ in 0..50 {
        let pids = process_tree::members(me);
        if pids.len() == 1 {
            break;
        }
        for &pid in &pids[1..] {
            proc::send_signal(pid, libc::SIGKILL);
        }
        reap_any();
        sleep(Duration::from_millis(20));
    }
    reap_any();
}

/// Reaps every child that has exited, without blocking.
pub fn reap_any() {
    // SAFETY: waitpid with a null status pointer is allowed.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}
