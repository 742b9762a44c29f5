//! In-store scale labels (SPEC §5): loose goods weighed in the shop carry an EAN-13 from GS1's
//! restricted circulation range — first two digits 20 to 29 — that the shop's scale prints.
//!
//! # Layout
//!
//! ```text
//! 2 X P P P P P W W W W W C
//! │ │ └───┬───┘ └───┬───┘ └ EAN-13 check digit (GS1 mod 10 over the twelve digits before it)
//! │ │     │         └────── net weight in grams, 00001–99999
//! │ │     └──────────────── PLU: the shop's five-digit product number, the catalogue's `plu`
//! │ └────────────────────── prefix digit 0–9: which layout the scale prints (see below)
//! └──────────────────────── restricted circulation: never a GTIN of the National Product Catalog
//! ```
//!
//! `2012345012509`: prefix 0, PLU 12345, 1 250 g, check digit 9.
//!
//! # Other layouts
//!
//! Which digits mean what inside a restricted number is a national or even a shop's choice; the
//! other common layout embeds the price instead of the weight (`2X PPPPP $$$$$ C`, sometimes with a
//! price check digit: `2X PPPP V $$$$ C`). Only the weight layout is read today: every prefix 20–29
//! reads as [`ScaleLayout::Weight`] ([`ScaleLayout::of_prefix`]). A price layout is a new variant
//! there, a field of [`ScaleLabel`] for its price, and a rule in authorise for a price the label
//! already states — nothing else needs to change.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::gtin::check_digit;
use super::Gs1Error;

/// What the ten digits between the prefix and the check digit mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScaleLayout {
    /// `2X PPPPP WWWWW C`: PLU and net weight in grams.
    Weight,
}

impl ScaleLayout {
    /// The layout of labels whose second digit is `prefix` (0–9). Every prefix is read as weight.
    pub fn of_prefix(_prefix: u8) -> ScaleLayout {
        ScaleLayout::Weight
    }
}

/// A PLU: the five digits by which a shop's scale and the catalogue name a loose product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plu(String);

/// Why a text is not a PLU.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("PLU — ровно пять цифр, например 00042")]
pub struct PluError;

