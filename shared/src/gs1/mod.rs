//! GS1 traceability codes as a keyboard-wedge scanner types them into the till.
//!
//! [`parse`] accepts three shapes of input:
//! - a GS1 element string (GS1 DataMatrix, GS1-128, GS1 QR, GS1 DataBar), optionally behind the
//!   symbology identifier the scanner adds: `]d2`, `]C1`, `]Q3`, `]e0` (`]E0`/`]E4`, EAN/UPC, for a
//!   bare GTIN); an FNC1 in first position typed as a separator is skipped;
//! - the human-readable form with parentheses, `(01)04600000000015(21)ABC123(17)261231`;
//! - a bare GTIN-8, UPC-A, EAN-13 or GTIN-14 (a non-serialised product).
//!
//! In-store scale labels (an EAN-13 starting 20–29: PLU and weight) are read by [`scan`], which
//! tells them apart before [`parse`]; their layout is in [`ScaleLabel`]'s module.
//!
//! Known AIs: (01) GTIN, (21) serial, (10) batch, (17) expiry, (310n) net weight, and the marking
//! crypto fields (91) key id, (92) signature, (93) crypto tail, kept as received. Anything else is
//! refused with the AI named: a till must not sell a code it only half understood.
//!
//! # Separators and how a lost one is recovered
//!
//! (01) is 14 digits, (17) and (310n) are 6: fixed-length fields need no separator. A
//! variable-length field — (10), (21), (91), (92), (93) — ends at an FNC1 separator or at the end
//! of the input. Scanners type that separator as GS (0x1D), as a space, as the three characters
//! `029`, or drop it. GS and space are never data (neither is in GS1's character set 82), so they
//! always end a field, and any run of them between fields is skipped. The rule:
//!
//! 1. If the input holds a GS or a space, the scanner evidently transmits separators: the input is
//!    read as plain GS1 — `029` is data, a variable field runs to the next separator. If that
//!    reading is valid, it is the answer.
//! 2. Otherwise (or if that reading fails) two readings are searched, each assuming the scanner
//!    types every separator the same way:
//!    - *typed*: a variable field may end just before `029`, which is then a separator (and a `029`
//!      where a field would start is skipped: no AI begins with `02` here);
//!    - *lost*: a variable field may also end without any separator, but only right before a
//!      field whose length is known: (01), (17), (310n), (91), (92), (93). Guessing rests on
//!      those lengths, so this reading believes a crypto field only at its known length (4;
//!      44 or 88; 4). A (10)/(21) is never found without a separator in front of it: nothing
//!      would tell where the field before it ends.
//!
//!    The plain GS1 reading competes too. A reading must cover the whole input with valid fields
//!    (check digit, date, lengths, no AI twice) and include (01).
//! 3. Among complete readings the one with the most fields wins: a lost separator hides a field,
//!    and data seldom imitates a valid field followed by a valid remainder. Then the one with the
//!    fewest variable fields ending at a `029` or at no separator; then the one whose fields end
//!    earliest (a field starts at the first place it can: the first field's end decides, then the
//!    second's…). That last step is also what makes a `029` separator beat a guess just after it.
//!    On a full tie the plain reading wins, then the typed one.
//! 4. If nothing reads, the error is the plain GS1 reading's.
//!
//! What stays ambiguous, decided by that rule:
//! - With no GS or space anywhere, a serial or batch whose tail looks like known-length fields is
//!   split: `…21AB93xyzw` is serial `AB` + crypto tail `xyzw`, `…21AB17261231` is serial `AB` +
//!   expiry 2026-12-31. With a GS or space anywhere in the input, plain GS1 decides.
//! - With no separator, (21) followed by (10) (or the reverse) reads as one long field.
//! - With `029` separators, a `029` inside a variable field followed by text that reads as valid
//!   fields is taken for a separator; and a value with AI-like digits in it may let the
//!   lost-separator reading find more fields (serial `X91Y` + `029` + (92)… reads as serial `X`,
//!   key `Y029`).
//! - A crypto field of an unusual length is found only where no separator had to be guessed.
//! - In the bracketed form a value ends at the next `(` + 2–4 digits + `)`: GS1 defines that form
//!   for eyes, not for parsing, so a value containing such text is cut there.
//!
//! # Expiry century
//!
//! `YY` of (17) is read as `20YY`. GS1's sliding window (from 49 years back to 50 ahead of today)
//! gives the same year whenever `20YY` is at most 50 years ahead, which holds for every food label
//! until 2049; beyond that window it would say `19YY` (long expired) where this says `20YY`. In
//! exchange parsing needs no clock. Day `00` means the month's last day.

