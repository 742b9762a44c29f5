//! The screens drawn on a `TestBackend`: every screen snapshotted as text (insta) at 80 × 24 and
//! 120 × 40 in Russian and Kazakh, and checked at 80 × 24 for what a snapshot could silently
//! accept: a key hint or a figure of money cut.

use azyq_shared::api::*;
use azyq_shared::Tiyn;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::app::keyring::tests::at;
use crate::app::tests_flow::*;
use crate::app::{basket, App, Command, Event, Key, LoginForm, Message, Reply, Screen, Stage};
use crate::client::ClientError;
use crate::i18n::{Lang, Phrase};

/// The screen as plain text, one line per row, trailing spaces cut, no-break spaces plain.
fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| super::draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for row in buffer.content.chunks(usize::from(width)) {
        let line: String = row.iter().map(|c| c.symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.replace('\u{a0}', " ")
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

fn login_typed() -> App {
    let mut app = App::new(LoginForm::new("http://127.0.0.1:8080", "S1", "T1", "kassa1"), at(9, 20));
    type_in(&mut app, "secret");
    app
}

/// The line editor on the flour, a product sold by weight.
fn editing_by_weight() -> App {
    let mut app = sale_with_basket();
    key(&mut app, Key::Up);
    key(&mut app, Key::F(4));
    assert_eq!(app.sale.edit.as_ref().map(|e| e.line), Some(1));
    app
}

fn cap_refused() -> App {
    let mut app = sale_with_basket();
    let body = serde_json::from_value(serde_json::json!(
        {"error": {"code": "discount_over_cap", "message": "x", "line": 1, "cap_bp": 1500, "max_discount_tiyn": 4500}}
    ))
    .unwrap();
    key(&mut app, Key::F(2));
    reply(&mut app, Reply::Authorize(Err(ClientError::Api { status: 422, body })));
    app
}

fn paying() -> App {
    let mut app = sale_with_basket();
    authorise(&mut app);
    app.handle(Event::Tick(at(9, 21)));
    app
}

fn receipt() -> App {
    let mut app = sale_with_basket();
    let auth = authorise(&mut app);
    key(&mut app, Key::Enter);
    reply(&mut app, Reply::Capture(Ok(captured(&auth, PaymentMethod::Cash, at(9, 21)))));
    app
}

fn refund_done() -> App {
    let mut app = refund_of_41();
    key(&mut app, Key::Enter);
    let voucher = VoucherCharge { voucher_id: 1, charged_tiyn: Tiyn::new(-17_000), balance_tiyn: Tiyn::new(432_500) };
    let refund = Refund { refund_id: 5, ..refund_of(BasketStatus::Refunded, vec![0, 1], 17_000, vec![voucher]) };
    reply(&mut app, Reply::Refund(Ok(refund)));
    app
}

fn report() -> App {
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
        discount_tiyn: Tiyn::new(1_234_500),
        paid_tiyn: Tiyn::new(9_876_500),
        refunded_tiyn: Tiyn::new(12_000),
        by_group: vec![
            GroupTotal { group: "milk".into(), pieces: 30, grams: 0, discount_tiyn: Tiyn::new(180_000) },
            GroupTotal { group: "flour".into(), pieces: 0, grams: 12_500, discount_tiyn: Tiyn::new(50_000) },
            GroupTotal { group: "retired".into(), pieces: 2, grams: 0, discount_tiyn: Tiyn::new(1_700_000) },
        ],
    };
    reply(&mut app, Reply::Report(Ok(report)));
    app
}

/// Two vouchers, a long name sold by weight at big prices, a line without prices, and more
/// discount than the vouchers hold: the most a sale screen has to fit.
fn crowded_sale() -> App {
    let mut app = logged_in();
    scan_voucher(&mut app, 1, 432_500);
    scan_voucher(&mut app, 2, 10_000);
    scan(&mut app, MILK);
    let beef = PosProduct {
        gtin: "04600000000053".into(),
        group: "beef".into(),
        name: "Говядина лопаточно-грудная часть, охлаждённая, весовая".into(),
        unit: Unit::Kg,
        discount_cap_bp: 1500,
        last_shelf_price_tiyn: Some(Tiyn::new(543_210)),
        last_reduced_price_tiyn: Some(Tiyn::new(461_729)),
        max_shelf_price_tiyn: None,
        plu: None,
    };
    app.sale.lines.push(basket::Line::new("0104600000000053".into(), None, &beef, 12_345));
    scan(&mut app, &format!("0{FLOUR}"));
    key(&mut app, Key::Esc);
    app
}

fn quitting_with_a_basket() -> App {
    let mut app = sale_with_basket();
    key(&mut app, Key::Ctrl('q'));
    app
}

/// The server out of reach with three sales waiting, on the sale screen.
fn offline_with_waiting() -> App {
    let mut app = sale_with_basket();
    app.offline = true;
    app.waiting = 3;
    app
}

/// An offline sale checked and waiting for its payment: nothing held, the sale written when paid.
fn offline_paying() -> App {
    let mut app = offline_with_waiting();
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!("{cmds:?}") };
    let auth = authorized(request, crate::desk::OFFLINE_BASKET);
    reply(&mut app, Reply::Authorize(Ok(auth)));
    app
}

