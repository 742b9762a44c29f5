//! The client against a tiny HTTP server on the loopback that answers canned responses.

use azyq_shared::Tiyn;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use azyq_shared::api::{BasketLineIn, Payment, PaymentMethod};

use super::*;

/// What the fake server saw of one request.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

enum Answer {
    Respond(u16, &'static str),
    /// Read the request and keep silent past the client's timeout.
    Silence(Duration),
}

/// Serves one canned answer per connection, in order, and reports each request.
fn serve(answers: Vec<Answer>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for answer in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (n, v) = line.split_once(':').unwrap();
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            tx.send(Seen {
                request_line: request_line.trim_end().to_owned(),
                headers,
                body: String::from_utf8(body).unwrap(),
            })
            .unwrap();
            let mut stream = stream;
            match answer {
                Answer::Respond(status, body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
                // Held open on a thread of its own, so the next connection is served meanwhile.
                Answer::Silence(d) => drop(thread::spawn(move || {
                    thread::sleep(d);
                    drop(stream);
                })),
            }
        }
    });
    (base, rx)
}

const SESSION: &str = r#"{"token":"jwt-secret","expires_at":"2026-12-03T18:00:00Z","role":"cashier"}"#;
const AUTHORIZED: &str = r#"{"basket_id":7,"status":"authorized","discount_tiyn":1500,"to_pay_tiyn":8500,
  "hold_expires_at":"2026-12-03T09:30:00Z","vouchers":[{"voucher_id":1,"charged_tiyn":1500,"balance_tiyn":431000}],
  "lines":[]}"#;

fn quick() -> Timeouts {
    Timeouts { connect: Duration::from_millis(500), request: Duration::from_millis(300) }
}

fn basket() -> AuthorizeRequest {
    AuthorizeRequest {
        tokens: vec!["AZ1:X".into()],
        lines: vec![BasketLineIn {
            code: "4600000000015".into(),
            quantity: 1,
            shelf_price_tiyn: Tiyn::new(10000),
            reduced_price_tiyn: Tiyn::new(8500),
        }],
    }
}

