//! `/console/shops` (operator only): the shops and their cashiers; a shop created or changed
//! (`places::put_shop`), a cashier created or given a new password, a cashier removed
//! (`accounts::upsert_cashier`, `accounts::remove_cashier`: the cashier's sessions end at once).

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use azyq_shared::api::{Locality, ShopBody};
use serde::Deserialize;

use super::session::Ctx;
use super::{form, html, refusal, respond, see_other, Chrome, Section};
use crate::domain::roster::{self, ShopRoster};
use crate::domain::{accounts, places};
use crate::error::{AppError, AppResult};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/shops", web::get().to(page))
        .route("/shops", web::post().to(save_shop))
        .route("/shops/{shop}/cashiers", web::post().to(save_cashier))
        .route("/shops/{shop}/cashiers/{login}/remove", web::post().to(remove_cashier));
}

#[derive(Template)]
#[template(path = "console/shops.html")]
struct ShopsPage {
    c: Chrome,
    shops: Vec<ShopLine>,
    localities: Vec<Locality>,
    notice: Option<String>,
    error: Option<String>,
}

/// A shop as the table shows it.
struct ShopLine {
    shop_id: String,
    name: String,
    locality: String,
    address: String,
    cashiers: Vec<String>,
}

fn shop_line(localities: &[Locality], r: ShopRoster) -> ShopLine {
    let kato = r.shop.kato;
    let locality =
        localities.iter().find(|l| l.kato == kato).map_or_else(|| kato.clone(), |l| format!("{} ({kato})", l.name));
    ShopLine { shop_id: r.shop.shop_id, name: r.shop.name, locality, address: r.shop.address, cashiers: r.cashiers }
}

#[derive(Deserialize)]
struct Notice {
    done: Option<String>,
}

async fn render(
    ctx: &Ctx,
    req: &HttpRequest,
    state: &AppState,
    notice: Option<String>,
    error: Option<&AppError>,
) -> AppResult<HttpResponse> {
    ctx.operator()?;
    let (shops, localities) =
        state.db.run(|db| db.read(|c| Ok((roster::shops(c)?, places::pilot_localities(c)?)))).await?;
    let shops = shops.into_iter().map(|r| shop_line(&localities, r)).collect();
    let (status, shown) = refusal(error);
    let page = ShopsPage {
        c: Chrome::new(ctx, req, Some(Section::Shops), ctx.t.shops_title),
        shops,
        localities,
        notice,
        error: shown,
    };
    html(status, &page)
}

async fn page(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, q: web::Query<Notice>) -> HttpResponse {
    let t = ctx.t;
    let notice = q.done.as_deref().and_then(|d| match d {
        "shop" => Some(t.shop_saved.to_owned()),
        "cashier" => Some(t.cashier_saved.to_owned()),
        "removed" => Some(t.cashier_removed.to_owned()),
        _ => None,
    });
    let result = render(&ctx, &req, &state, notice, None).await;
    respond(&ctx, &req, result)
}

/// Runs an operator's form: the answer is the page again (303, so a reload does not repeat it),
/// or the page with the refusal above the forms. A viewer is refused 403 before anything.
async fn act<F, Fut>(
    ctx: Ctx,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
    done: &str,
    f: F,
) -> HttpResponse
where
    F: FnOnce(String, web::Bytes, web::Data<AppState>) -> Fut,
    Fut: std::future::Future<Output = AppResult<()>>,
{
    let result = async {
        let op = ctx.operator()?;
        ctx.check_csrf(form::<Csrf>(&body)?.csrf.as_deref())?;
        match f(op.actor(), body, state.clone()).await {
            Ok(()) => Ok(see_other(&format!("/console/shops?done={done}"))),
            Err(e) if e.source.is_none() && e.code != azyq_shared::api::ErrorCode::Unauthorized => {
                render(&ctx, &req, &state, None, Some(&e)).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    respond(&ctx, &req, result)
}

#[derive(Deserialize)]
struct Csrf {
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct ShopForm {
    #[serde(default)]
    shop_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kato: String,
    #[serde(default)]
    address: String,
}

async fn save_shop(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    act(ctx, req, state, body, "shop", |actor, body, state| async move {
        let f: ShopForm = form(&body)?;
        let now = state.clock.now();
        let shop = ShopBody { name: f.name, kato: f.kato, address: f.address };
        state.db.run(move |db| db.write(|c| places::put_shop(c, &f.shop_id, &shop, &actor, now))).await?;
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
struct CashierForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

async fn save_cashier(
    ctx: Ctx,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let shop = path.into_inner();
    act(ctx, req, state, body, "cashier", |actor, body, state| async move {
        let f: CashierForm = form(&body)?;
        let now = state.clock.now();
        let login = f.login.trim().to_owned();
        state.db.run(move |db| db.write(|c| accounts::upsert_cashier(c, &shop, &login, &f.password, &actor, now))).await
    })
    .await
}

async fn remove_cashier(
    ctx: Ctx,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (shop, login) = path.into_inner();
    act(ctx, req, state, body, "removed", |actor, _, state| async move {
        let now = state.clock.now();
        state.db.run(move |db| db.write(|c| accounts::remove_cashier(c, &shop, &login, &actor, now))).await
    })
    .await
}
