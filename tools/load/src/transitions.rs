//! Contended transitions of one basket: the pairs of capture, cancel and refund the load sends from
//! two tills at the same instant, what a server that serialises them may answer, and the verdict
//! on what it did answer. The verdict replays the pair on a model of the basket in both orders
//! (and with the hold running out before, between or after them): the answers and the basket's
//! final state must be those of one order.

use std::collections::{BTreeMap, BTreeSet};

use azyq_shared::api::BasketStatus;
use clap::ValueEnum;
use rand::Rng;
use serde_json::Value;

use crate::client::Reply;

/// Two transitions of one basket sent at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Pair {
    /// Two captures of an authorised basket, each with its own key: one wins.
    CaptureCapture,
    /// A capture and a cancel of an authorised basket: one wins.
    CaptureCancel,
    /// Two cancels of an authorised basket: both answer `cancelled`.
    CancelCancel,
    /// Two refunds of the same line of a captured basket, each with its own key: one wins.
    RefundSameLine,
    /// Refunds of two different lines of a captured basket: both win.
    RefundTwoLines,
    /// A whole refund and a refund of one line of a captured basket.
    RefundWholeLine,
}

impl Pair {
    /// Every pair, in report order.
    pub const ALL: [Pair; 6] = [
        Pair::CaptureCapture,
        Pair::CaptureCancel,
        Pair::CancelCancel,
        Pair::RefundSameLine,
        Pair::RefundTwoLines,
        Pair::RefundWholeLine,
    ];

    /// The pair's name in the report, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Pair::CaptureCapture => "capture-capture",
            Pair::CaptureCancel => "capture-cancel",
            Pair::CancelCancel => "cancel-cancel",
            Pair::RefundSameLine => "refund-same-line",
            Pair::RefundTwoLines => "refund-two-lines",
            Pair::RefundWholeLine => "refund-whole-line",
        }
    }

    /// Whether the pair races on a captured basket (refunds) rather than on an authorised one.
    pub fn on_captured(self) -> bool {
        matches!(self, Pair::RefundSameLine | Pair::RefundTwoLines | Pair::RefundWholeLine)
    }

    /// The two transitions for a basket of `lines` lines (at least 2): lines drawn at random, and
    /// which till sends which of two different transitions too.
    pub fn steps(self, lines: usize, rng: &mut impl Rng) -> [Step; 2] {
        let n = lines.max(2);
        let line = rng.gen_range(0..n);
        let steps = match self {
            Pair::CaptureCapture => [Step::Capture, Step::Capture],
            Pair::CaptureCancel => [Step::Capture, Step::Cancel],
            Pair::CancelCancel => [Step::Cancel, Step::Cancel],
            Pair::RefundSameLine => [Step::Refund(Some(line)), Step::Refund(Some(line))],
            // Another line: 1 to n - 1 lines further on, around the basket.
            Pair::RefundTwoLines => [Step::Refund(Some(line)), Step::Refund(Some((line + rng.gen_range(1..n)) % n))],
            Pair::RefundWholeLine => [Step::Refund(None), Step::Refund(Some(line))],
        };
        let [a, b] = steps;
        if rng.gen_bool(0.5) {
            [b, a]
        } else {
            [a, b]
        }
    }
}

/// A transition a till asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Capture,
    Cancel,
    /// A refund of one line, or of the whole basket (`None`: every line not refunded yet).
    Refund(Option<usize>),
}

impl Step {
    /// The step as the report names it.
    pub fn describe(self) -> String {
        match self {
            Step::Capture => "capture".into(),
            Step::Cancel => "cancel".into(),
            Step::Refund(None) => "refund {}".into(),
            Step::Refund(Some(l)) => format!("refund {{\"lines\":[{l}]}}"),
        }
    }
}

/// A basket as the model of the server's rules sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basket {
    pub status: BasketStatus,
    /// Indexes of the refunded lines.
    pub refunded: BTreeSet<usize>,
    /// How many lines it has.
    pub lines: usize,
}

