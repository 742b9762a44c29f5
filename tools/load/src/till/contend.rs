//! Contended sales: two tills on two servers act at the same instant, released by one barrier.
//! Either one voucher is authorised at both (baskets that each fit its balance, together not), or
//! one basket's later transitions (capture, cancel, refund) are sent from both, judged against
//! the basket read back afterwards ([`transitions::judge`]).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use azyq_shared::api::BasketStatus;
use rand::Rng;
use serde_json::json;

use super::{
    balance_after, basket_body, cancel, capture, still_usable, Captured, PoolVoucher, Till, Worker, BASKETS,
    MIN_BALANCE,
};
use crate::basket;
use crate::client::Reply;
use crate::stats::{Kind, PairOutcome};
use crate::transitions::{self, Basket, Step};

/// One side of a contended authorisation: its answer and, if authorised, its capture's.
struct Side {
    authorized: Reply,
    captured: Option<Reply>,
    lines: usize,
}

impl Worker<'_> {
    /// A contended sale: the voucher is presented at this till and at the partner till (on another
    /// server) at the same moment, each with its own fresh token and a basket that alone fits the
    /// balance while both together exceed it; each captures if authorised. Answers whether the
    /// voucher stays in the pool.
    pub(super) fn contend(&mut self, voucher: &PoolVoucher, scheduled: Instant, lag: Duration) -> bool {
        let Some(partner) = self.partner.clone() else { return self.sell(voucher, None, scheduled, lag) };
        let (token_a, balance) = match self.present(voucher, lag) {
            Ok(shown) => shown,
            Err(reply) => return still_usable(&reply),
        };
        if balance < MIN_BALANCE {
            return false;
        }
        let token_b = match self.mint(&partner.api, voucher, lag) {
            Ok(token) => token,
            Err(reply) => return still_usable(&reply),
        };
        let (target_a, target_b) = basket::contended_targets(balance, &mut self.rng);
        let key = self.next_key();
        let (lines_a, lines_b) = (basket::for_discount(target_a), basket::for_discount(target_b));
        let (body_a, body_b) = (basket_body(&token_a, &lines_a), basket_body(&token_b, &lines_b));
        let (key_a, key_b) = (format!("{key}-a"), format!("{key}-pa"));
        let mine = &self.till;
        let side = |till: &Till, body: &serde_json::Value, key: &str, lines: usize| {
            let authorized = till.api.post_keyed(BASKETS, &till.session, key, body);
            let captured = match (authorized.ok(), authorized.int("basket_id"), authorized.int("to_pay_tiyn")) {
                (true, Some(id), Some(to_pay)) => Some(capture(till, id, to_pay, "cash", &format!("{key}-c"))),
                _ => None,
            };
            Side { authorized, captured, lines }
        };
        let sides =
            at_once(|| side(mine, &body_a, &key_a, lines_a.len()), || side(&partner, &body_b, &key_b, lines_b.len()));
        let Some((side_a, side_b)) = sides else {
            self.stats.fault(Kind::Contend, "pair_thread_failed");
            return true;
        };
        self.stats.contended.count(PairOutcome::of(&side_a.authorized, &side_b.authorized));
        let mut left = balance;
        for (side, mine) in [(&side_a, true), (&side_b, false)] {
            self.stats.record(Kind::Contend, &side.authorized, lag);
            let Some((id, _, held)) = self.authorized(voucher.id, &side.authorized) else { continue };
            left -= held;
            let Some(reply) = &side.captured else { continue };
            if self.settle(id, voucher.id, held, reply, lag) {
                self.stats.sample(Kind::Sale, scheduled.elapsed());
                // Only this till's own baskets: a refund goes to the shop that sold.
                if mine {
                    self.remember(Captured { basket: id, lines: side.lines, voucher: voucher.id });
                }
            }
        }
        [&side_a, &side_b].iter().all(|s| still_usable(&s.authorized)) && left >= MIN_BALANCE
    }

    /// A sale whose basket's transitions are contended: authorised at this till (and captured
    /// there, for a pair of refunds), then two transitions of it ([`transitions::Pair`]) sent at
    /// the same moment from this till and from the twin till of the same shop on another server.
    /// The basket is read back and the pair judged; what the answers acknowledged goes into the
    /// books. Answers whether the voucher stays in the pool.
    pub(super) fn race(&mut self, voucher: &PoolVoucher, scheduled: Instant, lag: Duration) -> bool {
        let (Some(twin), n @ 1..) = (self.twin.clone(), self.cfg.pairs.len()) else {
            return self.sell(voucher, None, scheduled, lag);
        };
        let pair = self.cfg.pairs[self.rng.gen_range(0..n)];
        let token = match self.present(voucher, lag) {
            Ok((token, _)) => token,
            Err(reply) => return still_usable(&reply),
        };
        // Two lines at least, so that two different lines can be refunded.
        let basket = self.basket(2);
        let lines = basket.len();
        let key = self.next_key();
        let body = basket_body(&token, &basket);
        let authorized = self.till.api.post_keyed(BASKETS, &self.till.session, &format!("{key}-a"), &body);
        self.stats.record(Kind::Authorize, &authorized, lag);
        let Some((id, to_pay, held)) = self.authorized(voucher.id, &authorized) else {
            return still_usable(&authorized);
        };
        let usable = balance_after(&authorized) >= MIN_BALANCE;
        let mut start = Basket::new(BasketStatus::Authorized, lines);
        if pair.on_captured() {
            let reply = capture(&self.till, id, to_pay, "cash", &format!("{key}-c"));
            if !self.settle(id, voucher.id, held, &reply, lag) {
                return usable;
            }
            start.status = BasketStatus::Captured;
        }

        let steps = pair.steps(lines, &mut self.rng);
        let keys = [format!("{key}-ra"), format!("{key}-rb")];
        let send = |till: &Till, step: Step, key: &str| match step {
            Step::Capture => capture(till, id, to_pay, "cash", key),
            Step::Cancel => cancel(till, id),
            Step::Refund(line) => {
                let body = line.map_or_else(|| json!({}), |l| json!({ "lines": [l] }));
                till.api.post_keyed(&format!("{BASKETS}/{id}/refund"), &till.session, key, &body)
            }
        };
        let mine = &self.till;
        let Some((a, b)) = at_once(|| send(mine, steps[0], &keys[0]), || send(&twin, steps[1], &keys[1])) else {
            self.stats.fault(Kind::Race, "pair_thread_failed");
            // A request may have gone out: the books cannot say what it did.
            self.ledger.unanswered(voucher.id, true);
            return usable;
        };
        let replies = [a, b];
        for reply in &replies {
            self.stats.record(Kind::Race, reply, lag);
        }
        let read_back = self.till.api.get(&format!("{BASKETS}/{id}"), Some(&self.till.session));
        self.stats.record(Kind::Basket, &read_back, lag);
        let verdict = transitions::judge(&start, steps, [&replies[0], &replies[1]], &read_back);
        let servers = [self.till.api.base(), twin.api.base()];
        self.stats.races.count(pair, &verdict, || {
            let sides = [0, 1].map(|i| transitions::Sent { step: steps[i], key: &keys[i], server: servers[i] });
            transitions::describe(id, pair, &sides, [&replies[0], &replies[1]], &read_back, &verdict)
        });
        if self.book_race(id, voucher.id, held, steps, &replies) {
            self.remember(Captured { basket: id, lines, voucher: voucher.id });
        }
        usable
    }

    /// Enters what a contended pair's answers acknowledged in the books: the first capture, cancel
    /// or expiry takes the hold and any later one nothing more (a second 2xx capture still books
    /// its charge); each refund what it gave back. Answers whether the pair captured the basket.
    fn book_race(&mut self, basket: i64, voucher: i64, held: i64, steps: [Step; 2], replies: &[Reply; 2]) -> bool {
        let mut open = held;
        let mut captured = false;
        for (step, reply) in steps.into_iter().zip(replies) {
            let took = match step {
                Step::Capture => {
                    let paid = self.book_capture(basket, voucher, open, reply);
                    captured |= paid;
                    paid || reply.code() == "hold_expired"
                }
                Step::Cancel => {
                    let released = self.book_cancel(voucher, open, reply);
                    self.stats.cancelled += u64::from(released && reply.ok() && open > 0);
                    released
                }
                Step::Refund(_) => {
                    self.book_refund(basket, voucher, reply);
                    false
                }
            };
            if took {
                open = 0;
            }
        }
        captured
    }
}

/// Runs `a` on this thread and `b` on a second one, both released together by a barrier; `None`
/// when the second thread could not start (then neither ran) or panicked.
fn at_once<A, B: Send>(a: impl FnOnce() -> A, b: impl FnOnce() -> B + Send) -> Option<(A, B)> {
    let barrier = Barrier::new(2);
    let barrier = &barrier;
    std::thread::scope(|s| {
        let other = std::thread::Builder::new()
            .spawn_scoped(s, move || {
                barrier.wait();
                b()
            })
            .ok()?;
        barrier.wait();
        let mine = a();
        Some((mine, other.join().ok()?))
    })
}
