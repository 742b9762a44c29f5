//! The offline till (SPEC §3.9, issue 17) on the real binaries: `azyq-pos` logs in and syncs while
//! the server runs, sells offline with its journal once the server is gone (and refuses what the
//! rules refuse), and uploads each sale exactly once when the server is back, even when its sync
//! is killed at random points.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use azyq_shared::api::History;
use azyq_shared::Tiyn;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::Rng;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::pos_cli::pos_bin;
use crate::world::*;

on_both!(offline_sales_upload_exactly_once);
on_both!(a_killed_sync_loses_no_sale_and_applies_none_twice);
on_both!(a_stale_a_forged_or_a_missing_pack_stops_offline_selling);

const LOGIN: [&str; 6] = ["--shop", "SHOP-A", "--terminal", "T1", "--login", "kassa"];

/// `azyq-pos` at `url` with the till's clock at `now` and its journal at `journal`.
fn pos(url: &str, now: DateTime<Utc>, journal: &Path, args: &[&str]) -> (ExitStatus, Value, String) {
    let out = pos_command(url, now, journal, args).output().expect("run azyq-pos");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status,
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pos_command(url: &str, now: DateTime<Utc>, journal: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(pos_bin());
    cmd.args(args)
        .args(["--server", url, "--journal"])
        .arg(journal)
        // A refused connection fails at once; the timeouts only bound a hung one.
        .args(["--connect-timeout", "2", "--timeout", "20"])
        .env("AZYQ_POS_PASSWORD", CASHIER_PASSWORD)
        .env("AZYQ_FAKE_NOW", now.to_rfc3339())
        .env("AZYQ_ALLOW_FAKE_CLOCK", "1");
    cmd
}

/// `azyq-pos sale` of `lines` on `tokens`, with the log-in flags.
fn sale_args<'a>(tokens: &'a [String], lines: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["sale"];
    args.extend(LOGIN);
    for t in tokens {
        args.extend(["--token", t.as_str()]);
    }
    for l in lines {
        args.extend(["--line", l.as_str()]);
    }
    args
}

