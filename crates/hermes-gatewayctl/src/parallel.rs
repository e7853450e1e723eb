//! Runs one job per profile concurrently (spawn all, then collect), so
//! `--all` over many gateways takes about as long as the slowest one, within
//! what the machine can run:
//! - jobs that keep a CPU busy (starting s6 programs) run a few per CPU at
//!   once, so that 2,000 gateways do not make each program wait its whole
//!   time bound for a CPU; jobs that mostly wait (`--wait`) all run at once;
//! - never more than the file descriptor limit allows;
//! - under a tight RLIMIT_NPROC, a worker whose job could not start a
//!   program (no process slot left) gives its slot back by ending, and the
//!   job is tried again by those that remain.

use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors one job may hold at its peak: the profile lock, and while an
/// s6 program is being spawned /dev/null, two pipes and std's exec-error
/// pipe (then two pipe ends and a pidfd while it runs).
const FDS_PER_JOB: u64 = 8;
/// Descriptors kept free for the calling thread (stdout, stderr, a listing).
const FDS_SPARE: u64 = 8;
/// Assumed already open when /proc cannot tell.
const FDS_OPEN_UNKNOWN: u64 = 64;
/// Busy jobs at once per CPU, and at least this many in all: starting a
/// program is short CPU work between waits for the kernel and for s6.
const BUSY_PER_CPU: usize = 4;
const BUSY_AT_LEAST: usize = 8;
/// The pause before a job that found no process slot is tried again by the
/// calling thread while helpers still run (doubling up to the last).
const BUSY_PAUSE: Duration = Duration::from_millis(5);
const BUSY_PAUSE_MAX: Duration = Duration::from_millis(500);

/// What the jobs do with their time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// They start programs and wait little: a few per CPU.
    Busy,
    /// They mostly wait for s6: all at once.
    Idle,
}

/// Applies `job` to every item and returns the results in the items' order.
/// A result for which `busy` is true (nothing started for lack of a process
/// slot) is not kept while other workers can give theirs back: the job is
/// tried again.
pub fn map<T, R, F, B>(items: &[T], workers: Workers, busy: B, job: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    B: Fn(&R) -> bool + Sync,
{
    let by_fds = usize::try_from(job_slots(raise_fd_limit(), open_fds())).unwrap_or(usize::MAX);
    let by_cpus = match workers {
        Workers::Busy => thread::available_parallelism()
            .map_or(1, usize::from)
            .saturating_mul(BUSY_PER_CPU)
            .max(BUSY_AT_LEAST),
        Workers::Idle => usize::MAX,
    };
    map_with(items, by_fds.min(by_cpus).min(items.len()), busy, job)
}

/// How many more descriptors this process may open now (the soft limit
/// raised first), less a few kept for the calling thread; at least one.
pub fn descriptors_free() -> usize {
    let free =
        raise_fd_limit().map_or(u64::MAX, |soft| soft.saturating_sub(open_fds() + FDS_SPARE));
    usize::try_from(free).unwrap_or(usize::MAX).max(1)
}

/// Raises the soft RLIMIT_NOFILE to the hard one (best effort: a failure
/// only means fewer jobs at once) and returns the soft limit now in force,
/// `None` for unlimited.
fn raise_fd_limit() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}

/// How many descriptors are open now.
fn open_fds() -> u64 {
    fs::read_dir("/proc/self/fd").map_or(FDS_OPEN_UNKNOWN, |d| d.count() as u64)
}

/// How many jobs may run at once under a soft limit of `soft` descriptors
/// with `open` in use already; at least one.
fn job_slots(soft: Option<u64>, open: u64) -> u64 {
    soft.map_or(u64::MAX, |soft| {
        (soft.saturating_sub(open + FDS_SPARE) / FDS_PER_JOB).max(1)
    })
}

