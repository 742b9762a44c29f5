//! Bad input gets its own error code and loses nothing.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;

on_both!(every_rejection_has_its_code => rejections_sqlite, rejections_postgres);

fn code(pair: &(u16, Value)) -> (u16, &str) {
    (pair.0, pair.1["error"]["code"].as_str().unwrap_or(""))
}

fn member(iin: &str) -> Value {
    json!({"iin": iin, "name": "Тест Тестов", "birth_date": "1990-01-01"})
}

fn every_rejection_has_its_code(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "minister", "viewer");
    let server = Server::start(db, "2026-12-01T04:00:00Z");
    let op = server.operator_token();
    setup_pilot(&server, &op);

    // Per-row rejections of a list, each with its code.
    let mut bad_iin = iin(2, 1);
    let last = bad_iin.pop().unwrap();
    bad_iin.push(if last == '0' { '1' } else { '0' });
    let list = json!({"families": [
        {"family_id": "OK", "kato": "551010000", "phone": "+77020000001", "members": [member(&iin(2, 2)), member(&iin(2, 3))]},
        {"family_id": "BADIIN", "kato": "551010000", "phone": null, "members": [member(&bad_iin), member(&iin(2, 4))]},
        {"family_id": "FAR", "kato": "751010000", "phone": null, "members": [member(&iin(2, 5))]},
        {"family_id": "KATO", "kato": "5510", "phone": null, "members": [member(&iin(2, 6))]},
        {"family_id": "PHONE", "kato": "551010000", "phone": "12-34", "members": [member(&iin(2, 7))]},
        {"family_id": "TWICE", "kato": "551010000", "phone": null, "members": [member(&iin(2, 2))]},
        {"family_id": "BIRTH", "kato": "551010000", "phone": null, "members": [{"iin": iin(2, 8), "name": "Тест", "birth_date": "01.01.1990"}]},
    ]});
    let (s, report) = server.post("/api/v1/months/2026-12/recipients", Some(&op), &list);
    assert_eq!(s, 200, "{report}");
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["code"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(u64, String)> = [
        (3, "invalid_iin"),
        (4, "family_rejected"),
        (5, "not_pilot_locality"),
        (6, "invalid_kato"),
        (7, "invalid_phone"),
        (8, "member_in_two_families"),
        (9, "invalid_member"),
    ]
    .iter()
    .map(|(r, c)| (*r, (*c).to_owned()))
    .collect();
    assert_eq!(rejected, expected);
    assert_eq!(report["accepted"], 2);
    assert!(report["rejected"][0]["message"].as_str().unwrap().contains("ИИН"));

    // The same family id with other content is refused; the first upload stands.
    let changed = json!({"families": [{"family_id": "OK", "kato": "551010000", "phone": "+77020000009", "members": [member(&iin(2, 2))]}]});
    let (_, b) = server.post("/api/v1/months/2026-12/recipients", Some(&op), &changed);
    assert_eq!(b["rejected"][0]["code"], "family_conflict", "{b}");

    // CSV: rows of one family that disagree; a good CSV is accepted; a bad header or row is 400.
    let csv = format!(
        "family_id,kato,phone,iin,name,birth_date\nCSV1,551010000,+77020000010,{},Асан Асанов,1980-02-03\nCSV1,111010000,+77020000010,{},Усен Асанов,1982-02-03\nCSV2,111010000,,{},Ли Ли,2001-12-31\n",
        iin(2, 10),
        iin(2, 11),
        iin(2, 12)
    );
    let (s, b) = server.send_raw("POST", "/api/v1/months/2026-12/recipients", Some(&op), "text/csv", csv.as_bytes());
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["accepted"], 1);
    assert_eq!(b["rejected"][0]["code"], "family_rejected");
    assert_eq!(b["rejected"][1]["code"], "family_inconsistent");
    let r = server.send_raw("POST", "/api/v1/months/2026-12/recipients", Some(&op), "text/csv", b"family,kato\nX,1\n");
    assert_eq!(code(&r), (400, "validation"));
    assert_eq!(r.1["error"]["field"], "header");
    let r = server.send_raw(
        "POST",
        "/api/v1/months/2026-12/recipients",
        Some(&op),
        "text/csv",
        b"family_id,kato,phone,iin,name,birth_date\nA,551010000,,1,2\n",
    );
    assert_eq!(code(&r), (400, "validation"), "{}", r.1);
    assert_eq!(r.1["error"]["field"], "row 1");

    // Malformed JSON, an impossible month, an oversized body.
    let r = server.send_raw(
        "POST",
        "/api/v1/months/2026-12/recipients",
        Some(&op),
        "application/json",
        b"{\"families\": [",
    );
    assert_eq!(code(&r), (400, "validation"));
    let r = server.post("/api/v1/months/2026-13/recipients", Some(&op), &list);
    assert_eq!(code(&r), (400, "validation"));
    assert_eq!(r.1["error"]["field"], "month");
    let big = vec![b' '; 1024 * 1024 + 1];
    let r = server.send_raw("POST", "/api/v1/months/2026-12/recipients", Some(&op), "application/json", &big);
    assert_eq!(code(&r), (413, "payload_too_large"));
    let message = r.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("azyq-server import"),
        "a list too big for the API names the command that takes it: {message}"
    );
    let r = server.send_raw("PUT", "/api/v1/localities", Some(&op), "application/json", &big);
    assert_eq!(code(&r), (413, "payload_too_large"));

    // A year with no MRP on record needs a rate first.
    let r = server.post("/api/v1/months/2031-01/recipients", Some(&op), &list);
    assert_eq!(code(&r), (409, "rate_not_set"));
    let r =
        server.put("/api/v1/rates/2031-01", Some(&op), &json!({"default_tiyn": 500_000, "regions": {"55": 520_000}}));
    assert_eq!(r.0, 200, "{}", r.1);
    let r = server.put("/api/v1/rates/2031-01", Some(&op), &json!({"default_tiyn": 500_000, "regions": {"5": 1}}));
    assert_eq!(code(&r), (400, "validation"));

    // Who may do what.
    let viewer = {
        let (s, b) =
            server.post("/api/v1/sessions", None, &json!({"login": "minister", "password": OPERATOR_PASSWORD}));
        assert_eq!((s, b["role"].as_str()), (200, Some("viewer")));
        b["token"].as_str().unwrap().to_owned()
    };
    assert_eq!(code(&server.put("/api/v1/localities", Some(&viewer), &json!([]))), (403, "forbidden"));
    assert_eq!(code(&server.post("/api/v1/months/2026-12/consent-requests", None, &json!({}))), (401, "unauthorized"));
    assert_eq!(
        code(&server.post("/api/v1/months/2026-12/consent-requests", Some("not.a.jwt"), &json!({}))),
        (401, "unauthorized")
    );
    let expired_wallet = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iin": iin(2, 2), "aud": "azyq-wallet", "exp": 1_000_000_000}),
        &jsonwebtoken::EncodingKey::from_secret(WALLET_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(code(&server.get("/api/v1/wallet/vouchers", Some(&expired_wallet))), (401, "unauthorized"));
    assert_eq!(code(&server.get("/api/v1/wallet/vouchers", Some(&op))), (401, "unauthorized"));
    assert_eq!(code(&server.get("/api/v1/no/such/path", None)), (404, "not_found"));

    // Wrong gateway secret.
    let r = server.send_raw(
        "POST",
        "/api/v1/sms/inbound",
        None,
        "application/json",
        br#"{"from":"+77020000001","text":"21*1"}"#,
    );
    assert_eq!(code(&r), (401, "unauthorized"));

    // Log-in: bad password is 401; five failures lock the login out, even with the right password.
    for _ in 0..5 {
        let r = server.post("/api/v1/sessions", None, &json!({"login": "op", "password": "wrong-password"}));
        assert_eq!(code(&r), (401, "invalid_credentials"));
    }
    let r = server.post("/api/v1/sessions", None, &json!({"login": "op", "password": OPERATOR_PASSWORD}));
    assert_eq!(code(&r), (429, "too_many_attempts"));

    // Nothing was lost: the families accepted earlier are all there, once.
    let (s, health) = server.get("/health", None);
    assert_eq!((s, health["status"].as_str()), (200, Some("ok")));
    let (s, doc) = server.get("/api/openapi.json", None);
    assert_eq!(s, 200);
    for path in [
        "/health",
        "/api/v1/sessions",
        "/api/v1/months/{month}/recipients",
        "/api/v1/sms/inbound",
        "/api/v1/wallet/vouchers/{id}/activate",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    openapi_agrees_with_api_md(&doc);
    openapi_is_valid(&doc.to_string());
}

/// The served document is OpenAPI 3.1 that a generator can use: it parses as such (oas3), every
/// operationId is unique, every operation answers something, and each one that needs a token says
/// so and documents the 401, and the staff ones the 403.
fn openapi_is_valid(text: &str) {
    let spec = oas3::from_json(text).unwrap_or_else(|e| panic!("not a valid OpenAPI 3.1 document: {e}"));
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    let doc: Value = serde_json::from_str(text).unwrap();
    let mut ids = std::collections::BTreeMap::<String, String>::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{at} has no operationId")).to_owned();
            if let Some(other) = ids.insert(id.clone(), at.clone()) {
                panic!("operationId {id} is used by {other} and {at}");
            }
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{at} has no responses"));
            assert!(responses.keys().any(|k| k.starts_with('2')), "{at} documents no success");
            let schemes: Vec<&str> = op["security"]
                .as_array()
                .map(|s| s.iter().filter_map(|r| r.as_object()).flat_map(|r| r.keys().map(String::as_str)).collect())
                .unwrap_or_default();
            let public = path == "/health"
                || path.starts_with("/.well-known/")
                || path == "/api/openapi.json"
                || path == "/api/v1/sms/inbound"
                || (path == "/api/v1/sessions" && method == "post");
            assert_eq!(schemes.is_empty(), public, "{at}: security {schemes:?}");
            if !public {
                assert!(responses.contains_key("401"), "{at} does not document 401");
                let staff = schemes.contains(&"bearer");
                assert_eq!(responses.contains_key("403"), staff, "{at}: 403 for staff operations only");
            }
        }
    }
    assert!(ids.contains_key("till_daily") && ids.contains_key("reports_daily"), "{ids:?}");
}