mod ai;
mod gtin;
mod read;
mod scale;

use ai::*;
pub use gtin::Gtin;
use read::*;
pub use scale::{Plu, PluError, ScaleLabel, ScaleLayout, MAX_LABEL_GRAMS};

use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The FNC1 separator as ASCII "group separator".
pub(super) const GS: u8 = 0x1D;
/// Longest input accepted: real marking codes stay under ~150 characters.
pub(super) const MAX_INPUT_CHARS: usize = 512;
/// Symbology identifiers (ISO/IEC 15424) of GS1 carriers, and of EAN/UPC for a bare GTIN.
pub(super) const SYMBOLOGIES: [&str; 6] = ["]d2", "]C1", "]Q3", "]e0", "]E0", "]E4"];

/// Why a scanned code was refused: `Display` is a sentence for the cashier, `reason` the stable code.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum Gs1Error {
    /// Nothing but whitespace (or only a symbology identifier) arrived.
    #[error("код пустой — отсканируйте ещё раз")]
    Empty,
    /// More than 512 characters: no product code is that long.
    #[error("код слишком длинный")]
    TooLong,
    /// Not a product code at all: a link, text, a non-GS1 symbology.
    #[error("это не код маркировки и не штрихкод товара")]
    NotGs1,
    /// A character that cannot appear in a GS1 code (Cyrillic: the keyboard layout is Russian).
    #[error("{}", bad_character_text(.ch))]
    BadCharacter {
        /// The first offending character.
        ch: char,
    },
    /// An application identifier this till does not know.
    #[error("в коде неизвестный идентификатор ({ai})")]
    UnknownAi {
        /// The AI as read, e.g. `8005`.
        ai: String,
    },
    /// The same AI twice.
    #[error("идентификатор ({ai}) повторяется в коде")]
    DuplicateAi {
        /// The repeated AI.
        ai: String,
    },
    /// A field (or a bare barcode, `ai: None`) of the wrong length, or a code cut short.
    #[error("{}", bad_length_text(.ai))]
    BadLength {
        /// The field's AI; `None` for the barcode as a whole.
        ai: Option<String>,
    },
    /// An element string without (01).
    #[error("в коде нет GTIN товара (01)")]
    MissingGtin,
    /// The GTIN's GS1 mod-10 check digit is wrong.
    #[error("неверная контрольная цифра GTIN")]
    GtinCheckDigit,
    /// (17) is not a calendar date.
    #[error("неверная дата срока годности в коде")]
    BadDate,
    /// A scale label (EAN-13 starting 20–29) whose check digit is wrong.
    #[error("неверная контрольная цифра весовой этикетки")]
    LabelCheckDigit,
    /// A scale label whose weight is 0 g.
    #[error("на весовой этикетке нулевой вес")]
    LabelZeroWeight,
}

