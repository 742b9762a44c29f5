//! The headless sub-commands for scripts and tests: JSON on stdout, a clear error with the API
//! error code on stderr and a non-zero exit on failure.

use std::thread;
use std::time::Duration;

use azyq_shared::api::{
    AuthorizeRequest, BasketLineIn, CaptureRequest, ErrorCode, LookupResponse, Payment, PaymentMethod, PosCatalog,
    Recall, RefundRequest, SessionRequest, SessionResponse,
};
use azyq_shared::gs1::{self, Gtin, Scanned};
use azyq_shared::Tiyn;
use serde::Serialize;

use crate::app::basket::{Field, Incomplete, Line};
use crate::app::{KeyRing, Message};
use crate::client::{Client, ClientError, IdempotencyKey, Timeouts};
use crate::i18n::{self, Lang, T};
use crate::journal::{Journal, JournalError, KeptSession, LoggedIn};
use crate::offline;

/// How many times a keyed write is sent when its answer is lost (always with the same key).
const ATTEMPTS: u32 = 3;

/// Wait before the n-th retry: n × this.
#[cfg(not(test))]
const BACKOFF: Duration = Duration::from_secs(1);
#[cfg(test)]
const BACKOFF: Duration = Duration::from_millis(5);

/// Exit status when the outcome of a keyed write stayed unknown after every retry.
pub const EXIT_UNKNOWN_OUTCOME: u8 = 3;

/// A failure as a script sees it.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: Option<&'static str>,
    /// A keyed write may have taken effect: the script must not start it anew blindly.
    pub outcome_unknown: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} [{code}]", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl Failure {
    fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: None, outcome_unknown: false }
    }

    /// A failed request: the cashier's sentences without the TUI's keys, and the server's own
    /// words (or the network's) for whoever reads the log.
    fn of(lang: Lang, what: &str, err: &ClientError) -> Failure {
        let m = Message::for_client_error(err, None);
        let cause = match err {
            ClientError::Api { body, .. } => {
                format!(" ({}: {})", i18n::lower_first(T::FieldServer.get(lang)), body.error.message)
            }
            ClientError::Network(cause) | ClientError::Unreachable(cause) => format!(" ({cause})"),
            _ => String::new(),
        };
        Failure {
            message: format!("{what}: {}{cause}. {}", m.what.plain(lang), m.todo.plain(lang)),
            code: err.code().map(ErrorCode::as_str),
            outcome_unknown: false,
        }
    }
}

/// The cashier's log-in flags of every sub-command.
#[derive(Debug, Clone)]
pub struct Login {
    pub server: String,
    pub timeouts: Timeouts,
    pub shop: String,
    pub terminal: String,
    pub login: String,
    /// The name of the environment variable holding the password.
    pub password_env: String,
    /// What the till takes for "now" when it checks a token's expiry.
    pub clock: std::sync::Arc<dyn azyq_shared::clock::Clock>,
    /// The language of the errors on stderr.
    pub lang: Lang,
    /// The till's journal (`--journal`); `None` when no data directory is known.
    pub journal: Option<std::path::PathBuf>,
}

/// Logs in; the password comes from the environment, never from the command line.
pub fn login(args: &Login) -> Result<(Client, SessionResponse), Failure> {
    login_or_unreachable(args).map_err(Step::into_failure)
}

/// A step that failed: for lack of a server (the till may go offline), or for another reason.
enum Step {
    Unreachable(Failure),
    Failed(Failure),
}

impl Step {
    fn of(lang: Lang, what: &str, err: &ClientError) -> Step {
        let failure = Failure::of(lang, what, err);
        if offline::unreachable(err) {
            Step::Unreachable(failure)
        } else {
            Step::Failed(failure)
        }
    }

    fn into_failure(self) -> Failure {
        match self {
            Step::Unreachable(f) | Step::Failed(f) => f,
        }
    }
}

impl From<Failure> for Step {
    fn from(f: Failure) -> Step {
        Step::Failed(f)
    }
}