fn sync_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["sync"];
    args.extend(LOGIN);
    args.extend(extra);
    args
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn seconds(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// The refusal's code as `azyq-pos` prints it on stderr: `[code]`.
fn refused_with(out: &(ExitStatus, Value, String), code: &str) {
    assert!(!out.0.success(), "expected {code}, sold: {}", out.1);
    assert!(out.2.contains(&format!("[{code}]")), "expected [{code}]: {}", out.2);
}

/// What an offline sale drew from each voucher, from its printed JSON.
fn drawn(sale: &Value) -> Vec<(i64, i64)> {
    sale["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["voucher_id"].as_i64().unwrap(), v["charged_tiyn"].as_i64().unwrap()))
        .collect()
}

/// Log in and sync while online; stop the server; sell offline (two sales, one of two vouchers),
/// with every refusal the rules make; start the server again; `sync` applies each sale once and
/// the balances, the wallet's history, the shop's day and `check` agree; a second `sync` uploads
/// nothing.
fn offline_sales_upload_exactly_once(db: &TestDb) {
    let (server, w) = {
        create_operator(db, "op", "operator");
        let server = Server::start(db, NOW);
        let w = setup(db, &server, 23);
        (server, w)
    };
    let (v0, v1) = (w.activate(&server, 0), w.activate(&server, 1));
    // Flour is recalled before the pack is made: the pack carries the recall.
    let (s, b) = server.post("/api/v1/recalls", Some(&w.op), &json!({"gtin": FLOUR, "reason": "Моль в партии"}));
    assert_eq!(s, 201, "{b}");
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("till/journal.db");

    let online = pos(&server.url, server.now, &journal, &sync_args(&[]));
    assert!(online.0.success(), "{}", online.2);
    assert_eq!((online.1["uploaded"].as_i64(), online.1["pending"].as_i64()), (Some(0), Some(0)), "{}", online.1);
    assert!(online.1["pack_expires_at"].is_string(), "{}", online.1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&journal).unwrap().permissions().mode() & 0o777, 0o600);

    let qr = |m: usize| w.qr(&server, m);
    let (a1, a2, a3, b1) = (qr(0), qr(0), qr(0), qr(1));
    assert!(a1.starts_with("AZ2:") && a1.len() == 156, "the wallet mints format 2: {a1}");
    let (url, started) = (server.url.clone(), server.now);
    drop(server);

    let offline_now = started + seconds(60);
    let milk = |n: i64| format!("{MILK}:{n}:50000:42500");
    // Sale 1: one voucher, two cartons of milk (150 ₸ of discount).
    let one = pos(&url, offline_now, &journal, &sale_args(std::slice::from_ref(&a1), &[milk(2)]));
    assert!(one.0.success(), "{}", one.2);
    assert_eq!(one.1["offline"], true, "{}", one.1);
    assert_eq!((one.1["discount_tiyn"].as_i64(), one.1["to_pay_tiyn"].as_i64()), (Some(15_000), Some(85_000)));
    assert_eq!(one.1["waiting"], 1);
    // Sale 2: two vouchers of the family in scan order, 10 cartons (750 ₸).
    let two = pos(&url, offline_now + seconds(30), &journal, &sale_args(&[a2.clone(), b1.clone()], &[milk(10)]));
    assert!(two.0.success(), "{}", two.2);
    assert_eq!(drawn(&two.1), vec![(v0, 75_000), (v1, 0)], "the first voucher's day limit is not reached yet");

    // Refusals: the same token again, a tampered token, recalled goods, the day limit.
    refused_with(
        &pos(&url, offline_now + seconds(40), &journal, &sale_args(std::slice::from_ref(&a1), &[milk(1)])),
        "token_used",
    );
    let mut tampered = a3.clone().into_bytes();
    tampered[60] = if tampered[60] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    refused_with(&pos(&url, offline_now + seconds(41), &journal, &sale_args(&[tampered], &[milk(1)])), "token_invalid");
    let flour = format!("{FLOUR}:1:100000:85000");
    refused_with(
        &pos(&url, offline_now + seconds(42), &journal, &sale_args(std::slice::from_ref(&a3), &[flour])),
        "product_recalled",
    );
    // Voucher 0 has given 900 ₸ offline today; its day limit is 1 081,25 ₸ (a quarter of 4 325 ₸):
    // three more cartons (225 ₸) would pass it, two (150 ₸) fit.
    refused_with(
        &pos(&url, offline_now + seconds(43), &journal, &sale_args(std::slice::from_ref(&a3), &[milk(3)])),
        "offline_limit",
    );
    let three = pos(&url, offline_now + seconds(44), &journal, &sale_args(std::slice::from_ref(&a3), &[milk(2)]));
    assert!(three.0.success(), "a refused sale kept nothing, not even its nonce: {}", three.2);
    assert_eq!(three.1["waiting"], 3);
    // A refund needs the server.
    let mut refund = vec!["refund"];
    refund.extend(LOGIN);
    refund.extend(["--basket", "1"]);
    refused_with(&pos(&url, offline_now + seconds(45), &journal, &refund), "needs_link");

    // The server is back (a new port, the same database), ten minutes later.
    let server = Server::start(db, "2026-12-06T05:10:00Z");
    let synced = pos(&server.url, server.now, &journal, &sync_args(&[]));
    assert!(synced.0.success(), "{}", synced.2);
    assert_eq!(synced.1["uploaded"], 3, "{}", synced.1);
    assert_eq!(synced.1["applied"], 3, "{}", synced.1);
    assert_eq!((synced.1["short"].as_i64(), synced.1["pending"].as_i64()), (Some(0), Some(0)), "{}", synced.1);

    let spent0: i64 = [&one.1, &two.1, &three.1].iter().flat_map(|s| drawn(s)).filter(|d| d.0 == v0).map(|d| d.1).sum();
    assert_eq!(spent0, 15_000 + 75_000 + 15_000);
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500 - spent0));
    assert_eq!(w.balance(&server, 1), Tiyn::new(432_500));
    // The wallet's history shows each offline basket at its sale time, captured.
    let history: History = server.get_as("/api/v1/wallet/history", Some(&server.wallet_token(&w.iins[0]))).success(200);
    let mut times: Vec<DateTime<Utc>> = history.baskets.iter().map(|b| b.at).collect();
    times.sort();
    let sold: Vec<DateTime<Utc>> =
        [&one.1, &two.1, &three.1].iter().map(|s| at(s["sold_at"].as_str().unwrap())).collect();
    assert_eq!(times.len(), 3, "{history:?}");
    for (seen, sold) in times.iter().zip(&sold) {
        assert!((*seen - *sold).num_seconds().abs() <= 1, "history at {seen}, sold at {sold}");
    }
    assert!(history.baskets.iter().all(|b| b.status == azyq_shared::api::BasketStatus::Captured));
    // The shop's day: three baskets, their discount.
    let till = Till::login(&server, "SHOP-A", "T1");
    let day = till.daily("2026-12-06").success(200);
    assert_eq!((day.baskets_captured, day.discount_tiyn), (3, Tiyn::new(spent0)), "{day:?}");
    check_books(db);

    // A second sync uploads nothing and applies nothing.
    let again = pos(&server.url, server.now, &journal, &sync_args(&[]));
    assert!(again.0.success(), "{}", again.2);
    assert_eq!((again.1["uploaded"].as_i64(), again.1["pending"].as_i64()), (Some(0), Some(0)), "{}", again.1);
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500 - spent0));
}

