//! The screens drawn on a `TestBackend`, snapshotted as text (insta) and checked for what matters.

use azyq_shared::api::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::app::keyring::tests::at;
use crate::app::tests_flow::*;
use crate::app::{App, Command, Event, Key, LoginForm, Message, Reply};
use crate::client::ClientError;
use crate::i18n::{Phrase, T};

/// The screen as plain text, one line per row, trailing spaces cut.
fn render(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(110, 30)).unwrap();
    terminal.draw(|f| super::draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let width = usize::from(buffer.area.width);
    let mut out = String::new();
    for row in buffer.content.chunks(width) {
        let line: String = row.iter().map(|c| c.symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn sale_with_basket() -> App {
    let mut app = logged_in();
    basket_ready(&mut app);
    scan(&mut app, &format!("010{EGGS}21SER1\u{1d}17271231"));
    app
}

fn authorise(app: &mut App) -> Authorized {
    let cmds = key(app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!("{cmds:?}") };
    let auth = authorized(request, 41);
    reply(app, Reply::Authorize(Ok(auth.clone())));
    auth
}

#[test]
fn login_screen() {
    let mut app = App::new(LoginForm::new("http://127.0.0.1:8080", "S1", "T1", "kassa1"), at(9, 20));
    for c in "secret".chars() {
        app.handle(Event::Key(Key::Char(c)));
    }
    let text = render(&app);
    assert!(text.contains("Вход кассира"));
    assert!(text.contains("••••••") && !text.contains("secret"), "the password is never shown");
    insta::assert_snapshot!(text);
}

#[test]
fn sale_with_a_basket() {
    let app = sale_with_basket();
    let text = render(&app);
    assert!(text.contains("А*** Б***") && text.contains("4 325,00 ₸"));
    assert!(text.contains("Молоко 2,5% 1 л") && text.contains("2 шт") && text.contains("1 250 г"));
    assert!(text.contains("Яйца С1 10 шт · SER1"));
    assert!(!text.contains("AZ1:"), "no token on screen");
    insta::assert_snapshot!(text);
}

#[test]
fn line_editor_over_the_basket() {
    let mut app = sale_with_basket();
    key(&mut app, Key::F(4));
    let text = render(&app);
    assert!(text.contains("Строка 3: Яйца С1 10 шт") && text.contains("Цена со скидкой, ₸"));
    insta::assert_snapshot!(text);
}

#[test]
fn an_error_message() {
    let mut app = sale_with_basket();
    let body = serde_json::from_value(serde_json::json!(
        {"error": {"code": "discount_over_cap", "message": "x", "line": 1, "cap_bp": 1500, "max_discount_tiyn": 4500}}
    ))
    .unwrap();
    key(&mut app, Key::F(2));
    reply(&mut app, Reply::Authorize(Err(ClientError::Api { status: 422, body })));
    let text = render(&app);
    assert!(text.contains("Строка 2: скидка на товар больше допустимой"));
    assert!(text.contains("Исправьте цену со скидкой в отмеченной строке (F4)"));
    assert!(text.contains("[discount_over_cap]"));
    insta::assert_snapshot!(text);
}

#[test]
fn unknown_outcome_message() {
    let mut app = sale_with_basket();
    key(&mut app, Key::F(2));
    reply(&mut app, Reply::Authorize(Err(ClientError::Timeout)));
    let text = render(&app);
    assert!(text.contains("ответ не получен — F2 повторить"));
    assert!(text.contains("повтор не спишет деньги дважды"));
}

#[test]
fn payment_screen() {
    let mut app = sale_with_basket();
    authorise(&mut app);
    app.handle(Event::Tick(at(9, 21)));
    let text = render(&app);
    assert!(text.contains("К ОПЛАТЕ:") && text.contains("1 805,00 ₸"));
    assert!(text.contains("Резерв скидки действует ещё 10:00"));
    insta::assert_snapshot!(text);
}

#[test]
fn receipt_screen() {
    let mut app = sale_with_basket();
    let auth = authorise(&mut app);
    key(&mut app, Key::Enter);
    reply(&mut app, Reply::Capture(Ok(captured(&auth, PaymentMethod::Cash, at(9, 21)))));
    let text = render(&app);
    assert!(text.contains("Чек · оплачено") && text.contains("Покупка № 41   03.12.2026 14:21:00"));
    assert!(text.contains("Оплачено покупателем: 1 805,00 ₸ (наличные)"));
    insta::assert_snapshot!(text);
}

#[test]
fn daily_report_screen() {
    let mut app = logged_in();
    key(&mut app, Key::F(10));
    key(&mut app, Key::Enter);
    let report = PosDailyReport {
        date: "2026-12-03".into(),
        shop_id: "S1".into(),
        baskets_captured: 12,
        baskets_cancelled: 1,
        baskets_hold_expired: 2,
        refunds: 1,
        discount_tiyn: 1_234_500,
        paid_tiyn: 9_876_500,
        refunded_tiyn: 12_000,
        by_group: vec![
            GroupTotal { group: "milk".into(), pieces: 30, grams: 0, discount_tiyn: 180_000 },
            GroupTotal { group: "flour".into(), pieces: 0, grams: 12_500, discount_tiyn: 50_000 },
        ],
    };
    reply(&mut app, Reply::Report(Ok(report)));
    let text = render(&app);
    assert!(text.contains("Магазин S1 · 2026-12-03") && text.contains("12 345,00 ₸"));
    insta::assert_snapshot!(text);
}

#[test]
fn refund_done_and_confirm_popup() {
    let mut app = refund_of_41();
    key(&mut app, Key::Enter);
    let refund = Refund {
        refund_id: 5,
        basket_id: 41,
        status: BasketStatus::Refunded,
        lines: vec![0, 1],
        refunded_tiyn: 17_000,
        vouchers: vec![VoucherCharge { voucher_id: 1, charged_tiyn: -17_000, balance_tiyn: 432_500 }],
    };
    reply(&mut app, Reply::Refund(Ok(refund)));
    let text = render(&app);
    assert!(text.contains("Возврат № 5 по покупке № 41: возвращена полностью"));
    assert!(text.contains("Строки: 1, 2"));
    app.message = Some(Message::info(T::Retry, T::Retry));
    key(&mut app, Key::Ctrl('q'));
    assert!(render(&app).contains("Выйти из программы кассы?"));
}

#[test]
fn every_screen_draws_in_a_tiny_terminal_without_panicking() {
    let mut app = sale_with_basket();
    key(&mut app, Key::F(4));
    let mut states = vec![App::new(LoginForm::default(), at(9, 0))];
    states.push(sale_with_basket());
    let mut paying = sale_with_basket();
    authorise(&mut paying);
    states.push(paying);
    states.push(app);
    let mut receipt = sale_with_basket();
    let auth = authorise(&mut receipt);
    key(&mut receipt, Key::Enter);
    reply(&mut receipt, Reply::Capture(Ok(captured(&auth, PaymentMethod::Card, at(9, 21)))));
    receipt.message = Some(Message::error(
        Phrase::new(|_| "очень длинное сообщение ".repeat(20)),
        Phrase::new(|_| "и что делать ".repeat(20)),
    ));
    states.push(receipt);
    let mut refund = logged_in();
    key(&mut refund, Key::F(9));
    states.push(refund);
    let mut report = logged_in();
    key(&mut report, Key::F(10));
    states.push(report);
    for (w, h) in [(1, 1), (20, 5), (40, 12), (80, 24)] {
        for state in &states {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| super::draw(f, state)).unwrap();
        }
    }
}
