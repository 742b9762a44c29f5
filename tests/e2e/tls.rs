//! TLS end to end, with a throwaway CA made per test: `serve` over HTTPS (plain HTTP to its port
//! gets nothing), `azyq-pos` trusting the CA with `--ca-cert` and refusing the server without it,
//! and the SMS sender delivering to an HTTPS gateway it trusts through `AZYQ_OUTBOUND_CA_CERT`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both;
use crate::pos_cli::{pos_run, DemoSale};
use crate::world::{self, NOW};

on_both!(login_and_lookup_over_https => https_sqlite, https_postgres);

fn login_and_lookup_over_https(db: &TestDb) {
    let ca = TestCa::new(db.dir.path());
    create_operator(db, "op", "operator");
    let server = Server::start_tls(db, NOW, &ca, &[]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "the start line names https: {}", server.url);

    // Every call of the set-up goes over HTTPS: the operator's and the cashier's log-ins, the wallet.
    let w = world::setup(db, &server, 31);
    w.activate(&server, 0);
    let token = w.qr(&server, 0);
    let cashier = world::cashier(&server, "SHOP-A", "T1");
    let (s, b) = server.post("/api/v1/pos/lookup", Some(&cashier), &json!({"token": token}));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["voucher_id"].as_i64(), Some(w.voucher_id(&server, 0)), "{b}");

    // Plain HTTP to the TLS port gets no answer from the API.
    let quick = Duration::from_secs(5);
    let plain = server.url.replacen("https://", "http://", 1);
    let res = ureq::AgentBuilder::new().timeout(quick).build().get(&format!("{plain}/health")).call();
    assert!(matches!(res, Err(ureq::Error::Transport(_))), "plain HTTP was answered: {res:?}");
    // And a client that does not trust the test CA refuses the server.
    let res = ureq::AgentBuilder::new().timeout(quick).build().get(&format!("{}/health", server.url)).call();
    let refused = res.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(refused.contains("UnknownIssuer"), "{res:?}");
}

#[test]
fn a_broken_certificate_file_stops_the_start_naming_it() {
    let db = TestDb::sqlite();
    let ca = TestCa::new(db.dir.path());
    let missing = db.dir.path().join("missing.pem");
    for (cert, key, named) in [(&missing, &ca.key, &missing), (&ca.cert, &ca.cert, &ca.cert)] {
        let mut child = cli(&db, NOW)
            .arg("serve")
            .env("AZYQ_LISTEN", "127.0.0.1:0")
            .env("AZYQ_TLS_CERT", cert)
            .env("AZYQ_TLS_KEY", key)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run azyq-server serve");
        // Bounded: a server that starts anyway is killed and the test fails.
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("its output");
        let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "it must stop at once: {stdout}{err}");
        assert!(err.contains(&named.display().to_string()), "{err}");
        assert!(!stdout.contains("listening"), "{stdout}");
    }
}

#[test]
fn till_sells_over_https_with_ca_cert_and_refuses_without() {
    let db = TestDb::sqlite();
    let ca = TestCa::new(db.dir.path());
    let server = Server::demo_tls(&db, world::NOW, &ca);
    let demo = DemoSale::of(&db);

    // Without --ca-cert the till refuses the server before the password leaves, in the cashier's
    // words, in both languages, and exits 1 (not 3: nothing was sent, the outcome is known).
    let (status, out, err) = pos_run(&server, &demo.password, &demo.args(&[]));
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(out, Value::Null);
    assert!(err.contains("Касса не доверяет сертификату сервера (он выдан удостоверяющим центром"), "{err}");
    assert!(err.contains("--ca-cert"), "{err}");
    let (status, _, err) = pos_run(&server, &demo.password, &demo.args(&["--lang", "kk"]));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("Касса сервер сертификатына сенбейді"), "{err}");
    let log_in = "path=/api/v1/sessions";
    let log = || std::fs::read_to_string(db.log_file()).unwrap_or_default();
    assert!(!log().contains(log_in), "no log-in reached the server");

    // With the shop's CA the same sale goes through.
    let ca_cert = ca.ca_cert.display().to_string();
    let (status, sale, err) = pos_run(&server, &demo.password, &demo.args(&["--ca-cert", &ca_cert]));
    assert!(status.success(), "{err}");
    assert_eq!(sale["captured"]["status"], "captured", "{sale}");
    assert!(log().contains(log_in), "the server logs each request");
}

