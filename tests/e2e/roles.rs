//! Who may do what (SPEC §7), as one table: every endpoint against an operator, a viewer, a
//! cashier of shop A and one of shop C, a recipient of family A and one of family B, and an
//! anonymous caller. A cell says what that caller must get: through (`o`, any answer but 401 or
//! 403), 403 (`f`), 401 (`u`), or 404 for another family's voucher or basket (`n`).

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(every_endpoint_against_every_caller => roles_sqlite, roles_postgres);

/// Callers in column order.
const CALLERS: [&str; 7] = ["operator", "viewer", "cashier A", "cashier C", "recipient A", "recipient B", "anonymous"];

fn every_endpoint_against_every_caller(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "vw", "viewer");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 111);
    let v_a = w.activate(&server, 0);
    // Family B, in the same region.
    let iin_b = iin(112, 1);
    let list = json!({"families": [{"family_id": "FAM-B", "kato": "551010000", "phone": "+77015550077",
        "members": [{"iin": iin_b, "name": "Бота Боранова", "birth_date": "1991-01-01"}]}]});
    let month = server.month();
    assert_eq!(server.post(&format!("/api/v1/months/{month}/recipients"), Some(&w.op), &list).0, 200);
    assert_eq!(server.post(&format!("/api/v1/months/{month}/consent-requests"), Some(&w.op), &json!({})).0, 200);
    assert_eq!(server.sms_reply("+77015550077", "21*1"), "yes");
    let (s, b) = server.post("/api/v1/sessions", None, &json!({"login": "vw", "password": OPERATOR_PASSWORD}));
    assert_eq!(s, 200, "{b}");
    let viewer = b["token"].as_str().unwrap().to_owned();
    let cash_a = cashier(&server, "SHOP-A", "T1");
    let cash_c = cashier(&server, "SHOP-C", "T1");
    // Two open baskets of shop A (one to cancel).
    let basket = |key: &str| {
        let body = json!({"tokens": [w.qr(&server, 0)], "lines": [line(FLOUR, 1, 10_000, 9_000)]});
        let (s, a) = post_keyed(&server, "/api/v1/pos/baskets", &cash_a, key, &body);
        assert_eq!(s, 201, "{a}");
        a["basket_id"].as_i64().unwrap()
    };
    let (id, to_cancel) = (basket("m1"), basket("m2"));
    let tokens: [Option<String>; 7] = [
        Some(w.op.clone()),
        Some(viewer),
        Some(cash_a.clone()),
        Some(cash_c),
        Some(server.wallet_token(&w.iins[0])),
        Some(server.wallet_token(&iin_b)),
        None,
    ];
    let day = &NOW[..10];
    let localities = json!([{"kato": "111010000", "name": "Кокшетау"}, {"kato": "113220100", "name": "Акколь"}, {"kato": "551010000", "name": "Павлодар"}]);
    let catalog = json!({"products": [
        {"gtin": MILK, "group": "milk", "name": "Молоко 2.5% 1 л", "unit": "piece"},
        {"gtin": FLOUR, "group": "flour", "name": "Мука 1 с. 2 кг", "unit": "piece", "discount_cap_bp": 1500},
        {"gtin": POTATOES, "group": "potatoes", "name": "Картофель", "unit": "kg", "discount_cap_bp": 2000}]});
    let shop = json!({"name": "Магазин Z", "kato": "551010000", "address": "ул. 3"});
    let staff_op = "offfuuu";
    let reports = "ooffuuu";
    let till_a_only = "ffofuuu";
    let till_any = "ffoouuu";
    let wallet_own = "uuuuonu";
    let wallet_list = "uuuuoou";
    let public = "ooooooo";
    type Row = (&'static str, String, Option<Value>, &'static str);
    let table: Vec<Row> = vec![
        ("GET", "/api/v1/localities".into(), None, staff_op),
        ("PUT", "/api/v1/localities".into(), Some(localities), staff_op),
        ("GET", "/api/v1/shops/SHOP-A".into(), None, staff_op),
        ("PUT", "/api/v1/shops/SHOP-Z".into(), Some(shop), staff_op),
        (
            "POST",
            "/api/v1/shops/SHOP-A/cashiers".into(),
            Some(json!({"login": "extra", "password": "extra-password"})),
            staff_op,
        ),
        ("DELETE", "/api/v1/shops/SHOP-A/cashiers/nobody".into(), None, staff_op),
        ("GET", "/api/v1/catalog/groups".into(), None, staff_op),
        ("GET", "/api/v1/catalog".into(), None, staff_op),
        ("PUT", "/api/v1/catalog".into(), Some(catalog), staff_op),
        ("GET", format!("/api/v1/rates/{month}"), None, staff_op),
        ("PUT", format!("/api/v1/rates/{month}"), Some(json!({"default_tiyn": 432_500})), staff_op),
        ("GET", "/api/v1/programme".into(), None, staff_op),
        (
            "PUT",
            "/api/v1/programme".into(),
            Some(json!({"from_month": PROGRAMME.0, "to_month": PROGRAMME.1})),
            staff_op,
        ),
        ("POST", format!("/api/v1/months/{month}/recipients"), Some(json!({"families": []})), staff_op),
        ("POST", format!("/api/v1/months/{month}/consent-requests"), Some(json!({})), staff_op),
        ("POST", format!("/api/v1/months/{month}/close"), Some(json!({})), staff_op),
        ("GET", format!("/api/v1/reports/daily?date={day}"), None, reports),
        ("GET", format!("/api/v1/reports/summary?from={day}&to={day}"), None, reports),
        ("GET", format!("/api/v1/reports/sdu-return?month={month}"), None, staff_op),
        ("GET", format!("/api/v1/reports/shops/SHOP-A/reconciliation?month={month}"), None, "ooofuuu"),
        ("GET", "/api/v1/catalog/limits".into(), None, staff_op),
        ("PUT", "/api/v1/catalog/limits".into(), Some(json!({"limits": []})), staff_op),
        ("GET", "/api/v1/recalls".into(), None, staff_op),
        ("POST", "/api/v1/recalls".into(), Some(json!({"gtin": MILK, "reason": "x"})), staff_op),
        ("DELETE", "/api/v1/recalls/999999".into(), None, staff_op),
        ("GET", format!("/api/v1/reports/signals?month={month}"), None, reports),
        ("GET", "/api/v1/pos/recalls".into(), None, till_any),
        ("GET", "/api/v1/pos/catalog".into(), None, till_any),
        ("POST", "/api/v1/pos/lookup".into(), Some(json!({"token": w.qr(&server, 0)})), till_any),
        ("POST", "/api/v1/pos/baskets".into(), Some(json!({"tokens": ["AZ1:x"], "lines": []})), till_any),
        ("GET", format!("/api/v1/pos/baskets/{id}"), None, till_a_only),
        (
            "POST",
            format!("/api/v1/pos/baskets/{id}/capture"),
            Some(json!({"payment": {"method": "cash", "paid_tiyn": 1}})),
            till_a_only,
        ),
        ("POST", format!("/api/v1/pos/baskets/{id}/refund"), Some(json!({})), till_a_only),
        ("POST", format!("/api/v1/pos/baskets/{to_cancel}/cancel"), Some(json!({})), till_a_only),
        ("GET", format!("/api/v1/pos/reports/daily?date={day}"), None, till_any),
        ("GET", "/api/v1/wallet/vouchers".into(), None, wallet_list),
        ("GET", "/api/v1/wallet/history".into(), None, wallet_list),
        ("GET", "/api/v1/wallet/notifications".into(), None, wallet_list),
        ("POST", format!("/api/v1/wallet/vouchers/{v_a}/activate"), Some(json!({})), wallet_own),
        ("POST", format!("/api/v1/wallet/vouchers/{v_a}/qr"), Some(json!({})), wallet_own),
        ("GET", format!("/api/v1/wallet/vouchers/{v_a}/qr.png"), None, wallet_own),
        ("POST", format!("/api/v1/wallet/baskets/{id}/feedback"), Some(json!({"rating": 5})), wallet_own),
        (
            "POST",
            "/api/v1/wallet/complaints".into(),
            Some(json!({"shop_id": "SHOP-A", "text": "Отказали на кассе", "occurred_on": day})),
            wallet_list,
        ),
        ("GET", "/api/v1/deliveries".into(), None, staff_op),
        ("GET", format!("/api/v1/complaints?month={month}"), None, staff_op),
        ("GET", "/health".into(), None, public),
        ("GET", "/.well-known/voucher-keys".into(), None, public),
        ("GET", "/.well-known/report-keys".into(), None, public),
        ("GET", "/api/openapi.json".into(), None, public),
        // The gateway's webhook wants its secret, whatever session a caller holds.
        ("POST", "/api/v1/sms/inbound".into(), Some(json!({"from": w.phone, "text": "21*1"})), "uuuuuuu"),
    ];
    let mut wrong = Vec::new();
    for (method, path, body, expected) in &table {
        for (i, want) in expected.chars().enumerate() {
            let (status, answer) = server.call(method, path, tokens[i].as_deref(), body.as_ref());
            let ok = match want {
                'o' => status != 401 && status != 403 && status < 500,
                'f' => status == 403 && answer["error"]["code"] == "forbidden",
                'u' => status == 401,
                'n' => status == 404,
                other => panic!("cell {other:?}"),
            };
            if !ok {
                wrong.push(format!("{method} {path} as {}: wanted {want}, got {status} {answer}", CALLERS[i]));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells wrong:\n{}", wrong.len(), wrong.join("\n"));
    eprintln!("roles: {} endpoints × {} callers as the table says", table.len(), CALLERS.len());
}
