//! The few timestamp text forms AWS uses.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

/// `2026-12-01T12:05:15Z`: IAM and STS XML dates, CloudTrail `eventTime`.
pub fn iso8601_seconds(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

pub fn iso8601_millis(ms: i64) -> String {
    iso8601_seconds(from_millis(ms))
}

pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Parses RFC 3339 / ISO 8601 extended forms, as policy `Date*` conditions use them.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(iso8601_millis(1_518_567_315_000), "2018-02-14T00:15:15Z");
    }
}
