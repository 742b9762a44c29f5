//! The till traffic. Each worker is one cashier session of one shop; a sale takes a voucher from
//! the shared pool, has the wallet mint a token, then looks up, authorises and captures (or
//! cancels), with the occasional idempotent replay and refund. Closed loop: sales back to back
//! until the time is up. Open loop: sales start on a fixed schedule, and every latency of a sale
//! counts from its scheduled start, so a server that falls behind shows as latency (no
//! coordinated omission) rather than as a lower send rate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::basket::{self, Line};
use crate::client::{Api, Reply};
use crate::mix::Mix;
use crate::stats::{Kind, Stats};

/// Below this balance (tiyn) a voucher leaves the pool: most baskets would not fit any more.
const MIN_BALANCE: i64 = 20_000;
/// Captured baskets a till remembers as candidates for a refund.
const RECENT: usize = 32;

/// How sales are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Every worker sells back to back.
    Closed,
    /// Sales start at `rate` per second in total, shared by the workers.
    Open { rate: f64 },
}

/// An activated voucher and its holder's wallet JWT.
pub struct PoolVoucher {
    pub id: i64,
    pub jwt: String,
}

/// The vouchers free for a sale: a worker takes one and gives it back after the sale, so a
/// voucher is never at two tills at once (as with a real recipient).
pub struct Pool(Mutex<VecDeque<PoolVoucher>>);

impl Pool {
    /// A pool of these vouchers, in this order.
    pub fn new(vouchers: Vec<PoolVoucher>) -> Pool {
        Pool(Mutex::new(vouchers.into()))
    }

    fn take(&self) -> Option<PoolVoucher> {
        self.0.lock().ok()?.pop_front()
    }

    fn give_back(&self, v: PoolVoucher) {
        if let Ok(mut q) = self.0.lock() {
            q.push_back(v);
        }
    }
}

/// One till: a client and its cashier session.
pub struct Till {
    pub api: Api,
    pub session: String,
}

/// Settings shared by every worker of a run.
pub struct Traffic<'a> {
    pub mode: Mode,
    pub duration: Duration,
    pub mix: Mix,
    pub seed: u64,
    /// Unique to the run: keeps idempotency keys and serials apart from earlier runs.
    pub tag: String,
    pub pool: &'a Pool,
}

