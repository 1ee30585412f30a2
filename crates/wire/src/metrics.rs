//! The operator's view: counters and latency histograms per API operation, in Prometheus' text format at
//! `GET /metrics` (served only with `--metrics`: operation names and counts are the operator's business).
//! Recording takes a read lock and a few relaxed atomic adds; a new operation name takes the write lock
//! once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct OpStats {
    requests: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    sum_us: AtomicU64,
}

/// One of an operation's counters, read from its stats.
type Counter = fn(&OpStats) -> u64;

/// A label value in Prometheus' text format: backslash, double quote and newline escaped.
pub fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A metric family from elsewhere: name (`_total` for counters), help, and samples (labels, value).
pub type Family<'a> = (&'a str, &'a str, Vec<(String, f64)>);

#[derive(Default)]
pub struct Metrics {
    ops: RwLock<BTreeMap<(&'static str, String), Arc<OpStats>>>,
    connections: Arc<AtomicU64>,
}

/// An open client connection, counted until dropped.
pub struct OpenConnection(Arc<AtomicU64>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.connections.clone())
    }

    pub fn connections_open(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// One request of `op` on `api` (the signing name) that took `elapsed`.
    pub fn record(&self, api: &'static str, op: &str, elapsed: Duration, error: bool) {
        // Operation names come from requests: only name characters reach the labels.
        let clean: String = op
            .chars()
            .take(64)
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
            .collect();
        let op = clean.as_str();
        let found = self
            .ops
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(api, op.to_owned()))
            .cloned();
        let stats = match found {
            Some(s) => s,
            None => {
                let mut ops = self.ops.write().unwrap_or_else(|p| p.into_inner());
                // Unknown operations would make names without end: they share one.
                let name = if ops.len() < 512 {
                    op.to_owned()
                } else {
                    "other".to_owned()
                };
                ops.entry((api, name)).or_default().clone()
            }
        };
        stats.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&stats.buckets) {
            if secs <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        stats
            .sum_us
            .fetch_add(elapsed.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }

    /// The request metrics in Prometheus' text format, then `extra` after them.
    pub fn render(&self, extra: &[Family<'_>]) -> String {
        let mut out = String::new();
        let ops = self.ops.read().unwrap_or_else(|p| p.into_inner());
        let counters: [(&str, &str, Counter); 2] = [
            (
                "strongroom_requests_total",
                "Requests answered, by API and operation.",
                |s| s.requests.load(Ordering::Relaxed),
            ),
            (
                "strongroom_request_errors_total",
                "Requests answered with an error.",
                |s| s.errors.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for ((api, op), s) in ops.iter() {
                let _ = writeln!(out, "{name}{{api=\"{api}\",operation=\"{op}\"}} {}", value(s));
            }
        }
        let _ = writeln!(
            out,
            "# HELP strongroom_request_duration_seconds Time to answer a request."
        );
        let _ = writeln!(out, "# TYPE strongroom_request_duration_seconds histogram");
        for ((api, op), s) in ops.iter() {
            let labels = format!("api=\"{api}\",operation=\"{op}\"");
            for (bound, count) in BUCKETS.iter().zip(&s.buckets) {
                let _ = writeln!(
                    out,
                    "strongroom_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    count.load(Ordering::Relaxed)
                );
            }
            let n = s.requests.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "strongroom_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {n}"
            );
            let _ = writeln!(
                out,
                "strongroom_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "strongroom_request_duration_seconds_count{{{labels}}} {n}");
        }
        for (name, help, samples) in extra {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("dynamodb", "GetItem", Duration::from_micros(700), false);
        m.record("dynamodb", "GetItem", Duration::from_millis(30), true);
        let text = m.render(&[(
            "strongroom_table_key_cache_hits_total",
            "Hits.",
            vec![(String::new(), 3.0)],
        )]);
        assert!(text.contains("strongroom_requests_total{api=\"dynamodb\",operation=\"GetItem\"} 2"));
        assert!(text.contains("strongroom_request_errors_total{api=\"dynamodb\",operation=\"GetItem\"} 1"));
        assert!(text.contains("le=\"0.0005\"} 0"));
        assert!(text.contains("le=\"0.001\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text
            .contains("# TYPE strongroom_table_key_cache_hits_total counter\nstrongroom_table_key_cache_hits_total 3"));
    }
}
