//! The till traffic. Each worker is one cashier session of one shop; a sale takes a voucher from
//! the shared pool, has the wallet mint a token, then looks up, authorises and captures (or
//! cancels), with the occasional idempotent replay and refund; with `--premint` it takes the
//! voucher's next token minted before the clock and only authorises and captures. Contended sales ([`contend`]) put
//! one voucher, or one basket's transitions, at two tills on two servers at the same moment.
//! Every acknowledged effect goes into the till's books ([`Ledger`]). Closed loop: sales back to
//! back until the time is up. Open loop: sales start on a fixed schedule, and every latency of a
//! sale counts from its scheduled start, so a server that falls behind shows as latency (no
//! coordinated omission) rather than as a lower send rate.

mod contend;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::basket::{self, Line};
use crate::client::{Api, Reply};
use crate::ledger::{Ledger, RefundAnswer};
use crate::mix::Mix;
use crate::stats::{Kind, Stats};
use crate::transitions::Pair;

/// Below this balance (tiyn) a voucher leaves the pool: most baskets would not fit any more.
const MIN_BALANCE: i64 = 20_000;
/// Captured baskets a till remembers as candidates for a refund.
const RECENT: usize = 32;
/// The till's baskets.
const BASKETS: &str = "/api/v1/pos/baskets";

/// How sales are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Every worker sells back to back.
    Closed,
    /// Sales start at `rate` per second in total, shared by the workers.
    Open { rate: f64 },
}

/// An activated voucher, its holder's wallet JWT and, with `--premint`, its fresh tokens (one a
/// sale, used in order).
pub struct PoolVoucher {
    pub id: i64,
    pub jwt: String,
    pub tokens: VecDeque<String>,
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

/// One till: a client (bound to one server) and its cashier session.
#[derive(Clone)]
pub struct Till {
    pub api: Api,
    pub session: String,
}

/// A worker's tills: its own; for contended authorisations, a partner till of another shop on
/// another server; for contended transitions, a twin till of the same shop on another server.
pub struct Station {
    pub till: Till,
    pub partner: Option<Till>,
    pub twin: Option<Till>,
}

/// Settings shared by every worker of a run.
pub struct Traffic<'a> {
    pub mode: Mode,
    pub duration: Duration,
    pub mix: Mix,
    /// Share (0.0-1.0) of sales that are contended authorisations.
    pub contend: f64,
    /// Share (0.0-1.0) of sales whose basket's transitions are contended.
    pub race: f64,
    /// The pairs of transitions a contended one draws from.
    pub pairs: &'a [Pair],
    pub seed: u64,
    /// Unique to the run: keeps idempotency keys and serials apart from earlier runs.
    pub tag: String,
    pub pool: &'a Pool,
    /// Every plain sale's basket is [`basket::five`] (issue 19's yardstick) instead of 1-10 random lines.
    pub five_lines: bool,
    /// Plain sales use the voucher's pre-minted tokens: authorise + capture only, no mint or
    /// look-up in the loop ([`crate::premint`]).
    pub premint: bool,
}

/// When the workers start their next sale (or look-up): back to back, or on a shared schedule.
pub struct Pacer<'a> {
    mode: Mode,
    start: Instant,
    deadline: Instant,
    next: &'a AtomicU64,
}

impl Pacer<'_> {
    /// Waits for this worker's next start; answers its scheduled instant and how late it began,
    /// or `None` once the time is up. Counts late starts into `stats`.
    pub fn next(&self, stats: &mut Stats) -> Option<(Instant, Duration)> {
        let scheduled = match self.mode {
            Mode::Closed => Instant::now(),
            Mode::Open { rate } => {
                let slot = self.next.fetch_add(1, Ordering::Relaxed);
                self.start + Duration::from_secs_f64(slot as f64 / rate)
            }
        };
        if scheduled >= self.deadline {
            return None;
        }
        sleep_until(scheduled);
        let lag = Instant::now().saturating_duration_since(scheduled);
        if lag > Duration::from_millis(10) {
            stats.late_starts += 1;
        }
        stats.max_lag = stats.max_lag.max(lag);
        Some((scheduled, lag))
    }
}

