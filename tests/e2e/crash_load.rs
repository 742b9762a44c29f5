//! Kill -9 under load: tills keep selling while the server is killed at random moments and
//! restarted. Every sale a till saw acknowledged must be in the database afterwards, no hold lost
//! or doubled, and `check` green. `AZYQ_CRASH_KILLS` sets the number of kills (default 3 here;
//! the full run in the README uses 20).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(kill_nine_under_load => crash_under_load_sqlite, crash_under_load_postgres);

/// A request that may fail in transit (the server may be dead): `None` then.
fn try_post(url: &str, path: &str, token: &str, key: Option<&str>, body: &Value) -> Option<(u16, Value)> {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    let mut req = agent.post(&format!("{url}{path}")).set("Authorization", &format!("Bearer {token}"));
    if let Some(k) = key {
        req = req.set("Idempotency-Key", k);
    }
    let res = match req.send_json(body.clone()) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(_) => return None,
    };
    let status = res.status();
    Some((status, res.into_json().unwrap_or(Value::Null)))
}

fn kill_nine_under_load(db: &TestDb) {
    let kills: usize = std::env::var("AZYQ_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 12);
    let vouchers = [w.activate(&server, 0), w.activate(&server, 1)];
    let sessions: Vec<String> = (0..4).map(|i| cashier(&server, "SHOP-A", &format!("T{i}"))).collect();
    drop(server);

    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let url = Arc::new(RwLock::new(String::new()));
    let mut seed = 0x9e37_79b9_u64;
    for round in 0..kills {
        let server = Server::start(db, NOW);
        *url.write().unwrap() = server.url.clone();
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::scope(|s| {
            for (t, session) in sessions.iter().enumerate() {
                let (stop, acked, url, iin) = (stop.clone(), acked.clone(), url.clone(), w.iins[t % 2].clone());
                let voucher = vouchers[t % 2];
                s.spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let base = url.read().unwrap().clone();
                        let wallet = wallet_token_at(&iin, NOW.parse().unwrap());
                        let Some((200, qr)) = try_post(
                            &base,
                            &format!("/api/v1/wallet/vouchers/{voucher}/qr"),
                            &wallet,
                            None,
                            &json!({}),
                        ) else {
                            continue;
                        };
                        let body = json!({"tokens": [qr["token"]], "lines": [line(FLOUR, 1, 10_000, 9_000)]});
                        let key = format!("r{round}-t{t}-n{n}");
                        let Some((201, a)) = try_post(&base, "/api/v1/pos/baskets", session, Some(&key), &body) else {
                            continue;
                        };
                        let id = a["basket_id"].as_i64().unwrap();
                        let pay = json!({"payment": {"method": "cash", "paid_tiyn": a["to_pay_tiyn"]}});
                        if let Some((200, _)) = try_post(
                            &base,
                            &format!("/api/v1/pos/baskets/{id}/capture"),
                            session,
                            Some(&format!("{key}-pay")),
                            &pay,
                        ) {
                            acked.lock().unwrap().push(id);
                        }
                    }
                });
            }
            // Let the tills sell for a random moment, then kill -9 in the middle of it.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_millis(150 + seed % 450));
            drop(server);
            stop.store(true, Ordering::SeqCst);
        });
    }

    // After the last kill: every acknowledged sale is there, captured; the books prove.
    let _server = Server::start(db, NOW);
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "no sale went through at all");
    let list = acked.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let captured =
        scalar(db, &format!("SELECT COUNT(*) AS n FROM baskets WHERE status = 'captured' AND id IN ({list})"));
    assert_eq!(captured as usize, acked.len(), "an acknowledged sale was lost");
    eprintln!("kill -9 x{kills}: {} acknowledged sales, all present", acked.len());
    assert_books(db);
    drop(_server);
    check_books(db);
}
