//! What the shop-rules scenarios (limits, scale labels, recalls, signals) share: a catalogue with
//! bread and a PLU on the potatoes, a viewer's session, a sale with a fresh QR code.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::world::*;

/// Wheat bread, sold by the piece (no cap of its own: its group's applies).
pub const BREAD: &str = "04870000000029";
/// The PLU that the shop's scales print on potato labels.
pub const POTATO_PLU: &str = "00042";

/// The world's catalogue plus bread, milk and potatoes without caps of their own, and the
/// potatoes' PLU; flour keeps its own 15 % cap.
pub fn catalogue(server: &Server, op: &str) {
    assert_eq!(gtin("0487000000002"), BREAD);
    let catalog = json!({"products": [
        {"gtin": MILK, "group": "milk", "name": "Молоко 2.5% 1 л", "unit": "piece"},
        {"gtin": FLOUR, "group": "flour", "name": "Мука 1 с. 2 кг", "unit": "piece", "discount_cap_bp": 1500},
        {"gtin": POTATOES, "group": "potatoes", "name": "Картофель", "unit": "kg", "plu": POTATO_PLU},
        {"gtin": BREAD, "group": "bread", "name": "Хлеб пшеничный 500 г", "unit": "piece"},
    ]});
    let (s, b) = server.put("/api/v1/catalog", Some(op), &catalog);
    assert_eq!((s, b["products"].as_u64()), (200, Some(4)), "{b}");
}

/// Logs in a viewer made with `create_operator(db, login, "viewer")`.
pub fn viewer(server: &Server, login: &str) -> String {
    let (s, b) = server.post("/api/v1/sessions", None, &json!({"login": login, "password": OPERATOR_PASSWORD}));
    assert_eq!((s, b["role"].as_str()), (200, Some("viewer")), "{b}");
    b["token"].as_str().unwrap().to_owned()
}

/// Authorises `lines` at a till with a fresh QR code of member `m`, under `key`.
pub fn sell(server: &Server, w: &World, till: &str, m: usize, key: &str, lines: Value) -> (u16, Value) {
    let body = json!({"tokens": [w.qr(server, m)], "lines": lines});
    post_keyed(server, "/api/v1/pos/baskets", till, key, &body)
}

/// Captures an authorised basket, paid in cash.
pub fn pay(server: &Server, till: &str, basket: &Value) {
    let id = basket["basket_id"].as_i64().unwrap();
    let pay = json!({"payment": {"method": "cash", "paid_tiyn": basket["to_pay_tiyn"]}});
    let r = post_keyed(server, &format!("/api/v1/pos/baskets/{id}/capture"), till, &format!("pay-{id}"), &pay);
    assert_eq!(r.0, 200, "{}", r.1);
}

/// An error answer's status, code, line and field.
pub fn refusal(r: &(u16, Value)) -> (u16, String, Option<u64>, Option<String>) {
    let e = &r.1["error"];
    (r.0, e["code"].as_str().unwrap_or_default().to_owned(), e["line"].as_u64(), e["field"].as_str().map(str::to_owned))
}

/// A shop's row of a report's `shops`.
pub fn shop_row<'a>(report: &'a Value, shop: &str) -> &'a Value {
    report["shops"].as_array().and_then(|s| s.iter().find(|r| r["shop_id"] == shop)).unwrap_or(&Value::Null)
}
