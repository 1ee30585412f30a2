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
}
