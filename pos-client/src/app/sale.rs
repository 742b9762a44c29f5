//! The sale screen: one scan input for vouchers and goods, and the basket being built.

use azyq_shared::api::{AuthorizeRequest, Authorized, CaptureRequest, Captured, LookupResponse, PaymentMethod, Unit};
use azyq_shared::api::{ErrorCode, VoucherStatus};
use azyq_shared::gs1::{self, Gtin};
use azyq_shared::token::{looks_like_token, TokenError};
use azyq_shared::{mask_name, BusinessDay, Tiyn};
use chrono::{DateTime, Utc};

use super::basket::{Field, Incomplete, Line};
use super::{edit_text, App, Command, Confirm, Key, Message};
use crate::client::{ClientError, IdempotencyKey};
use crate::i18n::{self, Phrase, T};

/// Longest scanner input kept: marking codes stay under ~150 characters, tokens are 156.
pub(super) const MAX_SCAN_CHARS: usize = 600;

/// A voucher whose QR code was scanned and looked up. Its token is kept to be sent, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct ScannedVoucher {
    pub token: String,
    pub voucher_id: i64,
    /// Masked by the server ("А*** Б***").
    pub holder: String,
    pub month: String,
    pub balance: Tiyn,
    pub token_expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for ScannedVoucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScannedVoucher({}, {}, {})", self.voucher_id, self.holder, self.balance)
    }
}

/// A keyed write that was sent: kept until its answer is known, and re-sent unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<R> {
    pub key: IdempotencyKey,
    pub request: R,
    /// The last attempt ended without an answer: only the same request may follow.
    pub unknown: bool,
}

/// Where the basket is in its life.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Stage {
    /// Being built.
    #[default]
    Open,
    /// Sent for authorisation; locked until the answer is known.
    Authorizing(Keyed<AuthorizeRequest>),
    /// The hold is placed: payment, then capture.
    Authorized {
        auth: Authorized,
        method: PaymentMethod,
        capture: Option<Keyed<CaptureRequest>>,
        cancelling: bool,
    },
    Captured(Captured),
}

/// Names the stage without the tokens of the request.
impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Open => write!(f, "Open"),
            Stage::Authorizing(k) => write!(f, "Authorizing({:?}, unknown: {})", k.key, k.unknown),
            Stage::Authorized { auth, method, capture, cancelling } => write!(
                f,
                "Authorized({}, {}, capture: {:?}, cancelling: {cancelling})",
                auth.basket_id,
                method.as_str(),
                capture.as_ref().map(|c| (&c.key, c.unknown))
            ),
            Stage::Captured(c) => write!(f, "Captured({})", c.basket_id),
        }
    }
}

/// Editing one line's quantity and prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEdit {
    pub line: usize,
    /// 0 quantity, 1 shelf price, 2 reduced price.
    pub field: usize,
    pub texts: [String; 3],
}

/// A line's field an error named, where F4 puts the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub line: usize,
    pub field: Field,
}

/// The sale being built. Its `Debug` shows no token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sale {
    pub scan: String,
    pub vouchers: Vec<ScannedVoucher>,
    pub lines: Vec<Line>,
    pub selected: Option<usize>,
    pub edit: Option<LineEdit>,
    /// The field the last refusal named, until that line is saved.
    pub fault: Option<Fault>,
    /// Tokens being looked up.
    pub lookups: Vec<String>,
    /// Tokens of a kid the till did not know, waiting for the keys to be fetched again.
    pub awaiting_keys: Vec<String>,
    /// Why the last QR code was not accepted, until one is.
    pub voucher_note: Option<Phrase>,
    pub stage: Stage,
}

impl std::fmt::Debug for Sale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sale")
            .field("scan_chars", &self.scan.chars().count())
            .field("vouchers", &self.vouchers)
            .field("lines", &self.lines)
            .field("selected", &self.selected)
            .field("edit", &self.edit)
            .field("fault", &self.fault)
            .field("lookups", &self.lookups.len())
            .field("awaiting_keys", &self.awaiting_keys.len())
            .field("voucher_note", &self.voucher_note)
            .field("stage", &self.stage)
            .finish()
    }
}

impl Sale {
    /// The vouchers' balance together.
    pub fn balance(&self) -> Option<Tiyn> {
        self.vouchers.iter().try_fold(Tiyn::ZERO, |sum, v| sum.checked_add(v.balance))
    }

    pub(super) fn is_open(&self) -> bool {
        self.stage == Stage::Open
    }
}

