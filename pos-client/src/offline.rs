//! Selling while the server cannot be reached (SPEC §3.9), the till's half: when to go offline,
//! the pack kept in the journal, an offline sale checked with the shared rules
//! ([`azyq_shared::offline::check_sale`]) and written to the journal before it is shown, and the
//! upload of the waiting sales (`sync`).
//!
//! Exactly once: a sale is marked uploaded only after the server's answer, and the server keeps
//! the first answer to each `sale_id`; a sync killed at any point and run again sends the unmarked
//! sales again, and the server answers what it stored without applying them twice.

use std::collections::{HashMap, HashSet};

use azyq_shared::api::{BasketLine, BasketLineIn, ErrorCode, ErrorDetail, Payment, PaymentMethod, VoucherCharge};
use azyq_shared::offline::{
    check_sale, OfflineCharge, OfflinePack, OfflineSale, OfflineSaleResult, OfflineSaleStatus, OfflineSales, PackError,
    SignedPack, TillHistory, MAX_SALES_PER_UPLOAD,
};
use azyq_shared::token::{Nonce, TokenFields};
use azyq_shared::{BusinessDay, Tiyn, ALMATY};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::client::{Client, ClientError};
use crate::i18n::{self, Lang};
use crate::journal::{self, Journal, JournalError, NewSale};

/// A pack older than this is fetched again by any online sub-command.
pub const PACK_REFRESH_SECS: i64 = 3_600;

/// An upload's body stays under the server's 1 MiB limit: a chunk closes before this many bytes.
const MAX_UPLOAD_BYTES: usize = 900 * 1024;

/// Whether a failed request means "no server": the connection could not be made, the name did not
/// resolve, or no answer came in time. An HTTP answer, even an error, means the server is there;
/// a certificate that does not verify is an impostor, not an outage.
pub fn unreachable(err: &ClientError) -> bool {
    matches!(err, ClientError::Unreachable(_) | ClientError::Network(_) | ClientError::Timeout)
}

/// Whether a write found no server at all (no connection was made): only then may a sale that
/// was being sent be made offline instead, since the server cannot have taken it.
pub fn nothing_sent(err: &ClientError) -> bool {
    matches!(err, ClientError::Unreachable(_))
}

/// Why the till will not sell offline (codes of the till's own, for scripts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cannot {
    /// No online log-in of this cashier at this shop and terminal within the session's lifetime.
    NoSession,
    PackMissing,
    PackStale(DateTime<Utc>),
    /// The pack's signature does not verify (the journal's bytes were altered), or it is unreadable.
    PackForged,
    /// Issued after the till's clock: the clock is wrong.
    PackNotYetValid,
    Journal(String),
}

impl Cannot {
    pub fn code(&self) -> &'static str {
        match self {
            Cannot::NoSession => "offline_no_session",
            Cannot::PackMissing => "offline_pack_missing",
            Cannot::PackStale(_) => "offline_pack_stale",
            Cannot::PackForged => "offline_pack_forged",
            Cannot::PackNotYetValid => "offline_pack_not_yet_valid",
            Cannot::Journal(_) => "journal",
        }
    }

    pub fn sentence(&self, lang: Lang) -> String {
        match self {
            Cannot::NoSession => i18n::offline_no_session(lang),
            Cannot::PackMissing => i18n::offline_pack_missing(lang),
            Cannot::PackStale(at) => {
                i18n::offline_pack_stale(lang, &at.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M").to_string())
            }
            Cannot::PackForged => i18n::offline_pack_forged(lang),
            Cannot::PackNotYetValid => i18n::offline_pack_not_yet(lang),
            Cannot::Journal(cause) => i18n::journal_failed(lang, cause),
        }
    }
}

impl From<JournalError> for Cannot {
    fn from(e: JournalError) -> Self {
        Cannot::Journal(e.to_string())
    }
}

/// The kept pack, verified again (the exact bytes against the pack key kept with them) and
/// checked for age at `now`.
pub fn open_pack(journal: &mut Journal, now: DateTime<Utc>) -> Result<OfflinePack, Cannot> {
    let stored = journal.pack()?.ok_or(Cannot::PackMissing)?;
    let kid = u16::try_from(stored.kid).map_err(|_| Cannot::PackForged)?;
    let key: Option<VerifyingKey> =
        stored.public_key.as_slice().try_into().ok().and_then(|b: &[u8; 32]| VerifyingKey::from_bytes(b).ok());
    let signed = SignedPack {
        kid,
        pack: URL_SAFE_NO_PAD.encode(&stored.bytes),
        signature: URL_SAFE_NO_PAD.encode(&stored.signature),
    };
    signed.open(|k| if k == kid { key } else { None }, now).map_err(pack_refusal)
}

