//! The generator's own books: for each voucher, what the server *acknowledged* doing to it during
//! the run. From them, the double-spend count (acknowledged charges above what the voucher had) and
//! the cross-check against the balances the server reports after the run.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// One voucher's acknowledged effects over the run, in tiyn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// The balance the first successful look-up of the run answered, and when. Every sale looks
    /// the voucher up before it authorises, while no other request of ours is on it, so this is the
    /// balance before any effect of the run.
    pub opening: Option<(Instant, i64)>,
    /// `charged_tiyn` of captured baskets.
    pub captured: i64,
    /// Refunds the server acknowledged.
    pub refunded: i64,
    /// Holds of authorised baskets that were neither captured, cancelled nor expired as far as
    /// the answers tell.
    pub held: i64,
    /// Some request on this voucher got no answer at all: its effect is unknown.
    pub unanswered: bool,
    /// A refund or cancel on it got no answer: a credit may have happened that the books lack.
    pub unanswered_credit: bool,
}

impl Account {
    /// Acknowledged charges: captured minus refunded.
    pub fn net_charged(&self) -> i64 {
        self.captured - self.refunded
    }

    /// Whether the acknowledged charges exceed what the voucher had at the opening. `None` when
    /// the answer is not certain: no opening balance, or a credit (refund, cancel) went unanswered.
    pub fn double_spent(&self) -> Option<bool> {
        let (_, opening) = self.opening?;
        if self.unanswered_credit {
            return None;
        }
        Some(self.net_charged() > opening)
    }

    /// The balances the server may report now: the opening minus the acknowledged charges and open
    /// holds, up to the open holds more (a hold left open may have expired since). `None` when a
    /// request went unanswered or there is no opening.
    pub fn expected_balance(&self) -> Option<(i64, i64)> {
        let (_, opening) = self.opening?;
        if self.unanswered || self.unanswered_credit {
            return None;
        }
        let low = opening - self.net_charged() - self.held;
        Some((low, low + self.held))
    }

    fn merge(&mut self, other: Account) {
        self.opening = match (self.opening, other.opening) {
            (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        self.captured += other.captured;
        self.refunded += other.refunded;
        self.held += other.held;
        self.unanswered |= other.unanswered;
        self.unanswered_credit |= other.unanswered_credit;
    }
}

/// Accounts by voucher id; each till keeps its own and they are merged after the run.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: BTreeMap<i64, Account>,
}

/// The outcome of comparing the books with the server's balances.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CrossCheck {
    /// Vouchers whose balance was compared.
    pub compared: usize,
    /// Vouchers left out: a request on them went unanswered.
    pub unsure: usize,
    /// Vouchers whose balance could not be read back.
    pub unread: usize,
    /// (voucher, expected low, expected high, reported) where the report is outside the range.
    pub mismatches: Vec<(i64, i64, i64, i64)>,
}

impl Ledger {
    fn account(&mut self, voucher: i64) -> &mut Account {
        self.accounts.entry(voucher).or_default()
    }

    /// A look-up answered this balance at `at`; only the first of the run counts.
    pub fn looked_up(&mut self, voucher: i64, at: Instant, balance: i64) {
        let account = self.account(voucher);
        if account.opening.is_none_or(|(first, _)| at < first) {
            account.opening = Some((at, balance));
        }
    }

    /// An authorisation was acknowledged: `amount` is held.
    pub fn held(&mut self, voucher: i64, amount: i64) {
        self.account(voucher).held += amount;
    }

    /// A capture of a basket holding `held` was acknowledged, charging `charged`.
    pub fn captured(&mut self, voucher: i64, held: i64, charged: i64) {
        let account = self.account(voucher);
        account.held -= held;
        account.captured += charged;
    }

    /// A hold went back to the voucher (cancelled, or refused as expired).
    pub fn released(&mut self, voucher: i64, held: i64) {
        self.account(voucher).held -= held;
    }

    /// A refund of `amount` was acknowledged.
    pub fn refunded(&mut self, voucher: i64, amount: i64) {
        self.account(voucher).refunded += amount;
    }

    /// A request on the voucher got no answer; `credit`: it was a refund or a cancel.
    pub fn unanswered(&mut self, voucher: i64, credit: bool) {
        let account = self.account(voucher);
        account.unanswered = true;
        account.unanswered_credit |= credit;
    }

    /// Adds another till's books to these.
    pub fn merge(&mut self, other: Ledger) {
        for (id, account) in other.accounts {
            self.account(id).merge(account);
        }
    }

    /// The vouchers the run looked up (and so may have charged), with their accounts.
    pub fn touched(&self) -> impl Iterator<Item = (i64, &Account)> {
        self.accounts.iter().filter(|(_, a)| a.opening.is_some()).map(|(id, a)| (*id, a))
    }

    /// Vouchers with a request that got no answer.
    pub fn unanswered_count(&self) -> usize {
        self.accounts.values().filter(|a| a.unanswered).count()
    }

