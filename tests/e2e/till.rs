//! The till, scenario by scenario as the Algorithm tells it: a sale from QR to receipt, every
//! refusal a till can meet, refunds and cancels, a family's basket, the recipient's history and
//! feedback, the shop's day, and holds and the month's end on the clock. Each scenario has a world
//! of its own: a Pavlodar family of two whose vouchers hold 432 500 tiyn each.

use azyq_shared::api::{
    Authorized, BasketStatus, Captured, ErrorCode, FeedbackSaved, History, LookupResponse, MonthClosed, VoucherCharge,
    VoucherStatus,
};
use azyq_shared::Tiyn;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(a_sale_from_qr_to_receipt);
on_both!(every_line_refusal_names_its_line);
on_both!(every_token_refusal_has_its_code);
on_both!(a_line_refund_returns_its_discount_and_frees_its_serial);
on_both!(a_whole_refund_returns_what_is_left);
on_both!(a_cancel_releases_the_hold_and_refuses_a_later_capture);
on_both!(a_family_basket_draws_its_vouchers_in_scan_order_to_the_last_tiyn);
on_both!(the_recipient_sees_the_family_history_and_rates_a_basket_once);
on_both!(the_shop_day_counts_captures_cancels_and_refunds);
on_both!(a_hold_left_open_expires_and_so_does_its_qr);
on_both!(the_month_close_releases_a_december_hold_before_the_balances_expire);

/// A fresh world at [`NOW`] (6 December 2026), its server running.
fn world(db: &TestDb) -> (Server, World) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 3);
    (server, w)
}

/// A carton of milk whose traceability code carries serial SER001: it may be sold once.
fn serial_milk() -> String {
    format!("(01){MILK}(21)SER001")
}

/// The serialised milk (500 ₸ → 425 ₸) and 1 500 g of potatoes (300 ₸/kg → 255 ₸/kg): 142,50 ₸ of
/// discount (75 ₸ + 67,50 ₸) and 807,50 ₸ to pay.
fn milk_and_potatoes() -> [Value; 2] {
    [line(&serial_milk(), 1, 50_000, 42_500), line(POTATOES, 1_500, 30_000, 25_500)]
}

/// One bag of flour, 1 000 ₸ → 850 ₸: 150 ₸ of discount.
fn flour() -> [Value; 1] {
    [line(FLOUR, 1, 100_000, 85_000)]
}

/// A captured basket of milk and potatoes on the voucher of `token` (once a world: the milk's
/// serial sells once).
fn captured_milk_and_potatoes(till: &Till, token: &str) -> Captured {
    let basket = till.authorize("milk-and-potatoes", &[token], &milk_and_potatoes()).success(201);
    till.capture(basket.basket_id, "pay-milk-and-potatoes", &cash(basket.to_pay_tiyn)).success(200)
}

/// A basket of flour authorised on the voucher of `token` and cancelled.
fn cancelled_flour(till: &Till, token: &str) {
    let basket = till.authorize("flour-to-cancel", &[token], &flour()).success(201);
    till.cancel(basket.basket_id).success(200);
}

/// Thirty-one bags of flour (4 650 ₸ of discount) on the vouchers of `tokens`, in scan order.
fn family_basket(till: &Till, tokens: &[&str]) -> Authorized {
    till.authorize("family", tokens, &[line(FLOUR, 30, 100_000, 85_000), line(FLOUR, 1, 100_000, 85_000)]).success(201)
}

/// What a basket draws from one voucher, and the voucher's balance after.
fn charge(voucher_id: i64, charged: i64, balance: i64) -> VoucherCharge {
    VoucherCharge { voucher_id, charged_tiyn: Tiyn::new(charged), balance_tiyn: Tiyn::new(balance) }
}