/// An answer to one transition, reduced to what the verdict compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: the status it names and, for a refund, the lines it refunded.
    Done { status: BasketStatus, lines: Vec<usize> },
    /// 409 with this code, naming the basket's status (and, for a line refunded already, the line).
    Refused { code: &'static str, status: BasketStatus, line: Option<usize> },
}

impl Basket {
    /// A basket of `lines` lines in `status`, nothing refunded.
    pub fn new(status: BasketStatus, lines: usize) -> Basket {
        Basket { status, refunded: BTreeSet::new(), lines }
    }

    fn refused(&self, code: &'static str, line: Option<usize>) -> Answer {
        Answer::Refused { code, status: self.status, line }
    }

    /// Applies one transition as the server's rules do; answers what the server answers.
    fn apply(&mut self, step: Step) -> Answer {
        use BasketStatus::*;
        let done = |status, lines| Answer::Done { status, lines };
        match (step, self.status) {
            (Step::Capture | Step::Cancel, HoldExpired) => self.refused("hold_expired", None),
            (Step::Capture, Authorized) => {
                self.status = Captured;
                done(Captured, vec![])
            }
            // Cancelling a cancelled basket answers the same.
            (Step::Cancel, Authorized | Cancelled) => {
                self.status = Cancelled;
                done(Cancelled, vec![])
            }
            (Step::Refund(wanted), Captured | PartlyRefunded) => {
                let chosen: Vec<usize> = match wanted {
                    None => (0..self.lines).filter(|l| !self.refunded.contains(l)).collect(),
                    Some(l) if self.refunded.contains(&l) => return self.refused("basket_state", Some(l)),
                    Some(l) => vec![l],
                };
                self.refunded.extend(&chosen);
                self.status = if self.refunded.len() >= self.lines { Refunded } else { PartlyRefunded };
                done(self.status, chosen)
            }
            _ => self.refused("basket_state", None),
        }
    }

    /// The hold runs out (the scheduler, or a transition that finds it run out, releases it).
    fn expire(&mut self) {
        if self.status == BasketStatus::Authorized {
            self.status = BasketStatus::HoldExpired;
        }
    }
}

/// Whether an answer seen is the one expected: the same status and lines; a refusal with the same
/// code and status, and the same line when one is expected.
fn agrees(expected: &Answer, seen: &Answer) -> bool {
    match (expected, seen) {
        (Answer::Refused { code: c, status: s, line: Some(l) }, Answer::Refused { code: c2, status: s2, line: l2 }) => {
            c == c2 && s == s2 && l2 == &Some(*l)
        }
        (Answer::Refused { code: c, status: s, line: None }, Answer::Refused { code: c2, status: s2, .. }) => {
            c == c2 && s == s2
        }
        (e, s) => e == s,
    }
}

/// How one contended pair came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The answers and the final state are those of the two transitions in one order.
    Right,
    /// They are of no order: two winners where one is allowed, a 2xx or a loser's status the final
    /// state contradicts, a refund amount its lines do not carry, or a 5xx.
    Wrong(String),
    /// No verdict: no answer, an unexpected refusal, an unreadable basket, or a hold that ran out.
    Other(String),
}

/// A reply reduced to an [`Answer`], or the verdict it forces on its own.
fn answer_of(step: Step, reply: &Reply) -> Result<Answer, Verdict> {
    let status_in = |v: &Value| v["status"].as_str().and_then(BasketStatus::parse);
    if reply.status == 0 {
        return Err(Verdict::Other("no answer".into()));
    }
    if reply.status >= 500 {
        return Err(Verdict::Wrong(format!("HTTP {}", reply.status)));
    }
    if reply.ok() {
        let status =
            status_in(&reply.body).ok_or_else(|| Verdict::Wrong("a 2xx without the basket's status".into()))?;
        let lines = match step {
            Step::Refund(_) => reply.body["lines"]
                .as_array()
                .and_then(|ls| ls.iter().map(|l| l.as_u64().and_then(|l| usize::try_from(l).ok())).collect())
                .ok_or_else(|| Verdict::Wrong("a refund's 2xx without its lines".into()))?,
            _ => vec![],
        };
        return Ok(Answer::Done { status, lines });
    }
    let code = match reply.code() {
        "basket_state" => "basket_state",
        "hold_expired" => "hold_expired",
        other => return Err(Verdict::Other(format!("HTTP {} {other}", reply.status))),
    };
    let error = &reply.body["error"];
    let status = status_in(error).ok_or_else(|| Verdict::Wrong(format!("a {code} without the basket's status")))?;
    let line = error["line"].as_u64().and_then(|l| usize::try_from(l).ok());
    Ok(Answer::Refused { code, status, line })
}

