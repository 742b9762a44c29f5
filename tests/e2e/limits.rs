//! Price limits (issue 15, SPEC §3.3): bread above the region's limit refused, at the limit with
//! the group's cap refused above the cap and accepted at it, a group without a limit unaffected, a
//! product's own cap over its group's; the till's catalogue carries the limits; every bad table
//! refused with its field and nothing stored; the daily report counts the refusals per shop, a
//! retry with the same key once.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::shop::*;
use crate::world::*;

on_both!(price_limits_per_group_and_region => limits_sqlite, limits_postgres);

const LIMITS: &str = "/api/v1/catalog/limits";

fn price_limits_per_group_and_region(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "vw", "viewer");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 15);
    catalogue(&server, &w.op);
    w.activate(&server, 0);
    let till = cashier(&server, "SHOP-A", "T1"); // Pavlodar, region 55

    // Bread in Pavlodar: at most 250,00 ₸ a loaf and 10 % off; in Kokshetau (11) 100,00 ₸. Flour's
    // group cap is 5 %, but the flour product has its own 15 %. Milk has no row.
    let table = json!({"limits": [
        {"group": "bread", "region": "55", "max_shelf_price_tiyn": 25_000, "discount_cap_bp": 1_000},
        {"group": "bread", "region": "11", "max_shelf_price_tiyn": 10_000},
        {"group": "flour", "region": "55", "discount_cap_bp": 500},
    ]});
    let (s, put) = server.put(LIMITS, Some(&w.op), &table);
    assert_eq!(s, 200, "{put}");
    let expected = json!([
        {"group": "bread", "region": "11", "max_shelf_price_tiyn": 10_000, "discount_cap_bp": null},
        {"group": "bread", "region": "55", "max_shelf_price_tiyn": 25_000, "discount_cap_bp": 1_000},
        {"group": "flour", "region": "55", "max_shelf_price_tiyn": null, "discount_cap_bp": 500},
    ]);
    assert_eq!(put["limits"], expected);
    let (s, got) = server.get(LIMITS, Some(&w.op));
    assert_eq!((s, &got["limits"]), (200, &expected));
    // Only the operator reads or sets it.
    let vw = viewer(&server, "vw");
    assert_eq!(code(&server.get(LIMITS, Some(&vw))), (403, "forbidden".into()));
    assert_eq!(code(&server.put(LIMITS, Some(&vw), &table)), (403, "forbidden".into()));
    assert_eq!(code(&server.get(LIMITS, Some(&till))), (403, "forbidden".into()));

    // Bad tables: each refused naming its field, and nothing stored.
    let bad = |row: Value, field: &str| {
        let r = server.put(LIMITS, Some(&w.op), &json!({"limits": [table["limits"][0].clone(), row]}));
        assert_eq!(
            (r.0, r.1["error"]["code"].as_str(), r.1["error"]["field"].as_str()),
            (400, Some("validation"), Some(field)),
            "{}",
            r.1
        );
        assert_eq!(server.get(LIMITS, Some(&w.op)).1["limits"], expected, "a refused table changed nothing");
    };
    bad(json!({"group": "caviar", "region": "55", "max_shelf_price_tiyn": 100}), "limits[1].group");
    bad(json!({"group": "milk", "region": "99", "max_shelf_price_tiyn": 100}), "limits[1].region");
    bad(json!({"group": "milk", "region": "5", "max_shelf_price_tiyn": 100}), "limits[1].region");
    bad(json!({"group": "milk", "region": "55", "max_shelf_price_tiyn": -100}), "limits[1].max_shelf_price_tiyn");
    bad(json!({"group": "milk", "region": "55", "max_shelf_price_tiyn": 0}), "limits[1].max_shelf_price_tiyn");
    bad(json!({"group": "milk", "region": "55", "discount_cap_bp": 10_001}), "limits[1].discount_cap_bp");
    bad(json!({"group": "milk", "region": "55"}), "limits[1]");
    bad(json!({"group": "bread", "region": "55", "discount_cap_bp": 100}), "limits[1]");

    // The till's catalogue carries the limit and the cap in force for the shop's region.
    let (s, cat) = server.get("/api/v1/pos/catalog", Some(&till));
    assert_eq!(s, 200, "{cat}");
    let product = |gtin: &str| cat["products"].as_array().unwrap().iter().find(|p| p["gtin"] == gtin).unwrap().clone();
    let pick = |p: Value| (p["max_shelf_price_tiyn"].clone(), p["discount_cap_bp"].clone());
    assert_eq!(pick(product(BREAD)), (json!(25_000), json!(1_000)));
    assert_eq!(pick(product(FLOUR)), (json!(null), json!(1_500)), "the product's own cap wins over its group's");
    assert_eq!(pick(product(MILK)), (json!(null), json!(1_500)), "no row: no limit, the default cap");
    assert_eq!(product(POTATOES)["plu"], POTATO_PLU);

    // azyq-pos refuses it before sending: the server hears of no refusal.
    let (qr, bread_line) = (w.qr(&server, 0), format!("{BREAD}:1:25001:22600"));
    let args =
        ["sale", "--shop", "SHOP-A", "--terminal", "T9", "--login", "kassa", "--token", &qr, "--line", &bread_line];
    let (status, _, err) = crate::pos_cli::pos_run(&server, CASHIER_PASSWORD, &args);
    assert!(!status.success() && err.contains("[price_over_limit]") && err.contains("250,00 ₸"), "{err}");
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM refusals"), 0, "nothing was sent");

    // Bread above the limit: refused with the line and the limit. A retry with the same key hears
    // the same answer (and is counted once); another attempt is another refusal.
    let over = json!([line(MILK, 1, 10_000, 9_000), line(BREAD, 1, 25_001, 22_600)]);
    let first = sell(&server, &w, &till, 0, "over-1", over.clone());
    assert_eq!(refusal(&first), (422, "price_over_limit".into(), Some(1), None), "{}", first.1);
    assert_eq!(first.1["error"]["max_shelf_price_tiyn"], 25_000);
    let body = json!({"tokens": [w.qr(&server, 0)], "lines": over});
    let retry = |key: &str| post_keyed(&server, "/api/v1/pos/baskets", &till, key, &body);
    let (a, b) = (retry("over-2"), retry("over-2"));
    assert_eq!(a, b);
    assert_eq!(refusal(&a).1, "price_over_limit");
    // At the limit, 12 % off is over bread's 10 % group cap; 10 % is accepted.
    let r = sell(&server, &w, &till, 0, "cap-over", json!([line(BREAD, 2, 25_000, 22_000)]));
    assert_eq!(refusal(&r), (422, "discount_over_cap".into(), Some(0), None), "{}", r.1);
    assert_eq!(
        (r.1["error"]["cap_bp"].as_i64(), r.1["error"]["max_discount_tiyn"].as_i64()),
        (Some(1_000), Some(2_500))
    );
    let ok = sell(&server, &w, &till, 0, "at-limit", json!([line(BREAD, 2, 25_000, 22_500)]));
    assert_eq!((ok.0, ok.1["discount_tiyn"].as_i64()), (201, Some(5_000)), "{}", ok.1);
    pay(&server, &till, &ok.1);
    // Milk has no limit: any shelf price sells (20 000,00 ₸, 1 % off). Flour: its own 15 % cap
    // over its group's 5 %.
    let free = json!([line(MILK, 1, 2_000_000, 1_980_000), line(FLOUR, 1, 100_000, 85_000)]);
    let ok = sell(&server, &w, &till, 0, "free", free);
    assert_eq!((ok.0, ok.1["discount_tiyn"].as_i64()), (201, Some(35_000)), "{}", ok.1);
    pay(&server, &till, &ok.1);
    // Kokshetau's bread limit is not Pavlodar's: 250,00 ₸ sells here.
    let r = sell(&server, &w, &till, 0, "other-region", json!([line(BREAD, 1, 25_000, 22_500)]));
    assert_eq!(r.0, 201, "{}", r.1);
    pay(&server, &till, &r.1);

    // The day's report counts the refusals per shop: "over-1" and "over-2" (its retry once).
    let (s, day) = server.get("/api/v1/reports/daily?date=2026-12-06", Some(&vw));
    assert_eq!(s, 200, "{day}");
    let a = shop_row(&day, "SHOP-A");
    assert_eq!((a["refused_over_limit"].as_i64(), a["refused_recalled"].as_i64()), (Some(2), Some(0)), "{day}");
    assert_eq!(a["baskets_captured"], 3);
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM refusals WHERE code = 'price_over_limit'"), 2);
    drop(server);
    check_books(db);
}
