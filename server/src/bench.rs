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
use crate::db::{Db, DbOptions};
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

/// Imports `n` generated members into a fresh SQLite file (or the empty database `on`) and issues
/// their vouchers; then imports a list of `list` members (half of them listed already, half new)
/// into that full month in a separate `azyq-server import` process, for its peak memory; then
/// closes the month, a third of the vouchers activated. Prints each phase's time and rate.
pub fn import_and_issue(
    settings: &Settings,
    n: u32,
    list: u32,
    keep: Option<&Path>,
    on: Option<&str>,
) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let path = keep.map_or_else(|| dir.join("bench-import.db"), Path::to_path_buf);
    let url = on.map_or_else(|| format!("sqlite://{}", path.display()), str::to_owned);
    // Opened as `azyq-server import` and `close-month` open it: one bulk transaction at a time, no
    // group-commit writer (whose savepoint would copy every page changed into memory).
    let db = Db::open(&url, &DbOptions { group_commit: false, ..DbOptions::with_pool(2) })?;
    let now: DateTime<Utc> = crate::startup::clock_from(settings).now();
    let month = BusinessDay::of(now).month()?;
    let listed = listed_families(&db, month)?;
    anyhow::ensure!(listed == 0, "{month} already lists {listed} families: bench an empty database");
    println!("database: {}", if crate::db::is_postgres_url(&url) { "PostgreSQL" } else { "SQLite" });
    db.write(|c| places::put_localities(c, &crate::demo::pilot_localities(), "bench", now))?;
    db.write(|c| programme::cover(c, month, "bench", now))?;
    let sms = settings.sms_policy()?;

    let progress = Progress::new("bench-import", 5);
    progress.step(0, &format!("generating {n} members"));
    let t = Instant::now();
    let rows = generate(n);
    let gen = t.elapsed();

    progress.step(1, "importing");
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let report = db.write(|c| import::import(c, month, &rows, None, &sms, "bench", now))?;
    let (import_time, import_cpu) = (t.elapsed(), cpu_seconds() - cpu);
    anyhow::ensure!(
        report.rejected.is_empty(),
        "generated rows were rejected: {:?}",
        &report.rejected[..3.min(report.rejected.len())]
    );

    // Every family says yes at once: the bench's stand-in for the SMS webhook, which records the
    // answers one family at a time over the consent window. Its own transaction, timed apart:
    // it is not the issue's work.
    progress.step(2, "issuing vouchers");
    let t = Instant::now();
    db.write(|c| {
        Ok(with_conn!(c, c => diesel::update(family_months::table.filter(family_months::month.eq(month.as_ref())))
                .set(family_months::status.eq(FamilyStatus::Consented))
                .execute(c))?)
    })?;
    let consent_time = t.elapsed();
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let issued = db.write(|c| cycle::issue_vouchers(c, month, cycle::Which::All, "bench", now))?;
    let (issue_time, issue_cpu) = (t.elapsed(), cpu_seconds() - cpu);
    let rate = |d: std::time::Duration| f64::from(n) / d.as_secs_f64();
    println!("members: {n}, families: {}, generated in {:.2} s", report.new_families, gen.as_secs_f64());
    println!("import: {:.2} s, {:.0} members/s; CPU {import_cpu:.2} s", import_time.as_secs_f64(), rate(import_time));
    println!(
        "issue:  {:.2} s, {:.0} members/s ({issued} vouchers); CPU {issue_cpu:.2} s",
        issue_time.as_secs_f64(),
        rate(issue_time)
    );
    println!(
        "(every family's consent, one UPDATE standing in for the SMS answers: {:.2} s; not counted)",
        consent_time.as_secs_f64()
    );
    let total = import_time + issue_time;
    println!("import + issue: {:.2} s (goal <= 10 s)", total.as_secs_f64());

    if list > 0 {
        progress.step(3, &format!("importing a list of {list} members into the full month (another process)"));
        let file = dir.join("list.csv");
        let (listed, fresh) = write_list(&file, n, list)?;
        drop(rows);
        let (took, peak_kib) = import_in_child(&url, month, &file)?;
        println!(
            "list into the full month: {listed} members listed already + {fresh} new, {:.2} s, peak {:.1} MiB \
             (VmHWM of `azyq-server import`; goal <= 128 MB)",
            took.as_secs_f64(),
            peak_kib as f64 / 1024.0
        );
    }

    // A third of the vouchers activated (straight in the table, as the consents above: the bench
    // times the close, not the wallet), so that the close both lapses and expires.
    progress.step(4, "closing the month");
    let activated = db.write(|c| {
        Ok(with_conn!(c, c => diesel::update(vouchers::table
                .filter(vouchers::month.eq(month.as_ref()))
                .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("vouchers.id % 3 = 0")))
            .set((vouchers::status.eq(VoucherStatus::Activated), vouchers::activated_at.eq(Some(now.naive_utc()))))
            .execute(c))?)
    })?;
    let after_month = month.end_instant() + chrono::Duration::hours(1);
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let closed = db.write(|c| cycle::close_month(c, month, "bench", after_month))?;
    let (close_time, close_cpu) = (t.elapsed(), cpu_seconds() - cpu);
    progress.step(5, "done");
    progress.finish();
    let vouchers = closed.lapsed + closed.expired;
    println!(
        "close:  {:.2} s, {:.0} vouchers/s ({} lapsed, {} expired of {activated} activated, {} families no answer; \
         goal <= 10 s); CPU {close_cpu:.2} s",
        close_time.as_secs_f64(),
        vouchers as f64 / close_time.as_secs_f64(),
        closed.lapsed,
        closed.expired,
        closed.no_answer
    );
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    if let Some(p) = keep {
        println!("database kept at {}", p.display());
    }
    Ok(())
}