/// The basket as `GET /api/v1/pos/baskets/{id}` answered it, and each line's discount.
fn final_of(reply: &Reply) -> Result<(Basket, Vec<i64>), Verdict> {
    let unreadable = || Verdict::Other(format!("the basket could not be read back ({})", reply.describe()));
    if !reply.ok() {
        return Err(unreadable());
    }
    let status = reply.body["status"].as_str().and_then(BasketStatus::parse).ok_or_else(unreadable)?;
    let lines = reply.body["lines"].as_array().ok_or_else(unreadable)?;
    let mut basket = Basket::new(status, lines.len());
    let mut discounts = vec![0; lines.len()];
    for line in lines {
        let index = line["index"].as_u64().and_then(|i| usize::try_from(i).ok()).filter(|i| *i < lines.len());
        let (Some(index), Some(discount)) = (index, line["discount_tiyn"].as_i64()) else { return Err(unreadable()) };
        discounts[index] = discount;
        if line["refunded"].as_bool() == Some(true) {
            basket.refunded.insert(index);
        }
    }
    Ok((basket, discounts))
}

/// Judges one contended pair: `start` is the basket before it, `steps` and `replies` the two
/// transitions and their answers, `read_back` the basket read after both answered.
pub fn judge(start: &Basket, steps: [Step; 2], replies: [&Reply; 2], read_back: &Reply) -> Verdict {
    let answers: Vec<Result<Answer, Verdict>> = steps.iter().zip(replies).map(|(s, r)| answer_of(*s, r)).collect();
    // An answer that decides alone: a wrong one outweighs a missing one.
    let forced = answers.iter().filter_map(|a| a.as_ref().err()).min_by_key(|v| matches!(v, Verdict::Other(_)));
    if let Some(v) = forced {
        return v.clone();
    }
    let answers: Vec<Answer> = answers.into_iter().filter_map(Result::ok).collect();
    let (end, discounts) = match final_of(read_back) {
        Ok(read) => read,
        Err(v) => return v,
    };
    // Every refund answered 2xx gave back exactly what its lines carry.
    for ((step, answer), reply) in steps.iter().zip(&answers).zip(replies) {
        if let (Step::Refund(_), Answer::Done { lines, .. }) = (step, answer) {
            let carried: i64 = lines.iter().filter_map(|l| discounts.get(*l)).sum();
            let amount = reply.int("refunded_tiyn");
            if amount != Some(carried) {
                return Verdict::Wrong(format!("a refund answered {amount:?} tiyn for lines carrying {carried} tiyn"));
            }
        }
    }
    let mut with_expiry = false;
    for order in [[0, 1], [1, 0]] {
        // The hold may run out before the first, between them, after both, or not at all.
        for expiry in [None, Some(0), Some(1), Some(2)] {
            let mut model = start.clone();
            let mut expected: [Option<Answer>; 2] = [None, None];
            for (at, &side) in order.iter().enumerate() {
                if expiry == Some(at) {
                    model.expire();
                }
                expected[side] = Some(model.apply(steps[side]));
            }
            if expiry == Some(2) {
                model.expire();
            }
            let fits = expected.iter().zip(&answers).all(|(e, a)| e.as_ref().is_some_and(|e| agrees(e, a)));
            if fits && model.status == end.status && model.refunded == end.refunded {
                match expiry {
                    None => return Verdict::Right,
                    Some(_) => with_expiry = true,
                }
            }
        }
    }
    if with_expiry {
        return Verdict::Other("the answers fit only a hold that ran out".into());
    }
    Verdict::Wrong(format!(
        "no order of the two gives these answers and a basket now {} with lines {:?} refunded",
        end.status.as_str(),
        end.refunded
    ))
}

