//! Drives a target over many inputs: deterministic per input index, spread over threads, each
//! call under `catch_unwind`; counts outcomes and keeps the first input of each distinct panic.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use sha2::{Digest, Sha256};

use crate::{Harness, Outcome, Rng, Target};

/// Inputs a thread takes from the shared counter at a time.
const BLOCK: u64 = 1_024;

/// What one run is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    pub target: Target,
    pub inputs: u64,
    pub seed: u64,
    pub threads: usize,
    /// Where inputs that panic are written (created on demand); `None`: keep them in memory only.
    pub crash_dir: Option<PathBuf>,
    /// Print progress to stderr every 30 s.
    pub progress: bool,
}

/// A panic caught while running one input.
#[derive(Debug, Clone)]
pub struct Crash {
    /// The input's index under the run's seed (`--show` prints it again).
    pub index: u64,
    pub input: Vec<u8>,
    pub message: String,
    /// `file:line:column` of the panic.
    pub location: String,
    /// Captured on the first panic at each location only.
    pub backtrace: String,
    /// Where the input was written, if it was.
    pub file: Option<PathBuf>,
}

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: Target,
    pub inputs: u64,
    pub accepted: u64,
    /// Inputs per rejection reason.
    pub reasons: BTreeMap<&'static str, u64>,
    /// Inputs per stage reached.
    pub reached: BTreeMap<&'static str, u64>,
    /// Inputs that panicked.
    pub panics: u64,
    /// The first input of each distinct panic location.
    pub crashes: Vec<Crash>,
    pub elapsed: Duration,
    /// The slowest input's time and index.
    pub slowest: (Duration, u64),
}

impl Report {
    fn new(target: Target) -> Report {
        Report {
            target,
            inputs: 0,
            accepted: 0,
            reasons: BTreeMap::new(),
            reached: BTreeMap::new(),
            panics: 0,
            crashes: Vec::new(),
            elapsed: Duration::ZERO,
            slowest: (Duration::ZERO, 0),
        }
    }

    fn record(&mut self, outcome: &Outcome) {
        self.accepted += u64::from(outcome.accepted);
        for reason in &outcome.reasons {
            *self.reasons.entry(reason).or_default() += 1;
        }
        for stage in &outcome.reached {
            *self.reached.entry(stage).or_default() += 1;
        }
    }

    fn merge(&mut self, other: Report) {
        self.inputs += other.inputs;
        self.accepted += other.accepted;
        for (k, v) in other.reasons {
            *self.reasons.entry(k).or_default() += v;
        }
        for (k, v) in other.reached {
            *self.reached.entry(k).or_default() += v;
        }
        self.panics += other.panics;
        for crash in other.crashes {
            add_crash(&mut self.crashes, crash);
        }
        self.slowest = self.slowest.max(other.slowest);
    }

    /// `target: N inputs, M accepted, K distinct rejection reasons, P panics, T s (X inputs/s)`.
    pub fn summary_line(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 { self.inputs as f64 / secs } else { 0.0 };
        format!(
            "{}: {} inputs, {} accepted, {} distinct rejection reasons, {} panics, {:.1} s ({:.0} inputs/s)",
            self.target,
            self.inputs,
            self.accepted,
            self.reasons.len(),
            self.panics,
            secs,
            rate
        )
    }

    /// The reasons and stages with their counts, and the slowest input.
    pub fn details(&self) -> String {
        let list = |m: &BTreeMap<&str, u64>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
        format!(
            "  rejected: {}\n  reached: {}\n  slowest input (wall clock, preemption included): #{} {:.2} ms",
            list(&self.reasons),
            list(&self.reached),
            self.slowest.1,
            self.slowest.0.as_secs_f64() * 1e3
        )
    }
}

/// Keeps the crash with the lowest index per location.
fn add_crash(crashes: &mut Vec<Crash>, crash: Crash) {
    match crashes.iter_mut().find(|c| c.location == crash.location) {
        Some(known) if known.index > crash.index => {
            let backtrace = std::mem::take(&mut known.backtrace);
            *known = Crash { backtrace: if crash.backtrace.is_empty() { backtrace } else { crash.backtrace }, ..crash };
        }
        Some(_) => {}
        None => crashes.push(crash),
    }
}