impl Plu {
    /// Exactly five ASCII digits (leading zeros kept: `00042`).
    pub fn parse(s: &str) -> Result<Plu, PluError> {
        let s = s.trim();
        if s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Plu(s.to_owned()))
        } else {
            Err(PluError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Plu {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Plu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Plu {
    type Error = PluError;
    fn try_from(s: String) -> Result<Plu, PluError> {
        Plu::parse(&s)
    }
}

impl From<Plu> for String {
    fn from(p: Plu) -> String {
        p.0
    }
}

/// A scale label as read: which product (by PLU) and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScaleLabel {
    /// The second digit, 0–9.
    pub prefix: u8,
    pub layout: ScaleLayout,
    pub plu: Plu,
    /// Net weight in grams, 1–99 999.
    pub grams: u32,
}

/// The heaviest weight five digits of grams can say.
pub const MAX_LABEL_GRAMS: u32 = 99_999;

/// Symbology identifiers a scanner may put before an EAN-13.
const EAN_SYMBOLOGIES: [&str; 2] = ["]E0", "]e0"];

impl ScaleLabel {
    /// A weight label; `None` for a prefix over 9 or a weight outside 1–99 999 g.
    pub fn weight(prefix: u8, plu: Plu, grams: u32) -> Option<ScaleLabel> {
        (prefix <= 9 && (1..=MAX_LABEL_GRAMS).contains(&grams)).then_some(ScaleLabel {
            prefix,
            layout: ScaleLayout::Weight,
            plu,
            grams,
        })
    }

    /// Reads what the scanner typed. `Ok(None)`: not a scale label (not thirteen digits starting
    /// with 2) — a product code for [`super::parse`]. A label with a wrong check digit or no
    /// weight is refused.
    pub fn read(input: &str) -> Result<Option<ScaleLabel>, Gs1Error> {
        let text = input.trim();
        let digits = EAN_SYMBOLOGIES.iter().find_map(|id| text.strip_prefix(id)).unwrap_or(text);
        let b = digits.as_bytes();
        if b.len() != 13 || b[0] != b'2' || !b.iter().all(u8::is_ascii_digit) {
            return Ok(None);
        }
        if b[12] - b'0' != check_digit(&b[..12]) {
            return Err(Gs1Error::LabelCheckDigit);
        }
        let prefix = b[1] - b'0';
        let plu = Plu(digits[2..7].to_owned());
        let grams: u32 = digits[7..12].parse().map_err(|_| Gs1Error::BadLength { ai: None })?;
        match ScaleLayout::of_prefix(prefix) {
            ScaleLayout::Weight => ScaleLabel::weight(prefix, plu, grams).map(Some).ok_or(Gs1Error::LabelZeroWeight),
        }
    }

    /// The thirteen digits a scale prints for this label.
    pub fn to_ean13(&self) -> String {
        let body = match self.layout {
            ScaleLayout::Weight => format!("2{}{}{:05}", self.prefix, self.plu, self.grams),
        };
        let check = check_digit(body.as_bytes());
        format!("{body}{check}")
    }
}

impl fmt::Display for ScaleLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ean13())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{scan, Scanned};
    use super::*;

    fn plu(s: &str) -> Plu {
        Plu::parse(s).unwrap()
    }

    #[test]
    fn the_documented_example() {
        let label = ScaleLabel::read("2012345012509").unwrap().unwrap();
        assert_eq!(label, ScaleLabel::weight(0, plu("12345"), 1_250).unwrap());
        assert_eq!(label.to_ean13(), "2012345012509");
        // 1 250 g of PLU 00042 with prefix 1, behind the EAN-13 symbology identifier and a CR.
        let potatoes = ScaleLabel::weight(1, plu("00042"), 1_250).unwrap();
        assert_eq!(ScaleLabel::read(&format!("]E0{potatoes}\r\n")), Ok(Some(potatoes.clone())));
        assert_eq!(scan(&potatoes.to_ean13()), Ok(Scanned::Label(potatoes)));
    }

    #[test]
    fn refusals_and_non_labels() {
        // The example with its check digit changed.
        assert_eq!(ScaleLabel::read("2012345012508"), Err(Gs1Error::LabelCheckDigit));
        assert_eq!(Gs1Error::LabelCheckDigit.reason(), "label_check_digit");
        let zero = format!("2012345{:05}", 0);
        let zero = format!("{zero}{}", check_digit(zero.as_bytes()));
        assert_eq!(ScaleLabel::read(&zero), Err(Gs1Error::LabelZeroWeight));
        // Not labels: a GTIN of the catalogue, the GTIN-14 form of a restricted number, 12 digits.
        for other in ["4600000000015", "0200000000141", "02000000000084", "201234501250", "2012345O12508"] {
            assert_eq!(ScaleLabel::read(other), Ok(None), "{other}");
        }
        assert!(matches!(scan("4600000000015"), Ok(Scanned::Product(_))));
        assert!(Plu::parse("1234").is_err() && Plu::parse("123456").is_err() && Plu::parse("12a45").is_err());
        assert_eq!(serde_json::to_string(&plu("00042")).unwrap(), "\"00042\"");
        assert!(serde_json::from_str::<Plu>("\"42\"").is_err());
    }

    fn label() -> impl Strategy<Value = ScaleLabel> {
        (0u8..=9, 0u32..100_000, 1..=MAX_LABEL_GRAMS).prop_map(|(prefix, plu, grams)| {
            ScaleLabel::weight(prefix, Plu::parse(&format!("{plu:05}")).unwrap(), grams).unwrap()
        })
    }

    proptest! {
        /// Every label a scale can print reads back as itself, however the scanner frames it.
        #[test]
        fn every_label_written_reads_back(label in label(), prefix in prop::sample::select(vec!["", "]E0", "]e0", " "]), suffix in prop::sample::select(vec!["", "\r", "\r\n", "\n", "\t"])) {
            let text = format!("{prefix}{label}{suffix}");
            prop_assert_eq!(ScaleLabel::read(&text), Ok(Some(label.clone())));
            prop_assert_eq!(scan(&text), Ok(Scanned::Label(label)));
        }

        /// Any other last digit is a wrong check digit, never another label.
        #[test]
        fn a_changed_check_digit_is_refused(label in label(), delta in 1u8..=9) {
            let mut text = label.to_ean13().into_bytes();
            text[12] = b'0' + (text[12] - b'0' + delta) % 10;
            let text = String::from_utf8(text).unwrap();
            prop_assert_eq!(ScaleLabel::read(&text), Err(Gs1Error::LabelCheckDigit));
        }

        /// A thirteen-digit code outside 20–29 is a product code, read as before.
        #[test]
        fn other_ean13_are_products(first in prop::sample::select(vec![0u8, 1, 3, 4, 5, 6, 7, 8, 9]), rest in "[0-9]{11}") {
            let body = format!("{first}{rest}");
            let text = format!("{body}{}", check_digit(body.as_bytes()));
            prop_assert_eq!(ScaleLabel::read(&text), Ok(None));
            prop_assert_eq!(scan(&text), super::super::parse(&text).map(Scanned::Product));
        }
    }
}
