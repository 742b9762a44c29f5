use std::collections::HashMap;

use chrono::TimeZone;

use super::*;
use crate::token::OfflineFacts;
use crate::Month;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    // 2026-12-03, UTC; Almaty is UTC+5, so the Almaty day is 2026-12-03 for these hours.
    Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0).unwrap()
}

fn voucher_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn pack_key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn product(gtin: &str, unit: Unit, cap: i32, max: Option<i64>, plu: Option<&str>) -> PosProduct {
    PosProduct {
        gtin: gtin.into(),
        group: "01".into(),
        name: format!("товар {gtin}"),
        unit,
        discount_cap_bp: cap,
        last_shelf_price_tiyn: None,
        last_reduced_price_tiyn: None,
        max_shelf_price_tiyn: max.map(Tiyn::new),
        plu: plu.map(Into::into),
    }
}

fn pack() -> OfflinePack {
    OfflinePack {
        version: PACK_VERSION,
        shop_id: "shop-1".into(),
        terminal_id: "T1".into(),
        region: "55".into(),
        issued_at: at(8, 0),
        expires_at: at(8, 0) + Duration::hours(24),
        voucher_keys: vec![
            PackKey {
                kid: 1,
                public_key: URL_SAFE_NO_PAD.encode(voucher_key().verifying_key().as_bytes()),
                not_after: None,
            },
            PackKey {
                kid: 2,
                public_key: URL_SAFE_NO_PAD.encode(voucher_key().verifying_key().as_bytes()),
                not_after: None,
            },
        ],
        revoked_keys: vec![2],
        revoked_vouchers: vec![66],
        products: vec![
            product("04600000000015", Unit::Piece, 1_500, Some(100_000), None),
            product("04870204390018", Unit::Piece, 1_000, None, None),
            product("04870000000029", Unit::Kg, 1_500, None, Some("12345")),
            product("04870000000036", Unit::Piece, 1_500, None, None),
        ],
        recalls: vec![Recall {
            id: 4,
            gtin: "04870000000036".into(),
            batch: None,
            reason: "партия испорчена".into(),
            created_at: at(7, 0),
        }],
        limits: OfflineLimits { voucher_day_bp: DEFAULT_VOUCHER_DAY_BP },
        month_ends: vec![MonthEnd { month: "2026-12".into(), ends_at: Month::new(2026, 12).unwrap().end_instant() }],
    }
}

fn fields(voucher_id: u64, balance: i64, nonce: u8) -> TokenFields {
    TokenFields {
        kid: 1,
        voucher_id,
        month: Month::new(2026, 12).unwrap(),
        issued_at: at(9, 0),
        expires_at: at(9, 10),
        nonce: Nonce::V2([nonce; 9]),
        offline: Some(OfflineFacts { balance: Tiyn::new(balance), amount: Tiyn::new(1_730_000), region: 55 }),
    }
}

/// A line of `qty` pieces at 1 000,00 ₸ shelf and `reduced` tiyn.
fn line(code: &str, qty: i64, reduced: i64) -> BasketLineIn {
    BasketLineIn {
        code: code.into(),
        quantity: qty,
        shelf_price_tiyn: Tiyn::new(100_000),
        reduced_price_tiyn: Tiyn::new(reduced),
    }
}

#[derive(Default)]
struct Journal {
    used: Vec<Nonce>,
    pending: HashMap<u64, i64>,
    today: HashMap<u64, i64>,
}

impl TillHistory for Journal {
    fn nonce_used(&self, nonce: &Nonce) -> bool {
        self.used.contains(nonce)
    }
    fn pending_discount(&self, voucher_id: u64) -> Tiyn {
        Tiyn::new(self.pending.get(&voucher_id).copied().unwrap_or(0))
    }
    fn day_discount(&self, voucher_id: u64, day: NaiveDate) -> Tiyn {
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 12, 3).unwrap());
        Tiyn::new(self.today.get(&voucher_id).copied().unwrap_or(0))
    }
}