/// Endpoints of the contract (docs/api.md) that this round's issues add and that are not built yet,
/// with the issue that builds each. The test fails when one of them appears (remove it here) and
/// when any other endpoint of the contract is missing, so the list can only shrink.
const NOT_YET_BUILT: &[&str] = &[];

/// The contract, vendored into the repository: a first line that says where it comes from, then
/// shared/API.md verbatim.
const API_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md");

/// Every method and path of the contract (docs/api.md) is in the served OpenAPI document, but for
/// [`NOT_YET_BUILT`].
fn openapi_agrees_with_api_md(doc: &Value) {
    let text = std::fs::read_to_string(API_MD).unwrap_or_else(|e| panic!("{API_MD}: {e}"));
    let mut checked = 0;
    let mut missing = Vec::new();
    for row in text.lines().filter(|l| l.starts_with("| ")) {
        let cell = row.split('|').nth(1).unwrap_or("");
        let mut method = "";
        for part in cell.split('·') {
            // "GET · PUT `/path`": a part may be a bare method that shares the next part's path.
            let mut words = part.trim().splitn(2, ' ');
            let first = words.next().unwrap_or("");
            if !["GET", "POST", "PUT", "DELETE"].contains(&first) {
                continue;
            }
            let Some(path) = words.next() else {
                method = first;
                continue;
            };
            for m in [method, first].into_iter().filter(|m| !m.is_empty()) {
                let path = path.trim().trim_matches('`');
                let path = path.split('?').next().unwrap_or(path);
                let op = &doc["paths"][path][m.to_lowercase()];
                if !op.is_object() {
                    missing.push(format!("{m} {path}"));
                }
                checked += 1;
            }
            method = "";
        }
    }
    assert!(checked >= 25, "only {checked} endpoints found in docs/api.md: is the table format changed?");
    let unexpected: Vec<_> = missing.iter().filter(|m| !NOT_YET_BUILT.contains(&m.as_str())).collect();
    assert!(unexpected.is_empty(), "docs/api.md has these, the OpenAPI document does not: {unexpected:?}");
    let built: Vec<_> = NOT_YET_BUILT.iter().filter(|m| !missing.iter().any(|x| x == *m)).collect();
    assert!(built.is_empty(), "built now, remove them from NOT_YET_BUILT: {built:?}");
}

