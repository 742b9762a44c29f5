//! The voucher token: `token::decode`, `looks_like_token` and `token::verify` (SPEC §4).
//!
//! Seeds are real tokens signed with fixed keys, with fields at their edges. Inputs are made three
//! ways: text mutations of a token (Base45 alphabet, prefix, whitespace, non-ASCII), byte
//! mutations of its 93 decoded bytes written back as canonical Base45 (so they pass the prefix,
//! length and Base45 checks and reach version, month, times and signature), and noise.

use azyq_shared::token::{self, TokenError, TokenFields, PAYLOAD_LEN, PREFIX, TEXT_LEN, TOKEN_LEN};
use azyq_shared::Month;
use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::{Rng as _, SeedableRng};

use crate::mutate::{lossy, noise, pick, Mutator};
use crate::{as_text, invariant, Harness, Outcome, Rng};

/// The QR alphanumeric alphabet Base45 writes in.
const BASE45: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

#[rustfmt::skip]
const DICT: &[&[u8]] = &[
    b"AZ1:", b"az1:", b"AZ2:", b"AZ1", b":", b" ", b"\r\n", b"\t", b"00", b"G0", b"::", b"ZZZ", b"FGW", b"$%*", b"+-./",
    b"a", b"=", b"\x00", b"\x1d", "Ж".as_bytes(), "\u{a0}".as_bytes(),
];

/// The instant `verify` is asked about: inside the validity of most seed tokens.
const NOW_UNIX: i64 = 1_796_263_200; // 2026-12-03T01:00:00Z

/// Seeds of the signing keys by kid; any other kid is unknown to the verifier.
const KEYS: [(u16, [u8; 32]); 2] =
    [(1, *b"azyq-fuzz fixed signing key #001"), (2, *b"azyq-fuzz fixed signing key #002")];

/// Real tokens and the keys that signed them.
pub struct TokenHarness {
    keys: Vec<(u16, SigningKey)>,
    seeds: Vec<String>,
    mutator: Mutator<'static>,
}

impl TokenHarness {
    /// Signs the seed tokens (deterministically: Ed25519 signatures are).
    pub fn new() -> TokenHarness {
        let keys: Vec<(u16, SigningKey)> =
            KEYS.iter().map(|(kid, seed)| (*kid, SigningKey::from_bytes(seed))).collect();
        let mut rng = Rng::seed_from_u64(0x70CE);
        let mut seeds = Vec::new();
        for i in 0..96u32 {
            let fields = seed_fields(&mut rng, i);
            // Kid 7 and u16::MAX are unknown: sign them with key 1 all the same.
            let key = keys.iter().find(|(kid, _)| *kid == fields.kid).map_or(&keys[0].1, |(_, k)| k);
            match token::sign(&fields, key) {
                Ok(text) => seeds.push(text),
                Err(e) => panic!("harness bug: seed {i} does not sign: {e}"),
            }
        }
        TokenHarness { keys, seeds, mutator: Mutator { dict: DICT, max_len: 2 * TEXT_LEN + 64 } }
    }

    /// The seed tokens, for tests.
    pub fn seeds(&self) -> &[String] {
        &self.seeds
    }

    fn public(&self, kid: u16) -> Option<VerifyingKey> {
        self.keys.iter().find(|(k, _)| *k == kid).map(|(_, key)| key.verifying_key())
    }

    fn signing(&self, kid: u16) -> Option<&SigningKey> {
        self.keys.iter().find(|(k, _)| *k == kid).map(|(_, key)| key)
    }
}

impl Default for TokenHarness {
    fn default() -> Self {
        TokenHarness::new()
    }
}

fn instant(secs: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(secs), 0).unwrap_or_default()
}

/// Fields at their edges (kid, id, month range, times equal, 0 and u32::MAX) and ordinary ones.
fn seed_fields(rng: &mut Rng, i: u32) -> TokenFields {
    let now = NOW_UNIX as u32;
    let (issued, expires) = match i % 8 {
        0 => (0, 0),
        1 => (0, u32::MAX),
        2 => (u32::MAX, u32::MAX),
        3 => (now, now),
        4 => (now - 600, now - 1),
        _ => (now - rng.gen_range(0..600), now + rng.gen_range(1..600)),
    };
    let month = match i % 5 {
        0 => Month::new(2000, 1),
        1 => Month::new(2999, 12),
        2 => Month::new(2026, 12),
        _ => Month::new(rng.gen_range(2000..=2999), rng.gen_range(1..=12)),
    };
    let random_id = rng.gen();
    TokenFields {
        kid: pick(rng, &[1, 1, 1, 2, 0, 7, u16::MAX]),
        voucher_id: pick(rng, &[0, 1, 4_200_000_123, u64::MAX, random_id]),
        month: month.unwrap_or_else(|e| panic!("harness bug: seed month: {e}")),
        issued_at: instant(issued),
        expires_at: instant(expires),
        nonce: token::Nonce::V1(rng.gen()),
        offline: None,
    }
}