fn code_of(r: Result<OfflineSaleDraft, ErrorDetail>) -> ErrorCode {
    r.map(|d| panic!("allowed: {d:?}")).unwrap_err().code
}

#[test]
fn pack_round_trip_and_refusals() {
    let bytes = serde_json::to_vec(&pack()).unwrap();
    let signed = sign_pack(&bytes, 3, &pack_key());
    let keys = |kid: u16| (kid == 3).then(|| pack_key().verifying_key());
    assert_eq!(signed.open(keys, at(9, 0)), Ok(pack()));
    // The till verifies the exact bytes: a changed byte, another key, another kid are forged.
    let mut changed = bytes.clone();
    let pos = changed.windows(4).position(|w| w == b"\"55\"").unwrap();
    changed[pos + 2] = b'6';
    let tampered = SignedPack { pack: URL_SAFE_NO_PAD.encode(&changed), ..signed.clone() };
    assert_eq!(tampered.open(keys, at(9, 0)), Err(PackError::Forged));
    let other = |_: u16| Some(voucher_key().verifying_key());
    assert_eq!(signed.open(other, at(9, 0)), Err(PackError::Forged));
    assert_eq!(SignedPack { kid: 4, ..signed.clone() }.open(keys, at(9, 0)), Err(PackError::Forged));
    assert_eq!(SignedPack { signature: "AAAA".into(), ..signed.clone() }.open(keys, at(9, 0)), Err(PackError::Forged));
    // Times: stale at expiry, not yet valid more than 5 minutes early.
    let expires_at = pack().expires_at;
    assert_eq!(signed.open(keys, expires_at), Err(PackError::Stale { expires_at }));
    assert!(signed.open(keys, expires_at - Duration::seconds(1)).is_ok());
    assert_eq!(signed.open(keys, at(7, 54)), Err(PackError::NotYetValid));
    assert!(signed.open(keys, at(7, 55)).is_ok());
    // Signed but unreadable, or living more than seven days: malformed.
    let garbage = sign_pack(b"{\"version\":1}", 3, &pack_key());
    assert_eq!(garbage.open(keys, at(9, 0)), Err(PackError::Malformed));
    let long = OfflinePack { expires_at: at(8, 0) + Duration::days(8), ..pack() };
    let long = sign_pack(&serde_json::to_vec(&long).unwrap(), 3, &pack_key());
    assert_eq!(long.open(keys, at(9, 0)), Err(PackError::Malformed));
}

#[test]
fn pack_verifies_tokens_with_its_keys() {
    let p = pack();
    let text = token::sign(&fields(5, 500_000, 1), &voucher_key()).unwrap();
    assert_eq!(p.verify_token(&text, at(9, 5)).unwrap(), fields(5, 500_000, 1));
    assert_eq!(p.verify_token(&text, at(9, 10)).unwrap_err().code, ErrorCode::TokenExpired);
    let revoked = token::sign(&TokenFields { kid: 2, ..fields(5, 500_000, 1) }, &voucher_key()).unwrap();
    assert_eq!(p.verify_token(&revoked, at(9, 5)).unwrap_err().code, ErrorCode::UnknownKey);
    let mut bytes = base45::decode(&text[4..]).unwrap();
    bytes[20] ^= 1; // the balance
    let forged = format!("{}{}", token::PREFIX_V2, base45::encode(&bytes));
    assert_eq!(p.verify_token(&forged, at(9, 5)).unwrap_err().code, ErrorCode::TokenInvalid);
    let v1 = TokenFields { nonce: Nonce::V1([1; 16]), offline: None, ..fields(5, 0, 1) };
    let v1 = token::sign(&v1, &voucher_key()).unwrap();
    let e = p.verify_token(&v1, at(9, 5)).unwrap_err();
    assert_eq!(e.code, ErrorCode::TokenInvalid);
    assert_eq!(e.details["reason"], "format 1 carries no balance: show a fresh QR");
}

