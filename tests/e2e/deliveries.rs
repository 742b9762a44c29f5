//! What the service owes others (SPEC §3.8, §6): complaints with and without a basket routed to the
//! akimat of the shop's region and delivered to e-Otinish once, through the file sender and through
//! an HTTP receiver that fails before it accepts; the reports and the SDU return delivered once
//! across restarts, a `kill -9` mid-delivery and two servers on one database; the operator's view
//! of both; and bad complaints refused with their codes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(complaints_reach_otinish_once => complaints_file_sqlite, complaints_file_postgres);
on_both!(a_failing_receiver_gets_each_complaint_once => complaints_http_sqlite, complaints_http_postgres);
on_both!(reports_survive_a_kill_mid_delivery => reports_kill_sqlite, reports_kill_postgres);
on_both!(reports_reach_the_file_once => reports_file_sqlite, reports_file_postgres);
on_both!(two_servers_deliver_each_complaint_once => deliveries_two_servers_sqlite, deliveries_two_servers_postgres);
on_both!(a_bad_destination_stops_the_start => bad_destination_sqlite, bad_destination_postgres);

/// The scheduler and the delivery loop every 200 ms, so the tests wait little.
const FAST: (&str, &str) = ("AZYQ_TICK_MILLIS", "200");

fn otinish_file(db: &TestDb) -> PathBuf {
    db.dir.path().join("otinish-outbox.jsonl")
}

fn report_file(db: &TestDb) -> PathBuf {
    db.dir.path().join("report-deliveries.jsonl")
}

/// The JSON lines of a file (none when it is not there).
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a delivery line is JSON"))
        .collect()
}

