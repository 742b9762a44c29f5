//! Every file under `tools/fuzz/regressions/<target>/` replays through its target without a panic,
//! and a short fuzz run of every target finds none either.

use std::path::Path;

use azyq_fuzz::runner::{self, Config};
use azyq_fuzz::Target;

#[test]
fn every_regression_input_runs_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut failures = Vec::new();
    for target in Target::ALL {
        let dir = root.join(target.name());
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no regression inputs in {}", dir.display());
        let harness = target.harness();
        for file in files {
            let input = std::fs::read(&file).unwrap();
            if let Err(caught) = runner::execute(harness.as_ref(), &input) {
                failures.push(format!("{}: {} at {}", file.display(), caught.message, caught.location));
            }
        }
    }
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}

#[test]
fn a_short_run_of_every_target_finds_no_panic() {
    for target in Target::ALL {
        let config = Config { target, inputs: 20_000, seed: 2026, threads: 2, crash_dir: None, progress: false };
        let report = runner::run(&config).unwrap();
        println!("{}\n{}", report.summary_line(), report.details());
        let crash = report.crashes.first();
        assert_eq!(report.panics, 0, "{target}: {crash:#?}");
        assert_eq!(report.inputs, 20_000);
        // The generator reaches past the first check: some inputs accepted, several reasons met.
        assert!(report.accepted > 200, "{target}: {} accepted", report.accepted);
        assert!(report.reasons.len() >= 4, "{target}: {:?}", report.reasons);
    }
}

#[test]
fn inputs_are_deterministic_per_index() {
    for target in Target::ALL {
        let harness = target.harness();
        let a: Vec<_> = (0..50).map(|i| runner::input(harness.as_ref(), target, 9, i)).collect();
        let b: Vec<_> = (0..50).rev().map(|i| runner::input(harness.as_ref(), target, 9, i)).rev().collect();
        assert_eq!(a, b, "{target}");
    }
}

/// Panics on input `boom` (an invariant) and on input `index` (a plain bounds check).
struct Boom;

impl azyq_fuzz::Harness for Boom {
    fn generate(&self, rng: &mut azyq_fuzz::Rng) -> Vec<u8> {
        use rand::Rng as _;
        [&b"boom"[..], b"index", b"fine"][rng.gen_range(0..3)].to_vec()
    }
    fn execute(&self, input: &[u8]) -> azyq_fuzz::Outcome {
        azyq_fuzz::invariant(input != b"boom", || "went boom".to_owned());
        if input == b"index" {
            let _ = input[input.len()];
        }
        azyq_fuzz::Outcome::rejected("fine")
    }
}

#[test]
fn a_panic_is_caught_with_its_input_and_location() {
    assert_eq!(runner::execute(&Boom, b"ok").unwrap(), azyq_fuzz::Outcome::rejected("fine"));
    let caught = runner::execute(&Boom, b"boom").unwrap_err();
    assert_eq!(caught.message, "invariant: went boom");
    assert!(caught.location.contains("regressions.rs"), "{}", caught.location);
}

#[test]
fn crashes_are_counted_and_written_once_per_location() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        target: Target::Gs1,
        inputs: 300,
        seed: 1,
        threads: 2,
        crash_dir: Some(dir.path().to_owned()),
        progress: false,
    };
    let report = runner::run_with(&Boom, &config).unwrap();
    assert!(report.panics > 100 && report.panics < 300, "{}", report.panics);
    assert_eq!(report.crashes.len(), 2);
    for crash in &report.crashes {
        let file = crash.file.as_ref().unwrap();
        assert!(file.file_name().unwrap().to_str().unwrap().starts_with("gs1-"));
        assert_eq!(std::fs::read(file).unwrap(), crash.input);
        assert!(std::fs::read_to_string(file.with_extension("txt")).unwrap().contains(&crash.message));
    }
    assert!(report.summary_line().contains(&format!("{} panics", report.panics)));
}
