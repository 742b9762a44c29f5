use azyq_shared::api::{PosProduct, Unit};
use azyq_shared::offline::{sign_pack, MonthEnd, OfflineLimits, PackKey};
use azyq_shared::token::{self, OfflineFacts};
use azyq_shared::Month;
use ed25519_dalek::SigningKey;

use super::*;
use crate::journal::{KeptSession, LoggedIn};

const MILK: &str = "4600000000015";

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) fn now() -> DateTime<Utc> {
    at("2026-12-05T10:30:00Z")
}

pub(crate) struct Till {
    _dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
    pub journal: Journal,
    voucher_key: SigningKey,
}

fn pack_of(voucher_key: &SigningKey, issued_at: DateTime<Utc>) -> OfflinePack {
    OfflinePack {
        version: 1,
        shop_id: "S1".into(),
        terminal_id: "T1".into(),
        region: "55".into(),
        issued_at,
        expires_at: issued_at + chrono::Duration::hours(24),
        voucher_keys: vec![PackKey {
            kid: 1,
            public_key: URL_SAFE_NO_PAD.encode(voucher_key.verifying_key().to_bytes()),
            not_after: None,
        }],
        revoked_keys: vec![],
        revoked_vouchers: vec![],
        products: vec![PosProduct {
            gtin: format!("0{MILK}"),
            group: "milk".into(),
            name: "Молоко".into(),
            unit: Unit::Piece,
            discount_cap_bp: 1500,
            last_shelf_price_tiyn: None,
            last_reduced_price_tiyn: None,
            max_shelf_price_tiyn: None,
            plu: None,
        }],
        recalls: vec![],
        limits: OfflineLimits { voucher_day_bp: 2500 },
        month_ends: vec![MonthEnd { month: "2026-12".into(), ends_at: at("2026-12-31T19:00:00Z") }],
    }
}

/// A till whose journal holds a pack issued an hour before [`now`], signed with pack key 9.
pub(crate) fn till() -> Till {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let mut journal = Journal::open(&path).unwrap();
    let voucher_key = SigningKey::from_bytes(&[7; 32]);
    let pack_key = SigningKey::from_bytes(&[9; 32]);
    let bytes = serde_json::to_vec(&pack_of(&voucher_key, now() - chrono::Duration::hours(1))).unwrap();
    let signed = sign_pack(&bytes, 9, &pack_key);
    let signature = URL_SAFE_NO_PAD.decode(&signed.signature).unwrap();
    journal.save_pack(9, &bytes, &signature, &pack_key.verifying_key().to_bytes(), now()).unwrap();
    Till { _dir: dir, path, journal, voucher_key }
}

impl Till {
    /// An online log-in of `login` at S1/T1 kept, with eight hours left.
    pub(crate) fn keep_session(&mut self, login: &str, password: &str) {
        let kept = KeptSession::new(LoggedIn {
            server: "http://s",
            shop: "S1",
            terminal: "T1",
            login,
            password,
            token: "tok",
            expires_at: now() + chrono::Duration::hours(8),
        })
        .unwrap();
        self.journal.save_session(&kept).unwrap();
    }
}

pub(crate) fn token(till: &Till, voucher_id: u64, balance: i64, amount: i64) -> String {
    let fields = TokenFields {
        kid: 1,
        voucher_id,
        month: Month::new(2026, 12).unwrap(),
        issued_at: now() - chrono::Duration::minutes(1),
        expires_at: now() + chrono::Duration::minutes(10),
        nonce: Nonce::new_v2(),
        offline: Some(OfflineFacts { balance: Tiyn::new(balance), amount: Tiyn::new(amount), region: 55 }),
    };
    token::sign(&fields, &till.voucher_key).unwrap()
}

pub(crate) fn milk(qty: i64) -> Vec<BasketLineIn> {
    vec![BasketLineIn {
        code: MILK.into(),
        quantity: qty,
        shelf_price_tiyn: Tiyn::new(50_000),
        reduced_price_tiyn: Tiyn::new(42_500),
    }]
}

