//! The signals report (issue 15, SPEC §6) on a month seeded with each pattern through the till, the
//! clock moved by restarting the server; the expected counts are written out by hand below, and
//! read back from JSON, CSV and XLSX, and from the pilot summary's section.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::reports::{csv_sections, get_bytes, xlsx_sheet};
use crate::shop::*;
use crate::world::*;

on_both!(signals_of_a_seeded_month => signals_sqlite, signals_postgres);

/// Sells and pays: a basket that stands.
fn sold(server: &Server, w: &World, till: &str, m: usize, key: &str, lines: Value) -> Value {
    let r = sell(server, w, till, m, key, lines);
    assert_eq!(r.0, 201, "{key}: {}", r.1);
    pay(server, till, &r.1);
    r.1
}

fn signals_of_a_seeded_month(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "vw", "viewer");
    // 10:00 Almaty: shop A, voucher 0.
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 18);
    catalogue(&server, &w.op);
    let limits = json!({"limits": [{"group": "bread", "region": "55", "max_shelf_price_tiyn": 25_000}]});
    assert_eq!(server.put("/api/v1/catalog/limits", Some(&w.op), &limits).0, 200);
    w.activate(&server, 0);
    w.activate(&server, 1);
    let a = cashier(&server, "SHOP-A", "T1");
    // B1: milk at exactly its 15 % cap (100,00 → 85,00) — A at_cap 1.
    sold(&server, &w, &a, 0, "b1", json!([line(MILK, 1, 10_000, 8_500)]));
    // Bread over the limit — A price_over_limit 1.
    let r = sell(&server, &w, &a, 0, "over", json!([line(BREAD, 1, 26_000, 23_400)]));
    assert_eq!(refusal(&r).1, "price_over_limit");
    drop(server);

    // 10:05: the same voucher at shop C, 5 minutes after shop A — C two_shops 1. Its discount
    // (10,00 ₸) makes it small: the first of voucher 0 at C today.
    let server = Server::start(db, "2026-12-06T05:05:00Z");
    let c = cashier(&server, "SHOP-C", "T1");
    sold(&server, &w, &c, 0, "b2", json!([line(MILK, 1, 10_000, 9_000)]));
    drop(server);

    // 10:30: two more small baskets of voucher 0 at C — the third of the day: C small_baskets 1.
    // Shop A was 30 minutes ago: no two_shops.
    let server = Server::start(db, "2026-12-06T05:30:00Z");
    let c = cashier(&server, "SHOP-C", "T1");
    sold(&server, &w, &c, 0, "b3", json!([line(MILK, 1, 10_000, 9_000)]));
    sold(&server, &w, &c, 0, "b4", json!([line(MILK, 1, 10_000, 9_000)]));
    drop(server);

    // 11:00: voucher 1 at A, authorised and never paid (its hold runs out at 11:10).
    let server = Server::start(db, "2026-12-06T06:00:00Z");
    let a = cashier(&server, "SHOP-A", "T1");
    let r = sell(&server, &w, &a, 1, "b5", json!([line(MILK, 1, 10_000, 9_000)]));
    assert_eq!(r.0, 201, "{}", r.1);
    drop(server);

    // 11:15: voucher 1 again at A, 5 minutes after its hold ran out — A after_hold_expired 1 —
    // for a discount of exactly 500,00 ₸ (two flour at 2 000,00 → 1 750,00) — A round_sum 1.
    let server = Server::start(db, "2026-12-06T06:15:00Z");
    let a = cashier(&server, "SHOP-A", "T1");
    let b6 = sold(&server, &w, &a, 1, "b6", json!([line(FLOUR, 2, 200_000, 175_000)]));
    assert_eq!(b6["discount_tiyn"], 50_000);
    drop(server);

    // 23:30 Almaty: after the usual hours (07–23) — A outside_hours 1. Voucher 1's second small
    // basket of the day at A: not the third.
    let server = Server::start(db, "2026-12-06T18:30:00Z");
    let a = cashier(&server, "SHOP-A", "T1");
    sold(&server, &w, &a, 1, "b7", json!([line(MILK, 1, 10_000, 9_000)]));

    // By hand, in SignalCode order: price_over_limit, at_cap, two_shops, small_baskets,
    // after_hold_expired, round_sum, outside_hours, offline_shortfall, token_twice (no offline sales
    // here: tests/e2e/offline.rs counts those). Shop K sold nothing: not listed.
    let expected = [("SHOP-A", [1, 1, 0, 0, 1, 1, 1, 0, 0]), ("SHOP-C", [0, 0, 1, 1, 0, 0, 0, 0, 0])];
    let codes = [
        "price_over_limit",
        "at_cap",
        "two_shops",
        "small_baskets",
        "after_hold_expired",
        "round_sum",
        "outside_hours",
        "offline_shortfall",
        "token_twice",
    ];
    let vw = viewer(&server, "vw");
    let (s, report) = server.get("/api/v1/reports/signals?month=2026-12&format=json", Some(&vw));
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["month"], "2026-12");
    let counts = |shop: &Value| -> Vec<(String, i64)> {
        shop["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["code"].as_str().unwrap().to_owned(), s["count"].as_i64().unwrap()))
            .collect()
    };
    let shops = report["shops"].as_array().unwrap();
    assert_eq!(shops.iter().map(|s| s["shop_id"].as_str().unwrap()).collect::<Vec<_>>(), ["SHOP-A", "SHOP-C"]);
    for ((id, want), got) in expected.iter().zip(shops) {
        let want: Vec<(String, i64)> = codes.iter().map(|c| (*c).to_owned()).zip(want.iter().copied()).collect();
        assert_eq!((got["shop_id"].as_str(), counts(got)), (Some(*id), want), "{report}");
        assert_eq!(got["name"], format!("Магазин {id}"));
        assert!(got["signals"].as_array().unwrap().iter().all(|s| !s["detail"].as_str().unwrap().is_empty()));
    }
    let outside = shops[0]["signals"].as_array().unwrap().iter().find(|s| s["code"] == "outside_hours").unwrap();
    assert!(outside["detail"].as_str().unwrap().contains("07:00–23:00"), "{outside}");
    for personal in [&w.iins[0], &w.iins[1], &w.phone.to_string(), &"Айгерим".to_string(), &"FAM".to_string()] {
        assert!(!report.to_string().contains(personal.as_str()), "personal data in the report: {personal}");
    }

    // The same counts in CSV (a column per signal) and XLSX.
    let (s, csv) = server.get_text("/api/v1/reports/signals?month=2026-12&format=csv", &vw);
    assert_eq!(s, 200);
    let sections = csv_sections(csv.as_bytes());
    assert_eq!(sections["meta"][0]["month"], "2026-12");
    assert_eq!(sections["legend"].len(), codes.len());
    for ((id, want), row) in expected.iter().zip(&sections["signal"]) {
        assert_eq!(row["shop_id"], *id);
        for (c, n) in codes.iter().zip(want) {
            assert_eq!(row[*c], n.to_string(), "CSV {id} {c}");
        }
    }
    let xlsx = get_bytes(&server, "/api/v1/reports/signals?month=2026-12&format=xlsx", &vw);
    let sheet = xlsx_sheet(&xlsx, "Сигналы");
    assert_eq!(sheet.len(), 3, "{sheet:?}");
    for ((id, want), row) in expected.iter().zip(&sheet[1..]) {
        assert_eq!(row[0], *id);
        let got: Vec<String> = row[3..3 + codes.len()].to_vec();
        assert_eq!(got, want.iter().map(ToString::to_string).collect::<Vec<_>>(), "XLSX {id}");
    }

    // The pilot summary carries the same section, for the days it covers.
    let (s, summary) = server.get("/api/v1/reports/summary?from=2026-12-01&to=2026-12-06", Some(&vw));
    assert_eq!(s, 200, "{summary}");
    assert_eq!(summary["signals"].as_array().map(Vec::len), Some(2));
    assert_eq!(counts(&summary["signals"][0]), counts(&shops[0]));
    assert_eq!(counts(&summary["signals"][1]), counts(&shops[1]));
    assert_eq!(shop_row(&summary, "SHOP-A")["refused_over_limit"], 1);
    // A month before: no shop. Bad month or format: 400. A cashier: 403.
    let (s, empty) = server.get("/api/v1/reports/signals?month=2026-11", Some(&vw));
    assert_eq!((s, empty["shops"].clone()), (200, json!([])));
    assert_eq!(code(&server.get("/api/v1/reports/signals?month=2026-13", Some(&vw))), (400, "validation".into()));
    assert_eq!(code(&server.get("/api/v1/reports/signals", Some(&vw))), (400, "validation".into()));
    assert_eq!(
        code(&server.get("/api/v1/reports/signals?month=2026-12&format=pdf", Some(&vw))),
        (400, "validation".into())
    );
    assert_eq!(code(&server.get("/api/v1/reports/signals?month=2026-12", Some(&a))), (403, "forbidden".into()));
    drop(server);

    // The CLI writes the same report, signed.
    let out = db.dir.path().join("signals.csv");
    let run = cli(db, "2026-12-07T05:00:00Z")
        .args(["report", "signals", "--month", "2026-12", "--format", "csv", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(csv_sections(&std::fs::read(&out).unwrap())["signal"], sections["signal"]);
    check_books(db);
}