impl Gs1Error {
    /// Stable snake_case code for logs, API bodies and the till's logic.
    pub fn reason(&self) -> &'static str {
        match self {
            Gs1Error::Empty => "empty",
            Gs1Error::TooLong => "too_long",
            Gs1Error::NotGs1 => "not_gs1",
            Gs1Error::BadCharacter { .. } => "bad_character",
            Gs1Error::UnknownAi { .. } => "unknown_ai",
            Gs1Error::DuplicateAi { .. } => "duplicate_ai",
            Gs1Error::BadLength { .. } => "bad_length",
            Gs1Error::MissingGtin => "missing_gtin",
            Gs1Error::GtinCheckDigit => "gtin_check_digit",
            Gs1Error::BadDate => "bad_date",
            Gs1Error::LabelCheckDigit => "label_check_digit",
            Gs1Error::LabelZeroWeight => "label_zero_weight",
        }
    }
}

pub(super) fn is_cyrillic(ch: char) -> bool {
    // Russian and Kazakh letters alike (Ә Ғ Қ Ң Ө Ұ Ү Һ І live in the same block).
    ('\u{0400}'..='\u{04FF}').contains(&ch)
}

pub(super) fn bad_character_text(ch: &char) -> &'static str {
    if is_cyrillic(*ch) {
        // A wedge scanner types key codes: under a Russian or Kazakh layout Latin letters arrive
        // as Cyrillic ones.
        "сканер ввёл русские буквы — переключите раскладку клавиатуры на английскую"
    } else {
        "в коде недопустимый символ"
    }
}

pub(super) fn bad_length_text(ai: &Option<String>) -> String {
    match ai {
        Some(ai) => format!("неверная длина поля ({ai}) в коде"),
        None => "неверная длина штрихкода".to_owned(),
    }
}

/// GS1 AI encodable character set 82: what (10), (21) and (91)–(93) may contain.
pub(super) fn is_set82(c: u8) -> bool {
    matches!(c, b'!' | b'"' | b'%'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

pub(super) fn is_sep(c: u8) -> bool {
    c == GS || c == b' '
}

/// Net weight from (310n): `value` × 10^−`decimals` kilograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetWeight {
    /// The six digits as a number (0..=999 999 when parsed).
    pub value: u32,
    /// `n` of (310n): digits after the decimal point, 0..=5 when parsed.
    pub decimals: u8,
}

impl NetWeight {
    /// The weight in grams, rounded half up.
    pub fn grams(&self) -> u64 {
        let v = u64::from(self.value);
        match self.decimals {
            d @ 0..=3 => v * 10u64.pow(u32::from(3 - d)),
            // Beyond 10^19 the divisor overflows u64 and any u32 value rounds to 0 g anyway.
            d => 10u64.checked_pow(u32::from(d - 3)).map_or(0, |div| v.saturating_add(div / 2) / div),
        }
    }
}

/// One scanned product: its GTIN and whatever else the code carried.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TraceCode {
    /// (01), or the bare barcode.
    pub gtin: Gtin,
    /// (21): makes the code one item, sold once.
    pub serial: Option<String>,
    /// (10) batch or lot.
    pub batch: Option<String>,
    /// (17) expiry date.
    pub expiry: Option<NaiveDate>,
    /// (310n) net weight.
    pub net_weight: Option<NetWeight>,
    /// (91) marking key id, as received.
    pub ai91: Option<String>,
    /// (92) marking signature, as received.
    pub ai92: Option<String>,
    /// (93) marking crypto tail, as received.
    pub ai93: Option<String>,
}

impl TraceCode {
    pub(super) fn product(gtin: Gtin) -> TraceCode {
        TraceCode {
            gtin,
            serial: None,
            batch: None,
            expiry: None,
            net_weight: None,
            ai91: None,
            ai92: None,
            ai93: None,
        }
    }

    /// Whether the code names one item (has a serial) rather than a product.
    pub fn is_serialised(&self) -> bool {
        self.serial.is_some()
    }

    /// Canonical human-readable form "(01)…(21)…(10)…(17)…(310n)…(91)…(92)…(93)…".
    pub fn to_hri(&self) -> String {
        self.fields().iter().map(|(ai, value, _)| format!("({ai}){value}")).collect()
    }

