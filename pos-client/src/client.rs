//! The blocking HTTP client of the till API (shared/API.md, "Till").
//!
//! Authorise, capture and refund carry an [`IdempotencyKey`] that the caller makes and keeps: when
//! the answer is lost (a timeout, a dropped connection, a 5xx), the caller sends the same request
//! with the same key again and the server returns its stored answer. An unknown outcome is resolved
//! that way, never guessed, so nothing is charged twice.
//!
//! Over HTTPS the till trusts the web PKI's roots and, with `--ca-cert`, a private CA ([`Trust`]);
//! a certificate it cannot verify ends the request before anything is sent ([`ClientError::Certificate`]).

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use azyq_shared::api::{
    AuthorizeRequest, Authorized, BasketState, CaptureRequest, Captured, ErrorBody, ErrorCode, LookupRequest,
    LookupResponse, PosCatalog, PosDailyReport, Recalls, Refund, RefundRequest, SessionRequest, SessionResponse,
    VoucherKeys,
};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Answers larger than this are refused: a till's answers are a few kilobytes.
const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// How long the till waits for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the TCP connection.
    pub connect: Duration,
    /// For the whole request, connection and answer included.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(3), request: Duration::from_secs(10) }
    }
}

/// What went wrong with a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an API error body.
    #[error("{} ({status} {})", body.error.message, body.error.code.as_str())]
    Api { status: u16, body: ErrorBody },
    /// An error status without the API's error body (a proxy or a load balancer answered).
    #[error("сервер ответил {status} без пояснения")]
    Http { status: u16 },
    /// No answer in time: the request may or may not have taken effect.
    #[error("сервер не ответил вовремя")]
    Timeout,
    /// The connection broke off (or failed) after the request may have been sent.
    #[error("нет связи с сервером: {0}")]
    Network(String),
    /// The connection could not be made (refused, no route, the name did not resolve, no answer to
    /// the connect): nothing was sent. The till may sell offline.
    #[error("нет связи с сервером: {0}")]
    Unreachable(String),
    /// A success status whose body could not be read.
    #[error("непонятный ответ сервера: {0}")]
    Protocol(String),
    /// The server cannot be reached and the till cannot answer offline either (no kept session, no
    /// fresh genuine pack, the journal unusable); made by the till's offline half, never sent.
    #[error("нет связи с сервером, продажа без связи невозможна ({})", .0.code())]
    Offline(crate::offline::Cannot),
    /// The server's certificate did not verify: nothing was sent, the server may be an impostor.
    #[error("сертификат сервера не прошёл проверку ({0:?})")]
    Certificate(CertificateProblem),
}

/// Why the till refused a server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Signed by a CA the till does not trust (a private CA without `--ca-cert`, or an impostor).
    UnknownIssuer,
    /// Expired, or not valid yet.
    Expired,
    /// Made for another host name or address than the one in `--server`.
    WrongName,
    /// Any other refusal (revoked, malformed, a bad signature).
    Other,
}

impl CertificateProblem {
    fn of(e: &rustls::CertificateError) -> CertificateProblem {
        use rustls::CertificateError as E;
        match e {
            E::UnknownIssuer => CertificateProblem::UnknownIssuer,
            E::Expired | E::ExpiredContext { .. } | E::NotValidYet | E::NotValidYetContext { .. } => {
                CertificateProblem::Expired
            }
            E::NotValidForName | E::NotValidForNameContext { .. } => CertificateProblem::WrongName,
            _ => CertificateProblem::Other,
        }
    }
}

/// The certificate authorities the till trusts for HTTPS.
#[derive(Clone)]
pub struct Trust(Arc<rustls::ClientConfig>);

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Trust").finish_non_exhaustive()
    }
}

/// Why a `--ca-cert` file cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaFileError {
    /// Not readable, or not PEM.
    #[error("{0}")]
    Unreadable(String),
    /// PEM without a single certificate in it (a key, say).
    #[error("no certificate")]
    NoCertificate,
    /// A certificate that cannot serve as a root.
    #[error("{0}")]
    Unusable(String),
}

impl Trust {
    /// The web PKI's roots (Mozilla's list, built into the till, as ureq trusts by default) and
    /// every CA certificate in a PEM file: a shop's private CA.
    pub fn with_ca_file(path: &Path) -> Result<Trust, CaFileError> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| CaFileError::Unreadable(e.to_string()))?;
        if certs.is_empty() {
            return Err(CaFileError::NoCertificate);
        }
        let unusable = |e: rustls::Error| CaFileError::Unusable(e.to_string());
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for cert in certs {
            roots.add(cert).map_err(unusable)?;
        }
        // ring, as ureq's own default uses: one crypto provider in the till.
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(unusable)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Trust(Arc::new(config)))
    }
}

