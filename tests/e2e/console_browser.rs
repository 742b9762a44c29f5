//! The console in a real browser (headless Chromium): what an operator and a ministry viewer do, by
//! keyboard and mouse, on SQLite and PostgreSQL. The SQLite run also writes the README's
//! screenshots to `docs/screenshots/` (one run only: the two run at the same time).

use std::path::{Path, PathBuf};

use crate::browser::Browser;
use crate::console::sale;
use crate::helpers::*;
use crate::on_both;
use crate::world;

on_both!(operator_and_viewer_in_a_browser => browser_sqlite, browser_postgres);

/// Where the README's screenshots go: written by the SQLite run only.
struct Shots(Option<PathBuf>);

impl Shots {
    fn for_db(db: &TestDb) -> Shots {
        let readme = !db.url.starts_with("postgres");
        Shots(readme.then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")))
    }

    fn take(&self, b: &Browser, name: &str) {
        if let Some(dir) = &self.0 {
            b.screenshot(&dir.join(name));
        }
    }
}

/// The figure of a row of a figures table (`<th>label</th><td>figure</td>`).
fn figure(b: &Browser, table: &str, label: &str) -> String {
    let rows = b.texts(&format!("{table} tbody tr"));
    rows.iter()
        .find_map(|r| r.strip_prefix(label).map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned()))
        .unwrap_or_else(|| panic!("no row {label} in {table}: {rows:?}"))
}

