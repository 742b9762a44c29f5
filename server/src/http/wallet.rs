//! The wallet app's back end: the recipient's vouchers and their activation.

use actix_web::{get, post, web, HttpResponse};
use azyq_shared::api::{
    ComplaintFiled, ComplaintRequest, FeedbackRequest, FeedbackSaved, History, Notifications, QrToken, Voucher,
    Vouchers,
};

use super::auth::Recipient;
use super::extract::{IdPath, IdempotencyKey};
use super::AppState;
use crate::domain::{complaints, history, idempotency, notices, secrets, wallet};
use crate::error::AppResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_vouchers)
        .service(activate)
        .service(qr)
        .service(qr_png)
        .service(basket_history)
        .service(feedback)
        .service(notifications)
        .service(complain);
}

/// The family's vouchers.
#[utoipa::path(get, path = "/api/v1/wallet/vouchers", tag = "wallet", responses((status = 200, body = Vouchers)), security(("wallet" = [])))]
#[get("/api/v1/wallet/vouchers")]
pub async fn list_vouchers(state: web::Data<AppState>, who: Recipient) -> AppResult<web::Json<Vouchers>> {
    let vouchers = state.db.run(move |db| db.read(|c| wallet::family_vouchers(c, &who.iin))).await?;
    Ok(web::Json(Vouchers { vouchers }))
}

/// Activates a voucher of the recipient's family.
#[utoipa::path(post, path = "/api/v1/wallet/vouchers/{id}/activate", tag = "wallet", params(("id" = i64, Path)),
    responses((status = 200, body = Voucher), (status = 404, description = "voucher_not_found"), (status = 409, description = "month_closed, no_consent, month_not_started")),
    security(("wallet" = [])))]
#[post("/api/v1/wallet/vouchers/{id}/activate")]
pub async fn activate(state: web::Data<AppState>, who: Recipient, IdPath(id): IdPath) -> AppResult<web::Json<Voucher>> {
    let now = state.clock.now();
    let voucher = state.db.run(move |db| db.write(|c| wallet::activate(c, &who.iin, id, now))).await?;
    tracing::info!(voucher_id = id, "voucher activated");
    Ok(web::Json(voucher))
}

/// Mints a signed QR token for an activated voucher, valid a few minutes, good for one basket.
#[utoipa::path(post, path = "/api/v1/wallet/vouchers/{id}/qr", tag = "wallet", params(("id" = i64, Path)),
    responses((status = 200, body = QrToken), (status = 404, description = "voucher_not_found"), (status = 409, description = "not_activated, month_closed, voucher_exhausted")),
    security(("wallet" = [])))]
#[post("/api/v1/wallet/vouchers/{id}/qr")]
pub async fn qr(state: web::Data<AppState>, who: Recipient, IdPath(id): IdPath) -> AppResult<web::Json<QrToken>> {
    let (now, ttl) = (state.clock.now(), state.qr_ttl);
    Ok(web::Json(state.db.read_short(move |c| wallet::mint_qr(c, &who.iin, id, ttl, now)).await?))
}

/// The same kind of token drawn as a PNG QR code (level Q); its expiry in `X-Token-Expires-At`.
#[utoipa::path(get, path = "/api/v1/wallet/vouchers/{id}/qr.png", tag = "wallet", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/png", description = "QR code of a fresh token"), (status = 409, description = "not_activated")),
    security(("wallet" = [])))]
#[get("/api/v1/wallet/vouchers/{id}/qr.png")]
pub async fn qr_png(state: web::Data<AppState>, who: Recipient, IdPath(id): IdPath) -> AppResult<HttpResponse> {
    let (now, ttl) = (state.clock.now(), state.qr_ttl);
    let token = state.db.read_short(move |c| wallet::mint_qr(c, &who.iin, id, ttl, now)).await?;
    let png = crate::qr::png(&token.token)?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Token-Expires-At", token.expires_at.to_rfc3339()))
        .body(png))
}

