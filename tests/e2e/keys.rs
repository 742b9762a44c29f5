//! Key rotation: the newest key signs, older ones verify until retired, all are published.

use serde_json::json;

use crate::helpers::*;
use crate::world::*;

fn keys_cli(db: &TestDb, args: &[&str]) {
    let out = cli(db, NOW).arg("keys").args(args).output().expect("run keys");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rotated_keys_verify_until_retired() {
    let db = TestDb::sqlite();
    create_operator(&db, "op", "operator");
    let server = Server::start(&db, NOW);
    let w = setup(&db, &server, 8);
    w.activate(&server, 0);
    let till = cashier(&server, "SHOP-A", "T1");
    let old = w.qr(&server, 0);

    keys_cli(&db, &["rotate"]);
    let (s, published) = server.get("/.well-known/voucher-keys", None);
    assert_eq!(s, 200);
    let kids: Vec<i64> = published["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_i64().unwrap()).collect();
    assert_eq!(kids, [1, 2]);
    assert!(published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["alg"] == "EdDSA" && k["public_key"].as_str().unwrap().len() == 43));
    assert!(!published.to_string().contains("secret"));
    let new = w.qr(&server, 0);
    assert_eq!(azyq_shared::token::decode(&new).unwrap().fields.kid, 2);
    assert_eq!(azyq_shared::token::decode(&old).unwrap().fields.kid, 1);
    for t in [&old, &new] {
        let (s, b) = server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": t}));
        assert_eq!(s, 200, "{b}");
    }

    keys_cli(&db, &["retire", "--kid", "1"]);
    assert_eq!(
        code(&server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": old}))),
        (422, "unknown_key".into())
    );
    assert_eq!(server.post("/api/v1/pos/lookup", Some(&till), &json!({"token": new})).0, 200);
    let (_, published) = server.get("/.well-known/voucher-keys", None);
    assert_eq!(published["keys"].as_array().unwrap().len(), 1);
    check_books(&db);
}
