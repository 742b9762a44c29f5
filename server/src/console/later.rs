//! Pages whose features are not in this version yet (deliveries, issue 14): each says so plainly,
//! for the operator only, and shows no figures. When the feature lands, its page
//! becomes a module of its own and leaves this list.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::session::Ctx;
use super::{html, respond, Chrome, Section};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deliveries", web::get().to(deliveries));
}

#[derive(Template)]
#[template(path = "console/later.html")]
struct LaterPage {
    c: Chrome,
}

fn later(ctx: &Ctx, req: &HttpRequest, section: Section, title: &'static str) -> HttpResponse {
    let result = ctx
        .operator()
        .and_then(|_| html(StatusCode::OK, &LaterPage { c: Chrome::new(ctx, req, Some(section), title) }));
    respond(ctx, req, result)
}

async fn deliveries(ctx: Ctx, req: HttpRequest) -> HttpResponse {
    later(&ctx, &req, Section::Deliveries, ctx.t.deliveries_title)
}
