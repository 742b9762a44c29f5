//! The web console over plain HTTP on both databases (cookies, CSRF, roles, revocation, every page),
//! `/metrics`, and JSON logs. The browser tests are in `console_browser.rs`.

use std::collections::HashMap;

use serde_json::json;

use crate::helpers::*;
use crate::on_both;
use crate::world::{self, cashier, line, post_keyed, World};

on_both!(console_pages_and_rules => console_sqlite, console_postgres);
on_both!(demo_in_the_console => demo_console_sqlite, demo_console_postgres);

/// A browser without a browser: a cookie jar and no redirects followed.
pub struct Jar {
    base: String,
    agent: ureq::Agent,
    pub cookies: HashMap<String, String>,
}

/// An answer: status, `Location`, `Set-Cookie` lines, body.
pub struct Page {
    pub status: u16,
    pub location: String,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

impl Jar {
    pub fn new(server: &Server) -> Jar {
        Jar { base: server.url.clone(), agent: ureq::AgentBuilder::new().redirects(0).build(), cookies: HashMap::new() }
    }

    fn send(&mut self, req: ureq::Request, body: Option<&str>) -> Page {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let req = if cookie.is_empty() { req } else { req.set("Cookie", &cookie) };
        let res = match body {
            Some(b) => req.set("Content-Type", "application/x-www-form-urlencoded").send_string(b),
            None => req.call(),
        };
        let res = match res {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport: {e}"),
        };
        let set_cookies: Vec<String> = res.all("set-cookie").into_iter().map(str::to_owned).collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page {
            status: res.status(),
            location: res.header("Location").unwrap_or_default().to_owned(),
            set_cookies,
            body: res.into_string().unwrap_or_default(),
        }
    }

    pub fn get(&mut self, path: &str) -> Page {
        let req = self.agent.get(&format!("{}{path}", self.base));
        self.send(req, None)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", azyq_server::console::urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self.agent.post(&format!("{}{path}", self.base));
        self.send(req, Some(&body))
    }

