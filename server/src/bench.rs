//! Benchmarks of the month's bulk work: `azyq-server bench-import`, which times the import and issue of a generated national-size list,
//! and `azyq-server bench-seed`, which fills a database with such a month for a load test.

use azyq_shared::api::{ConsentStatus, FamilyStatus, VoucherStatus};
use std::path::Path;
use std::time::Instant;

use azyq_shared::{BusinessDay, Iin, Month};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::config::Settings;
use crate::db::audit::{self, Entry};
use crate::db::schema::{consents, family_months, vouchers};
use crate::db::Db;
use crate::domain::sms::Policy;
use crate::domain::{cycle, import, places, programme, wallet};
use crate::progress::Progress;
use crate::with_conn;

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
                // The serial part starts at 9000: `azyq-load` numbers its members 0000-8999, so a
                // load setup on a seeded database never lists an IIN twice in one month.
                let prefix = format!(
                    "{:02}{month:02}{day:02}{}{:04}",
                    year % 100,
                    if year < 100 { 3 } else { 5 },
                    9_000 + (serial / 23_520) % 1_000
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
    let now: DateTime<Utc> = crate::startup::clock_from(settings).now();
    let month = BusinessDay::of(now).month()?;
    db.write(|c| places::put_localities(c, &crate::demo::pilot_localities(), "bench", now))?;
    db.write(|c| programme::cover(c, month, "bench", now))?;
    let sms = settings.sms_policy()?;

    let progress = Progress::new("bench-import", 3);
    progress.step(0, &format!("generating {n} members"));
    let t = Instant::now();
    let rows = generate(n);
    let gen = t.elapsed();

    progress.step(1, "importing");
    let t = Instant::now();
    let report = db.write(|c| import::import(c, month, &rows, None, &sms, "bench", now))?;
    let import_time = t.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "generated rows were rejected: {:?}",
        &report.rejected[..3.min(report.rejected.len())]
    );

    // Every family says yes at once (what the SMS webhook does one family at a time).
    progress.step(2, "issuing vouchers");
    let t = Instant::now();
    let issued = db.write(|c| {
        with_conn!(c, c => diesel::update(family_months::table.filter(family_months::month.eq(month.as_ref())))
                .set(family_months::status.eq(FamilyStatus::Consented))
                .execute(c))?;
        cycle::issue_vouchers(c, month, cycle::Which::All, "bench", now)
    })?;
    let issue_time = t.elapsed();
    progress.step(3, "done");
    progress.finish();
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

/// What `bench-seed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    pub month: Month,
    pub families: usize,
    pub vouchers: usize,
    pub activated: usize,
}

/// Fills the database at `url` with `n` generated members (in the three pilot towns) whose families
/// consented and whose vouchers are issued for the current month; activates the first `activate`
/// vouchers. For a load test at national size: `azyq-load`'s setup then adds its own shops and
/// families beside them.
///
/// It goes through the domain, not around it: each family gets the standing consent that a `21*1`
/// reply records (a `consents` row and its journal entry), and then the month's list is imported with
/// [`import::import`], which — like for any family whose consent holds from an earlier month — marks
/// it consented, counts it in the consent figures, journals it and issues the vouchers
/// ([`cycle::issue_vouchers`]). Activation is [`wallet::activate`], voucher by voucher. So
/// `azyq-server check` holds on the result. No SMS is queued: a standing consent needs none.
pub fn seed(url: &str, n: u32, activate: u32, sms: &Policy, now: DateTime<Utc>) -> anyhow::Result<Seeded> {
    let db = Db::connect(url, 2)?;
    let month = BusinessDay::of(now).month()?;
    let listed: i64 = db.read(|c| {
        Ok(with_conn!(c, c => family_months::table
                .filter(family_months::month.eq(month.as_ref()))
                .count()
                .get_result(c))?)
    })?;
    anyhow::ensure!(listed == 0, "{month} already lists {listed} families: seed a fresh database");
    db.write(|c| places::put_localities(c, &crate::demo::pilot_localities(), "bench", now))?;
    db.write(|c| programme::cover(c, month, "bench", now))?;

    let t = Instant::now();
    let rows = generate(n);
    let mut family_ids: Vec<&str> = rows.iter().map(|r| r.family_id.as_str()).collect();
    family_ids.dedup();
    // The standing consent, as `cycle::set_consent` writes it for a family that answers yes.
    const CONSENT_CHUNK: usize = 5_000;
    let progress = Progress::new("bench-seed consents", family_ids.len().div_ceil(CONSENT_CHUNK) as u64);
    db.write(|c| {
        let ts = now.naive_utc();
        for (i, chunk) in family_ids.chunks(CONSENT_CHUNK).enumerate() {
            let values: Vec<_> = chunk
                .iter()
                .map(|f| {
                    (consents::family_id.eq(*f), consents::status.eq(ConsentStatus::Given), consents::updated_at.eq(ts))
                })
                .collect();
            with_conn!(c, c => diesel::insert_into(consents::table).values(&values).execute(c))?;
            let journal: Vec<Entry> = chunk
                .iter()
                .map(|f| Entry::new(now, "bench", "consent", *f, None, "given").detail("bench-seed: standing consent"))
                .collect();
            audit::record(c, &journal)?;
            progress.step(i as u64 + 1, &format!("{} families", (i * CONSENT_CHUNK + chunk.len())));
        }
        Ok(())
    })?;
    progress.finish();
    println!("seed: {} families consent ({:.1} s)", family_ids.len(), t.elapsed().as_secs_f64());

    let progress = Progress::new("bench-seed", 0);
    progress.step(0, &format!("importing {} members and issuing their vouchers", rows.len()));
    let report = db.write(|c| import::import(c, month, &rows, None, sms, "bench", now))?;
    progress.finish();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "generated rows were rejected: {:?}",
        &report.rejected[..3.min(report.rejected.len())]
    );
    println!(
        "seed: {} members listed, {} vouchers issued for {month} ({:.1} s)",
        report.accepted,
        report.vouchers_issued,
        t.elapsed().as_secs_f64()
    );

    let mut activated = 0;
    if activate > 0 {
        let ids: Vec<(i64, String)> = db.read(|c| {
            Ok(with_conn!(c, c => vouchers::table
                    .filter(vouchers::month.eq(month.as_ref()))
                    .filter(vouchers::status.eq(VoucherStatus::Issued))
                    .order(vouchers::id)
                    .limit(i64::from(activate))
                    .select((vouchers::id, vouchers::iin))
                    .load(c))?)
        })?;
        // Many activations per transaction: one fsync per chunk instead of one per voucher.
        let progress = Progress::new("bench-seed activations", ids.len() as u64);
        for chunk in ids.chunks(10_000) {
            db.write(|c| {
                for (id, iin) in chunk {
                    let iin = Iin::parse(iin).map_err(|e| crate::error::AppError::internal(anyhow::anyhow!("{e}")))?;
                    wallet::activate(c, &iin, *id, now)?;
                }
                Ok(())
            })?;
            activated += chunk.len();
            progress.step(activated as u64, "vouchers activated");
        }
        progress.finish();
        println!("seed: {activated} vouchers activated ({:.1} s)", t.elapsed().as_secs_f64());
    }
    Ok(Seeded { month, families: report.new_families, vouchers: report.vouchers_issued, activated })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("azyq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
