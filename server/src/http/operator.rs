//! Operator endpoints: lists, consent requests, month close, places, catalogue, rates, the
//! programme period, sessions.

use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use azyq_shared::api::{
    Cashier, CashierBody, CatalogGroups, CatalogReplaced, ImportReport, Locality, MonthClosed, Products, Programme,
    Queued, Rates, RecipientList, SessionRequest, SessionResponse, Shop, ShopBody,
};

use super::auth::Operator;
use super::extract::MonthPath;
use super::{is_csv, read_body, AppState};
use crate::domain::{accounts, catalog, cycle, import, places, programme, rates};
use crate::error::AppResult;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_session)
        .service(import_recipients)
        .service(consent_requests)
        .service(close_month)
        .service(put_localities)
        .service(get_localities)
        .service(put_shop)
        .service(get_shop)
        .service(create_cashier)
        .service(remove_cashier)
        .service(get_groups)
        .service(put_groups)
        .service(put_catalog)
        .service(get_catalog)
        .service(put_rates)
        .service(get_rates)
        .service(get_programme)
        .service(put_programme);
}

/// Logs in an operator, viewer or cashier.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", request_body = SessionRequest,
    responses((status = 200, body = SessionResponse), (status = 400, description = "validation: a login over 64 characters, control characters, a malformed terminal id"),
        (status = 401, description = "invalid_credentials"), (status = 429, description = "too_many_attempts: 5 tries per login, 30 per client address, per 15 minutes")))]
#[post("/api/v1/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SessionRequest>,
) -> AppResult<web::Json<SessionResponse>> {
    let login = accounts::LoginRequest::parse(body.into_inner())?;
    let address = req.peer_addr().map(|a| a.ip().to_string());
    let now = state.clock.now();
    Ok(web::Json(accounts::log_in(&state.db, &state.sessions, login, address, now).await?))
}

/// Imports the month's recipients list (JSON or CSV); answers a per-row report. Idempotent.
#[utoipa::path(post, path = "/api/v1/months/{month}/recipients", tag = "operator",
    params(("month" = String, Path, description = "YYYY-MM")),
    request_body(content = RecipientList, description = "JSON, or text/csv with header family_id,kato,phone,iin,name,birth_date"),
    responses((status = 200, body = ImportReport), (status = 400, description = "validation"), (status = 409, description = "month_closed, rate_not_set"), (status = 413, description = "payload_too_large")),
    security(("bearer" = [])))]
#[post("/api/v1/months/{month}/recipients")]
pub async fn import_recipients(
    state: web::Data<AppState>,
    op: Operator,
    MonthPath(month): MonthPath,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<web::Json<ImportReport>> {
    let body = read_body(&req, payload).await?;
    let (rows, group) = import::rows_from_upload(&body, !is_csv(&req))?;
    let (now, sms) = (state.clock.now(), state.sms.clone());
    let actor = op.actor();
    let report = state
        .db
        .run(move |db| db.write(|c| import::import(c, month, &rows, group.as_deref(), &sms, &actor, now)))
        .await?;
    Ok(web::Json(report))
}

/// Queues the start SMS now (the scheduler also does it on the 5th).
#[utoipa::path(post, path = "/api/v1/months/{month}/consent-requests", tag = "operator",
    params(("month" = String, Path)), responses((status = 200, body = Queued)), security(("bearer" = [])))]
#[post("/api/v1/months/{month}/consent-requests")]
pub async fn consent_requests(
    state: web::Data<AppState>,
    op: Operator,
    MonthPath(month): MonthPath,
) -> AppResult<web::Json<Queued>> {
    let now = state.clock.now();
    let sms = state.sms.clone();
    let actor = op.actor();
    let queued =
        state.db.run(move |db| db.write(|c| cycle::queue_consent_requests(c, month, &sms, &actor, now))).await?;
    state.sms_kick.notify_one();
    Ok(web::Json(Queued { queued }))
}

/// Month end: lapse, expire, release holds (the scheduler also does it).
#[utoipa::path(post, path = "/api/v1/months/{month}/close", tag = "operator",
    params(("month" = String, Path)), responses((status = 200, body = MonthClosed), (status = 409, description = "month_not_ended")), security(("bearer" = [])))]
#[post("/api/v1/months/{month}/close")]
pub async fn close_month(
    state: web::Data<AppState>,
    op: Operator,
    MonthPath(month): MonthPath,
) -> AppResult<web::Json<MonthClosed>> {
    let now = state.clock.now();
    let actor = op.actor();
    Ok(web::Json(state.db.run(move |db| db.write(|c| cycle::close_month(c, month, &actor, now))).await?))
}

/// Replaces the pilot localities.
#[utoipa::path(put, path = "/api/v1/localities", tag = "operator", request_body = Vec<Locality>,
    responses((status = 200, body = azyq_shared::api::Localities)), security(("bearer" = [])))]
