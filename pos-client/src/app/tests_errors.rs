//! Refusals, by the server and by the till itself, and what the cashier is told.

use azyq_shared::api::*;

use super::keyring::tests::{at, document, token};
use super::tests_flow::*;
use super::*;

fn api_error(status: u16, code: &str, details: serde_json::Value) -> ClientError {
    let mut detail = serde_json::json!({"code": code, "message": "сообщение сервера"});
    if let (Some(d), Some(extra)) = (detail.as_object_mut(), details.as_object()) {
        d.extend(extra.clone());
    }
    ClientError::Api { status, body: ErrorBody { error: serde_json::from_value(detail).unwrap() } }
}

fn authorise_fails(app: &mut App, err: ClientError) -> IdempotencyKey {
    let cmds = key(app, Key::F(2));
    let [Command::Authorize { key: k, .. }] = &cmds[..] else { panic!("{cmds:?}") };
    let k = k.clone();
    reply(app, Reply::Authorize(Err(err)));
    k
}

#[test]
fn insufficient_balance_reopens_the_basket_with_a_new_key_next_time() {
    let mut app = logged_in();
    basket_ready(&mut app);
    let k1 =
        authorise_fails(&mut app, api_error(422, "insufficient_balance", serde_json::json!({"balance_tiyn": 10_000})));
    assert_eq!(app.sale.stage, Stage::Open);
    let m = app.message.clone().unwrap();
    assert_eq!(m.code, Some("insufficient_balance"));
    assert!(m.what.plain(Lang::Ru).contains("доступно 100,00 ₸"), "{}", m.what.ru);
    assert!(m.todo.plain(Lang::Ru).contains("Уберите часть товаров"));
    // The cashier removes the flour and sends again: a new basket, a new key.
    key(&mut app, Key::Down);
    key(&mut app, Key::Delete);
    assert_eq!(app.sale.lines.len(), 1);
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { key: k2, request }] = &cmds[..] else { panic!() };
    assert_ne!(&k1, k2);
    assert_eq!(request.lines.len(), 1);
}

#[test]
fn discount_over_cap_on_line_2_selects_that_line() {
    let mut app = logged_in();
    basket_ready(&mut app);
    key(&mut app, Key::Up);
    assert_eq!(app.sale.selected, Some(0));
    authorise_fails(
        &mut app,
        api_error(422, "discount_over_cap", serde_json::json!({"line": 1, "cap_bp": 1500, "max_discount_tiyn": 4500})),
    );
    assert_eq!(app.sale.selected, Some(1));
    let m = app.message.clone().unwrap();
    assert!(m.what.plain(Lang::Ru).starts_with("Строка 2: скидка на товар больше допустимой"), "{}", m.what.ru);
    assert!(m.what.plain(Lang::Ru).contains("45,00 ₸"));
    // F4 opens that line on the price at fault, the reduced one, not on the quantity.
    key(&mut app, Key::F(4));
    assert_eq!(app.sale.edit.as_ref().map(|e| (e.line, e.field)), Some((1, 2)));
    // Flour is sold by weight: the cap is per kg.
    assert!(m.what.ru.ends_with("за кг)"), "{}", m.what.ru);
    // Once saved, the next F4 starts where it always does.
    key(&mut app, Key::Enter);
    key(&mut app, Key::F(4));
    assert_eq!(app.sale.edit.as_ref().map(|e| (e.line, e.field)), Some((1, 0)));
}

#[test]
fn a_quantity_refused_by_the_server_puts_f4_on_the_quantity() {
    let mut app = logged_in();
    basket_ready(&mut app);
    let err = api_error(400, "validation", serde_json::json!({"field": "lines[0].quantity", "line": 0}));
    authorise_fails(&mut app, err);
    assert_eq!(app.sale.selected, Some(0));
    assert_eq!(app.message.as_ref().unwrap().what.ru, "Строка 1: сервер не принял данные (количество)");
    key(&mut app, Key::F(4));
    assert_eq!(app.sale.edit.as_ref().map(|e| (e.line, e.field)), Some((0, 0)));
    // An incomplete line found before sending does the same: F4 lands on what is missing.
    key(&mut app, Key::Esc);
    app.sale.lines[0].reduced = None;
    key(&mut app, Key::F(2));
    key(&mut app, Key::F(4));
    assert_eq!(app.sale.edit.as_ref().map(|e| (e.line, e.field)), Some((0, 2)));
}

