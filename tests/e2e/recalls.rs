//! Food recalls (issue 15, SPEC §5): a recalled batch refused while another batch of the GTIN
//! sells; a recall of every batch; lifting a recall; the till's list; a viewer and a cashier
//! refused; a GTIN with a wrong check digit refused with nothing stored; the daily report counts
//! the refusals per recall.

use serde_json::json;

use crate::helpers::*;
use crate::on_both;
use crate::shop::*;
use crate::world::*;

on_both!(recalls_refuse_the_goods => recalls_sqlite, recalls_postgres);

const RECALLS: &str = "/api/v1/recalls";

fn recalls_refuse_the_goods(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "vw", "viewer");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 17);
    catalogue(&server, &w.op);
    w.activate(&server, 0);
    let till = cashier(&server, "SHOP-A", "T1");
    let vw = viewer(&server, "vw");

    // One batch of milk: listeria.
    let (s, milk) = server.post(
        RECALLS,
        Some(&w.op),
        &json!({"gtin": "4600000000015", "batch": "L2301", "reason": "Листерия в партии L2301"}),
    );
    assert_eq!(s, 201, "{milk}");
    assert_eq!((milk["gtin"].as_str(), milk["batch"].as_str()), (Some(MILK), Some("L2301")), "kept as GTIN-14");
    let milk_id = milk["id"].as_i64().unwrap();
    // The same batch again while it stands: refused, naming the standing recall.
    let again = server.post(RECALLS, Some(&w.op), &json!({"gtin": MILK, "batch": "L2301", "reason": "ещё раз"}));
    assert_eq!((refusal(&again).0, again.1["error"]["recall_id"].as_i64()), (400, Some(milk_id)), "{}", again.1);

    // Bad input: each refused naming its field, nothing stored.
    let before = server.get(RECALLS, Some(&w.op)).1;
    for (body, field) in [
        (json!({"gtin": "4600000000016", "reason": "x"}), "gtin"),
        (json!({"gtin": MILK, "batch": "", "reason": "x"}), "batch"),
        (json!({"gtin": MILK, "batch": "L 1", "reason": "x"}), "batch"),
        (json!({"gtin": MILK, "reason": " "}), "reason"),
    ] {
        let r = server.post(RECALLS, Some(&w.op), &body);
        assert_eq!(refusal(&r), (400, "validation".into(), None, Some(field.into())), "{body}: {}", r.1);
    }
    assert_eq!(server.get(RECALLS, Some(&w.op)).1, before);
    assert_eq!(before["recalls"].as_array().map(Vec::len), Some(1));

    // The operator's alone: a viewer and a cashier are refused every verb.
    for who in [&vw, &till] {
        assert_eq!(code(&server.get(RECALLS, Some(who))), (403, "forbidden".into()));
        assert_eq!(
            code(&server.post(RECALLS, Some(who), &json!({"gtin": MILK, "reason": "x"}))),
            (403, "forbidden".into())
        );
        assert_eq!(
            code(&server.call("DELETE", &format!("{RECALLS}/{milk_id}"), Some(who), None)),
            (403, "forbidden".into())
        );
    }
    // The till reads the recalls in force.
    let (s, list) = server.get("/api/v1/pos/recalls", Some(&till));
    assert_eq!((s, list["recalls"][0]["reason"].as_str()), (200, Some("Листерия в партии L2301")), "{list}");

    // azyq-pos warns before sending, with the reason: the server hears of no refusal.
    let (qr, milk_line) = (w.qr(&server, 0), format!("(01){MILK}(10)L2301:1:10000:9000"));
    let args =
        ["sale", "--shop", "SHOP-A", "--terminal", "T9", "--login", "kassa", "--token", &qr, "--line", &milk_line];
    let (status, _, err) = crate::pos_cli::pos_run(&server, CASHIER_PASSWORD, &args);
    assert!(
        !status.success() && err.contains("[product_recalled]") && err.contains("Листерия в партии L2301"),
        "{err}"
    );
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM refusals"), 0, "nothing was sent");

    // The recalled batch is refused with the line and the reason; another batch sells.
    let bad_batch = format!("(01){MILK}(10)L2301");
    let r =
        sell(&server, &w, &till, 0, "b1", json!([line(FLOUR, 1, 10_000, 9_000), line(&bad_batch, 1, 10_000, 9_000)]));
    assert_eq!(refusal(&r), (422, "product_recalled".into(), Some(1), None), "{}", r.1);
    assert_eq!(r.1["error"]["reason"], "Листерия в партии L2301");
    let r = sell(&server, &w, &till, 0, "b2", json!([line(&format!("(01){MILK}(10)L2302"), 1, 10_000, 9_000)]));
    assert_eq!(r.0, 201, "another batch sells: {}", r.1);
    pay(&server, &till, &r.1);

    // Every batch of flour.
    let (s, flour) =
        server.post(RECALLS, Some(&w.op), &json!({"gtin": FLOUR, "batch": null, "reason": "Посторонние примеси"}));
    assert_eq!((s, flour["batch"].clone()), (201, json!(null)), "{flour}");
    let flour_id = flour["id"].as_i64().unwrap();
    for (key, code) in
        [("f1", FLOUR.to_owned()), ("f2", format!("(01){FLOUR}(10)ANY7")), ("f3", format!("(01){FLOUR}(21)S1"))]
    {
        let r = sell(&server, &w, &till, 0, key, json!([line(&code, 1, 10_000, 9_000)]));
        assert_eq!(refusal(&r), (422, "product_recalled".into(), Some(0), None), "{code}: {}", r.1);
    }
    // Lifted: flour sells again, and lifting twice is 404.
    let (s, _) = server.call("DELETE", &format!("{RECALLS}/{flour_id}"), Some(&w.op), None);
    assert_eq!(s, 204);
    assert_eq!(
        code(&server.call("DELETE", &format!("{RECALLS}/{flour_id}"), Some(&w.op), None)),
        (404, "not_found".into())
    );
    assert_eq!(
        code(&server.call("DELETE", &format!("{RECALLS}/999999"), Some(&w.op), None)),
        (404, "not_found".into())
    );
    let r = sell(&server, &w, &till, 0, "f4", json!([line(FLOUR, 1, 10_000, 9_000)]));
    assert_eq!(r.0, 201, "{}", r.1);
    pay(&server, &till, &r.1);
    let (_, list) = server.get(RECALLS, Some(&w.op));
    assert_eq!(
        list["recalls"].as_array().map(|l| l.iter().map(|r| r["id"].as_i64()).collect::<Vec<_>>()),
        Some(vec![Some(milk_id)])
    );

    // The day's report: refusals per shop and per recall (the lifted one included, by its words).
    let (s, day) = server.get("/api/v1/reports/daily?date=2026-12-06", Some(&vw));
    assert_eq!(s, 200, "{day}");
    assert_eq!(shop_row(&day, "SHOP-A")["refused_recalled"], 4, "{day}");
    assert_eq!(
        day["recalls"],
        json!([
            {"recall_id": milk_id, "gtin": MILK, "batch": "L2301", "reason": "Листерия в партии L2301", "refusals": 1},
            {"recall_id": flour_id, "gtin": FLOUR, "batch": null, "reason": "Посторонние примеси", "refusals": 3},
        ])
    );
    drop(server);
    check_books(db);
}