/// A token signed with the server's own key for `voucher_id`, issued at [`NOW`] for an hour: for
/// vouchers the wallet would not mint for.
fn forged_now(db: &TestDb, voucher_id: i64) -> String {
    forge(db, voucher_id, "2026-12", "2026-12-06T05:00:00Z", "2026-12-06T06:00:00Z")
}

/// The books prove, by the tests' own queries and by `azyq-server check`.
fn the_books_hold(db: &TestDb) {
    assert_books(db);
    check_books(db);
}

/// The till loads its catalogue, looks the QR up, authorises a basket (the hold), is answered the
/// same on a retry, cannot open a second basket with the token, and captures the exact amount; the
/// receipt reads back as it was answered. Another shop's cashier, a wrong amount, and anything but a
/// refund after the capture are refused.
fn a_sale_from_qr_to_receipt(db: &TestDb) {
    let (server, w) = world(db);
    let v1 = w.activate(&server, 0);
    let till = Till::login(&server, "SHOP-A", "T1");
    // The till's catalogue names the SZPT groups in both languages.
    let catalog = till.catalog().success(200);
    let milk = catalog.groups.iter().find(|g| g.code == "milk").map(|g| g.name_kk.as_str());
    assert_eq!(milk, Some("Жирлігі 2.5% пастерленген сүт"), "{catalog:?}");

    // Look-up: masked name, voucher, balance; never the IIN, anywhere in the answer.
    let t1 = w.qr(&server, 0);
    assert!(t1.starts_with("AZ2:") && t1.len() == 156);
    let (s, raw) = server.post("/api/v1/pos/lookup", Some(&till.token), &json!({"token": t1}));
    assert_eq!(s, 200, "{raw}");
    assert!(!raw.to_string().contains(&w.iins[0]));
    let found: LookupResponse = serde_json::from_value(raw).unwrap();
    assert_eq!((found.holder.as_str(), found.voucher_id, found.balance_tiyn), ("А*** Б***", v1, Tiyn::new(432_500)));

    // Authorise: the discount is held on the voucher; the customer is to pay the rest.
    let basket = till.authorize("sale-1", &[&t1], &milk_and_potatoes()).success(201);
    assert_eq!(
        (basket.status, basket.discount_tiyn, basket.to_pay_tiyn),
        (BasketStatus::Authorized, Tiyn::new(14_250), Tiyn::new(80_750))
    );
    assert_eq!(basket.vouchers, [charge(v1, 14_250, 418_250)]);
    let id = basket.basket_id;
    // The same key and body: the same answer, no second hold. Another body: conflict.
    assert_eq!(till.authorize("sale-1", &[&t1], &milk_and_potatoes()).success(201), basket);
    assert_eq!(w.balance(&server, 0), Tiyn::new(418_250));
    assert_eq!(till.authorize("sale-1", &[&t1], &flour()).refused().code(), (409, ErrorCode::IdempotencyConflict));
    // One basket per token.
    assert_eq!(till.authorize("sale-2", &[&t1], &flour()).refused().code(), (409, ErrorCode::TokenUsed));
    assert_eq!(till.lookup(&t1).refused().code(), (409, ErrorCode::TokenUsed));

    // Another shop's cashier may not touch it.
    let other_shop = Till::login(&server, "SHOP-C", "T9");
    let pay = cash(Tiyn::new(80_750));
    assert_eq!(other_shop.capture(id, "x", &pay).refused().code(), (403, ErrorCode::Forbidden));
    assert_eq!(other_shop.cancel(id).refused().code(), (403, ErrorCode::Forbidden));
    // A wrong amount is refused; the right one captures, and a retry with the key answers the same.
    assert_eq!(till.capture(id, "pay-0", &cash(Tiyn::new(80_000))).refused().code(), (400, ErrorCode::Validation));
    let captured = till.capture(id, "pay-1", &pay).success(200);
    assert_eq!(captured.receipt.payment, pay);
    assert_eq!(captured.receipt.lines.len(), 2);
    assert_eq!(till.capture(id, "pay-1", &pay).success(200), captured);
    // The receipt the capture answered is the one the basket shows afterwards (built apart).
    assert_eq!(till.basket(id).success(200).receipt.as_ref(), Some(&captured.receipt));
    // A captured basket neither captures nor cancels again; an unknown one is not found.
    assert_eq!(till.capture(id, "pay-2", &pay).refused().code(), (409, ErrorCode::BasketState));
    assert_eq!(till.cancel(id).refused().code(), (409, ErrorCode::BasketState));
    assert_eq!(till.capture(999_999, "pay-3", &pay).refused().code(), (404, ErrorCode::BasketNotFound));
    the_books_hold(db);
}

