//! The till's state and its pure transitions.
//!
//! Nothing here does I/O: [`App::handle`] takes an [`Event`] (a key, a clock tick, or the
//! [`Reply`] to an earlier request) and returns the [`Command`]s to run. The loop (`tui`) runs them
//! with the HTTP client and feeds the answers back, so every flow, the failures included, is
//! tested here with fabricated answers.

pub mod basket;
mod checkout;
mod edit;
pub mod explain;
pub mod keyring;
mod login;
mod message;
mod office;
mod sale;

use std::collections::HashMap;
use std::fmt;

use azyq_shared::api::{
    AuthorizeRequest, Authorized, BasketState, CaptureRequest, Captured, CatalogGroup, ErrorCode, LookupResponse,
    PosCatalog, PosDailyReport, PosProduct, Recall, Recalls, Refund, RefundRequest, SessionRequest, SessionResponse,
    VoucherKeys,
};
use azyq_shared::gs1::Gtin;
use chrono::{DateTime, Utc};

use crate::client::{ClientError, IdempotencyKey};
use crate::i18n::{self, Lang, Phrase, T};
pub use explain::{explain, Explanation};
pub use keyring::KeyRing;
pub use login::LoginForm;
pub use message::{Message, Tone};
pub use office::{RefundForm, ReportView};
pub use sale::{Fault, LineEdit, Sale, ScannedVoucher, Stage};

/// The function key that switches the language (F12: no other screen uses it).
pub const LANGUAGE_KEY: u8 = 12;

/// A key press, as the loop translates it from the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character; a scanner's GS separator arrives as `'\u{1d}'`.
    Char(char),
    Enter,
    Esc,
    Backspace,
    Delete,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    F(u8),
    /// Ctrl with a letter (Ctrl+Q quits).
    Ctrl(char),
}

/// What the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Login,
    Sale,
    Payment,
    Receipt,
    Refund,
    Report,
}

/// Something the loop must do with the server.
pub enum Command {
    Login { server: String, request: SessionRequest },
    FetchKeys,
    FetchCatalog,
    FetchRecalls,
    Lookup { token: String },
    Authorize { key: IdempotencyKey, request: AuthorizeRequest },
    Capture { basket_id: i64, key: IdempotencyKey, request: CaptureRequest },
    Cancel { basket_id: i64 },
    Refund { basket_id: i64, key: IdempotencyKey, request: RefundRequest },
    Report { date: String },
}

/// Names the command without the password or any token.
impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Login { server, request } => write!(f, "Login({server}, {})", request.login),
            Command::FetchKeys => write!(f, "FetchKeys"),
            Command::FetchCatalog => write!(f, "FetchCatalog"),
            Command::FetchRecalls => write!(f, "FetchRecalls"),
            Command::Lookup { .. } => write!(f, "Lookup"),
            Command::Authorize { key, request } => write!(f, "Authorize({key:?}, {} lines)", request.lines.len()),
            Command::Capture { basket_id, key, .. } => write!(f, "Capture({basket_id}, {key:?})"),
            Command::Cancel { basket_id } => write!(f, "Cancel({basket_id})"),
            Command::Refund { basket_id, key, .. } => write!(f, "Refund({basket_id}, {key:?})"),
            Command::Report { date } => write!(f, "Report({date})"),
        }
    }
}

/// The answer to a [`Command`].
pub enum Reply {
    Login(Result<SessionResponse, ClientError>),
    Keys(Result<VoucherKeys, ClientError>),
    Catalog(Result<PosCatalog, ClientError>),
    Recalls(Result<Recalls, ClientError>),
    Lookup {
        token: String,
        result: Result<LookupResponse, ClientError>,
    },
    Authorize(Result<Authorized, ClientError>),
    Capture(Result<Captured, ClientError>),
    Cancel(Result<BasketState, ClientError>),
    Refund(Result<Refund, ClientError>),
    Report(Result<PosDailyReport, ClientError>),
    /// The background sync's finding: whether it reached the server, and the sales still waiting.
    Link {
        reachable: bool,
        waiting: i64,
    },
}