/// Every basket paid with the family's vouchers: shop, time, lines, status.
#[utoipa::path(get, path = "/api/v1/wallet/history", tag = "wallet", responses((status = 200, body = History)), security(("wallet" = [])))]
#[get("/api/v1/wallet/history")]
pub async fn basket_history(state: web::Data<AppState>, who: Recipient) -> AppResult<web::Json<History>> {
    let baskets = state.db.run(move |db| db.read(|c| history::history(c, &who.iin))).await?;
    Ok(web::Json(History { baskets }))
}

/// Rates the shop of a paid basket (1-5), once, with an optional complaint for e-Otinish.
#[utoipa::path(post, path = "/api/v1/wallet/baskets/{id}/feedback", tag = "wallet", params(("id" = i64, Path)), request_body = FeedbackRequest,
    responses((status = 200, body = FeedbackSaved), (status = 404, description = "basket_not_found"), (status = 409, description = "basket_state")),
    security(("wallet" = [])))]
#[post("/api/v1/wallet/baskets/{id}/feedback")]
pub async fn feedback(
    state: web::Data<AppState>,
    who: Recipient,
    IdPath(id): IdPath,
    body: web::Json<FeedbackRequest>,
) -> AppResult<web::Json<FeedbackSaved>> {
    let now = state.clock.now();
    let body = body.into_inner();
    let saved = state.db.run(move |db| db.write(|c| history::give_feedback(c, &who.iin, id, &body, now))).await?;
    if saved.complaint_queued {
        state.delivery_kick.notify_one();
    }
    Ok(web::Json(saved))
}

/// A complaint about a shop without a basket (a family refused at the till), routed to the akimat
/// of the shop's region and queued for e-Otinish. A double tap files it once (and an
/// `Idempotency-Key`, when sent, answers its first answer).
#[utoipa::path(post, path = "/api/v1/wallet/complaints", tag = "wallet", request_body = ComplaintRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "optional; 1 to 64 printable ASCII characters")),
    responses((status = 201, body = ComplaintFiled), (status = 400, description = "validation: empty or over-long text, control characters, a day in the future or before the programme"),
        (status = 401), (status = 404, description = "shop_not_found"), (status = 409, description = "idempotency_conflict")),
    security(("wallet" = [])))]
#[post("/api/v1/wallet/complaints")]
pub async fn complain(
    state: web::Data<AppState>,
    who: Recipient,
    IdempotencyKey(key): IdempotencyKey,
    body: web::Json<ComplaintRequest>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let body = body.into_inner();
    let hash = idempotency::request_hash("/api/v1/wallet/complaints", &body);
    let filed = state
        .db
        .run(move |db| {
            db.write_retrying(|c| {
                // Keys are the recipient's own: another recipient's same key is another request.
                let scope = format!("wallet_complaints/{}", secrets::recipient_actor(c, &who.iin)?);
                idempotency::once(c, &scope, key.as_deref(), &hash, now, |c| {
                    complaints::file_without_basket(c, &who.iin, &body, now)
                })
            })
        })
        .await?;
    state.delivery_kick.notify_one();
    tracing::info!(complaint_id = filed.complaint_id, region = %filed.akimat.region, "complaint filed");
    Ok(HttpResponse::Created().json(filed))
}

/// The family's notices (SW p.4, p.7): vouchers issued, an answer recorded, the month's end near;
/// newest first.
#[utoipa::path(get, path = "/api/v1/wallet/notifications", tag = "wallet", responses((status = 200, body = Notifications)), security(("wallet" = [])))]
#[get("/api/v1/wallet/notifications")]
pub async fn notifications(state: web::Data<AppState>, who: Recipient) -> AppResult<web::Json<Notifications>> {
    let notifications = state.db.run(move |db| db.read(|c| notices::of_recipient(c, &who.iin))).await?;
    Ok(web::Json(Notifications { notifications }))
}