/// A basket line the rules refuse is named by its index and its own code, with what the cashier
/// needs to say why (the cap, the reason, the field, the balance left); a refused basket holds
/// nothing.
fn every_line_refusal_names_its_line(db: &TestDb) {
    let (server, w) = world(db);
    w.activate(&server, 0);
    let till = Till::login(&server, "SHOP-A", "T1");
    captured_milk_and_potatoes(&till, &w.qr(&server, 0));
    let refuse = |key: &str, lines: &[Value]| till.authorize(key, &[&w.qr(&server, 0)], lines).refused();

    let r = refuse("r1", &[line(FLOUR, 1, 10_000, 9_000), line(&serial_milk(), 1, 50_000, 42_500)]);
    assert_eq!((r.code(), r.detail("line")), ((422, ErrorCode::CodeAlreadySold), Some(1)), "{r:?}");
    let r = refuse("r2", &[line(NOT_SZPT, 1, 10_000, 9_000)]);
    assert_eq!((r.code(), r.detail("line")), ((422, ErrorCode::NotSzptProduct), Some(0)), "{r:?}");
    // Flour's cap is 15%: 1 600 of 10 000 off is over it.
    let r = refuse("r3", &[line(FLOUR, 1, 10_000, 9_000), line(FLOUR, 2, 10_000, 8_400)]);
    assert_eq!(
        (r.code(), r.detail("line"), r.detail("cap_bp")),
        ((422, ErrorCode::DiscountOverCap), Some(1), Some(1500)),
        "{r:?}"
    );
    let r = refuse("r4", &[line("04600000000016", 1, 10_000, 9_000)]);
    assert_eq!(
        (r.code(), r.detail("line"), r.detail::<String>("reason").as_deref()),
        ((422, ErrorCode::CodeInvalid), Some(0), Some("gtin_check_digit")),
        "{r:?}"
    );
    let r = refuse("r5", &[line(&format!("(01){MILK}(17)261130(21)OLD1"), 1, 10_000, 9_000)]);
    assert_eq!((r.code(), r.detail("line")), ((422, ErrorCode::ProductExpired), Some(0)), "{r:?}");
    let r = refuse("r6", &[line(FLOUR, 0, 10_000, 9_000)]);
    assert_eq!(
        (r.code(), r.detail::<String>("field").as_deref()),
        ((400, ErrorCode::Validation), Some("lines[0].quantity")),
        "{r:?}"
    );
    // 4 500 ₸ of discount against the 4 182,50 ₸ left after the milk and potatoes.
    let r = refuse("r7", &[line(FLOUR, 30, 100_000, 85_000)]);
    assert_eq!(
        (r.code(), r.detail("balance_tiyn")),
        ((422, ErrorCode::InsufficientBalance), Some(Tiyn::new(418_250))),
        "{r:?}"
    );
    assert_eq!(w.balance(&server, 0), Tiyn::new(418_250), "a refused basket holds nothing");
    the_books_hold(db);
}

