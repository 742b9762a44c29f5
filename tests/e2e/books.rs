//! `azyq-server check` sees money moved twice and answers that disagree with the books: each rule
//! is broken on purpose in SQL (and mended again), and `check` must fail naming it.

use serde_json::json;

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(check_sees_each_corruption => books_sqlite, books_postgres);

const BASKETS: &str = "/api/v1/pos/baskets";

/// Runs `check`: Ok(stdout) when green, Err(stdout) when not.
fn check(db: &TestDb) -> Result<String, String> {
    let out = cli(db, "2026-12-06T06:00:00Z").arg("check").output().expect("run check");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn check_books_fail(db: &TestDb, rule_words: &str, corrupt: &str, mend: &str) {
    exec(db, corrupt);
    let found = check(db);
    exec(db, mend);
    let text = found.expect_err(&format!("check stayed green after: {corrupt}"));
    assert!(text.contains(rule_words), "check failed, but not on «{rule_words}»:\n{text}");
    check(db).unwrap_or_else(|t| panic!("mended, the books should prove again:\n{t}"));
}

fn check_sees_each_corruption(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 81);
    w.activate(&server, 0);
    let till = cashier(&server, "SHOP-A", "T1");
    // A paid basket of three lines with line 1 refunded, and a cancelled one.
    let body = json!({"tokens": [w.qr(&server, 0)], "lines": [
        line(FLOUR, 1, 20_000, 17_000), line(FLOUR, 1, 10_000, 9_000), line(FLOUR, 1, 13_400, 11_400)]});
    let (s, a) = post_keyed(&server, BASKETS, &till, "b1", &body);
    assert_eq!(s, 201, "{a}");
    let paid = a["basket_id"].as_i64().unwrap();
    let pay = json!({"payment": {"method": "cash", "paid_tiyn": 37_400}});
    assert_eq!(post_keyed(&server, &format!("{BASKETS}/{paid}/capture"), &till, "p1", &pay).0, 200);
    let (s, r) = post_keyed(&server, &format!("{BASKETS}/{paid}/refund"), &till, "r1", &json!({"lines": [1]}));
    assert_eq!(s, 200, "{r}");
    let body = json!({"tokens": [w.qr(&server, 0)], "lines": [line(FLOUR, 1, 20_000, 17_000)]});
    let (s, a) = post_keyed(&server, BASKETS, &till, "b2", &body);
    assert_eq!(s, 201, "{a}");
    let cancelled = a["basket_id"].as_i64().unwrap();
    assert_eq!(server.post(&format!("{BASKETS}/{cancelled}/cancel"), Some(&till), &json!({})).0, 200);
    drop(server);
    check(db).unwrap_or_else(|t| panic!("the books should prove before any corruption:\n{t}"));
    let voucher = scalar(db, &format!("SELECT voucher_id AS n FROM basket_vouchers WHERE basket_id = {paid}"));

    // A line refunded twice: a second refund of line 1, its money returned again (each voucher's
    // own sum still adds up).
    check_books_fail(
        db,
        "every refunded line is in exactly one refund",
        &format!(
            "INSERT INTO refunds (basket_id, lines, refunded_tiyn, created_at, business_day) \
             VALUES ({paid}, '[1]', 1000, '2026-12-06 05:30:00', '2026-12-06'); \
             UPDATE basket_vouchers SET refunded_tiyn = refunded_tiyn + 1000 WHERE basket_id = {paid}; \
             UPDATE vouchers SET refunded_tiyn = refunded_tiyn + 1000, balance_tiyn = balance_tiyn + 1000 WHERE id = {voucher};"
        ),
        &format!(
            "DELETE FROM refunds WHERE basket_id = {paid} AND refunded_tiyn = 1000 AND id = (SELECT MAX(id) FROM refunds); \
             UPDATE basket_vouchers SET refunded_tiyn = refunded_tiyn - 1000 WHERE basket_id = {paid}; \
             UPDATE vouchers SET refunded_tiyn = refunded_tiyn - 1000, balance_tiyn = balance_tiyn - 1000 WHERE id = {voucher};"
        ),
    );
    // A voucher's refunded total that no refund explains.
    check_books_fail(
        db,
        "refunded = what refunds returned",
        &format!("UPDATE vouchers SET refunded_tiyn = refunded_tiyn + 100, balance_tiyn = balance_tiyn + 100 WHERE id = {voucher};"),
        &format!("UPDATE vouchers SET refunded_tiyn = refunded_tiyn - 100, balance_tiyn = balance_tiyn - 100 WHERE id = {voucher};"),
    );
    // A voucher's share of a refund that the refunded lines do not carry.
    check_books_fail(
        db,
        "refunded discount = its refunded lines'",
        &format!(
            "UPDATE basket_vouchers SET refunded_tiyn = refunded_tiyn + 100 WHERE basket_id = {paid}; \
             UPDATE vouchers SET refunded_tiyn = refunded_tiyn + 100, balance_tiyn = balance_tiyn + 100 WHERE id = {voucher};"
        ),
        &format!(
            "UPDATE basket_vouchers SET refunded_tiyn = refunded_tiyn - 100 WHERE basket_id = {paid}; \
             UPDATE vouchers SET refunded_tiyn = refunded_tiyn - 100, balance_tiyn = balance_tiyn - 100 WHERE id = {voucher};"
        ),
    );
    // A paid basket whose status says cancelled: its journal says otherwise.
    check_books_fail(
        db,
        "journal is one path of its state machine",
        &format!("UPDATE baskets SET status = 'cancelled' WHERE id = {paid};"),
        &format!("UPDATE baskets SET status = 'partly_refunded' WHERE id = {paid};"),
    );
    // A cancelled basket that a till was told is captured.
    check_books_fail(
        db,
        "a capture only for a paid basket",
        &format!(
            "INSERT INTO idempotency_keys (scope, idem_key, request_hash, response, created_at) \
             VALUES ('SHOP-A:capture:{cancelled}', 'forged', 'x', '{{\"status\":\"captured\"}}', '2026-12-06 05:30:00');"
        ),
        "DELETE FROM idempotency_keys WHERE idem_key = 'forged';",
    );
}
