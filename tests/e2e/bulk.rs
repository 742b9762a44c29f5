//! The month's bulk work at a small scale. An import into a month already listed looks up only the
//! uploaded families, members and standing consents, a few keys per statement: with a chunk size
//! of 2 (and of 1) every look-up crosses chunk boundaries, and the report is the one the API's
//! default gives. The month close then counts, moves and journals its vouchers in the database:
//! one journal row per voucher, in id order, the expired amount in each expiry's detail.

use azyq_server::db::Db;
use azyq_server::domain::cycle;
use azyq_server::domain::import::{self, RawRow, Upload};
use azyq_shared::api::{ImportReport, RejectCode};
use azyq_shared::Month;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;

on_both!(import_into_a_listed_month_in_chunks => chunked_lookup_sqlite, chunked_lookup_postgres);
on_both!(a_month_sized_step_on_fresh_statistics => bulk_statistics_sqlite, bulk_statistics_postgres);

const KATO: &str = "551010000";

fn member(family: &str, i: u32, iin: &str) -> RawRow {
    RawRow {
        family_id: family.into(),
        kato: KATO.into(),
        phone: Some(format!("+77015550{:03}", family.bytes().map(u32::from).sum::<u32>() % 1000)),
        iin: iin.into(),
        name: format!("Член Семьи{i}"),
        birth_date: "1990-01-01".into(),
    }
}

fn csv(rows: &[RawRow]) -> String {
    let mut out = String::from("family_id,kato,phone,iin,name,birth_date\n");
    for r in rows {
        out += &format!(
            "{},{},{},{},{},{}\n",
            r.family_id,
            r.kato,
            r.phone.as_deref().unwrap_or(""),
            r.iin,
            r.name,
            r.birth_date
        );
    }
    out
}

/// Imports `rows` into December straight through the domain, `chunk` keys per look-up.
fn import_chunked(db: &TestDb, rows: &[RawRow], chunk: usize) -> ImportReport {
    let conn = Db::connect(&db.url, 2).expect("open the test database");
    let now = "2026-12-01T05:00:00Z".parse().unwrap();
    let sms = azyq_server::config::Settings::default().sms_policy().unwrap();
    let upload = Upload { month: Month::parse("2026-12").unwrap(), rows, group: None, lookup_chunk: chunk };
    conn.write(|c| import::import_upload(c, &upload, &sms, "test", now)).expect("the import runs")
}

fn codes(report: &ImportReport) -> Vec<(usize, RejectCode)> {
    report.rejected.iter().map(|r| (r.row, r.code)).collect()
}