/// Polls (bounded) until `done` holds, answering its last value.
fn wait_until<T>(what: &str, mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let value = probe();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn deliveries(server: &Server, op: &str) -> Vec<Value> {
    let (s, b) = server.get("/api/v1/deliveries", Some(op));
    assert_eq!(s, 200, "{b}");
    b["deliveries"].as_array().cloned().unwrap_or_default()
}

fn all_delivered(list: &[Value], kind: &str, n: usize) -> bool {
    list.iter().filter(|d| d["kind"] == kind && d["status"] == "delivered").count() >= n
}

/// The instant `seconds` after `at` (RFC 3339).
fn later(at: &str, seconds: i64) -> String {
    let t: chrono::DateTime<chrono::Utc> = at.parse().unwrap();
    (t + chrono::Duration::seconds(seconds)).to_rfc3339()
}

/// A basket of member 0 paid at `shop`: its id.
fn paid_basket(server: &Server, w: &World, shop: &str) -> i64 {
    w.activate(server, 0);
    let till = cashier(server, shop, "T1");
    let basket = json!({"tokens": [w.qr(server, 0)], "lines": [line(MILK, 1, 50_000, 42_500)]});
    let (s, a) = post_keyed(server, "/api/v1/pos/baskets", &till, &format!("sale-{shop}"), &basket);
    assert_eq!(s, 201, "{a}");
    let id = a["basket_id"].as_i64().unwrap();
    let pay = json!({"payment": {"method": "cash", "paid_tiyn": a["to_pay_tiyn"]}});
    let (s, b) = post_keyed(server, &format!("/api/v1/pos/baskets/{id}/capture"), &till, "pay-1", &pay);
    assert_eq!(s, 200, "{b}");
    id
}

fn complain(server: &Server, iin: &str, shop: &str, text: &str, day: &str) -> (u16, Value) {
    server.post(
        "/api/v1/wallet/complaints",
        Some(&server.wallet_token(iin)),
        &json!({"shop_id": shop, "text": text, "occurred_on": day}),
    )
}

fn complaints_reach_otinish_once(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "minister", "viewer");
    let server = Server::start_with(db, NOW, &[FAST]);
    let w = setup(db, &server, 41);
    let op = w.op.clone();

    // A complaint with a rated basket (a Pavlodar shop), and one without (a Kokshetau shop).
    let basket = paid_basket(&server, &w, "SHOP-A");
    let (s, b) = server.post(
        &format!("/api/v1/wallet/baskets/{basket}/feedback"),
        Some(&server.wallet_token(&w.iins[0])),
        &json!({"rating": 2, "complaint": "Кассир не знал\nпро ваучеры"}),
    );
    assert_eq!((s, b["complaint_queued"].as_bool()), (200, Some(true)), "{b}");
    let (s, filed) = complain(&server, &w.iins[1], "SHOP-K", "Отказали на кассе", "2026-12-05");
    assert_eq!(s, 201, "{filed}");
    assert_eq!(filed["akimat"], json!({"region": "11", "name": "Акимат Акмолинской области"}));
    let refused_id = filed["complaint_id"].as_i64().unwrap();
    // A double tap files it once; an Idempotency-Key answers its first answer, and refuses another body.
    assert_eq!(complain(&server, &w.iins[1], "SHOP-K", "Отказали на кассе", "2026-12-05"), (201, filed.clone()));
    let token = server.wallet_token(&w.iins[1]);
    let keyed = |text: &str| {
        post_keyed(
            &server,
            "/api/v1/wallet/complaints",
            &token,
            "tap-1",
            &json!({"shop_id": "SHOP-C", "text": text, "occurred_on": "2026-12-06"}),
        )
    };
    let first = keyed("Нет молока по акции");
    assert_eq!(first.0, 201, "{}", first.1);
    assert_eq!(keyed("Нет молока по акции"), first);
    assert_eq!(code(&keyed("Другой текст")), (409, "idempotency_conflict".into()));

    // Delivered to e-Otinish through the file beside the SMS outbox, each once.
    let delivered = wait_until("three complaints delivered", || lines(&otinish_file(db)), |l| l.len() >= 3);
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    let by_basket = delivered.iter().find(|l| l["payload"]["basket_id"] == basket).expect("the basket's complaint");
    assert_eq!(by_basket["kind"], "complaint");
    let p = &by_basket["payload"];
    assert_eq!(
        (&p["complainant"]["iin"], &p["complainant"]["name"], &p["complainant"]["phone"]),
        (&json!(w.iins[0]), &json!("Айгерим Бекова"), &json!(w.phone))
    );
    assert_eq!((&p["rating"], &p["text"]), (&json!(2), &json!("Кассир не знал\nпро ваучеры")));
    assert_eq!(p["akimat"], json!({"region": "55", "name": "Акимат Павлодарской области"}));
    assert_eq!((&p["shop"]["shop_id"], &p["shop"]["locality"]), (&json!("SHOP-A"), &json!("Павлодар")));
    assert_eq!(p["occurred_on"], "2026-12-06");
    let refused = delivered.iter().find(|l| l["payload"]["complaint_id"] == refused_id).expect("the refusal");
    assert_eq!(refused["key"], refused_id.to_string());
    let p = &refused["payload"];
    assert_eq!(
        (&p["basket_id"], &p["occurred_on"], &p["text"]),
        (&Value::Null, &json!("2026-12-05"), &json!("Отказали на кассе"))
    );
    assert_eq!((&p["complainant"]["iin"], &p["complainant"]["name"]), (&json!(w.iins[1]), &json!("Ерлан Беков")));
    assert_eq!((&p["akimat"]["region"], &p["shop"]["locality"]), (&json!("11"), &json!("Кокшетау")));

    // The operator sees them delivered (the line is written before the row records it), where to,
    // after one attempt.
    let list =
        wait_until("three recorded delivered", || deliveries(&server, &op), |l| all_delivered(l, "complaint", 3));
    let complaints: Vec<&Value> = list.iter().filter(|d| d["kind"] == "complaint").collect();
    assert_eq!(complaints.len(), 3, "{list:?}");
    let file = format!("file:{}", otinish_file(db).display());
    for d in &complaints {
        assert_eq!(
            (&d["status"], &d["attempts"], &d["destination"]),
            (&json!("delivered"), &json!(1), &json!(file)),
            "{d}"
        );
        assert!(d["delivered_at"].is_string() && d["last_error"].is_null(), "{d}");
    }

    // The complaints of the month: the akimat, the delivery, a masked name; no IIN, no phone.
    let (s, month) = server.get("/api/v1/complaints?month=2026-12", Some(&op));
    assert_eq!(s, 200, "{month}");
    let text = month.to_string();
    for secret in [&w.iins[0], &w.iins[1], &w.phone.to_owned(), &"Айгерим".to_owned()] {
        assert!(!text.contains(secret.as_str()), "{secret} in {text}");
    }
    let rows = month["complaints"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{month}");
    let row = rows.iter().find(|r| r["basket_id"] == basket).unwrap();
    assert_eq!(
        (&row["rating"], &row["complainant"], &row["akimat"]["region"], &row["delivery"]["status"]),
        (&json!(2), &json!("А*** Б***"), &json!("55"), &json!("delivered"))
    );
    let row = rows.iter().find(|r| r["complaint_id"] == refused_id).unwrap();
    assert_eq!(
        (&row["akimat"]["name"], &row["shop_name"]),
        (&json!("Акимат Акмолинской области"), &json!("Магазин SHOP-K"))
    );
    let ratings = month["ratings"].as_array().unwrap();
    let shop_a = ratings.iter().find(|r| r["shop_id"] == "SHOP-A").unwrap();
    assert_eq!(
        (&shop_a["ratings"], &shop_a["rating_average"], &shop_a["complaints"]),
        (&json!(1), &json!("2.00"), &json!(1))
    );
    assert_eq!(server.get("/api/v1/complaints?month=2027-01", Some(&op)).1["complaints"], json!([]));
    // Who may read them.
    let viewer = {
        let (s, b) =
            server.post("/api/v1/sessions", None, &json!({"login": "minister", "password": OPERATOR_PASSWORD}));
        assert_eq!(s, 200, "{b}");
        b["token"].as_str().unwrap().to_owned()
    };
    let till = cashier(&server, "SHOP-A", "T2");
    for path in ["/api/v1/complaints?month=2026-12", "/api/v1/deliveries"] {
        assert_eq!(code(&server.get(path, Some(&viewer))), (403, "forbidden".into()), "{path}");
        assert_eq!(code(&server.get(path, Some(&till))), (403, "forbidden".into()), "{path}");
        assert_eq!(server.get(path, None).0, 401, "{path}");
        assert_eq!(server.get(path, Some(&server.wallet_token(&w.iins[0]))).0, 401, "{path}");
    }
    assert_eq!(code(&server.get("/api/v1/complaints", Some(&op))), (400, "validation".into()));
    assert_eq!(code(&server.get("/api/v1/complaints?month=2026-13", Some(&op))), (400, "validation".into()));

    // The ratings in the pilot summary and the shop's reconciliation.
    let (s, summary) = server.get("/api/v1/reports/summary?from=2026-12-01&to=2026-12-06", Some(&viewer));
    assert_eq!(s, 200, "{summary}");
    let shops = summary["shops"].as_array().unwrap();
    let a = shops.iter().find(|s| s["shop_id"] == "SHOP-A").unwrap();
    assert_eq!(
        (&a["ratings"], &a["rating_sum"], &a["rating_average"], &a["complaints"]),
        (&json!(1), &json!(2), &json!("2.00"), &json!(1))
    );
    let k = shops.iter().find(|s| s["shop_id"] == "SHOP-K").expect("a shop complained about, without sales, has a row");
    assert_eq!((&k["ratings"], &k["complaints"], &k["region"]), (&json!(0), &json!(1), &json!("11")));
    let (s, csv) = server.get_text("/api/v1/reports/summary?from=2026-12-01&to=2026-12-06&format=csv", &viewer);
    assert_eq!(s, 200);
    assert!(csv.contains(",ratings,rating_sum,rating_average,complaints,") && csv.contains(",1,2,2.00,1,"), "{csv}");
    let (s, rec) = server.get("/api/v1/reports/shops/SHOP-A/reconciliation?month=2026-12", Some(&till));
    assert_eq!(s, 200, "{rec}");
    assert_eq!(rec["feedback"], json!({"ratings": 1, "rating_sum": 2, "rating_average": "2.00", "complaints": 1}));

    // Bad complaints, each with its code; none is filed.
    let bad = |body: Value| server.post("/api/v1/wallet/complaints", Some(&token), &body);
    let ok = |shop: &str, text: &str, day: &str| json!({"shop_id": shop, "text": text, "occurred_on": day});
    assert_eq!(code(&bad(ok("SHOP-NONE", "Текст", "2026-12-05"))), (404, "shop_not_found".into()));
    for (body, field) in [
        (ok("SHOP-A", "", "2026-12-05"), "text"),
        (ok("SHOP-A", "   \n ", "2026-12-05"), "text"),
        (ok("SHOP-A", &"я".repeat(2_001), "2026-12-05"), "text"),
        (ok("SHOP-A", "Плохо\u{0}", "2026-12-05"), "text"),
        (ok("SHOP-A", "Плохо\u{1b}[2J", "2026-12-05"), "text"),
        (ok("SHOP-A", "Текст", "2026-12-07"), "occurred_on"),
        (ok("SHOP-A", "Текст", "2026-11-30"), "occurred_on"),
        (ok("SHOP-A", "Текст", "06.12.2026"), "occurred_on"),
        (ok("SHOP-A", "Текст", "0001-01-01"), "occurred_on"),
        (ok("SHOP A", "Текст", "2026-12-05"), "shop_id"),
        (json!({"shop_id": "SHOP-A", "text": "Текст"}), "body"),
    ] {
        let r = bad(body.clone());
        assert_eq!(code(&r), (400, "validation".into()), "{body}: {}", r.1);
        assert_eq!(r.1["error"]["field"], field, "{body}: {}", r.1);
    }
    let (s, b) = server.post(
        &format!("/api/v1/wallet/baskets/{basket}/feedback"),
        Some(&server.wallet_token(&w.iins[0])),
        &json!({"rating": 5, "complaint": "a\u{0}b"}),
    );
    assert_eq!((s, b["error"]["field"].as_str()), (400, Some("complaint")), "{b}");
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM complaints"), 3);

    // Restarted later, nothing goes twice.
    drop(server);
    let server = Server::start_with(db, &later(NOW, 3_600), &[FAST]);
    let n = wait_until("the deliveries list", || deliveries(&server, &op), |l| all_delivered(l, "complaint", 3));
    assert!(n.iter().all(|d| d["attempts"] == 1), "{n:?}");
    assert_eq!(lines(&otinish_file(db)).len(), 3);
    // No IIN or phone in the server's log.
    let found = file_contains_any(&db.log_file(), &[w.iins[0].clone(), w.iins[1].clone(), w.phone.to_owned()]);
    assert!(found.is_empty(), "personal data in the log: {found:?}");
}

/// What an HTTP receiver saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    answered: Option<u16>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// How the receiver answers one request: with a status, or not at all (holding the connection
/// until the client goes away).
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    Hold,
}

