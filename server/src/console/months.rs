//! `/console/` (the months, and this month's funnel and today's sales at a glance) and
//! `/console/months/{month}` (a month's funnel and vouchers; for the operator the list upload
//! with its row report, and the month's two actions).

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use azyq_shared::api::{ImportReport, MinistryReport};
use azyq_shared::{BusinessDay, Month};
use serde::Deserialize;

use super::charts::{self, Bar, Tone};
use super::session::Ctx;
use super::{form, html, read_upload, respond, Chrome, Section};
use crate::domain::{cycle, import};
use crate::error::{AppError, AppResult};
use crate::http::{month_param, AppState};
use crate::reports::months::{self as figures, Funnel, MonthRow, Vouchers};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/months/{month}", web::get().to(month_page))
        .route("/months/{month}/recipients", web::post().to(upload))
        .route("/months/{month}/consent-requests", web::post().to(consent_requests))
        .route("/months/{month}/close", web::post().to(close));
}

/// A count written for people: groups of three digits apart (`12 345`).
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{a0}');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("−{out}")
    } else {
        out
    }
}

/// `part` as a share of `whole`, in whole percent (none of an empty whole).
pub fn share(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return String::new();
    }
    format!("{} %", (part * 100 + whole / 2) / whole)
}

/// A row of a figures table: words, count, and a second column (a share or an amount).
pub struct Line {
    pub label: &'static str,
    pub count: String,
    pub other: String,
}

/// The funnel as a chart and its table.
pub struct FunnelView {
    pub chart: String,
    pub lines: Vec<Line>,
}

impl FunnelView {
    pub fn new(t: &super::i18n::Texts, f: &Funnel) -> FunnelView {
        let steps = [
            (t.listed, f.listed, Tone::Neutral),
            (t.sms_sent, f.sms_sent, Tone::Neutral),
            (t.yes, f.yes, Tone::Good),
            (t.no, f.no, Tone::Bad),
            (t.awaiting, f.awaiting, Tone::Muted),
            (t.no_answer, f.no_answer, Tone::Muted),
            (t.no_phone, f.no_phone, Tone::Muted),
        ];
        let bars: Vec<Bar> = steps.iter().map(|(l, n, tone)| Bar::new(*l, *n, count(*n), *tone)).collect();
        let lines =
            steps.iter().map(|(l, n, _)| Line { label: l, count: count(*n), other: share(*n, f.listed) }).collect();
        FunnelView { chart: charts::bars_across(&bars), lines }
    }
}

/// The vouchers as a chart (counts) and a table (counts and amounts).
pub struct VouchersView {
    pub chart: String,
    pub lines: Vec<Line>,
}

impl VouchersView {
    fn new(t: &super::i18n::Texts, v: &Vouchers) -> VouchersView {
        let rows = [
            (t.issued, v.issued, Tone::Neutral),
            (t.activated, v.activated, Tone::Good),
            (t.spent, v.spent, Tone::Good),
            (t.lapsed, v.lapsed, Tone::Muted),
            (t.expired, v.expired, Tone::Muted),
        ];
        let bars: Vec<Bar> = rows.iter().map(|(l, a, tone)| Bar::new(*l, a.count, count(a.count), *tone)).collect();
        let lines =
            rows.iter().map(|(l, a, _)| Line { label: l, count: count(a.count), other: a.tiyn.to_string() }).collect();
        VouchersView { chart: charts::bars_across(&bars), lines }
    }
}

/// Today's sales at a glance: totals and discount by SZPT group.
pub struct DayView {
    pub day: String,
    pub captured: String,
    pub discount: String,
    pub paid: String,
    pub chart: String,
    pub any: bool,
}

impl DayView {
    fn new(report: &MinistryReport, names: &super::reports::Names, lang: super::i18n::Lang) -> DayView {
        let totals = &report.totals.baskets;
        let bars = super::reports::goods_bars(report, names, lang);
        DayView {
            day: report.to.clone(),
            captured: count(totals.baskets_captured),
            discount: totals.discount_tiyn.to_string(),
            paid: totals.paid_tiyn.to_string(),
            chart: charts::bars_across(&bars),
            any: totals.baskets_captured > 0 || totals.refunds > 0,
        }
    }
}

struct MonthLink {
    month: String,
    state: &'static str,
    families: String,
}

#[derive(Template)]
#[template(path = "console/months.html")]
struct MonthsPage {
    c: Chrome,
    months: Vec<MonthLink>,
    this_month: String,
    next_month: String,
    funnel: FunnelView,
    today: DayView,
}

/// The months of the programme, with this month's funnel and today's sales.
#[utoipa::path(get, path = "/console/", tag = "console",
    responses((status = 200, description = "the web console (HTML): the months, this month's consent funnel and today's sales; without a session, 303 to /console/login", content_type = "text/html")))]
