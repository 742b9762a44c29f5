//! The offline till's API (SPEC §3.9): the signed pack, its public key, and the upload of offline
//! sales.

use actix_web::{get, post, web};
use azyq_shared::api::VoucherKeys;
use azyq_shared::offline::{OfflineSaleResults, OfflineSales, SignedPack};
use utoipa::OpenApi;

use super::auth::Cashier;
use super::AppState;
use crate::domain::offline;
use crate::error::AppResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(pack).service(sales).service(pack_keys);
}

/// These endpoints in the OpenAPI document (merged into [`super::openapi::document`]).
#[derive(OpenApi)]
#[openapi(
    paths(pack, sales, pack_keys),
    components(schemas(
        SignedPack,
        OfflineSales,
        OfflineSaleResults,
        azyq_shared::offline::OfflinePack,
        azyq_shared::offline::OfflineSale,
        azyq_shared::offline::OfflineSaleResult,
        azyq_shared::offline::OfflineSaleStatus
    ))
)]
pub struct OfflineDoc;

/// Everything the till needs to sell while the server is out of reach, signed with the pack key:
/// `pack` is base64url of the pack's JSON bytes ([`azyq_shared::offline::OfflinePack`]).
#[utoipa::path(get, path = "/api/v1/pos/offline-pack", tag = "till",
    responses((status = 200, body = SignedPack), (status = 401), (status = 404, description = "shop_not_found")),
    security(("bearer" = [])))]
#[get("/api/v1/pos/offline-pack")]
pub async fn pack(state: web::Data<AppState>, who: Cashier) -> AppResult<web::Json<SignedPack>> {
    let (now, rules) = (state.clock.now(), state.offline);
    Ok(web::Json(state.db.run(move |db| db.read(|c| offline::pack(c, &who.0, rules, now))).await?))
}

/// The till's offline sales, applied once each in order; a repeated `sale_id` answers its stored
/// result.
#[utoipa::path(post, path = "/api/v1/pos/offline-sales", tag = "till", request_body = OfflineSales,
    responses((status = 200, body = OfflineSaleResults), (status = 400, description = "validation: more than 500 sales, or a body that is not the upload"), (status = 401)),
    security(("bearer" = [])))]
#[post("/api/v1/pos/offline-sales")]
pub async fn sales(
    state: web::Data<AppState>,
    who: Cashier,
    body: web::Json<OfflineSales>,
) -> AppResult<web::Json<OfflineSaleResults>> {
    let now = state.clock.now();
    let body = body.into_inner();
    Ok(web::Json(state.db.run(move |db| offline::sync(db, &who.0, &body, now)).await?))
}

/// The public key that signs offline packs.
#[utoipa::path(get, path = "/.well-known/offline-pack-keys", tag = "public", responses((status = 200, body = VoucherKeys)))]
#[get("/.well-known/offline-pack-keys")]
pub async fn pack_keys(state: web::Data<AppState>) -> AppResult<web::Json<VoucherKeys>> {
    let key = state.db.read_short(offline::pack_public).await?;
    Ok(web::Json(VoucherKeys { keys: vec![key] }))
}