/// Mutates the 93 token bytes where the checks sit, then writes them as canonical Base45.
fn mutate_bytes(rng: &mut Rng, seed: &str) -> Vec<u8> {
    let body = seed.strip_prefix(PREFIX).unwrap_or(seed);
    let mut bytes = base45::decode(body).unwrap_or_default();
    if bytes.len() != TOKEN_LEN {
        return seed.as_bytes().to_vec();
    }
    for _ in 0..rng.gen_range(1..=3) {
        match rng.gen_range(0..9) {
            0 => bytes[0] = pick(rng, &[0, 1, 2, 0x81, 0xFF]),
            // Kid: known, unknown.
            1 => bytes[1..3].copy_from_slice(&pick(rng, &[0u16, 1, 2, 3, u16::MAX]).to_be_bytes()),
            // Month index around the last valid one (11999 = 2999-12).
            2 => bytes[11..13].copy_from_slice(&pick(rng, &[0u16, 323, 11_999, 12_000, u16::MAX]).to_be_bytes()),
            // Times: swapped, equal, at the ends.
            3 => {
                let (a, b) = (rng.gen_range(13..21), rng.gen_range(13..21));
                bytes.swap(a, b);
            }
            4 => {
                let at = 13 + 4 * rng.gen_range(0..2);
                bytes[at..at + 4].fill(pick(rng, &[0, 0xFF]));
            }
            // Signature: zero, all ones, the identity point, one bit.
            5 => bytes[PAYLOAD_LEN..].fill(pick(rng, &[0, 0xFF])),
            6 => {
                bytes[PAYLOAD_LEN..].fill(0);
                bytes[PAYLOAD_LEN] = 1;
            }
            7 => {
                let i = rng.gen_range(0..TOKEN_LEN);
                bytes[i] ^= 1 << rng.gen_range(0..8);
            }
            // One byte more or fewer: a wrong length spelt in valid Base45 (last, as it moves the
            // offsets above).
            _ => {
                if rng.gen_bool(0.5) {
                    bytes.push(rng.gen());
                } else {
                    bytes.pop();
                }
                break;
            }
        }
    }
    format!("{PREFIX}{}", base45::encode(&bytes)).into_bytes()
}

impl Harness for TokenHarness {
    fn generate(&self, rng: &mut Rng) -> Vec<u8> {
        let seed = self.seeds[rng.gen_range(0..self.seeds.len())].as_str();
        let input = match rng.gen_range(0..100) {
            // A token as a scanner types it: whitespace around, sometimes a Caps-Lock prefix.
            0..=9 => {
                let before = pick(rng, &["", "", " ", "\t", "\r\n", "\u{a0}"]);
                let after = pick(rng, &["", "", "\r\n", "\n", "\r", "\t", " ", "\u{2028}"]);
                let text = if rng.gen_bool(0.1) { seed.replacen(PREFIX, "az1:", 1) } else { seed.to_owned() };
                format!("{before}{text}{after}").into_bytes()
            }
            10..=44 => mutate_bytes(rng, seed),
            45..=89 => {
                let mut data = seed.as_bytes().to_vec();
                let other = &self.seeds[rng.gen_range(0..self.seeds.len())];
                self.mutator.mutate(rng, &mut data, other.as_bytes());
                data
            }
            // Prefix and a random body of the right length: Base45 errors and canonical form.
            90..=94 => {
                let body: Vec<u8> = (0..TEXT_LEN - PREFIX.len()).map(|_| pick(rng, BASE45)).collect();
                [PREFIX.as_bytes(), &body].concat()
            }
            _ => noise(rng, BASE45, TEXT_LEN + 8),
        };
        lossy(input)
    }

    fn execute(&self, input: &[u8]) -> Outcome {
        let text = as_text(input);
        let looks = token::looks_like_token(&text);
        let decoded = match token::decode(&text) {
            Ok(decoded) => decoded,
            Err(TokenError::Invalid(reason)) => return Outcome::rejected(reason),
            Err(other) => {
                invariant(false, || format!("decode answered {other:?}: it checks no key and no clock"));
                return Outcome::rejected("unexpected");
            }
        };
        invariant(looks, || "a token that decodes does not look like one".to_owned());
        let now = DateTime::from_timestamp(NOW_UNIX, 0).unwrap_or_default();
        match token::verify(&text, |kid| self.public(kid), now) {
            Ok(fields) => {
                invariant(fields == decoded.fields, || "verify and decode read different fields".to_owned());
                // Ed25519 is deterministic: a verified token is exactly what its key signs for those
                // fields, so there is one spelling per token and no forgery got through.
                let resigned = self.signing(fields.kid).map(|key| token::sign(&fields, key));
                invariant(resigned.as_ref().is_some_and(|t| t.as_ref().ok() == Some(&text.trim().to_owned())), || {
                    format!("verified token differs from its re-signed form {resigned:?}")
                });
                Outcome::accepted(vec!["verified"])
            }
            Err(TokenError::Invalid(reason)) => Outcome::rejected(reason),
            Err(TokenError::UnknownKey(_)) => Outcome::rejected("unknown_key"),
            Err(TokenError::Expired { expires_at }) => {
                invariant(expires_at == decoded.fields.expires_at, || "expiry differs from the decoded one".to_owned());
                Outcome::rejected("expired")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_verify_or_are_refused_for_a_known_reason() {
        let h = TokenHarness::new();
        let mut verified = 0;
        for seed in h.seeds() {
            let outcome = h.execute(seed.as_bytes());
            assert!(outcome.accepted || outcome.reasons.iter().all(|r| ["unknown_key", "expired"].contains(r)));
            verified += usize::from(outcome.accepted);
        }
        assert!(verified > h.seeds().len() / 5, "{verified}");
    }

    #[test]
    fn tampered_bytes_are_refused() {
        let h = TokenHarness::new();
        let mut rng = Rng::seed_from_u64(3);
        for _ in 0..200 {
            let input = mutate_bytes(&mut rng, &h.seeds()[0]);
            let _ = h.execute(&input);
        }
        assert_eq!(h.execute(b"AZ1:"), Outcome::rejected("length"));
        assert_eq!(h.execute(b""), Outcome::rejected("prefix"));
    }
}