/// A journal of 240 offline sales (1 tiyn of discount each); `azyq-pos sync --chunk 1` killed
/// with SIGKILL after a random delay 20 times and run again each time; a last run finishes. Every
/// sale is applied once: the vouchers lost exactly 240 tiyn, the shop's day has 240 baskets.
fn a_killed_sync_loses_no_sale_and_applies_none_twice(db: &TestDb) {
    const SALES: usize = 240;
    create_operator(db, "op", "operator");
    // QR codes of an hour: the 240 offline sales take minutes of the till's clock.
    let server = Server::start_with(db, NOW, &[("AZYQ_QR_MINUTES", "60")]);
    let w = setup(db, &server, 29);
    w.activate(&server, 0);
    w.activate(&server, 1);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    assert!(pos(&server.url, server.now, &journal, &sync_args(&[])).0.success());
    let tokens: Vec<String> = (0..SALES).map(|i| w.qr(&server, i % 2)).collect();
    let (url, started) = (server.url.clone(), server.now);
    drop(server);
    // Milk at 1,00 ₸ for 0,99 ₸: one tiyn of discount.
    let line = [format!("{MILK}:1:100:99")];
    for (i, t) in tokens.iter().enumerate() {
        let now = started + seconds(30 + i64::try_from(i).unwrap());
        let out = pos(&url, now, &journal, &sale_args(std::slice::from_ref(t), &line));
        assert!(out.0.success(), "sale {i}: {}", out.2);
    }

    let server = Server::start(db, "2026-12-06T05:30:00Z");
    let mut rng = rand::thread_rng();
    let pending_sql = "SELECT COUNT(*) AS n FROM offline_sales WHERE status <> 'uploaded'";
    let mut left = Vec::new();
    for round in 0..20 {
        let mut child = pos_command(&server.url, server.now, &journal, &sync_args(&["--chunk", "1"]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..800)));
        // SIGKILL: no clean-up of any kind.
        let _ = child.kill();
        let status = child.wait().unwrap();
        left.push(journal_scalar(&journal, pending_sql));
        eprintln!("round {round}: {status}, {} pending", left[round]);
    }
    assert!(
        left.iter().any(|&n| n > 0 && n < i64::try_from(SALES).unwrap()),
        "some sync was killed in the middle of the upload: {left:?}"
    );
    let last = pos(&server.url, server.now, &journal, &sync_args(&[]));
    assert!(last.0.success(), "{}", last.2);
    assert_eq!(last.1["pending"], 0, "{}", last.1);
    let pending: i64 = journal_scalar(&journal, pending_sql);
    let kept: i64 = journal_scalar(&journal, "SELECT COUNT(*) AS n FROM offline_sales");
    assert_eq!((kept, pending), (i64::try_from(SALES).unwrap(), 0));
    let each = i64::try_from(SALES / 2).unwrap();
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500 - each), "none lost, none applied twice");
    assert_eq!(w.balance(&server, 1), Tiyn::new(432_500 - each));
    let till = Till::login(&server, "SHOP-A", "T1");
    let day = till.daily("2026-12-06").success(200);
    assert_eq!((day.baskets_captured, day.discount_tiyn), (i64::try_from(SALES).unwrap(), Tiyn::new(2 * each)));
    check_books(db);
}