/// What the test's HTTPS gateway saw on one connection.
#[derive(Debug)]
enum Seen {
    /// A request's JSON body (answered 200).
    Posted(Value),
    /// The TLS (or HTTP) error that ended the connection.
    Broken(String),
}

/// An HTTPS SMS gateway on the loopback with `ca`'s server certificate: answers each POST 200 and
/// reports its body, or the error that broke the connection. Serves `connections` at most.
fn https_gateway(ca: &TestCa, connections: usize) -> (String, mpsc::Receiver<Seen>) {
    let files = azyq_server::config::TlsFiles { cert: &ca.cert, key: &ca.key };
    let config = Arc::new(azyq_server::tls::server_config(files).expect("the test certificate"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gateway");
    let url = format!("https://127.0.0.1:{}/sms", listener.local_addr().expect("address").port());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let conn = rustls::ServerConnection::new(config.clone()).expect("TLS session");
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let seen = match read_body(&mut tls) {
                Ok(body) => {
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    Seen::Posted(serde_json::from_slice(&body).unwrap_or(Value::Null))
                }
                Err(e) => Seen::Broken(e.to_string()),
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// One HTTP request's body, by its Content-Length.
fn read_body(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

#[test]
fn sms_reach_an_https_gateway_only_through_the_trusted_ca() {
    let db = TestDb::sqlite();
    let ca = TestCa::new(db.dir.path());
    let (url, seen) = https_gateway(&ca, 8);
    let sender = format!("http:{url}");
    create_operator(&db, "op", "operator");

    // The gateway's CA is not trusted yet: the start SMS is held back, and the log says why.
    let server = Server::start_with(&db, NOW, &[("AZYQ_SMS_SENDER", &sender)]);
    let op = server.operator_token();
    setup_pilot(&server, &op);
    let phone = "+77015550001";
    let list = json!({"families": [{"family_id": "FAM", "kato": "551010000", "phone": phone, "members": [
        {"iin": iin(32, 1), "name": "Айгерим Бекова", "birth_date": "1990-01-01"}]}]});
    let (s, b) = server.post(&format!("/api/v1/months/{}/recipients", server.month()), Some(&op), &list);
    assert_eq!(s, 200, "{b}");
    let (s, b) = server.post(&format!("/api/v1/months/{}/consent-requests", server.month()), Some(&op), &json!({}));
    assert_eq!(s, 200, "{b}");
    let refused = seen.recv_timeout(Duration::from_secs(30)).expect("the sender tried the gateway");
    assert!(matches!(&refused, Seen::Broken(e) if e.contains("UnknownCA")), "{refused:?}");
    // The gateway sees the alert before the sender has logged it: wait for the line, bounded.
    let why = "gateway unreachable: TLS: invalid peer certificate: UnknownIssuer";
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = std::fs::read_to_string(db.log_file()).unwrap_or_default();
        if log.contains(why) || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(log.contains(why), "{log}");
    drop(server);

    // Trusted through AZYQ_OUTBOUND_CA_CERT, past the retry's back-off: delivered over HTTPS.
    let ca_cert = ca.ca_cert.display().to_string();
    let env = [("AZYQ_SMS_SENDER", sender.as_str()), ("AZYQ_OUTBOUND_CA_CERT", &ca_cert)];
    let _server = Server::start_with(&db, "2026-12-06T05:05:00Z", &env);
    let delivered = seen.recv_timeout(Duration::from_secs(30)).expect("the SMS was retried");
    let Seen::Posted(sms) = delivered else { panic!("not delivered: {delivered:?}") };
    assert_eq!((sms["to"].as_str(), sms["kind"].as_str()), (Some(phone), Some("start")), "{sms}");
    assert!(sms["text"].as_str().is_some_and(|t| t.contains("21*1")), "{sms}");
}

#[test]
fn plain_http_off_the_loopback_is_warned_about() {
    let db = TestDb::sqlite();
    let warning = "plain HTTP on a network address";
    drop(Server::start(&db, NOW));
    let log = std::fs::read_to_string(db.log_file()).unwrap_or_default();
    assert!(!log.contains(warning), "the loopback is a newcomer's default: {log}");
    let server = Server::start_with(&db, NOW, &[("AZYQ_LISTEN", "0.0.0.0:0")]);
    assert!(server.url.starts_with("http://0.0.0.0:"), "{}", server.url);
    drop(server);
    let log = std::fs::read_to_string(db.log_file()).unwrap_or_default();
    assert!(log.contains(warning) && log.contains("AZYQ_TLS_CERT"), "{log}");
}
