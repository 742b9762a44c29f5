//! The family's side of the cycle over two months (SPEC §2.3-2.5, §2.8): SMS only in the daytime,
//! answers that mean what they say in the order the gateway received them, wallet notices, a
//! consent carried over with its own SMS, and the programme's end.

use azyq_shared::api::{NoticeKind, Notifications, Voucher, Vouchers};
use azyq_shared::Tiyn;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(two_months_of_a_family);

const PAVLODAR: &str = "551010000";

struct Family {
    id: &'static str,
    phone: &'static str,
    iins: Vec<String>,
}

impl Family {
    fn json(&self) -> Value {
        json!({
            "family_id": self.id,
            "kato": PAVLODAR,
            "phone": self.phone,
            "members": self.iins.iter().enumerate()
                .map(|(i, iin)| json!({"iin": iin, "name": format!("Член Семьи{i}"), "birth_date": "1990-01-01"}))
                .collect::<Vec<_>>(),
        })
    }

    fn vouchers(&self, server: &Server, month: &str) -> Vec<Voucher> {
        let list: Vouchers =
            server.get_as("/api/v1/wallet/vouchers", Some(&server.wallet_token(&self.iins[0]))).success(200);
        list.vouchers.into_iter().filter(|v| v.month == month).collect()
    }

    /// The family's notices of `month`, newest first, by kind.
    fn notices(&self, server: &Server, month: &str) -> Vec<NoticeKind> {
        let list: Notifications =
            server.get_as("/api/v1/wallet/notifications", Some(&server.wallet_token(&self.iins[0]))).success(200);
        list.notifications.into_iter().filter(|n| n.month == month).map(|n| n.kind).collect()
    }

    /// The family's notices of `month`, newest first, as (Russian, Kazakh) texts.
    fn notice_texts(&self, server: &Server, month: &str) -> Vec<(String, String)> {
        let list: Notifications =
            server.get_as("/api/v1/wallet/notifications", Some(&server.wallet_token(&self.iins[0]))).success(200);
        list.notifications.into_iter().filter(|n| n.month == month).map(|n| (n.text, n.text_kk)).collect()
    }

    /// Member `m` activates their voucher of `month`: the answer as status and code.
    fn activate(&self, server: &Server, month: &str, m: usize) -> (u16, String) {
        let id = self.vouchers(server, month)[m].id;
        let answer = server.post(
            &format!("/api/v1/wallet/vouchers/{id}/activate"),
            Some(&server.wallet_token(&self.iins[m])),
            &json!({}),
        );
        (answer.0, answer.1["error"]["code"].as_str().unwrap_or("ok").to_owned())
    }
}

fn outbox(db: &TestDb, kind: &str) -> i64 {
    db.scalar(&format!("SELECT COUNT(*) AS n FROM sms_outbox WHERE kind = '{kind}'"))
}

/// Member `m` of `f` buys a bag of flour at SHOP-A: 100.00 ₸ on the shelf, 90.00 ₸ with the voucher.
fn buy_flour(server: &Server, f: &Family, m: usize, key: &str) -> Result<Tiyn, (u16, String)> {
    let id = f.vouchers(server, "2027-01")[m].id;
    let qr: azyq_shared::api::QrToken = server
        .post_as(&format!("/api/v1/wallet/vouchers/{id}/qr"), Some(&server.wallet_token(&f.iins[m])), &json!({}))
        .success(200);
    let till = Till::login(server, "SHOP-A", "T1");
    let basket = till.authorize(key, &[&qr.token], &[line(FLOUR, 1, 10_000, 9_000)]);
    let basket = match basket {
        Ok((_, a)) => a,
        Err(r) => return Err((r.status, r.error.code.as_str().to_owned())),
    };
    till.capture(basket.basket_id, &format!("{key}-pay"), &cash(basket.to_pay_tiyn)).success(200);
    Ok(basket.discount_tiyn)
}