fn pack_refusal(e: PackError) -> Cannot {
    match e {
        PackError::Forged | PackError::Malformed => Cannot::PackForged,
        PackError::Stale { expires_at } => Cannot::PackStale(expires_at),
        PackError::NotYetValid => Cannot::PackNotYetValid,
    }
}

/// Why fetching a pack failed.
#[derive(Debug)]
pub enum RefreshError {
    Client(ClientError),
    Pack(Cannot),
}

/// Fetches the pack and the pack keys, verifies the pack as received and keeps it with the key
/// that verified it. Returns its expiry.
pub fn refresh_pack(client: &Client, journal: &mut Journal, now: DateTime<Utc>) -> Result<DateTime<Utc>, RefreshError> {
    let keys = client.offline_pack_keys().map_err(RefreshError::Client)?;
    let signed = client.offline_pack().map_err(RefreshError::Client)?;
    let key_bytes = |kid: u16| -> Option<[u8; 32]> {
        let k = keys.keys.iter().find(|k| k.kid == kid)?;
        URL_SAFE_NO_PAD.decode(&k.public_key).ok()?.try_into().ok()
    };
    let pack = signed
        .open(|kid| key_bytes(kid).and_then(|b| VerifyingKey::from_bytes(&b).ok()), now)
        .map_err(|e| RefreshError::Pack(pack_refusal(e)))?;
    let bytes = URL_SAFE_NO_PAD.decode(&signed.pack).map_err(|_| RefreshError::Pack(Cannot::PackForged))?;
    let signature = URL_SAFE_NO_PAD.decode(&signed.signature).map_err(|_| RefreshError::Pack(Cannot::PackForged))?;
    let key = key_bytes(signed.kid).ok_or(RefreshError::Pack(Cannot::PackForged))?;
    journal
        .save_pack(signed.kid, &bytes, &signature, &key, now)
        .map_err(|e| RefreshError::Pack(Cannot::Journal(e.to_string())))?;
    Ok(pack.expires_at)
}

/// Whether the kept pack is missing or older than [`PACK_REFRESH_SECS`].
pub fn pack_due(journal: &mut Journal, now: DateTime<Utc>) -> bool {
    match journal.pack() {
        Ok(Some(p)) => p.fetched().is_none_or(|at| (now - at).num_seconds() >= PACK_REFRESH_SECS),
        _ => true,
    }
}

/// What the journal knows, read for the tokens of one sale (inside the sale's transaction).
#[derive(Debug, Default)]
pub struct History {
    used: HashSet<String>,
    pending: HashMap<u64, Tiyn>,
    day: HashMap<u64, Tiyn>,
}

impl History {
    /// The nonces, pending totals and the day's totals of these tokens' vouchers (`day`: the Almaty
    /// day, `YYYY-MM-DD`).
    pub fn load(journal: &mut Journal, tokens: &[TokenFields], day: &str) -> Result<History, JournalError> {
        let mut h = History::default();
        for t in tokens {
            let hex = t.nonce.to_hex();
            if journal.nonce_used(&hex)? {
                h.used.insert(hex);
            }
            let id = i64::try_from(t.voucher_id).unwrap_or(i64::MAX);
            h.pending.insert(t.voucher_id, journal.pending_discount(id)?);
            h.day.insert(t.voucher_id, journal.day_discount(id, day)?);
        }
        Ok(h)
    }
}

impl TillHistory for History {
    fn nonce_used(&self, nonce: &Nonce) -> bool {
        self.used.contains(&nonce.to_hex())
    }

    fn pending_discount(&self, voucher_id: u64) -> Tiyn {
        self.pending.get(&voucher_id).copied().unwrap_or(Tiyn::ZERO)
    }

    fn day_discount(&self, voucher_id: u64, _day: NaiveDate) -> Tiyn {
        // Loaded for the sale's own Almaty day.
        self.day.get(&voucher_id).copied().unwrap_or(Tiyn::ZERO)
    }
}

