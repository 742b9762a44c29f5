//! The public keys of the voucher-token signers, cached from `/.well-known/voucher-keys`, so that
//! the till refuses a damaged, forged or expired QR code itself, with the server's words.

use azyq_shared::api::VoucherKeys;
use azyq_shared::token::{self, TokenError, TokenFields};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;

#[derive(Debug, Clone)]
struct Entry {
    kid: u16,
    key: VerifyingKey,
    not_after: Option<DateTime<Utc>>,
}

/// The cached keys.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    entries: Vec<Entry>,
    /// Whether a document was ever loaded.
    pub loaded: bool,
}

impl KeyRing {
    /// The usable keys of a published document; entries that are not Ed25519 keys are skipped.
    pub fn from_document(doc: &VoucherKeys) -> KeyRing {
        let entries = doc
            .keys
            .iter()
            .filter(|k| k.alg == "EdDSA")
            .filter_map(|k| {
                let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(k.public_key.trim()).ok()?.try_into().ok()?;
                let key = VerifyingKey::from_bytes(&bytes).ok()?;
                Some(Entry { kid: k.kid, key, not_after: k.not_after })
            })
            .collect();
        KeyRing { entries, loaded: true }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The key with this kid, unless it was retired before `now`.
    fn key(&self, kid: u16, now: DateTime<Utc>) -> Option<VerifyingKey> {
        self.entries.iter().find(|e| e.kid == kid && e.not_after.is_none_or(|end| now <= end)).map(|e| e.key)
    }

    /// The full check of docs/token.md: format, known key, `verify_strict`, expiry.
    pub fn check(&self, text: &str, now: DateTime<Utc>) -> Result<TokenFields, TokenError> {
        token::verify(text, |kid| self.key(kid, now), now)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use azyq_shared::api::PublicKey;
    use azyq_shared::Month;
    use chrono::TimeZone;
    use ed25519_dalek::SigningKey;

    /// A signing key for tests (RFC 8032 test 1's seed, as in docs/token.md).
    pub fn signing_key() -> SigningKey {
        let seed: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49,
            0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
        ];
        SigningKey::from_bytes(&seed)
    }

    /// The published document for [`signing_key`] under `kid`.
    pub fn document(kid: u16) -> VoucherKeys {
        let public_key = URL_SAFE_NO_PAD.encode(signing_key().verifying_key().as_bytes());
        VoucherKeys { keys: vec![PublicKey { kid, alg: "EdDSA".into(), public_key, not_after: None }] }
    }

    pub fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0).unwrap()
    }

    /// A token for voucher `id`, signed with kid `kid`, good from 09:15 to 09:25 on 2026-12-03.
    pub fn token(id: u64, kid: u16, nonce: u8) -> String {
        let fields = TokenFields {
            kid,
            voucher_id: id,
            month: Month::parse("2026-12").unwrap(),
            issued_at: at(9, 15),
            expires_at: at(9, 25),
            nonce: token::Nonce::V1([nonce; 16]),
            offline: None,
        };
        token::sign(&fields, &signing_key()).unwrap()
    }

    #[test]
    fn checks_signature_kid_and_expiry() {
        let ring = KeyRing::from_document(&document(1));
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.check(&token(5, 1, 0), at(9, 20)).unwrap().voucher_id, 5);
        assert!(matches!(ring.check(&token(5, 1, 0), at(9, 25)), Err(TokenError::Expired { .. })));
        assert_eq!(ring.check(&token(5, 2, 0), at(9, 20)), Err(TokenError::UnknownKey(2)));
        let mut forged = token(5, 1, 0);
        forged.replace_range(20..21, if &forged[20..21] == "A" { "B" } else { "A" });
        assert!(ring.check(&forged, at(9, 20)).is_err());
    }

    #[test]
    fn a_retired_key_is_unknown_and_junk_entries_are_skipped() {
        let mut doc = document(1);
        doc.keys[0].not_after = Some(at(9, 0));
        doc.keys.push(PublicKey { kid: 9, alg: "EdDSA".into(), public_key: "short".into(), not_after: None });
        let ring = KeyRing::from_document(&doc);
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.check(&token(5, 1, 0), at(9, 20)), Err(TokenError::UnknownKey(1)));
    }
}