/// Writes a CSV list of about `list` members for the month of [`generate`]`(n)`: half of them of
/// families listed already (sent again unchanged), half of new families. Whole families only.
/// Answers how many members of each.
fn write_list(file: &Path, n: u32, list: u32) -> anyhow::Result<(usize, usize)> {
    use std::io::Write as _;
    let all = generate(n + list);
    let (listed, unlisted) = all.split_at((n as usize).min(all.len()));
    // The family that `generate(n)` cut at its n-th row has more members here: left out.
    let cut = listed.last().map(|r| r.family_id.as_str());
    let old = whole_families(listed.iter().filter(|r| Some(r.family_id.as_str()) != cut), (list / 2) as usize);
    let new = whole_families(
        unlisted.iter().filter(|r| Some(r.family_id.as_str()) != cut),
        (list as usize).saturating_sub(old.len()),
    );
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    writeln!(out, "family_id,kato,phone,iin,name,birth_date")?;
    for r in old.iter().chain(&new) {
        let phone = r.phone.as_deref().unwrap_or("");
        writeln!(out, "{},{},{phone},{},{},{}", r.family_id, r.kato, r.iin, r.name, r.birth_date)?;
    }
    out.flush()?;
    Ok((old.len(), new.len()))
}

/// The first rows making up at least `want` members, ending at a family's last row.
fn whole_families<'a>(rows: impl Iterator<Item = &'a import::RawRow>, want: usize) -> Vec<&'a import::RawRow> {
    let mut out: Vec<&import::RawRow> = Vec::with_capacity(want + 6);
    for r in rows {
        if out.len() >= want && out.last().is_none_or(|l| l.family_id != r.family_id) {
            break;
        }
        out.push(r);
    }
    out
}

/// CPU seconds (user + system) this process has used, all threads, from `/proc/self/stat` (in
/// clock ticks of 1/100 s); 0 where there is no `/proc`. On a shared machine a phase's CPU time
/// moves less with the load than its wall time.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // The fields after the command's closing parenthesis: state is the 3rd, utime the 14th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The peak resident memory in a `/proc/PID/status` text, KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()
}

/// Runs `azyq-server import` on `file` in a process of its own and samples its peak resident
/// memory (VmHWM, every 2 ms, the last sample before it ends); answers the time and the peak in KiB.
fn import_in_child(url: &str, month: Month, file: &Path) -> anyhow::Result<(std::time::Duration, u64)> {
    let t = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["import", "--month", month.as_ref()])
        .arg(file)
        .env("DATABASE_URL", url)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            peak = vm_hwm_kib(&text).unwrap_or(peak).max(peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    anyhow::ensure!(status.success(), "azyq-server import failed: {status}");
    Ok((t.elapsed(), peak))
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
    let listed = listed_families(&db, month)?;
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

/// How many families `month` lists in `db`.
fn listed_families(db: &Db, month: Month) -> anyhow::Result<i64> {
    Ok(db.read(|c| {
        Ok(with_conn!(c, c => family_months::table
                .filter(family_months::month.eq(month.as_ref()))
                .count()
                .get_result(c))?)
    })?)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("azyq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
