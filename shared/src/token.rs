//! The signed voucher token: what the wallet shows as a QR code and the till scans.
//!
//! 37 bytes of payload (version, key id, voucher id, month, issued/expires, nonce), an Ed25519
//! signature over a domain-separated message, Base45 text behind `AZ1:`: 156 characters, all in
//! the QR alphanumeric alphabet. Format 2 (`AZ2:`, same length) also carries the voucher's balance,
//! amount and region at mint, for the offline till (SPEC §3.9), in place of half the nonce and a
//! u16 lifetime in place of the u32 expiry. The byte layout, key publication and test vectors are in
//! `docs/token.md`; `shared/tests/token_vectors.rs` checks this code against that document.

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, SIGNATURE_LENGTH};
use rand::RngCore;

use crate::ids::Month;
use crate::Tiyn;

/// Text prefix of a version-1 token. A new layout gets a new prefix, so old tills refuse it early.
pub const PREFIX: &str = "AZ1:";

/// The format version in the first payload byte.
pub const VERSION: u8 = 1;

/// Text prefix of a version-2 token (the offline-capable one).
pub const PREFIX_V2: &str = "AZ2:";

/// The format-2 version byte.
pub const VERSION_V2: u8 = 2;

/// A format-2 token lives at most this many seconds (its lifetime is a u16).
pub const MAX_LIFETIME_V2_SECS: i64 = 65_535;

/// Bytes of payload before the signature.
pub const PAYLOAD_LEN: usize = 37;

/// Payload and signature: the bytes that are Base45-encoded.
pub const TOKEN_LEN: usize = PAYLOAD_LEN + SIGNATURE_LENGTH;

/// Characters of the whole text form, prefix included.
pub const TEXT_LEN: usize = PREFIX.len() + base45_len(TOKEN_LEN);

/// Prepended to the payload before signing, so that a signature made by a voucher key can never
/// be passed off as a signature over some other kind of message, and the other way round.
pub const SIGNING_CONTEXT: &[u8] = b"azyq-voucher-token\0";

/// Bytes of the signed message: [`SIGNING_CONTEXT`] then the payload.
pub const MESSAGE_LEN: usize = SIGNING_CONTEXT.len() + PAYLOAD_LEN;
const BODY_LEN: usize = base45_len(TOKEN_LEN);

/// Base45 turns each 2 bytes into 3 characters and a last odd byte into 2.
const fn base45_len(bytes: usize) -> usize {
    bytes / 2 * 3 + (bytes % 2) * 2
}

/// The random part of a token, recorded when it is used so that one QR code pays for one basket.
/// Stored as hex: a format-1 nonce is 32 hex digits, a format-2 one 18, so they never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nonce {
    /// Format 1: 128 bits.
    V1([u8; 16]),
    /// Format 2: 72 bits.
    V2([u8; 9]),
}

impl Nonce {
    /// 128 fresh random bits for a format-1 token.
    pub fn new_v1() -> Nonce {
        Nonce::V1(new_nonce())
    }

    /// 72 fresh random bits for a format-2 token.
    pub fn new_v2() -> Nonce {
        let mut nonce = [0u8; 9];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        Nonce::V2(nonce)
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Nonce::V1(b) => b,
            Nonce::V2(b) => b,
        }
    }

    /// Lower-case hex, as the server stores it.
    pub fn to_hex(&self) -> String {
        self.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl AsRef<[u8]> for Nonce {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// What a format-2 token carries beyond format 1, as the server knew it when the QR was minted:
/// enough for a till without a link to refuse an exhausted voucher or one of another region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineFacts {
    /// The voucher's balance at mint (0 ..= u32::MAX tiyn).
    pub balance: Tiyn,
    /// The voucher's face value (0 ..= u32::MAX tiyn); the offline day limit is a share of it.
    pub amount: Tiyn,
    /// The voucher's region: the first two KATO digits as a number, 0 ..= 99.
    pub region: u8,
}

impl OfflineFacts {
    /// The region as the two-digit code the rest of the system uses ("55").
    pub fn region_code(&self) -> String {
        format!("{:02}", self.region)
    }
}

/// What a token says. No name or IIN: the token proves which voucher, the server knows the rest.
/// A format-2 token also says the balance, amount and region at mint ([`OfflineFacts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFields {
    /// Which signing key: lets the server rotate keys and the till pick the right public key.
    pub kid: u16,
    pub voucher_id: u64,
    /// The benefit month the voucher belongs to.
    pub month: Month,
    /// Whole seconds; a sub-second part is dropped when signing.
    pub issued_at: DateTime<Utc>,
    /// The token is refused from this instant on. Whole seconds, rounded down when signing.
    pub expires_at: DateTime<Utc>,
    /// Random, recorded at authorisation so that one QR code pays for one basket only.
    /// [`Nonce::V1`] in format 1, [`Nonce::V2`] in format 2.
    pub nonce: Nonce,
    /// Format 2 only (`None`: format 1).
    pub offline: Option<OfflineFacts>,
}