/// One transition of a pair as it was sent: what, under which key, to which server.
pub struct Sent<'a> {
    pub step: Step,
    pub key: &'a str,
    pub server: &'a str,
}

/// An answer in a few words: the status and code, the basket status and line it names, and for a
/// refund what it gave back.
fn brief(reply: &Reply) -> String {
    if reply.status == 0 {
        return format!("no answer ({})", reply.body["transport"].as_str().unwrap_or("-"));
    }
    let said = if reply.ok() { &reply.body } else { &reply.body["error"] };
    let mut text = format!("HTTP {}", reply.status);
    if !reply.ok() {
        text.push_str(&format!(" {}", reply.code()));
    }
    for field in ["status", "line", "lines", "refunded_tiyn"] {
        if !said[field].is_null() {
            text.push_str(&format!(" {field}={}", said[field]));
        }
    }
    text
}

/// A contended pair in one line, to find it in the servers' logs: the basket, each request with
/// its key and server and what it answered, the basket read back, and the verdict.
pub fn describe(
    basket: i64,
    pair: Pair,
    sent: &[Sent; 2],
    replies: [&Reply; 2],
    read_back: &Reply,
    verdict: &Verdict,
) -> String {
    let mut text = format!("basket {basket}, {}:", pair.name());
    for (s, reply) in sent.iter().zip(replies) {
        let key = match s.step {
            Step::Cancel => String::new(),
            _ => format!(" (Idempotency-Key {})", s.key),
        };
        text.push_str(&format!(" {} at {}{key} -> {};", s.step.describe(), s.server, brief(reply)));
    }
    let back = match final_of(read_back) {
        Ok((b, _)) => format!("{} with lines {:?} refunded", b.status.as_str(), b.refunded),
        Err(_) => brief(read_back),
    };
    let why = match verdict {
        Verdict::Right => "right",
        Verdict::Wrong(why) | Verdict::Other(why) => why,
    };
    format!("{text} read back: {back}; {why}")
}

/// Contended pairs by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub right: u64,
    pub wrong: u64,
    pub other: u64,
}

/// The outcomes of every contended pair of transitions, by pair, and the first few wrong and
/// other ones described.
#[derive(Debug, Default)]
pub struct Races {
    by_pair: BTreeMap<Pair, Tally>,
    /// Descriptions of wrong pairs (the first [`NOTES`] of each till).
    pub wrong_notes: Vec<String>,
    /// Descriptions of pairs without a verdict (the first [`NOTES`] of each till).
    pub other_notes: Vec<String>,
}

/// Descriptions of each kind a till keeps.
const NOTES: usize = 5;

impl Races {
    /// Counts one pair; `describe` tells its requests and answers, for the first few not right.
    pub fn count(&mut self, pair: Pair, verdict: &Verdict, describe: impl FnOnce() -> String) {
        let tally = self.by_pair.entry(pair).or_default();
        let notes = match verdict {
            Verdict::Right => {
                tally.right += 1;
                return;
            }
            Verdict::Wrong(_) => {
                tally.wrong += 1;
                &mut self.wrong_notes
            }
            Verdict::Other(_) => {
                tally.other += 1;
                &mut self.other_notes
            }
        };
        if notes.len() < NOTES {
            notes.push(describe());
        }
    }

    /// Adds another till's outcomes to these.
    pub fn merge(&mut self, other: Races) {
        for (pair, t) in other.by_pair {
            let mine = self.by_pair.entry(pair).or_default();
            mine.right += t.right;
            mine.wrong += t.wrong;
            mine.other += t.other;
        }
        self.wrong_notes.extend(other.wrong_notes);
        self.other_notes.extend(other.other_notes);
    }

