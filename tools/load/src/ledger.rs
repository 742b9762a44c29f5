//! The generator's own books: for each voucher, what the server *acknowledged* doing to it during
//! the run, and for each captured basket, its charge and the refunds acknowledged on it. From them,
//! the double-spend count (acknowledged charges above what the voucher had), the refunds moved
//! twice (a line refunded by two acknowledged refunds, or more given back than the basket charged)
//! and the cross-check against the balances the server reports after the run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use serde_json::Value;

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

/// One captured basket's acknowledged money, in tiyn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasketBooks {
    /// `charged_tiyn` of its acknowledged capture.
    pub charged: i64,
    /// What its acknowledged refunds gave back, and how many there were.
    pub refunded: i64,
    pub refunds: u64,
    /// Lines an acknowledged refund gave back.
    lines: BTreeSet<usize>,
    /// Lines a second acknowledged refund gave back again.
    pub twice: Vec<usize>,
}

impl BasketBooks {
    /// Whether some of its money went back twice: a line refunded twice, or more refunded than
    /// charged.
    pub fn refunded_twice(&self) -> bool {
        !self.twice.is_empty() || self.refunded > self.charged
    }

    fn refund_lines(&mut self, lines: impl IntoIterator<Item = usize>) {
        for line in lines {
            if !self.lines.insert(line) {
                self.twice.push(line);
            }
        }
    }

    fn merge(&mut self, other: BasketBooks) {
        self.charged += other.charged;
        self.refunded += other.refunded;
        self.refunds += other.refunds;
        self.refund_lines(other.lines);
        self.twice.extend(other.twice);
    }
}

/// An acknowledged refund as its answer tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAnswer {
    /// The lines it gave back.
    pub lines: Vec<usize>,
    /// What went back to each voucher.
    pub shares: Vec<(i64, i64)>,
}

impl RefundAnswer {
    /// Reads a 2xx refund answer (`refunded_tiyn`, `lines`, `vouchers[]`) of a basket that drew on
    /// `voucher` alone, as every basket of the load does; the error names what does not fit.
    /// The answer's `vouchers[]` carries each voucher's share net of the refund, not the refund's
    /// split, so a refund over several vouchers could not be split from it.
    pub fn parse(body: &Value, voucher: i64) -> Result<RefundAnswer, &'static str> {
        let amount = body["refunded_tiyn"].as_i64().ok_or("answer_without_amount")?;
        let lines = body["lines"]
            .as_array()
            .and_then(|ls| ls.iter().map(|l| l.as_u64().and_then(|l| usize::try_from(l).ok())).collect())
            .ok_or("answer_without_lines")?;
        let vouchers = body["vouchers"].as_array().ok_or("answer_without_vouchers")?;
        match vouchers.as_slice() {
            [only] if only["voucher_id"].as_i64() == Some(voucher) => {
                Ok(RefundAnswer { lines, shares: vec![(voucher, amount)] })
            }
            [_] => Err("refund_to_another_voucher"),
            _ => Err("refund_over_several_vouchers"),
        }
    }
}

/// Accounts by voucher id and captured baskets by id; each till keeps its own and they are merged
/// after the run.
#[derive(Debug, Default)]
pub struct Ledger {
    accounts: BTreeMap<i64, Account>,
    baskets: BTreeMap<i64, BasketBooks>,
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

    /// A capture of `basket`, which held `held` of `voucher`, was acknowledged, charging `charged`.
    pub fn captured(&mut self, basket: i64, voucher: i64, held: i64, charged: i64) {
        let account = self.account(voucher);
        account.held -= held;
        account.captured += charged;
        self.baskets.entry(basket).or_default().charged += charged;
    }

    /// A hold went back to the voucher (cancelled, or refused as expired).
    pub fn released(&mut self, voucher: i64, held: i64) {
        self.account(voucher).held -= held;
    }

    /// A refund of `basket` was acknowledged.
    pub fn refunded(&mut self, basket: i64, refund: &RefundAnswer) {
        let books = self.baskets.entry(basket).or_default();
        books.refund_lines(refund.lines.iter().copied());
        books.refunds += 1;
        for &(voucher, amount) in &refund.shares {
            books.refunded += amount;
            self.accounts.entry(voucher).or_default().refunded += amount;
        }
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
        for (id, books) in other.baskets {
            self.baskets.entry(id).or_default().merge(books);
        }
    }

    /// Acknowledged refunds: how many, and the tiyn they gave back.
    pub fn refunds(&self) -> (u64, i64) {
        self.baskets.values().fold((0, 0), |(n, tiyn), b| (n + b.refunds, tiyn + b.refunded))
    }

