//! The deliveries page: what is owed to e-Otinish, the ministry and the SDU, and what went — the
//! same list as `GET /api/v1/deliveries`, for the operator.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::complaints::almaty;
use super::session::Ctx;
use super::{html, respond, Chrome, Section};
use crate::domain::deliveries;
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deliveries", web::get().to(page));
}

struct Line {
    created: String,
    what: String,
    to: String,
    state: String,
    attempts: i32,
    error: String,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage {
    c: Chrome,
    lines: Vec<Line>,
}

async fn page(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let result = async {
        ctx.operator()?;
        let routes = state.delivery_routes.clone();
        let rows = state.db.run(move |db| db.read(|c| deliveries::list(c, &routes))).await?;
        let lines = rows
            .into_iter()
            .map(|d| Line {
                created: almaty(d.created_at),
                what: format!("{} {}", d.kind.as_str(), d.key),
                to: d.destination,
                state: match d.delivered_at {
                    Some(at) => format!("{} {}", d.status.as_str(), almaty(at)),
                    None => d.status.as_str().to_owned(),
                },
                attempts: d.attempts,
                error: d.last_error.unwrap_or_default(),
            })
            .collect();
        html(
            StatusCode::OK,
            &DeliveriesPage { c: Chrome::new(&ctx, &req, Some(Section::Deliveries), ctx.t.deliveries_title), lines },
        )
    }
    .await;
    respond(&ctx, &req, result)
}