/// A QR the till cannot take is refused for its own reason: tampered, signed by a key the server
/// does not know, from another region, for a voucher not activated or not there; the wallet does
/// not even mint one for a voucher not activated; and only a cashier may look a token up. (A used
/// token, an expired one, a spent voucher and a closed month: in the scenarios that get there.)
fn every_token_refusal_has_its_code(db: &TestDb) {
    let (server, w) = world(db);
    let v1 = w.activate(&server, 0);
    let v2 = w.voucher_id(&server, 1);
    let till = Till::login(&server, "SHOP-A", "T1");
    assert_eq!(w.mint(&server, 1).refused().code(), (409, ErrorCode::NotActivated));

    let mut tampered = w.qr(&server, 0).into_bytes();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(till.lookup(&tampered).refused().code(), (422, ErrorCode::TokenInvalid));
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let alien = sign_with(&stranger, 999, v1, "2026-12", "2026-12-06T05:00:00Z", "2026-12-06T06:00:00Z");
    assert_eq!(till.lookup(&alien).refused().code(), (422, ErrorCode::UnknownKey));
    let far = Till::login(&server, "SHOP-K", "T1");
    assert_eq!(far.lookup(&w.qr(&server, 0)).refused().code(), (422, ErrorCode::WrongRegion));
    assert_eq!(till.lookup(&forged_now(db, v2)).refused().code(), (409, ErrorCode::NotActivated));
    assert_eq!(till.lookup(&forged_now(db, 987_654)).refused().code(), (404, ErrorCode::VoucherNotFound));
    let operator = Till { server: &server, token: w.op.clone() };
    assert_eq!(operator.lookup(&w.qr(&server, 0)).refused().code(), (403, ErrorCode::Forbidden));
}

/// Refunding one line of a paid basket returns that line's discount to the voucher, once; the
/// serial it carried may be sold again.
fn a_line_refund_returns_its_discount_and_frees_its_serial(db: &TestDb) {
    let (server, w) = world(db);
    w.activate(&server, 0);
    let till = Till::login(&server, "SHOP-A", "T1");
    let id = captured_milk_and_potatoes(&till, &w.qr(&server, 0)).basket_id;
    assert_eq!(w.balance(&server, 0), Tiyn::new(418_250));

    let refund = till.refund(id, "ref-1", Some(&[0])).success(200);
    assert_eq!((refund.status, refund.refunded_tiyn), (BasketStatus::PartlyRefunded, Tiyn::new(7_500)));
    assert_eq!(till.refund(id, "ref-1", Some(&[0])).success(200), refund);
    assert_eq!(w.balance(&server, 0), Tiyn::new(425_750));
    assert_eq!(till.refund(id, "ref-2", Some(&[0])).refused().code(), (409, ErrorCode::BasketState));
    let resale = till.authorize("sale-2", &[&w.qr(&server, 0)], &[line(&serial_milk(), 1, 50_000, 42_500)]);
    assert_eq!(resale.success(201).discount_tiyn, Tiyn::new(7_500));
    the_books_hold(db);
}

/// After a line refund, a refund without lines returns the discount of every line left, and the
/// voucher is whole again.
fn a_whole_refund_returns_what_is_left(db: &TestDb) {
    let (server, w) = world(db);
    w.activate(&server, 0);
    let till = Till::login(&server, "SHOP-A", "T1");
    let id = captured_milk_and_potatoes(&till, &w.qr(&server, 0)).basket_id;
    till.refund(id, "ref-milk", Some(&[0])).success(200);

    let rest = till.refund(id, "ref-rest", None).success(200);
    assert_eq!((rest.status, rest.refunded_tiyn), (BasketStatus::Refunded, Tiyn::new(6_750)), "{rest:?}");
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500));
    the_books_hold(db);
}

