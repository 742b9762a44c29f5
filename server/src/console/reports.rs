//! `/console/reports?date=&from=&to=`: the ministry's daily report and the summary for a range,
//! with charts by region, SZPT group and day, and the signed files (CSV, XLSX, JSON, each with its
//! `.sha256` and `.sig`) rendered and signed by the same code as `GET /api/v1/reports/*`.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use azyq_shared::api::MinistryReport;
use azyq_shared::BusinessDay;
use chrono::Days;
use serde::Deserialize;

use super::charts::{self, Bar, Tone};
use super::i18n::{Lang, Texts};
use super::months::count;
use super::session::Ctx;
use super::{html, respond, urlencode, Chrome, Section};
use crate::db::Conn;
use crate::domain::{catalog, places};
use crate::error::{AppError, AppResult};
use crate::http::reports::render_signed;
use crate::http::AppState;
use crate::reports::figures;
use crate::reports::render::Format;
use crate::reports::signing;

/// Longest range the summary draws day by day.
pub const MAX_RANGE_DAYS: u64 = 92;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::get().to(page)).route("/reports/file", web::get().to(file));
}

/// Words for the codes in reports: regions by their pilot localities, SZPT groups by name.
pub struct Names {
    regions: BTreeMap<String, Vec<String>>,
    groups: HashMap<String, (String, String)>,
}

impl Names {
    pub fn read(conn: &mut Conn) -> AppResult<Names> {
        let mut regions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in places::pilot_localities(conn)? {
            regions.entry(l.kato.chars().take(2).collect()).or_default().push(l.name);
        }
        let groups = catalog::groups_known(conn)?.into_iter().map(|g| (g.code, (g.name_ru, g.name_kk))).collect();
        Ok(Names { regions, groups })
    }

    /// `55 Павлодар`: the region's code and its pilot localities.
    pub fn region(&self, code: &str) -> String {
        match self.regions.get(code) {
            Some(names) => format!("{code} {}", names.join(", ")),
            None => code.to_owned(),
        }
    }

    pub fn group(&self, code: &str, lang: Lang) -> String {
        match (self.groups.get(code), lang) {
            (Some((ru, _)), Lang::Ru) => ru.clone(),
            (Some((_, kk)), Lang::Kk) => kk.clone(),
            (None, _) => code.to_owned(),
        }
    }
}

/// Discount by SZPT group, biggest first.
pub fn goods_bars(report: &MinistryReport, names: &Names, lang: Lang) -> Vec<Bar> {
    let mut by_group: BTreeMap<&str, azyq_shared::Tiyn> = BTreeMap::new();
    for g in &report.goods {
        *by_group.entry(g.group.as_str()).or_default() += g.discount_tiyn;
    }
    let mut bars: Vec<Bar> = by_group
        .into_iter()
        .map(|(code, tiyn)| Bar::new(names.group(code, lang), tiyn.get(), tiyn.to_string(), Tone::Neutral))
        .collect();
    bars.sort_by_key(|b| std::cmp::Reverse(b.value));
    bars
}

fn region_bars(report: &MinistryReport, names: &Names) -> Vec<Bar> {
    report
        .regions
        .iter()
        .map(|r| {
            let d = r.baskets.discount_tiyn;
            Bar::new(names.region(&r.region), d.get(), d.to_string(), Tone::Neutral)
        })
        .collect()
}

/// A row of the shops table.
pub struct ShopLine {
    pub shop: String,
    pub region: String,
    pub captured: String,
    pub cancelled: String,
    pub refunds: String,
    pub discount: String,
    pub paid: String,
}

/// A row of the goods table.
pub struct GoodsLine {
    pub region: String,
    pub group: String,
    pub pieces: String,
    pub kilograms: String,
    pub discount: String,
}

/// A row of the consent table.
pub struct ConsentLine {
    pub region: String,
    pub sms_sent: String,
    pub yes: String,
    pub no: String,
    pub no_answer: String,
    pub no_phone: String,
}

/// A download: the file and its two companions.
pub struct Download {
    pub format: &'static str,
    pub href: String,
}