impl TokenFields {
    /// The format these fields sign to: 2 when they carry [`OfflineFacts`], else 1.
    pub fn version(&self) -> u8 {
        if self.offline.is_some() {
            VERSION_V2
        } else {
            VERSION
        }
    }
}

/// Why a token was refused.
///
/// `Invalid` carries a fixed reason, stable enough for logs and tests: `prefix`, `length`,
/// `base45`, `version`, `month`, `times` (issued after it expires), `region` (format 2: above 99),
/// `signature`, and when signing only, `issued_at` / `expires_at` (not representable as u32 unix
/// seconds), `nonce` (its length is not the format's), `lifetime` (format 2: over 65,535 s),
/// `balance` / `amount` (format 2: not representable as u32 tiyn).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid voucher token ({0})")]
    Invalid(&'static str),
    #[error("voucher token expired at {expires_at}")]
    Expired { expires_at: DateTime<Utc> },
    #[error("voucher token signed with unknown key {0}")]
    UnknownKey(u16),
}

/// A token parsed but not yet trusted: its fields, its signature, and the payload that was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub fields: TokenFields,
    pub signature: Signature,
    payload: [u8; PAYLOAD_LEN],
}

impl Decoded {
    /// The 37 payload bytes exactly as they were in the token (and as they were signed).
    pub fn payload(&self) -> &[u8; PAYLOAD_LEN] {
        &self.payload
    }

    /// The message the signature covers: [`SIGNING_CONTEXT`] followed by the payload.
    pub fn signed_message(&self) -> [u8; MESSAGE_LEN] {
        signed_message(&self.payload)
    }

    /// Checks the signature with `verify_strict`, which also refuses small-order keys and
    /// non-canonical signatures: with a small-order key, plain `verify` and batch verification
    /// accept one fixed signature for every message.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), TokenError> {
        key.verify_strict(&self.signed_message(), &self.signature).map_err(|_| TokenError::Invalid("signature"))
    }
}

/// Signs `fields` with `key` and returns the text form (156 characters, `AZ1:` or `AZ2:` then
/// Base45: format 2 when the fields carry [`OfflineFacts`]).
///
/// Fails with `Invalid("issued_at" | "expires_at")` for a time before 1970 or after 2106-02-07
/// (the layout holds u32 unix seconds) and `Invalid("times")` when it expires before it is issued,
/// so that nothing is signed that [`decode`] would refuse. Sub-second parts are dropped.
pub fn sign(fields: &TokenFields, key: &SigningKey) -> Result<String, TokenError> {
    let payload = encode_payload(fields)?;
    let signature = key.sign(&signed_message(&payload));
    let mut bytes = [0u8; TOKEN_LEN];
    bytes[..PAYLOAD_LEN].copy_from_slice(&payload);
    bytes[PAYLOAD_LEN..].copy_from_slice(&signature.to_bytes());
    let mut text = String::with_capacity(TEXT_LEN);
    text.push_str(if fields.offline.is_some() { PREFIX_V2 } else { PREFIX });
    text.push_str(&base45::encode(bytes));
    Ok(text)
}

