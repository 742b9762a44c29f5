//! The counter flow with fabricated server answers: scan a voucher, scan goods, edit prices,
//! authorise, pay, capture, receipt.

use azyq_shared::api::*;
use azyq_shared::Tiyn;
use chrono::{DateTime, Utc};

use super::keyring::tests::{at, document, token};
use super::*;

pub const MILK: &str = "4600000000015";
pub const FLOUR: &str = "4600000000022";
pub const EGGS: &str = "4600000000039";
pub const NOT_SZPT: &str = "4600000000046";

pub fn catalog() -> PosCatalog {
    let p = |gtin: &str, group: &str, name: &str, unit, shelf, reduced| PosProduct {
        gtin: format!("0{gtin}"),
        group: group.into(),
        name: name.into(),
        unit,
        discount_cap_bp: 1500,
        last_shelf_price_tiyn: shelf,
        last_reduced_price_tiyn: reduced,
        max_shelf_price_tiyn: None,
        plu: None,
    };
    PosCatalog {
        products: vec![
            p(MILK, "milk", "Молоко 2,5% 1 л", Unit::Piece, Some(Tiyn::new(45_000)), Some(Tiyn::new(39_000))),
            p(FLOUR, "flour", "Мука пшеничная 1 с", Unit::Kg, None, None),
            p(EGGS, "eggs", "Яйца С1 10 шт", Unit::Piece, Some(Tiyn::new(80_000)), Some(Tiyn::new(70_000))),
        ],
        groups: vec![
            group("milk", "Молоко пастеризованное 2.5% жирности", "Жирлігі 2.5% пастерленген сүт"),
            group("flour", "Мука пшеничная первого сорта", "Бірінші сұрыпты бидай ұны"),
            group("eggs", "Яйца куриные (I категории)", "Тауық жұмыртқасы (I санат)"),
        ],
    }
}

fn group(code: &str, name_ru: &str, name_kk: &str) -> CatalogGroup {
    CatalogGroup { code: code.into(), name_ru: name_ru.into(), name_kk: name_kk.into() }
}

/// A till logged in at 09:20 with keys (kid 1) and catalogue loaded.
pub fn logged_in() -> App {
    let mut app = App::new(LoginForm::new("http://127.0.0.1:8080", "S1", "T1", "kassa1"), at(9, 20));
    for c in "secret".chars() {
        app.handle(Event::Key(Key::Char(c)));
    }
    let cmds = app.handle(Event::Key(Key::Enter));
    assert!(matches!(&cmds[..], [Command::Login { request, .. }] if request.password == "secret"));
    let session = SessionResponse { token: "jwt".into(), expires_at: at(18, 0), role: Role::Cashier };
    let cmds = reply(&mut app, Reply::Login(Ok(session)));
    assert!(matches!(&cmds[..], [Command::FetchKeys, Command::FetchCatalog, Command::FetchRecalls]));
    assert_eq!(app.login.fields[4], "", "the password is forgotten after log-in");
    reply(&mut app, Reply::Keys(Ok(document(1))));
    reply(&mut app, Reply::Catalog(Ok(catalog())));
    reply(&mut app, Reply::Recalls(Ok(Recalls { recalls: Vec::new() })));
    assert_eq!(app.screen, Screen::Sale);
    app
}

pub fn reply(app: &mut App, r: Reply) -> Vec<Command> {
    app.handle(Event::Reply(r))
}

pub fn key(app: &mut App, k: Key) -> Vec<Command> {
    app.handle(Event::Key(k))
}

/// Types like a keyboard-wedge scanner: the characters, then Enter.
pub fn scan(app: &mut App, text: &str) -> Vec<Command> {
    type_in(app, text);
    key(app, Key::Enter)
}

/// A till on the refund screen (F9) with basket 41 typed in.
pub fn refund_of_41() -> App {
    let mut app = logged_in();
    key(&mut app, Key::F(9));
    assert_eq!(app.screen, Screen::Refund);
    type_in(&mut app, "41");
    app
}

/// Refund 1 of basket 41, as the server answers it.
pub fn refund_of(status: BasketStatus, lines: Vec<usize>, refunded_tiyn: i64, vouchers: Vec<VoucherCharge>) -> Refund {
    Refund { refund_id: 1, basket_id: 41, status, lines, refunded_tiyn: Tiyn::new(refunded_tiyn), vouchers }
}

/// Types the characters, without Enter.
pub fn type_in(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, Key::Char(c));
    }
}

pub fn found(id: i64, balance: i64) -> LookupResponse {
    LookupResponse {
        voucher_id: id,
        holder: "Айгерим Бекова".into(),
        month: "2026-12".into(),
        status: VoucherStatus::Activated,
        balance_tiyn: Tiyn::new(balance),
        token_expires_at: at(9, 25),
    }
}