/// One report (a day or a range) as the page shows it.
pub struct ReportView {
    pub captured: String,
    pub cancelled: String,
    pub hold_expired: String,
    pub refunds: String,
    pub discount: String,
    pub paid: String,
    pub refunded: String,
    pub by_region: String,
    pub by_group: String,
    pub shops: Vec<ShopLine>,
    pub goods: Vec<GoodsLine>,
    pub consent: Vec<ConsentLine>,
    pub downloads: Vec<Download>,
}

fn kilograms(grams: i64) -> String {
    if grams == 0 {
        return String::new();
    }
    format!("{},{:03}", count(grams / 1000), (grams % 1000).abs())
}

impl ReportView {
    fn new(report: &MinistryReport, names: &Names, lang: Lang, query: &str) -> ReportView {
        let b = &report.totals.baskets;
        let shops = report
            .shops
            .iter()
            .map(|s| ShopLine {
                shop: format!("{} ({})", s.shop_name, s.shop_id),
                region: names.region(&s.region),
                captured: count(s.baskets.baskets_captured),
                cancelled: count(s.baskets.baskets_cancelled + s.baskets.baskets_hold_expired),
                refunds: count(s.baskets.refunds),
                discount: s.baskets.discount_tiyn.to_string(),
                paid: s.baskets.paid_tiyn.to_string(),
            })
            .collect();
        let goods = report
            .goods
            .iter()
            .map(|g| GoodsLine {
                region: names.region(&g.region),
                group: names.group(&g.group, lang),
                pieces: if g.pieces == 0 { String::new() } else { count(g.pieces) },
                kilograms: kilograms(g.grams),
                discount: g.discount_tiyn.to_string(),
            })
            .collect();
        let consent = report
            .consent
            .iter()
            .map(|c| ConsentLine {
                region: names.region(&c.region),
                sms_sent: count(c.sms_sent),
                yes: count(c.yes),
                no: count(c.no),
                no_answer: count(c.no_answer),
                no_phone: count(c.no_phone),
            })
            .collect();
        let downloads = [(Format::Csv, "CSV"), (Format::Xlsx, "XLSX"), (Format::Json, "JSON")]
            .into_iter()
            .map(|(format, name)| Download {
                format: name,
                href: format!("/console/reports/file?{query}&format={}", format.extension()),
            })
            .collect();
        ReportView {
            captured: count(b.baskets_captured),
            cancelled: count(b.baskets_cancelled),
            hold_expired: count(b.baskets_hold_expired),
            refunds: count(b.refunds),
            discount: b.discount_tiyn.to_string(),
            paid: b.paid_tiyn.to_string(),
            refunded: b.refunded_tiyn.to_string(),
            by_region: charts::bars_across(&region_bars(report, names)),
            by_group: charts::bars_across(&goods_bars(report, names, lang)),
            shops,
            goods,
            consent,
            downloads,
        }
    }
}

#[derive(Template)]
#[template(path = "console/reports.html")]
struct ReportsPage {
    c: Chrome,
    date: String,
    from: String,
    to: String,
    daily: ReportView,
    summary: ReportView,
    by_day: String,
}

#[derive(Deserialize)]
struct ReportQuery {
    date: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The days of a range, first to last.
fn days(from: BusinessDay, to: BusinessDay) -> Vec<BusinessDay> {
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        out.push(day);
        match day.date().checked_add_days(Days::new(1)) {
            Some(next) => day = BusinessDay(next),
            None => break,
        }
    }
    out
}

/// The report day, and the summary's range (by default the month of the day up to it).
fn period(q: &ReportQuery, now: chrono::DateTime<chrono::Utc>) -> AppResult<(BusinessDay, BusinessDay, BusinessDay)> {
    let day = match q.date.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => figures::report_day(d, "date", now)?,
        None => BusinessDay::of(now),
    };
    let to = match q.to.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => figures::report_day(d, "to", now)?,
        None => day,
    };
    let from = match q.from.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => figures::report_day(d, "from", now)?,
        None => BusinessDay(to.month().map_err(|e| AppError::validation("to", e.to_string()))?.first_day()),
    };
    if to < from {
        return Err(AppError::validation("to", "конец периода раньше начала"));
    }
    if (to.date() - from.date()).num_days() >= MAX_RANGE_DAYS as i64 {
        return Err(AppError::validation("from", format!("период — не больше {MAX_RANGE_DAYS} дней")));
    }
    Ok((day, from, to))
}

