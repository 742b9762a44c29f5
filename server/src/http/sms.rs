//! The SMS gateway's inbound webhook.

use actix_web::{post, web, HttpRequest};
use azyq_shared::api::{SmsInbound, SmsInboundResult};
use azyq_shared::Phone;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::domain::cycle::{self, InboundOutcome};
use crate::domain::sms;
use crate::error::{AppError, AppResult};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(inbound);
}

/// Compares secrets through their digests, so the time taken tells nothing of the secret.
fn same_secret(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}

/// An applicant's reply: `21*1` yes, `21*2` no, anything else gets the help text.
#[utoipa::path(post, path = "/api/v1/sms/inbound", tag = "sms", request_body = SmsInbound,
    params(("X-Gateway-Secret" = String, Header)),
    responses((status = 200, body = SmsInboundResult), (status = 401, description = "wrong secret")))]
#[post("/api/v1/sms/inbound")]
pub async fn inbound(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SmsInbound>,
) -> AppResult<web::Json<SmsInboundResult>> {
    let given = req.headers().get("X-Gateway-Secret").and_then(|v| v.to_str().ok()).unwrap_or("");
    match &state.sms_gateway_secret {
        Some(expected) if same_secret(given, expected) => {}
        _ => return Err(AppError::unauthorized("Неверный секрет шлюза SMS")),
    }
    let body = body.into_inner();
    let now = state.clock.now();
    let sms = state.sms.clone();
    let outcome = match Phone::parse(&body.from) {
        // A sender we cannot even read is a stranger: counted, nothing kept.
        Err(_) => {
            state
                .db
                .run(|db| db.write(|c| sms::bump_counter(c, "sms_inbound_unknown").map(|_| InboundOutcome::Unknown)))
                .await?
        }
        Ok(from) => {
            let inbound = move |c: &mut crate::db::Conn| {
                let sms_in = cycle::Inbound { from: &from, text: &body.text, received_at: body.received_at };
                cycle::inbound_sms(c, &sms_in, &sms, now)
            };
            state.db.run(move |db| db.write(inbound)).await?
        }
    };
    if outcome != InboundOutcome::Unknown {
        state.sms_kick.notify_one();
    }
    tracing::info!(outcome = outcome.as_str(), "inbound SMS");
    Ok(web::Json(SmsInboundResult { outcome: outcome.as_str().into() }))
}
