//! `GET /metrics`: Prometheus' text format (see `crate::metrics` for what is counted). With
//! `AZYQ_METRICS_TOKEN` set it needs `Authorization: Bearer <that token>`; without it, only
//! loopback clients get it (403 otherwise), so a scrape port is never open to the network by
//! default.

use actix_web::{get, web, HttpRequest, HttpResponse};
use azyq_shared::api::ErrorCode;

use super::AppState;
use crate::error::{AppError, AppResult};

/// Who may scrape: the token's holders, or loopback clients when there is no token.
#[derive(Clone)]
pub struct MetricsAccess {
    pub token: Option<String>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(metrics);
}

fn allowed(req: &HttpRequest, access: Option<&MetricsAccess>) -> AppResult<()> {
    match access.and_then(|a| a.token.as_deref()) {
        Some(token) => {
            let given = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| AppError::unauthorized("Требуется Authorization: Bearer <AZYQ_METRICS_TOKEN>"))?;
            // Equal lengths compared byte by byte, every byte: no early exit to time.
            let same = given.len() == token.len()
                && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
            if same {
                Ok(())
            } else {
                Err(AppError::unauthorized("Неверный токен метрик"))
            }
        }
        None if req.peer_addr().is_some_and(|a| a.ip().is_loopback()) => Ok(()),
        None => Err(AppError::new(
            ErrorCode::Forbidden,
            "Метрики доступны только с этой машины; для сети задайте AZYQ_METRICS_TOKEN",
        )),
    }
}

/// Prometheus metrics: requests by route and status with latency histograms, sales, holds,
/// refunds, outbox depth, group-commit batch sizes, pool waits.
#[utoipa::path(get, path = "/metrics", tag = "public",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "AZYQ_METRICS_TOKEN is set and the bearer token is missing or wrong"),
        (status = 403, description = "forbidden: no AZYQ_METRICS_TOKEN and the client is not on the loopback")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    allowed(&req, req.app_data::<web::Data<MetricsAccess>>().map(|d| d.get_ref()))?;
    let depths = state.db.run(|db| db.read(crate::metrics::outbox_depths)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(&depths)))
}