/// Logs in, keeping the session in the journal for offline use, and refreshes the offline pack
/// when it is older than an hour (a pack that cannot be fetched is said on stderr, the sale goes on).
fn login_or_unreachable(args: &Login) -> Result<(Client, SessionResponse), Step> {
    let password = std::env::var(&args.password_env)
        .map_err(|_| Failure::new(i18n::password_env(args.lang, &args.password_env)))?;
    let mut client = Client::new(&args.server, args.timeouts);
    let request = SessionRequest {
        login: args.login.clone(),
        password,
        shop_id: Some(args.shop.clone()),
        terminal_id: Some(args.terminal.clone()),
    };
    let session = client.login(&request).map_err(|e| Step::of(args.lang, T::DoingLogIn.get(args.lang), &e))?;
    if let Some(path) = &args.journal {
        let now = args.clock.now();
        let kept = KeptSession::new(LoggedIn {
            server: &args.server,
            shop: &args.shop,
            terminal: &args.terminal,
            login: &args.login,
            password: &request.password,
            token: &session.token,
            expires_at: session.expires_at,
        })
        .map_err(|e| journal_failure(args.lang, &e))?;
        let mut journal = open_journal(args.lang, path)?;
        journal.save_session(&kept).map_err(|e| journal_failure(args.lang, &e))?;
        if offline::pack_due(&mut journal, now) {
            if let Err(e) = offline::refresh_pack(&client, &mut journal, now) {
                eprintln!("azyq-pos: {}", pack_not_refreshed(args.lang, &e));
            }
        }
    }
    Ok((client, session))
}

fn open_journal(lang: Lang, path: &std::path::Path) -> Result<Journal, Failure> {
    Journal::open(path).map_err(|e| journal_failure(lang, &e))
}

fn journal_failure(lang: Lang, e: &JournalError) -> Failure {
    Failure { message: i18n::journal_failed(lang, &e.to_string()), code: Some("journal"), outcome_unknown: false }
}

fn pack_not_refreshed(lang: Lang, e: &offline::RefreshError) -> String {
    match e {
        offline::RefreshError::Client(e) => Failure::of(lang, T::OfflinePackNotLoaded.get(lang), e).to_string(),
        offline::RefreshError::Pack(c) => format!("{} [{}]", c.sentence(lang), c.code()),
    }
}

/// `CODE:QTY:SHELF:REDUCED`, prices in tiyn; QTY may be empty for a scale label. Split from the right: a GS1 serial may hold ':'.
/// Its errors are in both languages: clap calls it before `--lang` is known.
pub fn parse_line(text: &str) -> Result<BasketLineIn, String> {
    let mut parts = text.rsplitn(4, ':');
    let (Some(reduced), Some(shelf), Some(quantity), Some(code)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(i18n::line_usage());
    };
    let number = |s: &str, field: Field| s.trim().parse::<i64>().map_err(|_| i18n::not_a_whole_number(field, s));
    Ok(BasketLineIn {
        code: code.to_owned(),
        // Left empty (`CODE::SHELF:REDUCED`) for a scale label: the label's weight.
        quantity: if quantity.trim().is_empty() { 0 } else { number(quantity, Field::Quantity)? },
        shelf_price_tiyn: Tiyn::new(number(shelf, Field::Shelf)?),
        reduced_price_tiyn: Tiyn::new(number(reduced, Field::Reduced)?),
    })
}

/// Sends a keyed write until it has an answer: a lost answer is retried with the same key.
fn keyed<R>(lang: Lang, what: T, mut send: impl FnMut() -> Result<R, ClientError>) -> Result<R, Failure> {
    let mut attempt = 1;
    loop {
        match send() {
            Ok(v) => return Ok(v),
            Err(e) if e.outcome_unknown() && attempt < ATTEMPTS => {
                let cause = i18n::lower_first(Message::for_client_error(&e, None).what.get(lang));
                eprintln!("azyq-pos: {}", i18n::retrying(lang, what.get(lang), &cause, attempt + 1, ATTEMPTS));
                thread::sleep(BACKOFF * attempt);
                attempt += 1;
            }
            Err(e) => {
                let mut failure = Failure::of(lang, what.get(lang), &e);
                failure.outcome_unknown = e.outcome_unknown();
                return Err(failure);
            }
        }
    }
}

#[derive(Serialize)]
struct SaleOutput {
    lookups: Vec<LookupResponse>,
    authorized: azyq_shared::api::Authorized,
    captured: Option<azyq_shared::api::Captured>,
}