/// A plain HTTP receiver on the loopback: answers the requests in turn as `script` says, then 200;
/// reports every request it read.
fn receiver(script: Vec<Reply>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok((headers, body)) = read_request(&mut stream) else { continue };
            let reply = script.next().unwrap_or(Reply::Status(200));
            let answered = match reply {
                Reply::Status(code) => {
                    let head = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = stream.write_all(head.as_bytes());
                    Some(code)
                }
                Reply::Hold => None,
            };
            if tx.send(Seen { headers, body, answered }).is_err() {
                return;
            }
            if answered.is_none() {
                // Held until the client is gone (its process killed): then EOF or an error.
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
    });
    (url, rx)
}

type Request = (HashMap<String, String>, Vec<u8>);

fn read_request(stream: &mut std::net::TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut headers = HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line)?; // the request line
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((headers, body))
}

/// Everything the receiver has seen so far, waiting (bounded) until there are at least `n`.
fn seen_at_least(rx: &mpsc::Receiver<Seen>, seen: &mut Vec<Seen>, n: usize) {
    while seen.len() < n {
        seen.push(rx.recv_timeout(Duration::from_secs(60)).expect("the receiver was called"));
    }
}

fn a_failing_receiver_gets_each_complaint_once(db: &TestDb) {
    create_operator(db, "op", "operator");
    let (url, rx) = receiver(vec![Reply::Status(500), Reply::Status(500)]);
    let sender = format!("http:{url}");
    let env = [FAST, ("AZYQ_OTINISH_SENDER", sender.as_str())];
    let server = Server::start_with(db, NOW, &env);
    let w = setup(db, &server, 42);
    let op = w.op.clone();
    let (s, kokshetau) = complain(&server, &w.iins[0], "SHOP-K", "Не приняли ваучер", "2026-12-06");
    assert_eq!(s, 201, "{kokshetau}");
    let (s, pavlodar) = complain(&server, &w.iins[0], "SHOP-A", "Цена выше ценника", "2026-12-06");
    assert_eq!(s, 201, "{pavlodar}");

    // Both tried, both refused: the operator sees the failing destination.
    let mut seen = Vec::new();
    seen_at_least(&rx, &mut seen, 2);
    let list = wait_until(
        "two failed deliveries",
        || deliveries(&server, &op),
        |l| l.iter().filter(|d| d["status"] == "failed").count() == 2,
    );
    for d in &list {
        assert_eq!(
            (&d["kind"], &d["attempts"], &d["last_error"], &d["destination"]),
            (&json!("complaint"), &json!(1), &json!("receiver answered 500"), &json!(sender)),
            "{d}"
        );
        assert!(d["next_attempt_at"].is_string() && d["delivered_at"].is_null(), "{d}");
    }
    drop(server);

    // After the back-off (30 s on the server's clock), retried: accepted, each once.
    let now = later(NOW, 90);
    let server = Server::start_with(db, &now, &env);
    seen_at_least(&rx, &mut seen, 4);
    let list = wait_until("both delivered", || deliveries(&server, &op), |l| all_delivered(l, "complaint", 2));
    let ids: HashMap<String, i64> =
        list.iter().map(|d| (d["key"].as_str().unwrap().to_owned(), d["id"].as_i64().unwrap())).collect();
    assert!(list.iter().all(|d| d["attempts"] == 2 && d["last_error"].is_null()), "{list:?}");
    for (complaint, region) in [(&kokshetau, "11"), (&pavlodar, "55")] {
        let key = complaint["complaint_id"].as_i64().unwrap().to_string();
        let delivery_id = ids[&key].to_string();
        let tries: Vec<&Seen> =
            seen.iter().filter(|s| s.json()["payload"]["complaint_id"] == complaint["complaint_id"]).collect();
        assert_eq!(tries.iter().map(|s| s.answered).collect::<Vec<_>>(), [Some(500), Some(200)], "{key}");
        for t in &tries {
            assert_eq!(t.header("idempotency-key"), Some(delivery_id.as_str()));
            assert_eq!(t.json()["payload"]["akimat"]["region"], region);
            assert_eq!(t.json()["payload"]["complainant"]["iin"], json!(w.iins[0]));
            assert_eq!(t.header("content-type"), Some("application/json"));
        }
        assert_eq!(tries[0].body, tries[1].body, "a resend is the same request");
    }
    drop(server);

    // Restarted again: nothing more arrives (a new complaint goes through, and alone).
    let server = Server::start_with(db, &later(NOW, 7_200), &env);
    let (s, _) = complain(&server, &w.iins[1], "SHOP-C", "Грубость", "2026-12-06");
    assert_eq!(s, 201);
    seen_at_least(&rx, &mut seen, 5);
    assert_eq!(seen[4].json()["payload"]["text"], "Грубость");
    wait_until("three delivered", || deliveries(&server, &op), |l| all_delivered(l, "complaint", 3));
    assert!(rx.try_recv().is_err(), "nothing delivered twice");
}

