//! Every pair of transitions on one basket fired at the same instant, round after round, on SQLite
//! and PostgreSQL, within one server and across two server processes on one database. Each round
//! asserts: only allowed winners answered 2xx, every 2xx agrees with the final state, the loser's
//! 409 tells the basket's status, money moved exactly once, nothing answered 500; `check` is green
//! at the end.
//!
//! Rounds per pair: `AZYQ_RACE_ROUNDS` (default 10).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(pairs_in_one_server => pairs_one_server_sqlite, pairs_one_server_postgres);
on_both!(pairs_across_two_servers => pairs_two_servers_sqlite, pairs_two_servers_postgres);
on_both!(hold_expiry_races => hold_expiry_sqlite, hold_expiry_postgres);
on_both!(month_close_races => month_close_sqlite, month_close_postgres);
on_both!(import_races => import_races_sqlite, import_races_postgres);

const MONTH: &str = "2026-12";
const MEMBERS: u32 = 8;
const BASKETS: &str = "/api/v1/pos/baskets";

fn rounds() -> usize {
    std::env::var("AZYQ_RACE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10)
}

/// A month ready for racing: one or two servers on one database, a till on each, a family of
/// eight with every voucher activated.
struct Arena {
    servers: Vec<Server>,
    tills: Vec<String>,
    vouchers: Vec<i64>,
}

impl Arena {
    /// `activated`: how many of the eight vouchers the family activates (the others stay issued).
    fn start(db: &TestDb, now: &str, servers: usize, env: &[(&str, &str)], seed: u32, activated: usize) -> Arena {
        create_operator(db, "op", "operator");
        let first = Server::start_with(db, now, env);
        let op = first.operator_token();
        setup_pilot(&first, &op);
        let (s, b) = first.put(
            "/api/v1/shops/SHOP-A",
            Some(&op),
            &json!({"name": "Магазин A", "kato": "551010000", "address": "ул. 1"}),
        );
        assert_eq!(s, 200, "{b}");
        let (s, b) = first.post(
            "/api/v1/shops/SHOP-A/cashiers",
            Some(&op),
            &json!({"login": "kassa", "password": CASHIER_PASSWORD}),
        );
        assert_eq!(s, 201, "{b}");
        let catalog = json!({"products": [
            {"gtin": FLOUR, "group": "flour", "name": "Мука 1 с. 2 кг", "unit": "piece", "discount_cap_bp": 1500},
            {"gtin": MILK, "group": "milk", "name": "Молоко 2.5% 1 л", "unit": "piece"},
        ]});
        assert_eq!(first.put("/api/v1/catalog", Some(&op), &catalog).0, 200);
        let iins: Vec<String> = (1..=MEMBERS).map(|n| iin(seed, n)).collect();
        let phone = "+77015559901";
        let list = json!({"families": [{"family_id": "RACE", "kato": "551010000", "phone": phone,
            "members": iins.iter().enumerate().map(|(i, x)| json!({"iin": x, "name": format!("Член Семьи{i}"), "birth_date": "1990-01-01"})).collect::<Vec<_>>()}]});
        let (s, b) = first.post(&format!("/api/v1/months/{MONTH}/recipients"), Some(&op), &list);
        assert_eq!((s, b["accepted"].as_u64()), (200, Some(u64::from(MEMBERS))), "{b}");
        assert_eq!(first.post(&format!("/api/v1/months/{MONTH}/consent-requests"), Some(&op), &json!({})).0, 200);
        assert_eq!(first.sms_reply(phone, "21*1"), "yes");
        let wallet = first.wallet_token(&iins[0]);
        let (s, b) = first.get("/api/v1/wallet/vouchers", Some(&wallet));
        assert_eq!(s, 200, "{b}");
        let vouchers: Vec<i64> = b["vouchers"].as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()).collect();
        assert_eq!(vouchers.len(), MEMBERS as usize);
        for id in vouchers.iter().take(activated) {
            let (s, b) = first.post(&format!("/api/v1/wallet/vouchers/{id}/activate"), Some(&wallet), &json!({}));
            assert_eq!(s, 200, "{b}");
        }
        let mut all = vec![first];
        for _ in 1..servers {
            all.push(Server::start_with(db, now, env));
        }
        let tills = (0..2).map(|i| cashier(&all[i % all.len()], "SHOP-A", &format!("T{i}"))).collect();
        Arena { servers: all, tills, vouchers }
    }

    /// The server and session of till `i` (0 or 1): with two servers, each till speaks to its own.
    fn till(&self, i: usize) -> (&Server, &str) {
        (&self.servers[i % self.servers.len()], &self.tills[i])
    }

    /// A fresh token for voucher `v`, minted with the server's own key.
    fn token(&self, db: &TestDb, v: i64) -> String {
        let now = self.servers[0].now;
        let (from, to) = (now - chrono::Duration::minutes(1), now + chrono::Duration::hours(12));
        forge(db, v, MONTH, &from.to_rfc3339(), &to.to_rfc3339())
    }

    /// Authorises the race basket on voucher `v`: three lines of 3 000, 1 000 and 2 000 tiyn
    /// discount (6 000 in all, 37 400 to pay).
    fn authorize(&self, db: &TestDb, v: i64, tag: &str) -> Value {
        let body = json!({"tokens": [self.token(db, v)], "lines": [
            line(FLOUR, 1, 20_000, 17_000), line(FLOUR, 1, 10_000, 9_000), line(FLOUR, 1, 13_400, 11_400)]});
        let (server, till) = self.till(0);
        let (s, b) = post_keyed(server, BASKETS, till, &format!("auth-{tag}"), &body);
        assert_eq!(s, 201, "{b}");
        assert_eq!((b["discount_tiyn"].as_i64(), b["to_pay_tiyn"].as_i64()), (Some(6_000), Some(37_400)));
        b
    }

    fn capture(&self, id: i64, till: usize, key: &str) -> Req {
        Req::post(
            till,
            &format!("{BASKETS}/{id}/capture"),
            key,
            json!({"payment": {"method": "cash", "paid_tiyn": 37_400}}),
        )
    }

    fn basket(&self, id: i64) -> Value {
        let (server, till) = self.till(0);
        let (s, b) = server.get(&format!("{BASKETS}/{id}"), Some(till));
        assert_eq!(s, 200, "{b}");
        b
    }
}