/// The receipt of an offline sale.
fn offline_receipt() -> App {
    let mut app = offline_paying();
    let Stage::Authorized { auth, .. } = &app.sale.stage else { panic!("not paying") };
    let auth = auth.clone();
    key(&mut app, Key::Enter);
    reply(&mut app, Reply::Capture(Ok(captured(&auth, PaymentMethod::Cash, at(9, 21)))));
    app.waiting = 4;
    app
}

/// Back online, one sale still being uploaded.
fn uploading() -> App {
    let mut app = logged_in();
    app.waiting = 1;
    app
}

/// Every screen the cashier meets, by name.
fn screens() -> Vec<(&'static str, App)> {
    vec![
        ("login", login_typed()),
        ("sale", sale_with_basket()),
        ("sale_crowded", crowded_sale()),
        ("line_editor_by_weight", editing_by_weight()),
        ("cap_refused", cap_refused()),
        ("payment", paying()),
        ("receipt", receipt()),
        ("refund_done", refund_done()),
        ("report", report()),
        ("quit_with_a_basket", quitting_with_a_basket()),
        ("limit_refused_before_sending", crate::app::tests_rules::over_limit()),
        ("recall_warned_at_scan", crate::app::tests_rules::recall_warned()),
        ("offline_banner", offline_with_waiting()),
        ("uploading_banner", uploading()),
        ("offline_payment", offline_paying()),
        ("offline_receipt", offline_receipt()),
    ]
}

fn in_lang(mut app: App, lang: Lang) -> App {
    app.lang = lang;
    app
}

#[test]
fn every_screen_at_80x24_and_120x40_in_both_languages() {
    for (name, app) in screens() {
        for lang in Lang::ALL {
            let app = in_lang(app.clone(), lang);
            for (w, h) in [(80, 24), (120, 40)] {
                insta::assert_snapshot!(format!("{name}_{w}x{h}_{}", lang.code()), render(&app, w, h));
            }
        }
    }
}

