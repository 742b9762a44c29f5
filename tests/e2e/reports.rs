//! A month with known purchases: the daily report's figures, computed by hand here, in all three
//! formats; the signature checked and a one-byte change caught; the automatic export after the day
//! closes; `check` green on a good database and red after a balance is corrupted in SQL.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(reports_match_the_sales => reports_sqlite, reports_postgres);

/// The sections of the report CSV: section → rows as column → value.
pub(crate) fn csv_sections(bytes: &[u8]) -> HashMap<String, Vec<HashMap<String, String>>> {
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "CSV starts with a BOM");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&bytes[3..]);
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    let mut out: HashMap<String, Vec<HashMap<String, String>>> = HashMap::new();
    for rec in reader.records() {
        let rec = rec.expect("CSV record");
        let section = rec[0].to_owned();
        let cells: Vec<String> = rec.iter().skip(2).map(str::to_owned).collect();
        if &rec[1] == "header" {
            headers.insert(section.clone(), cells);
            out.entry(section).or_default();
        } else {
            let names = &headers[&section];
            out.entry(section).or_default().push(names.iter().cloned().zip(cells).collect());
        }
    }
    out
}

fn sell(server: &Server, till: &str, w: &World, key: &str, lines: Value) -> Value {
    let r = post_keyed(server, "/api/v1/pos/baskets", till, key, &json!({"tokens": [w.qr(server, 0)], "lines": lines}));
    assert_eq!(r.0, 201, "{}", r.1);
    r.1
}

fn pay(server: &Server, till: &str, basket: &Value) {
    let id = basket["basket_id"].as_i64().unwrap();
    let pay = json!({"payment": {"method": "cash", "paid_tiyn": basket["to_pay_tiyn"]}});
    let r = post_keyed(server, &format!("/api/v1/pos/baskets/{id}/capture"), till, &format!("pay-{id}"), &pay);
    assert_eq!(r.0, 200, "{}", r.1);
}