/// The generator of input `index` of `target` under `seed`: one ChaCha stream per input, so an
/// input does not depend on the thread count or on the inputs before it.
pub fn rng_for(target: Target, seed: u64, index: u64) -> Rng {
    let salt = (target as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = Rng::seed_from_u64(seed ^ salt);
    rng.set_stream(index);
    rng
}

/// Input `index` of `target` under `seed`.
pub fn input(harness: &dyn Harness, target: Target, seed: u64, index: u64) -> Vec<u8> {
    harness.generate(&mut rng_for(target, seed, index))
}

/// A panic's message, location and (first time at that location) backtrace.
#[derive(Debug, Clone, Default)]
pub struct Caught {
    pub message: String,
    pub location: String,
    pub backtrace: String,
}

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<Caught>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Installs (once) a panic hook that records panics inside [`execute`] quietly and leaves every
/// other panic (a failing test, a bug of the harness) to the previous hook.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if !CATCHING.with(Cell::get) {
                return previous(info);
            }
            let location = info.location().map(|l| l.to_string()).unwrap_or_default();
            let first = SEEN
                .lock()
                .map(|mut seen| seen.get_or_insert_with(HashSet::new).insert(location.clone()))
                .unwrap_or(true);
            let backtrace = if first { std::backtrace::Backtrace::force_capture().to_string() } else { String::new() };
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_owned());
            LAST.with(|last| *last.borrow_mut() = Some(Caught { message, location, backtrace }));
        }));
    });
}

/// Runs one input through `harness` and catches a panic.
pub fn execute(harness: &dyn Harness, input: &[u8]) -> Result<Outcome, Caught> {
    install_hook();
    CATCHING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| harness.execute(input)));
    CATCHING.with(|c| c.set(false));
    result.map_err(|_| LAST.with(|last| last.borrow_mut().take()).unwrap_or_default())
}

/// Runs `config.inputs` inputs and writes each distinct crash's input to `config.crash_dir`.
pub fn run(config: &Config) -> io::Result<Report> {
    run_with(config.target.harness().as_ref(), config)
}

/// [`run`] with another harness than the target's (`config.target` still names the files).
pub fn run_with(harness: &dyn Harness, config: &Config) -> io::Result<Report> {
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let start = Instant::now();
    let mut report = Report::new(config.target);
    let parts: Vec<std::thread::Result<Report>> = std::thread::scope(|scope| {
        let workers: Vec<_> =
            (0..config.threads.max(1)).map(|_| scope.spawn(|| worker(harness, config, &next, &done))).collect();
        if config.progress {
            scope.spawn(|| progress(config, &done, &finished, start));
        }
        let parts = workers.into_iter().map(|w| w.join()).collect();
        finished.store(true, Ordering::Relaxed);
        parts
    });
    for part in parts {
        match part {
            Ok(part) => report.merge(part),
            // A panic outside `execute` is the harness's own bug: let it through.
            Err(e) => panic::resume_unwind(e),
        }
    }
    report.elapsed = start.elapsed();
    report.crashes.sort_by_key(|c| c.index);
    if let Some(dir) = &config.crash_dir {
        for crash in &mut report.crashes {
            crash.file = Some(write_crash(dir, config, crash)?);
        }
    }
    Ok(report)
}

fn worker(harness: &dyn Harness, config: &Config, next: &AtomicU64, done: &AtomicU64) -> Report {
    let mut report = Report::new(config.target);
    loop {
        let from = next.fetch_add(BLOCK, Ordering::Relaxed);
        if from >= config.inputs {
            return report;
        }
        let to = (from + BLOCK).min(config.inputs);
        for index in from..to {
            let data = input(harness, config.target, config.seed, index);
            let started = Instant::now();
            let result = execute(harness, &data);
            report.slowest = report.slowest.max((started.elapsed(), index));
            report.inputs += 1;
            match result {
                Ok(outcome) => report.record(&outcome),
                Err(caught) => {
                    report.panics += 1;
                    let crash = Crash {
                        index,
                        input: data,
                        message: caught.message,
                        location: caught.location,
                        backtrace: caught.backtrace,
                        file: None,
                    };
                    add_crash(&mut report.crashes, crash);
                }
            }
        }
        done.fetch_add(to - from, Ordering::Relaxed);
    }
}

fn progress(config: &Config, done: &AtomicU64, finished: &AtomicBool, start: Instant) {
    let mut last = Instant::now();
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() >= Duration::from_secs(30) {
            last = Instant::now();
            let n = done.load(Ordering::Relaxed);
            let rate = n as f64 / start.elapsed().as_secs_f64();
            eprintln!("{}: {n}/{} inputs, {rate:.0} inputs/s", config.target, config.inputs);
        }
    }
}

/// `<dir>/<target>-<first 16 hex of SHA-256>`, and beside it a `.txt` with the panic and trace.
fn write_crash(dir: &Path, config: &Config, crash: &Crash) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let hash = hex::encode(Sha256::digest(&crash.input));
    let path = dir.join(format!("{}-{}", config.target, &hash[..16]));
    std::fs::write(&path, &crash.input)?;
    let note = format!(
        "target {} seed {} index {}\npanicked at {}: {}\n\n{}",
        config.target, config.seed, crash.index, crash.location, crash.message, crash.backtrace
    );
    std::fs::write(path.with_extension("txt"), note)?;
    Ok(path)
}