    /// Vouchers whose acknowledged charges exceed their opening balance, and the number whose
    /// verdict is unsure (an unanswered refund or cancel, or effects without a look-up).
    pub fn double_spends(&self) -> (Vec<i64>, usize) {
        let mut spent = Vec::new();
        let mut unsure = 0;
        for (id, account) in &self.accounts {
            match account.double_spent() {
                Some(true) => spent.push(*id),
                Some(false) => {}
                None if account.opening.is_none() && account.net_charged() == 0 && account.held == 0 => {}
                None => unsure += 1,
            }
        }
        (spent, unsure)
    }

    /// Compares the books with the balances the server reports now.
    pub fn cross_check(&self, reported: &HashMap<i64, i64>) -> CrossCheck {
        let mut check = CrossCheck::default();
        for (id, account) in self.touched() {
            let Some((low, high)) = account.expected_balance() else {
                check.unsure += 1;
                continue;
            };
            let Some(&balance) = reported.get(&id) else {
                check.unread += 1;
                continue;
            };
            check.compared += 1;
            if !(low..=high).contains(&balance) {
                check.mismatches.push((id, low, high, balance));
            }
        }
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> Instant {
        // One base for the whole test binary, so that instants of different tests compare.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn a_clean_sale_balances() {
        let mut l = Ledger::default();
        l.looked_up(7, at(1), 100_000);
        l.held(7, 30_000);
        l.captured(7, 30_000, 30_000);
        l.looked_up(7, at(5), 70_000);
        l.held(7, 10_000);
        l.released(7, 10_000);
        l.refunded(7, 5_000);
        let a = &l.accounts[&7];
        assert_eq!(a.opening, Some((at(1), 100_000)), "the first look-up is the opening");
        assert_eq!(a.net_charged(), 25_000);
        assert_eq!(a.expected_balance(), Some((75_000, 75_000)));
        assert_eq!(l.double_spends(), (vec![], 0));
        let check = l.cross_check(&HashMap::from([(7, 75_000)]));
        assert_eq!(check, CrossCheck { compared: 1, ..CrossCheck::default() });
        let check = l.cross_check(&HashMap::from([(7, 80_000)]));
        assert_eq!(check.mismatches, vec![(7, 75_000, 75_000, 80_000)]);
    }

    #[test]
    fn charges_above_the_opening_are_a_double_spend() {
        let mut l = Ledger::default();
        l.looked_up(1, at(0), 50_000);
        for _ in 0..2 {
            l.held(1, 40_000);
            l.captured(1, 40_000, 40_000);
        }
        l.looked_up(2, at(0), 50_000);
        l.held(2, 50_000);
        l.captured(2, 50_000, 50_000);
        assert_eq!(l.double_spends(), (vec![1], 0), "exactly the balance is not a double-spend");
        // A refund brings it back under: acknowledged charges are net of refunds.
        l.refunded(1, 30_000);
        assert_eq!(l.double_spends(), (vec![], 0));
    }

    #[test]
    fn open_holds_may_have_expired() {
        let mut l = Ledger::default();
        l.looked_up(3, at(0), 100_000);
        l.held(3, 20_000);
        for (reported, ok) in [(80_000, true), (100_000, true), (90_000, true), (79_999, false), (100_001, false)] {
            assert_eq!(l.cross_check(&HashMap::from([(3, reported)])).mismatches.is_empty(), ok, "{reported}");
        }
    }

    #[test]
    fn unanswered_requests_are_left_out() {
        let mut l = Ledger::default();
        l.looked_up(4, at(0), 100_000);
        l.held(4, 60_000);
        l.captured(4, 60_000, 60_000);
        l.unanswered(4, false);
        l.looked_up(5, at(0), 100_000);
        l.held(5, 60_000);
        l.captured(5, 60_000, 60_000);
        l.held(5, 60_000);
        l.captured(5, 60_000, 60_000);
        l.unanswered(5, true);
        let check = l.cross_check(&HashMap::from([(4, 1), (5, 1)]));
        assert_eq!(check, CrossCheck { unsure: 2, ..CrossCheck::default() });
        // An unanswered authorise or capture cannot hide a credit: the verdict stands. An
        // unanswered refund could: voucher 5 is unsure, not a double-spend.
        assert_eq!(l.double_spends(), (vec![], 1));
        assert_eq!(l.unanswered_count(), 2);
    }

    #[test]
    fn merging_keeps_the_earliest_opening_and_adds_the_rest() {
        let mut a = Ledger::default();
        a.looked_up(9, at(10), 40_000);
        a.held(9, 10_000);
        a.captured(9, 10_000, 10_000);
        let mut b = Ledger::default();
        b.looked_up(9, at(2), 70_000);
        b.held(9, 30_000);
        b.captured(9, 30_000, 30_000);
        b.looked_up(8, at(3), 1_000);
        a.merge(b);
        let nine = &a.accounts[&9];
        assert_eq!(nine.opening, Some((at(2), 70_000)));
        assert_eq!(nine.captured, 40_000);
        assert_eq!(nine.expected_balance(), Some((30_000, 30_000)));
        assert_eq!(a.touched().count(), 2);
        let check = a.cross_check(&HashMap::from([(9, 30_000)]));
        assert_eq!((check.compared, check.unread), (1, 1));
    }
}
