//! `/console/complaints` (operator only): the complaints recipients filed with their rating of a
//! purchase, newest first, and whether each has gone on to e-Otinish. Complaints without a basket
//! and the akimat each is routed to join when they exist (issue 14).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use azyq_shared::ALMATY;

use super::session::Ctx;
use super::{html, respond, Chrome, Section};
use crate::http::AppState;
use crate::reports::complaints::{self, Complaint};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/complaints", web::get().to(page));
}

/// A complaint as the table shows it (times in Almaty).
struct Line {
    filed: String,
    shop: String,
    basket: String,
    rating: String,
    text: String,
    state: String,
}

#[derive(Template)]
#[template(path = "console/complaints.html")]
struct ComplaintsPage {
    c: Chrome,
    lines: Vec<Line>,
    limit: i64,
}

/// An instant as the console shows it: Almaty's day and minute.
pub(super) fn almaty(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M").to_string()
}

fn line(t: &super::i18n::Texts, c: Complaint) -> Line {
    Line {
        filed: almaty(c.filed_at),
        shop: match c.shop_name.is_empty() {
            true => format!("{} · {}", c.shop_id, c.region),
            false => format!("{} ({}) · {}", c.shop_name, c.shop_id, c.region),
        },
        basket: c.basket_id.map(|b| b.to_string()).unwrap_or_default(),
        rating: c.rating.map(|r| format!("{r}/5")).unwrap_or_default(),
        text: c.text,
        state: match c.sent_at {
            Some(at) => format!("{} {}", t.complaint_sent, almaty(at)),
            None => t.complaint_queued.to_owned(),
        },
    }
}

async fn page(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let result = async {
        ctx.operator()?;
        let rows = state.db.run(|db| db.read(complaints::latest)).await?;
        let page = ComplaintsPage {
            c: Chrome::new(&ctx, &req, Some(Section::Complaints), ctx.t.complaints_title),
            lines: rows.into_iter().map(|c| line(ctx.t, c)).collect(),
            limit: complaints::PAGE,
        };
        html(StatusCode::OK, &page)
    }
    .await;
    respond(&ctx, &req, result)
}
