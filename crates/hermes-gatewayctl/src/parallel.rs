//! Runs one job per profile concurrently (spawn all, then collect), so
//! `--all` over many gateways takes about as long as the slowest one.

use std::thread;

/// Applies `job` to every item on its own thread and returns the results in
/// the items' order. Where a thread cannot be created, that item runs on
/// the calling thread instead: slower, never skipped.
pub fn map<T, R, F>(items: &[T], job: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    thread::scope(|scope| {
        let job = &job;
        let started: Vec<Result<thread::ScopedJoinHandle<'_, R>, &T>> = items
            .iter()
            .map(|item| {
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || job(item))
                    .map_err(|_| item)
            })
            .collect();
        started
            .into_iter()
            .zip(items)
            .map(|(handle, item)| match handle {
                // A job never panics; should one, its item is redone here
                // rather than lost.
                Ok(h) => h.join().unwrap_or_else(|_| job(item)),
                Err(item) => job(item),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn keeps_order_and_runs_every_job_at_once() {
        const JOBS: usize = 20;
        let items: Vec<usize> = (0..JOBS).collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        // Each job waits (bounded by one shared deadline, so a serial map
        // fails quickly instead of hanging) until every job has started.
        let deadline = Instant::now() + Duration::from_secs(5);
        let out = map(&items, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            while peak.load(Ordering::SeqCst) < JOBS && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(
            peak.load(Ordering::SeqCst),
            JOBS,
            "jobs ran one after another"
        );
    }
}
