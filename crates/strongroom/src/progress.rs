//! A progress bar on stderr for long operations started from the command line: items done of the total
//! (when known), percent and rate. On a terminal it redraws one line; otherwise it writes a line a second.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    what: String,
    total: Option<u64>,
    started: Instant,
    last_line: Option<Instant>,
    terminal: bool,
}

const WIDTH: usize = 30;

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Progress {
    pub fn new(what: &str, total: Option<u64>) -> Progress {
        Progress {
            what: what.to_owned(),
            total,
            started: Instant::now(),
            last_line: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// The line for `done` items after `elapsed`.
    pub fn line(&self, done: u64, elapsed: Duration) -> String {
        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
        match self.total.filter(|t| *t > 0) {
            Some(total) => {
                let shown = done.min(total);
                let filled = (shown as usize * WIDTH) / total as usize;
                format!(
                    "{} [{}{}] {}/{} items ({}%), {} items/s",
                    self.what,
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled),
                    thousands(shown),
                    thousands(total),
                    shown * 100 / total,
                    thousands(rate as u64)
                )
            }
            None => format!(
                "{} {} items, {} items/s",
                self.what,
                thousands(done),
                thousands(rate as u64)
            ),
        }
    }

    pub fn update(&mut self, done: u64) {
        let line = self.line(done, self.started.elapsed());
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
        } else if self.last_line.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            let _ = writeln!(err, "{line}");
            self.last_line = Some(Instant::now());
        }
    }

    /// The last line, always written, and the total time.
    pub fn finish(&mut self, done: u64) {
        let line = self.line(done, self.started.elapsed());
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = writeln!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = writeln!(err, "done in {:.1}s", self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_show_counts_percent_and_rate() {
        let p = Progress::new("restoring", Some(1_000_000));
        assert_eq!(
            p.line(250_000, Duration::from_secs(2)),
            "restoring [#######-----------------------] 250,000/1,000,000 items (25%), 125,000 items/s"
        );
        let p = Progress::new("indexing", None);
        assert_eq!(
            p.line(1234, Duration::from_secs(1)),
            "indexing 1,234 items, 1,234 items/s"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }
}
