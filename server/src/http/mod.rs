//! The HTTP API (shared/API.md): one module per audience; handlers parse → call domain → map.

pub mod auth;
pub mod deliveries;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod offline;
pub mod openapi;
pub mod operator;
pub mod pos;
pub mod public;
pub mod reports;
pub mod shop_rules;
pub mod sms;
pub mod wallet;

use std::sync::Arc;

use actix_web::{error::JsonPayloadError, web, HttpRequest};
use azyq_shared::api::ErrorCode;
use azyq_shared::Month;
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::db::Db;
use crate::domain::sms::Policy;
use crate::error::AppError;
use auth::WalletAuth;

/// Request bodies over this are refused with 413 before they are parsed.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    /// What SMS say and when they may go.
    pub sms: Policy,
    /// The session secret, reloaded after a rotation elsewhere.
    pub sessions: crate::domain::accounts::Sessions,
    pub wallet: WalletAuth,
    pub sms_gateway_secret: Option<String>,
    /// Wakes the SMS sender after a request queued messages.
    pub sms_kick: Arc<Notify>,
    /// How long a basket's hold lasts.
    pub hold: chrono::Duration,
    /// How long a wallet QR token is valid.
    pub qr_ttl: chrono::Duration,
    /// The offline pack's lifetime and limits.
    pub offline: crate::domain::offline::Rules,
    /// Wakes the delivery loop after a request queued a delivery (a complaint).
    pub delivery_kick: Arc<Notify>,
    /// Where each kind of delivery goes, as the operator is shown it.
    pub delivery_routes: crate::domain::deliveries::Routes,
    /// The usual shop hours (Almaty), for the `outside_hours` signal.
    pub shop_hours: crate::domain::signals::ShopHours,
}

fn too_large() -> AppError {
    AppError::new(
        ErrorCode::PayloadTooLarge,
        "Тело запроса больше 1 МиБ. Большой список получателей загрузите на сервере командой \
         `azyq-server import --month ГГГГ-ММ ФАЙЛ`",
    )
    .with("limit_bytes", BODY_LIMIT)
}

/// JSON bodies: limited, and every parse error is 400 `validation` with the reason.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(BODY_LIMIT).content_type_required(false).error_handler(|err, _req| {
        match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => too_large(),
            JsonPayloadError::Deserialize(e) => AppError::validation("body", format!("неверный JSON: {e}")),
            other => AppError::validation("body", format!("неверное тело запроса: {other}")),
        }
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| AppError::validation("path", err.to_string()).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| AppError::validation("query", err.to_string()).into())
}

/// Reads a raw body (CSV uploads), refusing one over the limit before reading when its length is
/// declared, and as soon as it passes the limit otherwise.
pub async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<web::Bytes, AppError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::validation("body", format!("тело запроса не прочитано: {e}")))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a `{month}` path segment.
pub fn month_param(raw: &str) -> Result<Month, AppError> {
    Month::parse(raw).map_err(|e| AppError::validation("month", e.to_string()))
}

/// Whether the request says its body is CSV.
pub fn is_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"))
}

/// All routes of the API.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // The till's routes first: actix tries the routes in this order, and every route with a
    // `{segment}` before the one that matches costs a regex run per request.
    cfg.configure(pos::routes)
        .configure(public::routes)
        .configure(operator::routes)
        .configure(sms::routes)
        .configure(wallet::routes)
        .configure(offline::routes)
        .configure(reports::routes)
        .configure(deliveries::routes)
        .configure(metrics::routes)
        .configure(shop_rules::routes);
}

/// JSON 404 for paths that are not part of the API.
pub async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::new(ErrorCode::NotFound, "Нет такого адреса API"))
}
