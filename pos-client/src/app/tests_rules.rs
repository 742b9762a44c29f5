//! The shop's rules at the till (issue 15): the price limit on the line and the refusal before
//! sending, a scale label's line, and a recall's warning at the scan.

use azyq_shared::api::*;
use azyq_shared::gs1::{Plu, ScaleLabel};
use azyq_shared::Tiyn;

use super::basket::{Field, Incomplete};
use super::keyring::tests::at;
use super::tests_flow::*;
use super::*;

/// The potatoes' PLU on the shop's scale labels.
pub const POTATO_PLU: &str = "00042";
pub const POTATOES: &str = "4600000000053";

/// The test catalogue with a price limit on milk (450,00 ₸) and on potatoes (300,00 ₸/kg), and a
/// PLU on the potatoes.
pub fn catalog_with_rules() -> PosCatalog {
    let mut c = catalog();
    for p in &mut c.products {
        if p.group == "milk" {
            p.max_shelf_price_tiyn = Some(Tiyn::new(45_000));
        }
    }
    c.products.push(PosProduct {
        gtin: format!("0{POTATOES}"),
        group: "potatoes".into(),
        name: "Картофель весовой".into(),
        unit: Unit::Kg,
        discount_cap_bp: 1500,
        last_shelf_price_tiyn: Some(Tiyn::new(30_000)),
        last_reduced_price_tiyn: Some(Tiyn::new(25_500)),
        max_shelf_price_tiyn: Some(Tiyn::new(30_000)),
        plu: Some(POTATO_PLU.into()),
    });
    c
}

/// A recall of milk's batch L2301, and of eggs whatever the batch.
pub fn recalls() -> Recalls {
    let recall = |id, gtin: &str, batch: Option<&str>, reason: &str| Recall {
        id,
        gtin: format!("0{gtin}"),
        batch: batch.map(Into::into),
        reason: reason.into(),
        created_at: at(8, 0),
    };
    Recalls {
        recalls: vec![recall(1, MILK, Some("L2301"), "листерия в партии"), recall(2, EGGS, None, "сальмонелла")]
    }
}

/// A till with the rules' catalogue and recalls, and a voucher scanned.
pub fn ruled() -> App {
    let mut app = logged_in();
    reply(&mut app, Reply::Catalog(Ok(catalog_with_rules())));
    reply(&mut app, Reply::Recalls(Ok(recalls())));
    scan_voucher(&mut app, 1, 432_500);
    app
}

/// 1 250 g of potatoes from the scale.
pub fn potato_label() -> String {
    ScaleLabel::weight(0, Plu::parse(POTATO_PLU).unwrap(), 1_250).unwrap().to_ean13()
}

/// Milk at 460,00 ₸ on the shelf, over its 450,00 ₸ limit: F2 refuses before anything is sent.
pub fn over_limit() -> App {
    let mut app = ruled();
    scan(&mut app, MILK);
    key(&mut app, Key::F(4));
    let edit = app.sale.edit.as_mut().unwrap();
    edit.texts[1] = "460".into();
    edit.texts[2] = "400".into();
    key(&mut app, Key::Enter);
    scan(&mut app, &potato_label());
    key(&mut app, Key::Esc);
    key(&mut app, Key::F(2));
    app
}

/// Milk of the recalled batch scanned: warned at the scan, with the reason.
pub fn recall_warned() -> App {
    let mut app = ruled();
    scan(&mut app, &potato_label());
    scan(&mut app, &format!("(01)0{MILK}(10)L2301"));
    app
}

#[test]
fn the_limit_is_on_the_line_and_a_price_over_it_is_not_sent() {
    let mut app = ruled();
    scan(&mut app, MILK);
    let line = &app.sale.lines[0];
    assert_eq!((line.max_shelf, line.within_limit()), (Some(Tiyn::new(45_000)), Some(true)));
    let app = over_limit();
    assert!(matches!(app.sale.stage, Stage::Open), "nothing sent: {:?}", app.sale.stage);
    assert_eq!(app.sale.fault.map(|f| (f.line, f.field)), Some((0, Field::Shelf)));
    assert_eq!(app.sale.lines[0].incomplete(), Some(Incomplete::OverLimit(Tiyn::new(45_000), Unit::Piece)));
    let m = app.message.clone().unwrap();
    assert_eq!(m.what.ru, "Строка 1: цена на полке выше предельной (не больше 450,00\u{a0}₸ за шт)");
    assert_eq!(m.what.kk, "1-жол: сөредегі баға шекті бағадан жоғары (ең көбі дана үшін 450,00\u{a0}₸)");
    // At the limit it goes.
    let mut app = over_limit();
    key(&mut app, Key::F(4));
    assert_eq!(app.sale.edit.as_ref().map(|e| e.field), Some(1), "the editor opens at the shelf price");
    let edit = app.sale.edit.as_mut().unwrap();
    edit.texts[1] = "450".into();
    key(&mut app, Key::Enter);
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!("{cmds:?}") };
    assert_eq!(request.lines[0].shelf_price_tiyn, Tiyn::new(45_000));
}