/// Cancelling an authorised basket gives its hold back to the voucher; the basket can then not be
/// paid.
fn a_cancel_releases_the_hold_and_refuses_a_later_capture(db: &TestDb) {
    let (server, w) = world(db);
    w.activate(&server, 0);
    let till = Till::login(&server, "SHOP-A", "T1");
    let basket = till.authorize("sale", &[&w.qr(&server, 0)], &[line(&serial_milk(), 1, 50_000, 42_500)]).success(201);
    assert_eq!(w.balance(&server, 0), Tiyn::new(425_000));

    let cancelled = till.cancel(basket.basket_id).success(200);
    assert_eq!(cancelled.status, BasketStatus::Cancelled);
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500));
    let r = till.capture(basket.basket_id, "pay", &card(Tiyn::new(42_500))).refused();
    assert_eq!(r.code(), (409, ErrorCode::BasketState));
    assert_eq!(r.detail("status"), Some(BasketStatus::Cancelled), "API.md: basket_state carries the status");
    the_books_hold(db);
}

/// Two members' vouchers in one basket are drawn in the order they were scanned: the first to the
/// last tiyn (then it is exhausted: no QR, no look-up), the second for the rest.
fn a_family_basket_draws_its_vouchers_in_scan_order_to_the_last_tiyn(db: &TestDb) {
    let (server, w) = world(db);
    let v1 = w.activate(&server, 0);
    let v2 = w.activate(&server, 1);
    let till = Till::login(&server, "SHOP-A", "T1");
    let basket = family_basket(&till, &[&w.qr(&server, 0), &w.qr(&server, 1)]);
    assert_eq!(basket.vouchers, [charge(v1, 432_500, 0), charge(v2, 32_500, 400_000)]);
    till.capture(basket.basket_id, "pay", &card(basket.to_pay_tiyn)).success(200);

    assert_eq!(w.voucher(&server, 0).status, VoucherStatus::Exhausted);
    assert_eq!(w.mint(&server, 0).refused().code(), (409, ErrorCode::VoucherExhausted));
    assert_eq!(till.lookup(&forged_now(db, v1)).refused().code(), (409, ErrorCode::VoucherExhausted));
    assert_eq!(w.balance(&server, 1), Tiyn::new(400_000));
    the_books_hold(db);
}

/// Every member sees the family's baskets, newest first, with shop and status; a member rates a
/// paid basket once (a complaint goes to e-Otinish); nobody outside the family may.
fn the_recipient_sees_the_family_history_and_rates_a_basket_once(db: &TestDb) {
    let (server, w) = world(db);
    w.activate(&server, 0);
    w.activate(&server, 1);
    let till = Till::login(&server, "SHOP-A", "T1");
    captured_milk_and_potatoes(&till, &w.qr(&server, 0));
    cancelled_flour(&till, &w.qr(&server, 0));
    let newest = family_basket(&till, &[&w.qr(&server, 0), &w.qr(&server, 1)]);
    till.capture(newest.basket_id, "pay", &card(newest.to_pay_tiyn)).success(200);

    let history: History = server.get_as("/api/v1/wallet/history", Some(&server.wallet_token(&w.iins[1]))).success(200);
    let seen: Vec<_> = history.baskets.iter().map(|b| (b.shop_name.as_str(), b.status)).collect();
    assert_eq!(
        seen,
        [
            ("Магазин SHOP-A", BasketStatus::Captured),
            ("Магазин SHOP-A", BasketStatus::Cancelled),
            ("Магазин SHOP-A", BasketStatus::Captured)
        ],
        "{history:?}"
    );
    assert_eq!(history.baskets[0].basket_id, newest.basket_id);

    let feedback = format!("/api/v1/wallet/baskets/{}/feedback", newest.basket_id);
    let rate =
        |iin: &str, body: Value| server.post_as::<FeedbackSaved>(&feedback, Some(&server.wallet_token(iin)), &body);
    let saved = rate(&w.iins[0], json!({"rating": 2, "complaint": "Кассир не знал про ваучеры"})).success(200);
    assert!(saved.complaint_queued, "{saved:?}");
    assert_eq!(rate(&w.iins[0], json!({"rating": 5})).refused().code(), (409, ErrorCode::BasketState));
    assert_eq!(rate(&iin(9, 9), json!({"rating": 5})).refused().code(), (404, ErrorCode::BasketNotFound));
    assert_eq!(rate(&w.iins[0], json!({"rating": 6})).refused().code(), (400, ErrorCode::Validation));
}