fn two_months_of_a_family(db: &TestDb) {
    create_operator(db, "op", "operator");
    let a = Family { id: "A", phone: "+77020000001", iins: vec![iin(21, 1), iin(21, 2)] };
    let b = Family { id: "B", phone: "+77020000002", iins: vec![iin(21, 3)] };
    let c = Family { id: "C", phone: "+77020000003", iins: vec![iin(21, 4)] };
    let d = Family { id: "D", phone: "+77020000004", iins: vec![iin(21, 5), iin(21, 6)] };

    // 2 January, 10:00 Almaty: shops, rates for 2027 (its MRP is not on record), January's list.
    let server = Server::start(db, "2027-01-02T05:00:00Z");
    let op = server.operator_token();
    setup_shops(&server, &op);
    for month in ["2027-01", "2027-02"] {
        assert_eq!(server.put(&format!("/api/v1/rates/{month}"), Some(&op), &json!({"default_tiyn": 440_000})).0, 200);
    }
    let list = json!({"families": [a.json(), b.json(), c.json(), d.json()]});
    let (s, r) = server.post("/api/v1/months/2027-01/recipients", Some(&op), &list);
    assert_eq!((s, r["new_families"].as_u64()), (200, Some(4)), "{r}");
    drop(server);

    // 00:30 on the 5th: the consent day has come, but not the SMS hours — nothing is queued.
    let server = Server::start(db, "2027-01-04T19:30:00Z");
    assert_eq!(outbox(db, "start"), 0, "no start SMS at night");
    drop(server);
    // 10:30 on the 5th: the start SMS go, once each.
    let server = Server::start(db, "2027-01-05T05:30:00Z");
    let lines = wait_for_sms(db, 4);
    assert_eq!(count_kind(&lines, "start"), 4, "{lines:?}");
    drop(server);

    // Noon on the 5th: the answers come in, each with the time the gateway received it.
    let server = Server::start(db, "2027-01-05T07:00:00Z");
    assert_eq!(server.sms_reply_at(a.phone, "21*1", "2027-01-05T06:01:00Z"), "yes");
    assert_eq!(server.sms_reply_at(b.phone, "21*2", "2027-01-05T06:02:00Z"), "no");
    assert_eq!(server.sms_reply_at(d.phone, "21*1", "2027-01-05T06:03:00Z"), "yes");
    // B changes its mind within the month: its vouchers are issued after all.
    assert!(b.vouchers(&server, "2027-01").is_empty());
    assert_eq!(server.sms_reply_at(b.phone, "21*1", "2027-01-05T06:05:00Z"), "yes");
    assert_eq!(b.vouchers(&server, "2027-01").len(), 1);
    assert_eq!(b.activate(&server, "2027-01", 0), (200, "ok".into()));
    // C says no; its earlier yes, delayed in the gateway, arrives after and changes nothing.
    assert_eq!(server.sms_reply_at(c.phone, "21*2", "2027-01-05T06:20:00Z"), "no");
    assert_eq!(server.sms_reply_at(c.phone, "21*1", "2027-01-05T06:15:00Z"), "ignored");
    assert!(c.vouchers(&server, "2027-01").is_empty(), "the later no stands");

    // A: the first member activates and buys; then A says no. The activated voucher still buys to
    // the month's end, the other can no longer be activated.
    assert_eq!(a.activate(&server, "2027-01", 0), (200, "ok".into()));
    assert_eq!(buy_flour(&server, &a, 0, "a-1"), Ok(Tiyn::new(1_000)));
    assert_eq!(server.sms_reply_at(a.phone, "21*2", "2027-01-05T06:30:00Z"), "no");
    assert_eq!(buy_flour(&server, &a, 0, "a-2"), Ok(Tiyn::new(1_000)), "an activated voucher stays spendable");
    assert_eq!(a.activate(&server, "2027-01", 1), (409, "no_consent".into()));
    let a_vouchers = a.vouchers(&server, "2027-01");
    assert_eq!(a_vouchers[0].balance_tiyn, Tiyn::new(438_000));

    // Each reply says what happened: 4 start + A yes, B no, D yes, B yes, C no, A no.
    let lines = wait_for_sms(db, 10);
    assert_eq!(lines.len(), 10, "{lines:#?}");
    let to = |phone: &str, kind: &str| lines.iter().filter(|l| l["to"] == phone && l["kind"] == kind).count();
    assert_eq!((to(a.phone, "confirmation"), to(a.phone, "withdrawal")), (1, 1));
    assert_eq!((to(b.phone, "refusal"), to(b.phone, "confirmation")), (1, 1));
    assert_eq!((to(c.phone, "refusal"), to(c.phone, "confirmation")), (1, 0));
    assert_eq!(to(d.phone, "confirmation"), 1);
    let withdrawal = lines.iter().find(|l| l["kind"] == "withdrawal").unwrap()["text"].as_str().unwrap().to_owned();
    assert!(withdrawal.contains("активированными можно платить до 31.01.2027"), "{withdrawal}");
    let refusal = lines.iter().find(|l| l["to"] == c.phone && l["kind"] == "refusal").unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(refusal.contains("отправьте 21*1 до 31.01.2027"), "{refusal}");

    // The wallet's notices, newest first.
    use NoticeKind::*;
    assert_eq!(a.notices(&server, "2027-01"), [ConsentWithdrawn, VouchersIssued, ConsentRecorded]);
    assert_eq!(b.notices(&server, "2027-01"), [VouchersIssued, ConsentRecorded]);
    assert_eq!(c.notices(&server, "2027-01"), []);
    assert_eq!(d.notices(&server, "2027-01"), [VouchersIssued, ConsentRecorded]);
    // The month's yes and no are the families' answers as they stand: B and D yes, A and C no.
    let op = server.operator_token();
    let (s, report) = server.get("/api/v1/reports/daily?date=2027-01-05&format=json", Some(&op));
    assert_eq!(s, 200, "{report}");
    let consent = &report["consent"][0];
    assert_eq!((consent["yes"].as_i64(), consent["no"].as_i64()), (Some(2), Some(2)), "{consent}");
    drop(server);

    // 27 January, 23:00: not yet; 28 January: D, with vouchers not activated, is reminded in the
    // wallet; B (activated) and A (refused) are not.
    let server = Server::start(db, "2027-01-27T18:00:00Z");
    assert!(!d.notices(&server, "2027-01").contains(&MonthEndsSoon));
    drop(server);
    let server = Server::start(db, "2027-01-28T05:30:00Z");
    assert_eq!(d.notices(&server, "2027-01")[0], MonthEndsSoon);
    assert!(!b.notices(&server, "2027-01").contains(&MonthEndsSoon));
    assert!(!a.notices(&server, "2027-01").contains(&MonthEndsSoon));
    drop(server);

    // 2 February, 03:00: January closed on start-up; February's list comes in at night. B and D's
    // consent carried over: their vouchers are issued at once, the SMS wait for the morning.
    let server = Server::start(db, "2027-02-01T22:00:00Z");
    let op = server.operator_token();
    let (s, r) = server.post(
        "/api/v1/months/2027-02/recipients",
        Some(&op),
        &json!({"families": [a.json(), b.json(), d.json()]}),
    );
    assert_eq!((s, r["vouchers_issued"].as_u64()), (200, Some(3)), "{r}");
    assert!(a.vouchers(&server, "2027-02").is_empty(), "A withdrew: asked again on the 5th");
    assert_eq!(outbox(db, "vouchers_issued"), 2);
    assert_eq!(count_kind(&sms_lines(db), "vouchers_issued"), 0, "not at night");
    assert_eq!(d.notices(&server, "2027-02"), [VouchersIssued]);
    assert_eq!(b.notices(&server, "2027-02"), [VouchersIssued]);
    // Each notice reads its kind's and month's texts, stored once for all families.
    let feb = d.notice_texts(&server, "2027-02");
    assert!(feb[0].0.contains("28.02.2027") && feb[0].1.contains("28.02.2027"), "{feb:?}");
    let jan = d.notice_texts(&server, "2027-01");
    assert!(
        jan.len() == 3 && jan.iter().all(|(ru, kk)| ru.contains("31.01.2027") && kk.contains("31.01.2027")),
        "{jan:?}"
    );
    assert_ne!(jan[0].0, jan[1].0, "each kind its own text: {jan:?}");
    drop(server);
    // 10:30: the issue SMS go, once, and say by when to activate.
    let server = Server::start(db, "2027-02-02T05:30:00Z");
    let lines = wait_for_sms(db, 12);
    assert_eq!((lines.len(), count_kind(&lines, "vouchers_issued")), (12, 2), "{lines:#?}");
    let issued = lines.iter().find(|l| l["kind"] == "vouchers_issued").unwrap()["text"].as_str().unwrap().to_owned();
    assert!(issued.contains("28.02.2027") && issued.contains("февраль 2027"), "{issued}");

    // The programme is set to end with February: March's list is refused.
    let op = server.operator_token();
    let (s, p) = server.put("/api/v1/programme", Some(&op), &json!({"from_month": "2026-01", "to_month": "2027-02"}));
    assert_eq!(s, 200, "{p}");
    let (s, e) = server.post("/api/v1/months/2027-03/recipients", Some(&op), &json!({"families": [b.json()]}));
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("outside_programme")), "{e}");
    let (s, e) = server.put("/api/v1/programme", Some(&op), &json!({"from_month": "2027-03", "to_month": "2027-02"}));
    assert_eq!((s, e["error"]["field"].as_str()), (400, Some("to_month")), "{e}");
    drop(server);

    // 1 March: the programme is over, so the standing consents of B and D end with it.
    let server = Server::start(db, "2027-03-01T06:00:00Z");
    let (s, p) = server.get("/api/v1/programme", Some(&server.operator_token()));
    assert_eq!((s, p), (200, json!({"from_month": "2026-01", "to_month": "2027-02"})));
    assert_eq!(db.scalar("SELECT COUNT(*) AS n FROM consents WHERE status = 'given'"), 0);
    assert_eq!(db.scalar("SELECT COUNT(*) AS n FROM consents WHERE status = 'ended'"), 2);
    drop(server);

    let secrets: Vec<String> =
        [&a, &b, &c, &d].iter().flat_map(|f| f.iins.iter().cloned().chain([f.phone[2..].to_owned()])).collect();
    let leaked = file_contains_any(&db.log_file(), &secrets);
    assert!(leaked.is_empty(), "personal data in the server log: {leaked:?}");
    check_books(db);
}