impl App {
    pub(super) fn sale_key(&mut self, key: Key) -> Vec<Command> {
        if self.sale.edit.is_some() {
            return self.edit_key(key);
        }
        let count = self.sale.lines.len();
        match key {
            Key::Enter if !self.sale.scan.trim().is_empty() => {
                let input = std::mem::take(&mut self.sale.scan);
                return self.scan(&input);
            }
            Key::Enter => {}
            Key::Esc => self.sale.scan.clear(),
            Key::Up => self.sale.selected = self.sale.selected.map(|i| i.saturating_sub(1)).or(count.checked_sub(1)),
            Key::Down => self.sale.selected = self.sale.selected.map(|i| (i + 1).min(count.saturating_sub(1))),
            Key::F(2) => return self.authorize(),
            Key::F(4) => self.start_edit(),
            Key::Delete => self.remove_line(),
            Key::F(5) => {
                let reloading = Phrase::new(|lang| format!("{}…", T::Reloading.get(lang)));
                self.message = Some(Message::info(reloading, Phrase::default()));
                return vec![Command::FetchKeys, Command::FetchCatalog, Command::FetchRecalls];
            }
            Key::F(6) => self.remove_voucher(),
            Key::F(8) => match &self.sale.stage {
                Stage::Open if self.sale.lines.is_empty() && self.sale.vouchers.is_empty() => {}
                Stage::Open => self.confirm = Some(Confirm::ClearSale),
                Stage::Authorizing(k) if k.unknown => self.confirm = Some(Confirm::AbandonUnknown),
                _ => {}
            },
            Key::F(9) => self.open_refund(None),
            Key::F(10) => self.open_report(),
            other => {
                edit_text(&mut self.sale.scan, other, MAX_SCAN_CHARS);
            }
        }
        Vec::new()
    }

    /// One scanner input: a voucher token or a product code, told apart by the token prefix.
    pub(super) fn scan(&mut self, input: &str) -> Vec<Command> {
        if !self.sale.is_open() {
            self.message = Some(Message::info(T::AlreadySent, T::FinishOrCancel));
            return Vec::new();
        }
        if looks_like_token(input) {
            return self.check_and_look_up(input.trim().to_owned(), true);
        }
        self.scan_product(input);
        Vec::new()
    }

    /// Checks a token against the cached keys; `refetch` allows one fetch of the keys on an
    /// unknown kid before refusing it.
    pub(super) fn check_and_look_up(&mut self, token: String, refetch: bool) -> Vec<Command> {
        if self.sale.vouchers.iter().any(|v| v.token == token) || self.sale.lookups.contains(&token) {
            self.message = Some(Message::info(T::QrAlreadyScanned, T::ScanGoods));
            return Vec::new();
        }
        match self.keys.check(&token, self.now) {
            Ok(_) => {
                self.sale.lookups.push(token.clone());
                vec![Command::Lookup { token }]
            }
            Err(TokenError::UnknownKey(_)) if refetch => {
                let first = self.sale.awaiting_keys.is_empty();
                self.sale.awaiting_keys.push(token);
                if first {
                    vec![Command::FetchKeys]
                } else {
                    Vec::new()
                }
            }
            Err(e) => {
                self.refuse_voucher(Message::for_token_error(&e));
                Vec::new()
            }
        }
    }

    pub(super) fn lookup_reply(&mut self, token: &str, result: Result<LookupResponse, ClientError>) -> Vec<Command> {
        self.sale.lookups.retain(|t| t != token);
        let found = match result {
            Ok(found) => found,
            Err(e) => {
                self.request_failed(&e, T::VoucherNotChecked, T::ScanQrAgain);
                if let Some(m) = &self.message {
                    self.sale.voucher_note = Some(m.what.clone());
                }
                return Vec::new();
            }
        };
        if !self.sale.is_open() {
            return Vec::new();
        }
        let refusal = match found.status {
            VoucherStatus::Activated if found.balance_tiyn > Tiyn::ZERO => None,
            VoucherStatus::Activated | VoucherStatus::Exhausted => Some(ErrorCode::VoucherExhausted),
            VoucherStatus::Issued => Some(ErrorCode::NotActivated),
            VoucherStatus::Lapsed | VoucherStatus::Expired => Some(ErrorCode::MonthClosed),
        };
        if let Some(code) = refusal {
            self.refuse_voucher(Message::for_code(code));
            return Vec::new();
        }
        // Masked again in case a server ever sends more: masking a masked name changes nothing.
        let holder = mask_name(&found.holder);
        let voucher = ScannedVoucher {
            token: token.to_owned(),
            voucher_id: found.voucher_id,
            holder,
            month: found.month.clone(),
            balance: found.balance_tiyn,
            token_expires_at: found.token_expires_at,
        };
        let text = Phrase::new(|lang| i18n::voucher_found(lang, &voucher.holder, &voucher.month, voucher.balance));
        // A fresh QR code of a voucher already scanned replaces the old one in its place.
        self.sale.voucher_note = None;
        match self.sale.vouchers.iter_mut().find(|v| v.voucher_id == voucher.voucher_id) {
            Some(old) => *old = voucher,
            None => self.sale.vouchers.push(voucher),
        }
        self.message = Some(Message::done(text, T::ScanGoods));
        Vec::new()
    }

    /// A refused QR code: the message, and a note in the vouchers panel that outlives it (the
    /// cashier may already be scanning goods when the answer comes).
    fn refuse_voucher(&mut self, message: Message) {
        self.sale.voucher_note = Some(message.what.clone());
        self.message = Some(message);
    }