/// One request of a race.
struct Req {
    till: usize,
    path: String,
    key: Option<String>,
    body: Value,
}

impl Req {
    fn post(till: usize, path: &str, key: &str, body: Value) -> Req {
        Req { till, path: path.to_owned(), key: Some(key.to_owned()), body }
    }

    fn plain(till: usize, path: &str) -> Req {
        Req { till, path: path.to_owned(), key: None, body: json!({}) }
    }
}

/// Sends the requests from their tills, all released at the same instant; answers in order. No
/// answer may be a 500.
fn fire(arena: &Arena, reqs: Vec<Req>) -> Vec<(u16, Value)> {
    let barrier = Arc::new(Barrier::new(reqs.len()));
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = reqs
            .into_iter()
            .map(|r| {
                let barrier = barrier.clone();
                let (server, till) = arena.till(r.till);
                scope.spawn(move || {
                    barrier.wait();
                    match &r.key {
                        Some(k) => post_keyed(server, &r.path, till, k, &r.body),
                        None => server.post(&r.path, Some(till), &r.body),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("request thread")).collect()
    });
    for a in &answers {
        assert!(a.0 < 500, "a race answered {}: {}", a.0, a.1);
    }
    answers
}

fn ok(a: &(u16, Value)) -> bool {
    (200..300).contains(&a.0)
}

/// A 409 `basket_state` that names the basket's status.
fn lost_with(a: &(u16, Value), status: &str) {
    assert_eq!((a.0, a.1["error"]["code"].as_str()), (409, Some("basket_state")), "{}", a.1);
    assert_eq!(a.1["error"]["status"].as_str(), Some(status), "the loser is told the basket's status: {}", a.1);
}

/// The voucher's balance now, from the database.
fn balance(db: &TestDb, v: i64) -> i64 {
    scalar(db, &format!("SELECT balance_tiyn AS n FROM vouchers WHERE id = {v}"))
}

/// What the basket finally took from its voucher: its discount less the refunded lines' if it
/// was paid; nothing otherwise.
fn kept(basket: &Value) -> i64 {
    match basket["status"].as_str() {
        Some("captured" | "partly_refunded" | "refunded") => {
            let lines = basket["lines"].as_array().unwrap();
            let refunded: i64 =
                lines.iter().filter(|l| l["refunded"] == true).map(|l| l["discount_tiyn"].as_i64().unwrap()).sum();
            basket["discount_tiyn"].as_i64().unwrap() - refunded
        }
        _ => 0,
    }
}

#[derive(Debug, Clone, Copy)]
enum Pair {
    CaptureCapture,
    CaptureCancel,
    CancelCancel,
    RefundSameLine,
    RefundTwoLines,
    WholeAndLine,
}

const PAIRS: [Pair; 6] = [
    Pair::CaptureCapture,
    Pair::CaptureCancel,
    Pair::CancelCancel,
    Pair::RefundSameLine,
    Pair::RefundTwoLines,
    Pair::WholeAndLine,
];

/// One round of one pair on voucher `v`.
fn round(db: &TestDb, arena: &Arena, pair: Pair, v: i64, tag: &str) {
    let before = balance(db, v);
    let authorized = arena.authorize(db, v, tag);
    let id = authorized["basket_id"].as_i64().unwrap();
    let cancel = |till| Req::plain(till, &format!("{BASKETS}/{id}/cancel"));
    let refund = |till, key: &str, body: Value| Req::post(till, &format!("{BASKETS}/{id}/refund"), key, body);
    let refunding = matches!(pair, Pair::RefundSameLine | Pair::RefundTwoLines | Pair::WholeAndLine);
    if refunding {
        let paid = fire(arena, vec![arena.capture(id, 0, &format!("pay-{tag}"))]);
        assert_eq!(paid[0].0, 200, "{}", paid[0].1);
    }
    let answers = match pair {
        Pair::CaptureCapture => {
            fire(arena, vec![arena.capture(id, 0, &format!("c1-{tag}")), arena.capture(id, 1, &format!("c2-{tag}"))])
        }
        Pair::CaptureCancel => fire(arena, vec![arena.capture(id, 0, &format!("c-{tag}")), cancel(1)]),
        Pair::CancelCancel => fire(arena, vec![cancel(0), cancel(1)]),
        Pair::RefundSameLine => fire(
            arena,
            vec![
                refund(0, &format!("r1-{tag}"), json!({"lines": [1]})),
                refund(1, &format!("r2-{tag}"), json!({"lines": [1]})),
            ],
        ),
        Pair::RefundTwoLines => fire(
            arena,
            vec![
                refund(0, &format!("r1-{tag}"), json!({"lines": [0]})),
                refund(1, &format!("r2-{tag}"), json!({"lines": [2]})),
            ],
        ),
        Pair::WholeAndLine => fire(
            arena,
            vec![refund(0, &format!("w-{tag}"), json!({})), refund(1, &format!("l-{tag}"), json!({"lines": [0]}))],
        ),
    };
    let basket = arena.basket(id);
    let status = basket["status"].as_str().unwrap().to_owned();
    let lines = basket["lines"].as_array().unwrap();
    let refunded_lines: Vec<usize> =
        lines.iter().filter(|l| l["refunded"] == true).map(|l| l["index"].as_u64().unwrap() as usize).collect();
    let winners = answers.iter().filter(|a| ok(a)).count();
    match pair {
        Pair::CaptureCapture => {
            assert_eq!((winners, status.as_str()), (1, "captured"), "{answers:?}");
            let loser = answers.iter().find(|a| !ok(a)).unwrap();
            lost_with(loser, "captured");
        }
        Pair::CaptureCancel => {
            assert_eq!(winners, 1, "exactly one of capture and cancel wins: {answers:?}");
            if ok(&answers[0]) {
                assert_eq!(status, "captured");
                assert_eq!(answers[0].1["status"], "captured");
                lost_with(&answers[1], "captured");
            } else {
                assert_eq!(status, "cancelled");
                assert_eq!(answers[1].1["status"], "cancelled");
                lost_with(&answers[0], "cancelled");
            }
        }
        Pair::CancelCancel => {
            // Cancelling a cancelled basket answers the same: both tell the truth.
            assert_eq!((winners, status.as_str()), (2, "cancelled"), "{answers:?}");
            assert!(answers.iter().all(|a| a.1["status"] == "cancelled"));
        }
        Pair::RefundSameLine => {
            assert_eq!((winners, refunded_lines.as_slice()), (1, &[1][..]), "{answers:?}");
            assert_eq!(status, "partly_refunded");
            let loser = answers.iter().find(|a| !ok(a)).unwrap();
            lost_with(loser, "partly_refunded");
            assert_eq!(loser.1["error"]["line"], 1);
        }
        Pair::RefundTwoLines => {
            assert_eq!((winners, refunded_lines.as_slice()), (2, &[0, 2][..]), "{answers:?}");
            assert_eq!(status, "partly_refunded");
        }
        Pair::WholeAndLine => {
            // Whole first: the line's refund finds it refunded. Line first: "whole" refunds the
            // rest. Either way every line is refunded once, by exactly the 2xx answers.
            assert_eq!((status.as_str(), refunded_lines.as_slice()), ("refunded", &[0, 1, 2][..]), "{answers:?}");
            let mut by_answers: Vec<u64> = answers
                .iter()
                .filter(|a| ok(a))
                .flat_map(|a| a.1["lines"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap()))
                .collect();
            by_answers.sort_unstable();
            assert_eq!(by_answers, [0, 1, 2], "{answers:?}");
            if winners == 1 {
                assert!(ok(&answers[0]), "only the whole refund can win alone: {answers:?}");
                lost_with(&answers[1], "refunded");
            }
        }
    }
    // Every 2xx refund answer's amount is what its lines carried; together, what the lines show.
    let refunded_by_answers: i64 = answers
        .iter()
        .filter(|a| ok(a) && a.1.get("refund_id").is_some())
        .map(|a| a.1["refunded_tiyn"].as_i64().unwrap())
        .sum();
    if refunding {
        let by_lines: i64 =
            lines.iter().filter(|l| l["refunded"] == true).map(|l| l["discount_tiyn"].as_i64().unwrap()).sum();
        assert_eq!(refunded_by_answers, by_lines, "{answers:?}");
    }
    // Money moved exactly once.
    assert_eq!(balance(db, v), before - kept(&basket), "voucher {v} after {pair:?}: {answers:?} {basket}");
}

fn all_pairs(db: &TestDb, arena: &Arena) {
    let n = rounds();
    for pair in PAIRS {
        for r in 0..n {
            let v = arena.vouchers[r % arena.vouchers.len()];
            round(db, arena, pair, v, &format!("{pair:?}-{r}"));
        }
        assert_books(db);
    }
    eprintln!("races: {} pairs × {n} rounds on {} server(s): every round right", PAIRS.len(), arena.servers.len());
    check_books(db);
}

fn pairs_in_one_server(db: &TestDb) {
    let arena = Arena::start(db, NOW, 1, &[], 61, 8);
    all_pairs(db, &arena);
}

fn pairs_across_two_servers(db: &TestDb) {
    let arena = Arena::start(db, NOW, 2, &[], 62, 8);
    all_pairs(db, &arena);
}

/// Capture and cancel against the scheduler's expiry of the same hold, on two servers whose
/// schedulers both sweep every 50 ms: fired around the instant the 2-second hold runs out.
fn hold_expiry_races(db: &TestDb) {
    let env = [("AZYQ_HOLD_SECONDS", "2"), ("AZYQ_TICK_MILLIS", "50")];
    let arena = Arena::start(db, NOW, 2, &env, 63, 8);
    let started = Instant::now();
    let start: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let n = rounds();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let mut captured_on = std::collections::BTreeMap::<i64, i64>::new();
    // Rounds run side by side, each on its own voucher, staggered across the moment of expiry.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|r| {
                let arena = &arena;
                scope.spawn(move || {
                    let v = arena.vouchers[r % arena.vouchers.len()];
                    let authorized = arena.authorize(db, v, &format!("exp-{r}"));
                    let id = authorized["basket_id"].as_i64().unwrap();
                    let expires: chrono::DateTime<chrono::Utc> =
                        authorized["hold_expires_at"].as_str().unwrap().parse().unwrap();
                    // The server's clock started at NOW when the server did; ours is close enough.
                    let offset_ms = (r as i64 * 17) % 120 - 60;
                    let fire_at = (expires - start).num_milliseconds() + offset_ms;
                    let wait = fire_at - started.elapsed().as_millis() as i64;
                    if wait > 0 {
                        std::thread::sleep(Duration::from_millis(wait as u64));
                    }
                    let req = if r % 2 == 0 {
                        arena.capture(id, r % 2, &format!("exp-pay-{r}"))
                    } else {
                        Req::plain(r % 2, &format!("{BASKETS}/{id}/cancel"))
                    };
                    let answer = fire(arena, vec![req]).remove(0);
                    // Whatever won, the basket settles within a few sweeps.
                    let mut basket = arena.basket(id);
                    for _ in 0..100 {
                        if basket["status"] != "authorized" {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                        basket = arena.basket(id);
                    }
                    let status = basket["status"].as_str().unwrap().to_owned();
                    let verb = if r % 2 == 0 { "capture" } else { "cancel" };
                    if ok(&answer) {
                        let expected = if r % 2 == 0 { "captured" } else { "cancelled" };
                        assert_eq!(status, expected, "{verb} answered {} but the basket is {status}", answer.1);
                    } else {
                        assert_eq!(
                            (answer.0, answer.1["error"]["code"].as_str(), status.as_str()),
                            (409, Some("hold_expired"), "hold_expired"),
                            "{}",
                            answer.1
                        );
                    }
                    (format!("{verb}:{status}"), v, status == "captured")
                })
            })
            .collect();
        for h in handles {
            let (outcome, v, captured) = h.join().expect("round");
            *outcomes.entry(outcome).or_default() += 1;
            *captured_on.entry(v).or_default() += i64::from(captured);
        }
    });
    // Money moved exactly once: each voucher lost 6 000 for each basket that ended captured, and
    // holds nothing.
    for (v, captured) in captured_on {
        assert_eq!(balance(db, v), 432_500 - 6_000 * captured, "voucher {v}");
        assert_eq!(scalar(db, &format!("SELECT held_tiyn AS n FROM vouchers WHERE id = {v}")), 0);
    }
    eprintln!("hold expiry races: {outcomes:?}");
    assert_books(db);
    check_books(db);
}

