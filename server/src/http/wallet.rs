//! The wallet app's back end: the recipient's vouchers and their activation.

use actix_web::{get, post, web};
use azyq_shared::api::{Voucher, Vouchers};

use super::auth::Recipient;
use super::AppState;
use crate::domain::wallet;
use crate::error::{AppError, AppResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_vouchers).service(activate);
}

/// The family's vouchers.
#[utoipa::path(get, path = "/api/v1/wallet/vouchers", tag = "wallet", responses((status = 200, body = Vouchers)), security(("wallet" = [])))]
#[get("/api/v1/wallet/vouchers")]
pub async fn list_vouchers(state: web::Data<AppState>, who: Recipient) -> AppResult<web::Json<Vouchers>> {
    let vouchers = state.db.run(move |db| db.read(|c| wallet::family_vouchers(c, &who.iin))).await?;
    Ok(web::Json(Vouchers { vouchers }))
}

pub fn voucher_id(raw: &str) -> AppResult<i64> {
    raw.parse().map_err(|_| AppError::validation("id", "номер ваучера — целое число"))
}

/// Activates a voucher of the recipient's family.
#[utoipa::path(post, path = "/api/v1/wallet/vouchers/{id}/activate", tag = "wallet", params(("id" = i64, Path)),
    responses((status = 200, body = Voucher), (status = 404, description = "voucher_not_found"), (status = 409, description = "month_closed, no_consent, month_not_started")),
    security(("wallet" = [])))]
#[post("/api/v1/wallet/vouchers/{id}/activate")]
pub async fn activate(
    state: web::Data<AppState>,
    who: Recipient,
    id: web::Path<String>,
) -> AppResult<web::Json<Voucher>> {
    let id = voucher_id(&id)?;
    let now = state.clock.now();
    let voucher = state.db.run(move |db| db.write(|c| wallet::activate(c, &who.iin, id, now))).await?;
    tracing::info!(voucher_id = id, "voucher activated");
    Ok(web::Json(voucher))
}
