//! The TUI worker's offline half: while the server cannot be reached, the worker answers the app's
//! commands from the journal and the pack, in the shapes the server would, so that the app's
//! screens and checks work the same offline.
//!
//! - log-in: the kept session, for the cashier, shop and terminal that last logged in online on
//!   this till, with the same password, within the session's lifetime;
//! - keys, catalogue, recalls: the pack's;
//! - look-up: the token checked with the pack, its balance less what this till gave offline;
//! - authorise: the sale checked with the shared rules, nothing held, nothing written
//!   ([`OFFLINE_BASKET`] stands for it);
//! - capture of that sale: the sale checked again and written to the journal (synced) with its
//!   payment, final at once; the receipt follows;
//! - cancel of that sale: it is dropped. Refunds and cancels of server baskets need the link.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azyq_shared::api::{
    AuthorizeRequest, Authorized, BasketState, BasketStatus, CaptureRequest, Captured, ErrorBody, ErrorDetail,
    LookupResponse, PosCatalog, PublicKey, Recalls, Receipt, Role, SessionRequest, SessionResponse, VoucherKeys,
    VoucherStatus,
};
use azyq_shared::clock::Clock;
use azyq_shared::offline::{check_sale, OfflinePack};
use azyq_shared::Tiyn;

use crate::client::ClientError;
use crate::journal::Journal;
use crate::offline::{self, Cannot, Refused};

/// The basket id of a sale made offline: the server has not numbered it yet.
pub const OFFLINE_BASKET: i64 = 0;

/// While offline, the server is tried again at most this often (a refused connection costs
/// nothing, an unanswered one the connect timeout).
pub const RETRY_EVERY: Duration = Duration::from_secs(15);

/// The worker's offline state.
pub struct Desk {
    journal: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    /// The sale checked offline, waiting for its payment.
    draft: Option<AuthorizeRequest>,
    /// When a request last found no server.
    offline_since: Option<Instant>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").field("journal", &self.journal).field("offline", &self.offline_since).finish()
    }
}

/// A refusal in the server's shape: the app explains its code as it does online.
fn api(e: ErrorDetail) -> ClientError {
    ClientError::Api { status: e.code.http_status(), body: ErrorBody { error: e } }
}

fn refused(r: Refused) -> ClientError {
    match r {
        Refused::Cannot(c) => ClientError::Offline(c),
        Refused::Token(_, e) | Refused::Rule(e) => api(e),
    }
}

impl Desk {
    pub fn new(journal: Option<PathBuf>, clock: Arc<dyn Clock>) -> Desk {
        Desk { journal, clock, draft: None, offline_since: None }
    }

    /// Whether to try the server first: always while online, every [`RETRY_EVERY`] while not.
    pub fn try_server(&self) -> bool {
        self.offline_since.is_none_or(|since| since.elapsed() >= RETRY_EVERY)
    }

    /// A request found the server (`true`) or did not.
    pub fn saw_server(&mut self, reachable: bool) {
        self.offline_since = if reachable { None } else { Some(Instant::now()) };
    }

    pub fn is_offline(&self) -> bool {
        self.offline_since.is_some()
    }

    /// The sales waiting for upload.
    pub fn waiting(&self) -> i64 {
        self.journal().and_then(|mut j| j.pending_count().map_err(Cannot::from)).unwrap_or(0)
    }

    fn journal(&self) -> Result<Journal, Cannot> {
        let path = self.journal.as_ref().ok_or(Cannot::Journal("--journal".into()))?;
        Ok(Journal::open(path)?)
    }

    fn pack(&self) -> Result<(Journal, OfflinePack), ClientError> {
        let mut journal = self.journal().map_err(ClientError::Offline)?;
        let pack = offline::open_pack(&mut journal, self.clock.now()).map_err(ClientError::Offline)?;
        Ok((journal, pack))
    }

    /// The kept session, for the same cashier with the same password.
    pub fn login(&mut self, request: &SessionRequest) -> Result<SessionResponse, ClientError> {
        let mut journal = self.journal().map_err(ClientError::Offline)?;
        let (shop, terminal) = (request.shop_id.as_deref().unwrap_or(""), request.terminal_id.as_deref().unwrap_or(""));
        let kept =
            offline::session_serves(&mut journal, shop, terminal, &request.login, &request.password, self.clock.now())
                .map_err(ClientError::Offline)?;
        let expires_at = kept.expires().ok_or(ClientError::Offline(Cannot::NoSession))?;
        Ok(SessionResponse { token: kept.token, expires_at, role: Role::Cashier })
    }

