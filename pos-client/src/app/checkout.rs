//! Sending the basket: authorise, payment, capture, the receipt, and cancelling the hold.

use azyq_shared::api::{
    AuthorizeRequest, Authorized, BasketState, BasketStatus, CaptureRequest, Captured, ErrorCode, Payment,
    PaymentMethod,
};

use super::basket::{Field, Line};
use super::sale::{Fault, Keyed};
use super::{App, Command, Confirm, Key, Message, Sale, Screen, Stage};
use crate::client::{ClientError, IdempotencyKey};
use crate::i18n::{self, Phrase, T};

impl App {
    /// F2: sends the basket, or re-sends it unchanged when the last answer was lost.
    pub(super) fn authorize(&mut self) -> Vec<Command> {
        if !self.can_act() {
            return Vec::new();
        }
        if let Stage::Authorizing(keyed) = &self.sale.stage {
            let (key, request) = (keyed.key.clone(), keyed.request.clone());
            self.busy = Some(T::BusyAuthorize);
            return vec![Command::Authorize { key, request }];
        }
        if !self.sale.is_open() {
            return Vec::new();
        }
        if !self.sale.lookups.is_empty() || !self.sale.awaiting_keys.is_empty() {
            self.message = Some(Message::info(T::QrStillChecked, T::WaitThenF2));
            return Vec::new();
        }
        if self.sale.vouchers.is_empty() {
            self.message = Some(Message::error(T::NoVoucher, T::ScanCustomerQr));
            return Vec::new();
        }
        if self.sale.lines.is_empty() {
            self.message = Some(Message::error(T::NoGoods, T::ScanGoods));
            return Vec::new();
        }
        if let Some((i, why)) = self.sale.lines.iter().enumerate().find_map(|(i, l)| l.incomplete().map(|w| (i, w))) {
            self.sale.selected = Some(i);
            self.sale.fault = Some(Fault { line: i, field: why.field() });
            let what = Phrase::new(|lang| i18n::line_says(lang, i + 1, &why.text(lang)));
            self.message = Some(Message::error(what, T::PressF4AndFix));
            return Vec::new();
        }
        // A QR code lives a few minutes: check again, the same way as when it was scanned.
        for v in &self.sale.vouchers {
            if let Err(e) = self.keys.check(&v.token, self.now) {
                let mut m = Message::for_token_error(&e);
                m.what = m.what.map(|lang, what| i18n::voucher_says(lang, &v.holder, what));
                self.message = Some(m);
                return Vec::new();
            }
        }
        let request = AuthorizeRequest {
            tokens: self.sale.vouchers.iter().map(|v| v.token.clone()).collect(),
            lines: self.sale.lines.iter().filter_map(Line::to_request).collect(),
        };
        let key = IdempotencyKey::new();
        self.sale.stage = Stage::Authorizing(Keyed { key: key.clone(), request: request.clone(), unknown: false });
        self.busy = Some(T::BusyAuthorize);
        vec![Command::Authorize { key, request }]
    }

    pub(super) fn authorize_reply(&mut self, result: Result<Authorized, ClientError>) -> Vec<Command> {
        self.busy = None;
        match result {
            Ok(auth) => {
                self.sale.stage =
                    Stage::Authorized { auth, method: PaymentMethod::Cash, capture: None, cancelling: false };
                self.screen = Screen::Payment;
                self.message = None;
            }
            Err(e) if e.outcome_unknown() => {
                if let Stage::Authorizing(keyed) = &mut self.sale.stage {
                    keyed.unknown = true;
                }
                self.message = Some(Message::unknown_outcome(T::BusyAuthorize, &e, "F2"));
            }
            Err(e) => {
                // The server answered: no hold was placed, the basket can be changed and sent anew.
                self.sale.stage = Stage::Open;
                if let Some(line) = e.detail_i64("line").and_then(|l| usize::try_from(l).ok()) {
                    if line < self.sale.lines.len() {
                        self.sale.selected = Some(line);
                        self.sale.fault = faulty_field(&e).map(|field| Fault { line, field });
                    }
                }
                self.request_failed(&e, T::AuthorizeFailed, T::Retry);
            }
        }
        Vec::new()
    }

    pub(super) fn payment_key(&mut self, key: Key) -> Vec<Command> {
        let Stage::Authorized { method, capture, .. } = &mut self.sale.stage else {
            self.screen = Screen::Sale;
            return Vec::new();
        };
        // Once a capture was sent, its body (and so the method) stays as it was.
        let locked = capture.is_some();
        match key {
            Key::Left | Key::Right | Key::Tab | Key::BackTab if !locked => {
                *method = match method {
                    PaymentMethod::Cash => PaymentMethod::Card,
                    PaymentMethod::Card => PaymentMethod::Cash,
                }
            }
            Key::Char('1') if !locked => *method = PaymentMethod::Cash,
            Key::Char('2') if !locked => *method = PaymentMethod::Card,
            Key::Enter => return self.capture(),
            Key::F(8) => self.ask_cancel(),
            Key::Esc => {
                self.message = Some(Message::info(T::AwaitingPayment, T::EnterPaidF8Cancel));
            }
            _ => {}
        }
        Vec::new()
    }