/// docs/api.md is shared/API.md verbatim below its first line, so the copy the tests read cannot
/// drift from the contract. The original lives outside the repository, in the nearest
/// `shared/API.md` above the checkout (`../shared/API.md` beside it, or beside the folder of
/// worktrees); where there is none, as in CI's clean clone, only this comparison is skipped (the
/// check of the OpenAPI document against docs/api.md still runs).
#[test]
fn docs_api_md_is_shared_api_md_verbatim() {
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let checkout = checkout.canonicalize().unwrap_or(checkout);
    let Some(original) = checkout.ancestors().skip(1).map(|d| d.join("shared/API.md")).find(|p| p.is_file()) else {
        eprintln!("SKIPPED: no shared/API.md above {}, nothing to compare docs/api.md with", checkout.display());
        return;
    };
    let contract = std::fs::read_to_string(&original).unwrap_or_else(|e| panic!("{}: {e}", original.display()));
    let copy = std::fs::read_to_string(API_MD).unwrap_or_else(|e| panic!("{API_MD}: {e}"));
    let (header, body) = copy.split_once('\n').unwrap_or((&copy, ""));
    assert!(header.contains("shared/API.md"), "docs/api.md's first line must say where it comes from: {header}");
    if body != contract {
        let line = body
            .lines()
            .zip(contract.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(body.lines().count().min(contract.lines().count()));
        panic!(
            "docs/api.md differs from {} from its line {} on: copy the contract again, keeping the first line",
            original.display(),
            line + 2
        );
    }
}
