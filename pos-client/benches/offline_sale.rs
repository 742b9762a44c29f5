//! An offline sale from scan to receipt: the scanned token checked against the pack (signature,
//! expiry, region, month, nonce not used on this till), the lines priced with the pack's catalogue,
//! the vouchers drawn within the offline limits, and the sale written to the journal with
//! `synchronous = FULL` (its COMMIT waits for the disk) before the receipt is returned.
//!
//! The journal is a file in the system's temporary directory, as a till's disk would hold it; the
//! pack is re-verified from the journal at each sale, as `azyq-pos sale` does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use std::cell::Cell;

use azyq_pos::journal::Journal;
use azyq_pos::offline;
use azyq_shared::api::{BasketLineIn, PaymentMethod, PosProduct, Unit};
use azyq_shared::offline::{sign_pack, MonthEnd, OfflineLimits, OfflinePack, PackKey};
use azyq_shared::token::{self, Nonce, OfflineFacts, TokenFields};
use azyq_shared::{Month, Tiyn};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ed25519_dalek::SigningKey;

fn now() -> DateTime<Utc> {
    "2026-12-05T10:30:00Z".parse().unwrap()
}

fn journal_with_pack(dir: &std::path::Path, voucher_key: &SigningKey) -> Journal {
    let pack_key = SigningKey::from_bytes(&[9; 32]);
    let pack = OfflinePack {
        version: 1,
        shop_id: "S1".into(),
        terminal_id: "T1".into(),
        region: "55".into(),
        issued_at: now() - Duration::hours(1),
        expires_at: now() + Duration::hours(23),
        voucher_keys: vec![PackKey {
            kid: 1,
            public_key: URL_SAFE_NO_PAD.encode(voucher_key.verifying_key().to_bytes()),
            not_after: None,
        }],
        revoked_keys: vec![],
        // A pack of a real size: a few thousand revoked vouchers and a full catalogue.
        revoked_vouchers: (1_000_000..1_005_000).collect(),
        products: (0..2_000)
            .map(|i| PosProduct {
                gtin: gtin14(i),
                group: "milk".into(),
                name: format!("Товар {i}"),
                unit: Unit::Piece,
                discount_cap_bp: 1500,
                last_shelf_price_tiyn: None,
                last_reduced_price_tiyn: None,
                max_shelf_price_tiyn: None,
                plu: None,
            })
            .collect(),
        recalls: vec![],
        limits: OfflineLimits { voucher_day_bp: 2500 },
        month_ends: vec![MonthEnd { month: "2026-12".into(), ends_at: "2026-12-31T19:00:00Z".parse().unwrap() }],
    };
    let bytes = serde_json::to_vec(&pack).unwrap();
    let signed = sign_pack(&bytes, 9, &pack_key);
    let signature = URL_SAFE_NO_PAD.decode(&signed.signature).unwrap();
    let mut journal = Journal::open(&dir.join("journal.db")).unwrap();
    journal.save_pack(9, &bytes, &signature, &pack_key.verifying_key().to_bytes(), now()).unwrap();
    journal
}

/// A GTIN-14 `0460000000NNNC` with its check digit.
fn gtin14(n: u32) -> String {
    let body = format!("0460000{n:06}");
    let sum: u32 =
        body.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn offline_sale(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let voucher_key = SigningKey::from_bytes(&[7; 32]);
    let mut journal = journal_with_pack(dir.path(), &voucher_key);
    let lines = vec![
        BasketLineIn {
            code: gtin14(1)[1..].to_owned(),
            quantity: 2,
            shelf_price_tiyn: Tiyn::new(50_000),
            reduced_price_tiyn: Tiyn::new(42_500),
        },
        BasketLineIn {
            code: gtin14(2)[1..].to_owned(),
            quantity: 1,
            shelf_price_tiyn: Tiyn::new(100_000),
            reduced_price_tiyn: Tiyn::new(85_000),
        },
    ];
    // A new voucher for every sale: the day limit never stops the loop.
    let voucher = Cell::new(1u64);
    let qr = || {
        voucher.set(voucher.get() + 1);
        let fields = TokenFields {
            kid: 1,
            voucher_id: voucher.get(),
            month: Month::new(2026, 12).unwrap(),
            issued_at: now() - Duration::minutes(1),
            expires_at: now() + Duration::minutes(10),
            nonce: Nonce::new_v2(),
            offline: Some(OfflineFacts { balance: Tiyn::new(432_500), amount: Tiyn::new(432_500), region: 55 }),
        };
        vec![token::sign(&fields, &voucher_key).unwrap()]
    };
    c.bench_function("offline_sale_scan_to_receipt_fsync", |b| {
        b.iter_batched(
            qr,
            |tokens| {
                let receipt =
                    offline::sell(&mut journal, "T1", &tokens, lines.clone(), PaymentMethod::Cash, now()).unwrap();
                assert_eq!(receipt.discount_tiyn, Tiyn::new(30_000));
                receipt
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, offline_sale);
criterion_main!(benches);
