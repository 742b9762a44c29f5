//! A whole month from list-in to close, with families that say yes, no, nothing, have no phone and
//! get a reminder; a restart mid-month does nothing twice; no personal data reaches the logs.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;

on_both!(month_from_list_to_close => month_cycle_sqlite, month_cycle_postgres);

struct Family {
    id: &'static str,
    phone: Option<&'static str>,
    iins: Vec<String>,
}

fn family_json(f: &Family, kato: &str) -> Value {
    json!({
        "family_id": f.id,
        "kato": kato,
        "phone": f.phone,
        "members": f.iins.iter().enumerate().map(|(i, iin)| json!({"iin": iin, "name": format!("Член Семьи{i}"), "birth_date": "1990-01-01"})).collect::<Vec<_>>(),
    })
}

fn vouchers_of(server: &Server, iin: &str) -> Vec<Value> {
    let (s, b) = server.get("/api/v1/wallet/vouchers", Some(&server.wallet_token(iin)));
    assert_eq!(s, 200, "{b}");
    b["vouchers"].as_array().cloned().unwrap_or_default()
}

fn month_from_list_to_close(db: &TestDb) {
    create_operator(db, "op", "operator");
    let yes = Family { id: "YES", phone: Some("+77010000001"), iins: vec![iin(1, 1), iin(1, 2)] };
    let no = Family { id: "NO", phone: Some("8 701 000 00 02"), iins: vec![iin(1, 3)] };
    let silent = Family { id: "SILENT", phone: Some("+7 701 000-00-03"), iins: vec![iin(1, 4)] };
    let late = Family { id: "LATE", phone: Some("77010000004"), iins: vec![iin(1, 5)] };
    let nophone = Family { id: "NOPHONE", phone: None, iins: vec![iin(1, 6)] };
    let families = [&yes, &no, &silent, &late, &nophone];
    let list = json!({"families": families.iter().map(|f| family_json(f, "551010000")).collect::<Vec<_>>()});

    // 1 December, 09:00 Almaty: the list comes in; the same list twice changes nothing.
    let server = Server::start(db, "2026-12-01T04:00:00Z");
    let op = server.operator_token();
    setup_pilot(&server, &op);
    let (s, first) = server.post("/api/v1/months/2026-12/recipients", Some(&op), &list);
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["accepted"], 6);
    assert_eq!(first["new_families"], 5);
    assert_eq!(first["rejected"], json!([]));
    let (s, again) = server.post("/api/v1/months/2026-12/recipients", Some(&op), &list);
    assert_eq!(s, 200);
    assert_eq!((again["accepted"].clone(), again["new_families"].clone()), (json!(6), json!(0)));
    assert!(vouchers_of(&server, &yes.iins[0]).is_empty(), "nothing is issued before consent");
    let (s, b) = server.post("/api/v1/months/2026-12/close", Some(&op), &json!({}));
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("month_not_ended")));
    drop(server);
    assert!(sms_lines(db).is_empty(), "no SMS before the 5th");

    // 5 December, 10:30 Almaty (inside the SMS hours): the scheduler sends the start SMS to every
    // family with a phone, on start-up.
    let server = Server::start(db, "2026-12-05T05:30:00Z");
    let lines = wait_for_sms(db, 4);
    assert_eq!(count_kind(&lines, "start"), 4, "{lines:?}");
    let mut to: Vec<&str> = lines.iter().map(|l| l["to"].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["+77010000001", "+77010000002", "+77010000003", "+77010000004"]);
    assert!(lines[0]["text"].as_str().unwrap().contains("21*1"));

    // Answers: yes, no, a stranger, something unreadable.
    assert_eq!(server.sms_reply("+77010000001", "21*1"), "yes");
    assert_eq!(server.sms_reply("87010000002", "21*2"), "no");
    assert_eq!(server.sms_reply("+77079999999", "21*1"), "ignored");
    assert_eq!(server.sms_reply("+77010000001", "привет"), "help");
    let lines = wait_for_sms(db, 7);
    assert_eq!(
        (count_kind(&lines, "confirmation"), count_kind(&lines, "refusal"), count_kind(&lines, "help")),
        (1, 1, 1)
    );
    let confirmation = lines.iter().find(|l| l["kind"] == "confirmation").unwrap();
    assert_eq!(confirmation["to"], "+77010000001");
    assert!(confirmation["text"].as_str().unwrap().contains("https://egovmobile.page.link/socwallet"));
    let yes_vouchers = vouchers_of(&server, &yes.iins[0]);
    assert_eq!(yes_vouchers.len(), 2, "one voucher per member");
    assert!(yes_vouchers
        .iter()
        .all(|v| v["status"] == "issued" && v["amount_tiyn"] == 432_500 && v["balance_tiyn"] == 432_500));
    assert!(vouchers_of(&server, &no.iins[0]).is_empty());

    // The first member activates their voucher; a stranger cannot see or touch it.
    let v1 = yes_vouchers[0]["id"].as_i64().unwrap();
    let v2 = yes_vouchers[1]["id"].as_i64().unwrap();
    let (s, b) = server.post(
        &format!("/api/v1/wallet/vouchers/{v1}/activate"),
        Some(&server.wallet_token(&yes.iins[0])),
        &json!({}),
    );
    assert_eq!((s, b["status"].as_str()), (200, Some("activated")), "{b}");
    let (s, b) = server.post(
        &format!("/api/v1/wallet/vouchers/{v2}/activate"),
        Some(&server.wallet_token(&silent.iins[0])),
        &json!({}),
    );
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("voucher_not_found")), "{b}");
    let (s, _) = server.post(&format!("/api/v1/wallet/vouchers/{v2}/activate"), None, &json!({}));
    assert_eq!(s, 401);
    drop(server);

    // 10 December: reminders to the two who have not answered; a restart on the 12th adds nothing.
    let server = Server::start(db, "2026-12-10T05:30:00Z");
    let lines = wait_for_sms(db, 9);
    assert_eq!(count_kind(&lines, "reminder"), 2, "{lines:?}");
    drop(server);
    let server = Server::start(db, "2026-12-12T04:00:00Z");
    // A tick of the scheduler after the restart must not queue anything again.
    assert_eq!(
        server.post("/api/v1/months/2026-12/consent-requests", Some(&server.operator_token()), &json!({})).1["queued"],
        0
    );
    let lines = sms_lines(db);
    assert_eq!((count_kind(&lines, "start"), count_kind(&lines, "reminder"), lines.len()), (4, 2, 9), "{lines:?}");

    // A late yes after the reminder issues at once; the applicant of YES later withdraws, so the
    // voucher not yet activated cannot be activated any more.
    assert_eq!(server.sms_reply("+77010000004", "21*1"), "yes");
    assert_eq!(vouchers_of(&server, &late.iins[0]).len(), 1);
    assert_eq!(server.sms_reply("+77010000001", "21*2"), "no");
    let (s, b) = server.post(
        &format!("/api/v1/wallet/vouchers/{v2}/activate"),
        Some(&server.wallet_token(&yes.iins[1])),
        &json!({}),
    );
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("no_consent")), "{b}");
    let lines = wait_for_sms(db, 11);
    assert_eq!(
        (count_kind(&lines, "confirmation"), count_kind(&lines, "refusal"), count_kind(&lines, "withdrawal")),
        (2, 1, 1),
        "{lines:?}"
    );
    drop(server);

    // 1 January 05:00 Almaty: the scheduler closes December on start-up.
    let server = Server::start(db, "2027-01-01T00:00:00Z");
    let op = server.operator_token();
    let (s, closed) = server.post("/api/v1/months/2026-12/close", Some(&op), &json!({}));
    assert_eq!(s, 200, "{closed}");
    assert_eq!(
        closed,
        json!({"month": "2026-12", "no_answer": 1, "lapsed": 2, "expired": 1, "expired_tiyn": 432_500, "holds_released": 0})
    );
    let yes_vouchers = vouchers_of(&server, &yes.iins[0]);
    let statuses: Vec<&str> = yes_vouchers.iter().map(|v| v["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["expired", "lapsed"]);
    assert!(yes_vouchers.iter().all(|v| v["balance_tiyn"] == 0 || v["status"] == "lapsed"));
    let (s, b) = server.post(
        &format!("/api/v1/wallet/vouchers/{v2}/activate"),
        Some(&server.wallet_token(&yes.iins[1])),
        &json!({}),
    );
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("month_closed")), "{b}");

    // January's list: LATE's consent holds, so its voucher is issued as the list comes in, at the
    // rate the operator set for 2027 (its MRP is not on record); YES withdrew, so it is asked again.
    let (s, b) =
        server.put("/api/v1/rates/2027-01", Some(&op), &json!({"default_tiyn": 440_000, "regions": {"55": 450_000}}));
    assert_eq!(s, 200, "{b}");
    let january = json!({"families": [family_json(&late, "551010000"), family_json(&yes, "551010000")]});
    let (s, b) = server.post("/api/v1/months/2027-01/recipients", Some(&op), &january);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["vouchers_issued"], 1, "{b}");
    let late_vouchers = vouchers_of(&server, &late.iins[0]);
    assert!(late_vouchers
        .iter()
        .any(|v| v["month"] == "2027-01" && v["status"] == "issued" && v["amount_tiyn"] == 450_000));
    drop(server);

    // Nothing personal in what the server printed or logged.
    let mut secrets: Vec<String> = families.iter().flat_map(|f| f.iins.clone()).collect();
    secrets.extend(["+77010000001", "7010000002", "7010000003", "7010000004", "7079999999"].map(String::from));
    let leaked = file_contains_any(&db.log_file(), &secrets);
    assert!(leaked.is_empty(), "personal data in the server log: {leaked:?}");
    let log = std::fs::read_to_string(db.log_file()).unwrap();
    assert!(log.contains("FAKE CLOCK"), "the fake clock is logged loudly");
    check_books(db);
}