/// A count from the till's journal file, read as SQLite.
fn journal_scalar(journal: &Path, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(journal.to_str().unwrap()).unwrap();
    diesel::sql_query(sql).get_result::<N>(&mut conn).unwrap().n
}

fn journal_exec(journal: &Path, sql: &str) {
    let mut conn = SqliteConnection::establish(journal.to_str().unwrap()).unwrap();
    diesel::sql_query(sql).execute(&mut conn).unwrap();
}

/// Offline selling needs a fresh and genuine pack and a kept session: a till whose clock passed
/// the pack's expiry refuses (packs of an hour here, within the cashier's 12-hour session), so
/// does one whose pack bytes were altered in the journal, and one that never synced, or whose
/// cashier never logged in on it.
fn a_stale_a_forged_or_a_missing_pack_stops_offline_selling(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start_with(db, NOW, &[("AZYQ_OFFLINE_PACK_HOURS", "1")]);
    let w = setup(db, &server, 31);
    w.activate(&server, 0);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    let synced = pos(&server.url, server.now, &journal, &sync_args(&[]));
    assert!(synced.0.success(), "{}", synced.2);
    let expires = at(synced.1["pack_expires_at"].as_str().unwrap());
    let token = w.qr(&server, 0);
    let (url, started) = (server.url.clone(), server.now);
    drop(server);
    let line = [format!("{MILK}:1:50000:42500")];
    let sale = sale_args(std::slice::from_ref(&token), &line);

    // Never synced: no pack, no session.
    let fresh: PathBuf = dir.path().join("fresh.db");
    refused_with(&pos(&url, started + seconds(30), &fresh, &sale), "offline_no_session");
    // Another cashier of the shop never logged in on this till.
    let mut other = sale.clone();
    other[6] = "kassa2";
    refused_with(&pos(&url, started + seconds(30), &journal, &other), "offline_no_session");
    // The till's clock past the pack's expiry.
    assert!(expires <= started + chrono::Duration::hours(1) + seconds(5), "{expires}");
    refused_with(&pos(&url, expires + seconds(1), &journal, &sale), "offline_pack_stale");
    // The pack's bytes altered in the journal: its signature no longer holds.
    journal_exec(&journal, "UPDATE pack SET bytes = CAST(REPLACE(CAST(bytes AS TEXT), '\"55\"', '\"11\"') AS BLOB)");
    refused_with(&pos(&url, started + seconds(31), &journal, &sale), "offline_pack_forged");
    // The pack dropped: missing.
    journal_exec(&journal, "DELETE FROM pack");
    refused_with(&pos(&url, started + seconds(32), &journal, &sale), "offline_pack_missing");
    let sold: i64 = journal_scalar(&journal, "SELECT COUNT(*) AS n FROM offline_sales");
    assert_eq!(sold, 0);
}

