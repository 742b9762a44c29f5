//! Starting the real `azyq-server` binary on a random loopback port against a fresh database, and
//! speaking HTTP (or HTTPS, with a throwaway CA) to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use azyq_shared::api::{ErrorBody, ErrorCode, ErrorDetail};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub const WALLET_SECRET: &str = "test-wallet-secret";
pub const GATEWAY_SECRET: &str = "test-gateway-secret";
pub const OPERATOR_PASSWORD: &str = "operator-password-1";

/// A database a test owns alone.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("azyq.db").display());
        TestDb { url, dir }
    }

    /// A fresh database on the test PostgreSQL, or `None` when there is none (then the test is
    /// skipped, loudly; in CI a missing PostgreSQL fails instead).
    pub fn postgres() -> Option<TestDb> {
        let Some(admin) = super::pg::server_url() else {
            assert!(
                std::env::var("CI").is_err() && std::env::var("AZYQ_REQUIRE_PG").is_err(),
                "PostgreSQL is required here (CI or AZYQ_REQUIRE_PG) but could not be started"
            );
            eprintln!("SKIPPED: no PostgreSQL (set DATABASE_URL_PG or install PostgreSQL 15)");
            return None;
        };
        let name = format!("azyq_test_{}", rand_suffix());
        let url = super::pg::create_database(&admin, &name);
        Some(TestDb { url, dir: tempfile::tempdir().expect("temp dir") })
    }

    /// A connection of its own to the SQLite file, which waits for a lock as the server's do: a
    /// server or a `Db` the test just dropped may still be closing its connections, and closing
    /// the last one checkpoints the WAL under a lock.
    fn sqlite_conn(&self) -> diesel::SqliteConnection {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut c = diesel::SqliteConnection::establish(self.url.trim_start_matches("sqlite://")).expect("open");
        c.batch_execute("PRAGMA busy_timeout = 10000;").expect("set busy_timeout");
        c
    }

    /// Loads the rows of a query, straight from the database (for the books and for corruption
    /// tests), on whichever backend the test runs.
    pub fn query<T>(&self, sql: &str) -> Vec<T>
    where
        T: diesel::QueryableByName<diesel::pg::Pg> + diesel::QueryableByName<diesel::sqlite::Sqlite> + 'static,
    {
        use diesel::{Connection, RunQueryDsl};
        if self.url.starts_with("postgres") {
            let mut c = diesel::PgConnection::establish(&self.url).expect("connect to the test PostgreSQL");
            diesel::sql_query(sql).load(&mut c).unwrap_or_else(|e| panic!("{sql}: {e}"))
        } else {
            let mut c = self.sqlite_conn();
            diesel::sql_query(sql).load(&mut c).unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    }

    /// Runs SQL statements straight on the database (to corrupt the books on purpose).
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if self.url.starts_with("postgres") {
            let mut c = diesel::PgConnection::establish(&self.url).expect("connect to the test PostgreSQL");
            c.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        } else {
            let mut c = self.sqlite_conn();
            c.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// One integer a query answers in a column named `n`.
    pub fn scalar(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.query::<N>(sql).first().map(|r| r.n).unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// The one text value `sql` selects as `t`.
    pub fn scalar_text(&self, sql: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct T {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        self.query::<T>(sql).pop().map(|r| r.t).unwrap_or_else(|| panic!("{sql}: no row"))
    }

    pub fn sms_file(&self) -> PathBuf {
        self.dir.path().join("sms.jsonl")
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }
}

pub fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
    format!("{:016x}", h.finish())
}

/// The server under test: the one cargo built beside these tests, or `AZYQ_TEST_SERVER_BIN` (to run
/// the suite against a release build, or an older version to show what a test catches).
pub fn server_bin() -> String {
    std::env::var("AZYQ_TEST_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_azyq-server").to_owned())
}

/// A throwaway CA and a server certificate it signed for `localhost` and 127.0.0.1, as PEM files
/// in a test's directory: a shop's private CA, made in a moment.
pub struct TestCa {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "Azyq test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .and_then(|server| server.signed_by(&key, &ca_cert, &ca_key))
            .expect("server certificate");
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("PEM file");
            path
        };
        TestCa {
            ca_cert: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", cert.pem()),
            key: write("server-key.pem", key.serialize_pem()),
        }
    }

    /// An agent that trusts this CA, as the server's own senders would with `AZYQ_OUTBOUND_CA_CERT`.
    pub fn agent(&self, timeout: Duration) -> ureq::Agent {
        azyq_server::tls::Outbound::new(Some(&self.ca_cert)).expect("the test CA").agent(timeout)
    }
}

