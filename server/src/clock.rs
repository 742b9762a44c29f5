//! Time, injected: domain code never asks the system clock itself. The clock lives in the shared
//! crate, so that the till reads the same `AZYQ_FAKE_NOW` the same way.

pub use azyq_shared::clock::{Clock, FakeClock, SystemClock};

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// What reads the wall clock (or lets a library read it for us).
    const WALL_CLOCK_READS: &[&str] =
        &["Utc::now", "Local::now", "SystemTime::now", "UNIX_EPOCH", "validate_exp = true", "validate_nbf = true"];

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every read of "now" goes through a `Clock`, so that `AZYQ_FAKE_NOW` drives session expiry,
    /// holds, tokens and the scheduler alike: a new wall-clock read outside `clock.rs` fails here.
    /// (`Instant::now` is allowed: it measures durations, it does not tell the date.)
    #[test]
    fn no_wall_clock_read_outside_clock_rs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["server/src", "pos-client/src", "shared/src"] {
            rust_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 50, "the source tree was not found: {}", root.display());
        let mut found = Vec::new();
        for file in files.iter().filter(|f| f.file_name().is_some_and(|n| n != "clock.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if WALL_CLOCK_READS.iter().any(|r| line.contains(r)) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "wall-clock reads outside clock.rs; take the time from a Clock:\n{}",
            found.join("\n")
        );
    }
}
