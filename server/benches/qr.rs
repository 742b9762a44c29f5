//! QR encode + PNG of a voucher token, as `GET /api/v1/wallet/vouchers/{id}/qr.png` does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use azyq_shared::token;
use criterion::{criterion_group, criterion_main, Criterion};

fn token_text() -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let fields = token::TokenFields {
        kid: 1,
        voucher_id: 1_234_567,
        month: azyq_shared::Month::parse("2026-12").expect("month"),
        issued_at: "2026-12-05T10:00:00Z".parse().expect("time"),
        expires_at: "2026-12-05T10:05:00Z".parse().expect("time"),
        nonce: token::Nonce::V1([42; 16]),
        offline: None,
    };
    token::sign(&fields, &key).expect("sign")
}

fn qr(c: &mut Criterion) {
    let text = token_text();
    c.bench_function("qr_encode", |b| b.iter(|| azyq_server::qr::symbol(std::hint::black_box(&text)).expect("qr")));
    c.bench_function("qr_encode_png", |b| b.iter(|| azyq_server::qr::png(std::hint::black_box(&text)).expect("png")));
}

criterion_group!(benches, qr);
criterion_main!(benches);
