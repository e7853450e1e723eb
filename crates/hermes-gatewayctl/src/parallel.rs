//! Runs one job per profile concurrently (spawn all, then collect), so
//! `--all` over many gateways takes about as long as the slowest one; but
//! never more jobs at once than the file descriptor limit allows, so no job
//! fails for lack of descriptors.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors one job may hold at its peak: the profile lock, and while an
/// s6 program is being spawned /dev/null, two pipes and std's exec-error
/// pipe (then two pipe ends and a pidfd while it runs).
const FDS_PER_JOB: u64 = 8;
/// Descriptors kept free for the calling thread (stdout, stderr, a listing).
const FDS_SPARE: u64 = 8;
/// Assumed already open when /proc cannot tell.
const FDS_OPEN_UNKNOWN: u64 = 64;

/// Applies `job` to every item and returns the results in the items' order:
/// one thread per item, or as many as the descriptor limit allows, each
/// taking the next item until none is left.
pub fn map<T, R, F>(items: &[T], job: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let workers = usize::try_from(job_slots(raise_fd_limit(), open_fds())).unwrap_or(usize::MAX);
    map_with(items, workers.min(items.len()), job)
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
/// item.
fn map_with<T, R, F>(items: &[T], workers: usize, job: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, job(item)));
        }
    };
    let mut results: Vec<Option<R>> = items.iter().map(|_| None).collect();
    thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers)
            .map_while(|_| {
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        let mut finished = work();
        for helper in helpers {
            // A job never panics; should one, that worker's items are
            // redone below rather than lost.
            finished.extend(helper.join().unwrap_or_default());
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
        let out = match workers {
            Some(w) => map_with(&items, w, job),
            None => map(&items, job),
        };
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        peak.load(Ordering::SeqCst)
    }

    #[test]
    fn keeps_order_and_runs_every_job_at_once() {
        let peak = peak_of(20, None, 20, Duration::from_secs(5));
        assert_eq!(peak, 20, "jobs ran one after another");
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