    /// Canonical machine form: the same order, GS after each variable-length field but the last.
    pub fn to_element_string(&self) -> String {
        let fields = self.fields();
        let mut out = String::new();
        for (i, (ai, value, variable)) in fields.iter().enumerate() {
            out.push_str(ai);
            out.push_str(value);
            if *variable && i + 1 < fields.len() {
                out.push(char::from(GS));
            }
        }
        out
    }

    /// (AI, value, variable length?) in canonical order: identity first, crypto fields last.
    pub(super) fn fields(&self) -> Vec<(String, String, bool)> {
        let text = |ai: &str, v: &Option<String>| v.as_ref().map(|v| (ai.to_owned(), v.clone(), true));
        let mut out = vec![("01".to_owned(), self.gtin.0.clone(), false)];
        out.extend(text("21", &self.serial));
        out.extend(text("10", &self.batch));
        out.extend(self.expiry.map(|d| ("17".to_owned(), d.format("%y%m%d").to_string(), false)));
        out.extend(self.net_weight.map(|w| (format!("310{}", w.decimals), format!("{:06}", w.value), false)));
        out.extend(text("91", &self.ai91));
        out.extend(text("92", &self.ai92));
        out.extend(text("93", &self.ai93));
        out
    }
}

impl FromStr for TraceCode {
    type Err = Gs1Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// What a product scan is: a traceability code, or an in-store scale label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scanned {
    Product(TraceCode),
    Label(ScaleLabel),
}

/// Reads a product scan: a scale label ([`ScaleLabel::read`]: thirteen digits starting with 2),
/// else a traceability code ([`parse`]).
pub fn scan(input: &str) -> Result<Scanned, Gs1Error> {
    match ScaleLabel::read(input)? {
        Some(label) => Ok(Scanned::Label(label)),
        None => parse(input).map(Scanned::Product),
    }
}

/// Parses what the scanner typed: an element string, the bracketed form or a bare GTIN.
pub fn parse(input: &str) -> Result<TraceCode, Gs1Error> {
    // Scanners end with CR/LF (sometimes a tab); a space inside may still be a separator.
    let text = input.trim();
    if text.is_empty() {
        return Err(Gs1Error::Empty);
    }
    if text.chars().nth(MAX_INPUT_CHARS).is_some() {
        return Err(Gs1Error::TooLong);
    }
    // Before anything else: under a Cyrillic layout even `]d2` arrives as `ъв2`.
    if let Some(ch) = text.chars().find(|&c| is_cyrillic(c)) {
        return Err(Gs1Error::BadCharacter { ch });
    }
    let content = strip_symbology(text)?;
    let b = content.as_bytes();
    let first = match b.iter().find(|&&c| !is_sep(c)) {
        None => return Err(Gs1Error::Empty),
        Some(&c) if c.is_ascii_digit() || c == b'(' => c,
        Some(_) => return Err(Gs1Error::NotGs1),
    };
    let allowed = |c: char| u8::try_from(c).is_ok_and(|c| is_set82(c) || is_sep(c));
    if let Some(ch) = content.chars().find(|&c| !allowed(c)) {
        return Err(Gs1Error::BadCharacter { ch });
    }
    // From here on the input is ASCII: byte offsets are character offsets.
    if first == b'(' {
        return read_bracketed(b);
    }
    if b.iter().all(u8::is_ascii_digit) && b.len() < 16 {
        // No element string is that short ((01) alone takes 16): a plain barcode, or a cut one.
        return Gtin::parse(content).map(TraceCode::product);
    }
    read_machine(b)
}

fn strip_symbology(s: &str) -> Result<&str, Gs1Error> {
    if !s.starts_with(']') {
        return Ok(s);
    }
    SYMBOLOGIES.iter().find_map(|id| s.strip_prefix(id)).ok_or(Gs1Error::NotGs1)
}

#[cfg(test)]
mod tests;