#[put("/api/v1/localities")]
pub async fn put_localities(
    state: web::Data<AppState>,
    op: Operator,
    body: web::Json<Vec<Locality>>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let actor = op.actor();
    let list = body.into_inner();
    let localities = state.db.run(move |db| db.write(|c| places::put_localities(c, &list, &actor, now))).await?;
    Ok(HttpResponse::Ok().json(azyq_shared::api::Localities { localities }))
}

#[utoipa::path(get, path = "/api/v1/localities", tag = "operator", responses((status = 200, body = azyq_shared::api::Localities)), security(("bearer" = [])))]
#[get("/api/v1/localities")]
pub async fn get_localities(state: web::Data<AppState>, _op: Operator) -> AppResult<HttpResponse> {
    let localities = state.db.run(|db| db.read(places::pilot_localities)).await?;
    Ok(HttpResponse::Ok().json(azyq_shared::api::Localities { localities }))
}

/// Creates or updates a shop.
#[utoipa::path(put, path = "/api/v1/shops/{shop_id}", tag = "operator", params(("shop_id" = String, Path)), request_body = ShopBody,
    responses((status = 200, body = Shop)), security(("bearer" = [])))]
#[put("/api/v1/shops/{shop_id}")]
pub async fn put_shop(
    state: web::Data<AppState>,
    op: Operator,
    shop_id: web::Path<String>,
    body: web::Json<ShopBody>,
) -> AppResult<web::Json<Shop>> {
    let now = state.clock.now();
    let actor = op.actor();
    let (shop_id, body) = (shop_id.into_inner(), body.into_inner());
    Ok(web::Json(state.db.run(move |db| db.write(|c| places::put_shop(c, &shop_id, &body, &actor, now))).await?))
}

#[utoipa::path(get, path = "/api/v1/shops/{shop_id}", tag = "operator", params(("shop_id" = String, Path)),
    responses((status = 200, body = Shop), (status = 404, description = "shop_not_found")), security(("bearer" = [])))]
#[get("/api/v1/shops/{shop_id}")]
pub async fn get_shop(
    state: web::Data<AppState>,
    _op: Operator,
    shop_id: web::Path<String>,
) -> AppResult<web::Json<Shop>> {
    let shop_id = shop_id.into_inner();
    Ok(web::Json(state.db.run(move |db| db.read(|c| places::get_shop(c, &shop_id))).await?))
}

/// Removes a cashier: it can no longer log in, and its sessions end at once (401).
#[utoipa::path(delete, path = "/api/v1/shops/{shop_id}/cashiers/{login}", tag = "operator",
    params(("shop_id" = String, Path), ("login" = String, Path)),
    responses((status = 204, description = "removed"), (status = 404, description = "not_found: no such cashier"), (status = 401), (status = 403, description = "forbidden")),
    security(("bearer" = [])))]
#[actix_web::delete("/api/v1/shops/{shop_id}/cashiers/{login}")]
pub async fn remove_cashier(
    state: web::Data<AppState>,
    op: Operator,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let actor = op.actor();
    let (shop_id, login) = path.into_inner();
    state.db.run(move |db| db.write(|c| accounts::remove_cashier(c, &shop_id, &login, &actor, now))).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Creates a cashier of a shop, or sets a new password: that cashier's open sessions end (401).
#[utoipa::path(post, path = "/api/v1/shops/{shop_id}/cashiers", tag = "operator", params(("shop_id" = String, Path)), request_body = CashierBody,
    responses((status = 201, body = Cashier), (status = 404, description = "shop_not_found")), security(("bearer" = [])))]
#[post("/api/v1/shops/{shop_id}/cashiers")]
pub async fn create_cashier(
    state: web::Data<AppState>,
    op: Operator,
    shop_id: web::Path<String>,
    body: web::Json<CashierBody>,
) -> AppResult<HttpResponse> {
    let now = state.clock.now();
    let actor = op.actor();
    let (shop_id, body) = (shop_id.into_inner(), body.into_inner());
    let answer = Cashier { shop_id: shop_id.clone(), login: body.login.clone() };
    state
        .db
        .run(move |db| db.write(|c| accounts::upsert_cashier(c, &shop_id, &body.login, &body.password, &actor, now)))
        .await?;
    Ok(HttpResponse::Created().json(answer))
}

/// The SZPT groups in force.
#[utoipa::path(get, path = "/api/v1/catalog/groups", tag = "operator", responses((status = 200, body = CatalogGroups)), security(("bearer" = [])))]
#[get("/api/v1/catalog/groups")]
pub async fn get_groups(state: web::Data<AppState>, _op: Operator) -> AppResult<web::Json<CatalogGroups>> {
    let groups = state.db.run(|db| db.read(catalog::groups_in_force)).await?;
    Ok(web::Json(CatalogGroups { groups }))
}

