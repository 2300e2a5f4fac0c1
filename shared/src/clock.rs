//! Time as a dependency: runtimes provide the real clock, tests a fixed one.

pub trait Clock {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
    /// Milliseconds since the Unix epoch (for durations in logs).
    fn now_millis(&self) -> f64;
}

/// A clock that always answers the same instant; for tests and replays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedClock {
    pub unix_millis: f64,
}

impl FixedClock {
    pub fn at_unix(secs: i64) -> FixedClock {
        FixedClock {
            unix_millis: secs as f64 * 1000.0,
        }
    }
}

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        (self.unix_millis / 1000.0).floor() as i64
    }

    fn now_millis(&self) -> f64 {
        self.unix_millis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_reports_the_same_instant_in_both_units() {
        let clock = FixedClock {
            unix_millis: 1_700_000_000_999.0,
        };
        assert_eq!(clock.now_unix(), 1_700_000_000);
        assert_eq!(clock.now_millis(), 1_700_000_000_999.0);
        assert_eq!(FixedClock::at_unix(5).now_millis(), 5000.0);
    }
}
