//! Capacity units as DynamoDB counts them: a write unit per 1 KB written (at least one), a read unit per
//! 4 KB read strongly consistently (half for an eventually consistent read), at least one 4 KB step.

pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let steps = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        steps
    } else {
        steps / 2.0
    }
}

/// DynamoDB keeps up to five minutes of a table's unused provisioned capacity for bursts.
const BURST_SECONDS: f64 = 300.0;

/// A PROVISIONED table's read or write capacity as a bucket of units: it fills at the provisioned units
/// per second up to [`BURST_SECONDS`] of them, starting with one second's worth. A request is admitted
/// while the bucket holds the least it can consume (a write unit, half a read unit) and then pays what it
/// consumed, which may take the bucket below zero (a request's size is known only once it ran); the
/// requests after it wait for the refill.
#[derive(Debug)]
pub struct Bucket {
    units: f64,
    at: std::time::Instant,
}

impl Bucket {
    pub fn new(per_second: i64, now: std::time::Instant) -> Bucket {
        Bucket {
            units: per_second as f64,
            at: now,
        }
    }

    fn refill(&mut self, per_second: i64, now: std::time::Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let rate = per_second as f64;
        self.units = (self.units + elapsed * rate).min(rate * BURST_SECONDS);
        self.at = now;
    }

    /// Whether a request that consumes at least `least` units may start now, at `per_second` provisioned
    /// units.
    pub fn admits(&mut self, per_second: i64, least: f64, now: std::time::Instant) -> bool {
        self.refill(per_second, now);
        self.units >= least
    }

    pub fn pay(&mut self, per_second: i64, units: f64, now: std::time::Instant) {
        self.refill(per_second, now);
        self.units -= units;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_up_per_step() {
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(0, false), 0.5);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
    }

    #[test]
    fn a_bucket_admits_while_it_holds_units_and_keeps_five_minutes_of_them() {
        let t0 = std::time::Instant::now();
        let at = |ms: u64| t0 + std::time::Duration::from_millis(ms);
        let mut b = Bucket::new(5, t0);
        assert!(b.admits(5, 1.0, t0));
        b.pay(5, 4.0, t0);
        assert!(b.admits(5, 1.0, t0));
        b.pay(5, 3.0, t0);
        assert!(!b.admits(5, 1.0, t0), "two units owed");
        assert!(
            !b.admits(5, 1.0, at(500)),
            "0.5 s refills 2.5 units: half a unit in hand"
        );
        assert!(b.admits(5, 0.5, at(500)), "enough for an eventually consistent read");
        assert!(b.admits(5, 1.0, at(600)));
        // A long idle time keeps at most 300 seconds of capacity.
        assert!(b.admits(5, 1.0, at(3_600_000)));
        b.pay(5, 1500.0, at(3_600_000));
        assert!(!b.admits(5, 0.5, at(3_600_000)));
        assert!(b.admits(5, 0.5, at(3_600_100)));
    }
}
