//! The operators' and the ministry's web console at `/console/` (API.md, "The web console"):
//! server-rendered HTML from typed askama templates compiled into the binary, SVG charts drawn on
//! the server, no JavaScript needed. One module per page; each calls the same domain and report
//! functions as the API. Cookies and CSRF live in [`session`], words in [`i18n`].
//!
//! A page not built yet is one line in [`NAV`] and a module that says so plainly.

pub mod charts;
pub mod i18n;
pub mod session;

mod catalog;
mod complaints;
mod deliveries;
mod login;
pub(crate) mod months;
mod reports;
mod shops;

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use azyq_shared::api::{ErrorCode, Role};
use futures_util::StreamExt;

use crate::error::{AppError, AppResult};
use crate::http::BODY_LIMIT;
use i18n::Texts;
use session::Ctx;

pub use session::PATH;

/// The console's pages in the order the navigation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Months,
    Reports,
    Shops,
    Catalog,
    Complaints,
    Deliveries,
}

/// A navigation entry: where, its words, and whether a viewer may see it.
struct NavEntry {
    section: Section,
    href: &'static str,
    label: fn(&Texts) -> &'static str,
    viewer: bool,
}

/// The navigation: a viewer sees reports and figures only.
const NAV: &[NavEntry] = &[
    NavEntry { section: Section::Months, href: "/console/", label: |t| t.nav_months, viewer: true },
    NavEntry { section: Section::Reports, href: "/console/reports", label: |t| t.nav_reports, viewer: true },
    NavEntry { section: Section::Shops, href: "/console/shops", label: |t| t.nav_shops, viewer: false },
    NavEntry { section: Section::Catalog, href: "/console/catalog", label: |t| t.nav_catalog, viewer: false },
    NavEntry { section: Section::Complaints, href: "/console/complaints", label: |t| t.nav_complaints, viewer: false },
    NavEntry { section: Section::Deliveries, href: "/console/deliveries", label: |t| t.nav_deliveries, viewer: false },
];

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every page shows around its content: title, navigation, who is logged in, the language
/// switch, and the CSRF token its forms carry.
pub struct Chrome {
    pub t: &'static Texts,
    pub lang: &'static str,
    pub title: String,
    pub nav: Vec<NavItem>,
    /// `login (role)` when logged in.
    pub user: Option<String>,
    pub operator: bool,
    pub csrf: String,
    /// This page's address, for the language links to come back to.
    pub here: String,
}

impl Chrome {
    pub fn new(ctx: &Ctx, req: &HttpRequest, section: Option<Section>, title: impl Into<String>) -> Chrome {
        let t = ctx.t;
        let staff = ctx.staff().ok();
        let role = staff.map(|s| s.role);
        let nav = match role {
            Some(role) => NAV
                .iter()
                .filter(|e| e.viewer || role == Role::Operator)
                .map(|e| NavItem { href: e.href, label: (e.label)(t), current: Some(e.section) == section })
                .collect(),
            None => Vec::new(),
        };
        let user = staff.map(|s| {
            let role = if s.role == Role::Operator { t.role_operator } else { t.role_viewer };
            format!("{} ({role})", s.sub)
        });
        let here = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        Chrome {
            t,
            lang: ctx.lang.code(),
            title: title.into(),
            nav,
            user,
            operator: role == Some(Role::Operator),
            csrf: ctx.csrf(),
            here: urlencode(&here),
        }
    }
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An HTML answer of a rendered template.
/// A refused form shown again: its status, and the sentence with its code for the page (`None`
/// and 200 when the form was not refused).
pub fn refusal(error: Option<&AppError>) -> (StatusCode, Option<String>) {
    match error {
        Some(e) => (
            StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            Some(format!("{} ({})", e.message, e.code.as_str())),
        ),
        None => (StatusCode::OK, None),
    }
}

pub fn html(status: StatusCode, page: &impl Template) -> AppResult<HttpResponse> {
    let body = page.render().map_err(AppError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ))
        .body(body))
}

/// 303 to another console page (after a form, so a reload does not post it again).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    c: Chrome,
    message: String,
    code: &'static str,
}

