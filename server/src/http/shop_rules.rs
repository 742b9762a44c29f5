//! The shop's side of the rules (SPEC §3.3, §5): price limits and recalls for the operator, the
//! recalls in force for the till, and the signals report for operators and viewers.

use actix_web::{delete, get, post, put, web, HttpResponse};
use azyq_shared::api::{PriceLimits, Recall, RecallRequest, Recalls, SignalsReport};
use serde::Deserialize;
use utoipa::OpenApi;

use super::auth::{Cashier, Operator, ReportReader};
use super::extract::IdPath;
use super::{month_param, AppState};
use crate::domain::{limits, recalls};
use crate::error::{AppError, AppResult};
use crate::reports::signals;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_limits)
        .service(put_limits)
        .service(create_recall)
        .service(list_recalls)
        .service(lift_recall)
        .service(pos_recalls)
        .service(signals_report);
}

/// These endpoints in the OpenAPI document (merged into [`super::openapi::document`]).
#[derive(OpenApi)]
#[openapi(paths(get_limits, put_limits, create_recall, list_recalls, lift_recall, pos_recalls, signals_report))]
pub struct ShopRulesDoc;

/// The price limits in force: per SZPT group and region, the highest shelf price and the cap.
#[utoipa::path(get, path = "/api/v1/catalog/limits", tag = "operator",
    responses((status = 200, body = PriceLimits), (status = 401), (status = 403, description = "forbidden")), security(("bearer" = [])))]
#[get("/api/v1/catalog/limits")]
pub async fn get_limits(state: web::Data<AppState>, _op: Operator) -> AppResult<web::Json<PriceLimits>> {
    let limits = state.db.run(|db| db.read(limits::get)).await?;
    Ok(web::Json(PriceLimits { limits }))
}

/// Replaces the price limits (a group in force, a pilot region, a positive price, a cap of 0–100 %).
#[utoipa::path(put, path = "/api/v1/catalog/limits", tag = "operator", request_body = PriceLimits,
    responses((status = 200, body = PriceLimits), (status = 400, description = "validation: unknown group or region, a price not above zero, a cap above 100 %"),
        (status = 401), (status = 403, description = "forbidden")), security(("bearer" = [])))]
#[put("/api/v1/catalog/limits")]
pub async fn put_limits(
    state: web::Data<AppState>,
    op: Operator,
    body: web::Json<PriceLimits>,
) -> AppResult<web::Json<PriceLimits>> {
    let (now, actor, list) = (state.clock.now(), op.actor(), body.into_inner().limits);
    let limits = state.db.run(move |db| db.write(|c| limits::put(c, &list, &actor, now))).await?;
    Ok(web::Json(PriceLimits { limits }))
}

/// Recalls a GTIN, or one batch (AI 10) of it: tills refuse and warn at the scan.
#[utoipa::path(post, path = "/api/v1/recalls", tag = "operator", request_body = RecallRequest,
    responses((status = 201, body = Recall), (status = 400, description = "validation: a GTIN with a wrong check digit, a bad batch, no reason, already recalled"),
        (status = 401), (status = 403, description = "forbidden")), security(("bearer" = [])))]
#[post("/api/v1/recalls")]
pub async fn create_recall(
    state: web::Data<AppState>,
    op: Operator,
    body: web::Json<RecallRequest>,
) -> AppResult<HttpResponse> {
    let (now, actor, req) = (state.clock.now(), op.actor(), body.into_inner());
    let recall = state.db.run(move |db| db.write(|c| recalls::create(c, &req, &actor, now))).await?;
    Ok(HttpResponse::Created().json(recall))
}

/// The recalls in force.
#[utoipa::path(get, path = "/api/v1/recalls", tag = "operator",
    responses((status = 200, body = Recalls), (status = 401), (status = 403, description = "forbidden")), security(("bearer" = [])))]
#[get("/api/v1/recalls")]
pub async fn list_recalls(state: web::Data<AppState>, _op: Operator) -> AppResult<web::Json<Recalls>> {
    Ok(web::Json(Recalls { recalls: state.db.run(|db| db.read(recalls::in_force)).await? }))
}

/// Lifts a recall: the goods sell again.
#[utoipa::path(delete, path = "/api/v1/recalls/{id}", tag = "operator", params(("id" = i64, Path)),
    responses((status = 204, description = "lifted"), (status = 404, description = "not_found: no such recall in force"), (status = 401), (status = 403, description = "forbidden")),
    security(("bearer" = [])))]
#[delete("/api/v1/recalls/{id}")]
pub async fn lift_recall(state: web::Data<AppState>, op: Operator, IdPath(id): IdPath) -> AppResult<HttpResponse> {
    let (now, actor) = (state.clock.now(), op.actor());
    state.db.run(move |db| db.write(|c| recalls::lift(c, id, &actor, now))).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The recalls in force, for the till to warn at the scan.
#[utoipa::path(get, path = "/api/v1/pos/recalls", tag = "till",
    responses((status = 200, body = Recalls), (status = 401), (status = 403, description = "forbidden")), security(("bearer" = [])))]
#[get("/api/v1/pos/recalls")]
pub async fn pos_recalls(state: web::Data<AppState>, _who: Cashier) -> AppResult<web::Json<Recalls>> {
    Ok(web::Json(Recalls { recalls: state.db.read_short(recalls::in_force).await? }))
}

#[derive(Debug, Deserialize)]
pub struct SignalsQuery {
    month: Option<String>,
    format: Option<String>,
}

/// Fraud and error signals per shop for a month (SPEC §6), as json, csv or xlsx; no personal data.
#[utoipa::path(get, path = "/api/v1/reports/signals", tag = "reports",
    params(("month" = String, Query, description = "YYYY-MM"), ("format" = Option<String>, Query, description = "json (default), csv, xlsx")),
    responses((status = 200, body = SignalsReport), (status = 400, description = "validation: bad month or format"), (status = 401), (status = 403, description = "forbidden")),
    security(("bearer" = [])))]
#[get("/api/v1/reports/signals")]
pub async fn signals_report(
    state: web::Data<AppState>,
    _who: ReportReader,
    q: web::Query<SignalsQuery>,
) -> AppResult<HttpResponse> {
    let format = super::reports::format_param(q.format.as_deref())?;
    let month =
        month_param(q.month.as_deref().ok_or_else(|| AppError::validation("month", "укажите месяц: ?month=ГГГГ-ММ"))?)?;
    let (now, hours) = (state.clock.now(), state.shop_hours);
    let signed = state
        .db
        .run(move |db| {
            let report = db.read(|c| signals::month_report(c, month, hours, now))?;
            super::reports::sign(db, signals::render(&report, hours, format).map_err(AppError::internal)?)
        })
        .await?;
    Ok(super::reports::signed_response(signed, format, &format!("azyq-signals-{month}")))
}