/// A running server; killed when dropped.
pub struct Server {
    pub url: String,
    /// The instant the server's clock started at (`AZYQ_FAKE_NOW`): the scenario's "now".
    pub now: DateTime<Utc>,
    child: Child,
    agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment every test server gets.
fn base_env(cmd: &mut Command, db: &TestDb) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db.url)
        .env("AZYQ_WALLET_JWT_SECRET", WALLET_SECRET)
        .env("AZYQ_SMS_GATEWAY_SECRET", GATEWAY_SECRET)
        .env("AZYQ_SMS_SENDER", format!("file:{}", db.sms_file().display()))
        .env("AZYQ_LOG", "info")
        .env("AZYQ_POOL_SIZE", "4");
}

impl Server {
    /// Starts `azyq-server serve` with the clock at `now` (RFC 3339).
    pub fn start(db: &TestDb, now: &str) -> Server {
        Server::start_with(db, now, &[])
    }

    pub fn start_with(db: &TestDb, now: &str, extra_env: &[(&str, &str)]) -> Server {
        Server::spawn(db, "serve", now, extra_env, None)
    }

    /// Starts `azyq-server serve` speaking HTTPS with `ca`'s server certificate; the test's agent
    /// trusts `ca`.
    pub fn start_tls(db: &TestDb, now: &str, ca: &TestCa, extra_env: &[(&str, &str)]) -> Server {
        Server::spawn(db, "serve", now, extra_env, Some(ca))
    }

    /// Starts `azyq-server demo` in the test's directory (where it writes `demo/`).
    pub fn demo(db: &TestDb, now: &str) -> Server {
        Server::spawn(db, "demo", now, &[], None)
    }

    pub fn demo_with(db: &TestDb, now: &str, extra_env: &[(&str, &str)]) -> Server {
        Server::spawn(db, "demo", now, extra_env, None)
    }

    /// `azyq-server demo` over HTTPS, as [`Server::start_tls`].
    pub fn demo_tls(db: &TestDb, now: &str, ca: &TestCa) -> Server {
        Server::spawn(db, "demo", now, &[], Some(ca))
    }

