//! Nothing charged twice, nothing below zero: many tills at once on one voucher, two server
//! processes on one database, and a flood of retries with one idempotency key; and a read that
//! sees one state, whatever commits beside it.

use std::sync::{Arc, Barrier};

use azyq_server::db::{schema::job_runs, Db};
use azyq_server::with_conn;
use azyq_shared::Tiyn;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(eight_tills_on_one_voucher => eight_tills_sqlite, eight_tills_postgres);
on_both!(two_processes_on_one_database => two_processes_sqlite, two_processes_postgres);
on_both!(a_read_is_one_snapshot => read_snapshot_sqlite, read_snapshot_postgres);
on_both!(flood_of_retries_with_one_key => retry_flood_sqlite, retry_flood_postgres);

const TILLS: usize = 8;

/// Sends `bodies[i]` from till i on `servers[i % n]`, all released at once; answers in till order.
fn race(servers: &[&Server], sessions: &[String], bodies: Vec<Value>, keys: Vec<String>) -> Vec<(u16, Value)> {
    race_at("/api/v1/pos/baskets", servers, sessions, bodies, keys)
}

/// [`race`] to another path.
fn race_at(
    path: &str,
    servers: &[&Server],
    sessions: &[String],
    bodies: Vec<Value>,
    keys: Vec<String>,
) -> Vec<(u16, Value)> {
    let barrier = Arc::new(Barrier::new(bodies.len()));
    std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .into_iter()
            .zip(keys)
            .enumerate()
            .map(|(i, (body, key))| {
                let barrier = barrier.clone();
                let server = servers[i % servers.len()];
                let session = &sessions[i % sessions.len()];
                scope.spawn(move || {
                    barrier.wait();
                    post_keyed(server, path, session, &key, &body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("till thread")).collect()
    })
}

fn tally(results: &[(u16, Value)]) -> (usize, Vec<String>) {
    let ok = results.iter().filter(|r| r.0 == 201).count();
    let mut refused: Vec<String> = results.iter().filter(|r| r.0 != 201).map(|r| code(r).1).collect();
    refused.sort();
    (ok, refused)
}

/// Eight tills authorise baskets of 105 000 tiyn discount on one 432 500 voucher at the same
/// instant: exactly four fit; then eight baskets with the same serial code: exactly one sells.
fn contend(db: &TestDb, servers: &[&Server], w: &World) {
    let sessions: Vec<String> =
        (0..TILLS).map(|i| cashier(servers[i % servers.len()], "SHOP-A", &format!("T{i}"))).collect();
    let tokens: Vec<String> = (0..TILLS).map(|_| w.qr(servers[0], 0)).collect();
    let bodies = tokens.iter().map(|t| json!({"tokens": [t], "lines": [line(FLOUR, 7, 100_000, 85_000)]})).collect();
    let keys = (0..TILLS).map(|i| format!("race-a-{i}")).collect();
    let results = race(servers, &sessions, bodies, keys);
    let (ok, refused) = tally(&results);
    assert_eq!((ok, refused), (4, vec!["insufficient_balance".to_string(); 4]), "{results:?}");
    assert_eq!(w.balance(servers[0], 0), Tiyn::new(432_500 - 4 * 105_000));
    assert_books(db);
    // Capture the four at once too.
    std::thread::scope(|scope| {
        for (i, r) in results.iter().enumerate().filter(|(_, r)| r.0 == 201) {
            let (server, session) = (servers[i % servers.len()], &sessions[i]);
            scope.spawn(move || {
                let id = r.1["basket_id"].as_i64().unwrap();
                let pay = json!({"payment": {"method": "cash", "paid_tiyn": r.1["to_pay_tiyn"]}});
                let c = post_keyed(
                    server,
                    &format!("/api/v1/pos/baskets/{id}/capture"),
                    session,
                    &format!("pay-{id}"),
                    &pay,
                );
                assert_eq!(c.0, 200, "{}", c.1);
            });
        }
    });
    assert_books(db);

    let tokens: Vec<String> = (0..TILLS).map(|_| w.qr(servers[0], 1)).collect();
    let serial = format!("(01){MILK}(21)ONLYONE");
    let bodies = tokens.iter().map(|t| json!({"tokens": [t], "lines": [line(&serial, 1, 50_000, 42_500)]})).collect();
    let keys = (0..TILLS).map(|i| format!("race-b-{i}")).collect();
    let results = race(servers, &sessions, bodies, keys);
    let (ok, refused) = tally(&results);
    assert_eq!((ok, refused), (1, vec!["code_already_sold".to_string(); TILLS - 1]), "{results:?}");
    assert_eq!(w.balance(servers[0], 1), Tiyn::new(432_500 - 7_500));
    assert_books(db);
    check_books(db);
}

fn eight_tills_on_one_voucher(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 4);
    w.activate(&server, 0);
    w.activate(&server, 1);
    contend(db, &[&server], &w);
}

fn two_processes_on_one_database(db: &TestDb) {
    create_operator(db, "op", "operator");
    let a = Server::start(db, NOW);
    let w = setup(db, &a, 5);
    w.activate(&a, 0);
    w.activate(&a, 1);
    let b = Server::start(db, NOW);
    contend(db, &[&a, &b], &w);
}

/// Sixteen copies of one authorise with one key, at once (a till retrying into a slow network):
/// one basket, one hold, sixteen identical answers. Then sixteen copies of its capture with one key
/// (one charge, sixteen identical receipts), and eight captures of another basket under eight keys
/// (one receipt, seven 409s that say it is captured). On PostgreSQL a transition reserves its key
/// in the statement that takes its locks, so each copy waits there for the first one's commit.
fn flood_of_retries_with_one_key(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 6);
    w.activate(&server, 0);
    let session = cashier(&server, "SHOP-A", "T1");
    let body = json!({"tokens": [w.qr(&server, 0)], "lines": [line(FLOUR, 2, 100_000, 85_000)]});
    let copies = 16;
    let results =
        race(&[&server], std::slice::from_ref(&session), vec![body; copies], vec!["same-key".to_string(); copies]);
    assert!(results.iter().all(|r| r.0 == 201), "{results:?}");
    assert!(results.iter().all(|r| r.1 == results[0].1), "answers differ");
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM baskets"), 1);
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500 - 30_000));
    assert_books(db);

    let capture = |basket: &Value| {
        let id = basket["basket_id"].as_i64().unwrap();
        let pay = json!({"payment": {"method": "cash", "paid_tiyn": basket["to_pay_tiyn"]}});
        (format!("/api/v1/pos/baskets/{id}/capture"), pay)
    };
    let (path, pay) = capture(&results[0].1);
    let paid = race_at(
        &path,
        &[&server],
        std::slice::from_ref(&session),
        vec![pay; copies],
        vec!["pay-once".to_string(); copies],
    );
    assert!(paid.iter().all(|r| r.0 == 200), "{paid:?}");
    assert!(paid.iter().all(|r| r.1 == paid[0].1), "receipts differ");
    assert_eq!(paid[0].1["receipt"]["vouchers"][0]["charged_tiyn"], 30_000);

    let body = json!({"tokens": [w.qr(&server, 0)], "lines": [line(FLOUR, 1, 100_000, 85_000)]});
    let (s, second) = post_keyed(&server, "/api/v1/pos/baskets", &session, "second", &body);
    assert_eq!(s, 201, "{second}");
    let (path, pay) = capture(&second);
    let keys = (0..TILLS).map(|i| format!("pay-{i}")).collect();
    let paid = race_at(&path, &[&server], &[session], vec![pay; TILLS], keys);
    let ok = paid.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<(u16, String)> = paid.iter().filter(|r| r.0 != 200).map(code).collect();
    assert_eq!((ok, refused), (1, vec![(409, "basket_state".to_string()); TILLS - 1]), "{paid:?}");
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500 - 30_000 - 15_000));
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM baskets WHERE status = 'captured'"), 2);
    assert_books(db);
    check_books(db);
}

/// `Db::read` runs its statements on one snapshot, on both databases: a row another connection
/// commits between two of them is seen by neither. (A list read in two statements, the open
/// deliveries and then the delivered ones, showed a delivery that was delivered in between twice.)
fn a_read_is_one_snapshot(db: &TestDb) {
    let conn = Db::connect(&db.url, 2).expect("open the test database");
    let count = |c: &mut azyq_server::db::Conn| -> i64 {
        with_conn!(c, c => job_runs::table.count().get_result(c)).expect("count the job runs")
    };
    let (first, second) = conn
        .read(|c| {
            let first = count(c);
            db.execute(
                "INSERT INTO job_runs (job, job_key, done_at) VALUES ('test', 'between', '2026-12-01 00:00:00')",
            );
            Ok((first, count(c)))
        })
        .expect("the read");
    assert_eq!(second, first, "a row committed between two statements of one read");
    assert_eq!(conn.read(|c| Ok(count(c))).expect("a read after"), first + 1);
}