#[test]
fn a_server_refusal_of_the_limit_names_the_limit_and_the_shelf_price() {
    let mut app = ruled();
    scan(&mut app, MILK);
    let cmds = key(&mut app, Key::F(2));
    assert!(matches!(&cmds[..], [Command::Authorize { .. }]));
    // The limit changed on the server meanwhile.
    let body = serde_json::from_value(serde_json::json!(
        {"error": {"code": "price_over_limit", "message": "x", "line": 0, "max_shelf_price_tiyn": 40_000}}
    ))
    .unwrap();
    reply(&mut app, Reply::Authorize(Err(crate::client::ClientError::Api { status: 422, body })));
    let m = app.message.clone().unwrap();
    assert_eq!(m.code, Some("price_over_limit"));
    assert!(m.what.ru.ends_with("(не больше 400,00\u{a0}₸ за шт)"), "{}", m.what.ru);
    assert_eq!(app.sale.fault.map(|f| f.field), Some(Field::Shelf));
}

#[test]
fn a_scale_label_is_a_line_of_its_weight() {
    let mut app = ruled();
    assert!(scan(&mut app, &potato_label()).is_empty());
    let line = &app.sale.lines[0];
    assert_eq!((line.code.as_str(), line.quantity, line.label_grams), ("2000042012502", 1_250, Some(1_250)));
    assert_eq!(line.amounts().map(|a| a.discount), Some(Tiyn::new(5_625)));
    // The same label again is another bag: a line of its own.
    scan(&mut app, &potato_label());
    assert_eq!(app.sale.lines.len(), 2);
    // Its weight is not the cashier's to change: the editor starts at the price and says why.
    key(&mut app, Key::F(4));
    let edit = app.sale.edit.as_mut().unwrap();
    assert_ne!(edit.field, 0, "the weight field is skipped");
    edit.texts[0] = "1000".into();
    key(&mut app, Key::Enter);
    assert_eq!(app.sale.lines[1].quantity, 1_250);
    assert!(app.message.as_ref().unwrap().what.ru.contains("вес — с этикетки весов: 1 250 г"));
    // A wrong check digit, an unknown PLU.
    key(&mut app, Key::Esc);
    scan(&mut app, "2000042012503");
    assert_eq!(app.message.as_ref().and_then(|m| m.code), Some("code_invalid"));
    let unknown = ScaleLabel::weight(0, Plu::parse("00043").unwrap(), 500).unwrap().to_ean13();
    scan(&mut app, &unknown);
    assert_eq!(app.message.as_ref().and_then(|m| m.code), Some("not_szpt_product"));
    assert_eq!(app.sale.lines.len(), 2);
    let cmds = key(&mut app, Key::F(2));
    let [Command::Authorize { request, .. }] = &cmds[..] else { panic!("{cmds:?}") };
    assert_eq!((request.lines[0].code.as_str(), request.lines[0].quantity), ("2000042012502", 1_250));
}

#[test]
fn a_recall_is_warned_at_the_scan_with_its_reason() {
    let app = recall_warned();
    assert_eq!(app.sale.lines.len(), 1, "the recalled milk is not added");
    let m = app.message.clone().unwrap();
    assert_eq!((m.tone, m.code), (Tone::Error, Some("product_recalled")));
    assert_eq!(m.what.ru, "Товар отозван: листерия в партии");
    assert_eq!(m.what.kk, "Тауар кері қайтарылған: листерия в партии");
    // Another batch sells; a code naming no batch sells with a warning to check the pack.
    let mut app = recall_warned();
    scan(&mut app, &format!("(01)0{MILK}(10)L2302"));
    assert_eq!((app.sale.lines.len(), app.message.as_ref().map(|m| m.tone)), (2, None));
    scan(&mut app, MILK);
    assert_eq!(app.sale.lines.len(), 3);
    let m = app.message.clone().unwrap();
    assert_eq!((m.tone, m.what.ru.as_str()), (Tone::Info, "Партия L2301 этого товара отозвана: листерия в партии"));
    // Every batch of eggs.
    scan(&mut app, &format!("(01)0{EGGS}(21)SER9"));
    assert_eq!(app.message.as_ref().and_then(|m| m.code), Some("product_recalled"));
    assert_eq!(app.sale.lines.len(), 3);
}