/// The shop's day at the till counts its captured and cancelled baskets and its refund operations,
/// with the discount the refunds returned; the date is `YYYY-MM-DD`.
fn the_shop_day_counts_captures_cancels_and_refunds(db: &TestDb) {
    let (server, w) = world(db);
    w.activate(&server, 0);
    let till = Till::login(&server, "SHOP-A", "T1");
    let refunded = captured_milk_and_potatoes(&till, &w.qr(&server, 0)).basket_id;
    till.refund(refunded, "ref-milk", Some(&[0])).success(200);
    till.refund(refunded, "ref-rest", None).success(200);
    cancelled_flour(&till, &w.qr(&server, 0));
    let kept = till.authorize("kept", &[&w.qr(&server, 0)], &flour()).success(201);
    till.capture(kept.basket_id, "pay-kept", &cash(kept.to_pay_tiyn)).success(200);

    let day = till.daily("2026-12-06").success(200);
    assert_eq!((day.baskets_captured, day.baskets_cancelled, day.refunds), (2, 1, 2), "{day:?}");
    assert_eq!(day.refunded_tiyn, Tiyn::new(14_250));
    assert_eq!(till.daily("06.12.2026").refused().code(), (400, ErrorCode::Validation));
}

/// A basket authorised and never paid: when its hold runs out the capture is refused and the
/// voucher has its money back; the QR minted with it has expired too.
fn a_hold_left_open_expires_and_so_does_its_qr(db: &TestDb) {
    let (server, w) = world(db);
    w.activate(&server, 0);
    let (open, minted) = {
        let till = Till::login(&server, "SHOP-A", "T1");
        let open = till.authorize("open", &[&w.qr(&server, 0)], &flour()).success(201);
        (open, w.qr(&server, 0))
    };
    assert_eq!(w.balance(&server, 0), Tiyn::new(417_500));
    drop(server);

    let server = Server::start(db, "2026-12-06T05:30:00Z");
    let till = Till::login(&server, "SHOP-A", "T1");
    let r = till.capture(open.basket_id, "pay", &cash(open.to_pay_tiyn)).refused();
    assert_eq!(r.code(), (409, ErrorCode::HoldExpired));
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500));
    assert_eq!(till.lookup(&minted).refused().code(), (422, ErrorCode::TokenExpired));
    the_books_hold(db);
}

/// 23:58 on 31 December (Almaty) a basket is authorised and never paid; at 00:02 the month is
/// closed: its hold is released first, so the voucher expires with all its money, and a December
/// token is refused.
fn the_month_close_releases_a_december_hold_before_the_balances_expire(db: &TestDb) {
    let (server, w) = world(db);
    let v1 = w.activate(&server, 0);
    drop(server);

    let server = Server::start(db, "2026-12-31T18:58:00Z");
    Till::login(&server, "SHOP-A", "T1").authorize("late", &[&w.qr(&server, 0)], &flour()).success(201);
    drop(server);

    let server = Server::start(db, "2026-12-31T19:02:00Z");
    let op = server.operator_token();
    let closed: MonthClosed = server.post_as("/api/v1/months/2026-12/close", Some(&op), &json!({})).success(200);
    assert_eq!((closed.holds_released, closed.expired, closed.expired_tiyn), (1, 1, Tiyn::new(432_500)), "{closed:?}");
    let december = forge(db, v1, "2026-12", "2026-12-31T18:00:00Z", "2027-01-01T06:00:00Z");
    let till = Till::login(&server, "SHOP-A", "T1");
    assert_eq!(till.lookup(&december).refused().code(), (409, ErrorCode::MonthClosed));
    the_books_hold(db);
}