    fn ask_cancel(&mut self) {
        if self.can_act() {
            self.confirm = Some(Confirm::CancelBasket);
        }
    }

    /// Enter on the payment screen: the customer paid `to_pay`; the hold becomes a charge.
    fn capture(&mut self) -> Vec<Command> {
        if !self.can_act() {
            return Vec::new();
        }
        let Stage::Authorized { auth, method, capture, .. } = &mut self.sale.stage else { return Vec::new() };
        let keyed = capture.get_or_insert_with(|| Keyed {
            key: IdempotencyKey::new(),
            request: CaptureRequest { payment: Payment { method: *method, paid_tiyn: auth.to_pay_tiyn } },
            unknown: false,
        });
        let command =
            Command::Capture { basket_id: auth.basket_id, key: keyed.key.clone(), request: keyed.request.clone() };
        self.busy = Some(T::BusyCapture);
        vec![command]
    }

    pub(super) fn capture_reply(&mut self, result: Result<Captured, ClientError>) -> Vec<Command> {
        self.busy = None;
        let Stage::Authorized { capture, .. } = &mut self.sale.stage else { return Vec::new() };
        match result {
            Ok(captured) => {
                if self.refund.pending.is_none() {
                    self.refund.basket = captured.basket_id.to_string();
                    self.refund.lines.clear();
                    self.refund.done = None;
                }
                self.sale.stage = Stage::Captured(captured);
                self.screen = Screen::Receipt;
                self.message = None;
            }
            Err(e) if e.outcome_unknown() => {
                if let Some(keyed) = capture.as_mut() {
                    keyed.unknown = true;
                }
                self.message = Some(Message::unknown_outcome(T::Payment, &e, "Enter"));
            }
            Err(e) => {
                *capture = None;
                match e.code() {
                    // The hold is gone and the QR codes are spent: the basket must be authorised anew.
                    Some(ErrorCode::HoldExpired) => self.reopen_after_hold(Message::for_code(ErrorCode::HoldExpired)),
                    _ => self.request_failed(&e, T::PaymentFailed, T::Retry),
                }
            }
        }
        Vec::new()
    }

    pub(super) fn cancel_basket(&mut self) -> Vec<Command> {
        let Stage::Authorized { auth, cancelling, .. } = &mut self.sale.stage else { return Vec::new() };
        *cancelling = true;
        let basket_id = auth.basket_id;
        self.busy = Some(T::BusyCancel);
        vec![Command::Cancel { basket_id }]
    }

    pub(super) fn cancel_reply(&mut self, result: Result<BasketState, ClientError>) -> Vec<Command> {
        self.busy = None;
        let Stage::Authorized { cancelling, .. } = &mut self.sale.stage else { return Vec::new() };
        *cancelling = false;
        match result {
            Ok(state) if state.status == BasketStatus::Captured => self.already_captured(),
            Ok(_) => self.reopen_after_hold(Message::done(T::Cancelled, T::SellAgainWithNewQr)),
            Err(e) if e.code() == Some(ErrorCode::HoldExpired) => {
                self.reopen_after_hold(Message::for_code(ErrorCode::HoldExpired))
            }
            Err(e)
                if e.code() == Some(ErrorCode::BasketState)
                    && e.detail_str("status") == Some(BasketStatus::Captured.as_str()) =>
            {
                self.already_captured()
            }
            Err(e) if crate::offline::nothing_sent(&e) => {
                self.offline = true;
                self.message = Some(Message::needs_link());
            }
            Err(e) => self.request_failed(&e, T::CancelFailed, T::PressF8Retry),
        }
        Vec::new()
    }

    /// The basket turned out captured (an earlier capture went through): the receipt comes from
    /// sending that capture again with its key.
    fn already_captured(&mut self) {
        self.message = Some(Message::info(T::AlreadyPaid, T::EnterForReceipt));
    }

    /// Back to building the basket: lines kept, vouchers dropped (their QR codes are spent).
    fn reopen_after_hold(&mut self, message: Message) {
        self.sale.stage = Stage::Open;
        self.sale.vouchers.clear();
        self.screen = Screen::Sale;
        self.message = Some(message);
    }

    pub(super) fn receipt_key(&mut self, key: Key) -> Vec<Command> {
        match key {
            Key::Enter | Key::Esc => {
                self.sale = Sale::default();
                self.screen = Screen::Sale;
            }
            Key::F(9) => {
                let basket = match &self.sale.stage {
                    Stage::Captured(c) => Some(c.basket_id),
                    _ => None,
                };
                self.open_refund(basket);
            }
            Key::F(10) => self.open_report(),
            _ => {}
        }
        Vec::new()
    }
}

/// The field of a line that a refusal of authorise names: the reduced price for a discount over
/// the cap, the field a validation error gives; none where the line as a whole is refused.
fn faulty_field(e: &ClientError) -> Option<Field> {
    match e.code()? {
        ErrorCode::DiscountOverCap => Some(Field::Reduced),
        ErrorCode::PriceOverLimit => Some(Field::Shelf),
        ErrorCode::Validation => e.detail_str("field").and_then(Field::of_api),
        _ => None,
    }
}