    /// Logs in through the form; answers the log-in's answer.
    pub fn log_in(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/console/login");
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post("/console/login", &[("csrf", &csrf), ("login", login), ("password", password)])
    }
}

/// A sale at SHOP-A's till: authorised and paid. Answers the basket's id.
pub fn sale(server: &Server, w: &World) -> i64 {
    let till = cashier(server, "SHOP-A", "T1");
    let body = json!({"tokens": [w.qr(server, 0)], "lines": [line(world::MILK, 2, 50_000, 42_500)]});
    let (s, b) = post_keyed(server, "/api/v1/pos/baskets", &till, "console-sale", &body);
    assert_eq!(s, 201, "{b}");
    let id = b["basket_id"].as_i64().unwrap();
    let pay = json!({"payment": {"method": "cash", "paid_tiyn": b["to_pay_tiyn"]}});
    let (s, b) = post_keyed(server, &format!("/api/v1/pos/baskets/{id}/capture"), &till, "console-pay", &pay);
    assert_eq!(s, 200, "{b}");
    id
}

/// Every form the console has, with a path that exists.
const FORMS: &[&str] = &[
    "/console/months/2026-12/recipients",
    "/console/months/2026-12/consent-requests",
    "/console/months/2026-12/close",
    "/console/shops",
    "/console/shops/SHOP-A/cashiers",
    "/console/shops/SHOP-A/cashiers/kassa/remove",
    "/console/catalog/products",
];

fn console_pages_and_rules(db: &TestDb) {
    create_operator(db, "op", "operator");
    create_operator(db, "minister", "viewer");
    let server = Server::start(db, world::NOW);
    let w = world::setup(db, &server, 41);
    w.activate(&server, 0);
    let basket = sale(&server, &w);
    // The recipient rates the purchase and complains: the operator reads it on the complaints page.
    let feedback = json!({"rating": 2, "complaint": "Кассир <b>не дал</b> чек"});
    let (s, b) = server.post(
        &format!("/api/v1/wallet/baskets/{basket}/feedback"),
        Some(&server.wallet_token(&w.iins[0])),
        &feedback,
    );
    assert_eq!(s, 200, "{b}");

    // Without a session every page sends to the log-in form; the form sets the CSRF cookie.
    let mut op = Jar::new(&server);
    let p = op.get("/console/");
    assert_eq!((p.status, p.location.as_str()), (303, "/console/login"));
    let csrf_cookie = p.set_cookies.iter().find(|c| c.starts_with("azyq_csrf=")).expect("CSRF cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(csrf_cookie.contains(flag), "{csrf_cookie}");
    }
    assert!(!csrf_cookie.contains("Secure"), "plain HTTP: no Secure flag ({csrf_cookie})");
    // A log-in without the token, or with another browser's, is refused and logs nobody in.
    let p = op.post("/console/login", &[("login", "op"), ("password", OPERATOR_PASSWORD)]);
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(!op.cookies.contains_key("azyq_session"));
    let mut other = Jar::new(&server);
    let foreign = other.get("/console/login").csrf();
    let p = op.post("/console/login", &[("csrf", &foreign), ("login", "op"), ("password", OPERATOR_PASSWORD)]);
    assert_eq!(p.status, 400, "{}", p.body);
    // A wrong password: the form again, with the refusal, counted like an API attempt.
    let p = op.log_in("op", "wrong-password");
    assert_eq!(p.status, 401, "{}", p.body);
    assert!(p.body.contains("Неверный логин или пароль"), "{}", p.body);
    let p = op.log_in("op", OPERATOR_PASSWORD);
    assert_eq!((p.status, p.location.as_str()), (303, "/console/"), "{}", p.body);
    let session = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("azyq_session="))
        .unwrap_or_else(|| panic!("session cookie: {:?}", p.set_cookies));
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(session.contains(flag), "{session}");
    }

    // Every page, with what it must show.
    let month = server.month();
    let home = op.get("/console/");
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("<svg") && home.body.contains(&month), "{}", home.body);
    let page = op.get(&format!("/console/months/{month}"));
    assert_eq!(page.status, 200);
    // The funnel and the vouchers of the month: FAM listed, asked, said yes; two vouchers.
    for (label, figure) in [("В списке", "1"), ("SMS отправлено", "1"), ("Согласились", "1"), ("Выдано", "2")]
    {
        let row = format!("<th scope=\"row\">{label}</th><td class=\"num\">{figure}</td>");
        assert!(page.body.contains(&row), "{label} {figure} missing:\n{}", page.body);
    }
    assert!(page.body.contains("enctype=\"multipart/form-data\""), "the operator has the upload form");
    let reports = op.get("/console/reports");
    assert_eq!(reports.status, 200);
    assert!(reports.body.contains("Молоко") || reports.body.contains("milk"), "{}", reports.body);
    assert!(reports.body.contains("/console/reports/file?date="), "downloads offered");
    for (path, marker) in [
        ("/console/shops", "SHOP-A"),
        ("/console/catalog", "04600000000015"),
        ("/console/complaints", "Кассир &#60;b&#62;не дал&#60;/b&#62; чек"),
        ("/console/deliveries", "<td>complaint "),
    ] {
        let p = op.get(path);
        assert_eq!(p.status, 200, "{path}");
        assert!(p.body.contains(marker), "{path}: {marker}\n{}", p.body);
    }
    let day = azyq_shared::BusinessDay::of(server.now).to_string();
    let file = op.get(&format!("/console/reports/file?date={day}&format=json"));
    assert_eq!(file.status, 200);
    let report: serde_json::Value = serde_json::from_str(&file.body).unwrap();
    assert_eq!(report["totals"]["baskets_captured"], 1, "{report}");
    // Kazakh on request, kept in a cookie.
    let p = op.get("/console/lang/kk?back=/console/reports");
    assert_eq!((p.status, p.location.as_str()), (303, "/console/reports"));
    assert!(op.get("/console/").body.contains("Айлар"));
    op.get("/console/lang/ru?back=/console/");
    assert_eq!(op.get("/console/lang/kk?back=https://evil.example/").location, "/console/");
    assert_eq!(op.get("/console/nowhere").status, 404);

    // A form without its token does nothing.
    let p = op.post(&format!("/console/months/{month}/consent-requests"), &[]);
    assert_eq!(p.status, 400, "{}", p.body);

    // The viewer: figures and reports; every form refused by the server, not only hidden.
    let mut viewer = Jar::new(&server);
    assert_eq!(viewer.log_in("minister", OPERATOR_PASSWORD).status, 303);
    let home = viewer.get("/console/");
    assert_eq!(home.status, 200);
    assert!(!home.body.contains("/console/shops"), "no shops in a viewer's navigation");
    let page = viewer.get(&format!("/console/months/{month}"));
    assert!(page.status == 200 && !page.body.contains("multipart/form-data"), "no upload form for a viewer");
    assert_eq!(viewer.get("/console/reports").status, 200);
    for path in ["/console/shops", "/console/catalog", "/console/complaints", "/console/deliveries"] {
        assert_eq!(viewer.get(path).status, 403, "{path}");
    }
    let csrf = viewer.get("/console/").csrf();
    for path in FORMS {
        let p = viewer.post(path, &[("csrf", &csrf), ("login", "kassa"), ("password", "viewer-password-9")]);
        assert_eq!(p.status, 403, "{path}: {}", p.body);
    }
    cashier(&server, "SHOP-A", "T2"); // the cashier the viewer tried to remove still logs in

    // The operator's forms work: a cashier made, then removed (its sessions end at once).
    let csrf = op.get("/console/shops").csrf();
    let p = op
        .post("/console/shops/SHOP-C/cashiers", &[("csrf", &csrf), ("login", "nova"), ("password", "nova-password-1")]);
    assert_eq!((p.status, p.location.as_str()), (303, "/console/shops?done=cashier"), "{}", p.body);
    let (s, b) = server.post(
        "/api/v1/sessions",
        None,
        &json!({"shop_id": "SHOP-C", "terminal_id": "T1", "login": "nova", "password": "nova-password-1"}),
    );
    assert_eq!(s, 200, "{b}");
    let nova = b["token"].as_str().unwrap().to_owned();
    let p = op.post("/console/shops/SHOP-C/cashiers/nova/remove", &[("csrf", &csrf)]);
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(server.get("/api/v1/pos/catalog", Some(&nova)).0, 401);
    // A refused form shows the page with the refusal's sentence.
    let p = op.post("/console/shops/SHOP-C/cashiers", &[("csrf", &csrf), ("login", "x"), ("password", "short")]);
    assert_eq!(p.status, 400);
    assert!(p.body.contains("пароль") && p.body.contains("validation"), "{}", p.body);

    // The same revocation as the API's: a new password ends the console session.
    create_operator(db, "op", "operator");
    let p = op.get("/console/");
    assert_eq!((p.status, p.location.as_str()), (303, "/console/login?ended=1"));
    assert!(p.set_cookies.iter().any(|c| c.starts_with("azyq_session=;")), "{:?}", p.set_cookies);
    // Log-out ends the cookie.
    let csrf = viewer.get("/console/").csrf();
    assert_eq!(viewer.post("/console/logout", &[("csrf", &csrf)]).location, "/console/login");
    assert_eq!(viewer.get("/console/").status, 303);

    // /metrics from the loopback: requests by route and status, the sale, the outbox.
    let (status, text) = server.get_text("/metrics", "none");
    assert_eq!(status, 200, "{text}");
    for needle in [
        "azyq_http_request_duration_seconds_bucket{method=\"GET\",route=\"/console/\",status=\"200\"",
        "route=\"/api/v1/pos/baskets/{id}/capture\",status=\"200\"",
        "azyq_holds_total 1",
        "azyq_sales_total 1",
        "azyq_sales_discount_tiyn_total 15000",
        "azyq_outbox_depth{outbox=\"sms\"}",
        // The complaint is delivered to e-Otinish's file within moments: the depth is 0 or 1.
        "azyq_outbox_depth{outbox=\"deliveries\"}",
        "azyq_db_pool_wait_seconds_bucket",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics:\n{text}");
    }
    if !db.url.starts_with("postgres") {
        assert!(text.contains("azyq_group_commit_batch_size_bucket"), "{text}");
    }
}