/// [`map`] on `workers` threads, the calling thread being one of them: a
/// thread that cannot be created only means fewer at once, never a skipped
/// item. A helper thread whose job was `busy` hands the item back and ends
/// (its own task slot is then free for a program); the calling thread never
/// ends early, and tries a busy job again after a pause for as long as
/// helpers run (their programs and threads hold the slots it needs), then
/// once more with all of them gone.
fn map_with<T, R, F, B>(items: &[T], workers: usize, busy: B, job: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    B: Fn(&R) -> bool + Sync,
{
    let next = AtomicUsize::new(0);
    let helpers_alive = AtomicUsize::new(0);
    let handed_back = Mutex::new(Vec::new());
    let take = || {
        let back = handed_back
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        back.or_else(|| {
            let i = next.fetch_add(1, Ordering::Relaxed);
            (i < items.len()).then_some(i)
        })
    };
    let helper = || {
        let mut done = Vec::new();
        while let Some(i) = take() {
            let result = job(&items[i]);
            if busy(&result) {
                handed_back
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(i);
                break;
            }
            done.push((i, result));
        }
        helpers_alive.fetch_sub(1, Ordering::SeqCst);
        done
    };
    let persistent = |i: usize| {
        let mut pause = BUSY_PAUSE;
        let mut alone_tried = false;
        loop {
            let result = job(&items[i]);
            if !busy(&result) || alone_tried {
                return (i, result);
            }
            if helpers_alive.load(Ordering::SeqCst) == 0 {
                alone_tried = true;
            } else {
                thread::sleep(pause);
                pause = (pause * 2).min(BUSY_PAUSE_MAX);
            }
        }
    };
    let mut results: Vec<Option<R>> = items.iter().map(|_| None).collect();
    thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers)
            .map_while(|_| {
                helpers_alive.fetch_add(1, Ordering::SeqCst);
                let spawned = thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, helper)
                    .ok();
                if spawned.is_none() {
                    helpers_alive.fetch_sub(1, Ordering::SeqCst);
                }
                spawned
            })
            .collect();
        let mut finished = Vec::new();
        while let Some(i) = take() {
            finished.push(persistent(i));
        }
        for helper in helpers {
            // A job never panics; should one, that worker's items are
            // redone below rather than lost.
            finished.extend(helper.join().unwrap_or_default());
        }
        // Handed back by a helper after this thread ran out of items.
        while let Some(i) = take() {
            finished.push(persistent(i));
        }
        for (i, result) in finished {
            results[i] = Some(result);
        }
    });
    results
        .into_iter()
        .zip(items)
        .map(|(result, item)| result.unwrap_or_else(|| job(item)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Runs `map_with` over `jobs` items on `workers` threads (`map` for
    /// `None`); each job waits until `awaited` jobs have run at once, or
    /// `patience` has passed (one shared deadline, so waiting for more than
    /// can ever run at once costs one patience, never a hang). Checks every
    /// result and their order, and returns the peak seen.
    fn peak_of(jobs: usize, workers: Option<usize>, awaited: usize, patience: Duration) -> usize {
        let items: Vec<usize> = (0..jobs).collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let deadline = Instant::now() + patience;
        let job = |&i: &usize| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            while peak.load(Ordering::SeqCst) < awaited && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        };
        let never = |_: &usize| false;
        let out = match workers {
            Some(w) => map_with(&items, w, never, job),
            None => map(&items, Workers::Idle, never, job),
        };
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        peak.load(Ordering::SeqCst)
    }

    #[test]
    fn keeps_order_and_runs_every_waiting_job_at_once() {
        let peak = peak_of(20, None, 20, Duration::from_secs(5));
        assert_eq!(peak, 20, "jobs ran one after another");
    }

    #[test]
    fn busy_jobs_run_a_few_per_cpu_at_once() {
        let cpus = thread::available_parallelism().map_or(1, usize::from);
        let cap = (cpus * BUSY_PER_CPU).max(BUSY_AT_LEAST);
        let items: Vec<usize> = (0..cap * 3).collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let out = map(
            &items,
            Workers::Busy,
            |_| false,
            |&i| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                i
            },
        );
        assert_eq!(out, items);
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= cap, "{peak} at once, over {cap}");
        assert!(peak > 1, "jobs ran one after another");
    }

    #[test]
    fn a_busy_job_is_tried_again_and_its_worker_gives_its_slot_back() {
        // A job is busy while more than 2 run at once (as a program that
        // finds no process slot while the workers hold them): the workers
        // that met it end, and every job still gets its real result.
        let items: Vec<usize> = (0..40).collect();
        let running = AtomicUsize::new(0);
        let workers_seen = Mutex::new(std::collections::HashSet::new());
        let busy_seen = AtomicUsize::new(0);
        let out = map_with(
            &items,
            8,
            |r: &Option<usize>| r.is_none(),
            |&i| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                let me = thread::current().id();
                let result = if now > 2 {
                    busy_seen.fetch_add(1, Ordering::SeqCst);
                    None
                } else {
                    thread::sleep(Duration::from_millis(5));
                    Some(i)
                };
                workers_seen.lock().map(|mut s| s.insert(me)).ok();
                running.fetch_sub(1, Ordering::SeqCst);
                result
            },
        );
        assert_eq!(out, items.iter().map(|&i| Some(i)).collect::<Vec<_>>());
        assert!(
            busy_seen.load(Ordering::SeqCst) > 0,
            "nothing was ever busy"
        );
        let seen = workers_seen.lock().map(|s| s.len()).unwrap_or(0);
        assert!(seen > 2, "only {seen} workers ran: nothing to give back");
    }

    #[test]
    fn a_bounded_pool_runs_every_job_never_more_at_once() {
        // Each job waits for one more than the pool holds: the peak shows
        // the pool full, and never over.
        let patience = Duration::from_secs(1);
        assert_eq!(peak_of(50, Some(3), 4, patience), 3);
        assert_eq!(peak_of(7, Some(1), 2, patience), 1);
        assert_eq!(peak_of(0, Some(4), 5, patience), 0);
    }

    #[test]
    fn slots_follow_the_descriptor_limit() {
        // 32 descriptors, 4 open: (32 - 4 - 8) / 8.
        assert_eq!(job_slots(Some(32), 4), 2);
        assert_eq!(job_slots(Some(1024), 3), 126);
        // Too few for even one job's share: still one at a time.
        assert_eq!(job_slots(Some(10), 9), 1);
        assert_eq!(job_slots(Some(3), 64), 1);
        assert_eq!(job_slots(None, 3), u64::MAX);
    }
}
