//! A sale at the till from QR to receipt, every error code produced by a real request, refunds,
//! hold expiry with the fake clock, a multi-voucher basket, history and feedback.

use azyq_shared::api::{ErrorCode, VoucherStatus};
use azyq_shared::Tiyn;
use serde_json::json;

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(sale_and_every_till_error => till_sqlite, till_postgres);

const BASKETS: &str = "/api/v1/pos/baskets";

fn sale_and_every_till_error(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 3);
    let v1 = w.activate(&server, 0);
    let v2 = w.voucher_id(&server, 1);
    let till = cashier(&server, "SHOP-A", "T1");
    // The till's catalogue names the SZPT groups in both languages.
    let (s, cat) = server.get("/api/v1/pos/catalog", Some(&till));
    let milk =
        cat["groups"].as_array().and_then(|g| g.iter().find(|g| g["code"] == "milk")).map(|g| g["name_kk"].clone());
    assert_eq!((s, milk), (200, Some(json!("Жирлігі 2.5% пастерленген сүт"))), "{cat}");

    // The wallet will not mint for a voucher not yet activated.
    assert_eq!(w.mint(&server, 1).refused().code(), (409, ErrorCode::NotActivated));

    // Look-up: masked name, month, balance; never the IIN.
    let t1 = w.qr(&server, 0);
    assert!(t1.starts_with("AZ1:") && t1.len() == 156);
    let (s, b) = server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": t1}));
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["holder"].as_str(), b["voucher_id"].as_i64(), b["balance_tiyn"].as_i64()),
        (Some("А*** Б***"), Some(v1), Some(432_500))
    );
    assert!(!b.to_string().contains(&w.iins[0]));

    // Authorise: a serialised milk and 1 500 g of potatoes.
    let milk1 = format!("(01){MILK}(21)SER001");
    let basket =
        json!({"tokens": [t1], "lines": [line(&milk1, 1, 50_000, 42_500), line(POTATOES, 1_500, 30_000, 25_500)]});
    let first = post_keyed(&server, BASKETS, &till, "sale-1", &basket);
    assert_eq!(first.0, 201, "{}", first.1);
    let a = &first.1;
    assert_eq!(
        (a["status"].as_str(), a["discount_tiyn"].as_i64(), a["to_pay_tiyn"].as_i64()),
        (Some("authorized"), Some(14_250), Some(80_750))
    );
    assert_eq!(a["vouchers"], json!([{"voucher_id": v1, "charged_tiyn": 14_250, "balance_tiyn": 418_250}]));
    let id = a["basket_id"].as_i64().unwrap();
    // The same key and body: the same answer, no second hold. Another body: conflict.
    let again = post_keyed(&server, BASKETS, &till, "sale-1", &basket);
    assert_eq!(again, first);
    assert_eq!(w.balance(&server, 0), Tiyn::new(418_250));
    let other = json!({"tokens": [t1], "lines": [line(FLOUR, 1, 100_000, 90_000)]});
    assert_eq!(code(&post_keyed(&server, BASKETS, &till, "sale-1", &other)), (409, "idempotency_conflict".into()));
    // One basket per token.
    assert_eq!(code(&post_keyed(&server, BASKETS, &till, "sale-2", &other)), (409, "token_used".into()));
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": t1}))),
        (409, "token_used".into())
    );

    // Another shop's cashier may not touch it.
    let other_shop = cashier(&server, "SHOP-C", "T9");
    let pay = json!({"payment": {"method": "cash", "paid_tiyn": 80_750}});
    assert_eq!(
        code(&post_keyed(&server, &format!("{BASKETS}/{id}/capture"), &other_shop, "x", &pay)),
        (403, "forbidden".into())
    );
    assert_eq!(
        code(&server.post(&format!("{BASKETS}/{id}/cancel"), Some(&other_shop), &json!({}))),
        (403, "forbidden".into())
    );
    // Wrong amount is refused; the right one captures, and a retry with the key answers the same.
    let short = json!({"payment": {"method": "cash", "paid_tiyn": 80_000}});
    assert_eq!(
        code(&post_keyed(&server, &format!("{BASKETS}/{id}/capture"), &till, "pay-0", &short)),
        (400, "validation".into())
    );
    let captured = post_keyed(&server, &format!("{BASKETS}/{id}/capture"), &till, "pay-1", &pay);
    assert_eq!(captured.0, 200, "{}", captured.1);
    assert_eq!(captured.1["receipt"]["payment"], json!({"method": "cash", "paid_tiyn": 80_750}));
    assert_eq!(captured.1["receipt"]["lines"].as_array().unwrap().len(), 2);
    assert_eq!(post_keyed(&server, &format!("{BASKETS}/{id}/capture"), &till, "pay-1", &pay), captured);
    // The receipt the capture answered is the one the basket shows afterwards (built apart).
    let shown = server.get(&format!("{BASKETS}/{id}"), Some(&till));
    assert_eq!(shown.1["receipt"], captured.1["receipt"]);
    assert_eq!(
        code(&post_keyed(&server, &format!("{BASKETS}/{id}/capture"), &till, "pay-2", &pay)),
        (409, "basket_state".into())
    );
    assert_eq!(
        code(&server.post(&format!("{BASKETS}/{id}/cancel"), Some(&till), &json!({}))),
        (409, "basket_state".into())
    );
    assert_eq!(
        code(&post_keyed(&server, &format!("{BASKETS}/999999/capture"), &till, "pay-3", &pay)),
        (404, "basket_not_found".into())
    );
    assert_books(db);

    // Line-by-line refusals, each with its line index.
    let t = |server: &Server| w.qr(server, 0);
    let refuse = |lines: serde_json::Value, key: &str| {
        let r = post_keyed(&server, BASKETS, &till, key, &json!({"tokens": [t(&server)], "lines": lines}));
        (code(&r), r.1["error"]["line"].as_u64(), r.1)
    };
    let (c, l, b) = refuse(json!([line(FLOUR, 1, 10_000, 9_000), line(&milk1, 1, 50_000, 42_500)]), "r1");
    assert_eq!((c, l), ((422, "code_already_sold".into()), Some(1)), "{b}");
    let (c, l, _) = refuse(json!([line(NOT_SZPT, 1, 10_000, 9_000)]), "r2");
    assert_eq!((c, l), ((422, "not_szpt_product".into()), Some(0)));
    let (c, l, b) = refuse(json!([line(FLOUR, 1, 10_000, 9_000), line(FLOUR, 2, 10_000, 8_400)]), "r3");
    assert_eq!((c, l, b["error"]["cap_bp"].as_i64()), ((422, "discount_over_cap".into()), Some(1), Some(1500)));
    let (c, l, b) = refuse(json!([line("04600000000016", 1, 10_000, 9_000)]), "r4");
    assert_eq!(
        (c, l, b["error"]["reason"].as_str()),
        ((422, "code_invalid".into()), Some(0), Some("gtin_check_digit"))
    );
    let (c, l, _) = refuse(json!([line(&format!("(01){MILK}(17)261130(21)OLD1"), 1, 10_000, 9_000)]), "r5");
    assert_eq!((c, l), ((422, "product_expired".into()), Some(0)));
    let (c, _, b) = refuse(json!([line(FLOUR, 0, 10_000, 9_000)]), "r6");
    assert_eq!((c, b["error"]["field"].as_str()), ((400, "validation".into()), Some("lines[0].quantity")));
    let (c, _, b) = refuse(json!([line(FLOUR, 30, 100_000, 85_000)]), "r7");
    assert_eq!((c, b["error"]["balance_tiyn"].as_i64()), ((422, "insufficient_balance".into()), Some(418_250)));
    assert_eq!(w.balance(&server, 0), Tiyn::new(418_250), "a refused basket holds nothing");

    // Tokens: tampered, unknown key, foreign region, voucher not activated / not found.
    let mut tampered = t(&server).into_bytes();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": tampered}))),
        (422, "token_invalid".into())
    );
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let alien = sign_with(&stranger, 999, v1, "2026-12", "2026-12-06T05:00:00Z", "2026-12-06T06:00:00Z");
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": alien}))),
        (422, "unknown_key".into())
    );
    let far = cashier(&server, "SHOP-K", "T1");
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&far), &json!({"token": t(&server)}))),
        (422, "wrong_region".into())
    );
    let forged = forge(db, v2, "2026-12", "2026-12-06T05:00:00Z", "2026-12-06T06:00:00Z");
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": forged}))),
        (409, "not_activated".into())
    );
    let nobody = forge(db, 987_654, "2026-12", "2026-12-06T05:00:00Z", "2026-12-06T06:00:00Z");
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": nobody}))),
        (404, "voucher_not_found".into())
    );
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&w.op), &json!({"token": t(&server)}))),
        (403, "forbidden".into())
    );

    // Refund line 0 (the milk): its discount returns and its serial sells again.
    let r = post_keyed(&server, &format!("{BASKETS}/{id}/refund"), &till, "ref-1", &json!({"lines": [0]}));
    assert_eq!(r.0, 200, "{}", r.1);
    assert_eq!((r.1["status"].as_str(), r.1["refunded_tiyn"].as_i64()), (Some("partly_refunded"), Some(7_500)));
    assert_eq!(post_keyed(&server, &format!("{BASKETS}/{id}/refund"), &till, "ref-1", &json!({"lines": [0]})), r);
    assert_eq!(w.balance(&server, 0), Tiyn::new(425_750));
    assert_eq!(
        code(&post_keyed(&server, &format!("{BASKETS}/{id}/refund"), &till, "ref-2", &json!({"lines": [0]}))),
        (409, "basket_state".into())
    );
    let resale = post_keyed(
        &server,
        BASKETS,
        &till,
        "sale-3",
        &json!({"tokens": [t(&server)], "lines": [line(&milk1, 1, 50_000, 42_500)]}),
    );
    assert_eq!(resale.0, 201, "{}", resale.1);
    let resale_id = resale.1["basket_id"].as_i64().unwrap();
    // Cancel releases the hold; capture after cancel is refused.
    let (s, b) = server.post(&format!("{BASKETS}/{resale_id}/cancel"), Some(&till), &json!({}));
    assert_eq!((s, b["status"].as_str()), (200, Some("cancelled")));
    assert_eq!(w.balance(&server, 0), Tiyn::new(425_750));
    let pay_resale = json!({"payment": {"method": "card", "paid_tiyn": 42_500}});
    assert_eq!(
        code(&post_keyed(&server, &format!("{BASKETS}/{resale_id}/capture"), &till, "pay-4", &pay_resale)),
        (409, "basket_state".into())
    );
    // The rest of the first basket: whole refund of what is left.
    let r = post_keyed(&server, &format!("{BASKETS}/{id}/refund"), &till, "ref-3", &json!({}));
    assert_eq!((r.1["status"].as_str(), r.1["refunded_tiyn"].as_i64()), (Some("refunded"), Some(6_750)), "{}", r.1);
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500));
    assert_books(db);

    // Two members' vouchers in one basket: drawn in the order scanned.
    let v2 = w.activate(&server, 1);
    let big = json!({"tokens": [w.qr(&server, 0), w.qr(&server, 1)], "lines": [line(FLOUR, 30, 100_000, 85_000), line(FLOUR, 1, 100_000, 85_000)]});
    let multi = post_keyed(&server, BASKETS, &till, "multi-1", &big);
    assert_eq!(multi.0, 201, "{}", multi.1);
    assert_eq!(
        multi.1["vouchers"],
        json!([
            {"voucher_id": v1, "charged_tiyn": 432_500, "balance_tiyn": 0},
            {"voucher_id": v2, "charged_tiyn": 32_500, "balance_tiyn": 400_000}
        ])
    );
    let multi_id = multi.1["basket_id"].as_i64().unwrap();
    let pay_multi = json!({"payment": {"method": "card", "paid_tiyn": multi.1["to_pay_tiyn"]}});
    assert_eq!(post_keyed(&server, &format!("{BASKETS}/{multi_id}/capture"), &till, "pay-5", &pay_multi).0, 200);
    // The first voucher is spent to the last tiyn.
    assert_eq!(w.voucher(&server, 0).status, VoucherStatus::Exhausted);
    assert_eq!(w.mint(&server, 0).refused().code(), (409, ErrorCode::VoucherExhausted));
    let spent = forge(db, v1, "2026-12", "2026-12-06T05:00:00Z", "2026-12-06T06:00:00Z");
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": spent}))),
        (409, "voucher_exhausted".into())
    );

    // History and feedback, by the recipient.
    let (s, h) = server.get("/api/v1/wallet/history", Some(&server.wallet_token(&w.iins[1])));
    assert_eq!(s, 200);
    let baskets = h["baskets"].as_array().unwrap();
    assert_eq!(baskets.len(), 3, "{h}");
    assert_eq!(
        (baskets[0]["basket_id"].as_i64(), baskets[0]["shop_name"].as_str(), baskets[0]["status"].as_str()),
        (Some(multi_id), Some("Магазин SHOP-A"), Some("captured"))
    );
    let fb = format!("/api/v1/wallet/baskets/{multi_id}/feedback");
    let (s, b) = server.post(
        &fb,
        Some(&server.wallet_token(&w.iins[0])),
        &json!({"rating": 2, "complaint": "Кассир не знал про ваучеры"}),
    );
    assert_eq!((s, b["complaint_queued"].as_bool()), (200, Some(true)), "{b}");
    assert_eq!(
        code(&server.post(&fb, Some(&server.wallet_token(&w.iins[0])), &json!({"rating": 5}))),
        (409, "basket_state".into())
    );
    assert_eq!(
        code(&server.post(&fb, Some(&server.wallet_token(&iin(9, 9))), &json!({"rating": 5}))),
        (404, "basket_not_found".into())
    );
    assert_eq!(
        code(&server.post(&fb, Some(&server.wallet_token(&w.iins[0])), &json!({"rating": 6}))),
        (400, "validation".into())
    );

    // The shop's day.
    let (s, day) = server.get("/api/v1/pos/reports/daily?date=2026-12-06", Some(&till));
    assert_eq!(s, 200, "{day}");
    assert_eq!(
        (day["baskets_captured"].as_i64(), day["baskets_cancelled"].as_i64(), day["refunds"].as_i64()),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(day["refunded_tiyn"], 14_250);
    assert_eq!(code(&server.get("/api/v1/pos/reports/daily?date=06.12.2026", Some(&till))), (400, "validation".into()));

    // A hold left open: the clock runs past it; capture is refused and the balance is back.
    let open = post_keyed(
        &server,
        BASKETS,
        &till,
        "late-1",
        &json!({"tokens": [w.qr(&server, 1)], "lines": [line(FLOUR, 1, 100_000, 85_000)]}),
    );
    assert_eq!(open.0, 201);
    let open_id = open.1["basket_id"].as_i64().unwrap();
    let token_minted_now = w.qr(&server, 1);
    assert_eq!(w.balance(&server, 1), Tiyn::new(385_000));
    drop(server);
    let server = Server::start(db, "2026-12-06T05:30:00Z");
    let till = cashier(&server, "SHOP-A", "T1");
    let pay_open = json!({"payment": {"method": "cash", "paid_tiyn": 85_000}});
    assert_eq!(
        code(&post_keyed(&server, &format!("{BASKETS}/{open_id}/capture"), &till, "pay-6", &pay_open)),
        (409, "hold_expired".into())
    );
    assert_eq!(w.balance(&server, 1), Tiyn::new(400_000));
    // The QR minted half an hour ago has expired.
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": token_minted_now}))),
        (422, "token_expired".into())
    );
    assert_books(db);
    drop(server);

    // 23:58 on 31 December (Almaty): a basket is authorised and never paid.
    let server = Server::start(db, "2026-12-31T18:58:00Z");
    let till = cashier(&server, "SHOP-A", "T1");
    let leftover = post_keyed(
        &server,
        BASKETS,
        &till,
        "late-2",
        &json!({"tokens": [w.qr(&server, 1)], "lines": [line(FLOUR, 1, 100_000, 85_000)]}),
    );
    assert_eq!(leftover.0, 201, "{}", leftover.1);
    drop(server);

    // 00:02 on 1 January: December is closed; its open hold is released before the balances expire.
    let server = Server::start(db, "2026-12-31T19:02:00Z");
    let op = server.operator_token();
    let (s, closed) = server.post("/api/v1/months/2026-12/close", Some(&op), &json!({}));
    assert_eq!(s, 200);
    assert_eq!(
        (closed["holds_released"].as_i64(), closed["expired"].as_i64(), closed["expired_tiyn"].as_i64()),
        (Some(1), Some(1), Some(400_000)),
        "{closed}"
    );
    let till = cashier(&server, "SHOP-A", "T1");
    let december = forge(db, v2, "2026-12", "2026-12-31T18:00:00Z", "2027-01-01T06:00:00Z");
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": december}))),
        (409, "month_closed".into())
    );
    assert_books(db);
    let _ = w.phone;
    check_books(db);
}
