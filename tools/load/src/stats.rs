//! Latency samples and outcome counts per request kind, merged across tills, and the printed report.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::Reply;
use crate::transitions::Races;

/// What a request was, for the per-kind figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The wallet mints a QR token (`POST /wallet/vouchers/{id}/qr`).
    Mint,
    /// `POST /pos/lookup`.
    Lookup,
    /// `POST /pos/baskets`.
    Authorize,
    /// `POST /pos/baskets` of a contended pair: the same voucher at two tills at once.
    Contend,
    /// The same authorise resent with the same key (idempotent replay).
    Retry,
    /// `POST /pos/baskets/{id}/capture`.
    Capture,
    /// `POST /pos/baskets/{id}/cancel`.
    Cancel,
    /// `POST /pos/baskets/{id}/refund`.
    Refund,
    /// A capture, cancel or refund of a contended pair: one basket, two tills, both at once.
    Race,
    /// `GET /pos/baskets/{id}`: a raced basket read back.
    Basket,
    /// A whole captured sale, from its (scheduled) start to the capture's answer.
    Sale,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 11] = [
        Kind::Mint,
        Kind::Lookup,
        Kind::Authorize,
        Kind::Contend,
        Kind::Retry,
        Kind::Capture,
        Kind::Cancel,
        Kind::Refund,
        Kind::Race,
        Kind::Basket,
        Kind::Sale,
    ];

    /// The kind's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mint => "mint",
            Kind::Lookup => "lookup",
            Kind::Authorize => "authorize",
            Kind::Contend => "contend",
            Kind::Retry => "retry",
            Kind::Capture => "capture",
            Kind::Cancel => "cancel",
            Kind::Refund => "refund",
            Kind::Race => "race",
            Kind::Basket => "basket",
            Kind::Sale => "sale",
        }
    }
}

/// Refusals a busy month produces by design: they are counted apart from errors.
pub const EXPECTED_CODES: [&str; 2] = ["insufficient_balance", "voucher_exhausted"];
/// Refusals the loser of a contended transition gets by design (whether it was told the truth is
/// judged per pair).
pub const RACE_CODES: [&str; 2] = ["basket_state", "hold_expired"];

/// Whether a refusal of a request of this kind is expected rather than an error.
fn expected(kind: Kind, code: &str) -> bool {
    EXPECTED_CODES.contains(&code) || (kind == Kind::Race && RACE_CODES.contains(&code))
}

/// One till's figures; [`Stats::merge`] adds another's.
#[derive(Debug, Default)]
pub struct Stats {
    /// Latencies in microseconds, every answer (success or refusal), by kind.
    latencies: BTreeMap<Kind, Vec<u32>>,
    /// Non-2xx answers by (kind, status, code); status 0 is a transport failure.
    errors: BTreeMap<(Kind, u16, String), u64>,
    /// Expected refusals ([`EXPECTED_CODES`]; [`RACE_CODES`] too for races), by (kind, status, code).
    expected: BTreeMap<(Kind, u16, String), u64>,
    /// Baskets captured (sales).
    pub captured: u64,
    /// Baskets cancelled instead of captured.
    pub cancelled: u64,
    /// Refunds the server accepted.
    pub refunded: u64,
    /// Idempotent replays that got exactly the first answer, and those that did not.
    pub retries_same: u64,
    pub retries_differ: u64,
    /// Vouchers taken out of the pool for a low or exhausted balance.
    pub retired: u64,
    /// Sales not started because no voucher was free.
    pub pool_dry: u64,
    /// `--premint`: vouchers taken out of the pool because their pre-minted tokens were used up.
    pub out_of_tokens: u64,
    /// Open loop: sales started more than 10 ms after their scheduled time, and the worst lag.
    pub late_starts: u64,
    pub max_lag: Duration,
    /// Contended pairs by outcome.
    pub contended: Contended,
    /// Contended transitions (capture, cancel, refund) by pair and outcome.
    pub races: Races,
    /// Look-ups answered 2xx (the look-up-only run).
    pub lookups_ok: u64,
}

/// How contended pairs (one voucher, two tills, two authorisations at once) came out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Contended {
    /// Pairs that reached the simultaneous authorisations.
    pub pairs: u64,
    /// One authorised, the other refused with `insufficient_balance` or `voucher_exhausted`: right.
    pub one_refused: u64,
    /// Both authorised although together they exceed the balance: wrong.
    pub both_authorized: u64,
    /// Anything else (errors, no answer, both refused).
    pub other: u64,
}

/// The outcome of one contended pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairOutcome {
    OneRefused,
    BothAuthorized,
    Other,
}

