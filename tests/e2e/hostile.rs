//! No input, however odd, gets a 500: every route of the OpenAPI document, with hostile path and
//! query values (far dates, `0000-00`, huge and negative ids, unicode, empty), as each kind of
//! caller. A 500 is a bug.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::world::*;

on_both!(every_route_with_hostile_values => hostile_sqlite, hostile_postgres);

/// Values a path segment or query parameter gets.
const HOSTILE: &[&str] = &[
    "2999-12",
    "9999-12",
    "0000-00",
    "1999-12",
    "2026-13",
    "0001-01-01",
    "1970-01-01",
    "1999-12-31",
    "9999-12-31",
    "2026-02-30",
    "-1",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999999999",
    "1e309",
    "ёлка",
    "🍞",
    "",
    " ",
    "\u{0}",
    "../../etc/passwd",
    "%",
    "'; DROP TABLE vouchers; --",
];

/// Query parameters tried on every GET, besides those the document declares.
const QUERY_NAMES: &[&str] = &["date", "from", "to", "month", "format"];

/// Percent-encodes everything but unreserved characters, so that any value makes a valid URL.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn every_route_with_hostile_values(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, NOW);
    let w = setup(db, &server, 91);
    w.activate(&server, 0);
    let callers: Vec<(&str, Option<String>)> = vec![
        ("operator", Some(w.op.clone())),
        ("cashier", Some(cashier(&server, "SHOP-A", "T1"))),
        ("recipient", Some(server.wallet_token(&w.iins[0]))),
        ("anonymous", None),
    ];
    let (s, doc) = server.get("/api/openapi.json", None);
    assert_eq!(s, 200);
    let long = "9".repeat(3_000);
    let values: Vec<&str> = HOSTILE.iter().copied().chain([long.as_str()]).collect();
    let mut sent = 0;
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let method = method.to_uppercase();
            let declared: Vec<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let mut queries: Vec<String> = QUERY_NAMES.iter().map(|q| q.to_string()).collect();
            queries.extend(declared);
            queries.sort();
            queries.dedup();
            for value in &values {
                // Every `{param}` of the path takes the value; then each query parameter alone.
                let mut concrete = String::new();
                let mut rest = path.as_str();
                while let Some(open) = rest.find('{') {
                    let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
                    concrete.push_str(&rest[..open]);
                    concrete.push_str(&encode(value));
                    rest = &rest[close..];
                }
                concrete.push_str(rest);
                let mut urls = vec![concrete.clone()];
                if method == "GET" {
                    urls.extend(queries.iter().map(|q| format!("{concrete}?{q}={}", encode(value))));
                }
                for url in &urls {
                    for (who, token) in &callers {
                        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
                        let (status, answer) = server.call(&method, url, token.as_deref(), body.as_ref());
                        sent += 1;
                        if status >= 500 {
                            failures.push(format!("{method} {url} as {who}: {status} {answer}"));
                        }
                    }
                }
            }
        }
    }
    // Odd bodies on the till's and the operator's writes.
    let bodies: Vec<Value> = vec![
        json!(null),
        json!([]),
        json!("text"),
        json!({"tokens": ["AZ1:"], "lines": [{"code": "", "quantity": i64::MAX, "shelf_price_tiyn": i64::MAX, "reduced_price_tiyn": i64::MIN}]}),
        json!({"payment": {"method": "cash", "paid_tiyn": -1}}),
        json!({"lines": [usize::MAX, 0, 0]}),
        json!({"default_tiyn": i64::MAX, "regions": {"💥": -1}}),
    ];
    for path in [
        "/api/v1/pos/baskets",
        "/api/v1/pos/baskets/1/capture",
        "/api/v1/pos/baskets/1/refund",
        "/api/v1/months/2026-12/recipients",
        "/api/v1/rates/2026-12",
        "/api/v1/sessions",
    ] {
        for body in &bodies {
            for (who, token) in &callers {
                for method in ["POST", "PUT"] {
                    let (status, answer) = server.call(method, path, token.as_deref(), Some(body));
                    sent += 1;
                    if status >= 500 {
                        failures.push(format!("{method} {path} {body} as {who}: {status} {answer}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {sent} requests answered 5xx:\n{}", failures.len(), failures.join("\n"));
    assert!(sent > 5_000, "only {sent} requests: is the OpenAPI document empty?");
    eprintln!("hostile input: {sent} requests, none answered 5xx");
    check_books(db);
}
