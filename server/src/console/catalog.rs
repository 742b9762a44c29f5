//! `/console/catalog` (operator only): the SZPT groups in force and the products with their caps,
//! and the product list replaced from a file (`catalog::put_products`, as `PUT /api/v1/catalog`).
//! Price limits and recalls get their sections when they exist (issue 15): until then the page
//! says so.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use azyq_shared::api::{CatalogGroup, Product, Unit};
use serde::Deserialize;

use super::i18n::{Lang, Texts};
use super::months::count;
use super::session::Ctx;
use super::{html, read_upload, refusal, respond, see_other, Chrome, Section};
use crate::domain::catalog;
use crate::error::{AppError, AppResult};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/catalog", web::get().to(page)).route("/catalog/products", web::post().to(upload));
}

/// A product as the table shows it.
struct ProductLine {
    gtin: String,
    group: String,
    name: String,
    unit: &'static str,
    cap: String,
}

#[derive(Template)]
#[template(path = "console/catalog.html")]
struct CatalogPage {
    c: Chrome,
    groups: Vec<CatalogGroup>,
    products: Vec<ProductLine>,
    notice: Option<String>,
    error: Option<String>,
}

/// A cap in basis points as a percentage: `15 %`, `12,5 %`.
fn percent(bp: i32) -> String {
    match bp % 100 {
        0 => format!("{} %", bp / 100),
        r => format!("{},{} %", bp / 100, format!("{:02}", r.abs()).trim_end_matches('0')),
    }
}

fn product_line(t: &Texts, kk: bool, groups: &[CatalogGroup], p: Product) -> ProductLine {
    let group = groups
        .iter()
        .find(|g| g.code == p.group)
        .map_or_else(|| p.group.clone(), |g| if kk { g.name_kk.clone() } else { g.name_ru.clone() });
    ProductLine {
        gtin: p.gtin,
        group,
        name: p.name,
        unit: match p.unit {
            Unit::Piece => t.piece,
            Unit::Kg => t.kg,
        },
        // No cap of its own: its group's, as the price limits set it.
        cap: p.discount_cap_bp.map(percent).unwrap_or_else(|| "—".to_owned()),
    }
}

#[derive(Deserialize)]
struct Notice {
    replaced: Option<usize>,
}

async fn render(
    ctx: &Ctx,
    req: &HttpRequest,
    state: &AppState,
    notice: Option<String>,
    error: Option<&AppError>,
) -> AppResult<HttpResponse> {
    ctx.operator()?;
    let (groups, products) =
        state.db.run(|db| db.read(|c| Ok((catalog::groups_in_force(c)?, catalog::products(c)?)))).await?;
    let kk = ctx.lang == Lang::Kk;
    let products = products.into_iter().map(|p| product_line(ctx.t, kk, &groups, p)).collect();
    let (status, shown) = refusal(error);
    let page = CatalogPage {
        c: Chrome::new(ctx, req, Some(Section::Catalog), ctx.t.catalog_title),
        groups,
        products,
        notice,
        error: shown,
    };
    html(status, &page)
}

async fn page(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, q: web::Query<Notice>) -> HttpResponse {
    let notice = q.replaced.map(|n| format!("{}: {}", ctx.t.products_replaced, count(n as i64)));
    let result = render(&ctx, &req, &state, notice, None).await;
    respond(&ctx, &req, result)
}

async fn upload(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, payload: Multipart) -> HttpResponse {
    let result = async {
        let op = ctx.operator()?;
        let up = read_upload(payload).await?;
        ctx.check_csrf(up.csrf.as_deref())?;
        let replaced = async {
            if up.bytes.is_empty() {
                return Err(AppError::validation("file", "выберите файл товаров"));
            }
            let list = catalog::products_from_upload(&up.bytes, up.is_json())?;
            let (now, actor) = (state.clock.now(), op.actor());
            state.db.run(move |db| db.write(|c| catalog::put_products(c, &list, &actor, now))).await
        }
        .await;
        match replaced {
            Ok(n) => Ok(see_other(&format!("/console/catalog?replaced={n}"))),
            Err(e) if e.source.is_none() => render(&ctx, &req, &state, None, Some(&e)).await,
            Err(e) => Err(e),
        }
    }
    .await;
    respond(&ctx, &req, result)
}

#[cfg(test)]
mod tests {
    #[test]
    fn caps_read_as_percentages() {
        assert_eq!(super::percent(1500), "15 %");
        assert_eq!(super::percent(1250), "12,5 %");
        assert_eq!(super::percent(1205), "12,05 %");
        assert_eq!(super::percent(0), "0 %");
    }
}