#[test]
fn refunding_a_line_refunded_before_says_so_in_a_plain_sentence() {
    let mut app = refund_of_41();
    key(&mut app, Key::Tab);
    key(&mut app, Key::Char('2'));
    key(&mut app, Key::BackTab);
    assert_eq!(app.refund.focus, 0);
    key(&mut app, Key::Enter);
    reply(&mut app, Reply::Refund(Err(api_error(409, "basket_state", serde_json::json!({"line": 1})))));
    let m = app.message.clone().unwrap();
    assert_eq!(m.what.ru, "Строка 2 этой покупки уже возвращена");
    assert_eq!(m.what.kk, "Бұл сатып алудың 2-жолы қайтарылып қойған");
    assert!(m.todo.ru.starts_with("Проверьте номера строк по чеку"));
    assert_eq!(app.refund.focus, 1, "the lines field is where the fix is");
}

#[test]
fn the_till_warns_of_a_discount_over_the_cap_before_sending() {
    let mut app = logged_in();
    scan(&mut app, MILK);
    key(&mut app, Key::F(4));
    key(&mut app, Key::BackTab);
    for _ in 0..6 {
        key(&mut app, Key::Backspace);
    }
    scan(&mut app, "300");
    let m = app.message.clone().unwrap();
    assert!(m.what.plain(Lang::Ru).contains("не больше 67,50 ₸"), "{}", m.what.ru);
    assert_eq!(app.sale.lines[0].within_cap(), Some(false));
}

#[test]
fn tokens_are_refused_locally_with_the_server_words() {
    let mut app = logged_in();
    // Tampered: one character of the signature changed.
    let mut forged = token(1, 1, 0);
    let last = forged.len() - 5;
    let swap = if &forged[last..last + 1] == "A" { "B" } else { "A" };
    forged.replace_range(last..last + 1, swap);
    assert!(scan(&mut app, &forged).is_empty());
    assert_eq!(app.message.as_ref().unwrap().code, Some("token_invalid"));
    // Cut short by the scanner.
    assert!(scan(&mut app, &token(1, 1, 0)[..100]).is_empty());
    assert_eq!(app.message.as_ref().unwrap().code, Some("token_invalid"));
    // Caps Lock: the prefix in lower case is still taken for a token, and refused.
    assert!(scan(&mut app, &token(1, 1, 0).replacen("AZ1:", "az1:", 1)).is_empty());
    assert_eq!(app.message.as_ref().unwrap().code, Some("token_invalid"));
    // Expired: shown at 09:25.
    app.handle(Event::Tick(at(9, 25)));
    assert!(scan(&mut app, &token(1, 1, 0)).is_empty());
    let m = app.message.clone().unwrap();
    assert_eq!(m.code, Some("token_expired"));
    assert!(m.todo.plain(Lang::Ru).contains("обновить QR-код"));
}

#[test]
fn an_unknown_kid_fetches_the_keys_once_then_refuses() {
    let mut app = logged_in();
    let t = token(1, 7, 0);
    let cmds = scan(&mut app, &t);
    assert!(matches!(&cmds[..], [Command::FetchKeys]), "{cmds:?}");
    let cmds = reply(&mut app, Reply::Keys(Ok(document(1))));
    assert!(cmds.is_empty(), "no second fetch, no look-up");
    assert_eq!(app.message.as_ref().unwrap().code, Some("unknown_key"));
    // After a rotation the new kid is published: the same scan goes through.
    let cmds = scan(&mut app, &t);
    assert!(matches!(&cmds[..], [Command::FetchKeys]));
    let cmds = reply(&mut app, Reply::Keys(Ok(document(7))));
    assert!(matches!(&cmds[..], [Command::Lookup { token }] if token == &t));
}

#[test]
fn a_token_that_expires_before_authorise_is_refused_then_replaced() {
    let mut app = logged_in();
    basket_ready(&mut app);
    app.handle(Event::Tick(at(9, 26)));
    assert!(key(&mut app, Key::F(2)).is_empty());
    assert_eq!(app.message.as_ref().unwrap().code, Some("token_expired"));
}

#[test]
fn lookup_refusals_are_explained_and_nothing_is_added() {
    let mut app = logged_in();
    let t = token(3, 1, 3);
    scan(&mut app, &t);
    reply(
        &mut app,
        Reply::Lookup { token: t.clone(), result: Err(api_error(409, "token_used", serde_json::json!({}))) },
    );
    let m = app.message.clone().unwrap();
    assert_eq!(m.what.ru, "Этот QR-код уже использован для другой покупки");
    assert!(app.sale.vouchers.is_empty() && app.sale.lookups.is_empty());
    scan(&mut app, &t);
    let mut empty = found(3, 0);
    empty.status = VoucherStatus::Exhausted;
    reply(&mut app, Reply::Lookup { token: t, result: Ok(empty) });
    assert_eq!(app.message.as_ref().unwrap().code, Some("voucher_exhausted"));
    assert!(app.sale.vouchers.is_empty());
}

