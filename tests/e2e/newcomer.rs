//! The newcomer's first hour, on the real binaries: the demo's whole till kit sells, each QR at
//! the shop its file names; the command line explains itself and fails plainly (a database URL
//! it does not support, a PostgreSQL it cannot reach, a missing list, a list it refuses whole);
//! and a report is verified with only its files and the published key.

use std::process::Command;

use crate::helpers::*;
use crate::on_both;
use crate::pos_cli::pos_run;

/// Every QR code of `demo/` sells at the demo shop its name begins with, with the cashier and the
/// till command the banner prints, at the port `:0` picked.
fn the_demo_kit_sells_every_code(db: &TestDb) {
    let server = Server::demo_with(db, "2026-12-06T05:00:00Z", &[("AZYQ_LISTEN", ":0")]);
    assert!(!server.url.ends_with(":0"), "{}", server.url);
    let banner = std::fs::read_to_string(db.log_file()).unwrap();
    let demo = db.dir.path().join("demo");
    let products = std::fs::read_to_string(demo.join("products.txt")).unwrap();
    // A piece of bread at its suggested prices, given in tenge as the till's price field asks.
    let bread = products.lines().find(|l| !l.starts_with('#') && l.ends_with("за шт.") && !l.contains('(')).unwrap();
    let [code, _, prices] = <[&str; 3]>::try_from(bread.split('\t').collect::<Vec<_>>()).unwrap();
    let tiyn = |t: &str| t.replace(',', "").parse::<i64>().unwrap();
    let (shelf, reduced) = prices.trim_end_matches(" за шт.").split_once('/').unwrap();
    let line = format!("{code}:1:{}:{}", tiyn(shelf), tiyn(reduced));

    let mut pngs: Vec<_> = std::fs::read_dir(&demo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), 18, "{pngs:?}");
    let mut sold = std::collections::BTreeMap::<String, usize>::new();
    for png in &pngs {
        let name = png.file_name().unwrap().to_str().unwrap();
        let shop = &name[..name.find("-voucher-").unwrap()];
        // The banner's till command for this shop, as the newcomer copies it.
        let command =
            banner.lines().find(|l| l.contains("azyq-pos") && l.contains(&format!("--shop {shop} "))).unwrap();
        assert!(
            command.contains(&format!("--server {}", server.url)),
            "the banner names the port it serves on: {command}"
        );
        let login = command.split_whitespace().skip_while(|w| *w != "--login").nth(1).unwrap();
        let terminal = command.split_whitespace().skip_while(|w| *w != "--terminal").nth(1).unwrap();
        let password = banner
            .lines()
            .find(|l| l.contains(&format!("login {login} ")))
            .and_then(|l| l.split_whitespace().last())
            .unwrap();

        let decoded = Command::new(crate::pos_cli::pos_bin()).arg("decode").arg(png).output().unwrap();
        assert!(decoded.status.success(), "{name}: {}", String::from_utf8_lossy(&decoded.stderr));
        let token = String::from_utf8(decoded.stdout).unwrap().trim().to_owned();
        let args = [
            "sale",
            "--shop",
            shop,
            "--terminal",
            terminal,
            "--login",
            login,
            "--token",
            &token,
            "--line",
            &line,
            "--pay",
            "cash",
        ];
        let (status, sale, err) = pos_run(&server, password, &args);
        assert!(status.success(), "{name} at {shop}: {err}");
        assert_eq!(sale["captured"]["status"], "captured", "{name}: {sale}");
        *sold.entry(shop.to_owned()).or_default() += 1;
    }
    assert_eq!(sold.values().sum::<usize>(), 18);
    assert!(sold.len() >= 2, "a shop in each pilot region: {sold:?}");
    let out = cli(db, "2026-12-06T06:00:00Z").arg("check").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