/// Log in, check and look up each token, authorise, and capture with paid = to pay. When the
/// server cannot be reached before the basket is sent, the sale is made offline (with the pack and
/// the kept session) and printed with `"offline": true`.
pub fn sale(
    args: &Login,
    tokens: &[String],
    lines: Vec<BasketLineIn>,
    method: PaymentMethod,
    capture: bool,
) -> Result<String, Failure> {
    let order = Order { tokens, lines, method, capture };
    match sale_online(args, &order) {
        Ok(out) => Ok(out),
        Err(Step::Failed(f)) => Err(f),
        Err(Step::Unreachable(f)) => {
            eprintln!("azyq-pos: {f}");
            sale_offline(args, order)
        }
    }
}

/// What `azyq-pos sale` was asked to sell.
struct Order<'a> {
    tokens: &'a [String],
    lines: Vec<BasketLineIn>,
    method: PaymentMethod,
    capture: bool,
}

fn sale_online(args: &Login, order: &Order) -> Result<String, Step> {
    let Order { tokens, method, capture, .. } = *order;
    let lines = order.lines.clone();
    let (client, _) = login_or_unreachable(args)?;
    let lang = args.lang;
    // What the till refuses itself, before anything is sent: a price over the region's limit,
    // recalled goods, a scale label's weight changed.
    let catalog = client.catalog().map_err(|e| Step::of(lang, T::CatalogNotLoaded.get(lang), &e))?;
    let recalls = client.recalls().map_err(|e| Step::of(lang, T::RecallsNotLoaded.get(lang), &e))?;
    precheck(lang, &lines, &catalog, &recalls.recalls).map_err(Step::Failed)?;
    let keys = client.keys().map_err(|e| Step::of(lang, T::DoingKeys.get(lang), &e))?;
    let ring = KeyRing::from_document(&keys);
    let mut lookups = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        let token = token.trim();
        if let Err(e) = ring.check(token, args.clock.now()) {
            let m = Message::for_token_error(&e);
            return Err(Step::Failed(Failure {
                message: format!("{}: {}", i18n::qr_number(i + 1), m.plain(lang)),
                code: m.code,
                outcome_unknown: false,
            }));
        }
        lookups.push(client.lookup(token).map_err(|e| Step::of(lang, &i18n::qr_number(i + 1), &e))?);
    }
    // From here on a request may take effect unheard: no switching offline, the outcome is
    // resolved with the server as before.
    let request = AuthorizeRequest { tokens: tokens.iter().map(|t| t.trim().to_owned()).collect(), lines };
    let key = IdempotencyKey::new();
    let authorized = keyed(lang, T::DoingAuthorize, || client.authorize(&key, &request))?;
    let captured = if capture {
        let pay = CaptureRequest { payment: Payment { method, paid_tiyn: authorized.to_pay_tiyn } };
        let key = IdempotencyKey::new();
        let basket_id = authorized.basket_id;
        let captured = keyed(lang, T::DoingCapture, || client.capture(basket_id, &key, &pay)).map_err(|mut f| {
            f.message = i18n::authorized_not_paid(lang, basket_id, &f.message);
            f
        })?;
        Some(captured)
    } else {
        None
    };
    Ok(json(lang, &SaleOutput { lookups, authorized, captured })?)
}

/// The sale without the server: the kept session must serve this cashier, the pack must be
/// fresh and genuine; the sale is on disk before its JSON is printed.
fn sale_offline(args: &Login, order: Order) -> Result<String, Failure> {
    let Order { tokens, lines, method, capture } = order;
    let lang = args.lang;
    let cannot =
        |c: offline::Cannot| Failure { message: c.sentence(lang), code: Some(c.code()), outcome_unknown: false };
    let Some(path) = &args.journal else {
        return Err(cannot(offline::Cannot::Journal(T::NoJournal.get(lang).to_owned())));
    };
    if !capture {
        // An offline sale is final: there is no hold to leave for later.
        return Err(Failure { message: i18n::needs_link(lang), code: Some("needs_link"), outcome_unknown: false });
    }
    let password =
        std::env::var(&args.password_env).map_err(|_| Failure::new(i18n::password_env(lang, &args.password_env)))?;
    let mut journal = open_journal(lang, path)?;
    let now = args.clock.now();
    offline::session_serves(&mut journal, &args.shop, &args.terminal, &args.login, &password, now).map_err(cannot)?;
    match offline::sell(&mut journal, &args.terminal, tokens, lines, method, now) {
        Ok(receipt) => json(lang, &receipt),
        Err(offline::Refused::Cannot(c)) => Err(cannot(c)),
        Err(offline::Refused::Token(i, e)) => Err(Failure {
            message: format!("{}: {}", i18n::qr_number(i + 1), Message::for_code(e.code).what.plain(lang)),
            code: Some(e.code.as_str()),
            outcome_unknown: false,
        }),
        Err(offline::Refused::Rule(e)) => {
            let what = Message::for_code(e.code).what.plain(lang);
            let what = match e.details.get("line").and_then(serde_json::Value::as_u64) {
                Some(line) => {
                    i18n::line_says(lang, usize::try_from(line).unwrap_or(0) + 1, &what).replace('\u{a0}', " ")
                }
                None => what,
            };
            Err(Failure { message: what, code: Some(e.code.as_str()), outcome_unknown: false })
        }
    }
}

