//! A progress bar on stderr, shared by the threads that replay strategies.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A progress bar on stderr, shared by the strategy threads.
///
/// Draws nothing for its first second (short runs stay quiet), then at most about ten times a
/// second; draws nothing at all when stderr is not a terminal. [`Progress::add`] is a relaxed
/// atomic add plus, on a terminal, a clock read: cheap enough to call every few thousand calls.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    enabled: bool,
    start: Instant,
    done: AtomicU64,
    /// Milliseconds after `start` of the last draw (0: none yet).
    last_draw_ms: AtomicU64,
    /// Width of what is on the line now (0: nothing to clear), or `None` once finished.
    line: Mutex<Option<usize>>,
}

impl Progress {
    const QUIET: Duration = Duration::from_secs(1);
    const EVERY_MS: u64 = 100;
    const BAR: u64 = 30;

    /// A bar for `total` units of work, labelled `label`.
    pub fn new(label: &str, total: u64) -> Self {
        Self {
            label: label.to_string(),
            total,
            enabled: std::io::stderr().is_terminal(),
            start: Instant::now(),
            done: AtomicU64::new(0),
            last_draw_ms: AtomicU64::new(0),
            line: Mutex::new(Some(0)),
        }
    }

    /// Counts `n` more units done, and redraws if it is time to.
    pub fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if !self.enabled {
            return;
        }
        let elapsed = self.start.elapsed();
        if elapsed < Self::QUIET {
            return;
        }
        let now_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_draw_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms < last + Self::EVERY_MS {
            return;
        }
        // One thread wins each redraw; the others go straight back to work.
        if self
            .last_draw_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let Ok(mut line) = self.line.try_lock() else {
            return;
        };
        let Some(width) = line.as_mut() else {
            return; // finished
        };
        let text = self.render(done);
        let n = text.chars().count();
        // Pad over a longer previous line (the count only grows, but be safe).
        let pad = width.saturating_sub(n);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{text}{:pad$}", "");
        let _ = err.flush();
        *width = n;
    }

    /// Stops drawing, and clears the line if anything was drawn.
    pub fn finish(&self) {
        let mut line = self.line.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(width) = line.take() {
            if width > 0 {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{:width$}\r", "");
                let _ = err.flush();
            }
        }
    }

    /// `"{label} [#####.....] 42% (n/total)"`.
    fn render(&self, done: u64) -> String {
        let done = done.min(self.total);
        let frac = if self.total == 0 {
            1.0
        } else {
            done as f64 / self.total as f64
        };
        let filled = ((frac * Self::BAR as f64) as u64).min(Self::BAR) as usize;
        let empty = Self::BAR as usize - filled;
        format!(
            "{} [{}{}] {}% ({}/{})",
            self.label,
            "#".repeat(filled),
            ".".repeat(empty),
            (frac * 100.0) as u64,
            done,
            self.total
        )
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn progress_counts_from_many_threads() {
        let p = Arc::new(Progress::new("replay", 8 * 1_000 * 4_096));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let p = Arc::clone(&p);
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        p.add(4_096);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(p.done.load(Ordering::Relaxed), 8 * 1_000 * 4_096);
        p.finish();
        p.finish(); // idempotent
        p.add(1); // after finish: counted, never drawn
        assert_eq!(p.done.load(Ordering::Relaxed), 8 * 1_000 * 4_096 + 1);
    }

    #[test]
    fn progress_renders_the_documented_bar() {
        let p = Progress::new("replay", 200);
        assert_eq!(
            p.render(84),
            format!("replay [{}{}] 42% (84/200)", "#".repeat(12), ".".repeat(18))
        );
        assert_eq!(
            p.render(500),
            format!("replay [{}] 100% (200/200)", "#".repeat(30))
        );
        assert!(Progress::new("x", 0).render(0).ends_with("100% (0/0)"));
        // Under `cargo test`, stderr is captured or redirected: nothing may be drawn.
        if !std::io::stderr().is_terminal() {
            assert!(!p.enabled);
        }
    }
}