/// Checks an HTTP report delivery's signature headers against the server's report key.
fn assert_signed(server: &Server, seen: &Seen) {
    use sha2::Digest as _;
    let sha = hex::encode(sha2::Sha256::digest(&seen.body));
    assert_eq!(seen.header("x-content-sha256"), Some(sha.as_str()));
    let (_, keys) = server.get("/.well-known/report-keys", None);
    let public = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(keys["keys"][0]["public_key"].as_str().unwrap())
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let sig = seen.header("x-signature").expect("X-Signature");
    let (kid, b64) = sig.split_once(' ').unwrap();
    assert_eq!(kid, "kid=1");
    let sig = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    key.verify_strict(&seen.body, &ed25519_dalek::Signature::from_slice(&sig).unwrap()).expect("the body's signature");
}

/// The files a report delivery carries: name → bytes.
fn files(payload: &Value) -> HashMap<String, Vec<u8>> {
    payload["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(f["content_base64"].as_str().unwrap()).unwrap();
            (f["name"].as_str().unwrap().to_owned(), bytes)
        })
        .collect()
}

/// The last days of December: the month closes soon after, with its SDU return.
const LATE: &str = "2026-12-30T05:00:00Z";
/// 00:30 on 1 January in Almaty: December is over.
const NEW_YEAR: &str = "2026-12-31T19:30:00Z";

