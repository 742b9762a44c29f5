//! Large imports outside HTTP: `azyq-server import` for a list over the API's body limit, and
//! `azyq-server bench-import`, which times the import and issue of a generated national-size list.

use std::path::Path;
use std::time::Instant;

use azyq_shared::api::{ImportReport, RecipientList};
use azyq_shared::{Iin, Month};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::config::Settings;
use crate::db::schema::family_months;
use crate::db::Db;
use crate::domain::{cycle, import, places};
use crate::with_conn;

/// Imports a CSV or JSON list file in one transaction.
pub fn import_file(db: &Db, month: Month, file: &Path, now: DateTime<Utc>) -> anyhow::Result<ImportReport> {
    let body = std::fs::read(file)?;
    let is_json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let (rows, group) = if is_json {
        let list: RecipientList = serde_json::from_slice(&body)?;
        let (rows, group) = import::rows_from_json(&list.families);
        (rows, Some(group))
    } else {
        (import::rows_from_csv(&body).map_err(|e| anyhow::anyhow!("{e}"))?, None)
    };
    db.write(|c| import::import(c, month, &rows, group.as_deref(), "cli", now)).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `n` members in families of 1 to 6 (about 3.3 on average), with valid, distinct IINs.
pub fn generate(n: u32) -> Vec<import::RawRow> {
    let katos = ["111010000", "113220100", "551010000"];
    let mut rows = Vec::with_capacity(n as usize);
    let mut serial: u64 = 0;
    let mut family: u32 = 0;
    while rows.len() < n as usize {
        family += 1;
        let size = 1 + (family.wrapping_mul(2_654_435_761) >> 29) % 6;
        for _ in 0..size.min(n - rows.len() as u32) {
            let iin = loop {
                // Birth dates spread over 1950-2019; the serial part counts up.
                serial += 1;
                let day = serial % 28 + 1;
                let month = (serial / 28) % 12 + 1;
                let year = 50 + (serial / 336) % 70;
                let prefix = format!(
                    "{:02}{month:02}{day:02}{}{:04}",
                    year % 100,
                    if year < 100 { 3 } else { 5 },
                    (serial / 23_520) % 10_000
                );
                let mut d = [0u8; 11];
                for (i, b) in prefix.bytes().enumerate() {
                    d[i] = b - b'0';
                }
                if let Some(c) = Iin::check_digit(&d) {
                    break format!("{prefix}{c}");
                }
            };
            rows.push(import::RawRow {
                family_id: format!("F{family:07}"),
                kato: katos[(family % 3) as usize].into(),
                phone: Some(format!("+770{:08}", family)),
                iin,
                name: "Тест Тестов".into(),
                birth_date: "1990-01-01".into(),
            });
        }
    }
    rows
}

/// Imports `n` generated members into a fresh SQLite file and issues their vouchers, printing
/// members per second for each phase.
pub fn import_and_issue(settings: &Settings, n: u32, keep: Option<&Path>) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let path = keep.map_or_else(|| dir.join("bench-import.db"), Path::to_path_buf);
    let url = format!("sqlite://{}", path.display());
    let db = Db::connect(&url, 2)?;
    let now: DateTime<Utc> = settings.fake_now.unwrap_or_else(Utc::now);
    let month = azyq_shared::BusinessDay::of(now).month();
    db.write(|c| places::put_localities(c, &crate::demo::pilot_localities(), "bench", now))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let t = Instant::now();
    let rows = generate(n);
    let gen = t.elapsed();

    let t = Instant::now();
    let report =
        db.write(|c| import::import(c, month, &rows, None, "bench", now)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let import_time = t.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "generated rows were rejected: {:?}",
        &report.rejected[..3.min(report.rejected.len())]
    );

    // Every family says yes at once (what the SMS webhook does one family at a time).
    let t = Instant::now();
    let issued = db
        .write(|c| {
            with_conn!(c, c => diesel::update(family_months::table.filter(family_months::month.eq(month.as_ref())))
                .set(family_months::status.eq("consented"))
                .execute(c))?;
            cycle::issue_vouchers(c, month, cycle::Which::All, "bench", now)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let issue_time = t.elapsed();
    let total = import_time + issue_time;
    let rate = |d: std::time::Duration| f64::from(n) / d.as_secs_f64();
    println!("members: {n}, families: {}, generated in {:.2} s", report.new_families, gen.as_secs_f64());
    println!("import: {:.2} s, {:.0} members/s", import_time.as_secs_f64(), rate(import_time));
    println!("issue:  {:.2} s, {:.0} members/s ({issued} vouchers)", issue_time.as_secs_f64(), rate(issue_time));
    println!("total:  {:.2} s (goal <= 20 s)", total.as_secs_f64());
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    if let Some(p) = keep {
        println!("database kept at {}", p.display());
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("azyq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