/// The month close (on a second server whose clock is past the month's end, and which runs no
/// scheduler) at the same instant as an authorisation, a capture, a refund and an activation on
/// the first server, still inside the month. Whatever came first, the month closes with every hold
/// released, nothing charged after it, and the books proving.
fn month_close_races(db: &TestDb) {
    let n = rounds().div_ceil(2).max(3);
    for r in 0..n {
        let round_db = if r == 0 { None } else { Some(fresh_like(db)) };
        let db = round_db.as_ref().unwrap_or(db);
        close_round(db, r);
    }
    eprintln!("month close races: {n} rounds");
}

/// Another database of the same backend, for a round that needs its own month.
fn fresh_like(db: &TestDb) -> TestDb {
    if db.url.starts_with("postgres") {
        TestDb::postgres().expect("the test PostgreSQL is running")
    } else {
        TestDb::sqlite()
    }
}

fn close_round(db: &TestDb, r: usize) {
    let before_end = "2026-12-31T18:50:00Z";
    // Seven vouchers activated; the eighth left issued, for the activation to race the close.
    let arena = Arena::start(db, before_end, 1, &[], 64 + r as u32, 7);
    let issued = arena.vouchers[7];
    let wallet = arena.servers[0].wallet_token(&iin(64 + r as u32, 1));
    // A basket to capture, a paid one to refund, and a voucher to authorise on, during the close.
    let to_capture = arena.authorize(db, arena.vouchers[0], &format!("close-cap-{r}"))["basket_id"].as_i64().unwrap();
    let to_refund = arena.authorize(db, arena.vouchers[1], &format!("close-ref-{r}"))["basket_id"].as_i64().unwrap();
    let paid = fire(&arena, vec![arena.capture(to_refund, 0, &format!("close-pay-{r}"))]);
    assert_eq!(paid[0].0, 200, "{}", paid[0].1);
    let closer = Server::start_with(db, "2027-01-01T00:10:00Z", &[("AZYQ_SCHEDULER", "0")]);
    let op = closer.operator_token();
    let auth_body = json!({"tokens": [arena.token(db, arena.vouchers[2])], "lines": [line(FLOUR, 1, 20_000, 17_000)]});
    let barrier = Barrier::new(5);
    let w = || {
        barrier.wait();
    };
    let (server, till) = arena.till(0);
    let (close, auth, capture, refund, activate) = std::thread::scope(|s| {
        let close = s.spawn(|| {
            w();
            closer.post(&format!("/api/v1/months/{MONTH}/close"), Some(&op), &json!({}))
        });
        let auth = s.spawn(|| {
            w();
            post_keyed(server, BASKETS, till, &format!("close-auth-{r}"), &auth_body)
        });
        let capture = s.spawn(|| {
            w();
            post_keyed(
                server,
                &format!("{BASKETS}/{to_capture}/capture"),
                till,
                &format!("close-c-{r}"),
                &json!({"payment": {"method": "card", "paid_tiyn": 37_400}}),
            )
        });
        let refund = s.spawn(|| {
            w();
            post_keyed(server, &format!("{BASKETS}/{to_refund}/refund"), till, &format!("close-r-{r}"), &json!({}))
        });
        let activate = s.spawn(|| {
            w();
            server.post(&format!("/api/v1/wallet/vouchers/{issued}/activate"), Some(&wallet), &json!({}))
        });
        (
            close.join().unwrap(),
            auth.join().unwrap(),
            capture.join().unwrap(),
            refund.join().unwrap(),
            activate.join().unwrap(),
        )
    });
    for a in [&close, &auth, &capture, &refund, &activate] {
        assert!(a.0 < 500, "a month-close race answered {}: {}", a.0, a.1);
    }
    assert_eq!(close.0, 200, "{}", close.1);
    let month_status =
        scalar(db, &format!("SELECT COUNT(*) AS n FROM months WHERE month = '{MONTH}' AND status = 'closed'"));
    assert_eq!(month_status, 1);
    // No basket of the month is left authorised; what each till was told agrees with the books.
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM baskets WHERE status = 'authorized'"), 0);
    let status_of = |id: i64| arena.basket(id)["status"].as_str().unwrap().to_owned();
    if ok(&auth) {
        let id = auth.1["basket_id"].as_i64().unwrap();
        assert_eq!(status_of(id), "hold_expired", "authorised before the close, released by it");
    } else {
        assert_eq!(code(&auth), (409, "month_closed".into()), "{}", auth.1);
    }
    if ok(&capture) {
        assert_eq!(status_of(to_capture), "captured");
    } else {
        assert_eq!(code(&capture).0, 409, "{}", capture.1);
        assert_eq!(status_of(to_capture), "hold_expired");
    }
    if ok(&refund) {
        assert_eq!(status_of(to_refund), "refunded");
    } else {
        assert_eq!(code(&refund), (409, "month_closed".into()), "{}", refund.1);
        assert_eq!(status_of(to_refund), "captured");
    }
    let v = scalar(
        db,
        &format!("SELECT COUNT(*) AS n FROM vouchers WHERE id = {issued} AND status IN ('expired', 'lapsed')"),
    );
    assert_eq!(v, 1, "every voucher of a closed month is expired or lapsed");
    if !ok(&activate) {
        assert_eq!(code(&activate), (409, "month_closed".into()), "{}", activate.1);
    }
    assert_books(db);
    check_books(db);
}