impl PairOutcome {
    /// Classifies the two authorisations' answers.
    pub fn of(a: &Reply, b: &Reply) -> PairOutcome {
        let refused = |r: &Reply| EXPECTED_CODES.contains(&r.code());
        match (a.ok(), b.ok()) {
            (true, true) => PairOutcome::BothAuthorized,
            (true, false) if refused(b) => PairOutcome::OneRefused,
            (false, true) if refused(a) => PairOutcome::OneRefused,
            _ => PairOutcome::Other,
        }
    }
}

impl Contended {
    /// Counts one pair.
    pub fn count(&mut self, outcome: PairOutcome) {
        self.pairs += 1;
        match outcome {
            PairOutcome::OneRefused => self.one_refused += 1,
            PairOutcome::BothAuthorized => self.both_authorized += 1,
            PairOutcome::Other => self.other += 1,
        }
    }

    fn merge(&mut self, o: Contended) {
        self.pairs += o.pairs;
        self.one_refused += o.one_refused;
        self.both_authorized += o.both_authorized;
        self.other += o.other;
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Stats {
    /// Records one answer: its latency (plus `lag`, the open loop's start delay, so that a slow
    /// server is not hidden by sending later) and, unless 2xx, its status and code.
    pub fn record(&mut self, kind: Kind, reply: &Reply, lag: Duration) {
        if reply.status != 0 {
            self.sample(kind, reply.elapsed + lag);
        }
        if !reply.ok() {
            let key = (kind, reply.status, reply.code().to_owned());
            let map = if expected(kind, reply.code()) { &mut self.expected } else { &mut self.errors };
            *map.entry(key).or_default() += 1;
        }
    }

    /// Records a latency with no reply behind it (a whole sale).
    pub fn sample(&mut self, kind: Kind, latency: Duration) {
        self.latencies.entry(kind).or_default().push(micros(latency));
    }

    /// Records a local failure that is not an HTTP answer (e.g. a 2xx body missing a field).
    pub fn fault(&mut self, kind: Kind, what: &str) {
        *self.errors.entry((kind, 0, what.to_owned())).or_default() += 1;
    }

    /// Adds another till's figures to these.
    pub fn merge(&mut self, other: Stats) {
        for (kind, mut samples) in other.latencies {
            self.latencies.entry(kind).or_default().append(&mut samples);
        }
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
        for (key, n) in other.expected {
            *self.expected.entry(key).or_default() += n;
        }
        self.captured += other.captured;
        self.cancelled += other.cancelled;
        self.refunded += other.refunded;
        self.retries_same += other.retries_same;
        self.retries_differ += other.retries_differ;
        self.retired += other.retired;
        self.pool_dry += other.pool_dry;
        self.out_of_tokens += other.out_of_tokens;
        self.late_starts += other.late_starts;
        self.max_lag = self.max_lag.max(other.max_lag);
        self.contended.merge(other.contended);
        self.races.merge(other.races);
        self.lookups_ok += other.lookups_ok;
    }

    /// Requests that got no answer at all (status 0).
    pub fn transport_errors(&self) -> u64 {
        self.errors.iter().filter(|((_, status, code), _)| *status == 0 && code == "transport").map(|(_, n)| n).sum()
    }

    /// Answers that were neither 2xx nor an expected refusal.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Prints the sales, the latency table, expected refusals and errors (`open`: and the lags).
    pub fn print(&mut self, elapsed: Duration, open: bool) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        println!(
            "sales captured: {} ({:.1}/s); cancelled {}; refunds {}; idempotent replays {} identical, {} different",
            self.captured,
            self.captured as f64 / secs,
            self.cancelled,
            self.refunded,
            self.retries_same,
            self.retries_differ
        );
        let c = self.contended;
        if c.pairs > 0 {
            println!(
                "contended pairs: {}; one refused (insufficient_balance/voucher_exhausted) {}; both authorised {}; \
                 other outcomes {}",
                c.pairs, c.one_refused, c.both_authorized, c.other
            );
        }
        self.races.print();
        self.print_table(elapsed, open);
    }

    /// Prints the latency table, expected refusals and errors (`open`: and the lags).
    pub fn print_table(&mut self, elapsed: Duration, open: bool) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        println!(
            "{:<10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "kind", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        for kind in Kind::ALL {
            let Some(samples) = self.latencies.get_mut(&kind) else { continue };
            samples.sort_unstable();
            let ms = |p: f64| f64::from(percentile(samples, p)) / 1000.0;
            let errors: u64 = self.errors.iter().filter(|((k, _, _), _)| *k == kind).map(|(_, n)| n).sum();
            let rate =
                if kind == Kind::Sale { String::from("-") } else { format!("{:.1}", samples.len() as f64 / secs) };
            println!(
                "{:<10} {:>8} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9}",
                kind.name(),
                samples.len(),
                rate,
                ms(50.0),
                ms(90.0),
                ms(99.0),
                ms(100.0),
                errors
            );
        }
        print_counts("expected refusals", &self.expected);
        print_counts("errors", &self.errors);
        if open {
            println!(
                "open loop: {} sales started > 10 ms late, worst lag {:.1} ms (raise --concurrency if many)",
                self.late_starts,
                self.max_lag.as_secs_f64() * 1000.0
            );
        }
        if self.retired > 0 || self.pool_dry > 0 {
            println!(
                "vouchers retired (low balance): {}; sales not started for want of a voucher: {}",
                self.retired, self.pool_dry
            );
        }
        if self.out_of_tokens > 0 {
            println!(
                "premint: {} vouchers used up their pre-minted tokens and left the pool{}",
                self.out_of_tokens,
                if self.pool_dry > 0 { " (the pool ran dry: raise --premint-tokens)" } else { "" }
            );
        }
    }
}

