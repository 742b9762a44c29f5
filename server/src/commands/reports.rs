//! `report` and `check`: the ministry's signed files, and the proof of the books.

use super::cli::{ReportAction, ReportOut, FORMATS};
use crate::config::Settings;
use crate::domain::keys;
use crate::progress::Progress;
use crate::startup;

pub fn report(settings: &Settings, action: ReportAction) -> anyhow::Result<()> {
    use crate::reports::{figures, render, signing};
    let now = startup::clock_from(settings).now();
    let (from, to, ReportOut { format, out }) = match action {
        ReportAction::Verify { file, public_key } => return verify(settings, &file, public_key.as_deref()),
        ReportAction::Daily { date, out } => {
            let day = figures::report_day(&date, "date", now)?;
            (day, day, out)
        }
        ReportAction::Summary { from, to, out } => {
            (figures::report_day(&from, "from", now)?, figures::report_day(&to, "to", now)?, out)
        }
        ReportAction::Signals { month, out: ReportOut { format, out } } => {
            let db = crate::db::Db::connect(&settings.database_url, 2)?;
            let format: render::Format =
                format.parse().map_err(|_| anyhow::anyhow!("--format must be one of {}", FORMATS.join(", ")))?;
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
    let db = crate::db::Db::connect(&settings.database_url, 2)?;
    let format: render::Format =
        format.parse().map_err(|_| anyhow::anyhow!("--format must be one of {}", FORMATS.join(", ")))?;
    let progress = Progress::new("report", 0);
    progress.step(0, &format!("reading the figures {from} .. {to}"));
    let report = db.read(|c| figures::report(c, from, to, now))?;
    progress.step(0, &format!("rendering {}", format.extension()));
    let bytes = render::render(&report, format)?;
    progress.step(0, "signing");
    let key = db.write(keys::report_key)?;
    signing::write_signed(&out, &bytes, keys::REPORT_KID, &key)?;
    progress.finish();
    println!("{} written, with {}.sha256 and {}.sig", out.display(), out.display(), out.display());
    Ok(())
}

/// `report verify`: with the published key alone, or with the key in the server's database — which
/// must exist: a verification never creates one.
fn verify(settings: &Settings, file: &std::path::Path, public_key: Option<&str>) -> anyhow::Result<()> {
    use crate::db::{Db, DbUrl};
    use crate::reports::{published, signing};
    let keys = match public_key {
        Some(source) => published::load(source, &crate::tls::Outbound::new(settings.outbound_ca_cert.as_deref())?)?,
        None => {
            if let DbUrl::Sqlite(path) = DbUrl::parse(&settings.database_url)? {
                if !std::path::Path::new(path).exists() {
                    anyhow::bail!(
                        "no database at {path} to read the report key from: give the published key with \
                         --public-key (the URL of /.well-known/report-keys, or the key)"
                    );
                }
            }
            let db = Db::connect(&settings.database_url, 2)?;
            let key = db.read(keys::report_public)?;
            published::load(&key.public_key, &crate::tls::Outbound::new(None)?)?
        }
    };
    let verified =
        signing::verify(file, |kid| keys.get(&kid).copied()).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    println!("{}: good (sha256 {}, report key {})", file.display(), verified.sha256, verified.kid);
    Ok(())
}

pub fn check(settings: &Settings) -> anyhow::Result<()> {
    let db = crate::db::Db::connect(&settings.database_url, 2)?;
    let started = std::time::Instant::now();
    let findings = crate::reports::check::run_shown(&db)?;
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