/// Scans voucher `id`'s QR code and answers the look-up.
pub fn scan_voucher(app: &mut App, id: u64, balance: i64) -> String {
    let t = token(id, 1, id as u8);
    let cmds = scan(app, &t);
    let [Command::Lookup { token: sent }] = &cmds[..] else { panic!("{cmds:?}") };
    assert_eq!(sent, &t);
    reply(app, Reply::Lookup { token: t.clone(), result: Ok(found(id as i64, balance)) });
    t
}

pub fn authorized(req: &AuthorizeRequest, basket_id: i64) -> Authorized {
    let products = catalog().products;
    let lines: Vec<BasketLine> = req
        .lines
        .iter()
        .enumerate()
        .map(|(index, l)| {
            let p = products.iter().find(|p| l.code.contains(&p.gtin)).unwrap();
            let amount = |price: Tiyn| match p.unit {
                Unit::Piece => price.checked_mul(l.quantity).unwrap(),
                Unit::Kg => price.mul_div_round(l.quantity, 1000).unwrap(),
            };
            let (shelf, to_pay) = (amount(l.shelf_price_tiyn), amount(l.reduced_price_tiyn));
            BasketLine {
                index,
                gtin: p.gtin.clone(),
                serial: None,
                group: p.group.clone(),
                name: p.name.clone(),
                unit: p.unit,
                quantity: l.quantity,
                shelf_price_tiyn: l.shelf_price_tiyn,
                reduced_price_tiyn: l.reduced_price_tiyn,
                shelf_amount_tiyn: shelf,
                to_pay_tiyn: to_pay,
                discount_tiyn: shelf - to_pay,
                refunded: false,
            }
        })
        .collect();
    let discount: Tiyn = lines.iter().map(|l| l.discount_tiyn).sum();
    Authorized {
        basket_id,
        status: BasketStatus::Authorized,
        discount_tiyn: discount,
        to_pay_tiyn: lines.iter().map(|l| l.to_pay_tiyn).sum(),
        hold_expires_at: at(9, 31),
        vouchers: vec![VoucherCharge {
            voucher_id: 1,
            charged_tiyn: discount,
            balance_tiyn: Tiyn::new(432_500) - discount,
        }],
        lines,
    }
}

pub fn captured(auth: &Authorized, method: PaymentMethod, now: DateTime<Utc>) -> Captured {
    Captured {
        basket_id: auth.basket_id,
        status: BasketStatus::Captured,
        receipt: Receipt {
            basket_id: auth.basket_id,
            shop_id: "S1".into(),
            shop_name: "Дәмді".into(),
            terminal_id: "T1".into(),
            captured_at: now,
            lines: auth.lines.clone(),
            discount_tiyn: auth.discount_tiyn,
            to_pay_tiyn: auth.to_pay_tiyn,
            payment: Payment { method, paid_tiyn: auth.to_pay_tiyn },
            vouchers: auth.vouchers.clone(),
        },
    }
}

/// A basket of milk ×2 and 1 250 g of flour at 300,00/260,00 per kg, ready to authorise.
pub fn basket_ready(app: &mut App) {
    scan_voucher(app, 1, 432_500);
    assert_eq!(app.sale.vouchers[0].holder, "А*** Б***");
    assert!(scan(app, MILK).is_empty());
    assert!(scan(app, &format!("]C1010{MILK}")).is_empty(), "the same plain code adds a piece");
    assert_eq!(app.sale.lines[0].quantity, 2);
    // Flour by weight (310n), no last price: the line opens for editing at the shelf price.
    scan(app, &format!("(01)0{FLOUR}(3103)001250"));
    let edit = app.sale.edit.clone().unwrap();
    assert_eq!((edit.line, edit.field, edit.texts[0].as_str()), (1, 1, "1250"));
    scan(app, "300");
    assert_eq!(app.sale.edit.as_ref().unwrap().field, 2, "Enter with a field empty stays in the form");
    for c in "260".chars() {
        key(app, Key::Char(c));
    }
    key(app, Key::Enter);
    assert!(app.sale.edit.is_none(), "{:?}", app.message);
    let t = basket::totals(&app.sale.lines);
    // Milk 2 × (450 − 390) = 120,00; flour 1,25 kg × (300 − 260) = 50,00.
    assert_eq!((t.discount.get(), t.to_pay.get(), t.incomplete), (17_000, 110_500, 0));
}

