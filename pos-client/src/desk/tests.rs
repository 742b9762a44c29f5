use azyq_shared::api::{ErrorCode, Payment, PaymentMethod};
use azyq_shared::clock::FakeClock;

use super::*;
use crate::offline::tests::{milk, now, till, token, Till};

fn desk(t: &Till) -> Desk {
    Desk::new(Some(t.path.clone()), Arc::new(FakeClock::starting_at(now())))
}

fn request(tokens: Vec<String>, qty: i64) -> AuthorizeRequest {
    AuthorizeRequest { tokens, lines: milk(qty) }
}

fn cash(paid: i64) -> CaptureRequest {
    CaptureRequest { payment: Payment { method: PaymentMethod::Cash, paid_tiyn: Tiyn::new(paid) } }
}

fn code(e: &ClientError) -> Option<&'static str> {
    match e {
        ClientError::Offline(c) => Some(c.code()),
        _ => e.code().map(ErrorCode::as_str),
    }
}

#[test]
fn offline_the_kept_session_logs_its_cashier_in_with_the_same_password() {
    let mut t = till();
    let mut d = desk(&t);
    let ask = |password: &str| SessionRequest {
        login: "kassa1".into(),
        password: password.into(),
        shop_id: Some("S1".into()),
        terminal_id: Some("T1".into()),
    };
    assert_eq!(code(&d.login(&ask("pw-1")).unwrap_err()), Some("offline_no_session"));
    t.keep_session("kassa1", "pw-1");
    let session = d.login(&ask("pw-1")).unwrap();
    assert_eq!((session.token.as_str(), session.role), ("tok", Role::Cashier));
    assert_eq!(code(&d.login(&ask("wrong")).unwrap_err()), Some("offline_no_session"));
}

#[test]
fn offline_the_pack_gives_the_keys_the_catalogue_and_the_recalls() {
    let t = till();
    let d = desk(&t);
    assert_eq!(d.keys().unwrap().keys.len(), 1);
    assert_eq!(d.catalog().unwrap().products.len(), 1);
    assert!(d.recalls().unwrap().recalls.is_empty());
}

#[test]
fn an_offline_sale_is_checked_then_written_only_when_paid() {
    let mut t = till();
    let mut d = desk(&t);
    let qr = token(&t, 21, 432_500, 432_500);
    let seen = d.lookup(&qr).unwrap();
    assert_eq!((seen.voucher_id, seen.balance_tiyn, seen.status), (21, Tiyn::new(432_500), VoucherStatus::Activated));

    let auth = d.authorize(&request(vec![qr.clone()], 2)).unwrap();
    assert_eq!(
        (auth.basket_id, auth.discount_tiyn, auth.to_pay_tiyn),
        (OFFLINE_BASKET, Tiyn::new(15_000), Tiyn::new(85_000))
    );
    assert_eq!(t.journal.pending_count().unwrap(), 0, "nothing written before the payment");
    let paid = d.capture("T1", "S1", &cash(85_000)).unwrap();
    assert_eq!((paid.status, paid.receipt.payment.paid_tiyn), (BasketStatus::Captured, Tiyn::new(85_000)));
    assert_eq!(t.journal.pending_count().unwrap(), 1);
    assert_eq!(d.waiting(), 1);
    // The same QR again, and the voucher's balance as this till now believes it.
    assert_eq!(code(&d.authorize(&request(vec![qr], 1)).unwrap_err()), Some("token_used"));
    assert_eq!(d.lookup(&token(&t, 21, 432_500, 432_500)).unwrap().balance_tiyn, Tiyn::new(417_500));
    assert!(d.capture("T1", "S1", &cash(0)).is_err(), "no sale waits for a payment");

    // A checked sale dropped before payment leaves nothing.
    d.authorize(&request(vec![token(&t, 22, 432_500, 432_500)], 1)).unwrap();
    assert_eq!(d.cancel().status, BasketStatus::Cancelled);
    assert!(d.capture("T1", "S1", &cash(42_500)).is_err());
    assert_eq!(t.journal.pending_count().unwrap(), 1);
}

#[test]
fn without_a_pack_the_desk_says_why_it_cannot_sell() {
    let t = till();
    let d = Desk::new(Some(t.path.with_file_name("other.db")), Arc::new(FakeClock::starting_at(now())));
    assert_eq!(code(&d.lookup(&token(&t, 23, 1, 1)).unwrap_err()), Some("offline_pack_missing"));
    assert_eq!(code(&d.catalog().unwrap_err()), Some("offline_pack_missing"));
}

#[test]
fn offline_the_server_is_tried_again_every_fifteen_seconds() {
    let t = till();
    let mut d = desk(&t);
    assert!(d.try_server() && !d.is_offline());
    d.saw_server(false);
    assert!(!d.try_server() && d.is_offline());
    d.saw_server(true);
    assert!(d.try_server());
}
