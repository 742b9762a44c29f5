//! Reports over HTTP: the ministry's daily report and pilot summary (operator, viewer), the SDU
//! return (operator only), a shop's reconciliation (operator, viewer, or that shop's cashier).

use actix_web::{get, web, HttpResponse};
use azyq_shared::api::{MinistryReport, Role, SduReturn, ShopReconciliation};
use serde::Deserialize;

use super::auth::{Operator, ReportReader, Staff};
use super::{month_param, AppState};
use crate::domain::keys;
use crate::error::{AppError, AppResult};
use crate::reports::render::{self, Format};
use crate::reports::{figures, returns, signing};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(daily).service(summary).service(sdu_return).service(reconciliation).service(report_keys);
}

pub(super) fn format_param(raw: Option<&str>) -> AppResult<Format> {
    raw.unwrap_or("json").parse().map_err(|_| AppError::validation("format", "формат отчёта: json, csv или xlsx"))
}

/// A report rendered in a format, with its SHA-256 and signature.
pub(crate) struct Signed {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub signature: String,
}

/// Renders and signs a report (runs on the blocking pool: XLSX takes a moment).
pub(crate) fn render_signed(db: &crate::db::Db, report: &MinistryReport, format: Format) -> AppResult<Signed> {
    sign(db, render::render(report, format).map_err(AppError::internal)?)
}

/// Signs a rendered report with the report key.
pub(crate) fn sign(db: &crate::db::Db, bytes: Vec<u8>) -> AppResult<Signed> {
    let key = db.write(keys::report_key)?;
    let (sha256, signature) = signing::seal(&bytes, keys::REPORT_KID, &key);
    Ok(Signed { bytes, sha256, signature })
}

/// Answers a rendered report, its SHA-256 and detached signature in headers.
pub(super) fn signed_response(signed: Signed, format: Format, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{name}.{}\"", format.extension())))
        .insert_header(("X-Content-SHA256", signed.sha256))
        .insert_header(("X-Signature", signed.signature))
        .body(signed.bytes)
}

#[derive(Debug, Deserialize)]
pub struct DailyQuery {
    date: Option<String>,
    format: Option<String>,
}

/// The ministry's report for a business day (Asia/Almaty), as json, csv or xlsx.
#[utoipa::path(get, path = "/api/v1/reports/daily", tag = "reports",
    params(("date" = String, Query, description = "YYYY-MM-DD"), ("format" = Option<String>, Query, description = "json (default), csv, xlsx")),
    responses((status = 200, body = MinistryReport), (status = 400, description = "validation: bad date or format, or a day in the future")),
    security(("bearer" = [])))]
#[get("/api/v1/reports/daily")]
pub async fn daily(
    state: web::Data<AppState>,
    _who: ReportReader,
    q: web::Query<DailyQuery>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let format = format_param(q.format.as_deref())?;
    let raw = q.date.as_deref().ok_or_else(|| AppError::validation("date", "укажите дату: ?date=ГГГГ-ММ-ДД"))?;
    let day = figures::report_day(raw, "date", now)?;
    let signed =
        state.db.run(move |db| render_signed(db, &db.read(|c| figures::report(c, day, day, now))?, format)).await?;
    Ok(signed_response(signed, format, &format!("azyq-daily-{day}")))
}

#[derive(Debug, Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// The pilot summary for a date range (order p.7.1): the same figures summed over the days.
#[utoipa::path(get, path = "/api/v1/reports/summary", tag = "reports",
    params(("from" = String, Query), ("to" = String, Query), ("format" = Option<String>, Query)),
    responses((status = 200, body = MinistryReport), (status = 400, description = "validation")), security(("bearer" = [])))]
#[get("/api/v1/reports/summary")]
pub async fn summary(
    state: web::Data<AppState>,
    _who: ReportReader,
    q: web::Query<RangeQuery>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let format = format_param(q.format.as_deref())?;
    let from = figures::report_day(
        q.from.as_deref().ok_or_else(|| AppError::validation("from", "укажите начало периода"))?,
        "from",
        now,
    )?;
    let to = figures::report_day(
        q.to.as_deref().ok_or_else(|| AppError::validation("to", "укажите конец периода"))?,
        "to",
        now,
    )?;
    let signed =
        state.db.run(move |db| render_signed(db, &db.read(|c| figures::report(c, from, to, now))?, format)).await?;
    Ok(signed_response(signed, format, &format!("azyq-summary-{from}-{to}")))
}

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

fn month_of(q: &MonthQuery) -> AppResult<azyq_shared::Month> {
    month_param(q.month.as_deref().ok_or_else(|| AppError::validation("month", "укажите месяц: ?month=ГГГГ-ММ"))?)
}

/// Families with no phone, refusals and no answers of a month (Alg. p.17): operator only, the one
/// report that names families.
#[utoipa::path(get, path = "/api/v1/reports/sdu-return", tag = "reports", params(("month" = String, Query)),
    responses((status = 200, body = SduReturn), (status = 403, description = "forbidden (viewer)")), security(("bearer" = [])))]
#[get("/api/v1/reports/sdu-return")]
pub async fn sdu_return(
    state: web::Data<AppState>,
    _op: Operator,
    q: web::Query<MonthQuery>,
) -> AppResult<web::Json<SduReturn>> {
    let month = month_of(&q)?;
    Ok(web::Json(state.db.run(move |db| db.read(|c| returns::sdu_return(c, month))).await?))
}

/// A shop's month: every captured and refunded basket with lines and totals.
#[utoipa::path(get, path = "/api/v1/reports/shops/{shop_id}/reconciliation", tag = "reports",
    params(("shop_id" = String, Path), ("month" = String, Query)),
    responses((status = 200, body = ShopReconciliation), (status = 403, description = "forbidden"), (status = 404, description = "shop_not_found")),
    security(("bearer" = [])))]
#[get("/api/v1/reports/shops/{shop_id}/reconciliation")]
pub async fn reconciliation(
    state: web::Data<AppState>,
    who: Staff,
    shop_id: web::Path<String>,
    q: web::Query<MonthQuery>,
) -> AppResult<web::Json<ShopReconciliation>> {
    let shop_id = shop_id.into_inner();
    let allowed = match who.0.role {
        Role::Operator | Role::Viewer => true,
        Role::Cashier => who.0.shop_id.as_deref() == Some(shop_id.as_str()),
    };
    if !allowed {
        return Err(AppError::forbidden());
    }
    let month = month_of(&q)?;
    Ok(web::Json(state.db.run(move |db| db.read(|c| returns::reconciliation(c, &shop_id, month))).await?))
}

/// The public key that signs exported reports.
#[utoipa::path(get, path = "/.well-known/report-keys", tag = "public", responses((status = 200, body = azyq_shared::api::VoucherKeys)))]
#[get("/.well-known/report-keys")]
pub async fn report_keys(state: web::Data<AppState>) -> AppResult<web::Json<azyq_shared::api::VoucherKeys>> {
    let key = state.db.read_short(keys::report_public).await?;
    Ok(web::Json(azyq_shared::api::VoucherKeys { keys: vec![key] }))
}