/// Parses a token without checking its signature (for reading the kid or voucher id): prefix,
/// length, Base45, version, month range and `issued_at <= expires_at` are checked.
///
/// Whitespace around the text (a scanner's CR/LF or Tab) is ignored. That cannot eat a token
/// character, although a space is a Base45 digit: the text starts with the prefix and ends with
/// the pair spelling the signature's last byte, the top byte of S (below the group order ≈ 2^252,
/// so ≤ 0x10), which is `[0-9A-G]0`.
pub fn decode(text: &str) -> Result<Decoded, TokenError> {
    let text = text.trim();
    let (body, version) = match text.strip_prefix(PREFIX) {
        Some(body) => (body, VERSION),
        None => (text.strip_prefix(PREFIX_V2).ok_or(TokenError::Invalid("prefix"))?, VERSION_V2),
    };
    // Checked before decoding so that a long paste costs nothing.
    if body.len() != BODY_LEN {
        return Err(TokenError::Invalid("length"));
    }
    let bytes = base45::decode(body).map_err(|_| TokenError::Invalid("base45"))?;
    // The base45 crate truncates a final pair above 255 instead of refusing it (RFC 9285 calls it
    // invalid); re-encoding makes the text canonical, so one token has exactly one spelling.
    if base45::encode(&bytes) != body {
        return Err(TokenError::Invalid("base45"));
    }
    let bytes: [u8; TOKEN_LEN] = bytes.try_into().map_err(|_| TokenError::Invalid("length"))?;
    let mut payload = [0u8; PAYLOAD_LEN];
    payload.copy_from_slice(&bytes[..PAYLOAD_LEN]);
    let mut signature = [0u8; SIGNATURE_LENGTH];
    signature.copy_from_slice(&bytes[PAYLOAD_LEN..]);
    // The prefix and the (signed) version byte must agree: one token, one format.
    if payload[0] != version {
        return Err(TokenError::Invalid("version"));
    }
    Ok(Decoded { fields: decode_payload(&payload)?, signature: Signature::from_bytes(&signature), payload })
}

/// The full check a till or the server makes: decode, find the public key by kid (`None` →
/// `UnknownKey`), `verify_strict`, then expiry (`now >= expires_at` → `Expired`).
///
/// The signature is checked before expiry so that a tampered token is reported `Invalid`, never
/// `Expired`: an attacker learns nothing from editing the dates.
pub fn verify(
    text: &str,
    key_for: impl Fn(u16) -> Option<VerifyingKey>,
    now: DateTime<Utc>,
) -> Result<TokenFields, TokenError> {
    let decoded = decode(text)?;
    let kid = decoded.fields.kid;
    let key = key_for(kid).ok_or(TokenError::UnknownKey(kid))?;
    decoded.verify_signature(&key)?;
    if now >= decoded.fields.expires_at {
        return Err(TokenError::Expired { expires_at: decoded.fields.expires_at });
    }
    Ok(decoded.fields)
}

/// Cheap test whether scanner input is meant as a voucher token rather than a product code (the
/// till's one input field takes both).
///
/// Only the prefix is looked at, and without regard to case: a truncated or Caps-Lock-mangled
/// token should reach [`decode`] and be refused with its reason, not be looked up as a product.
pub fn looks_like_token(input: &str) -> bool {
    let head = input.trim_start().as_bytes().get(..PREFIX.len());
    head.is_some_and(|p| p.eq_ignore_ascii_case(PREFIX.as_bytes()) || p.eq_ignore_ascii_case(PREFIX_V2.as_bytes()))
}

/// 128 fresh random bits from the operating system, for [`TokenFields::nonce`].
pub fn new_nonce() -> [u8; 16] {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

fn signed_message(payload: &[u8; PAYLOAD_LEN]) -> [u8; MESSAGE_LEN] {
    let mut message = [0u8; MESSAGE_LEN];
    message[..SIGNING_CONTEXT.len()].copy_from_slice(SIGNING_CONTEXT);
    message[SIGNING_CONTEXT.len()..].copy_from_slice(payload);
    message
}

fn encode_payload(fields: &TokenFields) -> Result<[u8; PAYLOAD_LEN], TokenError> {
    let month = month_index(fields.month).ok_or(TokenError::Invalid("month"))?;
    let issued_at = unix_u32(fields.issued_at).ok_or(TokenError::Invalid("issued_at"))?;
    if fields.issued_at.timestamp() > fields.expires_at.timestamp() {
        return Err(TokenError::Invalid("times"));
    }
    let mut p = [0u8; PAYLOAD_LEN];
    p[0] = fields.version();
    p[1..3].copy_from_slice(&fields.kid.to_be_bytes());
    p[3..11].copy_from_slice(&fields.voucher_id.to_be_bytes());
    p[11..13].copy_from_slice(&month.to_be_bytes());
    p[13..17].copy_from_slice(&issued_at.to_be_bytes());
    match (&fields.offline, &fields.nonce) {
        (None, Nonce::V1(nonce)) => {
            let expires_at = unix_u32(fields.expires_at).ok_or(TokenError::Invalid("expires_at"))?;
            p[17..21].copy_from_slice(&expires_at.to_be_bytes());
            p[21..37].copy_from_slice(nonce);
        }
        (Some(facts), Nonce::V2(nonce)) => {
            // Whole seconds of both ends, so a sub-second part never lengthens the lifetime.
            let lifetime = fields.expires_at.timestamp() - i64::from(issued_at);
            let lifetime = u16::try_from(lifetime).map_err(|_| TokenError::Invalid("lifetime"))?;
            let tiyn = |t: Tiyn, what| u32::try_from(t.get()).map_err(|_| TokenError::Invalid(what));
            if facts.region > 99 {
                return Err(TokenError::Invalid("region"));
            }
            p[17..19].copy_from_slice(&lifetime.to_be_bytes());
            p[19..23].copy_from_slice(&tiyn(facts.balance, "balance")?.to_be_bytes());
            p[23..27].copy_from_slice(&tiyn(facts.amount, "amount")?.to_be_bytes());
            p[27] = facts.region;
            p[28..37].copy_from_slice(nonce);
        }
        _ => return Err(TokenError::Invalid("nonce")),
    }
    Ok(p)
}

fn be_u32(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |n, byte| n << 8 | u32::from(*byte))
}