/// One voucher's part of an offline sale, as a receipt shows it (the balance is what the till
/// believes is left).
pub fn charge(v: &OfflineCharge) -> VoucherCharge {
    VoucherCharge {
        voucher_id: i64::try_from(v.voucher_id).unwrap_or(i64::MAX),
        charged_tiyn: v.charged,
        balance_tiyn: v.balance_after,
    }
}

/// An offline sale as the till shows it (and `azyq-pos sale` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineReceipt {
    pub offline: bool,
    pub sale_id: String,
    pub sold_at: DateTime<Utc>,
    pub discount_tiyn: Tiyn,
    pub to_pay_tiyn: Tiyn,
    pub payment: Payment,
    pub vouchers: Vec<VoucherCharge>,
    pub lines: Vec<BasketLine>,
    /// Offline sales in the journal waiting for upload, this one included.
    pub waiting: i64,
}

/// Why an offline sale did not happen.
#[derive(Debug, Clone)]
pub enum Refused {
    /// The till cannot sell offline at all.
    Cannot(Cannot),
    /// A token (its position from 0) broke a rule.
    Token(usize, ErrorDetail),
    /// The sale broke a rule (a line's, the vouchers', the day limit).
    Rule(ErrorDetail),
}

impl Refused {
    pub fn code(&self) -> &'static str {
        match self {
            Refused::Cannot(c) => c.code(),
            Refused::Token(_, e) | Refused::Rule(e) => e.code.as_str(),
        }
    }
}

impl From<JournalError> for Refused {
    fn from(e: JournalError) -> Self {
        Refused::Cannot(e.into())
    }
}

/// The kept session, when it serves this cashier (the same shop, terminal and login, the same
/// password, within its lifetime); else the till cannot sell offline.
pub fn session_serves(
    journal: &mut Journal,
    shop: &str,
    terminal: &str,
    login: &str,
    password: &str,
    now: DateTime<Utc>,
) -> Result<journal::KeptSession, Cannot> {
    match journal.session()? {
        Some(s) if s.serves(shop, terminal, login, now) && s.password_is(password) => Ok(s),
        _ => Err(Cannot::NoSession),
    }
}

/// Sells offline: the pack opened again, each token verified with it, the sale checked with the
/// shared rules against the journal's history, and kept (synced to disk) before it is returned.
pub fn sell(
    journal: &mut Journal,
    terminal: &str,
    tokens: &[String],
    lines: Vec<BasketLineIn>,
    method: PaymentMethod,
    now: DateTime<Utc>,
) -> Result<OfflineReceipt, Refused> {
    let pack = open_pack(journal, now).map_err(Refused::Cannot)?;
    let tokens: Vec<String> = tokens.iter().map(|t| t.trim().to_owned()).collect();
    let mut fields = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        fields.push(pack.verify_token(t, now).map_err(|e| Refused::Token(i, e))?);
    }
    // The Almaty day, as the shared rules count the day limit.
    let day_text = BusinessDay::of(now).date().format("%Y-%m-%d").to_string();
    let sale_id = journal::new_sale_id(now);
    // Checked and kept in one write transaction: two processes on one journal cannot both pass
    // the same limit.
    journal.transaction(|journal| {
        let history = History::load(journal, &fields, &day_text)?;
        let draft = check_sale(&pack, &fields, &lines, now, &history).map_err(Refused::Rule)?;
        let payment = Payment { method, paid_tiyn: draft.to_pay };
        let upload = OfflineSale {
            sale_id: sale_id.clone(),
            terminal_id: terminal.to_owned(),
            sold_at: now,
            tokens: tokens.clone(),
            lines: lines.clone(),
            discount_tiyn: draft.discount,
            payment: payment.clone(),
        };
        let body = serde_json::to_string(&upload).map_err(|e| Refused::Cannot(Cannot::Journal(e.to_string())))?;
        let vouchers =
            draft.vouchers.iter().map(|v| (i64::try_from(v.voucher_id).unwrap_or(i64::MAX), v.charged)).collect();
        let record = NewSale {
            sale_id: sale_id.clone(),
            sold_at: now,
            body,
            discount: draft.discount,
            vouchers,
            nonces: draft.vouchers.iter().map(|v| v.nonce.to_hex()).collect(),
            day: day_text.clone(),
        };
        match journal.record_sale(&record) {
            Ok(()) => {}
            Err(JournalError::NonceUsed) => {
                return Err(Refused::Rule(ErrorDetail {
                    code: ErrorCode::TokenUsed,
                    message: "QR-код уже использован на этой кассе".into(),
                    details: serde_json::Map::new(),
                }))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(OfflineReceipt {
            offline: true,
            sale_id: sale_id.clone(),
            sold_at: now,
            discount_tiyn: draft.discount,
            to_pay_tiyn: draft.to_pay,
            payment,
            vouchers: draft.vouchers.iter().map(charge).collect(),
            lines: draft.lines,
            waiting: journal.pending_count()?,
        })
    })
}

/// What one `sync` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Sales the server answered in this run (each marked uploaded with its answer).
    pub uploaded: usize,
    /// Of those, recorded by the server (`applied`, `applied_short`, `duplicate_token`).
    pub applied: usize,
    /// Of those, with a shortfall (the vouchers could not cover the whole discount).
    pub short: usize,
    /// Still waiting in the journal.
    pub pending: i64,
    /// The kept pack's expiry after the refresh (null: no pack).
    pub pack_expires_at: Option<DateTime<Utc>>,
}