/// The answer of a page: its own, or for a refusal the log-in page (no session) or an error page
/// in the console's language with the refusal's sentence and code.
pub fn respond(ctx: &Ctx, req: &HttpRequest, result: AppResult<HttpResponse>) -> HttpResponse {
    let res = match result {
        Ok(res) => res,
        Err(e) if e.code == ErrorCode::Unauthorized => {
            let to = if ctx.session_ended() { "/console/login?ended=1" } else { "/console/login" };
            see_other(to)
        }
        Err(e) => error_page(ctx, req, &e),
    };
    ctx.finish(res)
}

fn error_page(ctx: &Ctx, req: &HttpRequest, e: &AppError) -> HttpResponse {
    if let Some(source) = &e.source {
        tracing::error!(code = e.code.as_str(), error = format!("{source:#}"), "console page failed");
    }
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match e.code {
        ErrorCode::Forbidden => ctx.t.forbidden.to_owned(),
        ErrorCode::NotFound => ctx.t.not_found.to_owned(),
        _ => e.message.clone(),
    };
    let page = ErrorPage { c: Chrome::new(ctx, req, None, ctx.t.error_title), message, code: e.code.as_str() };
    html(status, &page).unwrap_or_else(|_| HttpResponse::build(status).body(e.message.clone()))
}

const STYLE: &str = include_str!("../../templates/console/console.css");

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(STYLE)
}

/// `/console/lang/{ru|kk}?back=…`: the language cookie, and back to the page (a console page only).
async fn language(ctx: Ctx, path: web::Path<String>, q: web::Query<Back>) -> HttpResponse {
    let Some(lang) = i18n::Lang::parse(&path) else { return see_other("/console/") };
    let back = q.back.as_deref().filter(|b| b.starts_with("/console") && !b.contains("//")).unwrap_or("/console/");
    let mut res = see_other(back);
    let _ = res.add_cookie(&ctx.language_cookie(lang));
    res
}

#[derive(serde::Deserialize)]
struct Back {
    back: Option<String>,
}

async fn not_found(ctx: Ctx, req: HttpRequest) -> HttpResponse {
    respond(&ctx, &req, Err(AppError::new(ErrorCode::NotFound, "Нет такой страницы")))
}

/// Reads a form body (`application/x-www-form-urlencoded`) into its struct.
pub fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> AppResult<T> {
    serde_urlencoded::from_bytes(body).map_err(|e| AppError::validation("form", format!("форма: {e}")))
}

/// The upload form's parts: its CSRF token and the file.
pub struct Upload {
    pub csrf: Option<String>,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// Reads a multipart form, refusing more than the API's body limit.
pub async fn read_upload(mut payload: Multipart) -> AppResult<Upload> {
    let mut up = Upload { csrf: None, file_name: String::new(), bytes: Vec::new() };
    let too_large = || {
        AppError::new(
            azyq_shared::api::ErrorCode::PayloadTooLarge,
            "Файл больше 1 МиБ: загрузите его командой azyq-server import",
        )
    };
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|e| AppError::validation("file", format!("форма не прочитана: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            up.file_name = field.content_disposition().and_then(|d| d.get_filename()).unwrap_or_default().to_owned();
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| AppError::validation("file", format!("файл не прочитан: {e}")))?;
            if bytes.len() + chunk.len() > BODY_LIMIT {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => up.csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => up.bytes = bytes,
            _ => {}
        }
    }
    Ok(up)
}

impl Upload {
    /// Whether the file is JSON (by its name, or its first character), else CSV.
    pub fn is_json(&self) -> bool {
        self.file_name.to_ascii_lowercase().ends_with(".json")
            || self.bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
    }
}

/// Every console route, under `/console`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(|| async { see_other("/console/") })).service(
        web::scope("/console")
            .route("/static/console.css", web::get().to(stylesheet))
            .route("/lang/{lang}", web::get().to(language))
            .configure(login::routes)
            .configure(months::routes)
            .configure(reports::routes)
            .configure(shops::routes)
            .configure(catalog::routes)
            .configure(complaints::routes)
            .configure(deliveries::routes)
            .default_service(web::to(not_found)),
    );
}