    fn scan_product(&mut self, input: &str) {
        let scanned = match gs1::scan(input) {
            Ok(scanned) => scanned,
            Err(e) => {
                self.message = Some(Message {
                    code: Some("code_invalid"),
                    ..Message::error(Phrase::new(|lang| i18n::code_not_read(lang, &e)), T::ScanPackAgain)
                });
                return;
            }
        };
        if self.catalog.is_none() {
            self.message = Some(Message::error(T::CatalogNotYet, T::WaitOrF5));
            return;
        }
        match scanned {
            gs1::Scanned::Product(code) => self.scan_code(&code),
            gs1::Scanned::Label(label) => self.scan_label(&label),
        }
    }

    /// A scale label: the product its PLU names, weighed as the label says; a line of its own.
    fn scan_label(&mut self, label: &gs1::ScaleLabel) {
        let Some(product) = self.product_by_plu(label.plu.as_str()).cloned() else {
            self.message = Some(Message::for_code(ErrorCode::NotSzptProduct));
            return;
        };
        if self.refuse_recalled(&product.gtin, None) {
            return;
        }
        self.sale.lines.push(Line::from_label(label, &product));
        self.added(self.sale.lines.len() - 1, i64::from(label.grams));
    }

    /// A recall in force that covers the goods: refused at the scan with its reason, as the server
    /// would refuse it. A recall of one batch, when the code names none, is a warning: the
    /// cashier checks the pack. Answers whether the goods were refused.
    fn refuse_recalled(&mut self, gtin: &str, batch: Option<&str>) -> bool {
        let gtin = Gtin::parse(gtin).map(|g| g.as_str().to_owned()).unwrap_or_else(|_| gtin.to_owned());
        if let Some(r) = self.recalls.iter().find(|r| r.covers(&gtin, batch)) {
            let reason = r.reason.clone();
            self.message = Some(Message {
                code: Some(ErrorCode::ProductRecalled.as_str()),
                ..Message::error(Phrase::new(|lang| i18n::recalled(lang, &reason)), T::SetRecalledAside)
            });
            return true;
        }
        if batch.is_none() {
            if let Some(r) = self.recalls.iter().find(|r| r.gtin == gtin && r.batch.is_some()) {
                let (b, reason) = (r.batch.clone().unwrap_or_default(), r.reason.clone());
                self.message = Some(Message::info(
                    Phrase::new(|lang| i18n::batch_recalled(lang, &b, &reason)),
                    T::CheckBatchOnPack,
                ));
            }
        }
        false
    }

    fn scan_code(&mut self, code: &gs1::TraceCode) {
        let Some(product) = self.product(code.gtin.as_str()).cloned() else {
            self.message = Some(Message::for_code(ErrorCode::NotSzptProduct));
            return;
        };
        if code.expiry.is_some_and(|d| d < BusinessDay::of(self.now).date()) {
            self.message = Some(Message::for_code(ErrorCode::ProductExpired));
            return;
        }
        if self.refuse_recalled(code.gtin.as_str(), code.batch.as_deref()) {
            return;
        }
        let text = code.to_element_string();
        if code.is_serialised() && self.sale.lines.iter().any(|l| l.code == text) {
            self.message = Some(Message::error(T::PackAlreadyIn, T::ScanEachPackOnce));
            return;
        }
        // Grams from the code's net weight (310n), else entered by hand.
        let quantity = match product.unit {
            Unit::Piece => 1,
            Unit::Kg => code.net_weight.map_or(0, |w| i64::try_from(w.grams()).unwrap_or(0)),
        };
        let same = self.sale.lines.iter().position(|l| l.code == text && !code.is_serialised());
        let index = match same {
            Some(i) => {
                if let Some(line) = self.sale.lines.get_mut(i) {
                    line.quantity = line.quantity.saturating_add(quantity);
                }
                i
            }
            None => {
                self.sale.lines.push(Line::new(text, code.serial.clone(), &product, quantity));
                self.sale.lines.len() - 1
            }
        };
        self.added(index, quantity);
    }

    /// A line was added or grown by `quantity`: select it, and open the editor on what it lacks
    /// (a warning already on screen, such as a recalled batch, stays).
    fn added(&mut self, index: usize, quantity: i64) {
        self.sale.selected = Some(index);
        let Some(line) = self.sale.lines.get(index) else { return };
        let missing = if quantity == 0 { Some(Incomplete::Quantity) } else { line.incomplete() };
        if let Some(missing) = missing {
            let name = line.name.clone();
            let text = Phrase::new(|lang| format!("{name}: {}", missing.text(lang)));
            self.start_edit();
            if let Some(edit) = self.sale.edit.as_mut().filter(|_| quantity == 0) {
                // Weighed goods without a weight in the code: the cashier types the grams.
                edit.field = 0;
            }
            if self.message.is_none() {
                self.message = Some(Message::info(text, T::TypeAndEnter));
            }
        }
    }
}