fn operator_and_viewer_in_a_browser(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "minister", "viewer");
    let server = Server::start(db, world::NOW);
    let kind = if db.url.starts_with("postgres") { "postgres" } else { "sqlite" };
    let Some(b) = Browser::start(&format!("console_browser_{kind}"), &server.url) else { return };
    let shots = Shots::for_db(db);
    let w = world::setup(db, &server, 43);
    w.activate(&server, 0);
    let basket = sale(&server, &w);
    let feedback = serde_json::json!({"rating": 3, "complaint": "Долго ждали кассира"});
    let wallet = server.wallet_token(&w.iins[0]);
    assert_eq!(server.post(&format!("/api/v1/wallet/baskets/{basket}/feedback"), Some(&wallet), &feedback).0, 200);
    let month = server.month();

    // Log in, from the keyboard: the address sends to the form, Enter submits it.
    b.open("/console/");
    assert_eq!(b.path(), "/console/login");
    shots.take(&b, "login.png");
    b.fill("#login", "op");
    b.fill("#password", OPERATOR_PASSWORD);
    b.keys("#password", "\u{E007}");
    b.wait_path("/console/");
    let session = b.cookie("azyq_session").expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    assert!(b.text("h1").contains("Месяцы"));
    shots.take(&b, "months.png");

    // Upload a list with refused rows; read them in the row report.
    let mut bad_iin = iin(43, 9);
    let last = bad_iin.pop().unwrap();
    bad_iin.push(if last == '0' { '1' } else { '0' });
    let csv = format!(
        "family_id,kato,phone,iin,name,birth_date\n\
         B1,551010000,+77015550101,{},Асан Асанов,1980-02-03\n\
         B2,111010000,+77015550102,{},Дана Ахметова,1985-03-04\n\
         B3,751010000,+77015550103,{},Ли Ли,1990-04-05\n\
         B4,551010000,+77015550104,{bad_iin},Ерлан Беков,1991-05-06\n",
        iin(43, 5),
        iin(43, 6),
        iin(43, 7)
    );
    let file = db.dir.path().join("december.csv");
    std::fs::write(&file, csv).unwrap();
    b.open(&format!("/console/months/{month}"));
    b.choose_file("#file", &file);
    b.click("form[enctype] button[type=submit]");
    assert_eq!(b.text("#accepted"), "2");
    let refused: Vec<String> = b.texts("#rejected tbody tr");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].starts_with("3") && refused[0].contains("not_pilot_locality"), "{refused:?}");
    assert!(refused[1].starts_with("4") && refused[1].contains("invalid_iin"), "{refused:?}");
    shots.take(&b, "month-upload.png");

    // The funnel moves with the SMS answers.
    assert_eq!(figure(&b, ".figures", "В списке"), "3");
    assert_eq!(figure(&b, ".figures", "Согласились"), "1");
    b.click("form[action$='/consent-requests'] button");
    assert!(b.text(".notice").contains("2"), "{}", b.text(".notice"));
    assert_eq!(figure(&b, ".figures", "Ждём ответа"), "2");
    assert_eq!(server.sms_reply("+77015550101", "21*1"), "yes");
    assert_eq!(server.sms_reply("+77015550102", "21*2"), "no");
    b.open(&format!("/console/months/{month}"));
    assert_eq!(figure(&b, ".figures", "Согласились"), "2");
    assert_eq!(figure(&b, ".figures", "Отказались"), "1");
    assert_eq!(figure(&b, ".figures", "Ждём ответа"), "0");
    assert_eq!(figure(&b, "#voucher-figures", "Выдано"), "3");
    shots.take(&b, "month.png");

    // The day's report: charts, and a file with its checksum and signature that verify.
    let day = azyq_shared::BusinessDay::of(server.now).to_string();
    b.open(&format!("/console/reports?date={day}"));
    assert!(b.has("#daily-report svg rect"), "charts are drawn");
    shots.take(&b, "reports.png");
    let name = format!("azyq-daily-{day}.csv");
    for part in ["", ".sha256", ".sig"] {
        b.click_only(&format!(
            "#daily-report .downloads a[href*='format=csv']{}",
            match part {
                "" => ":not([href*='part='])",
                ".sha256" => "[href*='part=sha256']",
                _ => "[href*='part=sig']",
            }
        ));
        b.downloaded(&format!("{name}{part}"));
    }
    let out = cli(db, world::NOW).args(["report", "verify"]).arg(b.downloads.path().join(&name)).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // A cashier made and removed from the shops page.
    b.open("/console/shops");
    b.fill("form[action='/console/shops/SHOP-C/cashiers'] input[name=login]", "nova");
    b.fill("form[action='/console/shops/SHOP-C/cashiers'] input[name=password]", "nova-password-1");
    b.click("form[action='/console/shops/SHOP-C/cashiers'] button");
    assert_eq!(b.path(), "/console/shops?done=cashier");
    assert!(b.text("#shops").contains("nova"));
    let login =
        serde_json::json!({"shop_id": "SHOP-C", "terminal_id": "T1", "login": "nova", "password": "nova-password-1"});
    assert_eq!(server.post("/api/v1/sessions", None, &login).0, 200);
    shots.take(&b, "shops.png");
    b.click("form[action='/console/shops/SHOP-C/cashiers/nova/remove'] button");
    assert!(!b.text("#shops").contains("nova"));
    assert_eq!(server.post("/api/v1/sessions", None, &login).0, 401);

    b.open("/console/catalog");
    assert!(b.text("main").contains(world::MILK));
    shots.take(&b, "catalog.png");
    b.open("/console/complaints");
    assert!(b.text("#complaints").contains("Долго ждали кассира"), "{}", b.text("main"));
    shots.take(&b, "complaints.png");

    // Kazakh, and back.
    b.click("a[hreflang=kk]");
    assert!(b.text("nav").contains("Айлар"), "{}", b.text("nav"));
    b.click("a[hreflang=ru]");

    // The viewer: reports and figures, and every form refused by the server — here forms the
    // page does not show, posted from the browser with the viewer's own valid token.
    b.click("form[action='/console/logout'] button");
    assert_eq!(b.path(), "/console/login");
    b.fill("#login", "minister");
    b.fill("#password", OPERATOR_PASSWORD);
    b.click("form button[type=submit]");
    assert_eq!(b.path(), "/console/");
    assert!(!b.text("nav").contains("Магазины"));
    b.open(&format!("/console/months/{month}"));
    assert!(!b.has("input[type=file]"), "no upload form for a viewer");
    for action in [
        format!("/console/months/{month}/consent-requests"),
        format!("/console/months/{month}/close"),
        "/console/shops".to_owned(),
        "/console/shops/SHOP-A/cashiers".to_owned(),
        "/console/shops/SHOP-A/cashiers/kassa/remove".to_owned(),
    ] {
        b.open(&format!("/console/months/{month}"));
        b.script(
            "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
             for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value],
                                   ['login', 'kassa'], ['password', 'viewer-password-1'],
                                   ['shop_id', 'SHOP-X'], ['name', 'X'], ['kato', '551010000'], ['address', 'X']]) {
               const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
             }
             document.body.appendChild(f); f.submit();",
            vec![serde_json::Value::String(action.clone())],
        );
        b.wait_path(&action);
        assert!(b.text("main").contains("forbidden"), "{action}: {}", b.text("main"));
    }
    b.open("/console/shops");
    assert!(b.text("main").contains("forbidden"));
    world::cashier(&server, "SHOP-A", "T9"); // still there
}