fn sell_now(till: &mut Till, tokens: &[String], lines: Vec<BasketLineIn>) -> Result<OfflineReceipt, Refused> {
    sell(&mut till.journal, "T1", tokens, lines, PaymentMethod::Cash, now())
}

/// A sale of `qty` cartons on a fresh QR of the voucher.
fn sell_fresh(t: &mut Till, voucher_id: u64, balance: i64, amount: i64, qty: i64) -> Result<OfflineReceipt, Refused> {
    let qr = token(t, voucher_id, balance, amount);
    sell_now(t, &[qr], milk(qty))
}

#[test]
fn only_a_server_out_of_reach_sends_the_till_offline() {
    assert!(unreachable(&ClientError::Unreachable("connection refused".into())));
    assert!(unreachable(&ClientError::Network("reset".into())));
    assert!(nothing_sent(&ClientError::Unreachable("no route".into())));
    assert!(!nothing_sent(&ClientError::Timeout), "a request that timed out may have been taken");
    assert!(unreachable(&ClientError::Timeout));
    assert!(!unreachable(&ClientError::Http { status: 502 }), "an answer, even an error, is a server");
    assert!(!unreachable(&ClientError::Protocol("x".into())));
    assert!(!unreachable(&ClientError::Certificate(crate::client::CertificateProblem::UnknownIssuer)));
}

#[test]
fn an_offline_sale_is_kept_before_it_is_shown_and_its_token_refused_again() {
    let mut t = till();
    let qr = token(&t, 11, 432_500, 432_500);
    let receipt = sell_now(&mut t, std::slice::from_ref(&qr), milk(2)).unwrap();
    assert!(receipt.offline);
    assert_eq!((receipt.discount_tiyn, receipt.to_pay_tiyn), (Tiyn::new(15_000), Tiyn::new(85_000)));
    assert_eq!(receipt.payment.paid_tiyn, Tiyn::new(85_000));
    assert_eq!(receipt.vouchers[0].balance_tiyn, Tiyn::new(417_500));
    assert_eq!(receipt.waiting, 1);
    let kept = t.journal.pending(10).unwrap();
    assert_eq!(kept.len(), 1);
    let body: OfflineSale = serde_json::from_str(&kept[0].body).unwrap();
    assert_eq!((body.sale_id.as_str(), body.tokens.as_slice()), (receipt.sale_id.as_str(), std::slice::from_ref(&qr)));
    assert_eq!(body.discount_tiyn, Tiyn::new(15_000));
    let again = sell_now(&mut t, &[qr], milk(1)).unwrap_err();
    assert_eq!(again.code(), "token_used");
    // A fresh QR of the same voucher draws from what the till believes is left.
    let next = sell_fresh(&mut t, 11, 432_500, 432_500, 1).unwrap();
    assert_eq!(next.vouchers[0].balance_tiyn, Tiyn::new(410_000));
    assert_eq!(t.journal.pending_count().unwrap(), 2);
}

#[test]
fn the_day_limit_is_a_quarter_of_the_voucher_on_this_till() {
    let mut t = till();
    // Amount 400 ₸: 100 ₸ a day offline; a milk's discount is 75 ₸.
    sell_fresh(&mut t, 12, 40_000, 40_000, 1).unwrap();
    let over = sell_fresh(&mut t, 12, 40_000, 40_000, 1).unwrap_err();
    assert_eq!(over.code(), "offline_limit");
    assert_eq!(t.journal.pending_count().unwrap(), 1, "nothing kept of a refused sale");
    // Another voucher of the family still has its own quarter.
    sell_fresh(&mut t, 13, 40_000, 40_000, 1).unwrap();
}

