//! The operator's commands: accounts, month close, large imports, keys, load-test data.

use std::path::Path;

use azyq_shared::api::Role;
use azyq_shared::Month;

use super::cli::KeysAction;
use crate::config::Settings;
use crate::db::{Db, DbOptions};
use crate::domain::{accounts, cycle, import, keys};
use crate::startup;

fn open(settings: &Settings) -> anyhow::Result<Db> {
    Db::connect(&settings.database_url, 2)
}

/// For one bulk transaction (an import, a month close) and no other writer in this process: without
/// the group-commit writer, whose per-writer SAVEPOINT keeps in memory a copy of every page the
/// transaction changes (a statement journal) — for the close of a month of a million vouchers,
/// about half a gigabyte.
fn open_for_bulk(settings: &Settings) -> anyhow::Result<Db> {
    Db::open(&settings.database_url, &DbOptions { group_commit: false, ..DbOptions::with_pool(2) })
}

pub fn create_operator(settings: &Settings, login: &str, role: Role) -> anyhow::Result<()> {
    let password = std::env::var("AZYQ_PASSWORD").map_err(|_| anyhow::anyhow!("set the password in AZYQ_PASSWORD"))?;
    let db = open(settings)?;
    let now = startup::clock_from(settings).now();
    db.write(|c| accounts::upsert_operator(c, login, &password, role, now))?;
    println!("{} {login} is ready", role.as_str());
    Ok(())
}

pub fn close_month(settings: &Settings, month: Month) -> anyhow::Result<()> {
    let db = open_for_bulk(settings)?;
    let now = startup::clock_from(settings).now();
    let closed = db.write(|c| cycle::close_month(c, month, "cli", now))?;
    println!("{}", serde_json::to_string_pretty(&closed)?);
    Ok(())
}

pub fn import(settings: &Settings, month: Month, file: &Path) -> anyhow::Result<()> {
    let db = open_for_bulk(settings)?;
    let now = startup::clock_from(settings).now();
    // One transaction: a spinner with the time it has taken, not a count of rows.
    let progress = crate::progress::Progress::new("import", 0);
    progress.step(0, &format!("{} into {month}", file.display()));
    let report = import::import_file(&db, month, file, &settings.sms_policy()?, now)?;
    progress.finish();
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.accepted == 0 {
        // A list of which nothing was taken is a failed import, whatever its rows said.
        anyhow::bail!("nothing imported from {}: {} rows refused (see above)", file.display(), report.rejected.len());
    }
    Ok(())
}

pub fn keys(settings: &Settings, action: KeysAction) -> anyhow::Result<()> {
    let db = open(settings)?;
    let now = startup::clock_from(settings).now();
    db.write(|c| keys::ensure_key(c, now))?;
    match action {
        KeysAction::Rotate => {
            let kid = db.write(|c| keys::rotate(c, now))?;
            println!("new signing key {kid}");
        }
        KeysAction::Retire { kid } => {
            db.write(|c| keys::retire(c, kid, now))?;
            println!("key {kid} retired");
        }
        KeysAction::List => {}
        KeysAction::RotateSession => {
            db.write(|c| accounts::sessions::rotate_session(c, now))?;
            println!("session secret replaced: every staff session has ended; log in again");
            return Ok(());
        }
    }
    let published = db.read(keys::published)?;
    println!("{}", serde_json::to_string_pretty(&azyq_shared::api::VoucherKeys { keys: published })?);
    Ok(())
}

pub fn bench_seed(settings: &Settings, members: u32, activate: u32) -> anyhow::Result<()> {
    let now = startup::clock_from(settings).now();
    let started = std::time::Instant::now();
    let seeded = crate::bench::seed(&settings.database_url, members, activate, &settings.sms_policy()?, now)?;
    println!(
        "seeded {}: {} families, {} vouchers issued, {} activated, in {:.1} s",
        seeded.month,
        seeded.families,
        seeded.vouchers,
        seeded.activated,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
