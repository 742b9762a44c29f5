//! The test vectors of `docs/token.md`, read from the document itself so that it cannot drift
//! from the code: every `azyq-token-vector` block must sign and verify to exactly what it says,
//! and every `azyq-token-refused` block must be refused for the reason it gives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use std::collections::BTreeMap;

use azyq_shared::token::{self, Nonce, OfflineFacts, TokenError, TokenFields, PAYLOAD_LEN, TEXT_LEN};
use azyq_shared::{Month, Tiyn};
use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};

const DOC: &str = include_str!("../../docs/token.md");

/// The `key: value` lines of every fenced block whose info string is `info`.
fn blocks(info: &str) -> Vec<BTreeMap<&'static str, &'static str>> {
    let fence = format!("```{info}\n");
    DOC.split(fence.as_str())
        .skip(1)
        .map(|rest| {
            let body = &rest[..rest.find("```").expect("block is closed")];
            body.lines()
                .map(|line| {
                    let (k, v) = line.split_once(':').unwrap_or_else(|| panic!("no colon: {line:?}"));
                    (k.trim(), v.trim())
                })
                .collect()
        })
        .collect()
}

fn field<'a>(block: &BTreeMap<&str, &'a str>, key: &str) -> &'a str {
    block.get(key).unwrap_or_else(|| panic!("{key} missing in {block:?}"))
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()), "hex: {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 4648 §5 base64url without padding: kept here so the crate needs no base64 dependency.
fn base64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}")).with_timezone(&Utc)
}

/// 32 hex digits: a format-1 nonce; 18: a format-2 one.
fn nonce(hex: &str) -> Nonce {
    let bytes = unhex(hex);
    match bytes.len() {
        16 => Nonce::V1(bytes.try_into().unwrap()),
        9 => Nonce::V2(bytes.try_into().unwrap()),
        n => panic!("nonce of {n} bytes"),
    }
}

struct Vector {
    name: &'static str,
    key: SigningKey,
    fields: TokenFields,
    token: &'static str,
}

fn vectors() -> Vec<Vector> {
    let vectors: Vec<Vector> = blocks("azyq-token-vector")
        .into_iter()
        .map(|b| {
            let name = field(&b, "name");
            let seed: [u8; 32] = unhex(field(&b, "secret_key_seed")).try_into().unwrap();
            let key = SigningKey::from_bytes(&seed);
            let public = key.verifying_key();
            assert_eq!(hex(public.as_bytes()), field(&b, "public_key_hex"), "{name}");
            assert_eq!(base64url(public.as_bytes()), field(&b, "public_key_base64url"), "{name}");
            let fields = TokenFields {
                kid: field(&b, "kid").parse().unwrap(),
                voucher_id: field(&b, "voucher_id").parse().unwrap(),
                month: Month::parse(field(&b, "month")).unwrap(),
                issued_at: instant(field(&b, "issued_at")),
                expires_at: instant(field(&b, "expires_at")),
                nonce: nonce(field(&b, "nonce")),
                offline: b.get("balance_tiyn").map(|balance| OfflineFacts {
                    balance: Tiyn::new(balance.parse().unwrap()),
                    amount: Tiyn::new(field(&b, "amount_tiyn").parse().unwrap()),
                    region: field(&b, "region").parse().unwrap(),
                }),
            };
            assert_eq!(fields.version().to_string(), field(&b, "format"), "{name}");
            let token = field(&b, "token");
            let decoded = token::decode(token).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(hex(decoded.payload()), field(&b, "payload"), "{name}");
            assert_eq!(decoded.payload().len(), PAYLOAD_LEN);
            assert_eq!(hex(&decoded.signature.to_bytes()), field(&b, "signature"), "{name}");
            Vector { name, key, fields, token }
        })
        .collect();
    assert!(vectors.len() >= 5, "docs/token.md has {} vectors", vectors.len());
    assert!(vectors.iter().filter(|v| v.fields.offline.is_some()).count() >= 2, "format-2 vectors");
    vectors
}

fn published(vectors: &[Vector]) -> impl Fn(u16) -> Option<VerifyingKey> + '_ {
    |kid| vectors.iter().find(|v| v.fields.kid == kid).map(|v| v.key.verifying_key())
}

#[test]
fn doc_vectors_sign_to_their_token() {
    for v in vectors() {
        assert_eq!(token::sign(&v.fields, &v.key).as_deref(), Ok(v.token), "{}", v.name);
        assert_eq!(v.token.len(), TEXT_LEN, "{}", v.name);
    }
}

#[test]
fn doc_vectors_verify_to_their_fields() {
    let vectors = vectors();
    for v in &vectors {
        let f = &v.fields;
        assert_eq!(token::decode(v.token).map(|d| d.fields), Ok(f.clone()), "{}", v.name);
        for now in [f.issued_at, f.expires_at - chrono::Duration::seconds(1)] {
            assert_eq!(token::verify(v.token, published(&vectors), now), Ok(f.clone()), "{}", v.name);
        }
        assert!(token::looks_like_token(v.token));
    }
}

#[test]
fn doc_refused_tokens_are_refused_for_their_reason() {
    let vectors = vectors();
    let refused = blocks("azyq-token-refused");
    assert!(refused.len() >= 5, "docs/token.md has {} refused tokens", refused.len());
    for b in refused {
        let name = field(&b, "name");
        let got = token::verify(field(&b, "token"), published(&vectors), instant(field(&b, "now")));
        let got = match got {
            Ok(f) => panic!("{name}: accepted as {f:?}"),
            Err(TokenError::Invalid(reason)) => format!("invalid: {reason}"),
            Err(TokenError::Expired { .. }) => "expired".to_owned(),
            Err(TokenError::UnknownKey(kid)) => format!("unknown_key: {kid}"),
        };
        assert_eq!(got, field(&b, "error"), "{name}");
    }
}