#[test]
fn a_sale_within_the_rules_draws_in_scan_order() {
    let journal = Journal::default();
    // 3 pieces at 1 000,00 ₸ with 150,00 ₸ off each: 450,00 ₸ discount.
    let lines = [line("4600000000015", 3, 85_000)];
    let tokens = [fields(5, 20_000, 1), fields(6, 500_000, 2)];
    let d = check_sale(&pack(), &tokens, &lines, at(9, 5), &journal).unwrap();
    assert_eq!((d.discount.get(), d.to_pay.get()), (45_000, 255_000));
    assert_eq!(d.lines[0].gtin, "04600000000015");
    let charged: Vec<_> = d.vouchers.iter().map(|c| (c.voucher_id, c.charged.get(), c.balance_after.get())).collect();
    assert_eq!(charged, [(5, 20_000, 0), (6, 25_000, 475_000)]);
}

#[test]
fn balance_pending_and_day_limit_bound_the_draw() {
    let lines = [line("4600000000015", 3, 85_000)]; // 45 000 off
                                                    // The day limit of 17 300,00 ₸ × 25% = 432 500 tiyn; 400 000 already today: 32 500 left.
    let journal = Journal { today: HashMap::from([(5, 400_000)]), ..Journal::default() };
    let e = check_sale(&pack(), &[fields(5, 500_000, 1)], &lines, at(9, 5), &journal).unwrap_err();
    assert_eq!((e.code, e.code.http_status()), (ErrorCode::OfflineLimit, 409));
    assert_eq!(e.details["available_tiyn"], 32_500);
    // Exactly at the limit passes.
    let journal = Journal { today: HashMap::from([(5, 432_500 - 45_000)]), ..Journal::default() };
    assert!(check_sale(&pack(), &[fields(5, 500_000, 1)], &lines, at(9, 5), &journal).is_ok());
    // The balance in the token, less what this till has not uploaded yet.
    let journal = Journal { pending: HashMap::from([(5, 460_000)]), ..Journal::default() };
    let e = check_sale(&pack(), &[fields(5, 500_000, 1)], &lines, at(9, 5), &journal).unwrap_err();
    assert_eq!(e.code, ErrorCode::InsufficientBalance);
    assert_eq!(e.details["balance_tiyn"], 40_000);
    assert_eq!(
        code_of(check_sale(&pack(), &[fields(5, 44_999, 1)], &lines, at(9, 5), &Journal::default())),
        ErrorCode::InsufficientBalance
    );
}

#[test]
fn token_rules() {
    let lines = [line("4600000000015", 1, 85_000)];
    let ok = Journal::default();
    let check = |t: TokenFields, j: &Journal| code_of(check_sale(&pack(), &[t], &lines, at(9, 5), j));
    let used = Journal { used: vec![Nonce::V2([1; 9])], ..Journal::default() };
    assert_eq!(check(fields(5, 500_000, 1), &used), ErrorCode::TokenUsed);
    let twice = [fields(5, 500_000, 1), fields(6, 500_000, 1)];
    assert_eq!(code_of(check_sale(&pack(), &twice, &lines, at(9, 5), &ok)), ErrorCode::TokenUsed);
    let same_voucher = [fields(5, 500_000, 1), fields(5, 500_000, 2)];
    assert_eq!(code_of(check_sale(&pack(), &same_voucher, &lines, at(9, 5), &ok)), ErrorCode::Validation);
    let facts = fields(5, 500_000, 1).offline.unwrap();
    let other_region = TokenFields { offline: Some(OfflineFacts { region: 11, ..facts }), ..fields(5, 500_000, 1) };
    assert_eq!(check(other_region, &ok), ErrorCode::WrongRegion);
    let november = TokenFields { month: Month::new(2026, 11).unwrap(), ..fields(5, 500_000, 1) };
    assert_eq!(check(november, &ok), ErrorCode::MonthClosed);
    assert_eq!(check(fields(66, 500_000, 1), &ok), ErrorCode::VoucherNotFound);
    assert_eq!(check(TokenFields { kid: 2, ..fields(5, 500_000, 1) }, &ok), ErrorCode::UnknownKey);
    assert_eq!(check(TokenFields { kid: 9, ..fields(5, 500_000, 1) }, &ok), ErrorCode::UnknownKey);
    assert_eq!(check(TokenFields { expires_at: at(9, 5), ..fields(5, 500_000, 1) }, &ok), ErrorCode::TokenExpired);
    let v1 = TokenFields { nonce: Nonce::V1([1; 16]), offline: None, ..fields(5, 0, 1) };
    assert_eq!(check(v1, &ok), ErrorCode::TokenInvalid);
    assert_eq!(code_of(check_sale(&pack(), &[], &lines, at(9, 5), &ok)), ErrorCode::Validation);
}

