//! The till's API (role `cashier`, bound to one shop and terminal).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use azyq_shared::api::{
    AuthorizeRequest, Authorized, BasketState, BasketView, CaptureRequest, Captured, LookupRequest, LookupResponse,
    PosCatalog, PosDailyReport, Refund, RefundRequest,
};
use serde::{Deserialize, Serialize};

use super::auth::{Cashier, CashierToken};
use super::extract::{IdPath, IdempotencyKey};
use super::AppState;
use crate::domain::idempotency;
use crate::domain::pos;
use crate::domain::redeem::{self, Asked};
use crate::error::AppResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(catalog)
        .service(lookup)
        .service(authorize)
        .service(get_basket)
        .service(capture)
        .service(cancel)
        .service(refund)
        .service(daily);
}

/// Who asks for a till transition that takes an `Idempotency-Key`: the key and the request's
/// digest come from the request.
fn asked(state: &AppState, till: redeem::Till, req: &HttpRequest, key: IdempotencyKey, body: &impl Serialize) -> Asked {
    let IdempotencyKey(key) = key;
    Asked { till, key, hash: idempotency::request_hash(req.path(), body), now: state.clock.now() }
}

/// The SZPT products and caps for the shop, with its last prices.
#[utoipa::path(get, path = "/api/v1/pos/catalog", tag = "till", responses((status = 200, body = PosCatalog)), security(("bearer" = [])))]
#[get("/api/v1/pos/catalog")]
pub async fn catalog(state: web::Data<AppState>, who: Cashier) -> AppResult<web::Json<PosCatalog>> {
    Ok(web::Json(state.db.run(move |db| db.read(|c| pos::catalog(c, &who.0))).await?))
}

/// The voucher behind a scanned token: month, status, balance, masked holder.
#[utoipa::path(post, path = "/api/v1/pos/lookup", tag = "till", request_body = LookupRequest,
    responses((status = 200, body = LookupResponse), (status = 409, description = "token_used, not_activated, month_closed, voucher_exhausted"),
        (status = 422, description = "token_invalid, token_expired, unknown_key, wrong_region")), security(("bearer" = [])))]
#[post("/api/v1/pos/lookup")]
pub async fn lookup(
    state: web::Data<AppState>,
    who: CashierToken,
    body: web::Json<LookupRequest>,
) -> AppResult<web::Json<LookupResponse>> {
    let now = state.clock.now();
    let token = body.into_inner().token;
    // The usual case in one statement, the session's account read in it too; any refusal is
    // answered by the full path, which checks the session first.
    let (till, text, version) = (who.till.clone(), token.clone(), who.version);
    if let Some(found) = state.db.read_short_one(move |c| pos::lookup_fast(c, &till, version, &text, now)).await? {
        return Ok(web::Json(found));
    }
    Ok(web::Json(state.db.read_short(move |c| pos::lookup(c, &who.till, version, &token, now)).await?))
}

/// Authorise a basket: checks every line and token, places the hold, answers what to pay.
#[utoipa::path(post, path = "/api/v1/pos/baskets", tag = "till", request_body = AuthorizeRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Authorized), (status = 409, description = "token_used, not_activated, month_closed, voucher_exhausted, idempotency_conflict"),
        (status = 422, description = "token_invalid, token_expired, unknown_key, wrong_region, insufficient_balance, not_szpt_product, discount_over_cap, code_invalid, code_already_sold, product_expired")),
    security(("bearer" = [])))]
#[post("/api/v1/pos/baskets")]
pub async fn authorize(
    state: web::Data<AppState>,
    who: CashierToken,
    req: HttpRequest,
    key: IdempotencyKey,
    body: web::Json<AuthorizeRequest>,
) -> AppResult<HttpResponse> {
    let rules = redeem::SaleRules { hold: state.hold, hours: state.shop_hours };
    // The session's account is read in authorise's first statement (see `CashierToken`).
    let session = Some(who.version);
    let asked = asked(&state, who.till, &req, key, &*body);
    let answer = redeem::authorize_async(&state.db, asked, body.into_inner(), rules, session).await?;
    Ok(HttpResponse::Created().json(answer))
}