#[test]
fn scan_lookup_goods_prices_authorise_capture_receipt() {
    let mut app = logged_in();
    basket_ready(&mut app);
    // Edit milk's reduced price: ↑ to the first line, F4, Tab to the reduced price.
    key(&mut app, Key::Up);
    key(&mut app, Key::F(4));
    assert_eq!(app.sale.edit.as_ref().unwrap().line, 0);
    key(&mut app, Key::Tab);
    key(&mut app, Key::Tab);
    for _ in 0..6 {
        key(&mut app, Key::Backspace);
    }
    scan(&mut app, "395,5");
    assert_eq!(app.sale.lines[0].reduced.map(|t| t.get()), Some(39_550));

    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { key: idem, request }] = &cmds[..] else { panic!("{cmds:?}") };
    assert_eq!(request.tokens.len(), 1);
    assert_eq!(
        request.lines,
        vec![
            BasketLineIn {
                code: format!("010{MILK}"),
                quantity: 2,
                shelf_price_tiyn: Tiyn::new(45_000),
                reduced_price_tiyn: Tiyn::new(39_550)
            },
            BasketLineIn {
                code: format!("010{FLOUR}3103001250"),
                quantity: 1250,
                shelf_price_tiyn: Tiyn::new(30_000),
                reduced_price_tiyn: Tiyn::new(26_000)
            },
        ]
    );
    assert!(idem.as_str().len() <= 64);
    assert_eq!(app.busy, Some(T::BusyAuthorize));
    assert!(key(&mut app, Key::F(2)).is_empty(), "no second authorise while one is in flight");

    let auth = authorized(request, 41);
    reply(&mut app, Reply::Authorize(Ok(auth.clone())));
    assert_eq!(app.screen, Screen::Payment);

    key(&mut app, Key::Right);
    let cmds = key(&mut app, Key::Enter);
    let [Command::Capture { basket_id: 41, request: pay, .. }] = &cmds[..] else { panic!("{cmds:?}") };
    assert_eq!(pay.payment, Payment { method: PaymentMethod::Card, paid_tiyn: auth.to_pay_tiyn });
    reply(&mut app, Reply::Capture(Ok(captured(&auth, PaymentMethod::Card, at(9, 21)))));
    assert_eq!(app.screen, Screen::Receipt);
    assert!(matches!(&app.sale.stage, Stage::Captured(c) if c.basket_id == 41));

    key(&mut app, Key::Enter);
    assert_eq!(app.screen, Screen::Sale);
    assert_eq!(app.sale, Sale::default());
}

#[test]
fn authorise_timeout_is_retried_with_the_same_key_and_body() {
    let mut app = logged_in();
    basket_ready(&mut app);
    let first = key(&mut app, Key::F(2));
    let [Command::Authorize { key: k1, request: r1 }] = &first[..] else { panic!() };
    reply(&mut app, Reply::Authorize(Err(ClientError::Timeout)));
    let m = app.message.clone().unwrap();
    assert!(m.what.plain(Lang::Ru).contains("неизвестно, прошла ли операция"), "{}", m.what.ru);
    assert!(m.todo.plain(Lang::Ru).contains("F2"));
    // Locked: no scanning, no editing, no clearing while the outcome is unknown.
    assert!(scan(&mut app, MILK).is_empty());
    assert_eq!(app.sale.lines[0].quantity, 2);
    key(&mut app, Key::Delete);
    assert_eq!(app.sale.lines.len(), 2);

    let second = key(&mut app, Key::F(2));
    let [Command::Authorize { key: k2, request: r2 }] = &second[..] else { panic!() };
    assert_eq!((k1, r1), (k2, r2));
    // A 5xx is no answer either.
    reply(&mut app, Reply::Authorize(Err(ClientError::Http { status: 502 })));
    let third = key(&mut app, Key::F(2));
    let [Command::Authorize { key: k3, .. }] = &third[..] else { panic!() };
    assert_eq!(k1, k3);
    reply(&mut app, Reply::Authorize(Ok(authorized(r1, 42))));
    assert_eq!(app.screen, Screen::Payment);
}

#[test]
fn capture_timeout_is_retried_with_the_same_key_and_the_method_is_locked() {
    let mut app = logged_in();
    basket_ready(&mut app);
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!() };
    let auth = authorized(request, 43);
    reply(&mut app, Reply::Authorize(Ok(auth.clone())));
    let first = key(&mut app, Key::Enter);
    let [Command::Capture { key: k1, request: r1, .. }] = &first[..] else { panic!() };
    reply(&mut app, Reply::Capture(Err(ClientError::Network("reset".into()))));
    assert_eq!(app.screen, Screen::Payment);
    key(&mut app, Key::Right);
    let second = key(&mut app, Key::Enter);
    let [Command::Capture { key: k2, request: r2, .. }] = &second[..] else { panic!() };
    assert_eq!((k1, r1), (k2, r2));
    assert_eq!(r2.payment.method, PaymentMethod::Cash);
    reply(&mut app, Reply::Capture(Ok(captured(&auth, PaymentMethod::Cash, at(9, 22)))));
    assert_eq!(app.screen, Screen::Receipt);
    assert_eq!(app.refund.basket, "43", "the refund form knows the last basket");
}