pub enum Event {
    Key(Key),
    /// The loop's clock: the app never reads the time itself.
    Tick(DateTime<Utc>),
    Reply(Reply),
}

/// A question the cashier answers with Enter (yes) or Esc (no).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Clear the basket being built (nothing was sent yet).
    ClearSale,
    /// Release the hold of the authorised basket.
    CancelBasket,
    /// Drop a basket whose authorisation has an unknown outcome (its hold, if any, expires).
    AbandonUnknown,
    /// Leave the till, saying what a sale in progress would lose.
    Quit(QuitRisk),
}

/// What quitting now leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuitRisk {
    Nothing,
    /// A basket being built, not sent: it is lost.
    Unsent {
        lines: usize,
        vouchers: usize,
    },
    /// Authorised and not paid: its hold expires by itself.
    Unpaid {
        basket_id: i64,
    },
    /// Sent, and no answer came: a hold, if placed, expires by itself.
    Unknown,
}

impl Confirm {
    /// The question; what quitting would leave behind stands on a line before it.
    pub fn question(self, lang: Lang) -> String {
        let quit = T::AskQuit.get(lang);
        match self {
            Confirm::ClearSale => T::AskClearSale.get(lang).to_owned(),
            Confirm::CancelBasket => T::AskCancelBasket.get(lang).to_owned(),
            Confirm::AbandonUnknown => T::AskAbandonUnknown.get(lang).to_owned(),
            Confirm::Quit(QuitRisk::Nothing) => quit.to_owned(),
            Confirm::Quit(QuitRisk::Unsent { lines, vouchers }) => {
                format!("{}\n{quit}", i18n::quit_unsent(lang, lines, vouchers))
            }
            Confirm::Quit(QuitRisk::Unpaid { basket_id }) => format!("{}\n{quit}", i18n::quit_unpaid(lang, basket_id)),
            Confirm::Quit(QuitRisk::Unknown) => format!("{}\n{quit}", T::QuitUnknown.get(lang)),
        }
    }
}

/// The logged-in cashier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub shop: String,
    pub terminal: String,
    pub login: String,
    pub expires_at: DateTime<Utc>,
}

/// The whole state of the till.
#[derive(Debug, Clone)]
pub struct App {
    pub now: DateTime<Utc>,
    pub screen: Screen,
    pub login: LoginForm,
    pub session: Option<Session>,
    /// Where to go back after logging in again mid-sale.
    pub resume: Option<Screen>,
    pub keys: KeyRing,
    /// The SZPT products by GTIN-14; `None` until loaded.
    pub catalog: Option<HashMap<String, PosProduct>>,
    /// The GTIN-14 of each PLU that scale labels carry, from the catalogue.
    pub plus: HashMap<String, String>,
    /// The recalls in force, to warn at the scan (the server refuses them anyway).
    pub recalls: Vec<Recall>,
    /// The SZPT groups' names by code, from the catalogue.
    pub groups: HashMap<String, CatalogGroup>,
    pub sale: Sale,
    pub refund: RefundForm,
    pub report: ReportView,
    pub message: Option<Message>,
    pub confirm: Option<Confirm>,
    /// A request the cashier waits for (log-in, authorise, capture, cancel, refund).
    pub busy: Option<T>,
    /// The language of every word on screen; F12 switches it.
    pub lang: Lang,
    /// Where Esc leaves the refund and report screens for.
    pub back: Screen,
    /// The server cannot be reached: the till says so on a banner (set by a request that found no
    /// server, cleared by the background sync when it reaches it).
    pub offline: bool,
    /// Offline sales in the journal not uploaded yet (from the background sync).
    pub waiting: i64,
    pub quit: bool,
}