/// A world on the 30th with a family without a phone (for the SDU return).
fn late_world(db: &TestDb, env: &[(&str, &str)]) -> World {
    create_operator(db, "op", "operator");
    let server = Server::start_with(db, LATE, env);
    let w = setup(db, &server, 43);
    let list = json!({"families": [{"family_id": "NOPHONE", "kato": "111010000", "phone": null, "members": [
        {"iin": iin(43, 9), "name": "Асель Нурова", "birth_date": "1985-05-05"}]}]});
    let (s, b) = server.post("/api/v1/months/2026-12/recipients", Some(&w.op), &list);
    assert_eq!(s, 200, "{b}");
    let (s, b) = server.post("/api/v1/months/2026-12/consent-requests", Some(&w.op), &json!({}));
    assert_eq!(s, 200, "{b}");
    paid_basket(&server, &w, "SHOP-A");
    w
}

/// Waits until December's SDU return and the reports of the 30th and 31st are delivered.
fn december_delivered(server: &Server, op: &str) -> Vec<Value> {
    wait_until(
        "the SDU return and the reports delivered",
        || deliveries(server, op),
        |l| all_delivered(l, "sdu_return", 1) && all_delivered(l, "daily_report", 2),
    )
}

fn reports_survive_a_kill_mid_delivery(db: &TestDb) {
    // The first request is held until the server is killed; later ones are accepted.
    let (url, rx) = receiver(vec![Reply::Hold]);
    let target = format!("http:{url}");
    let env = [FAST, ("AZYQ_REPORT_DELIVERY", target.as_str())];
    let w = late_world(db, &env);

    // The new year: December closes at start, its SDU return is queued first and held in flight.
    let server = Server::start_with(db, NEW_YEAR, &env);
    let mut seen = Vec::new();
    seen_at_least(&rx, &mut seen, 1);
    let held = seen[0].clone();
    assert_eq!(
        (held.answered, &held.json()["kind"], &held.json()["key"]),
        (None, &json!("sdu_return"), &json!("2026-12"))
    );
    drop(server); // SIGKILL mid-delivery
    let claimed =
        scalar(db, "SELECT COUNT(*) AS n FROM deliveries WHERE claimed_until IS NOT NULL AND status <> 'delivered'");
    assert_eq!(claimed, 1, "the killed try left its claim");

    // Restarted past the claim's lease: resent with the same key, accepted; then the days' reports.
    let server = Server::start_with(db, &later(NEW_YEAR, 600), &env);
    let op = server.operator_token();
    let list = december_delivered(&server, &op);
    let sdu = list.iter().find(|d| d["kind"] == "sdu_return").unwrap();
    assert_eq!((&sdu["attempts"], &sdu["key"]), (&json!(2), &json!("2026-12")), "{sdu}");
    let days: Vec<&str> =
        list.iter().filter(|d| d["kind"] == "daily_report").map(|d| d["key"].as_str().unwrap()).collect();
    assert_eq!(days.len(), 2, "{days:?}");
    assert!(days.contains(&"2026-12-30") && days.contains(&"2026-12-31"), "{days:?}");
    seen_at_least(&rx, &mut seen, 4);
    let again: Vec<&Seen> = seen.iter().filter(|s| s.json()["kind"] == "sdu_return").collect();
    assert_eq!(again.len(), 2, "held once, accepted once");
    assert_eq!((again[1].answered, &again[1].body), (Some(200), &held.body), "the same request again");
    let id = sdu["id"].as_i64().unwrap().to_string();
    assert!(again.iter().all(|s| s.header("idempotency-key") == Some(id.as_str())));
    for s in &seen {
        assert_signed(&server, s);
    }
    // The SDU return names the family without a phone, and no one's IIN.
    let sdu_files = files(&held.json()["payload"]);
    let mut names: Vec<&String> = sdu_files.keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["azyq-sdu-return-2026-12.json", "azyq-sdu-return-2026-12.json.sha256", "azyq-sdu-return-2026-12.json.sig"]
    );
    let sdu_json: Value = serde_json::from_slice(&sdu_files["azyq-sdu-return-2026-12.json"]).unwrap();
    let nophone = sdu_json["families"].as_array().unwrap().iter().find(|f| f["family_id"] == "NOPHONE").cloned();
    assert_eq!(nophone.map(|f| f["status"].clone()), Some(json!("no_phone")), "{sdu_json}");
    assert!(!sdu_json.to_string().contains(&iin(43, 9)) && !sdu_json.to_string().contains(&w.iins[0]));
    // The day's report: CSV, XLSX and JSON with their checksums and signatures.
    let day = seen.iter().find(|s| s.json()["key"] == "2026-12-30").expect("the 30th's report");
    let day_files = files(&day.json()["payload"]);
    assert_eq!(day_files.len(), 9, "{:?}", day_files.keys());
    let report: Value = serde_json::from_slice(&day_files["azyq-daily-2026-12-30.json"]).unwrap();
    assert_eq!((&report["from"], &report["totals"]["baskets_captured"]), (&json!("2026-12-30"), &json!(1)));
    let sums = String::from_utf8(day_files["azyq-daily-2026-12-30.csv.sha256"].clone()).unwrap();
    {
        use sha2::Digest as _;
        let csv_sha = hex::encode(sha2::Sha256::digest(&day_files["azyq-daily-2026-12-30.csv"]));
        assert_eq!(sums, format!("{csv_sha}  azyq-daily-2026-12-30.csv\n"));
    }
    drop(server);

    // Once more, the next day: only the new day goes; nothing before it again.
    let server = Server::start_with(db, &later(NEW_YEAR, 86_400), &env);
    let op = server.operator_token();
    wait_until("the 1st's report", || deliveries(&server, &op), |l| all_delivered(l, "daily_report", 3));
    seen_at_least(&rx, &mut seen, 5);
    assert_eq!(seen[4].json()["key"], "2027-01-01");
    assert!(rx.try_recv().is_err(), "nothing delivered twice: {:?}", rx.try_recv().map(|s| s.json()["key"].clone()));
    let keys: Vec<Value> = seen.iter().filter(|s| s.answered == Some(200)).map(|s| s.json()["key"].clone()).collect();
    let unique: std::collections::HashSet<String> = keys.iter().map(Value::to_string).collect();
    assert_eq!(unique.len(), keys.len(), "each accepted once: {keys:?}");
}

