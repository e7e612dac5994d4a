//! Retry delays.

use std::time::Duration;

/// Exponential backoff with jitter for transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The delay after the `attempt`-th failure (1-based): `base · 2^(attempt-1)`, capped,
    /// then scaled by a random factor in [0.8, 1.2) so that retries of a burst spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let raw = self.base.saturating_mul(1 << exponent).min(self.max);
        raw.mul_f64(0.8 + fastrand::f64() * 0.4).min(self.max)
    }

    /// Meta's advice for the pair limit (131056): wait 4^n seconds, n counting repeats from 0.
    pub fn pair_limit(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(10);
        Duration::from_secs(4u64.saturating_pow(exponent)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let b = Backoff::default();
        for attempt in 1..=5 {
            let expected = Duration::from_secs(1 << (attempt - 1));
            let d = b.delay(attempt);
            assert!(
                d >= expected.mul_f64(0.8) && d < expected.mul_f64(1.2),
                "{attempt}: {d:?}"
            );
        }
        assert!(b.delay(40) <= b.max);
    }

    #[test]
    fn pair_limit_follows_powers_of_four() {
        let b = Backoff::default();
        let secs: Vec<_> = (1..=4).map(|n| b.pair_limit(n).as_secs()).collect();
        assert_eq!(secs, [1, 4, 16, 64]);
    }
}