/// Replaces the SZPT groups in force (e.g. the 31-item list of 2026).
#[utoipa::path(put, path = "/api/v1/catalog/groups", tag = "operator", request_body = CatalogGroups, responses((status = 200, body = CatalogGroups)), security(("bearer" = [])))]
#[put("/api/v1/catalog/groups")]
pub async fn put_groups(
    state: web::Data<AppState>,
    op: Operator,
    body: web::Json<CatalogGroups>,
) -> AppResult<web::Json<CatalogGroups>> {
    let now = state.clock.now();
    let actor = op.actor();
    let list = body.into_inner().groups;
    let groups = state.db.run(move |db| db.write(|c| catalog::put_groups(c, &list, &actor, now))).await?;
    Ok(web::Json(CatalogGroups { groups }))
}

/// Replaces the product list (JSON, or CSV `gtin,group,name,unit,discount_cap_bp`).
#[utoipa::path(put, path = "/api/v1/catalog", tag = "operator", request_body(content = Products, description = "JSON or text/csv"),
    responses((status = 200, body = CatalogReplaced)), security(("bearer" = [])))]
#[put("/api/v1/catalog")]
pub async fn put_catalog(
    state: web::Data<AppState>,
    op: Operator,
    req: HttpRequest,
    payload: web::Payload,
) -> AppResult<web::Json<CatalogReplaced>> {
    let body = read_body(&req, payload).await?;
    let list = catalog::products_from_upload(&body, !is_csv(&req))?;
    let now = state.clock.now();
    let actor = op.actor();
    let products = state.db.run(move |db| db.write(|c| catalog::put_products(c, &list, &actor, now))).await?;
    Ok(web::Json(CatalogReplaced { products }))
}

#[utoipa::path(get, path = "/api/v1/catalog", tag = "operator", responses((status = 200, body = Products)), security(("bearer" = [])))]
#[get("/api/v1/catalog")]
pub async fn get_catalog(state: web::Data<AppState>, _op: Operator) -> AppResult<web::Json<Products>> {
    let products = state.db.run(|db| db.read(catalog::products)).await?;
    Ok(web::Json(Products { products }))
}

/// Sets the month's voucher amount: a default and per-region rates, in tiyn.
#[utoipa::path(put, path = "/api/v1/rates/{month}", tag = "operator", params(("month" = String, Path)), request_body = Rates,
    responses((status = 200, body = Rates)), security(("bearer" = [])))]
#[put("/api/v1/rates/{month}")]
pub async fn put_rates(
    state: web::Data<AppState>,
    op: Operator,
    MonthPath(month): MonthPath,
    body: web::Json<Rates>,
) -> AppResult<web::Json<Rates>> {
    let body = body.into_inner();
    let now = state.clock.now();
    let actor = op.actor();
    Ok(web::Json(state.db.run(move |db| db.write(|c| rates::put(c, month, &body, &actor, now))).await?))
}

#[utoipa::path(get, path = "/api/v1/rates/{month}", tag = "operator", params(("month" = String, Path)),
    responses((status = 200, body = Rates), (status = 409, description = "rate_not_set")), security(("bearer" = [])))]
#[get("/api/v1/rates/{month}")]
pub async fn get_rates(
    state: web::Data<AppState>,
    _op: Operator,
    MonthPath(month): MonthPath,
) -> AppResult<web::Json<Rates>> {
    Ok(web::Json(state.db.run(move |db| db.read(|c| rates::get(c, month))).await?))
}

/// The months the service runs (SPEC §2.8).
#[utoipa::path(get, path = "/api/v1/programme", tag = "operator", responses((status = 200, body = Programme)), security(("bearer" = [])))]
#[get("/api/v1/programme")]
pub async fn get_programme(state: web::Data<AppState>, _op: Operator) -> AppResult<web::Json<Programme>> {
    Ok(web::Json(state.db.run(|db| db.read(programme::period)).await?.to_api()))
}

/// Records the months the service runs (an extension by agreement, Alg. p.30). Outside them no list
/// is accepted (409 `outside_programme`), no SMS goes and nothing is issued; once they are over,
/// standing consents end.
#[utoipa::path(put, path = "/api/v1/programme", tag = "operator", request_body = Programme,
    responses((status = 200, body = Programme), (status = 400, description = "validation: a month that is not YYYY-MM, an end before the start")),
    security(("bearer" = [])))]
#[put("/api/v1/programme")]
pub async fn put_programme(
    state: web::Data<AppState>,
    op: Operator,
    body: web::Json<Programme>,
) -> AppResult<web::Json<Programme>> {
    let period = programme::Period::parse(&body)?;
    let (now, actor) = (state.clock.now(), op.actor());
    Ok(web::Json(state.db.run(move |db| db.write(|c| programme::set(c, period, &actor, now))).await?.to_api()))
}