fn import_into_a_listed_month_in_chunks(db: &TestDb) {
    create_operator(db, "op", "operator");
    // Seven families of two members, listed through the API.
    let listed: Vec<RawRow> =
        (0..7).flat_map(|f| (0..2).map(move |i| member(&format!("L{f}"), i, &iin(19, 2 * f + i)))).collect();
    let server = Server::start(db, "2026-12-01T04:00:00Z");
    let op = server.operator_token();
    setup_pilot(&server, &op);
    let (s, b) =
        server.send_raw("POST", "/api/v1/months/2026-12/recipients", Some(&op), "text/csv", csv(&listed).as_bytes());
    assert_eq!((s, b["new_families"].as_u64()), (200, Some(7)), "{b}");
    drop(server);

    // Two of the new families below consented in an earlier month, and it still holds.
    for f in ["N1", "N3"] {
        db.execute(&format!(
            "INSERT INTO consents (family_id, status, updated_at) VALUES ('{f}', 'given', '2026-11-20 10:00:00')"
        ));
    }
    let mut upload: Vec<RawRow> = listed[..12].to_vec(); // L0-L5 again, unchanged: rows 1-12
    let mut changed = listed[12..].to_vec(); // L6 with a name changed: rows 13-14
    changed[1].name = "Другое Имя".into();
    upload.extend(changed);
    // N0 names a member of L0: rows 15-16.
    upload.extend([member("N0", 0, &iin(19, 0)), member("N0", 1, &iin(19, 100))]);
    // N1-N4, new: rows 17-24.
    upload.extend((1..5).flat_map(|f| (0..2).map(move |i| member(&format!("N{f}"), i, &iin(19, 100 + 2 * f + i)))));

    let first = import_chunked(db, &upload, 2);
    let expected_rejections = vec![
        (13, RejectCode::FamilyConflict),
        (14, RejectCode::FamilyConflict),
        (15, RejectCode::MemberInTwoFamilies),
        (16, RejectCode::FamilyRejected),
    ];
    assert_eq!(codes(&first), expected_rejections, "{:?}", first.rejected);
    assert!(first.rejected[2].message.contains("L0"), "{:?}", first.rejected[2]);
    assert_eq!((first.accepted, first.new_families, first.vouchers_issued), (20, 4, 4));

    // Again, one key per statement: everything is listed now, nothing new, the same refusals.
    let again = import_chunked(db, &upload, 1);
    assert_eq!(codes(&again), expected_rejections);
    assert_eq!((again.accepted, again.new_families, again.vouchers_issued), (20, 0, 0));
    assert_eq!(db.scalar("SELECT COUNT(*) AS n FROM members WHERE month = '2026-12'"), 14 + 8);
    let statuses: Vec<Status> = db.query(
        "SELECT family_id, status FROM family_months WHERE month = '2026-12' AND family_id LIKE 'N%' ORDER BY family_id",
    );
    let statuses: Vec<(&str, &str)> = statuses.iter().map(|s| (s.family_id.as_str(), s.status.as_str())).collect();
    assert_eq!(statuses, [("N1", "consented"), ("N2", "listed"), ("N3", "consented"), ("N4", "listed")]);

    // The API's look-up (the default chunk) answers the same.
    let server = Server::start(db, "2026-12-02T05:00:00Z");
    let op = server.operator_token();
    let (s, b) =
        server.send_raw("POST", "/api/v1/months/2026-12/recipients", Some(&op), "text/csv", csv(&upload).as_bytes());
    assert_eq!((s, b["accepted"].as_u64(), b["new_families"].as_u64()), (200, Some(20), Some(0)), "{b}");
    let rows: Vec<u64> = b["rejected"].as_array().unwrap().iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [13, 14, 15, 16]);

    // One voucher of N1 is activated; at the month's end the close lapses three and expires one.
    let (s, b) = server.get("/api/v1/wallet/vouchers", Some(&server.wallet_token(&iin(19, 102))));
    assert_eq!(s, 200, "{b}");
    let voucher: &Value = &b["vouchers"][0];
    let (id, amount) = (voucher["id"].as_i64().unwrap(), voucher["amount_tiyn"].as_i64().unwrap());
    let (s, b) = server.post(
        &format!("/api/v1/wallet/vouchers/{id}/activate"),
        Some(&server.wallet_token(&iin(19, 102))),
        &json!({}),
    );
    assert_eq!((s, b["status"].as_str()), (200, Some("activated")), "{b}");
    drop(server);
    let server = Server::start(db, "2027-01-01T00:00:00Z");
    let (s, closed) = server.post("/api/v1/months/2026-12/close", Some(&server.operator_token()), &json!({}));
    assert_eq!(s, 200, "{closed}");
    assert_eq!(
        closed,
        json!({"month": "2026-12", "no_answer": 9, "lapsed": 3, "expired": 1, "expired_tiyn": amount, "holds_released": 0})
    );
    drop(server);
    let journal: Vec<Journal> = db.query(
        "SELECT entity_id, from_state, to_state, COALESCE(detail, '') AS detail FROM audit_log \
         WHERE entity = 'voucher' AND to_state IN ('lapsed', 'expired') ORDER BY id",
    );
    let journal: Vec<[&str; 4]> =
        journal.iter().map(|j| [j.entity_id.as_str(), &j.from_state, &j.to_state, &j.detail]).collect();
    let lapsed: Vec<String> = db
        .query::<Id>("SELECT id AS n FROM vouchers WHERE month = '2026-12' AND status = 'lapsed' ORDER BY id")
        .iter()
        .map(|v| v.n.to_string())
        .collect();
    let (id, detail) = (id.to_string(), format!("expired_tiyn={amount}"));
    let mut expected: Vec<[&str; 4]> = lapsed.iter().map(|v| [v.as_str(), "issued", "lapsed", ""]).collect();
    expected.push([&id, "activated", "expired", &detail]);
    assert_eq!(journal, expected);
    let counted = "SELECT CAST(SUM(vouchers_lapsed + vouchers_expired) AS BIGINT) AS n FROM day_region_stats";
    assert_eq!(db.scalar(counted), 4);
}