/// Runs the traffic on these tills; answers the merged figures and the time it took.
pub fn run(tills: Vec<Till>, cfg: &Traffic) -> (Stats, Duration) {
    let start = Instant::now() + Duration::from_millis(50);
    let next = AtomicU64::new(0);
    let mut total = Stats::default();
    std::thread::scope(|s| {
        let handles: Vec<_> = tills
            .into_iter()
            .enumerate()
            .map(|(index, till)| {
                let next = &next;
                s.spawn(move || {
                    let mut w = Worker::new(till, cfg, index);
                    w.work(start, next);
                    w.stats
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(stats) => total.merge(stats),
                Err(_) => total.fault(Kind::Sale, "worker_panicked"),
            }
        }
    });
    (total, start.elapsed())
}

struct Worker<'a> {
    till: Till,
    cfg: &'a Traffic<'a>,
    index: usize,
    rng: StdRng,
    stats: Stats,
    sales: u64,
    serials: u64,
    recent: VecDeque<(i64, usize)>,
}

impl<'a> Worker<'a> {
    fn new(till: Till, cfg: &'a Traffic<'a>, index: usize) -> Worker<'a> {
        let rng = StdRng::seed_from_u64(cfg.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Worker { till, cfg, index, rng, stats: Stats::default(), sales: 0, serials: 0, recent: VecDeque::new() }
    }

    /// Sells until the time is up or the vouchers run out.
    fn work(&mut self, start: Instant, next: &AtomicU64) {
        let deadline = start + self.cfg.duration;
        sleep_until(start);
        loop {
            let scheduled = match self.cfg.mode {
                Mode::Closed => Instant::now(),
                Mode::Open { rate } => {
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    start + Duration::from_secs_f64(slot as f64 / rate)
                }
            };
            if scheduled >= deadline {
                return;
            }
            sleep_until(scheduled);
            let lag = Instant::now().saturating_duration_since(scheduled);
            if lag > Duration::from_millis(10) {
                self.stats.late_starts += 1;
            }
            self.stats.max_lag = self.stats.max_lag.max(lag);
            let Some(voucher) = self.cfg.pool.take() else {
                self.stats.pool_dry += 1;
                return;
            };
            let failed_before = self.stats.transport_errors();
            if self.sell(&voucher, scheduled, lag) {
                self.cfg.pool.give_back(voucher);
            } else {
                self.stats.retired += 1;
            }
            if self.stats.transport_errors() > failed_before {
                // The server is gone or refusing connections: count, but do not spin.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// One sale; answers whether the voucher has enough left to stay in the pool.
    fn sell(&mut self, voucher: &PoolVoucher, scheduled: Instant, lag: Duration) -> bool {
        let api = self.till.api.clone();
        let session = self.till.session.clone();
        let reply = api.post(&format!("/api/v1/wallet/vouchers/{}/qr", voucher.id), Some(&voucher.jwt), &json!({}));
        self.stats.record(Kind::Mint, &reply, lag);
        let Some(token) = reply.str("token").filter(|_| reply.ok()).map(str::to_owned) else {
            return still_usable(&reply);
        };
        let reply = api.post("/api/v1/pos/lookup", Some(&session), &json!({ "token": token }));
        self.stats.record(Kind::Lookup, &reply, lag);
        if !reply.ok() {
            return still_usable(&reply);
        }

        let plan = self.cfg.mix.plan(&mut self.rng);
        let lines = self.basket();
        let body = json!({"tokens": [token], "lines": lines.iter().map(Line::to_json).collect::<Vec<Value>>()});
        self.sales += 1;
        let key = format!("{}-{}-{}", self.cfg.tag, self.index, self.sales);
        let auth_key = format!("{key}-a");
        let authorized = api.post_keyed("/api/v1/pos/baskets", &session, &auth_key, &body);
        self.stats.record(Kind::Authorize, &authorized, lag);
        if !authorized.ok() {
            return still_usable(&authorized);
        }
        let (Some(id), Some(to_pay)) = (authorized.int("basket_id"), authorized.int("to_pay_tiyn")) else {
            self.stats.fault(Kind::Authorize, "answer_without_basket");
            return true;
        };
        let balance = authorized.body["vouchers"][0]["balance_tiyn"].as_i64().unwrap_or(i64::MAX);
        if plan.retry {
            let again = api.post_keyed("/api/v1/pos/baskets", &session, &auth_key, &body);
            self.stats.record(Kind::Retry, &again, lag);
            match again.status {
                // No answer at all is a transport error (counted already), not a broken promise.
                0 => {}
                s if s == authorized.status && again.body == authorized.body => self.stats.retries_same += 1,
                _ => self.stats.retries_differ += 1,
            }
        }

        let path = format!("/api/v1/pos/baskets/{id}");
        if plan.cancel {
            let reply = api.post(&format!("{path}/cancel"), Some(&session), &json!({}));
            self.stats.record(Kind::Cancel, &reply, lag);
            self.stats.cancelled += u64::from(reply.ok());
        } else {
            let method = if self.rng.gen_bool(0.3) { "card" } else { "cash" };
            let pay = json!({"payment": {"method": method, "paid_tiyn": to_pay}});
            let reply = api.post_keyed(&format!("{path}/capture"), &session, &format!("{key}-c"), &pay);
            self.stats.record(Kind::Capture, &reply, lag);
            if reply.ok() {
                self.stats.captured += 1;
                self.stats.sample(Kind::Sale, scheduled.elapsed());
                self.recent.push_back((id, lines.len()));
                if self.recent.len() > RECENT {
                    self.recent.pop_front();
                }
            }
        }
        if plan.refund {
            self.refund(&api, &session, &format!("{key}-r"), lag);
        }
        balance >= MIN_BALANCE
    }

    /// Refunds the oldest remembered captured basket of this till, whole or one line.
    fn refund(&mut self, api: &Api, session: &str, key: &str, lag: Duration) {
        let Some((id, lines)) = self.recent.pop_front() else { return };
        let body = if self.rng.gen_bool(0.5) { json!({}) } else { json!({"lines": [self.rng.gen_range(0..lines)]}) };
        let reply = api.post_keyed(&format!("/api/v1/pos/baskets/{id}/refund"), session, key, &body);
        self.stats.record(Kind::Refund, &reply, lag);
        self.stats.refunded += u64::from(reply.ok());
    }

    /// A basket with serials unique to this run and till: `S` + run tag + till + counter (≤ 20).
    fn basket(&mut self) -> Vec<Line> {
        let (tag, index) = (&self.cfg.tag, self.index);
        let mut n = self.serials;
        let lines = basket::lines(&mut self.rng, &mut || {
            n += 1;
            format!("S{tag}{index:03}{n:07}")
        });
        self.serials = n;
        lines
    }
}

/// Whether a voucher stays in the pool after this refusal: not when it is spent, or nearly.
fn still_usable(reply: &Reply) -> bool {
    match reply.code() {
        "voucher_exhausted" => false,
        "insufficient_balance" => reply.body["error"]["balance_tiyn"].as_i64().is_none_or(|b| b >= MIN_BALANCE),
        _ => true,
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}
