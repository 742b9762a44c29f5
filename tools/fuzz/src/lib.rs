//! A fuzzing harness on stable Rust for the parsers that take input from outside: the voucher
//! token decoder, the GS1 parser and the recipients import (CSV and JSON, parse and validate).
//!
//! Each target is a [`Harness`]: it builds inputs from a seeded generator (valid inputs made the
//! way real ones are, then mutated; a share of random noise) and runs one input through the code
//! under test plus invariants that must hold for any input (a code read back from its canonical
//! form is the same code, an upload validated twice changes nothing…). [`runner`] drives many
//! inputs over threads, catches panics and writes the inputs that caused them.

// A fuzz harness reports a broken invariant by panicking: that is how a fuzzer sees a finding.
#![allow(clippy::panic)]

pub mod gs1;
pub mod import;
pub mod mutate;
pub mod runner;
pub mod token;

use std::fmt;
use std::str::FromStr;

/// The generator behind every input: a fixed algorithm, so a seed replays the same inputs.
pub type Rng = rand_chacha::ChaCha8Rng;

/// What the harness fuzzes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `token::decode`, `looks_like_token` and `token::verify` with the harness's keys.
    Token,
    /// `gs1::parse` and `Gtin::parse`.
    Gs1,
    /// `import::rows_from_csv` then `import::validate`.
    ImportCsv,
    /// `RecipientList` from JSON, `import::rows_from_json` then `import::validate`.
    ImportJson,
}

impl Target {
    /// Every target, in the order `all` runs them.
    pub const ALL: [Target; 4] = [Target::Token, Target::Gs1, Target::ImportCsv, Target::ImportJson];

    /// The name on the command line, in crash file names and under `regressions/`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Token => "token",
            Target::Gs1 => "gs1",
            Target::ImportCsv => "import-csv",
            Target::ImportJson => "import-json",
        }
    }

    /// The generator and executor of this target.
    pub fn harness(self) -> Box<dyn Harness> {
        match self {
            Target::Token => Box::new(token::TokenHarness::new()),
            Target::Gs1 => Box::new(gs1::Gs1Harness),
            Target::ImportCsv => Box::new(import::ImportHarness::new(import::Format::Csv)),
            Target::ImportJson => Box::new(import::ImportHarness::new(import::Format::Json)),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| format!("unknown target {s:?}"))
    }
}

/// What one input did: accepted or rejected (and why), and which deeper stages it reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The target took the input as valid all the way through.
    pub accepted: bool,
    /// Stable rejection reasons met (a token's `Invalid` reason, a `Gs1Error::reason`, a
    /// `RejectCode`…); an import can meet several.
    pub reasons: Vec<&'static str>,
    /// Notable stages reached, for the statistics (e.g. `verified`, `serialised`, `family_new`).
    pub reached: Vec<&'static str>,
}

impl Outcome {
    /// Accepted, having reached `reached`.
    pub fn accepted(reached: Vec<&'static str>) -> Outcome {
        Outcome { accepted: true, reasons: Vec::new(), reached }
    }

    /// Rejected for one reason.
    pub fn rejected(reason: &'static str) -> Outcome {
        Outcome { accepted: false, reasons: vec![reason], reached: Vec::new() }
    }
}

/// One fuzz target: makes inputs and runs them.
pub trait Harness: Sync {
    /// Builds one input. The same generator state gives the same input.
    fn generate(&self, rng: &mut Rng) -> Vec<u8>;

    /// Runs `input` through the code under test and checks the target's invariants.
    ///
    /// Panics when the code under test panics, and with a message starting `invariant:` when an
    /// invariant fails: the runner catches both and keeps the input.
    fn execute(&self, input: &[u8]) -> Outcome;
}

/// Fails the current input with an `invariant:` panic when `ok` is false; the runner reports it
/// like any other panic, with the input that caused it.
#[track_caller]
pub fn invariant(ok: bool, what: impl FnOnce() -> String) {
    if !ok {
        panic!("invariant: {}", what());
    }
}

/// The text a string target sees for `input`: the bytes as UTF-8, with invalid sequences as U+FFFD.
/// Generators of string targets already emit valid UTF-8, so a crash file replays exactly.
pub fn as_text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}