fn print_counts(title: &str, counts: &BTreeMap<(Kind, u16, String), u64>) {
    if counts.is_empty() {
        println!("{title}: none");
        return;
    }
    println!("{title}:");
    for ((kind, status, code), n) in counts {
        println!("  {:<10} {:>4} {:<24} {n}", kind.name(), status, code);
    }
}

/// The nearest-rank percentile `p` (0–100] of ascending samples; 0 for none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), 50);
        assert_eq!(percentile(&samples, 90.0), 90);
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&samples, 99.9), 100);
        assert_eq!(percentile(&samples, 100.0), 100);
        assert_eq!(percentile(&[7], 1.0), 7);
        assert_eq!(percentile(&[1, 2, 3], 0.0), 1);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn expected_refusals_are_not_errors_and_merge_adds_up() {
        let reply = |status, code: &str| Reply {
            status,
            body: json!({"error": {"code": code}}),
            elapsed: Duration::from_millis(2),
        };
        let mut a = Stats::default();
        a.record(Kind::Authorize, &reply(201, ""), Duration::ZERO);
        a.record(Kind::Authorize, &reply(422, "insufficient_balance"), Duration::ZERO);
        let mut b = Stats::default();
        b.record(Kind::Authorize, &reply(409, "token_used"), Duration::from_millis(3));
        b.record(Kind::Capture, &Reply { status: 0, body: json!({}), elapsed: Duration::ZERO }, Duration::ZERO);
        b.captured = 2;
        a.merge(b);
        assert_eq!(a.error_count(), 2);
        assert_eq!(a.expected.values().sum::<u64>(), 1);
        assert_eq!(a.captured, 2);
        // Transport failures have no latency; the lag is added to the answer's own time.
        assert_eq!(a.latencies[&Kind::Authorize], vec![2_000, 2_000, 5_000]);
        assert!(!a.latencies.contains_key(&Kind::Capture));
        // A race's loser told the basket's state is expected; a plain capture told so is not.
        let mut c = Stats::default();
        c.record(Kind::Race, &reply(409, "basket_state"), Duration::ZERO);
        c.record(Kind::Race, &reply(409, "hold_expired"), Duration::ZERO);
        assert_eq!((c.error_count(), c.expected.values().sum::<u64>()), (0, 2));
        c.record(Kind::Capture, &reply(409, "basket_state"), Duration::ZERO);
        c.record(Kind::Race, &reply(409, "idempotency_conflict"), Duration::ZERO);
        assert_eq!(c.error_count(), 2);
    }

    #[test]
    fn contended_pairs_are_classified() {
        let r = |status, code: &str| Reply { status, body: json!({"error": {"code": code}}), elapsed: Duration::ZERO };
        let ok = r(201, "");
        let short = r(422, "insufficient_balance");
        let spent = r(409, "voucher_exhausted");
        let busy = r(500, "internal");
        let lost = r(0, "");
        assert_eq!(PairOutcome::of(&ok, &short), PairOutcome::OneRefused);
        assert_eq!(PairOutcome::of(&spent, &ok), PairOutcome::OneRefused);
        assert_eq!(PairOutcome::of(&ok, &ok), PairOutcome::BothAuthorized);
        for (a, b) in [(&ok, &busy), (&lost, &ok), (&short, &short), (&busy, &lost)] {
            assert_eq!(PairOutcome::of(a, b), PairOutcome::Other);
        }
        let mut c = Contended::default();
        for o in [PairOutcome::OneRefused, PairOutcome::OneRefused, PairOutcome::BothAuthorized, PairOutcome::Other] {
            c.count(o);
        }
        let mut total = Contended::default();
        total.merge(c);
        total.merge(c);
        assert_eq!(total, Contended { pairs: 8, one_refused: 4, both_authorized: 2, other: 2 });
    }
}
