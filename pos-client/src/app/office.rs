//! Away from the counter flow: refund of a recent basket, and the shop's daily report.

use azyq_shared::api::{PosDailyReport, Refund, RefundRequest};
use azyq_shared::BusinessDay;

use super::sale::Keyed;
use super::{edit_text, App, Command, Key, Message, Screen};
use crate::client::{ClientError, IdempotencyKey};
use crate::i18n::{self, Phrase, T};

/// The refund form: basket number and lines (as numbered on the receipt, from 1; empty: all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundForm {
    pub basket: String,
    pub lines: String,
    /// 0 basket, 1 lines.
    pub focus: usize,
    /// The refund sent and not yet answered for certain; re-sent unchanged.
    pub pending: Option<(i64, Keyed<RefundRequest>)>,
    pub done: Option<Refund>,
}

/// The daily report screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportView {
    /// `YYYY-MM-DD`; empty for today.
    pub date: String,
    pub report: Option<PosDailyReport>,
    pub loading: bool,
    /// The group row ↑↓ went to, so that a long list scrolls into sight.
    pub selected: Option<usize>,
}

impl App {
    pub(super) fn open_refund(&mut self, basket: Option<i64>) {
        if !self.can_act() {
            return;
        }
        if self.refund.pending.is_none() {
            if let Some(id) = basket {
                self.refund.basket = id.to_string();
                self.refund.lines.clear();
                self.refund.done = None;
            }
        }
        self.back = self.screen;
        self.screen = Screen::Refund;
    }

    pub(super) fn open_report(&mut self) {
        self.back = self.screen;
        self.screen = Screen::Report;
    }

    pub(super) fn refund_key(&mut self, key: Key) -> Vec<Command> {
        let locked = self.refund.pending.is_some();
        match key {
            Key::Esc => {
                if self.refund.pending.as_ref().is_some_and(|(_, k)| k.unknown) {
                    self.message = Some(Message::info(T::RefundMayHaveGone, T::BackToRefundF9));
                }
                self.screen = self.back;
            }
            Key::Tab | Key::BackTab | Key::Up | Key::Down if !locked => {
                self.refund.focus = 1 - self.refund.focus.min(1)
            }
            Key::Enter => return self.submit_refund(),
            Key::Char(c) if !locked && (c.is_ascii_digit() || c == ',' || c == ' ') => {
                let field = if self.refund.focus == 0 { &mut self.refund.basket } else { &mut self.refund.lines };
                edit_text(field, key, 60);
                self.refund.done = None;
            }
            Key::Backspace if !locked => {
                let field = if self.refund.focus == 0 { &mut self.refund.basket } else { &mut self.refund.lines };
                field.pop();
                self.refund.done = None;
            }
            _ => {}
        }
        Vec::new()
    }

    fn submit_refund(&mut self) -> Vec<Command> {
        if !self.can_act() {
            return Vec::new();
        }
        if self.refund.pending.is_none() {
            let Some(basket_id) = self.refund.basket.trim().parse::<i64>().ok().filter(|id| *id > 0) else {
                self.refund.focus = 0;
                self.message = Some(Message::error(T::NoBasketNo, T::TypeBasketNo));
                return Vec::new();
            };
            let Some(lines) = parse_lines(&self.refund.lines) else {
                self.refund.focus = 1;
                self.message = Some(Message::error(T::BadLineNumbers, T::ListLineNumbers));
                return Vec::new();
            };
            let keyed = Keyed { key: IdempotencyKey::new(), request: RefundRequest { lines }, unknown: false };
            self.refund.pending = Some((basket_id, keyed));
        }
        let Some((basket_id, keyed)) = &self.refund.pending else { return Vec::new() };
        self.busy = Some(T::Refund);
        vec![Command::Refund { basket_id: *basket_id, key: keyed.key.clone(), request: keyed.request.clone() }]
    }

    pub(super) fn refund_reply(&mut self, result: Result<Refund, ClientError>) -> Vec<Command> {
        self.busy = None;
        match result {
            Ok(refund) => {
                self.refund.pending = None;
                let (basket_id, refunded) = (refund.basket_id, refund.refunded_tiyn);
                let what = Phrase::new(|lang| i18n::refund_done(lang, basket_id, refunded));
                self.message = Some(Message::done(what, T::GiveMoneyBack));
                self.refund.done = Some(refund);
            }
            Err(e) if e.outcome_unknown() => {
                if let Some((_, keyed)) = self.refund.pending.as_mut() {
                    keyed.unknown = true;
                }
                self.message = Some(Message::unknown_outcome(T::Refund, &e, "Enter"));
            }
            Err(e) if crate::offline::nothing_sent(&e) => {
                self.refund.pending = None;
                self.offline = true;
                self.message = Some(Message::needs_link());
            }
            Err(e) => {
                self.refund.pending = None;
                // A line refunded before, or one the basket does not have: the lines are at fault.
                if e.detail_i64("line").is_some() || e.detail_str("field") == Some("lines") {
                    self.refund.focus = 1;
                }
                self.request_failed(&e, T::RefundFailed, T::Retry);
            }
        }
        Vec::new()
    }

    pub(super) fn report_key(&mut self, key: Key) -> Vec<Command> {
        match key {
            Key::Esc => self.screen = self.back,
            Key::Enter | Key::F(10) => {
                let date = self.report.date.trim();
                let day = if date.is_empty() { Ok(BusinessDay::of(self.now)) } else { BusinessDay::parse(date) };
                let Ok(day) = day else {
                    self.message = Some(Message::error(T::BadDate, T::TypeDate));
                    return Vec::new();
                };
                self.report.loading = true;
                return vec![Command::Report { date: day.date().format("%Y-%m-%d").to_string() }];
            }
            Key::Char(c) if c.is_ascii_digit() || c == '-' => {
                edit_text(&mut self.report.date, key, 10);
            }
            Key::Backspace => {
                self.report.date.pop();
            }
            Key::Up | Key::Down => {
                let groups = self.report.report.as_ref().map_or(0, |r| r.by_group.len());
                let last = groups.checked_sub(1);
                self.report.selected = match (key, self.report.selected) {
                    (Key::Down, Some(i)) => last.map(|l| (i + 1).min(l)),
                    (Key::Up, Some(i)) => Some(i.saturating_sub(1)),
                    _ => last.map(|_| 0),
                };
            }
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn report_reply(&mut self, result: Result<PosDailyReport, ClientError>) -> Vec<Command> {
        self.report.loading = false;
        match result {
            Ok(report) => {
                self.report.report = Some(report);
                self.report.selected = None;
            }
            Err(e) => self.request_failed(&e, T::ReportFailed, T::PressEnterRetry),
        }
        Vec::new()
    }
}

/// "1, 3" (receipt numbering, from 1) → API indexes [0, 2]; empty → `None` (every line).
pub fn parse_lines(text: &str) -> Option<Option<Vec<usize>>> {
    let parts: Vec<&str> = text.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Some(None);
    }
    let mut lines = Vec::with_capacity(parts.len());
    for p in parts {
        let n: usize = p.parse().ok().filter(|n| *n > 0)?;
        let index = n - 1;
        if !lines.contains(&index) {
            lines.push(index);
        }
    }
    Some(Some(lines))
}
