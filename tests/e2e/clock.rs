//! The suite does not depend on the date it runs: a server whose fake clock is five years in the
//! past or five years ahead issues sessions that live on its own time, and a session expires when
//! *its* clock says so, not the wall's.

use serde_json::json;

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(five_years_back => clock_past_sqlite, clock_past_postgres);
on_both!(five_years_ahead => clock_future_sqlite, clock_future_postgres);

fn five_years_back(db: &TestDb) {
    a_day_at(db, "2021-12-06T05:00:00Z", 51);
}

fn five_years_ahead(db: &TestDb) {
    a_day_at(db, "2031-12-06T05:00:00Z", 52);
}

/// Log in, look a voucher up, read a report and write as the operator, all at `now`; then the same
/// sessions just before and just after their expiry on the server's clock.
fn a_day_at(db: &TestDb, now: &str, seed: u32) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, now);
    let month = server.month();
    let op = server.operator_token();
    // No MRP is known for these years: the operator sets the month's rate (a write).
    let (s, b) = server.put(&format!("/api/v1/rates/{month}"), Some(&op), &json!({"default_tiyn": 432_500}));
    assert_eq!(s, 200, "{b}");
    let w = setup(db, &server, seed);
    w.activate(&server, 0);
    let till = cashier(&server, "SHOP-A", "T1");
    let token = w.qr(&server, 0);
    let (s, b) = server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": token}));
    assert_eq!((s, b["balance_tiyn"].as_i64()), (200, Some(432_500)), "{b}");
    let day = &now[..10];
    let (s, b) = server.get(&format!("/api/v1/reports/daily?date={day}&format=json"), Some(&op));
    assert_eq!(s, 200, "{b}");
    let (s, b) = server.get(&format!("/api/v1/pos/reports/daily?date={day}"), Some(&till));
    assert_eq!(s, 200, "{b}");
    let (s, b) = server.put(
        "/api/v1/shops/SHOP-B",
        Some(&op),
        &json!({"name": "Магазин B", "kato": "551010000", "address": "ул. 2"}),
    );
    assert_eq!(s, 200, "{b}");
    drop(server);

    // The cashier's session lasts 12 hours and the operator's 8, on the server's clock.
    let start: chrono::DateTime<chrono::Utc> = now.parse().unwrap();
    let at = |h: i64, m: i64| (start + chrono::Duration::hours(h) + chrono::Duration::minutes(m)).to_rfc3339();
    let server = Server::start(db, &at(7, 58));
    assert_eq!(server.get("/api/v1/pos/catalog", Some(&till)).0, 200);
    assert_eq!(server.get("/api/v1/catalog/groups", Some(&op)).0, 200);
    drop(server);
    let server = Server::start(db, &at(8, 1));
    assert_eq!(server.get("/api/v1/pos/catalog", Some(&till)).0, 200);
    let (s, b) = server.get("/api/v1/catalog/groups", Some(&op));
    assert_eq!((s, b["error"]["message"].as_str()), (401, Some("Сессия истекла, войдите снова")), "{b}");
    drop(server);
    let server = Server::start(db, &at(12, 1));
    assert_eq!(code(&server.get("/api/v1/pos/catalog", Some(&till))), (401, "unauthorized".into()));
    // A wallet JWT of the identity provider is judged on the server's clock too.
    let fresh = server.wallet_token(&w.iins[0]);
    assert_eq!(server.get("/api/v1/wallet/vouchers", Some(&fresh)).0, 200);
    let stale = wallet_token_at(&w.iins[0], start - chrono::Duration::days(2));
    assert_eq!(code(&server.get("/api/v1/wallet/vouchers", Some(&stale))), (401, "unauthorized".into()));
    check_books(db);
}