#[test]
fn metrics_token_and_json_logs() {
    let db = TestDb::sqlite();
    create_operator(&db, "op", "operator");
    let server = Server::start_with(
        &db,
        world::NOW,
        &[("AZYQ_METRICS_TOKEN", "scrape-secret-1"), ("AZYQ_LOG_FORMAT", "json"), ("AZYQ_LOG", "info")],
    );
    assert_eq!(server.get_text("/metrics", "wrong").0, 401);
    let (status, text) = server.get_text("/metrics", "scrape-secret-1");
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE azyq_http_request_duration_seconds histogram"), "{text}");
    server.operator_token();
    drop(server);
    // Every line the server logged is one JSON object, the start-up warnings included.
    let log = std::fs::read_to_string(db.log_file()).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN" && l["message"].as_str().unwrap_or("").contains("FAKE CLOCK")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l["message"] == "request" && l["path"] == "/api/v1/sessions" && l["status"] == 200),
        "{log}"
    );
    // A format it does not know stops the server at once, saying why.
    let out = cli(&db, world::NOW).env("AZYQ_LOG_FORMAT", "xml").arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AZYQ_LOG_FORMAT must be json or text"));
}

/// The operator password the demo printed last.
fn demo_operator_password(db: &TestDb) -> String {
    let banner = std::fs::read_to_string(db.log_file()).unwrap();
    banner
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("operator  login operator"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("the demo prints the operator's password:\n{banner}"))
        .to_owned()
}