/// The figures of money the screen shows, from the state it draws.
fn figures(app: &App) -> Vec<Tiyn> {
    let mut out = Vec::new();
    if app.confirm.is_some() || app.sale.edit.is_some() {
        // A window over the screen: what is under it is not shown.
        return out;
    }
    match (app.screen, &app.sale.stage) {
        (Screen::Sale, _) => {
            out.extend(app.sale.vouchers.iter().map(|v| v.balance));
            for l in &app.sale.lines {
                out.extend(l.shelf.into_iter().chain(l.reduced));
                out.extend(l.amounts().into_iter().flat_map(|a| [a.discount, a.to_pay]));
            }
            let totals = basket::totals(&app.sale.lines);
            out.extend([totals.discount, totals.to_pay]);
        }
        (Screen::Payment, Stage::Authorized { auth, .. }) => {
            out.extend([auth.discount_tiyn, auth.to_pay_tiyn]);
            out.extend(auth.vouchers.iter().flat_map(|v| [v.charged_tiyn, v.balance_tiyn]));
        }
        (Screen::Receipt, Stage::Captured(c)) => {
            let r = &c.receipt;
            for l in &r.lines {
                out.extend([l.shelf_price_tiyn, l.reduced_price_tiyn, l.discount_tiyn, l.to_pay_tiyn]);
            }
            out.extend([r.discount_tiyn, r.payment.paid_tiyn]);
            out.extend(r.vouchers.iter().flat_map(|v| [v.charged_tiyn, v.balance_tiyn]));
        }
        (Screen::Refund, _) => {
            if let Some(done) = &app.refund.done {
                out.push(done.refunded_tiyn);
                out.extend(done.vouchers.iter().map(|v| v.balance_tiyn));
            }
        }
        (Screen::Report, _) => {
            if let Some(r) = &app.report.report {
                out.extend([r.discount_tiyn, r.paid_tiyn, r.refunded_tiyn]);
                out.extend(r.by_group.iter().map(|g| g.discount_tiyn));
            }
        }
        _ => {}
    }
    out
}

/// Whether `needle` stands in `text` with no digit glued to either side (so not cut, not part of
/// a longer number, not broken over two rows).
fn whole(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == ',') && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn at_80x24_every_key_hint_and_every_figure_of_money_is_whole() {
    for (name, app) in screens() {
        for lang in Lang::ALL {
            let app = in_lang(app.clone(), lang);
            let text = render(&app, 80, 24);
            for (key, what) in super::key_hints(&app) {
                assert!(text.contains(&format!("{key} {what}")), "{name} {lang:?}: hint «{key} {what}» cut:\n{text}");
            }
            for figure in figures(&app) {
                let digits = figure.to_string().trim_end_matches(" ₸").to_owned();
                assert!(whole(&text, &digits), "{name} {lang:?}: {digits} cut:\n{text}");
            }
            // A message's words stand whole, its figures (joined by no-break spaces) included.
            let said = app.message.iter().flat_map(|m| [m.what.get(lang).to_owned(), m.todo.get(lang).to_owned()]);
            for sentence in said.collect::<Vec<_>>() {
                for word in sentence.split(' ').filter(|w| w.chars().any(|c| c.is_ascii_digit())) {
                    assert!(text.contains(&word.replace('\u{a0}', " ")), "{name} {lang:?}: «{word}» cut:\n{text}");
                }
            }
            if let Some(confirm) = app.confirm {
                for word in confirm.question(lang).split([' ', '\n']) {
                    assert!(
                        text.contains(&word.replace('\u{a0}', " ")),
                        "{name} {lang:?}: «{word}» of the question cut:\n{text}"
                    );
                }
            }
        }
    }
    assert!(
        whole("К оплате: 1 805,00 ₸", "1 805,00") && !whole("1 805,0", "1 805,00") && !whole("21 805,00", "1 805,00")
    );
}

