//! In-store scale labels (issue 15, SPEC §5): 1 250 g of potatoes at 300,00 ₸/kg with 255,00 ₸/kg
//! reduced is 56,25 ₸ off; a mismatched quantity, a wrong check digit and an unknown PLU are
//! refused; a bad PLU in the catalogue is refused with its field and nothing stored.

use azyq_shared::gs1::{Plu, ScaleLabel};
use azyq_shared::Tiyn;
use serde_json::json;

use crate::helpers::*;
use crate::on_both;
use crate::shop::*;
use crate::world::*;

on_both!(scale_labels => scale_sqlite, scale_postgres);

fn label(plu: &str, grams: u32) -> String {
    ScaleLabel::weight(1, Plu::parse(plu).unwrap(), grams).unwrap().to_ean13()
}

fn scale_labels(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 16);
    catalogue(&server, &w.op);
    w.activate(&server, 0);
    let till = cashier(&server, "SHOP-A", "T1");

    // The label the scale printed for 1 250 g of PLU 00042, written out: 21 00042 01250 and its
    // check digit.
    let potatoes = label(POTATO_PLU, 1_250);
    assert_eq!(potatoes, "2100042012509");
    let r = sell(&server, &w, &till, 0, "label", json!([line(&potatoes, 1_250, 30_000, 25_500)]));
    assert_eq!(r.0, 201, "{}", r.1);
    // 1,25 kg × 300,00 = 375,00 ₸ on the shelf, × 255,00 = 318,75 ₸ to pay: 56,25 ₸ off.
    assert_eq!((r.1["discount_tiyn"].as_i64(), r.1["to_pay_tiyn"].as_i64()), (Some(5_625), Some(31_875)));
    let l = &r.1["lines"][0];
    assert_eq!(
        (l["gtin"].as_str(), l["unit"].as_str(), l["quantity"].as_i64()),
        (Some(POTATOES), Some("kg"), Some(1_250))
    );
    assert_eq!(l["shelf_amount_tiyn"], 37_500);
    pay(&server, &till, &r.1);
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500 - 5_625));
    // The weight may be left out: the label says it. Another code may not leave it out.
    let no_quantity = |code: &str| json!([{"code": code, "shelf_price_tiyn": 30_000, "reduced_price_tiyn": 25_500}]);
    let r = sell(&server, &w, &till, 0, "label-no-quantity", no_quantity(&potatoes));
    assert_eq!(
        (r.0, r.1["lines"][0]["quantity"].as_i64(), r.1["discount_tiyn"].as_i64()),
        (201, Some(1_250), Some(5_625)),
        "{}",
        r.1
    );
    let r = sell(&server, &w, &till, 0, "gtin-no-quantity", no_quantity(POTATOES));
    assert_eq!(refusal(&r), (400, "validation".into(), Some(0), Some("lines[0].quantity".into())), "{}", r.1);

    // A quantity other than the label's weight.
    let r = sell(&server, &w, &till, 0, "other-weight", json!([line(&potatoes, 1_000, 30_000, 25_500)]));
    assert_eq!(refusal(&r), (400, "validation".into(), Some(0), Some("lines[0].quantity".into())), "{}", r.1);
    assert_eq!(r.1["error"]["label_grams"], 1_250);
    // A wrong check digit: 9 → 8.
    let wrong = format!("{}8", &potatoes[..12]);
    let r = sell(&server, &w, &till, 0, "check-digit", json!([line(&wrong, 1_250, 30_000, 25_500)]));
    assert_eq!(refusal(&r), (422, "code_invalid".into(), Some(0), None), "{}", r.1);
    assert_eq!(r.1["error"]["reason"], "label_check_digit");
    // A PLU the catalogue does not know.
    let r = sell(&server, &w, &till, 0, "unknown-plu", json!([line(&label("00043", 700), 700, 30_000, 25_500)]));
    assert_eq!(refusal(&r), (422, "not_szpt_product".into(), Some(0), None), "{}", r.1);
    // The GTIN-14 form of a restricted number is a product code, as before.
    let r = sell(&server, &w, &till, 0, "gtin", json!([line(POTATOES, 500, 30_000, 25_500)]));
    assert_eq!(r.0, 201, "{}", r.1);

    // The catalogue: a PLU is five digits, one product's, and only on goods sold by weight.
    let before = server.get("/api/v1/catalog", Some(&w.op)).1;
    let with = |plu_a: &str, unit_b: &str, plu_b: &str| {
        json!({"products": [
            {"gtin": POTATOES, "group": "potatoes", "name": "Картофель", "unit": "kg", "plu": plu_a},
            {"gtin": BREAD, "group": "bread", "name": "Хлеб", "unit": unit_b, "plu": plu_b},
        ]})
    };
    for (body, field) in [
        (with("0042", "kg", "00050"), "products[0].plu"),
        (with("000420", "kg", "00050"), "products[0].plu"),
        (with("00A42", "kg", "00050"), "products[0].plu"),
        (with("00042", "kg", "00042"), "products[1].plu"),
        (with("00042", "piece", "00050"), "products[1].plu"),
    ] {
        let r = server.put("/api/v1/catalog", Some(&w.op), &body);
        assert_eq!(refusal(&r), (400, "validation".into(), None, Some(field.into())), "{body}: {}", r.1);
    }
    assert_eq!(server.get("/api/v1/catalog", Some(&w.op)).1, before, "a refused list changed nothing");
    drop(server);
    check_books(db);
}
