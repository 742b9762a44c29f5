//! The attacks of the security review, each as a test that must fail to succeed: sessions that
//! outlive a reset, a role change or a removal (on every replica); parallel guesses past the
//! lockout; anonymous requests that grow the database; secrets readable by others; a formula in
//! the ministry's CSV; a wallet JWT not yet valid; recipients journaled by their IIN.

use std::os::unix::fs::PermissionsExt;
use std::sync::Barrier;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(sessions_end_when_credentials_change => revocation_sqlite, revocation_postgres);
on_both!(parallel_guesses_stop_at_the_lockout => lockout_sqlite, lockout_postgres);
on_both!(anonymous_requests_do_not_grow_the_database => growth_sqlite, growth_postgres);
on_both!(small_ones => small_ones_sqlite, small_ones_postgres);
on_both!(secrets_live_outside_the_database => key_dir_sqlite, key_dir_postgres);

fn cashier_login(server: &Server, password: &str) -> (u16, Value) {
    server.post(
        "/api/v1/sessions",
        None,
        &json!({"shop_id": "SHOP-A", "terminal_id": "T1", "login": "kassa", "password": password}),
    )
}

fn sessions_end_when_credentials_change(db: &TestDb) {
    create_operator(db, "op", "operator");
    let a = Server::start(db, NOW);
    let w = setup(db, &a, 101);
    let b = Server::start(db, NOW);
    let till = cashier(&a, "SHOP-A", "T1");
    assert_eq!(b.get("/api/v1/pos/catalog", Some(&till)).0, 200, "a session is good on every replica");
    w.activate(&a, 0);
    let qr = w.qr(&a, 0);
    // The look-up reads the account in its own statement: good token or bad, an ended session is
    // 401 before anything about the token.
    let lookups = |server: &Server, session: &str| {
        [json!({"token": qr}), json!({"token": "AZ1:x"})]
            .map(|body| code(&server.post("/api/v1/pos/lookup", Some(session), &body)).0)
    };
    assert_eq!(lookups(&b, &till), [200, 422]);

    // A password reset ends the old session at once, on both replicas.
    let (s, r) =
        a.post("/api/v1/shops/SHOP-A/cashiers", Some(&w.op), &json!({"login": "kassa", "password": "new-password-1"}));
    assert_eq!(s, 201, "{r}");
    for server in [&a, &b] {
        assert_eq!(code(&server.get("/api/v1/pos/catalog", Some(&till))), (401, "unauthorized".into()));
        assert_eq!(code(&server.get("/api/v1/pos/reports/daily", Some(&till))), (401, "unauthorized".into()));
        assert_eq!(lookups(server, &till), [401, 401]);
    }
    assert_eq!(cashier_login(&a, CASHIER_PASSWORD).0, 401, "the old password no longer opens");
    let (s, fresh) = cashier_login(&b, "new-password-1");
    assert_eq!(s, 200, "{fresh}");
    let fresh = fresh["token"].as_str().unwrap().to_owned();
    assert_eq!(a.get("/api/v1/pos/catalog", Some(&fresh)).0, 200);

    // A removed cashier: its sessions end, it cannot log in; made again, the old session stays dead.
    let (s, _) = a.call("DELETE", "/api/v1/shops/SHOP-A/cashiers/kassa", Some(&w.op), None);
    assert_eq!(s, 204);
    assert_eq!(code(&b.get("/api/v1/pos/catalog", Some(&fresh))), (401, "unauthorized".into()));
    assert_eq!(lookups(&b, &fresh), [401, 401], "a removed cashier looks nothing up");
    assert_eq!(code(&cashier_login(&a, "new-password-1")), (401, "invalid_credentials".into()));
    assert_eq!(
        code(&a.call("DELETE", "/api/v1/shops/SHOP-A/cashiers/kassa", Some(&w.op), None)),
        (404, "not_found".into())
    );
    let viewer_tries = {
        create_operator(db, "vw", "viewer");
        let (s, v) = a.post("/api/v1/sessions", None, &json!({"login": "vw", "password": OPERATOR_PASSWORD}));
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        code(&a.call("DELETE", "/api/v1/shops/SHOP-A/cashiers/kassa", Some(&viewer_tries), None)),
        (403, "forbidden".into()),
        "a viewer removes no one"
    );
    let (s, _) = a.post(
        "/api/v1/shops/SHOP-A/cashiers",
        Some(&w.op),
        &json!({"login": "kassa", "password": "third-password-1"}),
    );
    assert_eq!(s, 201);
    assert_eq!(code(&a.get("/api/v1/pos/catalog", Some(&fresh))), (401, "unauthorized".into()));
    assert_eq!(cashier_login(&a, "third-password-1").0, 200);

    // An operator made viewer by `create-operator --role viewer` loses the operator session.
    create_operator(db, "op2", "operator");
    let (s, op2) = a.post("/api/v1/sessions", None, &json!({"login": "op2", "password": OPERATOR_PASSWORD}));
    assert_eq!(s, 200, "{op2}");
    let op2 = op2["token"].as_str().unwrap().to_owned();
    let sdu = format!("/api/v1/reports/sdu-return?month={}", a.month());
    assert_eq!(a.get(&sdu, Some(&op2)).0, 200);
    create_operator(db, "op2", "viewer");
    for server in [&a, &b] {
        assert_eq!(code(&server.get(&sdu, Some(&op2))), (401, "unauthorized".into()));
    }
    let (s, v) = a.post("/api/v1/sessions", None, &json!({"login": "op2", "password": OPERATOR_PASSWORD}));
    assert_eq!((s, v["role"].as_str()), (200, Some("viewer")), "{v}");
    let v = v["token"].as_str().unwrap().to_owned();
    assert_eq!(code(&a.get(&sdu, Some(&v))), (403, "forbidden".into()), "the SDU return is the operator's");
    assert_eq!(a.get(&format!("/api/v1/reports/daily?date={}", &NOW[..10]), Some(&v)).0, 200);
    assert_eq!(code(&a.put("/api/v1/localities", Some(&v), &json!([]))), (403, "forbidden".into()));

    // `keys rotate-session` ends every session, on every replica.
    let out = cli(db, NOW).args(["keys", "rotate-session"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for server in [&a, &b] {
        assert_eq!(code(&server.get("/api/v1/reports/daily", Some(&v))), (401, "unauthorized".into()));
        assert_eq!(code(&server.get("/api/v1/catalog/groups", Some(&w.op))), (401, "unauthorized".into()));
    }
    // After it, a log-in on either replica signs with the new secret and works on the other.
    let fresh = b.operator_token();
    let (s, body) = a.get("/api/v1/catalog/groups", Some(&fresh));
    assert_eq!(s, 200, "{body}");
}

/// 30 wrong passwords for one login at once: at most 5 are checked (401), the rest 429; and the
/// right password is refused too until the window passes.
fn parallel_guesses_stop_at_the_lockout(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    // Good log-ins from one address do not count against it (a shop's tills share one address).
    for _ in 0..35 {
        server.operator_token();
    }
    let barrier = Barrier::new(30);
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..30)
            .map(|i| {
                let (server, barrier) = (&server, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    server.post("/api/v1/sessions", None, &json!({"login": "op", "password": format!("wrong-{i}")}))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = answers.iter().filter(|a| code(a) == (401, "invalid_credentials".into())).count();
    let locked = answers.iter().filter(|a| code(a) == (429, "too_many_attempts".into())).count();
    assert_eq!((checked, locked), (5, 25), "{answers:?}");
    let (s, _) = server.post("/api/v1/sessions", None, &json!({"login": "op", "password": OPERATOR_PASSWORD}));
    assert_eq!(s, 429, "locked out for the window, right password or not");
    drop(server);
    // The window passes (15 minutes on the server's clock): the right password opens again.
    let later: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let server = Server::start(db, &(later + chrono::Duration::minutes(16)).to_rfc3339());
    let (s, b) = server.post("/api/v1/sessions", None, &json!({"login": "op", "password": OPERATOR_PASSWORD}));
    assert_eq!(s, 200, "{b}");

    // One client address flooding with random logins stops at its own limit, before Argon2 runs
    // for each; the server keeps answering meanwhile.
    let barrier = Barrier::new(60);
    let answers: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..60)
            .map(|i| {
                let (server, barrier) = (&server, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    server
                        .post(
                            "/api/v1/sessions",
                            None,
                            &json!({"login": format!("nobody{i}"), "password": "x-password"}),
                        )
                        .0
                })
            })
            .collect();
        let health = server.get("/health", None).0;
        assert_eq!(health, 200);
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = answers.iter().filter(|s| **s == 401).count();
    assert!(checked <= 30, "{checked} passwords checked from one address: {answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 429).count() + checked, 60, "{answers:?}");
}

/// A 500 kB login and logins with control characters are refused before anything is stored;
/// attempts older than the window are purged by the scheduler.
fn anonymous_requests_do_not_grow_the_database(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let huge = "x".repeat(500_000);
    for login in [huge.as_str(), "a\u{0}b", "a\nb", &"y".repeat(65)] {
        let (s, b) = server.post("/api/v1/sessions", None, &json!({"login": login, "password": "whatever-1"}));
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("validation")), "{b}");
    }
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM login_attempts"), 0, "nothing stored for refused log-ins");
    for i in 0..3 {
        let (s, _) =
            server.post("/api/v1/sessions", None, &json!({"login": format!("ghost{i}"), "password": "whatever-1"}));
        assert_eq!(s, 401);
    }
    assert!(scalar(db, "SELECT COUNT(*) AS n FROM login_attempts") > 0);
    drop(server);
    // Past the window, the scheduler's catch-up at start purges them.
    let later: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let _server = Server::start(db, &(later + chrono::Duration::minutes(20)).to_rfc3339());
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM login_attempts"), 0, "old attempts purged");
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// Secrets at rest, spreadsheet formulas, `nbf`, terminal ids, recipients in the journal.
fn small_ones(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 102);
    w.activate(&server, 0);

    // The database, its WAL and SHM, and the SMS file are the service's only.
    if !db.url.starts_with("postgres") {
        let file = db.url.trim_start_matches("sqlite://");
        for p in [file.to_owned(), format!("{file}-wal"), format!("{file}-shm")] {
            assert_eq!(mode(std::path::Path::new(&p)), 0o600, "{p}");
        }
    }
    let _ = wait_for_sms(db, 1);
    assert_eq!(mode(&db.sms_file()), 0o600);

    // A shop named like a formula is text in the ministry's CSV.
    let (s, b) = server.put(
        "/api/v1/shops/SHOP-A",
        Some(&w.op),
        &json!({"name": "=HYPERLINK(\"http://evil.example/x\",\"Click\")", "kato": "551010000", "address": "ул. 1"}),
    );
    assert_eq!(s, 200, "{b}");
    let till = cashier(&server, "SHOP-A", "T1");
    let basket = json!({"tokens": [w.qr(&server, 0)], "lines": [line(FLOUR, 1, 10_000, 9_000)]});
    let (s, a) = post_keyed(&server, "/api/v1/pos/baskets", &till, "sale", &basket);
    assert_eq!(s, 201, "{a}");
    let id = a["basket_id"].as_i64().unwrap();
    let pay = json!({"payment": {"method": "cash", "paid_tiyn": 9_000}});
    assert_eq!(post_keyed(&server, &format!("/api/v1/pos/baskets/{id}/capture"), &till, "pay", &pay).0, 200);
    let (s, csv) = server.get_text(&format!("/api/v1/reports/daily?date={}&format=csv", &NOW[..10]), &w.op);
    assert_eq!(s, 200, "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "the shop is in the report, as text:\n{csv}");
    assert!(!csv.contains(",=HYPERLINK"), "a live formula in the CSV:\n{csv}");
    // Names with control characters, or too long, are refused at the API.
    for name in ["a\u{0}b", "line\nbreak", &"я".repeat(201)] {
        let (s, b) = server.put(
            "/api/v1/shops/SHOP-Y",
            Some(&w.op),
            &json!({"name": name, "kato": "551010000", "address": "ул. 1"}),
        );
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("validation")), "{b}");
    }

    // A wallet JWT whose nbf is in the future is refused.
    let now: chrono::DateTime<chrono::Utc> = NOW.parse().unwrap();
    let early = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iin": w.iins[0], "aud": "azyq-wallet", "exp": now.timestamp() + 7_200, "nbf": now.timestamp() + 3_600}),
        &jsonwebtoken::EncodingKey::from_secret(WALLET_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(code(&server.get("/api/v1/wallet/vouchers", Some(&early))), (401, "unauthorized".into()));

    // A terminal id is 1 to 32 of [A-Za-z0-9_-].
    for terminal in ["", "T 1", "касса", &"T".repeat(33)] {
        let (s, b) = server.post(
            "/api/v1/sessions",
            None,
            &json!({"shop_id": "SHOP-A", "terminal_id": terminal, "login": "kassa", "password": CASHIER_PASSWORD}),
        );
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("validation")), "{terminal:?}: {b}");
    }

    // The journal names recipients by a keyed hash, never by IIN.
    let iins_in_journal = scalar(
        db,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE actor LIKE '%{0}%' OR actor LIKE '%{1}%' OR entity_id LIKE '%{0}%' \
             OR COALESCE(detail, '') LIKE '%{0}%'",
            w.iins[0], w.iins[1]
        ),
    );
    assert_eq!(iins_in_journal, 0);
    assert_eq!(
        scalar(db, "SELECT COUNT(*) AS n FROM audit_log WHERE actor LIKE 'recipient:%' AND to_state = 'activated'"),
        1
    );
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'recipient'"), 0);
}