/// `azyq-pos sync`: log in, upload the waiting sales, refresh the pack; print the counts.
pub fn sync(args: &Login, chunk: usize) -> Result<String, Failure> {
    let lang = args.lang;
    let Some(path) = &args.journal else {
        return Err(journal_failure(lang, &JournalError::Db(T::NoJournal.get(lang).to_owned())));
    };
    let (client, _) = login(args)?;
    let mut journal = open_journal(lang, path)?;
    let report = offline::sync(&client, &mut journal, args.clock.now(), chunk).map_err(|e| sync_failure(lang, &e))?;
    json(lang, &report)
}

fn sync_failure(lang: Lang, e: &offline::SyncError) -> Failure {
    match e {
        offline::SyncError::Client(e) => Failure::of(lang, T::DoingSync.get(lang), e),
        offline::SyncError::Journal(e) => journal_failure(lang, e),
        offline::SyncError::Mismatch => Failure::new(T::SyncAnswerMismatch.get(lang)),
        offline::SyncError::Pack(c) => {
            Failure { message: c.sentence(lang), code: Some(c.code()), outcome_unknown: false }
        }
    }
}

/// The lines as the till would build them from the same scans, refused where the TUI would not
/// send them: a shelf price over the limit, a label line of another weight, recalled goods.
/// Unknown products and unreadable codes are left to the server, which names them.
fn precheck(lang: Lang, lines: &[BasketLineIn], catalog: &PosCatalog, recalls: &[Recall]) -> Result<(), Failure> {
    let product = |gtin: &str| catalog.products.iter().find(|p| Gtin::parse(&p.gtin).is_ok_and(|g| g.as_str() == gtin));
    for (i, l) in lines.iter().enumerate() {
        let (line, batch) = match gs1::scan(&l.code) {
            Ok(Scanned::Product(code)) => match product(code.gtin.as_str()) {
                Some(p) => (Line::new(l.code.clone(), code.serial.clone(), p, l.quantity), code.batch.clone()),
                None => continue,
            },
            Ok(Scanned::Label(label)) => {
                match catalog.products.iter().find(|p| p.plu.as_deref() == Some(label.plu.as_str())) {
                    Some(p) => {
                        // No quantity (0): the label's weight, as the server takes it.
                        let line = Line::from_label(&label, p);
                        (Line { quantity: if l.quantity == 0 { line.quantity } else { l.quantity }, ..line }, None)
                    }
                    None => continue,
                }
            }
            Err(_) => continue,
        };
        let gtin = Gtin::parse(&line.gtin).map(|g| g.as_str().to_owned()).unwrap_or_else(|_| line.gtin.clone());
        if let Some(r) = recalls.iter().find(|r| r.covers(&gtin, batch.as_deref())) {
            let what = i18n::line_says(lang, i + 1, &i18n::recalled(lang, &r.reason)).replace('\u{a0}', " ");
            return Err(Failure {
                message: what,
                code: Some(ErrorCode::ProductRecalled.as_str()),
                outcome_unknown: false,
            });
        }
        let line = Line { shelf: Some(l.shelf_price_tiyn), reduced: Some(l.reduced_price_tiyn), ..line };
        let code = match line.incomplete() {
            Some(Incomplete::OverLimit(..)) => ErrorCode::PriceOverLimit,
            Some(Incomplete::LabelWeight(_)) => ErrorCode::Validation,
            _ => continue,
        };
        if let Some(why) = line.incomplete() {
            let what = i18n::line_says(lang, i + 1, &why.text(lang)).replace('\u{a0}', " ");
            return Err(Failure { message: what, code: Some(code.as_str()), outcome_unknown: false });
        }
    }
    Ok(())
}