#[test]
fn line_rules_are_the_online_ones() {
    let ok = Journal::default();
    let check = |l: BasketLineIn| code_of(check_sale(&pack(), &[fields(5, 500_000, 1)], &[l], at(9, 5), &ok));
    assert_eq!(check(line("4600000000016", 1, 90_000)), ErrorCode::CodeInvalid);
    assert_eq!(check(line("4870000000043", 1, 90_000)), ErrorCode::NotSzptProduct);
    assert_eq!(check(line("4870000000036", 1, 90_000)), ErrorCode::ProductRecalled);
    assert_eq!(check(line("4600000000015", 1, 84_999)), ErrorCode::DiscountOverCap);
    assert_eq!(check(line("4870204390018", 1, 89_999)), ErrorCode::DiscountOverCap);
    let over = BasketLineIn { shelf_price_tiyn: Tiyn::new(100_001), ..line("4600000000015", 1, 90_000) };
    assert_eq!(check(over), ErrorCode::PriceOverLimit);
    // Expired on 2026-02-01 (AI 17), serial 5ABCDE.
    let expired = "]d20104600000000015215ABCDE\u{1d}17260201";
    assert_eq!(check(line(expired, 1, 90_000)), ErrorCode::ProductExpired);
    let serial = "]d20104600000000015215ABCDE\u{1d}17271231";
    assert_eq!(check(line(serial, 2, 90_000)), ErrorCode::Validation);
    let twice = [line(serial, 1, 90_000), line(serial, 1, 90_000)];
    let r = check_sale(&pack(), &[fields(5, 500_000, 1)], &twice, at(9, 5), &ok);
    assert_eq!(code_of(r), ErrorCode::CodeAlreadySold);
    assert_eq!(check(line("4600000000015", 0, 90_000)), ErrorCode::Validation);
    assert_eq!(check(line("4600000000015", 1, 100_001)), ErrorCode::Validation);
}

#[test]
fn weighed_goods_by_plu() {
    let ok = Journal::default();
    // Prefix 0, PLU 12345, 1 250 g at 300,00 ₸/kg, 255,00 ₸/kg reduced: 56,25 ₸ off.
    let l = BasketLineIn {
        code: "2012345012509".into(),
        quantity: 0,
        shelf_price_tiyn: Tiyn::new(30_000),
        reduced_price_tiyn: Tiyn::new(25_500),
    };
    let d = check_sale(&pack(), &[fields(5, 500_000, 1)], std::slice::from_ref(&l), at(9, 5), &ok).unwrap();
    assert_eq!((d.lines[0].quantity, d.discount.get(), d.lines[0].gtin.as_str()), (1_250, 5_625, "04870000000029"));
    let wrong_weight = BasketLineIn { quantity: 1_000, ..l };
    assert_eq!(
        code_of(check_sale(&pack(), &[fields(5, 500_000, 1)], &[wrong_weight], at(9, 5), &ok)),
        ErrorCode::Validation
    );
}