impl App {
    pub fn new(login: LoginForm, now: DateTime<Utc>) -> App {
        App {
            now,
            screen: Screen::Login,
            login,
            session: None,
            resume: None,
            keys: KeyRing::default(),
            catalog: None,
            plus: HashMap::new(),
            recalls: Vec::new(),
            groups: HashMap::new(),
            sale: Sale::default(),
            refund: RefundForm::default(),
            report: ReportView::default(),
            message: None,
            confirm: None,
            busy: None,
            lang: Lang::default(),
            back: Screen::Sale,
            offline: false,
            waiting: 0,
            quit: false,
        }
    }

    /// One step: the commands to run next.
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        match event {
            Event::Tick(now) => {
                self.now = now;
                Vec::new()
            }
            Event::Key(key) => self.on_key(key),
            Event::Reply(reply) => self.on_reply(reply),
        }
    }

    fn on_key(&mut self, key: Key) -> Vec<Command> {
        // Anywhere, even over a question: the words change, nothing else does.
        if key == Key::F(LANGUAGE_KEY) {
            self.lang = self.lang.other();
            return Vec::new();
        }
        if let Some(confirm) = self.confirm {
            return match key {
                Key::Enter => {
                    self.confirm = None;
                    self.confirmed(confirm)
                }
                Key::Esc => {
                    self.confirm = None;
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        if matches!(key, Key::Ctrl('q') | Key::Ctrl('c')) {
            self.ask_quit();
            return Vec::new();
        }
        if !matches!(key, Key::Char(_) | Key::Backspace) {
            self.message = None;
        }
        match self.screen {
            Screen::Login => self.login_key(key),
            Screen::Sale => self.sale_key(key),
            Screen::Payment => self.payment_key(key),
            Screen::Receipt => self.receipt_key(key),
            Screen::Refund => self.refund_key(key),
            Screen::Report => self.report_key(key),
        }
    }

    fn confirmed(&mut self, confirm: Confirm) -> Vec<Command> {
        match confirm {
            Confirm::ClearSale | Confirm::AbandonUnknown => {
                self.sale = Sale::default();
                self.screen = Screen::Sale;
                Vec::new()
            }
            Confirm::CancelBasket => self.cancel_basket(),
            Confirm::Quit(_) => {
                self.quit = true;
                Vec::new()
            }
        }
    }

    fn ask_quit(&mut self) {
        let risk = match &self.sale.stage {
            Stage::Open if self.sale.lines.is_empty() && self.sale.vouchers.is_empty() => QuitRisk::Nothing,
            Stage::Open => QuitRisk::Unsent { lines: self.sale.lines.len(), vouchers: self.sale.vouchers.len() },
            Stage::Authorizing(_) => QuitRisk::Unknown,
            Stage::Authorized { auth, .. } => QuitRisk::Unpaid { basket_id: auth.basket_id },
            Stage::Captured(_) => QuitRisk::Nothing,
        };
        self.confirm = Some(Confirm::Quit(risk));
    }

    fn on_reply(&mut self, reply: Reply) -> Vec<Command> {
        match reply {
            Reply::Login(result) => self.login_reply(result),
            Reply::Keys(result) => self.keys_reply(result),
            Reply::Catalog(result) => {
                match result {
                    Ok(catalog) => {
                        self.groups = catalog.groups.iter().map(|g| (g.code.clone(), g.clone())).collect();
                        let catalog = index_catalog(catalog);
                        self.plus =
                            catalog.iter().filter_map(|(gtin, p)| Some((p.plu.clone()?, gtin.clone()))).collect();
                        if self.message.as_ref().is_some_and(|m| m.what.ru.starts_with(T::Reloading.get(Lang::Ru))) {
                            let n = catalog.len();
                            self.message = Some(Message::done(
                                Phrase::new(|lang| i18n::catalog_updated(lang, n)),
                                Phrase::default(),
                            ));
                        }
                        self.catalog = Some(catalog);
                    }
                    Err(e) => self.request_failed(&e, T::CatalogNotLoaded, T::PressF5),
                }
                Vec::new()
            }
            Reply::Recalls(result) => {
                match result {
                    Ok(list) => self.recalls = list.recalls,
                    Err(e) => self.request_failed(&e, T::RecallsNotLoaded, T::PressF5),
                }
                Vec::new()
            }
            Reply::Lookup { token, result } => self.lookup_reply(&token, result),
            Reply::Authorize(result) => self.authorize_reply(result),
            Reply::Capture(result) => self.capture_reply(result),
            Reply::Cancel(result) => self.cancel_reply(result),
            Reply::Refund(result) => self.refund_reply(result),
            Reply::Report(result) => self.report_reply(result),
            Reply::Link { reachable, waiting } => {
                self.offline = !reachable;
                self.waiting = waiting;
                Vec::new()
            }
        }
    }

    /// Shows a failed request; on an ended session goes to the log-in screen and comes back after.
    fn request_failed(&mut self, err: &ClientError, what: T, todo: T) {
        if crate::offline::unreachable(err) {
            self.offline = true;
        }
        if err.code() == Some(ErrorCode::Unauthorized) {
            self.go_to_login();
            return;
        }
        // A line an error names is a line of the basket being sent: its unit says "per kg".
        let unit = err.detail_i64("line").and_then(|l| self.sale.lines.get(usize::try_from(l).ok()?)).map(|l| l.unit);
        let mut m = Message::for_client_error(err, unit);
        if err.code().is_none() {
            m.what = m.what.map(|lang, cause| i18n::failed_because(what.get(lang), cause));
            m.todo = todo.into();
        }
        self.message = Some(m);
    }

    fn go_to_login(&mut self) {
        if self.screen != Screen::Login {
            self.resume = Some(self.screen);
        }
        self.screen = Screen::Login;
        self.login.password_mut().clear();
        self.login.focus = login::PASSWORD;
        self.message = Some(Message::for_code(ErrorCode::Unauthorized));
    }

    /// Whether an action may start: no request the cashier waits for, and none of unknown outcome.
    fn can_act(&mut self) -> bool {
        if let Some(busy) = self.busy {
            self.message = Some(Message::info(Phrase::new(|lang| format!("{}…", busy.get(lang))), T::WaitForServer));
            return false;
        }
        true
    }

    /// The catalogue's product for a GTIN-14.
    pub fn product(&self, gtin: &str) -> Option<&PosProduct> {
        self.catalog.as_ref()?.get(gtin)
    }

    /// The catalogue's product whose scale labels carry this PLU.
    pub fn product_by_plu(&self, plu: &str) -> Option<&PosProduct> {
        self.product(self.plus.get(plu)?)
    }

    /// An SZPT group's name in the cashier's language; its code where the catalogue has none.
    pub fn group_name(&self, code: &str) -> String {
        match self.groups.get(code) {
            Some(g) => self.lang.pick(&g.name_ru, &g.name_kk).clone(),
            None => code.to_owned(),
        }
    }
}

fn index_catalog(catalog: PosCatalog) -> HashMap<String, PosProduct> {
    catalog
        .products
        .into_iter()
        .map(|p| (Gtin::parse(&p.gtin).map(|g| g.as_str().to_owned()).unwrap_or_else(|_| p.gtin.clone()), p))
        .collect()
}

/// A text field's edit: printable characters append, Backspace removes the last one.
fn edit_text(text: &mut String, key: Key, max_chars: usize) -> bool {
    match key {
        Key::Char(c) if text.chars().count() < max_chars => {
            text.push(c);
            true
        }
        Key::Backspace => {
            text.pop();
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests_errors;
#[cfg(test)]
pub(crate) mod tests_flow;
#[cfg(test)]
mod tests_offline;
#[cfg(test)]
pub(crate) mod tests_rules;