#[test]
fn a_token_over_its_balance_or_of_format_one_is_refused() {
    let mut t = till();
    let poor = sell_fresh(&mut t, 14, 1_000, 432_500, 1).unwrap_err();
    assert_eq!(poor.code(), "insufficient_balance");
    let v1 = TokenFields {
        kid: 1,
        voucher_id: 15,
        month: Month::new(2026, 12).unwrap(),
        issued_at: now(),
        expires_at: now() + chrono::Duration::minutes(10),
        nonce: Nonce::new_v1(),
        offline: None,
    };
    let old = token::sign(&v1, &t.voucher_key).unwrap();
    assert!(
        matches!(sell_now(&mut t, &[old], milk(1)), Err(Refused::Token(0, e)) if e.code == ErrorCode::TokenInvalid)
    );
    let mut tampered = token(&t, 16, 432_500, 432_500).into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(sell_now(&mut t, &[tampered], milk(1)).unwrap_err().code(), "token_invalid");
}

#[test]
fn a_missing_stale_or_forged_pack_stops_offline_selling() {
    let dir = tempfile::tempdir().unwrap();
    let mut empty = Journal::open(&dir.path().join("empty.db")).unwrap();
    assert_eq!(open_pack(&mut empty, now()), Err(Cannot::PackMissing));

    let mut t = till();
    let qr = token(&t, 17, 432_500, 432_500);
    let later = now() + chrono::Duration::hours(24);
    let stale = sell(&mut t.journal, "T1", &[qr], milk(1), PaymentMethod::Cash, later).unwrap_err();
    assert_eq!(stale.code(), "offline_pack_stale");
    assert!(Cannot::PackStale(later)
        .sentence(Lang::Kk)
        .contains(&later.with_timezone(&ALMATY).format("%H:%M").to_string()));

    let mut stored = t.journal.pack().unwrap().unwrap();
    let i = stored.bytes.iter().position(|&b| b == b'2').unwrap();
    stored.bytes[i] = b'3';
    t.journal.save_pack(9, &stored.bytes, &stored.signature, &stored.public_key, now()).unwrap();
    assert_eq!(open_pack(&mut t.journal, now()), Err(Cannot::PackForged));
    let forged = sell_fresh(&mut t, 18, 432_500, 432_500, 1).unwrap_err();
    assert_eq!(forged.code(), "offline_pack_forged");
}

#[test]
fn the_kept_session_serves_its_cashier_only_within_its_lifetime() {
    let mut t = till();
    let serves = |j: &mut Journal, login: &str, password: &str, at: DateTime<Utc>| {
        session_serves(j, "S1", "T1", login, password, at).map(|s| s.token)
    };
    assert_eq!(serves(&mut t.journal, "kassa1", "pw-1", now()), Err(Cannot::NoSession));
    t.keep_session("kassa1", "pw-1");
    assert_eq!(serves(&mut t.journal, "kassa1", "pw-1", now()), Ok("tok".into()));
    assert_eq!(serves(&mut t.journal, "kassa1", "pw-2", now()), Err(Cannot::NoSession), "another password");
    assert_eq!(serves(&mut t.journal, "kassa2", "pw-1", now()), Err(Cannot::NoSession));
    let late = now() + chrono::Duration::hours(9);
    assert_eq!(serves(&mut t.journal, "kassa1", "pw-1", late), Err(Cannot::NoSession));
}

#[test]
fn every_refusal_to_sell_offline_is_said_in_both_languages() {
    for c in [
        Cannot::NoSession,
        Cannot::PackMissing,
        Cannot::PackStale(now()),
        Cannot::PackForged,
        Cannot::PackNotYetValid,
        Cannot::Journal("disk full".into()),
    ] {
        let (ru, kk) = (c.sentence(Lang::Ru), c.sentence(Lang::Kk));
        assert!(!ru.is_empty() && !kk.is_empty() && ru != kk, "{c:?}");
    }
    assert!(i18n::needs_link(Lang::Ru).contains("связ"));
    assert!(i18n::needs_link(Lang::Kk).contains("байланыс"));
}
