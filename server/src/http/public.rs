//! Public endpoints: health and the OpenAPI document.

use actix_web::{get, web, HttpResponse};
use azyq_shared::api::{Health, VoucherKeys};
use diesel::RunQueryDsl;

use super::AppState;
use crate::error::AppError;
use crate::with_conn;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(voucher_keys).service(openapi_json);
}

/// 200 when the database answers.
#[utoipa::path(get, path = "/health", tag = "public", responses((status = 200, body = Health), (status = 503, body = azyq_shared::api::ErrorBody)))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> Result<web::Json<Health>, AppError> {
    state
        .db
        .run(|db| db.read(|c| with_conn!(c, c => diesel::sql_query("SELECT 1").execute(c)).map_err(AppError::from)))
        .await?;
    Ok(web::Json(Health { status: "ok".into() }))
}

/// The OpenAPI 3 document, generated from the code.
#[get("/api/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}

/// The public keys that sign voucher tokens, so a till can check a signature before going online.
#[utoipa::path(get, path = "/.well-known/voucher-keys", tag = "public", responses((status = 200, body = VoucherKeys)))]
#[get("/.well-known/voucher-keys")]
pub async fn voucher_keys(state: web::Data<AppState>) -> Result<web::Json<VoucherKeys>, AppError> {
    let keys = state.db.run(|db| db.read(crate::domain::keys::published)).await?;
    Ok(web::Json(VoucherKeys { keys }))
}