/// A basket's state (and receipt once paid): how a till resolves an outcome it did not hear.
#[utoipa::path(get, path = "/api/v1/pos/baskets/{id}", tag = "till", params(("id" = i64, Path)),
    responses((status = 200, body = BasketView), (status = 403, description = "forbidden"), (status = 404, description = "basket_not_found")),
    security(("bearer" = [])))]
#[get("/api/v1/pos/baskets/{id}")]
pub async fn get_basket(
    state: web::Data<AppState>,
    who: Cashier,
    IdPath(id): IdPath,
) -> AppResult<web::Json<BasketView>> {
    Ok(web::Json(state.db.read_short(move |c| redeem::basket(c, &who.0, id)).await?))
}

/// Capture: the customer paid; the hold becomes a charge and the receipt is final.
#[utoipa::path(post, path = "/api/v1/pos/baskets/{id}/capture", tag = "till", params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = CaptureRequest,
    responses((status = 200, body = Captured), (status = 403, description = "forbidden"), (status = 404, description = "basket_not_found"), (status = 409, description = "basket_state, hold_expired, idempotency_conflict")),
    security(("bearer" = [])))]
#[post("/api/v1/pos/baskets/{id}/capture")]
pub async fn capture(
    state: web::Data<AppState>,
    who: Cashier,
    req: HttpRequest,
    key: IdempotencyKey,
    IdPath(id): IdPath,
    body: web::Json<CaptureRequest>,
) -> AppResult<web::Json<Captured>> {
    let asked = asked(&state, who.0, &req, key, &*body);
    Ok(web::Json(redeem::capture_async(&state.db, asked, id, body.into_inner().payment).await?))
}

/// Cancel: releases the hold.
#[utoipa::path(post, path = "/api/v1/pos/baskets/{id}/cancel", tag = "till", params(("id" = i64, Path)),
    responses((status = 200, body = BasketState), (status = 403, description = "forbidden"), (status = 404, description = "basket_not_found"), (status = 409, description = "basket_state, hold_expired")),
    security(("bearer" = [])))]
#[post("/api/v1/pos/baskets/{id}/cancel")]
pub async fn cancel(state: web::Data<AppState>, who: Cashier, IdPath(id): IdPath) -> AppResult<web::Json<BasketState>> {
    let now = state.clock.now();
    Ok(web::Json(redeem::cancel_async(&state.db, who.0, id, now).await?))
}

/// Refund a captured basket, whole (`{}`) or by line (`{"lines":[0,2]}`), same shop, same month.
#[utoipa::path(post, path = "/api/v1/pos/baskets/{id}/refund", tag = "till", params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = RefundRequest,
    responses((status = 200, body = Refund), (status = 403, description = "forbidden"), (status = 409, description = "basket_state, month_closed, idempotency_conflict")),
    security(("bearer" = [])))]
#[post("/api/v1/pos/baskets/{id}/refund")]
pub async fn refund(
    state: web::Data<AppState>,
    who: Cashier,
    req: HttpRequest,
    key: IdempotencyKey,
    IdPath(id): IdPath,
    body: web::Json<RefundRequest>,
) -> AppResult<web::Json<Refund>> {
    let asked = asked(&state, who.0, &req, key, &*body);
    Ok(web::Json(redeem::refund_async(&state.db, asked, id, body.into_inner().lines).await?))
}

#[derive(Debug, Deserialize)]
pub struct DayQuery {
    date: Option<String>,
}

/// The shop's day: baskets, discount, paid, goods by group.
#[utoipa::path(get, path = "/api/v1/pos/reports/daily", tag = "till", params(("date" = Option<String>, Query, description = "YYYY-MM-DD, Almaty; today if absent")),
    responses((status = 200, body = PosDailyReport)), security(("bearer" = [])))]
#[get("/api/v1/pos/reports/daily")]
pub async fn daily(
    state: web::Data<AppState>,
    who: Cashier,
    q: web::Query<DayQuery>,
) -> AppResult<web::Json<PosDailyReport>> {
    let day = pos::report_day(q.date.as_deref(), state.clock.now())?;
    Ok(web::Json(state.db.run(move |db| db.read(|c| pos::daily(c, &who.0, day))).await?))
}
