//! `/console/login`: the log-in form (with its CSRF token), through the same `log_in` as
//! `POST /api/v1/sessions` (attempts counted, Argon2 bounded); and `/console/logout`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use azyq_shared::api::{ErrorCode, SessionRequest};
use serde::Deserialize;

use super::session::Ctx;
use super::{form, html, respond, see_other, Chrome};
use crate::domain::accounts;
use crate::error::{AppError, AppResult};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(show))
        .route("/login", web::post().to(submit))
        .route("/logout", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    c: Chrome,
    login: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Ended {
    ended: Option<String>,
}

async fn show(ctx: Ctx, req: HttpRequest, q: web::Query<Ended>) -> HttpResponse {
    if ctx.staff().is_ok() {
        return respond(&ctx, &req, Ok(see_other("/console/")));
    }
    let error = q.ended.as_ref().map(|_| ctx.t.session_ended.to_owned());
    let page = LoginPage { c: Chrome::new(&ctx, &req, None, ctx.t.login_title), login: String::new(), error };
    respond(&ctx, &req, html(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

async fn submit(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let result = log_in(&ctx, &req, &state, &body).await;
    let result = match result {
        Err(e)
            if matches!(e.code, ErrorCode::InvalidCredentials | ErrorCode::TooManyAttempts | ErrorCode::Validation) =>
        {
            // The form again, with the refusal's sentence above it.
            let login = form::<LoginForm>(&body).map(|f| f.login).unwrap_or_default();
            let page = LoginPage { c: Chrome::new(&ctx, &req, None, ctx.t.login_title), login, error: Some(e.message) };
            let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            html(status, &page)
        }
        other => other,
    };
    respond(&ctx, &req, result)
}

async fn log_in(ctx: &Ctx, req: &HttpRequest, state: &AppState, body: &[u8]) -> AppResult<HttpResponse> {
    let f: LoginForm = form(body)?;
    ctx.check_csrf(f.csrf.as_deref())?;
    let login = accounts::LoginRequest::parse(SessionRequest {
        login: f.login.trim().to_owned(),
        password: f.password,
        shop_id: None,
        terminal_id: None,
    })?;
    let address = req.peer_addr().map(|a| a.ip().to_string());
    let now = state.clock.now();
    let session = accounts::log_in(&state.db, &state.sessions, login, address, now).await?;
    if session.role == azyq_shared::api::Role::Cashier {
        return Err(AppError::forbidden());
    }
    let mut res = see_other("/console/");
    ctx.logged_in(&mut res, session.token, (session.expires_at - now).num_seconds());
    Ok(res)
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

async fn logout(ctx: Ctx, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let result = form::<LogoutForm>(&body).and_then(|f| ctx.check_csrf(f.csrf.as_deref())).map(|()| {
        let mut res = see_other("/console/login");
        ctx.logged_out(&mut res);
        res
    });
    respond(&ctx, &req, result)
}