#[test]
fn login_then_bearer_and_idempotency_key_on_authorise() {
    let (base, seen) = serve(vec![Answer::Respond(201, SESSION), Answer::Respond(201, AUTHORIZED)]);
    let mut client = Client::new(&format!("{base}/"), Timeouts::default());
    let req = SessionRequest {
        login: "k1".into(),
        password: "p".into(),
        shop_id: Some("S1".into()),
        terminal_id: Some("T1".into()),
    };
    client.login(&req).unwrap();
    let login = seen.recv().unwrap();
    assert_eq!(login.request_line, "POST /api/v1/sessions HTTP/1.1");
    assert!(login.header("authorization").is_none());
    assert!(login.body.contains(r#""shop_id":"S1""#));

    let key = IdempotencyKey::from_text("pos-abc");
    let authorized = client.authorize(&key, &basket()).unwrap();
    assert_eq!(authorized.basket_id, 7);
    let auth = seen.recv().unwrap();
    assert_eq!(auth.request_line, "POST /api/v1/pos/baskets HTTP/1.1");
    assert_eq!(auth.header("authorization"), Some("Bearer jwt-secret"));
    assert_eq!(auth.header("idempotency-key"), Some("pos-abc"));
    assert_eq!(auth.header("content-type"), Some("application/json"));
    // The Debug form never shows the session.
    assert!(!format!("{client:?}").contains("jwt-secret"));
}

#[test]
fn api_error_body_is_kept_with_its_details() {
    let body = r#"{"error":{"code":"discount_over_cap","message":"Строка 2: скидка больше допустимой","line":1,"cap_bp":1500}}"#;
    let (base, _seen) = serve(vec![Answer::Respond(422, body)]);
    let client = Client::new(&base, Timeouts::default());
    let err = client.authorize(&IdempotencyKey::new(), &basket()).unwrap_err();
    assert!(matches!(err, ClientError::Api { status: 422, .. }));
    assert_eq!(err.code(), Some(ErrorCode::DiscountOverCap));
    assert_eq!(err.detail_i64("line"), Some(1));
    assert_eq!(err.detail_i64("cap_bp"), Some(1500));
    assert!(!err.outcome_unknown());
}

#[test]
fn an_error_status_without_api_body_is_http() {
    let (base, _seen) = serve(vec![Answer::Respond(502, "<html>bad gateway</html>")]);
    let client = Client::new(&base, Timeouts::default());
    let err = client.catalog().unwrap_err();
    assert!(matches!(err, ClientError::Http { status: 502 }));
    assert!(err.outcome_unknown());
}

#[test]
fn silence_is_a_timeout_and_the_retry_carries_the_same_key() {
    let (base, seen) = serve(vec![Answer::Silence(Duration::from_millis(800)), Answer::Respond(201, AUTHORIZED)]);
    let client = Client::new(&base, quick());
    let key = IdempotencyKey::new();
    let err = client.authorize(&key, &basket()).unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    assert!(err.outcome_unknown());
    let first = seen.recv().unwrap();
    client.authorize(&key, &basket()).unwrap();
    let second = seen.recv().unwrap();
    assert_eq!(first.header("idempotency-key"), second.header("idempotency-key"));
    assert_eq!(first.body, second.body);
}

#[test]
fn a_closed_port_is_unreachable_and_nothing_was_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new(&format!("http://{addr}"), quick());
    let err = client.keys().unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
    assert!(!err.outcome_unknown(), "a write that found no server did not happen");
}

#[test]
fn capture_report_and_refund_paths() {
    let captured = r#"{"basket_id":7,"status":"captured","receipt":{"basket_id":7,"shop_id":"S1","shop_name":"Дәмді",
      "terminal_id":"T1","captured_at":"2026-12-03T09:21:00Z","lines":[],"discount_tiyn":1500,"to_pay_tiyn":8500,
      "payment":{"method":"cash","paid_tiyn":8500},"vouchers":[]}}"#;
    let report = r#"{"date":"2026-12-03","shop_id":"S1","baskets_captured":1,"baskets_cancelled":0,"baskets_hold_expired":0,
      "refunds":0,"discount_tiyn":1500,"paid_tiyn":8500,"refunded_tiyn":0,"by_group":[]}"#;
    let refund = r#"{"refund_id":3,"basket_id":7,"status":"refunded","lines":[0],"refunded_tiyn":1500,"vouchers":[]}"#;
    let (base, seen) =
        serve(vec![Answer::Respond(200, captured), Answer::Respond(200, report), Answer::Respond(200, refund)]);
    let client = Client::new(&base, Timeouts::default());
    let pay = CaptureRequest { payment: Payment { method: PaymentMethod::Card, paid_tiyn: Tiyn::new(8500) } };
    assert_eq!(client.capture(7, &IdempotencyKey::new(), &pay).unwrap().receipt.shop_name, "Дәмді");
    assert_eq!(seen.recv().unwrap().request_line, "POST /api/v1/pos/baskets/7/capture HTTP/1.1");
    assert_eq!(client.daily_report(Some("2026-12-03")).unwrap().paid_tiyn, Tiyn::new(8500));
    assert_eq!(seen.recv().unwrap().request_line, "GET /api/v1/pos/reports/daily?date=2026-12-03 HTTP/1.1");
    let r = client.refund(7, &IdempotencyKey::new(), &RefundRequest::default()).unwrap();
    assert_eq!(r.refunded_tiyn, Tiyn::new(1500));
    let seen_refund = seen.recv().unwrap();
    assert_eq!(seen_refund.body, "{}");
}

#[test]
fn keys_are_random_and_short() {
    let a = IdempotencyKey::new();
    let b = IdempotencyKey::new();
    assert_ne!(a, b);
    assert!(a.as_str().len() <= 64);
}