#[test]
fn what_matters_is_on_screen() {
    let text = render(&login_typed(), 80, 24);
    assert!(text.contains("Вход кассира"));
    assert!(text.contains("••••••") && !text.contains("secret"), "the password is never shown");
    let text = render(&sale_with_basket(), 80, 24);
    assert!(text.contains("А*** Б***") && text.contains("4 325,00 ₸"));
    assert!(text.contains("Молоко 2,5% 1 л") && text.contains("2 шт") && text.contains("1 250 г"));
    assert!(text.contains("Яйца С1 10 шт · SER1") && text.contains("300,00 ₸/кг"));
    assert!(!text.contains("AZ1:"), "no token on screen");
    let text = render(&in_lang(sale_with_basket(), Lang::Kk), 80, 24);
    assert!(text.contains("2 дана") && text.contains("F12 русский") && text.contains("Ctrl+Q шығу"));
    let text = render(&editing_by_weight(), 80, 24);
    assert!(text.contains("Цена на полке за кг, ₸") && text.contains("1250") && text.contains("= 1,250 кг"));
    assert!(text.contains("Группа: Мука пшеничная первого сорта"));
    let text = render(&in_lang(editing_by_weight(), Lang::Kk), 80, 24);
    assert!(text.contains("Сөредегі баға (кг үшін), ₸") && text.contains("Тобы: Бірінші сұрыпты бидай ұны"));
    let text = render(&cap_refused(), 80, 24);
    assert!(text.contains("Строка 2: скидка на товар больше допустимой") && text.contains("45,00 ₸ за кг"));
    assert!(text.contains("(F4)") && text.contains("[discount_over_cap]"));
    let text = render(&paying(), 80, 24);
    assert!(text.contains("К ОПЛАТЕ:") && text.contains("1 805,00 ₸"));
    assert!(text.contains("Резерв скидки действует ещё 10:00"));
    let text = render(&receipt(), 80, 24);
    assert!(text.contains("Чек · оплачено") && text.contains("Покупка № 41   03.12.2026 14:21:00"));
    assert!(text.contains("1 805,00 ₸ (наличные)"));
    let text = render(&refund_done(), 80, 24);
    assert!(text.contains("Возврат № 5 по покупке № 41: возвращена полностью") && text.contains("Строки: 1, 2"));
    let text = render(&report(), 80, 24);
    assert!(text.contains("Магазин S1 · 2026-12-03") && text.contains("12 345,00 ₸"));
    assert!(text.contains("Молоко пастеризованное 2.5% жирности") && !text.contains("milk"));
    assert!(text.contains("retired"), "a group the catalogue does not name shows its code");
    let text = render(&in_lang(report(), Lang::Kk), 80, 24);
    assert!(text.contains("S1 дүкені · 2026-12-03") && text.contains("Жирлігі 2.5% пастерленген сүт"));
    // The price limit on the line, and the refusal before sending with the line and the limit.
    let text = render(&crate::app::tests_rules::over_limit(), 120, 40);
    assert!(text.contains("Предел цены") && text.contains("450,00 ₸") && text.contains("300,00 ₸/кг"), "{text}");
    assert!(text.contains("Строка 1: цена на полке выше предельной (не больше 450,00 ₸ за шт)"), "{text}");
    let text = render(&crate::app::tests_rules::over_limit(), 80, 24);
    assert!(text.contains("Предел цены") && text.contains("(не больше 450,00 ₸ за шт)"), "{text}");
    let text = render(&crate::app::tests_rules::recall_warned(), 80, 24);
    assert!(text.contains("Товар отозван: листерия в партии") && text.contains("[product_recalled]"), "{text}");
    let text = render(&in_lang(crate::app::tests_rules::recall_warned(), Lang::Kk), 80, 24);
    assert!(text.contains("Тауар кері қайтарылған: листерия в партии"), "{text}");
    let text = render(&quitting_with_a_basket(), 80, 24);
    assert!(text.contains("Покупка не отправлена и пропадёт") && text.contains("Выйти из программы кассы?"));
}

#[test]
fn unknown_outcome_message() {
    let mut app = sale_with_basket();
    key(&mut app, Key::F(2));
    reply(&mut app, Reply::Authorize(Err(ClientError::Timeout)));
    let text = render(&app, 120, 40);
    assert!(text.contains("ответ не получен — F2 повторить"));
    assert!(text.contains("повтор не спишет деньги дважды"));
}

#[test]
fn every_screen_draws_in_a_tiny_terminal_without_panicking() {
    let mut states: Vec<App> = screens().into_iter().map(|(_, app)| app).collect();
    states.push(App::new(LoginForm::default(), at(9, 0)));
    let mut long = receipt();
    long.message = Some(Message::error(
        Phrase::new(|_| "очень длинное сообщение ".repeat(20)),
        Phrase::new(|_| "и что делать ".repeat(20)),
    ));
    states.push(long);
    for (w, h) in [(1, 1), (20, 5), (40, 12), (80, 24)] {
        for state in &states {
            for lang in Lang::ALL {
                let state = in_lang(state.clone(), lang);
                let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
                terminal.draw(|f| super::draw(f, &state)).unwrap();
            }
        }
    }
}
