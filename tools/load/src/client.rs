//! A small blocking HTTP client for the Azyq API: every answer, error or not, becomes a [`Reply`]
//! so that the caller counts it instead of failing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One answer of the server, or of the transport (status 0) when there was none.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status; 0 when the request never got an answer (refused, reset, timed out).
    pub status: u16,
    /// The JSON body, or `Null` when the body was empty or not JSON.
    pub body: Value,
    /// Time from sending the request to having read the whole answer.
    pub elapsed: Duration,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The stable error code (`{"error":{"code":…}}`), `transport` for no answer, or `-` when the
    /// body carries none.
    pub fn code(&self) -> &str {
        if self.status == 0 {
            return "transport";
        }
        self.body["error"]["code"].as_str().unwrap_or("-")
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.body[field].as_str()
    }

    /// An integer field of the body.
    pub fn int(&self, field: &str) -> Option<i64> {
        self.body[field].as_i64()
    }

    /// A one-line description for setup error messages.
    pub fn describe(&self) -> String {
        // Messages are Russian: cut at a character, never inside one.
        let text: String = self.body.to_string().chars().take(300).collect();
        format!("HTTP {} {}", self.status, text)
    }
}

/// A connection-keeping client bound to one server.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    base: String,
}

impl Api {
    /// A client for `base` (e.g. `http://127.0.0.1:18181`) with a per-request time limit.
    pub fn new(base: &str, timeout: Duration) -> Api {
        let agent = ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(5)).timeout(timeout).build();
        Api { agent, base: base.trim_end_matches('/').to_owned() }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request; never panics, never returns an error: failures are replies too.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(token) = bearer {
            req = req.set("Authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.set(name, value);
        }
        let started = Instant::now();
        let result = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => {
                return Reply { status: 0, body: json!({ "transport": e.to_string() }), elapsed: started.elapsed() }
            }
        };
        let status = response.status();
        let body = match response.into_string() {
            Ok(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            Err(e) => {
                return Reply { status: 0, body: json!({ "transport": e.to_string() }), elapsed: started.elapsed() }
            }
        };
        Reply { status, body, elapsed: started.elapsed() }
    }

    /// `POST` with a JSON body.
    pub fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> Reply {
        self.send("POST", path, bearer, &[], Some(body))
    }

    /// `POST` with a JSON body and an `Idempotency-Key`.
    pub fn post_keyed(&self, path: &str, bearer: &str, key: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(bearer), &[("Idempotency-Key", key)], Some(body))
    }

    /// `PUT` with a JSON body.
    pub fn put(&self, path: &str, bearer: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(bearer), &[], Some(body))
    }

    /// `GET`.
    pub fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.send("GET", path, bearer, &[], None)
    }
}

/// Refuses any server that is not on this machine: the load generator speaks to loopback only.
pub fn require_loopback(url: &str) -> Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// loopback URLs"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!("{url}: the load generator only speaks to loopback (127.0.0.0/8, ::1, localhost)"))
    }
}

/// A cashier session for one till: `POST /api/v1/sessions` with shop and terminal.
pub fn cashier_session(api: &Api, shop: &str, terminal: &str, login: &str, password: &str) -> Result<String, String> {
    let body = json!({ "shop_id": shop, "terminal_id": terminal, "login": login, "password": password });
    let reply = api.post("/api/v1/sessions", None, &body);
    match reply.str("token") {
        Some(token) if reply.ok() => Ok(token.to_owned()),
        _ => Err(format!("cashier log-in at {shop}/{terminal}: {}", reply.describe())),
    }
}

/// Runs `work` over `items` cut into `threads` parts, each part on a thread of its own with a
/// client of its own; answers each part's result in order, or the size of a part whose thread
/// panicked.
pub fn in_parallel<T: Sync, R: Send>(
    api: &Api,
    items: &[T],
    threads: usize,
    timeout: Duration,
    work: impl Fn(&Api, &[T]) -> R + Sync,
) -> Vec<Result<R, usize>> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| (part.len(), s.spawn(move || work(&Api::new(api.base(), timeout), part))))
            .collect();
        handles.into_iter().map(|(len, h)| h.join().map_err(|_| len)).collect()
    })
}

/// The balances the server reports now for these vouchers, each read through its holder's wallet
/// (`GET /api/v1/wallet/vouchers`, which lists the whole family's, so a family is read once),
/// `threads` requests at a time; answers the balances by voucher id and the reads that failed.
pub fn wallet_balances(
    api: &Api,
    vouchers: &[(i64, &str)],
    threads: usize,
    timeout: Duration,
) -> (HashMap<i64, i64>, usize) {
    let parts = in_parallel(api, vouchers, threads, timeout, |api, part| {
        let mut seen: HashMap<i64, i64> = HashMap::new();
        let mut failed = 0;
        for &(id, jwt) in part {
            if seen.contains_key(&id) {
                continue;
            }
            let reply = api.get("/api/v1/wallet/vouchers", Some(jwt));
            let listed = reply.body["vouchers"].as_array().filter(|_| reply.ok());
            for v in listed.into_iter().flatten() {
                if let (Some(vid), Some(balance)) = (v["id"].as_i64(), v["balance_tiyn"].as_i64()) {
                    seen.insert(vid, balance);
                }
            }
            failed += usize::from(!seen.contains_key(&id));
        }
        (seen, failed)
    });
    let mut balances = HashMap::new();
    let mut failed = 0;
    for part in parts {
        match part {
            Ok((seen, f)) => {
                balances.extend(seen);
                failed += f;
            }
            Err(len) => failed += len,
        }
    }
    (balances, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers() {
        for ok in ["http://127.0.0.1:18181", "http://localhost:8080/", "http://[::1]:9000", "http://127.1.2.3"] {
            assert!(require_loopback(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:80", "https://127.0.0.1", "http://example.com", "127.0.0.1:80"] {
            assert!(require_loopback(bad).is_err(), "{bad}");
        }
    }
}