#[test]
fn product_codes_are_checked_at_the_till() {
    let mut app = logged_in();
    scan(&mut app, NOT_SZPT);
    assert_eq!(app.message.as_ref().unwrap().code, Some("not_szpt_product"));
    // A Russian keyboard layout turns the scanner's Latin letters into Cyrillic ones.
    scan(&mut app, &format!("010{EGGS}21ФЫВ"));
    assert!(app.message.as_ref().unwrap().what.plain(Lang::Ru).contains("раскладку"), "{:?}", app.message);
    // Expired yesterday (Almaty date 2026-12-03).
    scan(&mut app, &format!("(01)0{EGGS}(17)261202(21)A1"));
    assert_eq!(app.message.as_ref().unwrap().code, Some("product_expired"));
    // A serialised pack is sold once per basket; a GS the scanner typed as the control char works.
    scan(&mut app, &format!("010{EGGS}21SER1\u{1d}17271231"));
    assert!(app.message.is_none(), "{:?}", app.message);
    scan(&mut app, &format!("(01)0{EGGS}(21)SER1(17)271231"));
    assert!(app.message.as_ref().unwrap().what.plain(Lang::Ru).contains("уже в покупке"));
    assert_eq!(app.sale.lines.len(), 1);
}

#[test]
fn hold_expired_at_capture_reopens_the_basket() {
    let mut app = logged_in();
    basket_ready(&mut app);
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!() };
    reply(&mut app, Reply::Authorize(Ok(authorized(request, 45))));
    key(&mut app, Key::Enter);
    reply(&mut app, Reply::Capture(Err(api_error(409, "hold_expired", serde_json::json!({})))));
    assert_eq!(app.screen, Screen::Sale);
    assert_eq!(app.sale.stage, Stage::Open);
    assert!(app.sale.vouchers.is_empty());
    assert_eq!(app.message.as_ref().unwrap().code, Some("hold_expired"));
}

#[test]
fn an_ended_session_logs_in_again_and_comes_back_to_the_sale() {
    let mut app = logged_in();
    scan(&mut app, MILK);
    let t = token(1, 1, 1);
    scan(&mut app, &t);
    reply(&mut app, Reply::Lookup { token: t, result: Err(api_error(401, "unauthorized", serde_json::json!({}))) });
    assert_eq!(app.screen, Screen::Login);
    assert_eq!(app.message.as_ref().unwrap().code, Some("unauthorized"));
    let cmds = scan(&mut app, "secret2");
    assert!(matches!(&cmds[..], [Command::Login { .. }]));
    let session = SessionResponse { token: "jwt2".into(), expires_at: at(18, 0), role: Role::Cashier };
    reply(&mut app, Reply::Login(Ok(session)));
    assert_eq!(app.screen, Screen::Sale);
    assert_eq!(app.sale.lines.len(), 1, "the basket survived the new log-in");
}

#[test]
fn bad_credentials_and_an_unreachable_server_say_what_to_do() {
    let mut app = App::new(LoginForm::new("http://127.0.0.1:9", "S1", "T1", "k"), at(9, 0));
    scan(&mut app, "wrong");
    reply(&mut app, Reply::Login(Err(api_error(401, "invalid_credentials", serde_json::json!({})))));
    assert_eq!(app.screen, Screen::Login);
    assert_eq!(app.login.focus, login::PASSWORD);
    assert_eq!(app.message.as_ref().unwrap().code, Some("invalid_credentials"));
    scan(&mut app, "right");
    reply(&mut app, Reply::Login(Err(ClientError::Network("connection refused".into()))));
    let m = app.message.clone().unwrap();
    assert_eq!(m.what.ru, "Нет связи с сервером");
    assert!(m.todo.plain(Lang::Ru).contains("адрес сервера"));
    assert_eq!(app.login.focus, login::SERVER);
}