fn reports_match_the_sales(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "minister", "viewer");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 11);
    w.activate(&server, 0);
    w.activate(&server, 1);
    let till = cashier(&server, "SHOP-A", "T1");
    // B1: milk 50 000 → 42 500 and 1 500 g potatoes at 30 000 → 25 500 per kg; paid.
    let b1 = sell(
        &server,
        &till,
        &w,
        "b1",
        json!([line(&format!("(01){MILK}(21)R1"), 1, 50_000, 42_500), line(POTATOES, 1_500, 30_000, 25_500)]),
    );
    pay(&server, &till, &b1);
    // B2: two flour, cancelled.
    let b2 = sell(&server, &till, &w, "b2", json!([line(FLOUR, 2, 100_000, 85_000)]));
    assert_eq!(server.post(&format!("/api/v1/pos/baskets/{}/cancel", b2["basket_id"]), Some(&till), &json!({})).0, 200);
    // B3: one flour, paid, then refunded whole.
    let b3 = sell(&server, &till, &w, "b3", json!([line(FLOUR, 1, 100_000, 85_000)]));
    pay(&server, &till, &b3);
    let r = post_keyed(&server, &format!("/api/v1/pos/baskets/{}/refund", b3["basket_id"]), &till, "r3", &json!({}));
    assert_eq!(r.0, 200, "{}", r.1);

    // By hand: 2 vouchers of 432 500 issued and activated; 2 baskets captured (discount 14 250 +
    // 15 000, paid 80 750 + 85 000), 1 cancelled, 1 refund of 15 000; goods: 1 milk (7 500), 1 500 g
    // potatoes (6 750), 1 flour (15 000); consent: 1 start SMS, 1 yes.
    let region = json!({
        "region": "55", "region_name": "Павлодарская область", "region_name_kk": "Павлодар облысы", "vouchers_issued": 2, "vouchers_issued_tiyn": 865_000, "vouchers_activated": 2,
        "vouchers_activated_tiyn": 865_000, "vouchers_lapsed": 0, "vouchers_lapsed_tiyn": 0, "vouchers_expired": 0,
        "vouchers_expired_tiyn": 0, "baskets_captured": 2, "baskets_cancelled": 1, "baskets_hold_expired": 0, "refunds": 1,
        "discount_tiyn": 29_250, "paid_tiyn": 165_750, "refunded_tiyn": 15_000
    });
    let goods = json!([
        {"region": "55", "group": "flour", "pieces": 1, "grams": 0, "discount_tiyn": 15_000},
        {"region": "55", "group": "milk", "pieces": 1, "grams": 0, "discount_tiyn": 7_500},
        {"region": "55", "group": "potatoes", "pieces": 0, "grams": 1_500, "discount_tiyn": 6_750},
    ]);
    // People read names beside the codes: the region's, and the SZPT group's as the catalogue has it.
    let mut goods = goods;
    for g in goods.as_array_mut().unwrap() {
        let code = g["group"].as_str().unwrap().to_owned();
        let (ru, kk) = (
            db.scalar_text(&format!("SELECT name_ru AS t FROM catalog_groups WHERE code = '{code}'")),
            db.scalar_text(&format!("SELECT name_kk AS t FROM catalog_groups WHERE code = '{code}'")),
        );
        assert!(!ru.is_empty() && ru != code && kk != code, "{code}: {ru} / {kk}");
        g["region_name"] = json!("Павлодарская область");
        g["region_name_kk"] = json!("Павлодар облысы");
        g["group_name"] = json!(ru);
        g["group_name_kk"] = json!(kk);
    }
    let consent = json!([{"region": "55", "region_name": "Павлодарская область", "region_name_kk": "Павлодар облысы", "month": "2026-12", "sms_sent": 1, "reminders": 0, "yes": 1, "no": 0, "no_answer": 0, "no_phone": 0}]);

    let viewer = {
        let (_, b) =
            server.post("/api/v1/sessions", None, &json!({"login": "minister", "password": OPERATOR_PASSWORD}));
        b["token"].as_str().unwrap().to_owned()
    };
    let (s, j) = server.get("/api/v1/reports/daily?date=2026-12-06&format=json", Some(&viewer));
    assert_eq!(s, 200, "{j}");
    assert_eq!(j["regions"], json!([region]));
    let mut total = region.clone();
    total["region"] = json!("total");
    total["region_name"] = json!("Итого");
    total["region_name_kk"] = json!("Барлығы");
    assert_eq!(j["totals"], total);
    assert_eq!(j["goods"], goods);
    assert_eq!(j["consent"], consent);
    assert_eq!(j["shops"][0]["shop_id"], "SHOP-A");
    assert_eq!(j["shops"][0]["discount_tiyn"], 29_250);
    for personal in [&w.iins[0], &w.iins[1], &w.phone.to_string(), &"Айгерим".to_string()] {
        assert!(!j.to_string().contains(personal.as_str()), "personal data in the report");
    }

    // The same figures in CSV (parsed back) and XLSX (read back).
    let csv_bytes = get_bytes(&server, "/api/v1/reports/daily?date=2026-12-06&format=csv", &viewer);
    let sections = csv_sections(&csv_bytes);
    let r55 = &sections["region"][0];
    for (k, v) in region.as_object().unwrap() {
        assert_eq!(r55[k], v.as_i64().map_or_else(|| v.as_str().unwrap().to_owned(), |n| n.to_string()), "CSV {k}");
    }
    assert_eq!(r55["discount_kzt"], "292.50");
    assert_eq!(sections["goods"].len(), 3);
    assert_eq!(sections["goods"][2]["kg"], "1.500");
    assert_eq!(sections["consent"][0]["yes"], "1");
    assert_eq!(sections["total"][0]["paid_tiyn"], "165750");
    let xlsx = get_bytes(&server, "/api/v1/reports/daily?date=2026-12-06&format=xlsx", &viewer);
    let sheet = xlsx_sheet(&xlsx, "Регионы");
    let header = &sheet[0];
    let row = sheet.iter().find(|r| r.first().map(String::as_str) == Some("55")).expect("region 55 row");
    assert!(header.len() > 10, "{header:?}");
    assert!(row.iter().any(|c| c == "29250"), "{row:?}");
    assert!(row.iter().any(|c| c == "165750"), "{row:?}");
    assert!(row.iter().any(|c| c == "865000"), "{row:?}");

    // Refusals: a format we do not make, a day in the future, a day with nothing: zeros.
    assert_eq!(
        code(&server.get("/api/v1/reports/daily?date=2026-12-06&format=pdf", Some(&viewer))),
        (400, "validation".into())
    );
    assert_eq!(code(&server.get("/api/v1/reports/daily?date=2026-12-08", Some(&viewer))), (400, "validation".into()));
    let (s, empty) = server.get("/api/v1/reports/daily?date=2026-11-01", Some(&viewer));
    assert_eq!((s, empty["regions"].clone(), empty["totals"]["discount_tiyn"].clone()), (200, json!([]), json!(0)));
    // The SDU return is the operator's alone; reconciliation is the shop's own.
    assert_eq!(code(&server.get("/api/v1/reports/sdu-return?month=2026-12", Some(&viewer))), (403, "forbidden".into()));
    let (s, sdu) = server.get("/api/v1/reports/sdu-return?month=2026-12", Some(&w.op));
    assert_eq!((s, sdu["families"].clone()), (200, json!([])));
    let (s, rec) = server.get("/api/v1/reports/shops/SHOP-A/reconciliation?month=2026-12", Some(&till));
    assert_eq!(s, 200, "{rec}");
    assert_eq!(
        rec["totals"],
        json!({"baskets": 2, "discount_tiyn": 29_250, "paid_tiyn": 165_750, "refunded_tiyn": 15_000, "net_discount_tiyn": 14_250})
    );
    let other = cashier(&server, "SHOP-C", "T1");
    assert_eq!(
        code(&server.get("/api/v1/reports/shops/SHOP-A/reconciliation?month=2026-12", Some(&other))),
        (403, "forbidden".into())
    );
    let (s, summary) = server.get("/api/v1/reports/summary?from=2026-12-01&to=2026-12-06", Some(&viewer));
    assert_eq!((s, summary["totals"]["discount_tiyn"].clone()), (200, json!(29_250)));
    drop(server);

    // The CLI writes the same report with its checksum and signature; verify finds a one-byte change.
    let out = db.dir.path().join("cli-report.csv");
    let run = cli(db, "2026-12-07T05:00:00Z")
        .args(["report", "daily", "--date", "2026-12-06", "--format", "csv", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(csv_sections(&std::fs::read(&out).unwrap())["region"][0]["discount_tiyn"], "29250");
    let verify = |path: &std::path::Path| cli(db, NOW).args(["report", "verify"]).arg(path).output().unwrap();
    assert!(verify(&out).status.success());
    let mut bytes = std::fs::read(&out).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    std::fs::write(&out, &bytes).unwrap();
    let bad = verify(&out);
    assert!(!bad.status.success(), "a one-byte change must be caught");

    // The next day the scheduler exports the closed day, once, in all three formats, signed.
    let exports = db.dir.path().join("exports");
    let export_env = [("AZYQ_EXPORT_DIR", exports.to_str().unwrap())];
    let server = Server::start_with(db, "2026-12-07T05:00:00Z", &export_env);
    let json_file = exports.join("azyq-daily-2026-12-06.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !exports.join("azyq-daily-2026-12-06.json.sig").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for ext in ["csv", "xlsx", "json"] {
        for suffix in ["", ".sha256", ".sig"] {
            let f = exports.join(format!("azyq-daily-2026-12-06.{ext}{suffix}"));
            assert!(f.exists(), "{} missing", f.display());
        }
        assert!(verify(&exports.join(format!("azyq-daily-2026-12-06.{ext}"))).status.success());
    }
    let exported: Value = serde_json::from_slice(&std::fs::read(&json_file).unwrap()).unwrap();
    assert_eq!(exported["regions"], json!([region]));
    drop(server);
    assert_eq!(
        scalar(db, "SELECT COUNT(*) AS n FROM job_runs WHERE job = 'daily_export' AND job_key = '2026-12-06'"),
        1
    );

    // check: green now; red once a balance is changed behind the server's back.
    check_books(db);
    corrupt_a_balance(db);
    let out = cli(db, NOW).arg("check").output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MISMATCH"), "{text}");
}

pub(crate) fn get_bytes(server: &Server, path: &str, token: &str) -> Vec<u8> {
    let res = ureq::get(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("report");
    assert!(res.header("X-Content-SHA256").is_some_and(|h| h.len() == 64));
    assert!(res.header("X-Signature").is_some());
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut res.into_reader(), &mut bytes).unwrap();
    bytes
}

pub(crate) fn xlsx_sheet(bytes: &[u8], name: &str) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("xlsx");
    let range = book.worksheet_range(name).expect("sheet");
    range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

fn corrupt_a_balance(db: &TestDb) {
    db.execute("UPDATE vouchers SET balance_tiyn = balance_tiyn + 1 WHERE id = (SELECT MIN(id) FROM vouchers)");
}
