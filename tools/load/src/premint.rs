//! Tokens minted before the clock starts. `--premint` takes the wallet's minting (and the till's
//! look-up) out of the timed loop, so that a sale is what issue 19's yardstick measures: authorise
//! and capture. A token is good for one basket, so each voucher gets a queue of fresh tokens; a
//! sale takes the next one, and a voucher whose queue is empty leaves the pool. `--only lookup`
//! uses the same minting with one token per voucher.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::client::{self, Api};
use crate::till::{Mode, PoolVoucher};

/// The sales per second a closed-loop run is given tokens for when `--premint-tokens` is not set:
/// issue 19's target on SQLite. A faster run runs out, and says so.
pub const CLOSED_LOOP_RATE: f64 = 4_000.0;
/// The most tokens one run mints.
pub const MAX_TOKENS: usize = 2_000_000;

/// How many tokens a run needs: `explicit` if given; else, open loop, the scheduled sales plus 10 %
/// and one per till; closed loop, [`CLOSED_LOOP_RATE`] for the duration.
pub fn tokens_needed(explicit: Option<usize>, mode: Mode, duration: Duration, tills: usize) -> usize {
    let wanted = match (explicit, mode) {
        (Some(n), _) => n,
        (None, Mode::Open { rate }) => (rate * duration.as_secs_f64() * 1.1).ceil() as usize + tills,
        (None, Mode::Closed) => (CLOSED_LOOP_RATE * duration.as_secs_f64()).ceil() as usize,
    };
    wanted.clamp(1, MAX_TOKENS)
}

/// Tokens per voucher so that `vouchers` of them hold at least `total`.
pub fn per_voucher(total: usize, vouchers: usize) -> usize {
    total.div_ceil(vouchers.max(1)).max(1)
}

/// What minting gave: the tokens of each voucher (in the order of the vouchers), the first failure
/// and the earliest expiry the server answered.
pub struct Minted {
    pub tokens: Vec<Vec<String>>,
    pub failure: Option<String>,
    pub first_expiry: Option<DateTime<Utc>>,
}

impl Minted {
    pub fn count(&self) -> usize {
        self.tokens.iter().map(Vec::len).sum()
    }
}