    fn spawn(db: &TestDb, command: &str, now: &str, extra_env: &[(&str, &str)], tls: Option<&TestCa>) -> Server {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(db.log_file()).expect("log file");
        let mut cmd = Command::new(server_bin());
        base_env(&mut cmd, db);
        cmd.arg(command)
            .current_dir(db.dir.path())
            .env("AZYQ_LISTEN", "127.0.0.1:0")
            .env("AZYQ_FAKE_NOW", now)
            .env("AZYQ_ALLOW_FAKE_CLOCK", "1");
        if let Some(ca) = tls {
            cmd.env("AZYQ_TLS_CERT", &ca.cert).env("AZYQ_TLS_KEY", &ca.key);
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::from(log)).spawn().expect("spawn azyq-server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let log_path = db.log_file();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(url) = line.strip_prefix("azyq-server listening on ") {
                        let _ = tx.send(url.to_owned());
                        sent = true;
                        continue;
                    }
                }
                // Keep everything else the server prints with its log, for the personal-data check.
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&log_path) {
                    use std::io::Write;
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(db.log_file()).unwrap_or_default();
                panic!("azyq-server did not start; its log:\n{log}");
            }
        };
        let timeout = Duration::from_secs(30);
        let agent = tls.map_or_else(|| ureq::AgentBuilder::new().timeout(timeout).build(), |ca| ca.agent(timeout));
        let now = now.parse().expect("AZYQ_FAKE_NOW of a test is RFC 3339");
        Server { url, now, child, agent }
    }

    /// A request to `path` with the session's bearer token and extra headers, not yet sent.
    fn request(&self, method: &str, path: &str, token: Option<&str>, headers: &[(&str, &str)]) -> ureq::Request {
        let mut req = self.agent.request(method, &format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.set(k, v);
        }
        req
    }

    /// Sends a request (a JSON body, if any, and extra headers); the answer as it came, to read with
    /// [`Answer::json`] or, as an API body, [`Answer::typed`].
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let req = self.request(method, path, token, headers);
        let (status, text) = into_text(match body {
            Some(b) => req.send_json(b.clone()),
            None => req.call(),
        });
        Answer { request: format!("{method} {path}"), status, text }
    }

    /// Sends a request and answers (status, JSON body or Null).
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        self.send(method, path, token, body, &[]).json()
    }

    /// Sends a request and reads the answer as the API body `T`, or as the refusal it is.
    pub fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply<T> {
        self.send(method, path, token, body, &[]).typed()
    }

    pub fn get_as<T: DeserializeOwned>(&self, path: &str, token: Option<&str>) -> Reply<T> {
        self.call_as("GET", path, token, None)
    }

    pub fn post_as<T: DeserializeOwned>(&self, path: &str, token: Option<&str>, body: &Value) -> Reply<T> {
        self.call_as("POST", path, token, Some(body))
    }

    /// Sends a raw body with a content type.
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> (u16, Value) {
        let (status, text) =
            into_text(self.request(method, path, token, &[("Content-Type", content_type)]).send_bytes(body));
        Answer { request: format!("{method} {path}"), status, text }.json()
    }

    /// A GET whose body is text (CSV reports): the status and the body as it came.
    pub fn get_text(&self, path: &str, token: &str) -> (u16, String) {
        into_text(self.request("GET", path, Some(token), &[]).call())
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        self.call("POST", path, token, Some(body))
    }

    pub fn put(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        self.call("PUT", path, token, Some(body))
    }

    /// Logs in the operator made by [`create_operator`].
    pub fn operator_token(&self) -> String {
        let (status, body) =
            self.post("/api/v1/sessions", None, &json!({"login": "op", "password": OPERATOR_PASSWORD}));
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// The month (Asia/Almaty) the scenario's clock is in, `YYYY-MM`.
    pub fn month(&self) -> String {
        azyq_shared::BusinessDay::of(self.now).month().expect("a test clock in the years a month may name").to_string()
    }

    /// A wallet JWT of the identity provider for one IIN, valid a day from the scenario's clock.
    pub fn wallet_token(&self, iin: &str) -> String {
        wallet_token_at(iin, self.now)
    }

    /// An applicant's SMS reply through the gateway webhook, received at the scenario's "now".
    pub fn sms_reply(&self, from: &str, text: &str) -> String {
        self.sms_reply_at(from, text, &self.now.to_rfc3339())
    }

    /// A reply the gateway says it received at `received_at` (RFC 3339): the order of answers.
    pub fn sms_reply_at(&self, from: &str, text: &str, received_at: &str) -> String {
        let res = self
            .agent
            .post(&format!("{}/api/v1/sms/inbound", self.url))
            .set("X-Gateway-Secret", GATEWAY_SECRET)
            .send_json(json!({"from": from, "text": text, "received_at": received_at}));
        let (status, text) = into_text(res);
        assert_eq!(status, 200, "{text}");
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        body["outcome"].as_str().unwrap_or_default().to_owned()
    }
}

/// The status and the body as text of an answer, whatever its status.
fn into_text(res: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    let res = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    (res.status(), res.into_string().unwrap_or_default())
}

/// An answer as it came.
pub struct Answer {
    /// Method and path, to say which request a broken answer came from.
    request: String,
    pub status: u16,
    pub text: String,
}

impl Answer {
    /// The status and the body as JSON (Null when it is not JSON).
    pub fn json(self) -> (u16, Value) {
        (self.status, serde_json::from_str(&self.text).unwrap_or(Value::Null))
    }

    /// The body read as the API body `T` when the status is 2xx, or else the refusal with its error
    /// body; an answer that is neither fails the test, for it breaks the contract.
    pub fn typed<T: DeserializeOwned>(self) -> Reply<T> {
        let Answer { request, status, text } = self;
        let unreadable = |what: &str, e: serde_json::Error| -> ! {
            panic!("{request} answered {status} with a body that is not {what} ({e}):\n{text}")
        };
        if (200..300).contains(&status) {
            Ok((status, serde_json::from_str(&text).unwrap_or_else(|e| unreadable(std::any::type_name::<T>(), e))))
        } else {
            let body: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|e| unreadable("an error body", e));
            Err(Refused { status, error: body.error })
        }
    }
}

/// An answer the server refused: its status and the `{"error": {...}}` it gave.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub error: ErrorDetail,
}

impl Refused {
    /// The status and the stable code: what a till matches on.
    pub fn code(&self) -> (u16, ErrorCode) {
        (self.status, self.error.code)
    }

    /// A detail beside code and message (`line`, `field`, `cap_bp`, `balance_tiyn`, …) read as `D`;
    /// `None` when absent.
    pub fn detail<D: DeserializeOwned>(&self, name: &str) -> Option<D> {
        let value = self.error.details.get(name)?;
        Some(serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("detail {name}: {e}: {value}")))
    }
}

/// A typed answer: the status and the body read as `T` when it succeeded, or the refusal.
pub type Reply<T> = Result<(u16, T), Refused>;