/// What every [`Client::new`] of this process trusts besides the web PKI: set once from the
/// command line.
static PROCESS_TRUST: OnceLock<Trust> = OnceLock::new();

/// Makes `trust` what every later [`Client::new`] trusts; only the first call counts (the till
/// reads `--ca-cert` once, at start). Without a call, clients trust the web PKI's roots alone.
pub fn trust_for_process(trust: Trust) {
    let _ = PROCESS_TRUST.set(trust);
}

impl ClientError {
    /// The API error code, when the server gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { body, .. } => Some(body.error.code),
            _ => None,
        }
    }

    /// Whether the request may have taken effect without the till knowing: then a keyed write must
    /// be sent again with the same idempotency key, and nothing else done meanwhile.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ClientError::Timeout | ClientError::Network(_) | ClientError::Protocol(_) => true,
            ClientError::Api { status, .. } | ClientError::Http { status } => *status >= 500,
            // The handshake failed before a byte of the request was sent.
            ClientError::Certificate(_) => false,
            // No connection: nothing was sent.
            ClientError::Unreachable(_) | ClientError::Offline(_) => false,
        }
    }

    /// A detail of an API error (`field`, `status`, …) as text.
    pub fn detail_str(&self, name: &str) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => body.error.details.get(name).and_then(serde_json::Value::as_str),
            _ => None,
        }
    }

    /// A detail of an API error (`line`, `balance_tiyn`, `cap_bp`, …) as an integer.
    pub fn detail_i64(&self, name: &str) -> Option<i64> {
        match self {
            ClientError::Api { body, .. } => body.error.details.get(name).and_then(serde_json::Value::as_i64),
            _ => None,
        }
    }
}