/// Mints `per` tokens for each voucher through its holder's wallet, `threads` requests at a time.
pub fn mint(api: &Api, vouchers: &[PoolVoucher], per: usize, threads: usize, timeout: Duration) -> Minted {
    let parts = client::in_parallel(api, vouchers, threads, timeout, |api, part| {
        let mut minted = Minted { tokens: Vec::with_capacity(part.len()), failure: None, first_expiry: None };
        for v in part {
            let mut tokens = Vec::with_capacity(per);
            for _ in 0..per {
                let reply = api.post(&format!("/api/v1/wallet/vouchers/{}/qr", v.id), Some(&v.jwt), &json!({}));
                match reply.str("token") {
                    Some(token) if reply.ok() => {
                        tokens.push(token.to_owned());
                        let expiry = reply.str("expires_at").and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                        minted.first_expiry = earliest(minted.first_expiry, expiry.map(|t| t.with_timezone(&Utc)));
                    }
                    _ => {
                        minted.failure.get_or_insert_with(|| format!("voucher {}: {}", v.id, reply.describe()));
                        break;
                    }
                }
            }
            minted.tokens.push(tokens);
        }
        minted
    });
    let mut all = Minted { tokens: Vec::with_capacity(vouchers.len()), failure: None, first_expiry: None };
    for part in parts {
        match part {
            Ok(part) => {
                all.tokens.extend(part.tokens);
                all.failure = all.failure.or(part.failure);
                all.first_expiry = earliest(all.first_expiry, part.first_expiry);
            }
            Err(len) => {
                all.tokens.extend(std::iter::repeat_with(Vec::new).take(len));
                all.failure.get_or_insert_with(|| "a minting thread panicked".to_owned());
            }
        }
    }
    all
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Gives each voucher its tokens (`tokens` in the order of `vouchers`); a voucher without any
/// leaves the list. Answers how many left.
pub fn hand_out(vouchers: &mut Vec<PoolVoucher>, tokens: Vec<Vec<String>>) -> usize {
    for (v, t) in vouchers.iter_mut().zip(tokens.into_iter().chain(std::iter::repeat_with(Vec::new))) {
        v.tokens = VecDeque::from(t);
    }
    let before = vouchers.len();
    vouchers.retain(|v| !v.tokens.is_empty());
    before - vouchers.len()
}

/// Whether tokens that expire at `expiry` outlive a run of `duration` starting `now`; the note to
/// print when they do not.
pub fn expiry_note(expiry: Option<DateTime<Utc>>, now: DateTime<Utc>, duration: Duration) -> Option<String> {
    let end = now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
    match expiry {
        Some(t) if t < end => Some(format!(
            "premint: the first tokens expire at {} ({} s into the run): the rest of it ends in token_expired; \
             start the server with a longer AZYQ_QR_MINUTES (up to 60) or shorten --duration",
            t.to_rfc3339(),
            (t - now).num_seconds().max(0)
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voucher(id: i64) -> PoolVoucher {
        PoolVoucher { id, jwt: format!("jwt{id}"), tokens: VecDeque::new() }
    }

    #[test]
    fn enough_tokens_for_the_run() {
        let d = Duration::from_secs(20);
        assert_eq!(tokens_needed(Some(500), Mode::Closed, d, 64), 500, "an explicit count wins");
        assert_eq!(tokens_needed(None, Mode::Closed, d, 64), 80_000, "closed loop: the target rate");
        assert_eq!(tokens_needed(None, Mode::Open { rate: 2_000.0 }, d, 64), 44_064, "open: +10 % and a till each");
        assert_eq!(tokens_needed(Some(0), Mode::Closed, d, 1), 1);
        assert_eq!(tokens_needed(Some(usize::MAX), Mode::Closed, d, 1), MAX_TOKENS);
        assert_eq!(per_voucher(80_000, 2_000), 40);
        assert_eq!(per_voucher(80_001, 2_000), 41, "rounded up: never fewer than asked");
        assert_eq!(per_voucher(3, 2_000), 1);
        assert_eq!(per_voucher(3, 0), 3);
    }

    #[test]
    fn each_voucher_gets_its_own_queue_and_empty_ones_leave() {
        let mut vouchers: Vec<PoolVoucher> = (1..=4).map(voucher).collect();
        let tokens = vec![vec!["a1".into(), "a2".into()], vec![], vec!["c1".into()]];
        assert_eq!(hand_out(&mut vouchers, tokens), 2, "the one with none and the one left over");
        let ids: Vec<i64> = vouchers.iter().map(|v| v.id).collect();
        assert_eq!(ids, [1, 3]);
        let first = &mut vouchers[0];
        assert_eq!(first.tokens.pop_front().as_deref(), Some("a1"), "tokens are used in minting order");
        assert_eq!(first.tokens.pop_front().as_deref(), Some("a2"));
        assert_eq!(first.tokens.pop_front(), None, "each token once");
    }

    #[test]
    fn tokens_that_die_before_the_end_are_reported() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z").unwrap().with_timezone(&Utc);
        let d = Duration::from_secs(120);
        let at = |s: i64| Some(now + chrono::Duration::seconds(s));
        assert!(expiry_note(at(300), now, d).is_none());
        assert!(expiry_note(None, now, d).is_none());
        let note = expiry_note(at(60), now, d).expect("a note");
        assert!(note.contains("60 s into the run") && note.contains("AZYQ_QR_MINUTES"), "{note}");
        assert_eq!(earliest(at(5), at(3)), at(3));
        assert_eq!(earliest(None, at(3)), at(3));
    }
}