/// Runs `work` on one thread per item, all starting together and pacing themselves with the
/// [`Pacer`] they are given; answers each thread's result (`None` if it panicked) and the time the
/// run took from the common start.
pub fn drive<I: Send, T: Send>(
    items: Vec<I>,
    mode: Mode,
    duration: Duration,
    work: impl Fn(usize, I, &Pacer) -> T + Sync,
) -> (Vec<Option<T>>, Duration) {
    let start = Instant::now() + Duration::from_millis(50);
    let next = AtomicU64::new(0);
    let pacer = Pacer { mode, start, deadline: start + duration, next: &next };
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let (work, pacer) = (&work, &pacer);
                s.spawn(move || {
                    sleep_until(start);
                    work(index, item, pacer)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    (results, start.elapsed())
}

/// Runs the traffic on these stations; answers the merged figures, the merged books and the time
/// it took.
pub fn run(stations: Vec<Station>, cfg: &Traffic) -> (Stats, Ledger, Duration) {
    let (results, elapsed) = drive(stations, cfg.mode, cfg.duration, |index, station, pacer| {
        let mut w = Worker::new(station, cfg, index);
        w.work(pacer);
        (w.stats, w.ledger)
    });
    let mut total = Stats::default();
    let mut ledger = Ledger::default();
    for result in results {
        match result {
            Some((stats, books)) => {
                total.merge(stats);
                ledger.merge(books);
            }
            None => total.fault(Kind::Sale, "worker_panicked"),
        }
    }
    (total, ledger, elapsed)
}

/// A captured basket a till may refund later.
struct Captured {
    basket: i64,
    lines: usize,
    voucher: i64,
}

struct Worker<'a> {
    till: Till,
    partner: Option<Till>,
    twin: Option<Till>,
    cfg: &'a Traffic<'a>,
    index: usize,
    rng: StdRng,
    stats: Stats,
    ledger: Ledger,
    sales: u64,
    serials: u64,
    recent: VecDeque<Captured>,
}

impl<'a> Worker<'a> {
    fn new(station: Station, cfg: &'a Traffic<'a>, index: usize) -> Worker<'a> {
        let rng = StdRng::seed_from_u64(cfg.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Worker {
            till: station.till,
            partner: station.partner,
            twin: station.twin,
            cfg,
            index,
            rng,
            stats: Stats::default(),
            ledger: Ledger::default(),
            sales: 0,
            serials: 0,
            recent: VecDeque::new(),
        }
    }

    /// Sells until the time is up or the vouchers run out.
    fn work(&mut self, pacer: &Pacer) {
        while let Some((scheduled, lag)) = pacer.next(&mut self.stats) {
            let Some(mut voucher) = self.cfg.pool.take() else {
                self.stats.pool_dry += 1;
                return;
            };
            let token = if self.cfg.premint {
                let Some(token) = voucher.tokens.pop_front() else {
                    // Its pre-minted tokens are used up: it leaves the pool.
                    self.stats.out_of_tokens += 1;
                    continue;
                };
                Some(token)
            } else {
                None
            };
            let failed_before = self.stats.transport_errors();
            let contended = self.partner.is_some() && self.rng.gen_bool(self.cfg.contend);
            // Of the sales left, the share that makes `race` of all sales.
            let race_share =
                if self.cfg.contend < 1.0 { (self.cfg.race / (1.0 - self.cfg.contend)).clamp(0.0, 1.0) } else { 0.0 };
            let raced = !contended && self.twin.is_some() && self.rng.gen_bool(race_share);
            let usable = if contended {
                self.contend(&voucher, scheduled, lag)
            } else if raced {
                self.race(&voucher, scheduled, lag)
            } else {
                self.sell(&voucher, token, scheduled, lag)
            };
            if usable {
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

    /// The wallet mints a token for `voucher` on `api`'s server.
    fn mint(&mut self, api: &Api, voucher: &PoolVoucher, lag: Duration) -> Result<String, Reply> {
        let reply = api.post(&format!("/api/v1/wallet/vouchers/{}/qr", voucher.id), Some(&voucher.jwt), &json!({}));
        self.stats.record(Kind::Mint, &reply, lag);
        match reply.str("token") {
            Some(token) if reply.ok() => Ok(token.to_owned()),
            _ => Err(reply),
        }
    }

    /// Looks the token up; answers the balance, and enters the first of the run in the books.
    fn lookup(&mut self, voucher: &PoolVoucher, token: &str, lag: Duration) -> Result<i64, Reply> {
        let reply = self.till.api.post("/api/v1/pos/lookup", Some(&self.till.session), &json!({ "token": token }));
        self.stats.record(Kind::Lookup, &reply, lag);
        match reply.int("balance_tiyn") {
            Some(balance) if reply.ok() => {
                self.ledger.looked_up(voucher.id, Instant::now(), balance);
                Ok(balance)
            }
            _ if reply.ok() => {
                self.stats.fault(Kind::Lookup, "answer_without_balance");
                Err(reply)
            }
            _ => Err(reply),
        }
    }

    /// The customer shows the voucher at this till: the wallet mints a token on the till's server
    /// and the till looks it up; answers the token and the balance.
    fn present(&mut self, voucher: &PoolVoucher, lag: Duration) -> Result<(String, i64), Reply> {
        let api = self.till.api.clone();
        let token = self.mint(&api, voucher, lag)?;
        let balance = self.lookup(voucher, &token, lag)?;
        Ok((token, balance))
    }

    /// One sale, with a pre-minted token or (without one) a token minted and looked up now;
    /// answers whether the voucher has enough left to stay in the pool.
    fn sell(&mut self, voucher: &PoolVoucher, token: Option<String>, scheduled: Instant, lag: Duration) -> bool {
        let api = self.till.api.clone();
        let session = self.till.session.clone();
        let token = match token {
            Some(token) => token,
            None => match self.present(voucher, lag) {
                Ok((token, _)) => token,
                Err(reply) => return still_usable(&reply),
            },
        };

        let plan = self.cfg.mix.plan(&mut self.rng);
        let lines = self.basket(1);
        let body = basket_body(&token, &lines);
        let key = self.next_key();
        let auth_key = format!("{key}-a");
        let authorized = api.post_keyed(BASKETS, &session, &auth_key, &body);
        self.stats.record(Kind::Authorize, &authorized, lag);
        let Some((id, to_pay, held)) = self.authorized(voucher.id, &authorized) else {
            return still_usable(&authorized);
        };
        let balance = balance_after(&authorized);
        if plan.retry {
            let again = api.post_keyed(BASKETS, &session, &auth_key, &body);
            self.stats.record(Kind::Retry, &again, lag);
            match again.status {
                // No answer at all is a transport error (counted already), not a broken promise.
                0 => self.ledger.unanswered(voucher.id, false),
                s if s == authorized.status && again.body == authorized.body => self.stats.retries_same += 1,
                _ => self.stats.retries_differ += 1,
            }
        }

        if plan.cancel {
            let reply = cancel(&self.till, id);
            self.stats.record(Kind::Cancel, &reply, lag);
            self.stats.cancelled += u64::from(reply.ok());
            self.book_cancel(voucher.id, held, &reply);
        } else {
            let method = if self.rng.gen_bool(0.3) { "card" } else { "cash" };
            let reply = capture(&self.till, id, to_pay, method, &format!("{key}-c"));
            if self.settle(id, voucher.id, held, &reply, lag) {
                self.stats.sample(Kind::Sale, scheduled.elapsed());
                self.remember(Captured { basket: id, lines: lines.len(), voucher: voucher.id });
            }
        }
        if plan.refund {
            self.refund(&api, &session, &format!("{key}-r"), lag);
        }
        balance >= MIN_BALANCE
    }

    /// Reads an authorisation's answer into the books: on 2xx answers the basket id, what the
    /// customer pays and what the voucher holds; `None` when it was not authorised.
    fn authorized(&mut self, voucher: i64, reply: &Reply) -> Option<(i64, i64, i64)> {
        if reply.status == 0 {
            self.ledger.unanswered(voucher, false);
        }
        if !reply.ok() {
            return None;
        }
        let held = charge_of(&reply.body["vouchers"], voucher);
        match (reply.int("basket_id"), reply.int("to_pay_tiyn"), held) {
            (Some(id), Some(to_pay), Some(held)) => {
                self.ledger.held(voucher, held);
                Some((id, to_pay, held))
            }
            _ => {
                self.stats.fault(Kind::Authorize, "answer_without_basket");
                // Something was authorised, but the books cannot say what.
                self.ledger.unanswered(voucher, false);
                None
            }
        }
    }

    /// Counts a capture's answer and enters it in the books; answers whether it was captured.
    fn settle(&mut self, basket: i64, voucher: i64, held: i64, reply: &Reply, lag: Duration) -> bool {
        self.stats.record(Kind::Capture, reply, lag);
        self.book_capture(basket, voucher, held, reply)
    }

    /// Enters a capture's answer in the books: a charge, or `held` released by an expiry, or an
    /// unknown; answers whether it was captured.
    fn book_capture(&mut self, basket: i64, voucher: i64, held: i64, reply: &Reply) -> bool {
        match reply.code() {
            _ if reply.ok() => {
                let charged = charge_of(&reply.body["receipt"]["vouchers"], voucher).unwrap_or_else(|| {
                    self.stats.fault(Kind::Capture, "receipt_without_charge");
                    held
                });
                self.ledger.captured(basket, voucher, held, charged);
                self.stats.captured += 1;
                true
            }
            "transport" => {
                self.ledger.unanswered(voucher, false);
                false
            }
            "hold_expired" => {
                self.ledger.released(voucher, held);
                false
            }
            // Refused: the basket stays authorised and its hold open.
            _ => false,
        }
    }

    /// Enters a cancel's answer in the books; answers whether the hold of `held` went back
    /// (cancelled, or refused because it ran out).
    fn book_cancel(&mut self, voucher: i64, held: i64, reply: &Reply) -> bool {
        let released = reply.ok() || reply.code() == "hold_expired";
        if released {
            self.ledger.released(voucher, held);
        } else if reply.status == 0 {
            self.ledger.unanswered(voucher, true);
        }
        released
    }

    /// Enters a refund's answer in the books: what it gave back to which voucher, and its lines.
    fn book_refund(&mut self, basket: i64, voucher: i64, reply: &Reply) {
        if reply.status == 0 {
            self.ledger.unanswered(voucher, true);
        } else if reply.ok() {
            self.stats.refunded += 1;
            match RefundAnswer::parse(&reply.body, voucher) {
                Ok(refund) => self.ledger.refunded(basket, &refund),
                Err(what) => {
                    self.stats.fault(Kind::Refund, what);
                    // Something went back; the books cannot say what.
                    self.ledger.unanswered(voucher, true);
                }
            }
        }
    }

    /// The next sale's idempotency key stem, unique to the run, the till and the sale.
    fn next_key(&mut self) -> String {
        self.sales += 1;
        format!("{}-{}-{}", self.cfg.tag, self.index, self.sales)
    }

    fn remember(&mut self, basket: Captured) {
        self.recent.push_back(basket);
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    /// Refunds the oldest remembered captured basket of this till, whole or one line.
    fn refund(&mut self, api: &Api, session: &str, key: &str, lag: Duration) {
        let Some(basket) = self.recent.pop_front() else { return };
        let body =
            if self.rng.gen_bool(0.5) { json!({}) } else { json!({"lines": [self.rng.gen_range(0..basket.lines)]}) };
        let reply = api.post_keyed(&format!("{BASKETS}/{}/refund", basket.basket), session, key, &body);
        self.stats.record(Kind::Refund, &reply, lag);
        self.book_refund(basket.basket, basket.voucher, &reply);
    }

    /// A basket of at least `min` lines with serials unique to this run and till: `S` + run tag +
    /// till + counter (≤ 20).
    fn basket(&mut self, min: usize) -> Vec<Line> {
        let (tag, index) = (&self.cfg.tag, self.index);
        let mut n = self.serials;
        let mut serial = || {
            n += 1;
            format!("S{tag}{index:03}{n:07}")
        };
        let lines = if self.cfg.five_lines && min <= 5 {
            basket::five(&mut self.rng, &mut serial)
        } else {
            basket::lines(&mut self.rng, min, &mut serial)
        };
        self.serials = n;
        lines
    }
}

/// `charged_tiyn` of `voucher` in a list of voucher charges.
fn charge_of(list: &Value, voucher: i64) -> Option<i64> {
    list.as_array()?.iter().find(|c| c["voucher_id"].as_i64() == Some(voucher))?["charged_tiyn"].as_i64()
}

/// The body of an authorisation of these lines with one token.
fn basket_body(token: &str, lines: &[Line]) -> Value {
    json!({"tokens": [token], "lines": lines.iter().map(Line::to_json).collect::<Vec<Value>>()})
}

/// The voucher's balance an authorisation answered (for the pool rule; unknown counts as plenty).
fn balance_after(authorized: &Reply) -> i64 {
    authorized.body["vouchers"][0]["balance_tiyn"].as_i64().unwrap_or(i64::MAX)
}

/// Captures basket `id` for `to_pay` at `till`.
fn capture(till: &Till, id: i64, to_pay: i64, method: &str, key: &str) -> Reply {
    let pay = json!({"payment": {"method": method, "paid_tiyn": to_pay}});
    till.api.post_keyed(&format!("{BASKETS}/{id}/capture"), &till.session, key, &pay)
}

/// Cancels basket `id` at `till`.
fn cancel(till: &Till, id: i64) -> Reply {
    till.api.post(&format!("{BASKETS}/{id}/cancel"), Some(&till.session), &json!({}))
}

/// Whether a voucher stays in the pool after this refusal: not when it is spent, or nearly.
fn still_usable(reply: &Reply) -> bool {
    match reply.code() {
        "voucher_exhausted" => false,
        "insufficient_balance" => reply.body["error"]["balance_tiyn"].as_i64().is_none_or(|b| b >= MIN_BALANCE),
        _ => true,
    }
}

pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}