fn decode_payload(p: &[u8; PAYLOAD_LEN]) -> Result<TokenFields, TokenError> {
    let kid = u16::from_be_bytes([p[1], p[2]]);
    let mut id = [0u8; 8];
    id.copy_from_slice(&p[3..11]);
    let month = month_from_index(u16::from_be_bytes([p[11], p[12]]))?;
    let issued_at = be_u32(&p[13..17]);
    let (expires_at, nonce, offline) = match p[0] {
        VERSION => {
            let expires_at = i64::from(be_u32(&p[17..21]));
            let mut nonce = [0u8; 16];
            nonce.copy_from_slice(&p[21..37]);
            (expires_at, Nonce::V1(nonce), None)
        }
        VERSION_V2 => {
            let lifetime = u16::from_be_bytes([p[17], p[18]]);
            let region = p[27];
            if region > 99 {
                return Err(TokenError::Invalid("region"));
            }
            let facts = OfflineFacts {
                balance: Tiyn::new(i64::from(be_u32(&p[19..23]))),
                amount: Tiyn::new(i64::from(be_u32(&p[23..27]))),
                region,
            };
            let mut nonce = [0u8; 9];
            nonce.copy_from_slice(&p[28..37]);
            (i64::from(issued_at) + i64::from(lifetime), Nonce::V2(nonce), Some(facts))
        }
        _ => return Err(TokenError::Invalid("version")),
    };
    if i64::from(issued_at) > expires_at {
        return Err(TokenError::Invalid("times"));
    }
    Ok(TokenFields {
        kid,
        voucher_id: u64::from_be_bytes(id),
        month,
        issued_at: from_unix(i64::from(issued_at))?,
        expires_at: from_unix(expires_at)?,
        nonce,
        offline,
    })
}

/// Months since 2000-01 (2000-01 = 0, 2026-12 = 323).
fn month_index(month: Month) -> Option<u16> {
    let index = (i64::from(month.year()) - 2000) * 12 + i64::from(month.month()) - 1;
    u16::try_from(index).ok()
}

fn month_from_index(index: u16) -> Result<Month, TokenError> {
    let year = 2000 + i32::from(index / 12);
    let month = u32::from(index % 12) + 1;
    // `Month` stops at 2999-12 (index 11999); anything above is not a month we issue.
    Month::new(year, month).map_err(|_| TokenError::Invalid("month"))
}

fn unix_u32(t: DateTime<Utc>) -> Option<u32> {
    // `timestamp()` rounds down, so a sub-second expiry moves earlier, never later.
    u32::try_from(t.timestamp()).ok()
}