async fn page(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, q: web::Query<ReportQuery>) -> HttpResponse {
    let result = async {
        ctx.staff()?;
        let now = state.clock.now();
        let (day, from, to) = period(&q, now)?;
        let (daily, summary, per_day, names) = state
            .db
            .run(move |db| {
                db.read(|c| {
                    let per_day = days(from, to)
                        .into_iter()
                        .map(|d| Ok((d, figures::report(c, d, d, now)?.totals.baskets.discount_tiyn)))
                        .collect::<AppResult<Vec<_>>>()?;
                    Ok((
                        figures::report(c, day, day, now)?,
                        figures::report(c, from, to, now)?,
                        per_day,
                        Names::read(c)?,
                    ))
                })
            })
            .await?;
        let t: &Texts = ctx.t;
        let at = now.timestamp();
        let by_day: Vec<Bar> = per_day
            .iter()
            .map(|(d, tiyn)| {
                Bar::new(d.date().format("%d.%m").to_string(), tiyn.get(), tiyn.to_string(), Tone::Neutral)
            })
            .collect();
        let page = ReportsPage {
            c: Chrome::new(&ctx, &req, Some(Section::Reports), t.reports_title),
            date: day.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            daily: ReportView::new(&daily, &names, ctx.lang, &format!("date={day}&at={at}")),
            summary: ReportView::new(&summary, &names, ctx.lang, &format!("from={from}&to={to}&at={at}")),
            by_day: charts::bars_up(&by_day),
        };
        html(StatusCode::OK, &page)
    }
    .await;
    respond(&ctx, &req, result)
}

#[derive(Deserialize)]
struct FileQuery {
    date: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    /// The instant the page was shown (Unix seconds): the file's `generated_at`, so that a file
    /// and its `.sha256` and `.sig`, fetched one after another, are the same bytes.
    at: Option<i64>,
    /// `sha256` or `sig` for a companion file.
    part: Option<String>,
}

/// A report file, or its `.sha256` or `.sig`, as an attachment named as the CLI names it.
async fn file(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, q: web::Query<FileQuery>) -> HttpResponse {
    let result = async {
        ctx.staff()?;
        let now = state.clock.now();
        let format: Format = q
            .format
            .as_deref()
            .unwrap_or("csv")
            .parse()
            .map_err(|_| AppError::validation("format", "формат отчёта: json, csv или xlsx"))?;
        let (from, to, stem) = match (&q.date, &q.from, &q.to) {
            (Some(d), None, None) => {
                let day = figures::report_day(d, "date", now)?;
                (day, day, format!("azyq-daily-{day}"))
            }
            (None, Some(f), Some(t)) => {
                let (from, to) = (figures::report_day(f, "from", now)?, figures::report_day(t, "to", now)?);
                (from, to, format!("azyq-summary-{from}-{to}"))
            }
            _ => return Err(AppError::validation("date", "укажите date или from и to")),
        };
        let name = format!("{stem}.{}", format.extension());
        let at = match q.at {
            Some(s) => chrono::DateTime::from_timestamp(s, 0)
                .filter(|at| *at <= now)
                .ok_or_else(|| AppError::validation("at", "время формирования отчёта — не в будущем"))?,
            None => now,
        };
        let signed =
            state.db.run(move |db| render_signed(db, &db.read(|c| figures::report(c, from, to, at))?, format)).await?;
        let (checksum, signature) = signing::sealed_sidecars(&signed.sha256, &signed.signature, &name);
        let (attachment, content_type, body) = match q.part.as_deref() {
            None | Some("") => (name.clone(), format.content_type(), signed.bytes),
            Some("sha256") => (format!("{name}.sha256"), "text/plain; charset=utf-8", checksum.into_bytes()),
            Some("sig") => (format!("{name}.sig"), "text/plain; charset=utf-8", signature.into_bytes()),
            Some(_) => return Err(AppError::validation("part", "part: sha256 или sig")),
        };
        Ok(HttpResponse::Ok()
            .content_type(content_type)
            .insert_header(("Content-Disposition", format!("attachment; filename=\"{}\"", urlencode(&attachment))))
            .insert_header(("X-Content-SHA256", signed.sha256))
            .insert_header(("X-Signature", signed.signature))
            .body(body))
    }
    .await;
    respond(&ctx, &req, result)
}
