//! GS1 traceability codes as a keyboard-wedge scanner types them into the till.
//!
//! [`parse`] accepts three shapes of input:
//! - a GS1 element string (GS1 DataMatrix, GS1-128, GS1 QR, GS1 DataBar), optionally behind the
//!   symbology identifier the scanner adds: `]d2`, `]C1`, `]Q3`, `]e0` (`]E0`/`]E4`, EAN/UPC, for a
//!   bare GTIN); an FNC1 in first position typed as a separator is skipped;
//! - the human-readable form with parentheses, `(01)04600000000015(21)ABC123(17)261231`;
//! - a bare GTIN-8, UPC-A, EAN-13 or GTIN-14 (a non-serialised product).
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

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The FNC1 separator as ASCII "group separator".
const GS: u8 = 0x1D;
/// Longest input accepted: real marking codes stay under ~150 characters.
const MAX_INPUT_CHARS: usize = 512;
/// Symbology identifiers (ISO/IEC 15424) of GS1 carriers, and of EAN/UPC for a bare GTIN.
const SYMBOLOGIES: [&str; 6] = ["]d2", "]C1", "]Q3", "]e0", "]E0", "]E4"];

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
        }
    }
}

fn is_cyrillic(ch: char) -> bool {
    // Russian and Kazakh letters alike (Ә Ғ Қ Ң Ө Ұ Ү Һ І live in the same block).
    ('\u{0400}'..='\u{04FF}').contains(&ch)
}

fn bad_character_text(ch: &char) -> &'static str {
    if is_cyrillic(*ch) {
        // A wedge scanner types key codes: under a Russian or Kazakh layout Latin letters arrive
        // as Cyrillic ones.
        "сканер ввёл русские буквы — переключите раскладку клавиатуры на английскую"
    } else {
        "в коде недопустимый символ"
    }
}

fn bad_length_text(ai: &Option<String>) -> String {
    match ai {
        Some(ai) => format!("неверная длина поля ({ai}) в коде"),
        None => "неверная длина штрихкода".to_owned(),
    }
}