fn from_unix(secs: i64) -> Result<DateTime<Utc>, TokenError> {
    // Every u32 (plus a u16 lifetime) is a valid instant; the error arm only keeps this free of
    // `unwrap`.
    DateTime::from_timestamp(secs, 0).ok_or(TokenError::Invalid("times"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use ed25519_dalek::Verifier;
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn at(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0).unwrap()
    }

    fn fields() -> TokenFields {
        TokenFields {
            kid: 1,
            voucher_id: 4_200_000_123,
            month: Month::new(2026, 12).unwrap(),
            issued_at: at(2026, 12, 3),
            expires_at: at(2026, 12, 4),
            nonce: Nonce::V1(*b"0123456789abcdef"),
            offline: None,
        }
    }

    fn now() -> DateTime<Utc> {
        at(2026, 12, 3) + Duration::hours(1)
    }

    /// Key 1 is known, any other kid is not.
    fn keys(kid: u16) -> Option<VerifyingKey> {
        (kid == 1).then(|| key(7).verifying_key())
    }

    fn token() -> String {
        sign(&fields(), &key(7)).unwrap()
    }

    fn bytes_of(text: &str) -> Vec<u8> {
        base45::decode(&text[PREFIX.len()..]).unwrap()
    }

    fn text_of(bytes: &[u8]) -> String {
        format!("{PREFIX}{}", base45::encode(bytes))
    }

    #[test]
    fn round_trip() {
        let text = token();
        assert_eq!(verify(&text, keys, now()), Ok(fields()));
        let decoded = decode(&text).unwrap();
        assert_eq!(decoded.fields, fields());
        assert_eq!(decoded.payload()[0], VERSION);
        assert_eq!(&decoded.payload()[11..13], &323u16.to_be_bytes());
        assert_eq!(&decoded.signed_message()[..SIGNING_CONTEXT.len()], SIGNING_CONTEXT);
    }

    #[test]
    fn text_is_156_qr_alphanumeric_chars() {
        const QR_ALPHANUMERIC: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        assert_eq!(TEXT_LEN, 156);
        let text = token();
        assert_eq!(text.len(), 156);
        assert!(text.starts_with(PREFIX));
        assert!(text.chars().all(|c| QR_ALPHANUMERIC.contains(c)), "{text}");
        assert_eq!(bytes_of(&text).len(), TOKEN_LEN);
    }

    #[test]
    fn every_bit_flip_is_refused() {
        let bytes = bytes_of(&token());
        for i in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            let result = verify(&text_of(&flipped), keys, now());
            match result {
                Err(TokenError::Invalid(_)) => {}
                // Only the kid bytes (offsets 1 and 2) can turn into another key id.
                Err(TokenError::UnknownKey(_)) if (1..3).contains(&(i / 8)) => {}
                other => panic!("bit {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn tampering_with_expiry_is_invalid_not_expired() {
        let mut bytes = bytes_of(&token());
        // Move expiry back to the issue time: an honest token like that would be Expired.
        let issued: [u8; 4] = bytes[13..17].try_into().unwrap();
        bytes[17..21].copy_from_slice(&issued);
        assert_eq!(verify(&text_of(&bytes), keys, now()), Err(TokenError::Invalid("signature")));
    }

    #[test]
    fn malformed_text_is_invalid_with_reason() {
        let text = token();
        let cases = [
            (text[..155].to_owned(), "length"),
            (text[..100].to_owned(), "length"),
            (String::new(), "prefix"),
            (text.replacen("AZ1:", "AZ2:", 1), "version"),
            (text.replacen("AZ1:", "AZ3:", 1), "prefix"),
            (text.replacen("AZ1:", "az1:", 1), "prefix"),
            (text[PREFIX.len()..].to_owned(), "prefix"),
            (format!("{text}0"), "length"),
            (format!("{text}00"), "length"),
            (format!("{text} X"), "length"),
            (format!("{}a{}", &text[..20], &text[21..]), "base45"),
            (format!("{}={}", &text[..20], &text[21..]), "base45"),
            (format!("{}Ж{}", &text[..20], &text[22..]), "base45"),
            (text.to_lowercase().replacen("az1:", "AZ1:", 1), "base45"),
        ];
        for (input, reason) in cases {
            assert_eq!(decode(&input).map(|_| ()), Err(TokenError::Invalid(reason)), "{input:?}");
            assert_eq!(verify(&input, keys, now()), Err(TokenError::Invalid(reason)), "{input:?}");
        }
    }

    #[test]
    fn non_canonical_base45_is_refused() {
        // "::" is 44 + 44 * 45 = 2024: the base45 crate truncates it, RFC 9285 refuses it.
        assert!(base45::decode("::").is_ok());
        let text = token();
        let last = bytes_of(&text)[TOKEN_LEN - 1];
        // The same last byte spelt as its value + 256 (still two valid characters).
        let v = u32::from(last) + 256;
        let table = base45::alphabet::TABLE;
        let tail = [table[(v % 45) as usize], table[(v / 45) as usize]];
        let forged = format!("{}{}", &text[..TEXT_LEN - 2], std::str::from_utf8(&tail).unwrap());
        assert_ne!(forged, text);
        assert_eq!(bytes_of(&forged), bytes_of(&text));
        assert_eq!(decode(&forged).map(|_| ()), Err(TokenError::Invalid("base45")));
    }

    #[test]
    fn version_and_month_are_checked() {
        let mut bytes = bytes_of(&token());
        bytes[0] = 2;
        assert_eq!(decode(&text_of(&bytes)).map(|_| ()), Err(TokenError::Invalid("version")));

        let mut bytes = bytes_of(&token());
        bytes[11..13].copy_from_slice(&12_000u16.to_be_bytes());
        assert_eq!(decode(&text_of(&bytes)).map(|_| ()), Err(TokenError::Invalid("month")));
        bytes[11..13].copy_from_slice(&11_999u16.to_be_bytes());
        assert_eq!(decode(&text_of(&bytes)).unwrap().fields.month, Month::new(2999, 12).unwrap());
        bytes[11..13].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(decode(&text_of(&bytes)).unwrap().fields.month, Month::new(2000, 1).unwrap());
    }

    #[test]
    fn scanner_whitespace_is_trimmed() {
        let text = token();
        for input in [format!("{text}\r\n"), format!("{text}\n"), format!("\t{text}\r"), format!("  {text}")] {
            assert_eq!(verify(&input, keys, now()), Ok(fields()));
        }
        // A space is a Base45 digit, but never the last character: the last byte is the top byte
        // of the signature's S (below the group order ≈ 2^252, so ≤ 0x10), spelt "[0-9A-G]0".
        let mut f = fields();
        for n in 0u16..300 {
            let mut nonce = *b"0123456789abcdef";
            nonce[..2].copy_from_slice(&n.to_be_bytes());
            f.nonce = Nonce::V1(nonce);
            let t = sign(&f, &key(7)).unwrap();
            assert_eq!(t.as_bytes()[TEXT_LEN - 1], b'0', "{t}");
            assert!(matches!(t.as_bytes()[TEXT_LEN - 2], b'0'..=b'9' | b'A'..=b'G'), "{t}");
            if t.trim_end().contains(' ') {
                assert_eq!(verify(&format!("{t}\r\n"), keys, now()), Ok(f.clone()));
            }
        }
    }

    #[test]
    fn expired_only_when_signature_is_good() {
        let text = token();
        let expires_at = fields().expires_at;
        let expired = Err(TokenError::Expired { expires_at });
        assert_eq!(verify(&text, keys, expires_at), expired);
        assert_eq!(verify(&text, keys, expires_at + Duration::days(30)), expired);
        assert_eq!(verify(&text, keys, expires_at - Duration::seconds(1)), Ok(fields()));
        let other_key = |kid: u16| (kid == 1).then(|| key(8).verifying_key());
        assert_eq!(verify(&text, other_key, expires_at), Err(TokenError::Invalid("signature")));
    }

    #[test]
    fn unknown_kid() {
        let f = TokenFields { kid: 9, ..fields() };
        let text = sign(&f, &key(7)).unwrap();
        assert_eq!(verify(&text, keys, now()), Err(TokenError::UnknownKey(9)));
        // The kid is readable without any key.
        assert_eq!(decode(&text).unwrap().fields.kid, 9);
    }

    #[test]
    fn wrong_key_is_invalid_signature() {
        let text = token();
        let decoded = decode(&text).unwrap();
        assert_eq!(decoded.verify_signature(&key(7).verifying_key()), Ok(()));
        assert_eq!(decoded.verify_signature(&key(8).verifying_key()), Err(TokenError::Invalid("signature")));
    }

    #[test]
    fn small_order_key_forgery_is_refused() {
        // With the identity point as public key, R = identity and S = 0 satisfy the plain
        // verification equation for every message; verify_strict refuses the weak key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        let mut bytes = bytes_of(&token());
        bytes[PAYLOAD_LEN..].fill(0);
        bytes[PAYLOAD_LEN] = 1;
        let decoded = decode(&text_of(&bytes)).unwrap();
        assert!(weak.verify(&decoded.signed_message(), &decoded.signature).is_ok());
        assert_eq!(decoded.verify_signature(&weak), Err(TokenError::Invalid("signature")));
        assert_eq!(verify(&text_of(&bytes), |_| Some(weak), now()), Err(TokenError::Invalid("signature")));
    }

    #[test]
    fn non_canonical_signature_is_refused() {
        // S + L (the group order) is the same scalar: accepting it would make signatures malleable.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut bytes = bytes_of(&token());
        let s = &mut bytes[PAYLOAD_LEN + 32..];
        let mut carry = 0u16;
        for (b, l) in s.iter_mut().zip(L) {
            let sum = u16::from(*b) + u16::from(l) + carry;
            *b = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(verify(&text_of(&bytes), keys, now()), Err(TokenError::Invalid("signature")));
    }

    #[test]
    fn sign_refuses_what_decode_would() {
        let k = key(7);
        let before_1970 = TokenFields { issued_at: at(1969, 12, 31), ..fields() };
        assert_eq!(sign(&before_1970, &k), Err(TokenError::Invalid("issued_at")));
        let after_2106 = TokenFields { expires_at: at(2106, 2, 8), ..fields() };
        assert_eq!(sign(&after_2106, &k), Err(TokenError::Invalid("expires_at")));
        let backwards = TokenFields { expires_at: at(2026, 12, 2), ..fields() };
        assert_eq!(sign(&backwards, &k), Err(TokenError::Invalid("times")));
        // The last representable second still signs.
        let edge = TokenFields { expires_at: DateTime::from_timestamp(i64::from(u32::MAX), 0).unwrap(), ..fields() };
        assert_eq!(decode(&sign(&edge, &k).unwrap()).unwrap().fields, edge);
        // A decoded payload with issued_at > expires_at is refused before any key is looked up.
        let mut bytes = bytes_of(&token());
        bytes[17..21].fill(0);
        assert_eq!(decode(&text_of(&bytes)).map(|_| ()), Err(TokenError::Invalid("times")));
    }

    #[test]
    fn sub_seconds_are_dropped() {
        let f = TokenFields {
            issued_at: fields().issued_at + Duration::milliseconds(999),
            expires_at: fields().expires_at + Duration::milliseconds(999),
            ..fields()
        };
        assert_eq!(decode(&sign(&f, &key(7)).unwrap()).unwrap().fields, fields());
    }

    #[test]
    fn tells_tokens_from_product_codes() {
        let text = token();
        assert!(looks_like_token(&text));
        assert!(looks_like_token(&format!("\r\n{text}\r\n")));
        assert!(looks_like_token(&text[..40]));
        assert!(looks_like_token(&text.to_lowercase()));
        for code in ["4870204390014", "]d2010487020439001421ABC", "(01)04870204390014", "AZ1", "", "AZ"] {
            assert!(!looks_like_token(code), "{code}");
        }
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(new_nonce(), new_nonce());
        assert_ne!(Nonce::new_v2(), Nonce::new_v2());
        assert_eq!(Nonce::new_v1().to_hex().len(), 32);
        assert_eq!(Nonce::new_v2().to_hex().len(), 18);
    }

    fn fields_v2() -> TokenFields {
        TokenFields {
            expires_at: at(2026, 12, 3) + Duration::minutes(10),
            nonce: Nonce::V2(*b"012345678"),
            offline: Some(OfflineFacts { balance: Tiyn::new(1_250_000), amount: Tiyn::new(1_730_000), region: 55 }),
            ..fields()
        }
    }

    #[test]
    fn format_2_round_trips_in_156_characters() {
        let text = sign(&fields_v2(), &key(7)).unwrap();
        assert_eq!(text.len(), TEXT_LEN);
        assert!(text.starts_with(PREFIX_V2));
        assert!(looks_like_token(&text) && looks_like_token(&text.to_lowercase()));
        let now = at(2026, 12, 3) + Duration::minutes(5);
        assert_eq!(verify(&text, keys, now), Ok(fields_v2()));
        let decoded = decode(&text).unwrap();
        assert_eq!(decoded.payload()[0], VERSION_V2);
        assert_eq!(&decoded.payload()[17..19], &600u16.to_be_bytes());
        assert_eq!(decoded.payload()[27], 55);
        assert_eq!(decoded.fields.version(), 2);
        assert_eq!(decoded.fields.offline.unwrap().region_code(), "55");
        let expired = Err(TokenError::Expired { expires_at: fields_v2().expires_at });
        assert_eq!(verify(&text, keys, fields_v2().expires_at), expired);
    }

    #[test]
    fn format_2_every_bit_flip_is_refused() {
        let text = sign(&fields_v2(), &key(7)).unwrap();
        let bytes = base45::decode(&text[PREFIX_V2.len()..]).unwrap();
        let now = at(2026, 12, 3) + Duration::minutes(5);
        for i in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            match verify(&format!("{PREFIX_V2}{}", base45::encode(&flipped)), keys, now) {
                Err(TokenError::Invalid(_)) => {}
                Err(TokenError::UnknownKey(_)) if (1..3).contains(&(i / 8)) => {}
                other => panic!("bit {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn formats_cannot_be_confused() {
        // A format-2 body behind the format-1 prefix, and the other way round.
        let v2 = sign(&fields_v2(), &key(7)).unwrap();
        let v1 = token();
        assert_eq!(decode(&v2.replacen(PREFIX_V2, PREFIX, 1)).map(|_| ()), Err(TokenError::Invalid("version")));
        assert_eq!(decode(&v1.replacen(PREFIX, PREFIX_V2, 1)).map(|_| ()), Err(TokenError::Invalid("version")));
        // The nonce must be the format's.
        let mixed = TokenFields { nonce: Nonce::V1([0; 16]), ..fields_v2() };
        assert_eq!(sign(&mixed, &key(7)), Err(TokenError::Invalid("nonce")));
        let mixed = TokenFields { nonce: Nonce::V2([0; 9]), ..fields() };
        assert_eq!(sign(&mixed, &key(7)), Err(TokenError::Invalid("nonce")));
    }

    #[test]
    fn format_2_signer_refuses_what_it_cannot_carry() {
        let k = key(7);
        let long = TokenFields { expires_at: at(2026, 12, 3) + Duration::seconds(65_536), ..fields_v2() };
        assert_eq!(sign(&long, &k), Err(TokenError::Invalid("lifetime")));
        let edge = TokenFields { expires_at: at(2026, 12, 3) + Duration::seconds(65_535), ..fields_v2() };
        assert_eq!(decode(&sign(&edge, &k).unwrap()).unwrap().fields, edge);
        let facts = fields_v2().offline.unwrap();
        let with = |f: OfflineFacts| TokenFields { offline: Some(f), ..fields_v2() };
        let big = Tiyn::new(i64::from(u32::MAX) + 1);
        assert_eq!(sign(&with(OfflineFacts { balance: big, ..facts }), &k), Err(TokenError::Invalid("balance")));
        assert_eq!(
            sign(&with(OfflineFacts { balance: Tiyn::new(-1), ..facts }), &k),
            Err(TokenError::Invalid("balance"))
        );
        assert_eq!(sign(&with(OfflineFacts { amount: big, ..facts }), &k), Err(TokenError::Invalid("amount")));
        assert_eq!(sign(&with(OfflineFacts { region: 100, ..facts }), &k), Err(TokenError::Invalid("region")));
        // A region byte above 99 in a payload is refused before any key is looked up.
        let text = sign(&fields_v2(), &k).unwrap();
        let mut bytes = base45::decode(&text[PREFIX_V2.len()..]).unwrap();
        bytes[27] = 100;
        let forged = format!("{PREFIX_V2}{}", base45::encode(&bytes));
        assert_eq!(decode(&forged).map(|_| ()), Err(TokenError::Invalid("region")));
    }

    fn any_fields() -> impl Strategy<Value = TokenFields> {
        (any::<u16>(), any::<u64>(), 2000i32..=2999, 1u32..=12, any::<u32>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(kid, voucher_id, y, m, a, b, nonce)| TokenFields {
                kid,
                voucher_id,
                month: Month::new(y, m).unwrap(),
                issued_at: DateTime::from_timestamp(i64::from(a.min(b)), 0).unwrap(),
                expires_at: DateTime::from_timestamp(i64::from(a.max(b)), 0).unwrap(),
                nonce: Nonce::V1(nonce),
                offline: None,
            },
        )
    }

    proptest! {
        #[test]
        fn any_fields_round_trip(f in any_fields(), seed in any::<[u8; 32]>()) {
            let k = SigningKey::from_bytes(&seed);
            let text = sign(&f, &k).unwrap();
            prop_assert_eq!(text.len(), TEXT_LEN);
            let kid = f.kid;
            let public = k.verifying_key();
            let key_for = |id: u16| (id == kid).then_some(public);
            // Just before expiry it is good; at expiry it is Expired.
            let before = f.expires_at - Duration::seconds(1);
            if f.expires_at > f.issued_at {
                prop_assert_eq!(verify(&text, key_for, before), Ok(f.clone()));
            }
            prop_assert_eq!(
                verify(&text, key_for, f.expires_at),
                Err(TokenError::Expired { expires_at: f.expires_at })
            );
            prop_assert_eq!(decode(&text).unwrap().fields, f);
        }

        #[test]
        fn decode_never_panics(s in ".{0,200}") {
            let _ = decode(&s);
            let _ = looks_like_token(&s);
        }

        #[test]
        fn decode_never_panics_on_base45_bodies(body in "[0-9A-Z $%*+./:-]{150,154}") {
            let _ = verify(&format!("{PREFIX}{body}"), keys, now());
        }
    }
}