fn reports_reach_the_file_once(db: &TestDb) {
    late_world(db, &[FAST]);
    let server = Server::start_with(db, NEW_YEAR, &[FAST]);
    let op = server.operator_token();
    december_delivered(&server, &op);
    let written = lines(&report_file(db));
    let kinds: Vec<(&str, &str)> =
        written.iter().map(|l| (l["kind"].as_str().unwrap(), l["key"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("sdu_return", "2026-12"), ("daily_report", "2026-12-30"), ("daily_report", "2026-12-31")]);
    // The files a line carries are those of the export folder, byte for byte.
    let day = files(&written[1]["payload"]);
    for name in ["azyq-daily-2026-12-30.xlsx", "azyq-daily-2026-12-30.xlsx.sig", "azyq-daily-2026-12-30.json.sha256"] {
        let exported = std::fs::read(db.dir.path().join("exports").join(name)).unwrap();
        assert_eq!(day[name], exported, "{name}");
    }
    drop(server);

    // A crash after a line was written but before it was recorded: the restart finds the line and
    // records it delivered without writing it again.
    db.execute(
        "UPDATE deliveries SET status = 'pending', delivered_at = NULL, claimed_until = '2026-12-31 19:31:00' \
         WHERE kind = 'daily_report' AND delivery_key = '2026-12-31'",
    );
    let server = Server::start_with(db, &later(NEW_YEAR, 600), &[FAST]);
    let op = server.operator_token();
    let list = december_delivered(&server, &op);
    let resolved = list.iter().find(|d| d["key"] == "2026-12-31").unwrap();
    assert_eq!(resolved["attempts"], 2, "{resolved}");
    assert_eq!(lines(&report_file(db)).len(), 3, "nothing written twice");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(report_file(db)).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the delivery file is the service's only");
}

fn two_servers_deliver_each_complaint_once(db: &TestDb) {
    create_operator(db, "op", "operator");
    let one = Server::start_with(db, NOW, &[FAST]);
    let w = setup(db, &one, 44);
    let two = Server::start_with(db, &later(NOW, 1), &[FAST]);
    // Complaints filed through both, each waking its own server's delivery loop.
    for n in 0..20 {
        let server = if n % 2 == 0 { &one } else { &two };
        let (s, b) = complain(server, &w.iins[n % 2], "SHOP-A", &format!("Жалоба номер {n}"), "2026-12-06");
        assert_eq!(s, 201, "{b}");
    }
    let list = wait_until("twenty delivered", || deliveries(&one, &w.op), |l| all_delivered(l, "complaint", 20));
    assert!(list.iter().all(|d| d["attempts"] == 1), "{list:?}");
    let written = lines(&otinish_file(db));
    let mut ids: Vec<i64> = written.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((written.len(), ids.len()), (20, 20), "each complaint written once");
}

/// A bad destination stops `serve` at start, naming the setting; nothing is listening.
fn a_bad_destination_stops_the_start(db: &TestDb) {
    for (setting, value) in [("AZYQ_OTINISH_SENDER", "ftp://otinish.example"), ("AZYQ_REPORT_DELIVERY", "file:")] {
        let mut child = crate::helpers::cli(db, NOW)
            .arg("serve")
            .env("AZYQ_LISTEN", "127.0.0.1:0")
            .env(setting, value)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve started with {setting}={value}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(!status.success(), "{setting}={value}");
        assert!(stderr.contains(setting) && stderr.contains("file:PATH"), "{stderr}");
    }
}