    /// All pairs together.
    pub fn total(&self) -> Tally {
        self.by_pair.values().fold(Tally::default(), |a, t| Tally {
            right: a.right + t.right,
            wrong: a.wrong + t.wrong,
            other: a.other + t.other,
        })
    }

    /// Prints the totals and one line per pair; nothing when no pair ran.
    pub fn print(&self) {
        let all = self.total();
        let pairs = all.right + all.wrong + all.other;
        if pairs == 0 {
            return;
        }
        println!(
            "contended transitions: {pairs}; right {}; wrong {}; other outcomes {}",
            all.right, all.wrong, all.other
        );
        for (pair, t) in &self.by_pair {
            println!("contended {:<18} right {:>5}  wrong {:>3}  other {:>3}", pair.name(), t.right, t.wrong, t.other);
        }
        for note in self.other_notes.iter().take(NOTES) {
            println!("  other: {note}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;
    use std::time::Duration;
    use BasketStatus::*;

    fn reply(status: u16, body: Value) -> Reply {
        Reply { status, body, elapsed: Duration::ZERO }
    }

    fn done(status: BasketStatus) -> Reply {
        reply(200, json!({"basket_id": 1, "status": status.as_str()}))
    }

    fn refunded(status: BasketStatus, lines: &[usize], tiyn: i64) -> Reply {
        reply(200, json!({"status": status.as_str(), "lines": lines, "refunded_tiyn": tiyn}))
    }

    fn lost(code: &str, status: BasketStatus, line: Option<usize>) -> Reply {
        let mut error = json!({"code": code, "status": status.as_str()});
        if let Some(l) = line {
            error["line"] = json!(l);
        }
        reply(409, json!({ "error": error }))
    }

    /// The basket read back: three lines of 100, 200 and 300 tiyn discount.
    fn read(status: BasketStatus, refunded: &[usize]) -> Reply {
        let lines: Vec<Value> = (0..3)
            .map(|i| json!({"index": i, "discount_tiyn": 100 * (i as i64 + 1), "refunded": refunded.contains(&i)}))
            .collect();
        reply(200, json!({"status": status.as_str(), "lines": lines}))
    }

    fn verdict(start: BasketStatus, steps: [Step; 2], replies: [&Reply; 2], back: &Reply) -> Verdict {
        judge(&Basket::new(start, 3), steps, replies, back)
    }

    fn is_wrong(v: &Verdict) -> bool {
        matches!(v, Verdict::Wrong(_))
    }

    #[test]
    fn one_capture_wins_the_other_is_told() {
        let steps = [Step::Capture, Step::Capture];
        let (won, told) = (done(Captured), lost("basket_state", Captured, None));
        let back = read(Captured, &[]);
        assert_eq!(verdict(Authorized, steps, [&won, &told], &back), Verdict::Right);
        assert_eq!(verdict(Authorized, steps, [&told, &won], &back), Verdict::Right);
        // Two winners, a loser told a status that is not the basket's, a basket left otherwise.
        assert!(is_wrong(&verdict(Authorized, steps, [&won, &won], &back)));
        let misled = lost("basket_state", Authorized, None);
        assert!(is_wrong(&verdict(Authorized, steps, [&won, &misled], &back)));
        assert!(is_wrong(&verdict(Authorized, steps, [&won, &told], &read(Cancelled, &[]))));
        // A 500 is a bug whatever else happened; no answer is no verdict.
        let broken = reply(500, json!({"error": {"code": "internal"}}));
        assert!(is_wrong(&verdict(Authorized, steps, [&won, &broken], &back)));
        let silent = reply(0, json!({}));
        assert!(matches!(verdict(Authorized, steps, [&won, &silent], &back), Verdict::Other(_)));
        assert!(is_wrong(&verdict(Authorized, steps, [&broken, &silent], &back)), "wrong outweighs missing");
    }

    #[test]
    fn capture_or_cancel_whichever_came_first() {
        let steps = [Step::Capture, Step::Cancel];
        let captured = [&done(Captured), &lost("basket_state", Captured, None)];
        assert_eq!(verdict(Authorized, steps, captured, &read(Captured, &[])), Verdict::Right);
        let cancelled = [&lost("basket_state", Cancelled, None), &done(Cancelled)];
        assert_eq!(verdict(Authorized, steps, cancelled, &read(Cancelled, &[])), Verdict::Right);
        // Both won; or the capture won but the basket says cancelled.
        assert!(is_wrong(&verdict(Authorized, steps, [&done(Captured), &done(Cancelled)], &read(Captured, &[]))));
        assert!(is_wrong(&verdict(Authorized, steps, captured, &read(Cancelled, &[]))));
        // The hold ran out first: both told so. Consistent, but no contest: other.
        let expired = lost("hold_expired", HoldExpired, None);
        let v = verdict(Authorized, steps, [&expired, &expired], &read(HoldExpired, &[]));
        assert!(matches!(v, Verdict::Other(_)), "{v:?}");
    }

    #[test]
    fn two_cancels_both_answer_cancelled() {
        let steps = [Step::Cancel, Step::Cancel];
        let c = done(Cancelled);
        assert_eq!(verdict(Authorized, steps, [&c, &c], &read(Cancelled, &[])), Verdict::Right);
        let told = lost("basket_state", Cancelled, None);
        assert!(is_wrong(&verdict(Authorized, steps, [&c, &told], &read(Cancelled, &[]))));
        assert!(is_wrong(&verdict(Authorized, steps, [&c, &c], &read(Authorized, &[]))));
    }

    #[test]
    fn a_line_is_refunded_once() {
        let steps = [Step::Refund(Some(1)), Step::Refund(Some(1))];
        let won = refunded(PartlyRefunded, &[1], 200);
        let told = lost("basket_state", PartlyRefunded, Some(1));
        assert_eq!(verdict(Captured, steps, [&told, &won], &read(PartlyRefunded, &[1])), Verdict::Right);
        assert!(is_wrong(&verdict(Captured, steps, [&won, &won], &read(PartlyRefunded, &[1]))));
        let other_line = lost("basket_state", PartlyRefunded, Some(2));
        assert!(is_wrong(&verdict(Captured, steps, [&won, &other_line], &read(PartlyRefunded, &[1]))));
        // The right lines, the wrong money.
        let greedy = refunded(PartlyRefunded, &[1], 400);
        assert!(is_wrong(&verdict(Captured, steps, [&greedy, &told], &read(PartlyRefunded, &[1]))));
    }

    #[test]
    fn two_lines_both_refunded_whole_and_line_in_either_order() {
        let steps = [Step::Refund(Some(0)), Step::Refund(Some(2))];
        let (a, b) = (refunded(PartlyRefunded, &[0], 100), refunded(PartlyRefunded, &[2], 300));
        assert_eq!(verdict(Captured, steps, [&a, &b], &read(PartlyRefunded, &[0, 2])), Verdict::Right);
        let told = lost("basket_state", PartlyRefunded, Some(2));
        assert!(is_wrong(&verdict(Captured, steps, [&a, &told], &read(PartlyRefunded, &[0]))));

        let steps = [Step::Refund(None), Step::Refund(Some(0))];
        // Whole first: the line finds the basket refunded.
        let whole = refunded(Refunded, &[0, 1, 2], 600);
        let told = lost("basket_state", Refunded, None);
        assert_eq!(verdict(Captured, steps, [&whole, &told], &read(Refunded, &[0, 1, 2])), Verdict::Right);
        // The line first: the whole refund gives back the rest.
        let (rest, line) = (refunded(Refunded, &[1, 2], 500), refunded(PartlyRefunded, &[0], 100));
        assert_eq!(verdict(Captured, steps, [&rest, &line], &read(Refunded, &[0, 1, 2])), Verdict::Right);
        // Both refunded line 0: money for a line went back twice.
        assert!(is_wrong(&verdict(Captured, steps, [&whole, &line], &read(Refunded, &[0, 1, 2]))));
    }

    #[test]
    fn unexpected_refusals_and_unreadable_baskets_are_other() {
        let steps = [Step::Capture, Step::Capture];
        let won = done(Captured);
        let conflict = reply(409, json!({"error": {"code": "idempotency_conflict"}}));
        assert!(matches!(verdict(Authorized, steps, [&won, &conflict], &read(Captured, &[])), Verdict::Other(_)));
        let told = lost("basket_state", Captured, None);
        let gone = reply(0, json!({}));
        assert!(matches!(verdict(Authorized, steps, [&won, &told], &gone), Verdict::Other(_)));
        // A loser not told the status is wrong: the contract says it is.
        let mute = reply(409, json!({"error": {"code": "basket_state"}}));
        assert!(is_wrong(&verdict(Authorized, steps, [&won, &mute], &read(Captured, &[]))));
    }

    #[test]
    fn steps_fit_their_pair() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..500 {
            for pair in Pair::ALL {
                let lines = rng.gen_range(2..=10);
                let steps = pair.steps(lines, &mut rng);
                let refund_lines: Vec<Option<usize>> =
                    steps.iter().filter_map(|s| if let Step::Refund(l) = s { Some(*l) } else { None }).collect();
                assert!(refund_lines.iter().flatten().all(|l| *l < lines));
                match pair {
                    Pair::RefundSameLine => assert_eq!(refund_lines[0], refund_lines[1]),
                    Pair::RefundTwoLines => assert_ne!(refund_lines[0], refund_lines[1]),
                    Pair::RefundWholeLine => assert_eq!(refund_lines.iter().filter(|l| l.is_none()).count(), 1),
                    _ => assert!(refund_lines.is_empty()),
                }
                assert_eq!(pair.on_captured(), refund_lines.len() == 2);
            }
        }
        for pair in Pair::ALL {
            let value = pair.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(value.as_deref(), Some(pair.name()), "the report names a pair as the command line does");
        }
    }

    #[test]
    fn a_pair_is_described_for_the_logs() {
        let steps = [Step::Refund(Some(1)), Step::Refund(None)];
        let sent = [
            Sent { step: steps[0], key: "k-ra", server: "http://127.0.0.1:1" },
            Sent { step: steps[1], key: "k-rb", server: "http://127.0.0.1:2" },
        ];
        let (line, whole) = (refunded(PartlyRefunded, &[1], 200), reply(500, json!({"error": {"code": "internal"}})));
        let back = read(PartlyRefunded, &[1]);
        let verdict = verdict(Captured, steps, [&line, &whole], &back);
        assert_eq!(
            describe(9, Pair::RefundWholeLine, &sent, [&line, &whole], &back, &verdict),
            "basket 9, refund-whole-line: refund {\"lines\":[1]} at http://127.0.0.1:1 (Idempotency-Key k-ra) -> \
             HTTP 200 status=\"partly_refunded\" lines=[1] refunded_tiyn=200; refund {} at http://127.0.0.1:2 \
             (Idempotency-Key k-rb) -> HTTP 500 internal; read back: partly_refunded with lines {1} refunded; HTTP 500"
        );
    }

    #[test]
    fn tallies_merge_and_keep_a_few_notes() {
        let mut a = Races::default();
        for _ in 0..7 {
            a.count(Pair::CaptureCancel, &Verdict::Wrong("x".into()), || "note".into());
        }
        a.count(Pair::CancelCancel, &Verdict::Right, || unreachable!());
        let mut b = Races::default();
        b.count(Pair::CaptureCancel, &Verdict::Other("y".into()), || "other".into());
        a.merge(b);
        assert_eq!(a.total(), Tally { right: 1, wrong: 7, other: 1 });
        assert_eq!(a.by_pair[&Pair::CaptureCancel], Tally { right: 0, wrong: 7, other: 1 });
        assert_eq!((a.wrong_notes.len(), a.other_notes.len()), (NOTES, 1));
    }
}