/// The `Idempotency-Key` of one keyed write: random, 36 characters (the API allows 64).
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 128 random bits from the operating system.
    pub fn new() -> IdempotencyKey {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        IdempotencyKey(format!("pos-{hex}"))
    }

    /// A fixed key, for tests.
    pub fn from_text(text: &str) -> IdempotencyKey {
        IdempotencyKey(text.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for IdempotencyKey {
    fn default() -> Self {
        IdempotencyKey::new()
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({})", self.0)
    }
}

/// A session with the till API. The bearer token is never printed (see the `Debug` impl).
pub struct Client {
    agent: ureq::Agent,
    base: String,
    bearer: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("logged_in", &self.bearer.is_some()).finish()
    }
}

impl Client {
    /// A client of the server at `base` (`http://host:port` or `https://…`), not logged in yet,
    /// trusting what [`trust_for_process`] set.
    pub fn new(base: &str, timeouts: Timeouts) -> Client {
        let mut agent = ureq::AgentBuilder::new()
            .timeout_connect(timeouts.connect)
            .timeout(timeouts.request)
            .user_agent(concat!("azyq-pos/", env!("CARGO_PKG_VERSION")));
        // Without --ca-cert, ureq's default: the web PKI's roots, through rustls with ring.
        if let Some(trust) = PROCESS_TRUST.get() {
            agent = agent.tls_config(trust.0.clone());
        }
        let agent = agent.build();
        Client { agent, base: base.trim().trim_end_matches('/').to_owned(), bearer: None }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Logs in as a cashier; later requests carry the session.
    pub fn login(&mut self, req: &SessionRequest) -> Result<SessionResponse, ClientError> {
        let session: SessionResponse = self.send("POST", "/api/v1/sessions", None, Some(req))?;
        self.bearer = Some(session.token.clone());
        Ok(session)
    }

    /// The SZPT products with caps and the shop's last prices.
    pub fn catalog(&self) -> Result<PosCatalog, ClientError> {
        self.send::<(), _>("GET", "/api/v1/pos/catalog", None, None)
    }

    /// The recalls in force, to warn at the scan.
    pub fn recalls(&self) -> Result<Recalls, ClientError> {
        self.send::<(), _>("GET", "/api/v1/pos/recalls", None, None)
    }

    /// The public keys of the voucher-token signers (public, no session needed).
    pub fn keys(&self) -> Result<VoucherKeys, ClientError> {
        self.send::<(), _>("GET", "/.well-known/voucher-keys", None, None)
    }

    pub fn lookup(&self, token: &str) -> Result<LookupResponse, ClientError> {
        self.send("POST", "/api/v1/pos/lookup", None, Some(&LookupRequest { token: token.to_owned() }))
    }

    pub fn authorize(&self, key: &IdempotencyKey, req: &AuthorizeRequest) -> Result<Authorized, ClientError> {
        self.send("POST", "/api/v1/pos/baskets", Some(key), Some(req))
    }

    pub fn capture(&self, basket_id: i64, key: &IdempotencyKey, req: &CaptureRequest) -> Result<Captured, ClientError> {
        self.send("POST", &format!("/api/v1/pos/baskets/{basket_id}/capture"), Some(key), Some(req))
    }

    pub fn cancel(&self, basket_id: i64) -> Result<BasketState, ClientError> {
        self.send::<(), _>("POST", &format!("/api/v1/pos/baskets/{basket_id}/cancel"), None, None)
    }

    pub fn refund(&self, basket_id: i64, key: &IdempotencyKey, req: &RefundRequest) -> Result<Refund, ClientError> {
        self.send("POST", &format!("/api/v1/pos/baskets/{basket_id}/refund"), Some(key), Some(req))
    }

    /// The pack for selling offline, signed with the server's pack key.
    pub fn offline_pack(&self) -> Result<azyq_shared::offline::SignedPack, ClientError> {
        self.send::<(), _>("GET", "/api/v1/pos/offline-pack", None, None)
    }

    /// The public keys that sign offline packs (public, no session needed).
    pub fn offline_pack_keys(&self) -> Result<VoucherKeys, ClientError> {
        self.send::<(), _>("GET", "/.well-known/offline-pack-keys", None, None)
    }

    /// Uploads offline sales (at most 500); the server answers each, idempotent by `sale_id`.
    pub fn upload_offline(
        &self,
        sales: &azyq_shared::offline::OfflineSales,
    ) -> Result<azyq_shared::offline::OfflineSaleResults, ClientError> {
        self.send("POST", "/api/v1/pos/offline-sales", None, Some(sales))
    }

    /// A client carrying a session kept from an earlier log-in (the journal's).
    pub fn with_session(base: &str, timeouts: Timeouts, token: &str) -> Client {
        Client { bearer: Some(token.to_owned()), ..Client::new(base, timeouts) }
    }

    /// The session's bearer token, to keep in the journal for offline use.
    pub fn session_token(&self) -> Option<&str> {
        self.bearer.as_deref()
    }

    /// The shop's day; `date` is `YYYY-MM-DD` (Almaty), `None` for today.
    pub fn daily_report(&self, date: Option<&str>) -> Result<PosDailyReport, ClientError> {
        let path = match date {
            Some(d) => format!("/api/v1/pos/reports/daily?date={}", encode_query(d)),
            None => "/api/v1/pos/reports/daily".to_owned(),
        };
        self.send::<(), _>("GET", &path, None, None)
    }

    fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        key: Option<&IdempotencyKey>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(bearer) = &self.bearer {
            req = req.set("Authorization", &format!("Bearer {bearer}"));
        }
        if let Some(key) = key {
            req = req.set("Idempotency-Key", key.as_str());
        }
        let result = match body {
            Some(body) => {
                let json = serde_json::to_string(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
                req.set("Content-Type", "application/json").send_string(&json)
            }
            None if method == "POST" => req.send_string(""),
            None => req.call(),
        };
        match result {
            Ok(res) => {
                let text = read_body(res)?;
                serde_json::from_str(&text).map_err(|e| ClientError::Protocol(e.to_string()))
            }
            Err(ureq::Error::Status(status, res)) => {
                let text = read_body(res)?;
                match serde_json::from_str::<ErrorBody>(&text) {
                    Ok(body) => Err(ClientError::Api { status, body }),
                    Err(_) => Err(ClientError::Http { status }),
                }
            }
            Err(ureq::Error::Transport(t)) => Err(transport_error(&t)),
        }
    }
}

fn read_body(res: ureq::Response) -> Result<String, ClientError> {
    let mut text = String::new();
    res.into_reader().take(MAX_ANSWER_BYTES).read_to_string(&mut text).map_err(|e| io_error(&e))?;
    Ok(text)
}

fn io_error(e: &std::io::Error) -> ClientError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => ClientError::Timeout,
        _ => ClientError::Network(e.to_string()),
    }
}

fn transport_error(t: &ureq::Transport) -> ClientError {
    // A certificate the till does not trust: an impostor (or a missing --ca-cert), never an outage,
    // though ureq files the failed handshake under "connection failed".
    let mut source = std::error::Error::source(t);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            // rustls' refusal travels inside an io::Error, which hides it from `source()`.
            if let Some(rustls::Error::InvalidCertificate(c)) = io.get_ref().and_then(|i| i.downcast_ref()) {
                return ClientError::Certificate(CertificateProblem::of(c));
            }
        }
        source = e.source();
    }
    // No connection was made (a connect timeout included): not a byte of the request went out.
    if matches!(t.kind(), ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed) {
        return ClientError::Unreachable(t.to_string());
    }
    let mut source = std::error::Error::source(t);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
                return ClientError::Timeout;
            }
        }
        source = e.source();
    }
    // ureq's text names the URL and the cause; the URL holds no token (tokens go in bodies).
    ClientError::Network(t.to_string())
}

/// Percent-encodes what is not safe in a query value (a date needs none, but a typo might).
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