/// With `AZYQ_KEY_DIR`, the database holds no secret (a backup of it forges nothing), the key files
/// are the service's only, and the service works as before.
fn secrets_live_outside_the_database(db: &TestDb) {
    let keys = db.dir.path().join("keys");
    let dir = keys.to_str().unwrap().to_owned();
    let env = [("AZYQ_KEY_DIR", dir.as_str())];
    let mut op = cli(db, NOW);
    let out = op
        .env("AZYQ_KEY_DIR", &dir)
        .env("AZYQ_PASSWORD", OPERATOR_PASSWORD)
        .args(["create-operator", "--login", "op", "--role", "operator"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start_with(db, NOW, &env);
    let w = setup(db, &server, 103);
    w.activate(&server, 0);
    let till = cashier(&server, "SHOP-A", "T1");
    let token = w.qr(&server, 0);
    let (s, b) = server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": token}));
    assert_eq!(s, 200, "{b}");
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM server_secrets"), 0, "no secret in the database");
    assert_eq!(scalar(db, "SELECT COUNT(*) AS n FROM voucher_keys WHERE secret_key <> ''"), 0);
    assert_eq!(mode(&keys), 0o700);
    let files: Vec<_> = std::fs::read_dir(&keys).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let (s, _) = server.get("/.well-known/report-keys", None);
    assert_eq!(s, 200);
}