/// Logs in for a refund or a cancel: without the server they cannot be done, and the till says so.
fn login_for_link(args: &Login) -> Result<(Client, SessionResponse), Failure> {
    login_or_unreachable(args).map_err(|e| match e {
        Step::Unreachable(f) => Failure {
            message: format!("{} ({})", i18n::needs_link(args.lang), f.message),
            code: Some("needs_link"),
            outcome_unknown: false,
        },
        Step::Failed(f) => f,
    })
}

pub fn cancel(args: &Login, basket_id: i64) -> Result<String, Failure> {
    let (client, _) = login_for_link(args)?;
    // Cancelling twice changes nothing, so a lost answer is simply asked again.
    json(args.lang, &keyed(args.lang, T::DoingCancel, || client.cancel(basket_id))?)
}

/// `lines`: the API's line indexes (`lines[].index`, from 0); empty refunds every line.
pub fn refund(args: &Login, basket_id: i64, lines: Vec<usize>) -> Result<String, Failure> {
    let (client, _) = login_for_link(args)?;
    let request = RefundRequest { lines: if lines.is_empty() { None } else { Some(lines) } };
    let key = IdempotencyKey::new();
    json(args.lang, &keyed(args.lang, T::DoingRefund, || client.refund(basket_id, &key, &request))?)
}

pub fn report(args: &Login, date: Option<&str>) -> Result<String, Failure> {
    let (client, _) = login(args)?;
    json(args.lang, &client.daily_report(date).map_err(|e| Failure::of(args.lang, T::DoingReport.get(args.lang), &e))?)
}

/// `{"role": "cashier", "expires_at": "..."}`: the session's expiry (its token is not printed).
pub fn login_only(args: &Login) -> Result<String, Failure> {
    let (_, session) = login(args)?;
    json(args.lang, &serde_json::json!({"role": session.role, "expires_at": session.expires_at}))
}

/// The token text in a QR image.
pub fn decode(path: &std::path::Path, lang: Lang) -> Result<String, Failure> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Failure::new(i18n::file_unreadable(lang, &shown, &e.to_string())))?;
    crate::qr::decode_png(&bytes)
        .map(|qr| qr.text)
        .map_err(|e| Failure::new(format!("{shown}: {}", i18n::qr_error(lang, &e))))
}

fn json<V: Serialize>(lang: Lang, value: &V) -> Result<String, Failure> {
    serde_json::to_string_pretty(value).map_err(|e| Failure::new(i18n::not_json(lang, &e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_from_the_right() {
        let l = parse_line("010460000000001521AB:C:2:45000:39000").unwrap();
        assert_eq!(l.code, "010460000000001521AB:C");
        assert_eq!((l.quantity, l.shelf_price_tiyn, l.reduced_price_tiyn), (2, Tiyn::new(45_000), Tiyn::new(39_000)));
        assert!(parse_line("4600000000015:2:45000").is_err());
        let err = parse_line("4600000000015:x:1:1").unwrap_err();
        assert!(err.contains("количество") && err.contains("саны"), "{err}");
    }

    #[test]
    fn a_lost_answer_is_retried_with_the_same_request_then_reported_unknown() {
        let mut calls = 0;
        let result: Result<(), Failure> = keyed(Lang::Ru, T::DoingAuthorize, || {
            calls += 1;
            Err(ClientError::Timeout)
        });
        let failure = result.unwrap_err();
        assert_eq!(calls, ATTEMPTS);
        assert!(failure.outcome_unknown);
        let mut calls = 0;
        let refused: Result<(), Failure> = keyed(Lang::Ru, T::DoingCapture, || {
            calls += 1;
            Err(ClientError::Http { status: 400 })
        });
        assert_eq!(calls, 1, "a definite refusal is not retried");
        assert!(!refused.unwrap_err().outcome_unknown);
    }
}
