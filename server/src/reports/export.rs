//! The automatic export: after each business day closes (00:00 Asia/Almaty) the day's report is
//! written into the export folder in all three formats, each signed and checksummed, and queued
//! for delivery to the ministry (a `daily_report` delivery carrying the same files). A day is
//! marked done, and its delivery queued, in one transaction after its files are on disk, so a
//! restart redoes at most an unfinished day and queues each day's delivery once.

use std::path::{Path, PathBuf};

use azyq_shared::BusinessDay;
use chrono::{DateTime, Days, Utc};
use diesel::prelude::*;

use super::delivery::ReportFiles;
use super::render::{self, Format};
use super::{figures, signing};
use crate::db::schema::{day_consent_stats, day_region_stats, day_shop_stats, job_runs};
use crate::db::Db;
use crate::domain::{deliveries, keys};
use crate::error::{AppError, AppResult};
use crate::with_conn;
use azyq_shared::api::DeliveryKind;

const JOB: &str = "daily_export";
/// Days exported per scheduler run at most, so a long-stopped server catches up in steps.
const MAX_DAYS_PER_RUN: usize = 62;

/// The file name of a day's report in a format.
pub fn file_name(day: BusinessDay, format: Format) -> String {
    format!("azyq-daily-{day}.{}", format.extension())
}

/// A day's report files as written: (path, name, bytes), in the order CSV, XLSX, JSON.
pub type DayFiles = Vec<(PathBuf, String, Vec<u8>)>;

/// Renders, signs and writes one day's report in every format; answers the files written.
pub fn write_day(db: &Db, dir: &Path, day: BusinessDay, now: DateTime<Utc>) -> AppResult<DayFiles> {
    let report = db.read(|c| figures::report(c, day, day, now))?;
    let key = db.write(keys::report_key)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::internal(anyhow::anyhow!("export folder {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for format in [Format::Csv, Format::Xlsx, Format::Json] {
        let bytes = render::render(&report, format).map_err(AppError::internal)?;
        let name = file_name(day, format);
        let path = dir.join(&name);
        signing::write_signed(&path, &bytes, keys::REPORT_KID, &key).map_err(AppError::internal)?;
        written.push((path, name, bytes));
    }
    Ok(written)
}

/// The first day anything happened (the reports start there), if any.
fn first_day(db: &Db) -> AppResult<Option<String>> {
    db.read(|c| {
        let a: Option<String> =
            with_conn!(c, c => day_region_stats::table.select(diesel::dsl::min(day_region_stats::day)).first(c))?;
        let b: Option<String> =
            with_conn!(c, c => day_shop_stats::table.select(diesel::dsl::min(day_shop_stats::day)).first(c))?;
        let d: Option<String> =
            with_conn!(c, c => day_consent_stats::table.select(diesel::dsl::min(day_consent_stats::day)).first(c))?;
        Ok([a, b, d].into_iter().flatten().min())
    })
}

/// Exports every closed business day not yet exported, and queues each one's delivery.
/// Idempotent; survives a restart.
pub fn export_due(db: &Db, dir: &Path, now: DateTime<Utc>) -> AppResult<Vec<BusinessDay>> {
    let Some(first) = first_day(db)? else { return Ok(Vec::new()) };
    let first = BusinessDay::parse(&first).map_err(|e| AppError::internal(anyhow::anyhow!("stats day: {e}")))?;
    let today = BusinessDay::of(now);
    let done: std::collections::HashSet<String> = db.read(|c| {
        Ok(with_conn!(c, c => job_runs::table.filter(job_runs::job.eq(JOB)).select(job_runs::job_key).load::<String>(c))?
            .into_iter()
            .collect())
    })?;
    let mut exported = Vec::new();
    let mut day = first;
    while day < today && exported.len() < MAX_DAYS_PER_RUN {
        if !done.contains(&day.to_string()) {
            let written = write_day(db, dir, day, now)?;
            let files: Vec<(String, Vec<u8>)> = written.into_iter().map(|(_, name, bytes)| (name, bytes)).collect();
            let key = day.to_string();
            db.write(|c| {
                with_conn!(c, c => diesel::insert_into(job_runs::table)
                    .values((job_runs::job.eq(JOB), job_runs::job_key.eq(&key), job_runs::done_at.eq(now.naive_utc())))
                    .on_conflict_do_nothing()
                    .execute(c))?;
                let payload = ReportFiles::sealed(&files, keys::REPORT_KID, &keys::report_key(c)?);
                deliveries::enqueue(c, DeliveryKind::DailyReport, &key, &payload, now)?;
                Ok(())
            })?;
            tracing::info!(%day, "daily report exported");
            exported.push(day);
        }
        let Some(next) = day.date().checked_add_days(Days::new(1)) else { break };
        day = BusinessDay(next);
    }
    Ok(exported)
}
