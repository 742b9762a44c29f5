//! What the service owes others, for the operator: the deliveries outbox and the complaints.

use actix_web::{get, web};
use azyq_shared::api::{Complaints, Deliveries};
use serde::Deserialize;

use super::auth::Operator;
use super::{month_param, AppState};
use crate::domain::{deliveries, feedback};
use crate::error::{AppError, AppResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_deliveries).service(list_complaints);
}

/// Every delivery still owed (oldest first), then the latest delivered: kind, key, destination,
/// status, attempts, the last error (never personal data).
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "operator",
    responses((status = 200, body = Deliveries), (status = 401), (status = 403, description = "forbidden: operators only")),
    security(("bearer" = [])))]
#[get("/api/v1/deliveries")]
pub async fn list_deliveries(state: web::Data<AppState>, _op: Operator) -> AppResult<web::Json<Deliveries>> {
    let routes = state.delivery_routes.clone();
    let deliveries = state.db.run(move |db| db.read(|c| deliveries::list(c, &routes))).await?;
    Ok(web::Json(Deliveries { deliveries }))
}

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// The month's complaints with the akimat each was routed to and its delivery, and the shops'
/// ratings. No IIN or phone: the complainant's name is masked.
#[utoipa::path(get, path = "/api/v1/complaints", tag = "operator", params(("month" = String, Query, description = "YYYY-MM")),
    responses((status = 200, body = Complaints), (status = 400, description = "validation: no or bad month"), (status = 401),
        (status = 403, description = "forbidden: operators only")),
    security(("bearer" = [])))]
#[get("/api/v1/complaints")]
pub async fn list_complaints(
    state: web::Data<AppState>,
    _op: Operator,
    q: web::Query<MonthQuery>,
) -> AppResult<web::Json<Complaints>> {
    let raw = q.month.as_deref().ok_or_else(|| AppError::validation("month", "укажите месяц: ?month=ГГГГ-ММ"))?;
    let month = month_param(raw)?;
    Ok(web::Json(state.db.run(move |db| db.read(|c| feedback::list(c, month))).await?))
}
