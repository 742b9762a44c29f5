//! Cost of signing and checking a voucher token, and how much of a check is the signature itself.
//! `cargo bench -p azyq-shared --bench token -- --quick`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use std::hint::black_box;

use azyq_shared::token::{self, TokenFields};
use azyq_shared::Month;
use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use ed25519_dalek::SigningKey;

fn setup() -> (SigningKey, TokenFields, String) {
    // The first test vector of docs/token.md.
    let key = SigningKey::from_bytes(&[
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49,
        0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
    ]);
    let issued_at = DateTime::from_timestamp(1_796_289_300, 0).expect("valid instant");
    let fields = TokenFields {
        kid: 1,
        voucher_id: 1,
        month: Month::new(2026, 12).expect("valid month"),
        issued_at,
        expires_at: issued_at + Duration::minutes(10),
        nonce: token::Nonce::V1(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"),
        offline: None,
    };
    let text = token::sign(&fields, &key).expect("fields in range");
    (key, fields, text)
}

fn benches(c: &mut Criterion) {
    let (key, fields, text) = setup();
    let public = key.verifying_key();
    let now: DateTime<Utc> = fields.issued_at + Duration::minutes(1);
    let decoded = token::decode(&text).expect("valid token");
    let message = decoded.signed_message();
    let bytes = base45::decode(&text[token::PREFIX.len()..]).expect("valid base45");

    c.bench_function("token_sign", |b| b.iter(|| token::sign(black_box(&fields), &key)));
    c.bench_function("token_verify", |b| {
        b.iter(|| token::verify(black_box(&text), |kid| (kid == 1).then_some(public), now))
    });
    c.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| public.verify_strict(black_box(&message), black_box(&decoded.signature)))
    });
    c.bench_function("base45_encode", |b| b.iter(|| base45::encode(black_box(&bytes))));
    c.bench_function("base45_decode", |b| b.iter(|| base45::decode(black_box(&text[token::PREFIX.len()..]))));
}

criterion_group!(token_benches, benches);
criterion_main!(token_benches);