/// An import and an issue over more rows than a step analyses after (`bulk::ANALYZE_AFTER_ROWS`),
/// with more `work_mem` than PostgreSQL's default: both run whole, and on PostgreSQL the planner's
/// row counts of the tables they filled are their sizes when they commit (a table never analysed
/// counts -1), so the statements after them in the step were planned for a month, not an empty
/// table.
fn a_month_sized_step_on_fresh_statistics(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, "2026-12-01T04:00:00Z");
    setup_pilot(&server, &server.operator_token());
    drop(server);
    const FAMILIES: u32 = 5_000;
    let rows: Vec<RawRow> = (0..FAMILIES)
        .flat_map(|f| {
            (0..3).map(move |i| RawRow {
                phone: Some(format!("+7701{f:07}")),
                ..member(&format!("B{f}"), i, &iin(23, 3 * f + i))
            })
        })
        .collect();
    let report = import_chunked(db, &rows, import::LOOKUP_CHUNK);
    assert!(report.rejected.is_empty(), "{:?}", &report.rejected[..3.min(report.rejected.len())]);
    assert_eq!((report.accepted, report.new_families, report.vouchers_issued), (15_000, 5_000, 0));
    let postgres = db.url.starts_with("postgres");
    let planned = |table: &str| {
        db.scalar(&format!("SELECT CAST(reltuples AS BIGINT) AS n FROM pg_class WHERE relname = '{table}'"))
    };
    if postgres {
        assert_eq!((planned("members"), planned("family_months")), (15_000, 5_000));
        assert_eq!(planned("vouchers"), -1, "no step has analysed the vouchers yet");
    }

    // Every family says yes (the SMS answers, at once), then the month's issue.
    db.execute("UPDATE family_months SET status = 'consented' WHERE month = '2026-12'");
    let conn = Db::connect(&db.url, 2).expect("open the test database");
    let (month, now) = (Month::parse("2026-12").unwrap(), "2026-12-02T05:00:00Z".parse().unwrap());
    let issued = conn.write(|c| cycle::issue_vouchers(c, month, cycle::Which::All, "test", now)).expect("the issue");
    assert_eq!(issued, 15_000);
    assert_eq!(db.scalar("SELECT COUNT(*) AS n FROM vouchers WHERE month = '2026-12' AND status = 'issued'"), 15_000);
    assert_eq!(
        db.scalar("SELECT COUNT(*) AS n FROM audit_log WHERE entity = 'voucher' AND to_state = 'issued'"),
        15_000
    );
    assert_eq!(db.scalar("SELECT COUNT(*) AS n FROM notices WHERE kind = 'vouchers_issued'"), 5_000);
    if postgres {
        assert_eq!(planned("vouchers"), 15_000);
    }
}

#[derive(diesel::QueryableByName)]
struct Status {
    #[diesel(sql_type = diesel::sql_types::Text)]
    family_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
}

#[derive(diesel::QueryableByName)]
struct Journal {
    #[diesel(sql_type = diesel::sql_types::Text)]
    entity_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    from_state: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    to_state: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
