//! Running `azyq-server check` on the server's database after the run, with a time limit.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest the books check may take before it is stopped.
const LIMIT: Duration = Duration::from_secs(600);

/// Runs `bin check` on `database_url`, prints its last lines and verdict; answers whether the
/// books proved.
pub fn books(bin: &Path, database_url: &str) -> Result<bool, String> {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("check")
        .env("DATABASE_URL", database_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {} check: {e}", bin.display()))?;
    // Drain both pipes while waiting, so that a talkative check never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < LIMIT => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // Progress goes to stderr and the verdict to stdout: progress first.
    let text = format!("{}{}", err.join().unwrap_or_default(), out.join().unwrap_or_default());
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[lines.len().saturating_sub(15)..] {
        println!("  check | {line}");
    }
    let ok = status.is_some_and(|s| s.success());
    match status {
        Some(s) => println!(
            "books check: {} ({s}, {:.1} s)",
            if ok { "OK" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        ),
        None => println!("books check: stopped after {} s", LIMIT.as_secs()),
    }
    Ok(ok)
}
