//! `report` and `check`: the ministry's signed files, and the proof of the books.

use super::cli::ReportAction;
use crate::config::Settings;
use crate::domain::keys;
use crate::startup;

pub fn report(settings: &Settings, action: ReportAction) -> anyhow::Result<()> {
    use crate::reports::{figures, render, signing};
    let db = crate::db::Db::connect(&settings.database_url, 2)?;
    let now = startup::clock_from(settings).now();
    let (from, to, format, out) = match action {
        ReportAction::Verify { file } => {
            let key = db.write(keys::report_key)?.verifying_key();
            let verified = signing::verify(&file, |kid| (kid == keys::REPORT_KID).then_some(key))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            println!("{}: good (sha256 {}, report key {})", file.display(), verified.sha256, verified.kid);
            return Ok(());
        }
        ReportAction::Daily { date, format, out } => {
            let day = figures::report_day(&date, "date", now)?;
            (day, day, format, out)
        }
        ReportAction::Summary { from, to, format, out } => {
            (figures::report_day(&from, "from", now)?, figures::report_day(&to, "to", now)?, format, out)
        }
        ReportAction::Signals { month, format, out } => {
            let month = azyq_shared::Month::parse(&month).map_err(|e| anyhow::anyhow!("--month: {e}"))?;
            let format: render::Format =
                format.parse().map_err(|_| anyhow::anyhow!("--format must be csv, xlsx or json"))?;
            let hours = settings.shop_hours()?;
            let report = db.read(|c| crate::reports::signals::month_report(c, month, hours, now))?;
            let bytes = crate::reports::signals::render(&report, hours, format)?;
            let key = db.write(keys::report_key)?;
            signing::write_signed(&out, &bytes, keys::REPORT_KID, &key)?;
            println!(
                "{} written ({} shops), with {}.sha256 and {}.sig",
                out.display(),
                report.shops.len(),
                out.display(),
                out.display()
            );
            return Ok(());
        }
    };
    let format: render::Format = format.parse().map_err(|_| anyhow::anyhow!("--format must be csv, xlsx or json"))?;
    let report = db.read(|c| figures::report(c, from, to, now))?;
    let bytes = render::render(&report, format)?;
    let key = db.write(keys::report_key)?;
    signing::write_signed(&out, &bytes, keys::REPORT_KID, &key)?;
    println!("{} written, with {}.sha256 and {}.sig", out.display(), out.display(), out.display());
    Ok(())
}

pub fn check(settings: &Settings) -> anyhow::Result<()> {
    let db = crate::db::Db::connect(&settings.database_url, 2)?;
    let started = std::time::Instant::now();
    let findings = db.read(|c| {
        crate::reports::check::run(c, |i, n, rule, took| {
            eprintln!("check [{i}/{n}] {:.1} s  {rule}", took.as_secs_f64());
        })
    })?;
    let mut bad = 0;
    for f in &findings {
        if !f.mismatches.is_empty() {
            println!("MISMATCH: {} ({} rows)", f.rule, f.mismatches.len());
            for m in f.mismatches.iter().take(50) {
                println!("  {m}");
            }
            bad += f.mismatches.len();
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} mismatches in {:.1} s", started.elapsed().as_secs_f64());
    }
    println!("books are consistent: {} rules, {:.1} s", findings.len(), started.elapsed().as_secs_f64());
    Ok(())
}
