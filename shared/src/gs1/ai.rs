//! The Application Identifiers the till knows, and each field's own rules.

use std::ops::Range;

use chrono::{Months, NaiveDate};

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ai {
    Gtin,
    Batch,
    Expiry,
    Serial,
    NetWeight(u8),
    KeyId,
    Signature,
    CryptoTail,
}

impl Ai {
    pub(super) fn code(self) -> String {
        match self {
            Ai::Gtin => "01".to_owned(),
            Ai::Batch => "10".to_owned(),
            Ai::Expiry => "17".to_owned(),
            Ai::Serial => "21".to_owned(),
            Ai::NetWeight(n) => format!("310{n}"),
            Ai::KeyId => "91".to_owned(),
            Ai::Signature => "92".to_owned(),
            Ai::CryptoTail => "93".to_owned(),
        }
    }

    pub(super) fn digits(self) -> usize {
        if let Ai::NetWeight(_) = self {
            4
        } else {
            2
        }
    }

    /// One bit per field; all (310n) share one, since a code carries one net weight.
    pub(super) fn slot(self) -> u16 {
        match self {
            Ai::Gtin => 1,
            Ai::Batch => 2,
            Ai::Expiry => 4,
            Ai::Serial => 8,
            Ai::NetWeight(_) => 16,
            Ai::KeyId => 32,
            Ai::Signature => 64,
            Ai::CryptoTail => 128,
        }
    }

    pub(super) fn fixed_len(self) -> Option<usize> {
        match self {
            Ai::Gtin => Some(14),
            Ai::Expiry | Ai::NetWeight(_) => Some(6),
            _ => None,
        }
    }

    pub(super) fn max_len(self) -> usize {
        match self {
            Ai::Batch | Ai::Serial => 20,
            Ai::KeyId | Ai::Signature | Ai::CryptoTail => 90,
            Ai::Gtin => 14,
            Ai::Expiry | Ai::NetWeight(_) => 6,
        }
    }

    pub(super) fn is_crypto(self) -> bool {
        matches!(self, Ai::KeyId | Ai::Signature | Ai::CryptoTail)
    }

    /// Lengths the EAEU marking uses for the crypto fields.
    pub(super) fn known_lens(self) -> &'static [usize] {
        match self {
            Ai::KeyId | Ai::CryptoTail => &[4],
            Ai::Signature => &[44, 88],
            _ => &[],
        }
    }
}

/// The AI at the start of `b`.
pub(super) fn read_ai(b: &[u8]) -> Result<Ai, Gs1Error> {
    let digit = |i: usize| b.get(i).filter(|c| c.is_ascii_digit()).map(|c| c - b'0');
    let (Some(hi), Some(lo)) = (digit(0), digit(1)) else {
        return Err(match b.iter().take(2).find(|c| !c.is_ascii_digit()) {
            Some(&c) => Gs1Error::BadCharacter { ch: char::from(c) },
            None => Gs1Error::BadLength { ai: None },
        });
    };
    let ai = match (hi, lo) {
        (0, 1) => Some(Ai::Gtin),
        (1, 0) => Some(Ai::Batch),
        (1, 7) => Some(Ai::Expiry),
        (2, 1) => Some(Ai::Serial),
        (3, 1) => match (digit(2), digit(3)) {
            (Some(0), Some(n @ 0..=5)) => Some(Ai::NetWeight(n)),
            _ => None,
        },
        (9, 1) => Some(Ai::KeyId),
        (9, 2) => Some(Ai::Signature),
        (9, 3) => Some(Ai::CryptoTail),
        _ => None,
    };
    ai.ok_or_else(|| {
        // Name the AI with as many digits as GS1's table gives its first two.
        let len = match hi * 10 + lo {
            23..=25 | 40..=42 | 71 => 3,
            31..=36 | 39 | 43 | 70 | 72 | 80..=82 => 4,
            _ => 2,
        };
        let ai = b.iter().take(len).take_while(|c| c.is_ascii_digit()).map(|&c| char::from(c)).collect();
        Gs1Error::UnknownAi { ai }
    })
}

/// A field's validated content.
pub(super) enum Field {
    Gtin(Gtin),
    Serial(String),
    Batch(String),
    Expiry(NaiveDate),
    NetWeight(NetWeight),
    KeyId(String),
    Signature(String),
    CryptoTail(String),
}

pub(super) fn validate(ai: Ai, v: &[u8]) -> Result<Field, Gs1Error> {
    let bad_length = || Gs1Error::BadLength { ai: Some(ai.code()) };
    if let Some(&c) = v.iter().find(|&&c| !is_set82(c)) {
        return Err(Gs1Error::BadCharacter { ch: char::from(c) });
    }
    match ai.fixed_len() {
        Some(len) if v.len() != len => return Err(bad_length()),
        Some(_) => {
            if let Some(&c) = v.iter().find(|c| !c.is_ascii_digit()) {
                return Err(Gs1Error::BadCharacter { ch: char::from(c) });
            }
        }
        None if v.is_empty() || v.len() > ai.max_len() => return Err(bad_length()),
        None => {}
    }
    let text = std::str::from_utf8(v).map_err(|_| Gs1Error::BadCharacter { ch: char::REPLACEMENT_CHARACTER })?;
    Ok(match ai {
        Ai::Gtin => {
            let gtin = Gtin::parse(text)?;
            Field::Gtin(gtin)
        }
        Ai::Expiry => Field::Expiry(expiry_date(text).ok_or(Gs1Error::BadDate)?),
        Ai::NetWeight(decimals) => {
            let value = text.parse().map_err(|_| bad_length())?;
            Field::NetWeight(NetWeight { value, decimals })
        }
        Ai::Serial => Field::Serial(text.to_owned()),
        Ai::Batch => Field::Batch(text.to_owned()),
        Ai::KeyId => Field::KeyId(text.to_owned()),
        Ai::Signature => Field::Signature(text.to_owned()),
        Ai::CryptoTail => Field::CryptoTail(text.to_owned()),
    })
}

/// YYMMDD as 20YY-MM-DD; day 00 is the last day of the month (GS1).
pub(super) fn expiry_date(yymmdd: &str) -> Option<NaiveDate> {
    let num = |r: Range<usize>| yymmdd.get(r)?.parse::<u32>().ok();
    let (yy, mm, dd) = (num(0..2)?, num(2..4)?, num(4..6)?);
    let year = 2000 + i32::try_from(yy).ok()?;
    if dd == 0 {
        NaiveDate::from_ymd_opt(year, mm, 1)?.checked_add_months(Months::new(1))?.pred_opt()
    } else {
        NaiveDate::from_ymd_opt(year, mm, dd)
    }
}