/// GS1 AI encodable character set 82: what (10), (21) and (91)–(93) may contain.
fn is_set82(c: u8) -> bool {
    matches!(c, b'!' | b'"' | b'%'..=b'?' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

fn is_sep(c: u8) -> bool {
    c == GS || c == b' '
}

/// GS1 mod-10 check digit of the digits before it (weights 3, 1, 3, … from the right).
fn check_digit(body: &[u8]) -> u8 {
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
pub struct Gtin(String);

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
    fn product(gtin: Gtin) -> TraceCode {
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
    fn fields(&self) -> Vec<(String, String, bool)> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ai {
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
    fn code(self) -> String {
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

    fn digits(self) -> usize {
        if let Ai::NetWeight(_) = self {
            4
        } else {
            2
        }
    }

    /// One bit per field; all (310n) share one, since a code carries one net weight.
    fn slot(self) -> u16 {
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

    fn fixed_len(self) -> Option<usize> {
        match self {
            Ai::Gtin => Some(14),
            Ai::Expiry | Ai::NetWeight(_) => Some(6),
            _ => None,
        }
    }

    fn max_len(self) -> usize {
        match self {
            Ai::Batch | Ai::Serial => 20,
            Ai::KeyId | Ai::Signature | Ai::CryptoTail => 90,
            Ai::Gtin => 14,
            Ai::Expiry | Ai::NetWeight(_) => 6,
        }
    }

    fn is_crypto(self) -> bool {
        matches!(self, Ai::KeyId | Ai::Signature | Ai::CryptoTail)
    }

    /// Lengths the EAEU marking uses for the crypto fields.
    fn known_lens(self) -> &'static [usize] {
        match self {
            Ai::KeyId | Ai::CryptoTail => &[4],
            Ai::Signature => &[44, 88],
            _ => &[],
        }
    }
}

/// The AI at the start of `b`.
fn read_ai(b: &[u8]) -> Result<Ai, Gs1Error> {
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
enum Field {
    Gtin(Gtin),
    Serial(String),
    Batch(String),
    Expiry(NaiveDate),
    NetWeight(NetWeight),
    KeyId(String),
    Signature(String),
    CryptoTail(String),
}

fn validate(ai: Ai, v: &[u8]) -> Result<Field, Gs1Error> {
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
fn expiry_date(yymmdd: &str) -> Option<NaiveDate> {
    let num = |r: Range<usize>| yymmdd.get(r)?.parse::<u32>().ok();
    let (yy, mm, dd) = (num(0..2)?, num(2..4)?, num(4..6)?);
    let year = 2000 + i32::try_from(yy).ok()?;
    if dd == 0 {
        NaiveDate::from_ymd_opt(year, mm, 1)?.checked_add_months(Months::new(1))?.pred_opt()
    } else {
        NaiveDate::from_ymd_opt(year, mm, dd)
    }
}

type Span = (Ai, Range<usize>);

fn assemble(b: &[u8], spans: &[Span]) -> Result<TraceCode, Gs1Error> {
    let mut gtin = None;
    let mut code = TraceCode::product(Gtin(String::new()));
    let mut seen = 0u16;
    for (ai, range) in spans {
        if seen & ai.slot() != 0 {
            return Err(Gs1Error::DuplicateAi { ai: ai.code() });
        }
        seen |= ai.slot();
        let value = b.get(range.clone()).ok_or(Gs1Error::BadLength { ai: Some(ai.code()) })?;
        match validate(*ai, value)? {
            Field::Gtin(g) => gtin = Some(g),
            Field::Serial(s) => code.serial = Some(s),
            Field::Batch(s) => code.batch = Some(s),
            Field::Expiry(d) => code.expiry = Some(d),
            Field::NetWeight(w) => code.net_weight = Some(w),
            Field::KeyId(s) => code.ai91 = Some(s),
            Field::Signature(s) => code.ai92 = Some(s),
            Field::CryptoTail(s) => code.ai93 = Some(s),
        }
    }
    code.gtin = gtin.ok_or(Gs1Error::MissingGtin)?;
    Ok(code)
}

/// Where the run of data starting at `from` ends: the next GS/space or the end.
fn segment_end(b: &[u8], from: usize) -> usize {
    b.get(from..).and_then(|r| r.iter().position(|&c| is_sep(c))).map_or(b.len(), |i| from + i)
}

/// `(` + 2–4 digits + `)` at `pos`: the digits and where the value starts.
fn bracketed_ai(b: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    if b.get(pos) != Some(&b'(') {
        return None;
    }
    let after = b.get(pos + 1..)?;
    let n = after.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(2..=4).contains(&n) || after.get(n) != Some(&b')') {
        return None;
    }
    Some((after.get(..n)?, pos + n + 2))
}

/// The bracketed form: each value runs to the next `(digits)` or the end.
fn read_bracketed(content: &[u8]) -> Result<TraceCode, Gs1Error> {
    // Neither spaces nor GS can be data, and people type spaces around the brackets.
    let b: Vec<u8> = content.iter().copied().filter(|&c| !is_sep(c)).collect();
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let Some((digits, start)) = bracketed_ai(&b, pos) else {
            let after = b.get(pos + 1..).unwrap_or_default();
            return Err(match (b.get(pos), after.iter().find(|c| !c.is_ascii_digit())) {
                (Some(&c), _) if c != b'(' => Gs1Error::BadCharacter { ch: char::from(c) },
                (_, None) => Gs1Error::BadLength { ai: None },
                (_, Some(b')')) => Gs1Error::UnknownAi {
                    ai: after.iter().take_while(|c| c.is_ascii_digit()).map(|&c| char::from(c)).collect(),
                },
                (_, Some(&c)) => Gs1Error::BadCharacter { ch: char::from(c) },
            });
        };
        let ai = read_ai(digits)?;
        if ai.digits() != digits.len() {
            return Err(Gs1Error::UnknownAi { ai: digits.iter().map(|&c| char::from(c)).collect() });
        }
        let end = (start..b.len()).find(|&i| bracketed_ai(&b, i).is_some()).unwrap_or(b.len());
        spans.push((ai, start..end));
        pos = end;
    }
    assemble(&b, &spans)
}

/// An element string as typed (ASCII, separators GS or space or `029` or none).
fn read_machine(b: &[u8]) -> Result<TraceCode, Gs1Error> {
    let plain = read_plain(b);
    if let Ok(spans) = &plain {
        if b.iter().any(|&c| is_sep(c)) {
            return assemble(b, spans);
        }
    }
    let mut best = match &plain {
        Ok(spans) if spans.iter().any(|(ai, _)| *ai == Ai::Gtin) => Some(Reading { spans: spans.clone(), hidden: 0 }),
        _ => None,
    };
    for mode in [Mode::Typed, Mode::Lost] {
        if mode == Mode::Typed && !b.windows(3).any(|w| w == b"029") {
            continue;
        }
        if let Some(found) = Search::new(b, mode).run() {
            if best.as_ref().is_none_or(|current| found.beats(current)) {
                best = Some(found);
            }
        }
    }
    match (best, plain) {
        (Some(reading), _) => assemble(b, &reading.spans),
        // A valid reading without (01): let assemble say so.
        (None, Ok(spans)) => assemble(b, &spans),
        (None, Err(e)) => Err(e),
    }
}

/// Plain GS1: a variable field runs to the next GS/space, `029` is data.
fn read_plain(b: &[u8]) -> Result<Vec<Span>, Gs1Error> {
    let mut spans = Vec::new();
    let mut seen = 0u16;
    let mut pos = 0;
    loop {
        while b.get(pos).is_some_and(|&c| is_sep(c)) {
            pos += 1;
        }
        let Some(rest) = b.get(pos..).filter(|r| !r.is_empty()) else {
            return Ok(spans);
        };
        let ai = read_ai(rest)?;
        if seen & ai.slot() != 0 {
            return Err(Gs1Error::DuplicateAi { ai: ai.code() });
        }
        seen |= ai.slot();
        let start = pos + ai.digits();
        let seg_end = segment_end(b, start);
        let end = ai.fixed_len().map_or(seg_end, |len| (start + len).min(seg_end));
        validate(ai, b.get(start..end).unwrap_or_default())?;
        spans.push((ai, start..end));
        pos = end;
    }
}

/// How the scanner is assumed to type the separators it does not send as GS or space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As the three characters `029`.
    Typed,
    /// Not at all.
    Lost,
}

/// A complete reading, and how many variable fields in it end at a `029` or at no separator.
#[derive(Debug, Clone, Default)]
struct Reading {
    spans: Vec<Span>,
    hidden: u32,
}

impl Reading {
    /// More fields, then fewer hidden boundaries, then fields that end earlier.
    fn beats(&self, other: &Reading) -> bool {
        let key = |r: &Reading| (std::cmp::Reverse(r.spans.len()), r.hidden);
        key(self).cmp(&key(other)).then_with(|| self.ends().cmp(other.ends())).is_lt()
    }

    fn ends(&self) -> impl Iterator<Item = usize> + '_ {
        self.spans.iter().map(|(_, range)| range.end)
    }

    fn after(&self, span: Span, hidden: bool) -> Reading {
        let mut spans = Vec::with_capacity(self.spans.len() + 1);
        spans.push(span);
        spans.extend(self.spans.iter().cloned());
        Reading { spans, hidden: self.hidden + u32::from(hidden) }
    }
}

/// The best complete reading from each (position, AIs seen), memoised: each AI occurs once, so a
/// reading has at most 8 fields and the table stays small.
struct Search<'a> {
    b: &'a [u8],
    mode: Mode,
    memo: HashMap<(usize, u16), Option<Reading>>,
}

impl<'a> Search<'a> {
    fn new(b: &'a [u8], mode: Mode) -> Search<'a> {
        Search { b, mode, memo: HashMap::new() }
    }

    fn run(mut self) -> Option<Reading> {
        self.solve(0, 0)
    }

    fn solve(&mut self, pos: usize, seen: u16) -> Option<Reading> {
        if let Some(hit) = self.memo.get(&(pos, seen)) {
            return hit.clone();
        }
        let found = self.step(pos, seen);
        self.memo.insert((pos, seen), found.clone());
        found
    }

    fn step(&mut self, mut pos: usize, seen: u16) -> Option<Reading> {
        let b = self.b;
        loop {
            match b.get(pos..) {
                Some([c, ..]) if is_sep(*c) => pos += 1,
                // No AI starts with 02 here, so a `029` where a field starts is a separator.
                Some([b'0', b'2', b'9', ..]) if self.mode == Mode::Typed => pos += 3,
                _ => break,
            }
        }
        if pos >= b.len() {
            return (seen & Ai::Gtin.slot() != 0).then(Reading::default);
        }
        let ai = read_ai(b.get(pos..)?).ok()?;
        if seen & ai.slot() != 0 {
            return None;
        }
        let seen = seen | ai.slot();
        let start = pos + ai.digits();
        let seg_end = segment_end(b, start);
        if let Some(len) = ai.fixed_len() {
            let end = start + len;
            if end > seg_end {
                return None;
            }
            validate(ai, b.get(start..end)?).ok()?;
            return self.solve(end, seen).map(|rest| rest.after((ai, start..end), false));
        }
        let mut best: Option<Reading> = None;
        for end in start + 1..=seg_end.min(start + ai.max_len()) {
            // Guessing boundaries rests on the crypto fields' lengths: believe no other.
            if self.mode == Mode::Lost && ai.is_crypto() && !ai.known_lens().contains(&(end - start)) {
                continue;
            }
            let next = if end == seg_end {
                end
            } else if self.mode == Mode::Typed {
                if !b.get(end..).is_some_and(|r| r.starts_with(b"029")) {
                    continue;
                }
                end + 3
            } else {
                match read_ai(b.get(end..)?) {
                    Ok(following) if following.fixed_len().is_some() || following.is_crypto() => end,
                    _ => continue,
                }
            };
            let Some(rest) = self.solve(next, seen) else {
                continue;
            };
            let candidate = rest.after((ai, start..end), end != seg_end);
            if best.as_ref().is_none_or(|current| candidate.beats(current)) {
                best = Some(candidate);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;

    /// 046… is a Russian GS1 prefix; 04600000000017, the usual example, fails its check digit.
    const MILK_GTIN: &str = "04600000000015";
    const SHOE_GTIN: &str = "04600439931256";
    const SIG44: &str = "YXp5cSB0ZXN0IHNpZ25hdHVyZSBvZiAzMiBieXRlcyE=";
    const SIG88: &str = "YXp5cTogYSA2NC1ieXRlIHRlc3Qgc2lnbmF0dXJlIGZvciB0aGUgR1MxICg5MikgZmllbGQsIGxvbmcgb25lIQ==";

    fn gtin(s: &str) -> Gtin {
        Gtin::parse(s).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn milk() -> TraceCode {
        TraceCode { serial: Some("5ABCDE".into()), ai93: Some("dGVz".into()), ..TraceCode::product(gtin(MILK_GTIN)) }
    }

    fn shoe(sig: &str) -> TraceCode {
        TraceCode {
            serial: Some("JgXJ5.TVmtkTq".into()),
            ai91: Some("EE05".into()),
            ai92: Some(sig.into()),
            ..TraceCode::product(gtin(SHOE_GTIN))
        }
    }

    fn reason(input: &str) -> &'static str {
        match parse(input) {
            Ok(code) => panic!("{input:?} parsed as {code:?}"),
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn gtin_forms_normalise_to_14_digits() {
        assert_eq!(gtin("4006381333931").as_str(), "04006381333931"); // EAN-13
        assert_eq!(gtin("036000291452").as_str(), "00036000291452"); // UPC-A
        assert_eq!(gtin("96385074").as_str(), "00000096385074"); // GTIN-8
        assert_eq!(gtin(" 04600439931256\n").as_ref(), SHOE_GTIN);
        assert_eq!("5901234123457".parse::<Gtin>().unwrap().to_string(), "05901234123457");
        assert_eq!(Gtin::parse("4006381333932"), Err(Gs1Error::GtinCheckDigit));
        assert_eq!(Gtin::parse("40063813339"), Err(Gs1Error::BadLength { ai: None }));
        assert_eq!(Gtin::parse("400638133393X"), Err(Gs1Error::BadCharacter { ch: 'X' }));
        assert_eq!(Gtin::parse(""), Err(Gs1Error::Empty));
    }

    #[test]
    fn gtin_serde_is_a_string() {
        let g = gtin("4006381333931");
        assert_eq!(serde_json::to_string(&g).unwrap(), "\"04006381333931\"");
        assert_eq!(serde_json::from_str::<Gtin>("\"4006381333931\"").unwrap(), g);
        assert!(serde_json::from_str::<Gtin>("\"4006381333932\"").is_err());
        let code = parse("]d20104600000000015215ABCDE\u{1d}17260200\u{1d}93dGVz").unwrap();
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(serde_json::from_str::<TraceCode>(&json).unwrap(), code);
    }

    #[test]
    fn milk_in_every_form() {
        for input in [
            "0104600000000015215ABCDE\u{1d}93dGVz",
            "]d20104600000000015215ABCDE\u{1d}93dGVz\r\n",
            "]d2\u{1d}0104600000000015215ABCDE\u{1d}93dGVz\u{1d}",
            "0104600000000015215ABCDE02993dGVz",
            "0104600000000015215ABCDE 93dGVz\n",
            "0104600000000015215ABCDE93dGVz",
            "]Q30104600000000015215ABCDE93dGVz\r",
            "(01)04600000000015(21)5ABCDE(93)dGVz",
            "(01) 04600000000015 (21) 5ABCDE (93) dGVz",
        ] {
            let code = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(code, milk(), "{input:?}");
            assert!(code.is_serialised());
        }
    }

    #[test]
    fn shoe_with_key_and_signature_in_every_form() {
        for sig in [SIG44, SIG88] {
            for sep in ["\u{1d}", "029", " ", ""] {
                let input = format!("]d2010460043993125621JgXJ5.TVmtkTq{sep}91EE05{sep}92{sig}\r\n");
                assert_eq!(parse(&input), Ok(shoe(sig)), "{input:?}");
            }
            let hri = format!("(01){SHOE_GTIN}(21)JgXJ5.TVmtkTq(91)EE05(92){sig}");
            assert_eq!(parse(&hri), Ok(shoe(sig)));
            assert_eq!(shoe(sig).to_hri(), hri);
        }
    }

    #[test]
    fn weighted_milk_with_crypto_tail_before_weight() {
        // The marking of weighed dairy puts (3103) after (93).
        let expected = TraceCode { net_weight: Some(NetWeight { value: 353, decimals: 3 }), ..milk() };
        for input in [
            "0104600000000015215ABCDE\u{1d}93dGVz\u{1d}3103000353",
            "0104600000000015215ABCDE02993dGVz0293103000353",
            "0104600000000015215ABCDE93dGVz3103000353",
        ] {
            assert_eq!(parse(input), Ok(expected.clone()), "{input:?}");
        }
        assert_eq!(expected.net_weight.map(|w| w.grams()), Some(353));
    }

    #[test]
    fn net_weight_in_grams() {
        let code = parse("01046000000000153103001500").unwrap();
        assert_eq!(code.net_weight, Some(NetWeight { value: 1500, decimals: 3 }));
        assert_eq!(code.net_weight.map(|w| w.grams()), Some(1500));
        assert!(!code.is_serialised());
        let grams = |value, decimals| NetWeight { value, decimals }.grams();
        assert_eq!(grams(2, 0), 2000);
        assert_eq!(grams(15, 1), 1500);
        assert_eq!(grams(5, 4), 1); // 0.0005 kg = 0.5 g rounds up
        assert_eq!(grams(4, 4), 0);
        assert_eq!(grams(150, 5), 2); // 1.5 g
        assert_eq!(grams(999_999, 0), 999_999_000);
        assert_eq!(grams(u32::MAX, 200), 0);
    }

    #[test]
    fn expiry_day_00_is_the_last_day_of_the_month() {
        let expiry = |yymmdd: &str| parse(&format!("0104600000000015 17{yymmdd}")).unwrap().expiry;
        assert_eq!(expiry("260200"), Some(date(2026, 2, 28)));
        assert_eq!(expiry("280200"), Some(date(2028, 2, 29)));
        assert_eq!(expiry("261200"), Some(date(2026, 12, 31)));
        assert_eq!(expiry("261231"), Some(date(2026, 12, 31)));
        assert_eq!(expiry("990101"), Some(date(2099, 1, 1)));
        assert_eq!(reason("010460000000001517260230"), "bad_date");
        assert_eq!(reason("010460000000001517261301"), "bad_date");
        assert_eq!(reason("010460000000001517260000"), "bad_date");
    }

    #[test]
    fn batch_and_expiry_in_every_form() {
        let expected = TraceCode {
            batch: Some("LOT-7A".into()),
            expiry: Some(date(2026, 12, 31)),
            ..TraceCode::product(gtin(MILK_GTIN))
        };
        for input in [
            "010460000000001510LOT-7A\u{1d}17261231",
            "010460000000001510LOT-7A02917261231",
            "010460000000001510LOT-7A 17261231",
            "010460000000001510LOT-7A17261231",
            "(01)04600000000015(10)LOT-7A(17)261231",
            "]C1010460000000001517261231 10LOT-7A",
        ] {
            assert_eq!(parse(input), Ok(expected.clone()), "{input:?}");
        }
    }

    #[test]
    fn bare_barcodes_are_products() {
        for (input, expected) in [
            ("4006381333931", "04006381333931"),
            ("]E04006381333931\r\n", "04006381333931"),
            ("036000291452", "00036000291452"),
            ("]E496385074", "00000096385074"),
            ("04600439931256", SHOE_GTIN),
        ] {
            let code = parse(input).unwrap();
            assert_eq!(code, TraceCode::product(gtin(expected)), "{input:?}");
            assert!(!code.is_serialised());
        }
    }

    #[test]
    fn canonical_forms() {
        let code = TraceCode {
            serial: Some("ABC123".into()),
            expiry: Some(date(2026, 12, 31)),
            ..TraceCode::product(gtin(MILK_GTIN))
        };
        assert_eq!(code.to_hri(), "(01)04600000000015(21)ABC123(17)261231");
        assert_eq!(code.to_element_string(), "010460000000001521ABC123\u{1d}17261231");
        assert_eq!(milk().to_element_string(), "0104600000000015215ABCDE\u{1d}93dGVz");
        assert_eq!(TraceCode::product(gtin(MILK_GTIN)).to_element_string(), "0104600000000015");
        assert_eq!("(01)04600000000015(21)ABC123(17)261231".parse::<TraceCode>(), Ok(code));
    }

    #[test]
    fn ambiguities_are_decided_as_documented() {
        let read = |s: &str| parse(s).unwrap();
        // No separator anywhere: a tail that reads as known-length fields is split off.
        let split = read("010460000000001521AB93xyzw");
        assert_eq!((split.serial.as_deref(), split.ai93.as_deref()), (Some("AB"), Some("xyzw")));
        let split = read("010460000000001521AB17261231");
        assert_eq!((split.serial.as_deref(), split.expiry), (Some("AB"), Some(date(2026, 12, 31))));
        // A separator anywhere means the scanner sends them: plain GS1 decides.
        assert_eq!(read("0104600000000015 21AB93xyzw").serial.as_deref(), Some("AB93xyzw"));
        assert_eq!(read("0104600000000015\u{1d}21AB17261231").serial.as_deref(), Some("AB17261231"));
        // Two variable fields with the separator lost read as one.
        let one = read("010460000000001521ABC10XYZ");
        assert_eq!((one.serial.as_deref(), one.batch), (Some("ABC10XYZ"), None));
        // `029` followed by a valid field is a separator, unless the scanner sends real ones.
        let typed = read("010460000000001521AB02910X");
        assert_eq!((typed.serial.as_deref(), typed.batch.as_deref()), (Some("AB"), Some("X")));
        assert_eq!(read("0104600000000015 21AB02910X").serial.as_deref(), Some("AB02910X"));
        // A crypto tail of an unusual length stays in the serial unless a separator says otherwise.
        assert_eq!(read("010460000000001521AB93xyzwv").serial.as_deref(), Some("AB93xyzwv"));
        assert_eq!(read("010460000000001521AB\u{1d}93xyzwv").ai93.as_deref(), Some("xyzwv"));
    }

    #[test]
    fn every_error_has_its_reason() {
        assert_eq!(reason(""), "empty");
        assert_eq!(reason(" \r\n"), "empty");
        assert_eq!(reason("]d2\r\n"), "empty");
        assert_eq!(reason(&"0".repeat(513)), "too_long");
        assert_eq!(reason("https://azyq.kz/p/1"), "not_gs1");
        assert_eq!(reason("]d1ABC"), "not_gs1");
        assert_eq!(reason("]X"), "not_gs1");
        assert_eq!(reason("0104600000000015 21AB#C"), "bad_character");
        assert_eq!(reason("0104600000000015 21ABé"), "bad_character");
        assert_eq!(reason("01046000000000152\u{1d}1ФИ"), "bad_character");
        assert_eq!(reason("01046000000000AB"), "bad_character");
        assert_eq!(reason("0104600000000015\u{1d}8005095000\u{1d}93abcd"), "unknown_ai");
        assert_eq!(reason("(01)04600000000015(99)X"), "unknown_ai");
        assert_eq!(reason("01046000000000153106001500"), "unknown_ai");
        assert_eq!(reason("0104600000000015 0104600000000015"), "duplicate_ai");
        assert_eq!(reason("(01)04600000000015(21)A(21)B"), "duplicate_ai");
        assert_eq!(reason("01046000000000153103001500 3102001500"), "duplicate_ai");
        assert_eq!(reason("0104600000000015 21ABCDEFGHIJKLMNOPQRSTU"), "bad_length");
        assert_eq!(reason("010460000000001"), "bad_length");
        assert_eq!(reason("12345"), "bad_length");
        assert_eq!(reason("(01)046000000000151"), "bad_length");
        assert_eq!(reason("(01)04600000000015(21)"), "bad_length");
        assert_eq!(reason("21ABC"), "missing_gtin");
        assert_eq!(reason("(21)ABC\u{1d}"), "missing_gtin");
        // The often-quoted example GTIN fails its check digit.
        assert_eq!(reason("0104600000000017215ABCDE\u{1d}93dGVz"), "gtin_check_digit");
        assert_eq!(reason("4006381333932"), "gtin_check_digit");
        assert_eq!(reason("010460000000001517261332"), "bad_date");
    }

    #[test]
    fn errors_name_the_ai_and_speak_russian() {
        assert_eq!(parse("0104600000000015\u{1d}8005095000"), Err(Gs1Error::UnknownAi { ai: "8005".into() }));
        assert_eq!(parse("0104600000000015 3106001500"), Err(Gs1Error::UnknownAi { ai: "3106".into() }));
        assert_eq!(parse("0104600000000015 99X"), Err(Gs1Error::UnknownAi { ai: "99".into() }));
        assert_eq!(Gs1Error::GtinCheckDigit.to_string(), "неверная контрольная цифра GTIN");
        assert_eq!(Gs1Error::UnknownAi { ai: "8005".into() }.to_string(), "в коде неизвестный идентификатор (8005)");
        assert_eq!(Gs1Error::BadLength { ai: Some("21".into()) }.to_string(), "неверная длина поля (21) в коде");
        assert_eq!(Gs1Error::BadCharacter { ch: '#' }.to_string(), "в коде недопустимый символ");
        // `]d2` typed under a Russian layout.
        let cyrillic = parse("ъв20104600000000015").unwrap_err();
        assert_eq!(cyrillic, Gs1Error::BadCharacter { ch: 'ъ' });
        assert!(cyrillic.to_string().contains("раскладку"));
        let all = [
            Gs1Error::Empty,
            Gs1Error::TooLong,
            Gs1Error::NotGs1,
            Gs1Error::BadCharacter { ch: '#' },
            Gs1Error::UnknownAi { ai: "99".into() },
            Gs1Error::DuplicateAi { ai: "21".into() },
            Gs1Error::BadLength { ai: None },
            Gs1Error::MissingGtin,
            Gs1Error::GtinCheckDigit,
            Gs1Error::BadDate,
        ];
        for e in all {
            let text = e.to_string();
            assert!(text.chars().any(is_cyrillic), "{e:?}: {text}");
            assert!(e.reason().bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'), "{e:?}");
        }
    }

    #[test]
    fn pathological_inputs_stay_cheap() {
        // Worst cases for the search: many candidate boundaries, all 512 characters long.
        for unit in ["0291", "9193", "17", "21a0291017", "93ab", "0104600000000015"] {
            let input: String = format!("010460000000001521A{}", unit.repeat(512)).chars().take(512).collect();
            let start = std::time::Instant::now();
            let _ = parse(&input);
            assert!(start.elapsed() < std::time::Duration::from_secs(1), "{unit}");
        }
    }

    // ---- properties ----

    const SET82: &str = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
    const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

    /// How a generated code is written.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Form {
        Gs,
        Space,
        Typed029,
        Lost,
        Bracketed,
    }

    /// Rewrites generated text so that `form` carries it unambiguously; each arm says why.
    /// `open_end`: a (10)/(21), whose length nothing pins.
    fn restrict(form: Form, s: String, open_end: bool) -> String {
        match form {
            // GS and space are never data: anything goes.
            Form::Gs | Form::Space => s,
            // A `029` inside a value followed by valid fields is read as a separator; and the
            // lost-separator reading competes, winning wherever it finds more fields: serial
            // `X91Y` + `029` + (92)… also reads as serial `X`, key `Y029`, signature. Both need
            // two digits in a row inside a value, so values get none (which also rules out `029`).
            Form::Typed029 => restrict(Form::Lost, s, false),
            // Without separators a field may begin wherever two digits meet: no digit pairs inside
            // a value, and a (10)/(21) does not end in a digit (it would pair with the next AI).
            Form::Lost => {
                let mut out = String::with_capacity(s.len());
                let mut prev_digit = false;
                let n = s.chars().count();
                for (i, c) in s.chars().enumerate() {
                    let c = if c.is_ascii_digit() && (prev_digit || (open_end && i + 1 == n)) { 'x' } else { c };
                    prev_digit = c.is_ascii_digit();
                    out.push(c);
                }
                out
            }
            // A value containing `(NN)` would be cut there.
            Form::Bracketed => s.replace('(', "x"),
        }
    }

    /// Whether the lost form's restrictions hold, for codes generated for another form.
    fn lost_safe(code: &TraceCode) -> bool {
        let ok =
            |v: &Option<String>, open_end| v.as_ref().is_none_or(|s| restrict(Form::Lost, s.clone(), open_end) == *s);
        !(code.serial.is_some() && code.batch.is_some())
            && ok(&code.serial, true)
            && ok(&code.batch, true)
            && ok(&code.ai91, false)
            && ok(&code.ai92, false)
            && ok(&code.ai93, false)
    }

    fn text(alphabet: &'static str, len: std::ops::RangeInclusive<usize>) -> BoxedStrategy<String> {
        let chars: Vec<char> = alphabet.chars().collect();
        proptest::collection::vec(select(chars), len).prop_map(String::from_iter).boxed()
    }

    fn gtin_strategy() -> impl Strategy<Value = Gtin> {
        "[0-9]{13}".prop_map(|body| Gtin(format!("{body}{}", check_digit(body.as_bytes()))))
    }

    fn code_in(form: Form) -> impl Strategy<Value = TraceCode> {
        let var = move |alphabet, len, open_end| {
            proptest::option::of(text(alphabet, len).prop_map(move |s| restrict(form, s, open_end)))
        };
        let expiry = (2000i32..=2099, 1u32..=12, 1u32..=31)
            .prop_filter_map("a calendar date", |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
        let weight = (0u32..=999_999, 0u8..=5).prop_map(|(value, decimals)| NetWeight { value, decimals });
        let signature =
            prop_oneof![text(BASE64, 44..=44), text(BASE64, 88..=88)].prop_map(move |s| restrict(form, s, false));
        (
            gtin_strategy(),
            var(SET82, 1..=20, true),
            var(SET82, 1..=20, true),
            proptest::option::of(expiry),
            proptest::option::of(weight),
            var(SET82, 4..=4, false),
            proptest::option::of(signature),
            var(SET82, 4..=4, false),
            any::<bool>(),
        )
            .prop_map(move |(gtin, serial, batch, expiry, net_weight, ai91, ai92, ai93, keep_serial)| {
                // Lost form: (21) right before (10) has no findable boundary; keep one of them.
                let (serial, batch) = match (form, serial, batch) {
                    (Form::Lost, Some(s), Some(_)) if keep_serial => (Some(s), None),
                    (Form::Lost, Some(_), Some(b)) => (None, Some(b)),
                    (_, s, b) => (s, b),
                };
                TraceCode { gtin, serial, batch, expiry, net_weight, ai91, ai92, ai93 }
            })
    }

    fn prefixes() -> impl Strategy<Value = &'static str> {
        select(vec!["", "", "]d2", "]C1", "]Q3", "]e0"])
    }

    fn suffixes() -> impl Strategy<Value = &'static str> {
        select(vec!["", "\r\n", "\n", "\r", " ", "\t"])
    }

    fn reads_back(code: &TraceCode, form: Form, prefix: &str, suffix: &str) -> Result<(), TestCaseError> {
        let canonical = code.to_element_string();
        let written = match form {
            Form::Gs => canonical.clone(),
            Form::Space => canonical.replace('\u{1d}', " "),
            Form::Typed029 => canonical.replace('\u{1d}', "029"),
            Form::Lost => canonical.replace('\u{1d}', ""),
            Form::Bracketed => code.to_hri(),
        };
        let input = format!("{prefix}{written}{suffix}");
        let parsed = parse(&input);
        // A code that needs no separator is written the same in the GS, space, `029` and lost
        // forms: there it reads back exactly only under the lost form's restrictions.
        let exact = matches!(form, Form::Lost | Form::Bracketed) || canonical.contains('\u{1d}') || lost_safe(code);
        if exact {
            prop_assert_eq!(parsed, Ok(code.clone()), "input {:?}", input);
        } else {
            prop_assert!(parsed.is_ok(), "input {:?}: {:?}", input, parsed);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn gs_form_reads_back(code in code_in(Form::Gs), prefix in select(vec!["", "]d2", "\u{1d}", "]d2\u{1d}"]), suffix in suffixes()) {
            reads_back(&code, Form::Gs, prefix, suffix)?;
        }

        #[test]
        fn space_form_reads_back(code in code_in(Form::Space), prefix in prefixes(), suffix in suffixes()) {
            reads_back(&code, Form::Space, prefix, suffix)?;
        }

        #[test]
        fn typed_029_form_reads_back(code in code_in(Form::Typed029), prefix in prefixes(), suffix in suffixes()) {
            reads_back(&code, Form::Typed029, prefix, suffix)?;
        }

        #[test]
        fn lost_separator_form_reads_back(code in code_in(Form::Lost), prefix in prefixes(), suffix in suffixes()) {
            reads_back(&code, Form::Lost, prefix, suffix)?;
        }

        #[test]
        fn bracketed_form_reads_back(code in code_in(Form::Bracketed), prefix in prefixes(), suffix in suffixes()) {
            reads_back(&code, Form::Bracketed, prefix, suffix)?;
        }

        #[test]
        fn bare_gtins_read_back(g in gtin_strategy(), prefix in select(vec!["", "]E0", "]d2"])) {
            let code = TraceCode::product(g.clone());
            prop_assert_eq!(parse(&format!("{prefix}{g}")), Ok(code.clone()));
            // Written as EAN-13 when it starts with a zero.
            if let Some(ean13) = g.as_str().strip_prefix('0') {
                prop_assert_eq!(parse(ean13), Ok(code));
            }
            // Any other check digit is refused.
            let mut wrong = g.as_str().as_bytes().to_vec();
            wrong[13] = b'0' + (wrong[13] - b'0' + 1) % 10;
            prop_assert_eq!(Gtin::parse(std::str::from_utf8(&wrong).unwrap()), Err(Gs1Error::GtinCheckDigit));
        }

        #[test]
        fn grams_round_half_up(value in 0u32..=999_999, decimals in 0u8..=5) {
            // grams = value × 1000 / 10^decimals, exactly, then rounded half up.
            let den = 10u128.pow(u32::from(decimals));
            let expected = (u128::from(value) * 2000 + den) / (2 * den);
            prop_assert_eq!(u128::from(NetWeight { value, decimals }.grams()), expected);
        }

        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            let _ = parse(&s);
            let _ = Gtin::parse(&s);
        }

        #[test]
        fn never_panics_on_near_codes(parts in proptest::collection::vec(select(vec![
            "01", "10", "17", "21", "310", "3103", "3109", "91", "92", "93", "029", "02", "9",
            "04600000000015", "261231", "\u{1d}", " ", "(", ")", "]d2", "]", "0", "1", "2", "3",
            "A", "z", "é", "Ж", "\r\n", "=", "#",
        ]), 0..200)) {
            let _ = parse(&parts.concat());
        }
    }
}
