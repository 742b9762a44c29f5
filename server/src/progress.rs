//! Progress of the long commands (`import`, `check`, `bench-*`, `report`): a bar (indicatif) when
//! stderr is a terminal, plain lines otherwise — at most one every [`EVERY`] and the last one
//! always — written through the log, so `AZYQ_LOG_FORMAT=json` gets them as JSON objects too (and
//! no bar). Durations only (`Instant`), never the date.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Least time between two plain progress lines.
pub const EVERY: Duration = Duration::from_secs(5);

/// How progress is shown: a bar on a terminal, or plain lines.
enum Shown {
    Bar(ProgressBar),
    /// When the last line was written, and how many were.
    Lines {
        last: Mutex<(Option<Instant>, u64)>,
    },
}

/// The progress of one piece of long work: `total` steps, or phases of unknown length (`total` 0).
pub struct Progress {
    what: String,
    total: u64,
    started: Instant,
    shown: Shown,
}

/// A bar only for people: stderr a terminal, and text logs.
fn on_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var("AZYQ_LOG_FORMAT").map_or(true, |f| f.trim() != "json")
}

impl Progress {
    /// Work of `total` steps (0: phases of unknown length, shown as a spinner).
    pub fn new(what: &str, total: u64) -> Progress {
        Progress::shown(what, total, on_terminal())
    }

    fn shown(what: &str, total: u64, bar: bool) -> Progress {
        let shown = if bar {
            let (bar, template) = if total > 0 {
                (ProgressBar::new(total), "{prefix} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
            } else {
                (ProgressBar::new_spinner(), "{prefix} {spinner} {elapsed} {wide_msg}")
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            Shown::Bar(bar)
        } else {
            Shown::Lines { last: Mutex::new((None, 0)) }
        };
        Progress { what: what.to_owned(), total, started: Instant::now(), shown }
    }

    /// Step `done` of the total reached (or, without a total, a phase begun), with what it is.
    pub fn step(&self, done: u64, message: &str) {
        match &self.shown {
            Shown::Bar(bar) => {
                bar.set_position(done);
                bar.set_message(message.to_owned());
            }
            Shown::Lines { last } => {
                let now = Instant::now();
                let mut last = last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let last_step = self.total > 0 && done >= self.total;
                if last_step || last.0.is_none_or(|at| now.duration_since(at) >= EVERY) {
                    *last = (Some(now), last.1 + 1);
                    self.line(done, message);
                }
            }
        }
    }

    fn line(&self, done: u64, message: &str) {
        let seconds = format!("{:.1}", self.started.elapsed().as_secs_f64());
        if self.total > 0 {
            tracing::info!(target: "progress", done, total = self.total, seconds, "{} [{done}/{}] {message}", self.what, self.total);
        } else {
            tracing::info!(target: "progress", seconds, "{}: {message}", self.what);
        }
    }

    /// The work is over: the bar is cleared (the command prints its own summary).
    pub fn finish(self) {
        if let Shown::Bar(bar) = &self.shown {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_rate_limited_but_the_last_step_is_always_told() {
        let p = Progress::shown("check", 3, false);
        let Shown::Lines { last } = &p.shown else { panic!("plain lines expected") };
        p.step(1, "first");
        assert_eq!(last.lock().unwrap().1, 1, "the first step is told");
        p.step(2, "second");
        assert_eq!(last.lock().unwrap().1, 1, "within EVERY of the first: not told");
        p.step(3, "last");
        assert_eq!(last.lock().unwrap().1, 2, "the last step is told");
        let phases = Progress::shown("import", 0, false);
        phases.step(0, "reading");
        phases.finish();
    }
}