#[test]
fn two_vouchers_of_a_family_are_sent_in_scan_order_and_a_fresh_qr_replaces_the_old() {
    let mut app = logged_in();
    let t1 = scan_voucher(&mut app, 1, 100_000);
    let t2 = scan_voucher(&mut app, 2, 200_000);
    assert_eq!(app.sale.balance().map(|b| b.get()), Some(300_000));
    assert!(scan(&mut app, &t1).is_empty(), "the same QR code twice is not looked up again");
    // Voucher 1 shows a fresh QR code: it replaces the first in its place.
    let fresh = token(1, 1, 99);
    scan(&mut app, &fresh);
    reply(&mut app, Reply::Lookup { token: fresh.clone(), result: Ok(found(1, 90_000)) });
    let tokens: Vec<&str> = app.sale.vouchers.iter().map(|v| v.token.as_str()).collect();
    assert_eq!(tokens, vec![fresh.as_str(), t2.as_str()]);
    scan(&mut app, MILK);
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!() };
    assert_eq!(request.tokens, vec![fresh, t2]);
}

#[test]
fn cancel_releases_the_hold_and_keeps_the_goods() {
    let mut app = logged_in();
    basket_ready(&mut app);
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!() };
    reply(&mut app, Reply::Authorize(Ok(authorized(request, 44))));
    assert!(key(&mut app, Key::F(8)).is_empty());
    assert_eq!(app.confirm, Some(Confirm::CancelBasket));
    let cmds = key(&mut app, Key::Enter);
    assert!(matches!(&cmds[..], [Command::Cancel { basket_id: 44 }]));
    reply(&mut app, Reply::Cancel(Ok(BasketState { basket_id: 44, status: BasketStatus::Cancelled })));
    assert_eq!(app.screen, Screen::Sale);
    assert_eq!(app.sale.stage, Stage::Open);
    assert!(app.sale.vouchers.is_empty(), "the QR code was spent: a fresh one is needed");
    assert_eq!(app.sale.lines.len(), 2);
}

#[test]
fn refund_by_line_and_daily_report() {
    let mut app = refund_of_41();
    key(&mut app, Key::Tab);
    type_in(&mut app, "2, 3");
    let first = key(&mut app, Key::Enter);
    let [Command::Refund { basket_id: 41, key: k1, request }] = &first[..] else { panic!("{first:?}") };
    assert_eq!(request.lines, Some(vec![1, 2]), "receipt numbers from 1 become API indexes from 0");
    reply(&mut app, Reply::Refund(Err(ClientError::Timeout)));
    key(&mut app, Key::Char('9'));
    assert_eq!(app.refund.lines, "2, 3", "the form is locked while the outcome is unknown");
    let second = key(&mut app, Key::Enter);
    let [Command::Refund { key: k2, .. }] = &second[..] else { panic!() };
    assert_eq!(k1, k2);
    reply(&mut app, Reply::Refund(Ok(refund_of(BasketStatus::PartlyRefunded, vec![1, 2], 5_000, vec![]))));
    assert!(app.message.as_ref().unwrap().what.plain(Lang::Ru).contains("50,00 ₸"));
    key(&mut app, Key::Esc);
    assert_eq!(app.screen, Screen::Sale);

    key(&mut app, Key::F(10));
    let cmds = key(&mut app, Key::Enter);
    // 09:20 UTC is 14:20 in Almaty, the same date.
    assert!(matches!(&cmds[..], [Command::Report { date }] if date == "2026-12-03"));
}

#[test]
fn the_language_key_switches_at_any_time_and_the_message_on_screen_with_it() {
    let mut app = logged_in();
    assert_eq!(app.lang, Lang::Ru);
    assert!(key(&mut app, Key::F(2)).is_empty());
    let shown = |app: &App| app.message.as_ref().map(|m| m.what.get(app.lang).to_owned());
    assert_eq!(shown(&app).as_deref(), Some("В покупке нет ваучера"));
    key(&mut app, Key::F(LANGUAGE_KEY));
    assert_eq!(app.lang, Lang::Kk);
    assert_eq!(shown(&app).as_deref(), Some("Сатып алуда ваучер жоқ"), "the message stays, in Kazakh");
    // Over a question too, which stays open.
    key(&mut app, Key::Ctrl('q'));
    key(&mut app, Key::F(LANGUAGE_KEY));
    assert_eq!((app.lang, app.confirm.is_some()), (Lang::Ru, true));
}