pub async fn index(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let result = async {
        ctx.staff()?;
        let now = state.clock.now();
        let today = BusinessDay::of(now);
        let month = today.month().map_err(|e| AppError::validation("month", e.to_string()))?;
        let (rows, funnel, report, names) = state
            .db
            .run(move |db| {
                db.read(|c| {
                    Ok((
                        figures::months(c)?,
                        figures::funnel(c, month)?,
                        crate::reports::figures::report(c, today, today, now)?,
                        super::reports::Names::read(c)?,
                    ))
                })
            })
            .await?;
        let t = ctx.t;
        let months = rows
            .iter()
            .map(|r: &MonthRow| MonthLink {
                month: r.month.to_string(),
                state: if r.closed { t.month_closed } else { t.month_open },
                families: count(r.families),
            })
            .collect();
        let page = MonthsPage {
            c: Chrome::new(&ctx, &req, Some(Section::Months), t.months_title),
            months,
            this_month: month.to_string(),
            next_month: month.next().map(|m| m.to_string()).unwrap_or_default(),
            funnel: FunnelView::new(t, &funnel),
            today: DayView::new(&report, &names, ctx.lang),
        };
        html(StatusCode::OK, &page)
    }
    .await;
    respond(&ctx, &req, result)
}

/// What the last action on the month page did.
enum Done {
    Nothing,
    Uploaded(ImportReport),
    Queued(usize),
    Closed,
}

/// A refused row of an upload.
struct RejectedLine {
    row: usize,
    code: String,
    message: String,
}

/// An upload's row report.
struct UploadView {
    accepted: String,
    new_families: String,
    vouchers_issued: String,
    rejected: Vec<RejectedLine>,
}

impl UploadView {
    fn new(r: ImportReport) -> UploadView {
        let code = |c: &azyq_shared::api::RejectCode| {
            serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        };
        UploadView {
            accepted: count(r.accepted as i64),
            new_families: count(r.new_families as i64),
            vouchers_issued: count(r.vouchers_issued as i64),
            rejected: r
                .rejected
                .into_iter()
                .map(|x| RejectedLine { row: x.row, code: code(&x.code), message: x.message })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/month.html")]
struct MonthPage {
    c: Chrome,
    month: String,
    funnel: FunnelView,
    vouchers: VouchersView,
    report: Option<UploadView>,
    notice: Option<String>,
}

async fn render_month(
    ctx: &Ctx,
    req: &HttpRequest,
    state: &AppState,
    month: Month,
    done: Done,
) -> AppResult<HttpResponse> {
    ctx.staff()?;
    let (funnel, vouchers) =
        state.db.run(move |db| db.read(|c| Ok((figures::funnel(c, month)?, figures::vouchers(c, month)?)))).await?;
    let t = ctx.t;
    let (report, notice) = match done {
        Done::Nothing => (None, None),
        Done::Uploaded(r) => (Some(UploadView::new(r)), None),
        Done::Queued(n) => (None, Some(format!("{}: {}", t.queued, count(n as i64)))),
        Done::Closed => (None, Some(t.month_was_closed.to_owned())),
    };
    let page = MonthPage {
        c: Chrome::new(ctx, req, Some(Section::Months), format!("{} {month}", t.month)),
        month: month.to_string(),
        funnel: FunnelView::new(t, &funnel),
        vouchers: VouchersView::new(t, &vouchers),
        report,
        notice,
    };
    html(StatusCode::OK, &page)
}

async fn month_page(ctx: Ctx, req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let result = async { render_month(&ctx, &req, &state, month_param(&path)?, Done::Nothing).await }.await;
    respond(&ctx, &req, result)
}

async fn upload(
    ctx: Ctx,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: Multipart,
) -> HttpResponse {
    let result = async {
        let op = ctx.operator()?;
        let month = month_param(&path)?;
        let up = read_upload(payload).await?;
        ctx.check_csrf(up.csrf.as_deref())?;
        if up.bytes.is_empty() {
            return Err(AppError::validation("file", "выберите файл списка"));
        }
        let (rows, group) = import::rows_from_upload(&up.bytes, up.is_json())?;
        let (now, sms, actor) = (state.clock.now(), state.sms.clone(), op.actor());
        let report = state
            .db
            .run(move |db| db.write(|c| import::import(c, month, &rows, group.as_deref(), &sms, &actor, now)))
            .await?;
        tracing::info!(%month, accepted = report.accepted, rejected = report.rejected.len(), "list uploaded in the console");
        render_month(&ctx, &req, &state, month, Done::Uploaded(report)).await
    }
    .await;
    respond(&ctx, &req, result)
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: Option<String>,
}

async fn consent_requests(
    ctx: Ctx,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let result = async {
        let op = ctx.operator()?;
        ctx.check_csrf(form::<ActionForm>(&body)?.csrf.as_deref())?;
        let month = month_param(&path)?;
        let (now, sms, actor) = (state.clock.now(), state.sms.clone(), op.actor());
        let queued =
            state.db.run(move |db| db.write(|c| cycle::queue_consent_requests(c, month, &sms, &actor, now))).await?;
        state.sms_kick.notify_one();
        render_month(&ctx, &req, &state, month, Done::Queued(queued)).await
    }
    .await;
    respond(&ctx, &req, result)
}

async fn close(
    ctx: Ctx,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let result = async {
        let op = ctx.operator()?;
        ctx.check_csrf(form::<ActionForm>(&body)?.csrf.as_deref())?;
        let month = month_param(&path)?;
        let (now, actor) = (state.clock.now(), op.actor());
        state.db.run(move |db| db.write(|c| cycle::close_month(c, month, &actor, now))).await?;
        render_month(&ctx, &req, &state, month, Done::Closed).await
    }
    .await;
    respond(&ctx, &req, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_shares_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1\u{a0}000");
        assert_eq!(count(1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(count(-1500), "−1\u{a0}500");
        assert_eq!(share(9, 12), "75 %");
        assert_eq!(share(1, 3), "33 %");
        assert_eq!(share(3, 0), "");
    }
}