/// A UUID v7 for a sale at `at` (48 bits of milliseconds, the version, the variant, random bits).
fn uuid_v7(at: DateTime<Utc>, rng: &mut impl Rng) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap();
    let (a, b, c): (u16, u16, u64) =
        (rng.gen::<u16>() & 0x0fff, rng.gen::<u16>() & 0x3fff, rng.gen::<u64>() & 0xffff_ffff_ffff);
    format!("{:08x}-{:04x}-7{a:03x}-{:04x}-{c:012x}", ms >> 16, ms & 0xffff, 0x8000 | b)
}

/// `sync` of 10,000 offline sales (one token and one line each) on SQLite: the figure for the
/// README, measured on the release build with
/// `cargo build --release -p azyq-server && AZYQ_TEST_SERVER_BIN=$PWD/target/release/azyq-server cargo test -p azyq-server --test e2e sync_of_ten_thousand -- --ignored --nocapture`.
/// The journal is filled directly (the sales as `azyq-pos sale` writes them, with real tokens the
/// wallet minted), so that only the upload is timed; every sale must be applied once.
#[test]
#[ignore = "a measurement: minutes of set-up"]
fn sync_of_ten_thousand_offline_sales() {
    const SALES: usize = 10_000;
    let db = TestDb::sqlite();
    create_operator(&db, "op", "operator");
    let server = Server::start_with(&db, NOW, &[("AZYQ_QR_MINUTES", "60")]);
    let w = setup(&db, &server, 37);
    w.activate(&server, 0);
    w.activate(&server, 1);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    assert!(pos(&server.url, server.now, &journal, &sync_args(&[])).0.success());
    let mut rng = rand::thread_rng();
    let mut conn = SqliteConnection::establish(journal.to_str().unwrap()).unwrap();
    let started = std::time::Instant::now();
    let mut rows = Vec::with_capacity(SALES);
    for i in 0..SALES {
        let token = w.qr(&server, i % 2);
        let sold_at = server.now + seconds(10) + chrono::Duration::milliseconds(i64::try_from(i).unwrap());
        let sale_id = uuid_v7(sold_at, &mut rng);
        let body = json!({"sale_id": sale_id, "terminal_id": "T1", "sold_at": sold_at, "tokens": [token],
            "lines": [{"code": MILK, "quantity": 1, "shelf_price_tiyn": 100, "reduced_price_tiyn": 99}],
            "discount_tiyn": 1, "payment": {"method": "cash", "paid_tiyn": 99}});
        rows.push((sale_id, sold_at.to_rfc3339(), body.to_string()));
    }
    eprintln!("minted {SALES} tokens in {:?}", started.elapsed());
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        for (sale_id, sold_at, body) in &rows {
            diesel::sql_query(
                "INSERT INTO offline_sales (sale_id, sold_at, body, discount_tiyn, status) VALUES (?, ?, ?, 1, 'pending')",
            )
            .bind::<diesel::sql_types::Text, _>(sale_id)
            .bind::<diesel::sql_types::Text, _>(sold_at)
            .bind::<diesel::sql_types::Text, _>(body)
            .execute(c)?;
        }
        Ok(())
    })
    .unwrap();
    drop(conn);
    let clock = std::time::Instant::now();
    let out = pos(&server.url, server.now, &journal, &sync_args(&[]));
    let took = clock.elapsed();
    assert!(out.0.success(), "{}", out.2);
    eprintln!("sync of {SALES} offline sales: {took:?} ({})", out.1);
    assert_eq!((out.1["uploaded"].as_u64(), out.1["applied"].as_u64()), (Some(10_000), Some(10_000)), "{}", out.1);
    let each = i64::try_from(SALES / 2).unwrap();
    assert_eq!(w.balance(&server, 0), Tiyn::new(432_500 - each));
    assert_eq!(w.balance(&server, 1), Tiyn::new(432_500 - each));
    // Measured, not asserted: the target (≤ 10 s on SQLite) is read from the figure printed.
}
