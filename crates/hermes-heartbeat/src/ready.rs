//! When to retry a readiness newline (`-r N`) that could not be written at
//! once because its pipe was full: soon at first, then less and less often,
//! so a reader that never drains costs a wake-up a second at most.

/// Delay before the first retry, in milliseconds.
pub const FIRST_RETRY_MS: u32 = 10;
/// The longest delay between two retries, in milliseconds.
pub const LAST_RETRY_MS: u32 = 1000;

/// The delay after a retry that waited `ms` and still found the pipe full.
pub fn next_retry_ms(ms: u32) -> u32 {
    ms.saturating_mul(2).min(LAST_RETRY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_10_ms_up_to_one_second_and_stay_there() {
        let delays: Vec<u32> =
            core::iter::successors(Some(FIRST_RETRY_MS), |&ms| Some(next_retry_ms(ms)))
                .take(10)
                .collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    }

    #[test]
    fn never_overflows() {
        assert_eq!(next_retry_ms(u32::MAX), LAST_RETRY_MS);
    }
}