on_both!(the_demo_kit_sells_every_code);

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A database URL the server cannot use says which ones it can, and creates nothing.
#[test]
fn database_urls_it_cannot_use_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = |url: &str| {
        let mut cmd = Command::new(server_bin());
        cmd.current_dir(dir.path()).env_clear().env("DATABASE_URL", url).arg("check");
        run(&mut cmd)
    };
    let (ok, said) = server("mysql://root:hunter2@127.0.0.1/azyq");
    assert!(!ok && said.contains("\"mysql\" is not supported") && said.contains("sqlite://FILE"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    let (ok, said) = server("garbage");
    assert!(!ok && said.contains("not a database URL"), "{said}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file made");

    // A PostgreSQL that is not there: one line naming where, at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let (ok, said) = server(&format!("postgres://azyq:pw@127.0.0.1:{port}/azyq"));
    assert!(!ok, "{said}");
    assert!(said.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}/azyq")), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "one line, not the pool's retries: {said}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "not the pool's 10 s of retries");
}

/// `import` names a file it cannot read, and fails a list of which it took nothing.
fn import_fails_plainly(db: &TestDb) {
    create_operator(db, "op", "operator");
    let server = Server::start(db, "2026-12-02T05:00:00Z");
    setup_pilot(&server, &server.operator_token());
    drop(server);
    let (ok, said) = run(cli(db, "2026-12-02T05:00:00Z").args(["import", "--month", "2026-12", "no-such-list.csv"]));
    assert!(!ok && said.contains("no-such-list.csv"), "{said}");
    let bad = db.dir.path().join("bad.json");
    let list = serde_json::json!({"families": [{"family_id": "F1", "kato": "551010000", "phone": "+77015550001",
        "members": [{"iin": "12345", "name": "Тест", "birth_date": "1990-01-01"}]}]});
    std::fs::write(&bad, list.to_string()).unwrap();
    let (ok, said) = run(cli(db, "2026-12-02T05:00:00Z").args(["import", "--month", "2026-12"]).arg(&bad));
    assert!(!ok, "every row refused is a failed import: {said}");
    assert!(said.contains("\"rejected\"") && said.contains("nothing imported"), "the row report, then why: {said}");
    let (ok, said) = run(cli(db, "2026-12-02T05:00:00Z").args(["import", "--month", "2026-13", "x.csv"]));
    assert!(!ok && said.contains("ГГГГ-ММ"), "{said}");
}
on_both!(import_fails_plainly);

/// A signed report checks with only its three files and the published key — by URL or the bare
/// key — in a folder with no database, which it does not create; a changed byte fails.
fn a_report_verifies_with_the_published_key_alone(db: &TestDb) {
    let server = Server::start(db, "2026-12-02T05:00:00Z");
    let out = db.dir.path().join("daily.csv");
    let (ok, said) =
        run(cli(db, "2026-12-02T05:00:00Z").args(["report", "daily", "--date", "2026-12-01", "--out"]).arg(&out));
    assert!(ok, "{said}");
    let (s, keys) = server.get("/.well-known/report-keys", None);
    assert_eq!(s, 200);
    let key = keys["keys"][0]["public_key"].as_str().unwrap().to_owned();

    let elsewhere = tempfile::tempdir().unwrap();
    for name in ["daily.csv", "daily.csv.sha256", "daily.csv.sig"] {
        std::fs::copy(db.dir.path().join(name), elsewhere.path().join(name)).unwrap();
    }
    let verify = |extra: &[&str]| {
        let mut cmd = Command::new(server_bin());
        cmd.current_dir(elsewhere.path()).env_clear().args(["report", "verify", "daily.csv"]).args(extra);
        run(&mut cmd)
    };
    let url = format!("{}/.well-known/report-keys", server.url);
    for source in [url.as_str(), key.as_str()] {
        let (ok, said) = verify(&["--public-key", source]);
        assert!(ok && said.contains("good"), "{source}: {said}");
    }
    let (ok, said) = verify(&[]);
    assert!(!ok && said.contains("--public-key"), "{said}");
    assert!(!elsewhere.path().join("azyq.db").exists(), "verify never creates a database");

    let mut bytes = std::fs::read(elsewhere.path().join("daily.csv")).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(elsewhere.path().join("daily.csv"), bytes).unwrap();
    let (ok, said) = verify(&["--public-key", &key]);
    assert!(!ok, "{said}");
}
on_both!(a_report_verifies_with_the_published_key_alone);
