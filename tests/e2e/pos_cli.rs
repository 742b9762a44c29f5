//! The newcomer's path on the real binaries: the demo month, a QR image the demo wrote, `azyq-pos
//! decode` reading it back, and a sale through `azyq-pos sale`. The till's runner and the demo's
//! sale serve the TLS scenarios too (`tls.rs`).

use std::path::PathBuf;
use std::process::{Command, ExitStatus};

use serde_json::Value;

use crate::helpers::*;

/// `azyq-pos`, built beside this test by `cargo test --workspace`.
pub fn pos_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("azyq-pos");
    assert!(bin.exists(), "{} is missing: run the suite with `cargo test --workspace`", bin.display());
    bin
}

/// Runs `azyq-pos` against `server`: (exit status, stdout as JSON or Null, stderr).
pub fn pos_run(server: &Server, password: &str, args: &[&str]) -> (ExitStatus, Value, String) {
    let out = Command::new(pos_bin())
        .args(args)
        .args(["--server", &server.url])
        .env("AZYQ_POS_PASSWORD", password)
        // The till checks a token's expiry on the scenario's clock, as the server does.
        .env("AZYQ_FAKE_NOW", server.now.to_rfc3339())
        .env("AZYQ_ALLOW_FAKE_CLOCK", "1")
        .output()
        .expect("run azyq-pos");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status, json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn pos(server: &Server, password: &str, args: &[&str]) -> (bool, Value, String) {
    let (status, json, err) = pos_run(server, password, args);
    (status.success(), json, err)
}

/// A sale of the demo month, ready for `azyq-pos`: the cashier's password, the till's log-in
/// flags and the `sale` arguments for the first QR image the demo wrote (decoded by `azyq-pos decode`).
pub struct DemoSale {
    pub password: String,
    pub login: [&'static str; 6],
    pub sale: Vec<String>,
}

impl DemoSale {
    pub fn of(db: &TestDb) -> DemoSale {
        let banner = std::fs::read_to_string(db.log_file()).unwrap();
        let password = banner
            .lines()
            .find(|l| l.contains("login kassir1"))
            .and_then(|l| l.split_whitespace().last())
            .expect("the demo prints the cashier's password")
            .to_owned();

        let demo = db.dir.path().join("demo");
        let mut pngs: Vec<PathBuf> = std::fs::read_dir(&demo)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        pngs.sort();
        assert!(pngs.len() >= 6, "{pngs:?}");
        let products = std::fs::read_to_string(demo.join("products.txt")).unwrap();
        let milk = products
            .lines()
            .find(|l| l.contains("(serialised)"))
            .and_then(|l| l.split('\t').next())
            .unwrap()
            .to_owned();

        let out = Command::new(pos_bin()).arg("decode").arg(&pngs[0]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(token.starts_with("AZ2:") && token.len() == 156, "{token}");

        let login = ["--shop", "demo-shop-1", "--terminal", "T1", "--login", "kassir1"];
        let mut sale: Vec<String> = ["sale"].iter().chain(&login).map(|s| (*s).to_owned()).collect();
        sale.extend(["--token".into(), token, "--line".into(), format!("{milk}:1:50000:42500")]);
        sale.extend(["--pay".into(), "card".into()]);
        DemoSale { password, login, sale }
    }

    /// The sale's arguments, then `extra`.
    pub fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        self.sale.iter().map(String::as_str).chain(extra.iter().copied()).collect()
    }
}

#[test]
fn demo_qr_to_receipt_with_azyq_pos() {
    let db = TestDb::sqlite();
    let server = Server::demo(&db, "2026-12-06T05:00:00Z");
    let demo = DemoSale::of(&db);
    let (password, login, args) = (&demo.password, demo.login, demo.args(&[]));
    let (ok, sale, err) = pos(&server, password, &args);
    assert!(ok, "{err}");
    assert_eq!(sale["authorized"]["discount_tiyn"], 7_500, "{sale}");
    assert_eq!(sale["captured"]["status"], "captured");
    assert_eq!(sale["captured"]["receipt"]["payment"]["method"], "card");
    assert_eq!(sale["lookups"][0]["holder"].as_str().map(|h| h.contains("***")), Some(true));

    // The same QR again: refused with its code on stderr and a non-zero exit.
    let (ok, _, err) = pos(&server, password, &args);
    assert!(!ok);
    assert!(err.contains("[token_used]"), "{err}");

    // Refund it whole, then the shop's day shows one refund.
    let id = sale["captured"]["basket_id"].as_i64().unwrap().to_string();
    let mut refund = vec!["refund"];
    refund.extend(login);
    refund.extend(["--basket", &id]);
    let (ok, r, err) = pos(&server, password, &refund);
    assert!(ok, "{err}");
    assert_eq!(r["status"], "refunded");
    let mut report = vec!["report"];
    report.extend(login);
    report.extend(["--date", "2026-12-06"]);
    let (ok, day, err) = pos(&server, password, &report);
    assert!(ok, "{err}");
    assert_eq!((day["baskets_captured"].as_i64(), day["refunds"].as_i64()), (Some(1), Some(1)), "{day}");
}
