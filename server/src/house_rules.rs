//! Rules of the house that the compiler does not check, checked by reading the sources: time is
//! read through a `Clock`, states are spelled by their types.

use std::path::{Path, PathBuf};

use azyq_shared::api::{
    BasketStatus, DeliveryKind, DeliveryStatus, FamilyStatus, MonthStatus, PaymentMethod, SmsStatus, Unit,
    VoucherStatus,
};

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
    for file in files.iter().filter(|f| f.file_name().is_some_and(|n| n != "clock.rs" && n != "house_rules.rs")) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if WALL_CLOCK_READS.iter().any(|r| line.contains(r)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "wall-clock reads outside clock.rs; take the time from a Clock:\n{}", found.join("\n"));
}

/// States are spelled only by their types (and the migrations' CHECKs): a status written as a
/// string literal in the server's code (`status.eq("activated")`) fails here. Test modules and
/// lines marked "not a state" (a report column that shares a name) are left out.
#[test]
fn no_status_string_literal_outside_the_types() {
    let names: Vec<&str> = [
        VoucherStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        BasketStatus::ALL.iter().map(|s| s.as_str()).collect(),
        FamilyStatus::ALL.iter().map(|s| s.as_str()).collect(),
        MonthStatus::ALL.iter().map(|s| s.as_str()).collect(),
        PaymentMethod::ALL.iter().map(|s| s.as_str()).collect(),
        Unit::ALL.iter().map(|s| s.as_str()).collect(),
        DeliveryKind::ALL.iter().map(|s| s.as_str()).collect(),
        DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect(),
        SmsStatus::ALL.iter().map(|s| s.as_str()).collect(),
    ]
    .concat();
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            if line.contains("not a state") || line.trim_start().starts_with("//") {
                continue;
            }
            if names.iter().any(|name| line.contains(&format!("\"{name}\""))) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "status literals; use the state's enum:\n{}", found.join("\n"));
}