/// Why a sync stopped.
#[derive(Debug)]
pub enum SyncError {
    Client(ClientError),
    Journal(JournalError),
    /// The server's answer does not match the chunk sent (another count or other sale ids):
    /// nothing of that chunk is marked.
    Mismatch,
    Pack(Cannot),
}

impl From<JournalError> for SyncError {
    fn from(e: JournalError) -> Self {
        SyncError::Journal(e)
    }
}

/// Uploads the waiting sales in the till's order, in chunks of at most 500 (and under the body
/// limit), marking each chunk's sales with the server's answers once they came; then refreshes
/// the pack.
/// `chunk`: sales per request, at most [`MAX_SALES_PER_UPLOAD`] (a slow link may want fewer).
pub fn sync(client: &Client, journal: &mut Journal, now: DateTime<Utc>, chunk: usize) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let limit = i64::try_from(chunk.clamp(1, MAX_SALES_PER_UPLOAD)).unwrap_or(1);
    loop {
        let waiting = journal.pending(limit)?;
        if waiting.is_empty() {
            break;
        }
        let mut sales = Vec::with_capacity(waiting.len());
        let mut bytes = 0;
        for p in &waiting {
            if !sales.is_empty() && bytes + p.body.len() > MAX_UPLOAD_BYTES {
                break;
            }
            bytes += p.body.len() + 1;
            let sale: OfflineSale = serde_json::from_str(&p.body).map_err(|e| JournalError::Db(e.to_string()))?;
            sales.push(sale);
        }
        let ids: Vec<String> = sales.iter().map(|s| s.sale_id.clone()).collect();
        let answer = client.upload_offline(&OfflineSales { sales }).map_err(SyncError::Client)?;
        if answer.results.len() != ids.len() || answer.results.iter().zip(&ids).any(|(r, id)| &r.sale_id != id) {
            return Err(SyncError::Mismatch);
        }
        let marks: Vec<(String, String)> =
            answer.results.iter().map(|r| (r.sale_id.clone(), serde_json::to_string(r).unwrap_or_default())).collect();
        journal.mark_uploaded(&marks)?;
        report.uploaded += answer.results.len();
        report.applied += answer.results.iter().filter(|r| recorded(r)).count();
        report.short += answer.results.iter().filter(|r| r.shortfall_tiyn > Tiyn::ZERO).count();
    }
    report.pending = journal.pending_count()?;
    report.pack_expires_at = match refresh_pack(client, journal, now) {
        Ok(at) => Some(at),
        Err(RefreshError::Client(e)) => return Err(SyncError::Client(e)),
        Err(RefreshError::Pack(c)) => return Err(SyncError::Pack(c)),
    };
    Ok(report)
}

fn recorded(r: &OfflineSaleResult) -> bool {
    matches!(r.status, OfflineSaleStatus::Applied | OfflineSaleStatus::AppliedShort | OfflineSaleStatus::DuplicateToken)
}

#[cfg(test)]
pub(crate) mod tests;
