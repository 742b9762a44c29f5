//! GTINs: 8, 12, 13 or 14 digits with a GS1 check digit, kept as GTIN-14.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::*;

/// GS1 mod-10 check digit of the digits before it (weights 3, 1, 3, … from the right).
pub(super) fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d.saturating_sub(b'0')) * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    // Always 0..=9, so the cast cannot truncate.
    ((10 - sum % 10) % 10) as u8
}

/// A GTIN-14: fourteen digits with a valid GS1 check digit; shorter GTINs are left-padded with zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gtin(pub(super) String);

impl Gtin {
    /// Accepts GTIN-8, UPC-A (12), EAN-13 and GTIN-14 digits; the check digit must be right.
    pub fn parse(s: &str) -> Result<Gtin, Gs1Error> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Gs1Error::Empty);
        }
        if let Some(ch) = s.chars().find(|c| !c.is_ascii_digit()) {
            return Err(Gs1Error::BadCharacter { ch });
        }
        if !matches!(s.len(), 8 | 12 | 13 | 14) {
            return Err(Gs1Error::BadLength { ai: None });
        }
        let Some((&last, body)) = s.as_bytes().split_last() else {
            return Err(Gs1Error::Empty);
        };
        if last.saturating_sub(b'0') != check_digit(body) {
            return Err(Gs1Error::GtinCheckDigit);
        }
        // Leading zeros weigh nothing in the check sum, so padding keeps the check digit valid.
        Ok(Gtin(format!("{s:0>14}")))
    }

    /// The fourteen digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Gtin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Gtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Gtin {
    type Err = Gs1Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gtin::parse(s)
    }
}

impl Serialize for Gtin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Gtin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Gtin::parse(&s).map_err(serde::de::Error::custom)
    }
}