/// What a test expects of a [`Reply`].
pub trait Expect<T> {
    /// The body of a success with this status; anything else fails the test, showing what came.
    fn success(self, status: u16) -> T;
    /// The refusal; a success fails the test.
    fn refused(self) -> Refused;
}

impl<T: std::fmt::Debug> Expect<T> for Reply<T> {
    #[track_caller]
    fn success(self, status: u16) -> T {
        match self {
            Ok((s, body)) if s == status => body,
            Ok((s, body)) => panic!("expected {status}, answered {s}: {body:?}"),
            Err(refused) => panic!("expected {status}, refused: {refused:?}"),
        }
    }

    #[track_caller]
    fn refused(self) -> Refused {
        match self {
            Ok((s, body)) => panic!("expected a refusal, answered {s}: {body:?}"),
            Err(refused) => refused,
        }
    }
}

/// An `azyq-server` command line with the test environment and the clock at `now`.
pub fn cli(db: &TestDb, now: &str) -> Command {
    let mut cmd = Command::new(server_bin());
    base_env(&mut cmd, db);
    cmd.env("AZYQ_FAKE_NOW", now).env("AZYQ_ALLOW_FAKE_CLOCK", "1");
    cmd
}

/// Runs `azyq-server create-operator` for login `op`.
pub fn create_operator(db: &TestDb, login: &str, role: &str) {
    let mut cmd = Command::new(server_bin());
    base_env(&mut cmd, db);
    let out = cmd
        .args(["create-operator", "--login", login, "--role", role])
        .env("AZYQ_PASSWORD", OPERATOR_PASSWORD)
        .output()
        .expect("run create-operator");
    assert!(out.status.success(), "create-operator failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A wallet JWT of the identity provider for one IIN, valid a day from `now` (the scenario's
/// clock, never the wall's: the suite must pass on any date).
pub fn wallet_token_at(iin: &str, now: DateTime<Utc>) -> String {
    let exp = now.timestamp() + 86_400;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"iin": iin, "aud": "azyq-wallet", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(WALLET_SECRET.as_bytes()),
    )
    .expect("jwt")
}

/// The SMS the file sender wrote, as JSON values.
pub fn sms_lines(db: &TestDb) -> Vec<Value> {
    std::fs::read_to_string(db.sms_file())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("SMS line is JSON"))
        .collect()
}

/// How many SMS of each kind went out, waiting (bounded) until at least `expected` are there.
pub fn wait_for_sms(db: &TestDb, expected: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = sms_lines(db);
        if lines.len() >= expected || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn count_kind(lines: &[Value], kind: &str) -> usize {
    lines.iter().filter(|l| l["kind"] == kind).count()
}

/// The n-th valid IIN of a series unique to `seed`.
pub fn iin(seed: u32, n: u32) -> String {
    (0..)
        .find_map(|k| {
            let prefix = format!("9{:01}{:02}4{:06}", seed % 10, (seed / 10) % 100, n * 7 + k);
            let mut digits = [0u8; 11];
            for (d, b) in digits.iter_mut().zip(prefix.bytes()) {
                *d = b - b'0';
            }
            azyq_shared::Iin::check_digit(&digits).map(|c| format!("{prefix}{c}"))
        })
        .expect("some k gives a valid IIN")
}

/// The months the tests' programme runs: the pilot order's own period (2026-01..2026-04) extended
/// over every month a test lists families in, the clock tests' five years back and ahead included.
pub const PROGRAMME: (&str, &str) = ("2020-01", "2039-12");

/// Puts the three pilot localities in place and extends the programme over the tests' months.
pub fn setup_pilot(server: &Server, token: &str) {
    let (s, b) = server.put(
        "/api/v1/localities",
        Some(token),
        &json!([{"kato": "111010000", "name": "Кокшетау"}, {"kato": "113220100", "name": "Акколь"}, {"kato": "551010000", "name": "Павлодар"}]),
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) =
        server.put("/api/v1/programme", Some(token), &json!({"from_month": PROGRAMME.0, "to_month": PROGRAMME.1}));
    assert_eq!(s, 200, "{b}");
}

/// Whether a file holds any of the strings.
pub fn file_contains_any(path: &Path, needles: &[String]) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    needles.iter().filter(|n| text.contains(n.as_str())).cloned().collect()
}

/// Runs `azyq-server check` on the test's database: the books must prove.
pub fn check_books(db: &TestDb) {
    let out = cli(db, "2030-01-01T00:00:00Z").arg("check").output().expect("run check");
    assert!(
        out.status.success(),
        "azyq-server check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