/// The same list uploaded twice at the same instant, to two servers: each family once, both
/// answers alike.
fn import_races(db: &TestDb) {
    create_operator(db, "op", "operator");
    let a = Server::start(db, NOW);
    let b = Server::start(db, NOW);
    let op = a.operator_token();
    setup_pilot(&a, &op);
    for r in 0..rounds().min(5) {
        let families: Vec<Value> = (0..40)
            .map(|f| {
                json!({"family_id": format!("F{r}-{f}"), "kato": "551010000", "phone": format!("+7701{r:03}{f:04}"),
                    "members": [{"iin": iin(70 + r as u32, f * 2 + 1), "name": "Член Один", "birth_date": "1990-01-01"},
                                {"iin": iin(70 + r as u32, f * 2 + 2), "name": "Член Два", "birth_date": "1991-01-01"}]})
            })
            .collect();
        let list = json!({ "families": families });
        let barrier = Arc::new(Barrier::new(2));
        let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
            let hs: Vec<_> = [&a, &b]
                .into_iter()
                .map(|server| {
                    let (barrier, list, op) = (barrier.clone(), &list, &op);
                    s.spawn(move || {
                        barrier.wait();
                        server.post(&format!("/api/v1/months/{MONTH}/recipients"), Some(op), list)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (s, body) in &answers {
            assert_eq!(*s, 200, "{body}");
            assert_eq!(body["rejected"], json!([]), "{body}");
        }
        let members = scalar(
            db,
            &format!("SELECT COUNT(*) AS n FROM members WHERE month = '{MONTH}' AND family_id LIKE 'F{r}-%'"),
        );
        assert_eq!(members, 80, "each member once");
        let fams = scalar(
            db,
            &format!("SELECT COUNT(*) AS n FROM family_months WHERE month = '{MONTH}' AND family_id LIKE 'F{r}-%'"),
        );
        assert_eq!(fams, 40, "each family once");
    }
    check_books(db);
}