    pub fn keys(&self) -> Result<VoucherKeys, ClientError> {
        let (_, pack) = self.pack()?;
        let keys = pack
            .voucher_keys
            .iter()
            .filter(|k| !pack.revoked_keys.contains(&k.kid))
            .map(|k| PublicKey {
                kid: k.kid,
                alg: "EdDSA".into(),
                public_key: k.public_key.clone(),
                not_after: k.not_after,
            })
            .collect();
        Ok(VoucherKeys { keys })
    }

    pub fn catalog(&self) -> Result<PosCatalog, ClientError> {
        let (_, pack) = self.pack()?;
        Ok(PosCatalog { products: pack.products, groups: Vec::new() })
    }

    pub fn recalls(&self) -> Result<Recalls, ClientError> {
        let (_, pack) = self.pack()?;
        Ok(Recalls { recalls: pack.recalls })
    }

    /// The token checked with the pack; its balance is what it carries less what this till gave
    /// offline from the voucher and has not uploaded. No holder's name offline.
    pub fn lookup(&self, token: &str) -> Result<LookupResponse, ClientError> {
        let (mut journal, pack) = self.pack()?;
        let now = self.clock.now();
        let fields = pack.verify_token(token.trim(), now).map_err(api)?;
        let facts = fields.offline.ok_or(ClientError::Offline(Cannot::PackForged))?;
        let voucher_id = i64::try_from(fields.voucher_id).unwrap_or(i64::MAX);
        let pending = journal.pending_discount(voucher_id).map_err(|e| ClientError::Offline(Cannot::from(e)))?;
        Ok(LookupResponse {
            voucher_id,
            holder: "—".into(),
            month: fields.month.as_ref().to_owned(),
            status: VoucherStatus::Activated,
            balance_tiyn: (facts.balance - pending).max(Tiyn::ZERO),
            token_expires_at: fields.expires_at,
        })
    }

    /// The sale checked with the shared rules; nothing is held or written until it is paid.
    pub fn authorize(&mut self, request: &AuthorizeRequest) -> Result<Authorized, ClientError> {
        let (mut journal, pack) = self.pack()?;
        let now = self.clock.now();
        let mut fields = Vec::with_capacity(request.tokens.len());
        for t in &request.tokens {
            fields.push(pack.verify_token(t.trim(), now).map_err(api)?);
        }
        let day = azyq_shared::BusinessDay::of(now).date().format("%Y-%m-%d").to_string();
        let history =
            offline::History::load(&mut journal, &fields, &day).map_err(|e| ClientError::Offline(Cannot::from(e)))?;
        let draft = check_sale(&pack, &fields, &request.lines, now, &history).map_err(api)?;
        self.draft = Some(request.clone());
        Ok(Authorized {
            basket_id: OFFLINE_BASKET,
            status: BasketStatus::Authorized,
            discount_tiyn: draft.discount,
            to_pay_tiyn: draft.to_pay,
            // Nothing is held: the sale may be paid while the pack is valid.
            hold_expires_at: pack.expires_at,
            vouchers: draft.vouchers.iter().map(offline::charge).collect(),
            lines: draft.lines,
        })
    }

    /// The checked sale paid: checked again and written to the journal, final at once.
    pub fn capture(&mut self, terminal: &str, shop: &str, request: &CaptureRequest) -> Result<Captured, ClientError> {
        let draft = self.draft.clone().ok_or(ClientError::Offline(Cannot::NoSession))?;
        let mut journal = self.journal().map_err(ClientError::Offline)?;
        let sold =
            offline::sell(&mut journal, terminal, &draft.tokens, draft.lines, request.payment.method, self.clock.now())
                .map_err(refused)?;
        self.draft = None;
        let receipt = Receipt {
            basket_id: OFFLINE_BASKET,
            shop_id: shop.to_owned(),
            shop_name: shop.to_owned(),
            terminal_id: terminal.to_owned(),
            captured_at: sold.sold_at,
            lines: sold.lines,
            discount_tiyn: sold.discount_tiyn,
            to_pay_tiyn: sold.to_pay_tiyn,
            payment: sold.payment,
            vouchers: sold.vouchers,
        };
        Ok(Captured { basket_id: OFFLINE_BASKET, status: BasketStatus::Captured, receipt })
    }

    /// The checked sale dropped before payment: nothing was held or written.
    pub fn cancel(&mut self) -> BasketState {
        self.draft = None;
        BasketState { basket_id: OFFLINE_BASKET, status: BasketStatus::Cancelled }
    }
}

#[cfg(test)]
mod tests;