/// What the README promises a newcomer: `azyq-server demo`, log in with the printed operator
/// password, and see the demo month's funnel and the day's sales as charts.
fn demo_in_the_console(db: &TestDb) {
    let server = Server::demo(db, world::NOW);
    let banner = std::fs::read_to_string(db.log_file()).unwrap();
    // (The banner names the configured address: port 0 here, which the OS chose.)
    assert!(
        banner.lines().any(|l| l.starts_with("Web console: http://127.0.0.1:") && l.contains("/console/")),
        "{banner}"
    );
    let mut op = Jar::new(&server);
    assert_eq!(op.log_in("operator", &demo_operator_password(db)).status, 303);
    let home = op.get("/console/");
    assert_eq!(home.status, 200, "{}", home.body);
    // Twelve families listed, nine with a standing consent; three baskets sold today.
    for (label, figure) in [("В списке", "12"), ("Согласились", "9"), ("Нет телефона", "1")]
    {
        let row = format!("<th scope=\"row\">{label}</th><td class=\"num\">{figure}</td>");
        assert!(home.body.contains(&row), "{label} {figure} missing:\n{}", home.body);
    }
    assert!(home.body.contains("id=\"today-captured\">3<"), "{}", home.body);
    assert!(home.body.matches("<svg").count() >= 2, "the funnel and the day's sales as charts");
    // A second start the same day sells nothing more.
    drop(server);
    let server = Server::demo(db, world::NOW);
    let mut op = Jar::new(&server);
    assert_eq!(op.log_in("operator", &demo_operator_password(db)).status, 303);
    assert!(op.get("/console/").body.contains("id=\"today-captured\">3<"));
}