#[test]
fn nothing_is_sent_for_an_incomplete_basket() {
    let mut app = logged_in();
    assert!(key(&mut app, Key::F(2)).is_empty());
    assert!(app.message.as_ref().unwrap().what.plain(Lang::Ru).contains("нет ваучера"));
    scan_voucher(&mut app, 1, 432_500);
    assert!(key(&mut app, Key::F(2)).is_empty());
    assert!(app.message.as_ref().unwrap().what.plain(Lang::Ru).contains("нет товаров"));
    scan(&mut app, &format!("0{FLOUR}"));
    key(&mut app, Key::Esc);
    assert!(key(&mut app, Key::F(2)).is_empty());
    assert_eq!(app.message.as_ref().unwrap().what.ru, "Строка 1: не указано количество");
}

#[test]
fn quitting_asks_first_and_says_what_a_sale_in_progress_loses() {
    let mut app = logged_in();
    key(&mut app, Key::Ctrl('q'));
    assert_eq!(app.confirm, Some(Confirm::Quit(QuitRisk::Nothing)));
    key(&mut app, Key::Esc);
    assert!(!app.quit);
    // A basket being built would be lost: the question says so.
    basket_ready(&mut app);
    key(&mut app, Key::Ctrl('q'));
    assert_eq!(app.confirm, Some(Confirm::Quit(QuitRisk::Unsent { lines: 2, vouchers: 1 })));
    let question = app.confirm.unwrap().question(Lang::Ru);
    assert!(question.starts_with("Покупка не отправлена и пропадёт (строк:\u{a0}2, ваучеров:\u{a0}1)."), "{question}");
    assert!(app.confirm.unwrap().question(Lang::Kk).contains("жоғалады"));
    key(&mut app, Key::Esc);
    // Authorised and not paid: the hold is named.
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!("{cmds:?}") };
    reply(&mut app, Reply::Authorize(Ok(authorized(request, 47))));
    key(&mut app, Key::Ctrl('q'));
    assert_eq!(app.confirm, Some(Confirm::Quit(QuitRisk::Unpaid { basket_id: 47 })));
    assert!(app.confirm.unwrap().question(Lang::Ru).contains("Покупка № 47 не оплачена"));
    key(&mut app, Key::Enter);
    assert!(app.quit);
}

#[test]
fn a_refused_qr_code_stays_noted_while_goods_are_scanned() {
    let mut app = logged_in();
    let t = token(4, 1, 4);
    scan(&mut app, &t);
    scan(&mut app, MILK);
    reply(&mut app, Reply::Lookup { token: t, result: Err(api_error(422, "wrong_region", serde_json::json!({}))) });
    scan(&mut app, MILK);
    let note = app.sale.voucher_note.as_ref().map(|p| p.ru.as_str());
    assert_eq!(note, Some("Ваучер выдан в другом регионе — здесь им платить нельзя"));
    scan_voucher(&mut app, 5, 100_000);
    assert_eq!(app.sale.voucher_note, None);
}

#[test]
fn a_code_scanned_into_the_line_form_is_taken_as_a_scan() {
    let mut app = logged_in();
    // Flour has no last price: the form opens on the price, and the cashier scans on regardless.
    scan(&mut app, &format!("(01)0{FLOUR}(3103)001000"));
    assert_eq!(app.sale.edit.as_ref().map(|e| e.field), Some(1));
    scan(&mut app, &format!("(01)0{EGGS}(21)X1"));
    assert!(app.sale.edit.is_none());
    assert_eq!(app.sale.lines.len(), 2);
    assert_eq!(app.sale.lines[0].shelf, None, "the code did not become a price");
    // Eggs are complete, so the note reminds of the flour line.
    assert!(app.message.as_ref().unwrap().what.plain(Lang::Ru).starts_with("Строка 1 (Мука"));
    // A plain 12- or 8-digit barcode too, though it is all digits.
    for code in ["600000000015", "96385074"] {
        key(&mut app, Key::Up);
        key(&mut app, Key::Up);
        key(&mut app, Key::F(4));
        assert_eq!(app.sale.edit.as_ref().map(|e| (e.line, e.field)), Some((0, 1)));
        scan(&mut app, code);
        assert!(app.sale.edit.is_none(), "{code}");
        assert_eq!(app.sale.lines[0].shelf, None, "{code}");
    }
    // A voucher QR code scanned into the form goes to its look-up.
    key(&mut app, Key::Up);
    key(&mut app, Key::F(4));
    let t = token(1, 1, 1);
    let cmds = scan(&mut app, &t);
    assert!(matches!(&cmds[..], [Command::Lookup { token }] if token == &t));
    assert!(app.sale.edit.is_none());
}
