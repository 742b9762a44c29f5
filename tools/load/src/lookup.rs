//! The look-up-only run (`--only lookup`): tokens are minted before the clock starts, then the
//! tills do nothing but `POST /api/v1/pos/lookup` with them. A look-up does not use a token up, so
//! each is presented again and again; the figure is the server's cost of reading a voucher behind
//! a scanned token (signature check included).

use std::time::Duration;

use serde_json::json;

use crate::client::Api;
use crate::premint;
use crate::stats::{Kind, Stats};
use crate::till::{self, Mode, PoolVoucher, Till};

/// The most tokens minted for a look-up run.
pub const MAX_TOKENS: usize = 2_000;

/// Mints one token for each voucher (up to [`MAX_TOKENS`]) through the wallet, `threads` requests
/// at a time; answers the tokens and a note on the first failure, if any.
pub fn mint_tokens(
    api: &Api,
    vouchers: &[PoolVoucher],
    threads: usize,
    timeout: Duration,
) -> (Vec<String>, Option<String>) {
    let minted = premint::mint(api, &vouchers[..vouchers.len().min(MAX_TOKENS)], 1, threads, timeout);
    (minted.tokens.into_iter().flatten().collect(), minted.failure)
}

/// The token a till presents at its `n`-th look-up: each till starts at its own place in the
/// list and walks it round, so that the tills spread over the vouchers.
pub fn token_index(till: usize, tills: usize, n: usize, tokens: usize) -> usize {
    (till * tokens / tills.max(1) + n) % tokens.max(1)
}

/// Every till looks tokens up, paced by `mode`, for `duration`; answers the merged figures and
/// the time it took.
pub fn run(tills: Vec<Till>, tokens: &[String], mode: Mode, duration: Duration) -> (Stats, Duration) {
    let count = tills.len();
    let (results, elapsed) = till::drive(tills, mode, duration, |index, till, pacer| {
        let mut stats = Stats::default();
        let mut n = 0;
        while let Some((_, lag)) = pacer.next(&mut stats) {
            let token = &tokens[token_index(index, count, n, tokens.len())];
            n += 1;
            let reply = till.api.post("/api/v1/pos/lookup", Some(&till.session), &json!({ "token": token }));
            stats.record(Kind::Lookup, &reply, lag);
            if reply.ok() {
                stats.lookups_ok += 1;
            } else if reply.status == 0 {
                // The server is gone or refusing connections: count, but do not spin.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        stats
    });
    let mut total = Stats::default();
    for result in results {
        match result {
            Some(stats) => total.merge(stats),
            None => total.fault(Kind::Lookup, "worker_panicked"),
        }
    }
    (total, elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tills_start_apart_and_walk_every_token() {
        assert_eq!(token_index(0, 4, 0, 100), 0);
        assert_eq!(token_index(1, 4, 0, 100), 25);
        assert_eq!(token_index(3, 4, 0, 100), 75);
        assert_eq!(token_index(3, 4, 25, 100), 0);
        let seen: std::collections::HashSet<_> = (0..7).map(|n| token_index(2, 3, n, 7)).collect();
        assert_eq!(seen.len(), 7);
        // More tills than tokens: they share.
        assert!((0..10).all(|t| token_index(t, 10, 0, 3) < 3));
    }
}
