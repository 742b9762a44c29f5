//! `azyq-fuzz <target> --inputs N [--seed S] [--threads T]`: fuzzes one target (or `all`) on
//! stable Rust and exits non-zero if any input panicked. See `tools/fuzz/README.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use azyq_fuzz::runner::{self, Config};
use azyq_fuzz::Target;
use clap::Parser;

/// Stable-Rust fuzzer of the token decoder, the GS1 parser and the recipients import.
#[derive(Debug, Parser)]
#[command(name = "azyq-fuzz")]
struct Cli {
    /// token, gs1, import-csv, import-json, or all.
    #[arg(value_parser = parse_selection)]
    target: Selection,
    /// Inputs per target.
    #[arg(long, default_value_t = 100_000)]
    inputs: u64,
    /// Seed of the input generator: the same seed gives the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (default: the machine's parallelism).
    #[arg(long)]
    threads: Option<usize>,
    /// Where inputs that panic are written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/crashes"))]
    crash_dir: PathBuf,
    /// Print input number INDEX (under --seed) as escaped text, run it, print its outcome and time.
    #[arg(long, value_name = "INDEX")]
    show: Option<u64>,
    /// Run these files through the target instead of generated inputs.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    replay: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
struct Selection(Vec<Target>);

fn parse_selection(s: &str) -> Result<Selection, String> {
    if s == "all" {
        return Ok(Selection(Target::ALL.to_vec()));
    }
    s.parse().map(|t| Selection(vec![t]))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let targets = cli.target.0.clone();
    if let Some(index) = cli.show {
        for target in targets {
            let harness = target.harness();
            let input = runner::input(harness.as_ref(), target, cli.seed, index);
            println!("{target} #{index}: {:?}", String::from_utf8_lossy(&input));
            let started = std::time::Instant::now();
            let result = runner::execute(harness.as_ref(), &input);
            println!("  {:.3} ms: {result:?}", started.elapsed().as_secs_f64() * 1e3);
        }
        return ExitCode::SUCCESS;
    }
    if !cli.replay.is_empty() {
        return replay(&targets, &cli.replay);
    }
    let threads = cli.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut reports = Vec::new();
    for target in targets {
        let config = Config {
            target,
            inputs: cli.inputs,
            seed: cli.seed,
            threads,
            crash_dir: Some(cli.crash_dir.clone()),
            progress: true,
        };
        match runner::run(&config) {
            Ok(report) => {
                eprintln!("{}\n{}", report.summary_line(), report.details());
                for crash in &report.crashes {
                    let file = crash.file.as_ref().map_or("(not written)".to_owned(), |f| f.display().to_string());
                    eprintln!(
                        "\nPANIC in {target} at input #{} (seed {}), written to {file}\npanicked at {}: {}\ninput: {:?}\n{}",
                        crash.index,
                        cli.seed,
                        crash.location,
                        crash.message,
                        String::from_utf8_lossy(&crash.input),
                        crash.backtrace
                    );
                }
                reports.push(report);
            }
            Err(e) => {
                eprintln!("{target}: cannot write a crash file: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!();
    for report in &reports {
        println!("{}", report.summary_line());
    }
    if reports.iter().any(|r| r.panics > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs each file through each selected target and says what happened.
fn replay(targets: &[Target], files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for target in targets {
        let harness = target.harness();
        for file in files {
            let input = match std::fs::read(file) {
                Ok(input) => input,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            match runner::execute(harness.as_ref(), &input) {
                Ok(outcome) => println!("{target} {}: {outcome:?}", file.display()),
                Err(caught) => {
                    failed = true;
                    println!(
                        "{target} {}: PANIC at {}: {}\n{}",
                        file.display(),
                        caught.location,
                        caught.message,
                        caught.backtrace
                    );
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