    /// Baskets some of whose money the acknowledged refunds gave back twice.
    pub fn refunded_twice(&self) -> impl Iterator<Item = (i64, &BasketBooks)> {
        self.baskets.iter().filter(|(_, b)| b.refunded_twice()).map(|(id, b)| (*id, b))
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

    /// An acknowledged refund of `lines` to `voucher` alone.
    fn refund(voucher: i64, lines: &[usize], amount: i64) -> RefundAnswer {
        RefundAnswer { lines: lines.to_vec(), shares: vec![(voucher, amount)] }
    }

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
        l.captured(70, 7, 30_000, 30_000);
        l.looked_up(7, at(5), 70_000);
        l.held(7, 10_000);
        l.released(7, 10_000);
        l.refunded(70, &refund(7, &[2], 5_000));
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
        for basket in [10, 11] {
            l.held(1, 40_000);
            l.captured(basket, 1, 40_000, 40_000);
        }
        l.looked_up(2, at(0), 50_000);
        l.held(2, 50_000);
        l.captured(20, 2, 50_000, 50_000);
        assert_eq!(l.double_spends(), (vec![1], 0), "exactly the balance is not a double-spend");
        // A refund brings it back under: acknowledged charges are net of refunds.
        l.refunded(11, &refund(1, &[0], 30_000));
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
        l.captured(40, 4, 60_000, 60_000);
        l.unanswered(4, false);
        l.looked_up(5, at(0), 100_000);
        l.held(5, 60_000);
        l.captured(50, 5, 60_000, 60_000);
        l.held(5, 60_000);
        l.captured(51, 5, 60_000, 60_000);
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
        a.captured(90, 9, 10_000, 10_000);
        let mut b = Ledger::default();
        b.looked_up(9, at(2), 70_000);
        b.held(9, 30_000);
        b.captured(91, 9, 30_000, 30_000);
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

    /// A captured basket 70 on voucher 7: lines 0 and 1 of 10 000 and 20 000 tiyn discount.
    fn one_sale() -> Ledger {
        let mut l = Ledger::default();
        l.looked_up(7, at(0), 100_000);
        l.held(7, 30_000);
        l.captured(70, 7, 30_000, 30_000);
        l
    }

    #[test]
    fn a_refund_moved_twice_shows() {
        // The server gave line 1 back twice and acknowledged both: its balance agrees with the
        // books, but the books see line 1 refunded twice, and more refunded than charged.
        let mut l = one_sale();
        l.refunded(70, &refund(7, &[1], 20_000));
        l.refunded(70, &refund(7, &[1], 20_000));
        assert!(l.cross_check(&HashMap::from([(7, 110_000)])).mismatches.is_empty());
        let twice: Vec<(i64, Vec<usize>)> = l.refunded_twice().map(|(id, b)| (id, b.twice.clone())).collect();
        assert_eq!(twice, vec![(70, vec![1])]);
        assert_eq!(l.refunds(), (2, 40_000));

        // It gave line 1 back twice but acknowledged once: the balance is 20 000 over the books.
        let mut l = one_sale();
        l.refunded(70, &refund(7, &[1], 20_000));
        assert_eq!(l.refunded_twice().count(), 0);
        let check = l.cross_check(&HashMap::from([(7, 110_000)]));
        assert_eq!(check.mismatches, vec![(7, 90_000, 90_000, 110_000)]);
        assert!(l.cross_check(&HashMap::from([(7, 90_000)])).mismatches.is_empty());

        // A whole refund and a refund of one of its lines, both acknowledged.
        let mut l = one_sale();
        l.refunded(70, &refund(7, &[0, 1], 30_000));
        l.refunded(70, &refund(7, &[0], 10_000));
        let (id, books) = l.refunded_twice().next().expect("caught");
        assert_eq!((id, books.twice.as_slice(), books.refunded, books.charged), (70, &[0][..], 40_000, 30_000));

        // Two different lines, once each: nothing twice.
        let mut l = one_sale();
        l.refunded(70, &refund(7, &[0], 10_000));
        l.refunded(70, &refund(7, &[1], 20_000));
        assert_eq!(l.refunded_twice().count(), 0);
        assert_eq!(l.cross_check(&HashMap::from([(7, 100_000)])).mismatches, vec![]);
    }

    #[test]
    fn refunds_of_one_basket_at_two_tills_meet_in_the_merge() {
        let mut a = one_sale();
        a.refunded(70, &refund(7, &[1], 20_000));
        let mut b = Ledger::default();
        b.refunded(70, &refund(7, &[1], 20_000));
        a.merge(b);
        assert_eq!(a.refunded_twice().map(|(id, _)| id).collect::<Vec<_>>(), vec![70]);
    }

    #[test]
    fn a_refund_answer_is_read_per_voucher() {
        let body = |vouchers: serde_json::Value| {
            serde_json::json!({"refund_id": 1, "basket_id": 70, "status": "partly_refunded", "lines": [1],
                               "refunded_tiyn": 20_000, "vouchers": vouchers})
        };
        let one = body(serde_json::json!([{"voucher_id": 7, "charged_tiyn": 10_000, "balance_tiyn": 90_000}]));
        assert_eq!(RefundAnswer::parse(&one, 7), Ok(refund(7, &[1], 20_000)));
        assert_eq!(RefundAnswer::parse(&one, 8), Err("refund_to_another_voucher"));
        let two = body(serde_json::json!([{"voucher_id": 7}, {"voucher_id": 8}]));
        assert_eq!(RefundAnswer::parse(&two, 7), Err("refund_over_several_vouchers"));
        assert_eq!(RefundAnswer::parse(&serde_json::json!({"lines": [1]}), 7), Err("answer_without_amount"));
    }
}
