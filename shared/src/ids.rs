//! Identity numbers, places and calendar units, each parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The single national time zone (UTC+5 since 1 March 2024). Business days and months live here.
pub const ALMATY: Tz = chrono_tz::Asia::Almaty;

/// Why a value could not be parsed; the message is shown to operators as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_ref())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_ref())
            }
        }
    };
}

/// Individual identification number: 12 digits, the last a check digit.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iin(String);

impl Iin {
    /// The check digit of the first 11 digits, or `None` when both passes give 10 (no valid IIN).
    pub fn check_digit(first11: &[u8; 11]) -> Option<u8> {
        let pass = |weights: [u32; 11]| -> u32 {
            first11.iter().zip(weights).map(|(d, w)| u32::from(*d) * w).sum::<u32>() % 11
        };
        let first = pass([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let sum = if first == 10 { pass([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) } else { first };
        (sum != 10).then_some(sum as u8)
    }

    pub fn parse(s: &str) -> Result<Iin, ParseError> {
        let s = s.trim();
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("ИИН должен состоять из 12 цифр"));
        }
        let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        let mut first11 = [0u8; 11];
        first11.copy_from_slice(&digits[..11]);
        match Iin::check_digit(&first11) {
            Some(c) if c == digits[11] => Ok(Iin(s.to_owned())),
            _ => Err(err("неверная контрольная цифра ИИН")),
        }
    }
}

impl AsRef<str> for Iin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Never print an IIN by accident: Debug shows only that it is one.
impl fmt::Debug for Iin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iin(***)")
    }
}

impl FromStr for Iin {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Iin::parse(s)
    }
}
string_serde!(Iin);

/// A 9-digit KATO locality code; its first two digits are the region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kato(String);

impl Kato {
    pub fn parse(s: &str) -> Result<Kato, ParseError> {
        let s = s.trim();
        if s.len() != 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("код КАТО должен состоять из 9 цифр"));
        }
        Ok(Kato(s.to_owned()))
    }

    pub fn region(&self) -> Region {
        Region(self.0[..2].to_owned())
    }
}

impl AsRef<str> for Kato {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Kato {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kato::parse(s)
    }
}
string_serde!(Kato);

/// A region: the first two digits of a KATO code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(String);

impl Region {
    /// The region's names `(Russian, Kazakh)`, see [`region_names`].
    pub fn names(&self) -> Option<(&'static str, &'static str)> {
        region_names(&self.0)
    }

    pub fn parse(s: &str) -> Result<Region, ParseError> {
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("код региона — две первые цифры КАТО"));
        }
        Ok(Region(s.to_owned()))
    }
}

impl AsRef<str> for Region {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Region {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}
string_serde!(Region);

/// The regions of Kazakhstan by their KATO code (a locality's first two digits), named in Russian
/// and in Kazakh, for reports that people read.
const REGIONS: [(&str, &str, &str); 20] = [
    ("10", "Абайская область", "Абай облысы"),
    ("11", "Акмолинская область", "Ақмола облысы"),
    ("15", "Актюбинская область", "Ақтөбе облысы"),
    ("19", "Алматинская область", "Алматы облысы"),
    ("23", "Атырауская область", "Атырау облысы"),
    ("27", "Западно-Казахстанская область", "Батыс Қазақстан облысы"),
    ("31", "Жамбылская область", "Жамбыл облысы"),
    ("33", "Жетысуская область", "Жетісу облысы"),
    ("35", "Карагандинская область", "Қарағанды облысы"),
    ("39", "Костанайская область", "Қостанай облысы"),
    ("43", "Кызылординская область", "Қызылорда облысы"),
    ("47", "Мангистауская область", "Маңғыстау облысы"),
    ("55", "Павлодарская область", "Павлодар облысы"),
    ("59", "Северо-Казахстанская область", "Солтүстік Қазақстан облысы"),
    ("61", "Туркестанская область", "Түркістан облысы"),
    ("62", "Улытауская область", "Ұлытау облысы"),
    ("63", "Восточно-Казахстанская область", "Шығыс Қазақстан облысы"),
    ("71", "город Астана", "Астана қаласы"),
    ("75", "город Алматы", "Алматы қаласы"),
    ("79", "город Шымкент", "Шымкент қаласы"),
];

/// A region's names `(Russian, Kazakh)` by its two-digit code; `None` for a code not in KATO.
pub fn region_names(code: &str) -> Option<(&'static str, &'static str)> {
    REGIONS.iter().find(|(c, _, _)| *c == code).map(|&(_, ru, kk)| (ru, kk))
}

/// A Kazakh mobile number, kept as `+7` and ten digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Accepts `+7 701 123-45-67`, `8 (701) 1234567`, `77011234567`, `7011234567`.
    pub fn parse(s: &str) -> Result<Phone, ParseError> {
        let trimmed = s.trim();
        let plus = trimmed.starts_with('+');
        let mut digits = String::with_capacity(12);
        for (i, ch) in trimmed.chars().enumerate() {
            match ch {
                '0'..='9' => digits.push(ch),
                ' ' | '-' | '(' | ')' => {}
                '+' if i == 0 => {}
                _ => return Err(err("номер телефона содержит недопустимые символы")),
            }
        }
        let national = match digits.len() {
            11 if digits.starts_with('7') => &digits[1..],
            11 if digits.starts_with('8') && !plus => &digits[1..],
            10 if !plus => &digits[..],
            _ => return Err(err("номер телефона должен быть +7 и 10 цифр")),
        };
        Ok(Phone(format!("+7{national}")))
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A phone number is personal data: Debug never shows it.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(***)")
    }
}

impl FromStr for Phone {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phone::parse(s)
    }
}
string_serde!(Phone);

/// The first and last year a month or a business day may name. Dates from outside (a till's
/// mistyped year, `0001-01-01` in a query) are refused at the edge, so that every month and day
/// inside the program has a next month, a last day and an end instant.
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2999;

/// A calendar month, `YYYY-MM`, in Asia/Almaty, of a year in [`FIRST_YEAR`]..=[`LAST_YEAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    month: u32,
    text: [u8; 7],
}

fn month_error() -> ParseError {
    err(format!("месяц должен быть в виде ГГГГ-ММ, с {FIRST_YEAR}-01 по {LAST_YEAR}-12"))
}

impl Month {
    pub fn new(year: i32, month: u32) -> Result<Month, ParseError> {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) || !(1..=12).contains(&month) {
            return Err(month_error());
        }
        let s = format!("{year:04}-{month:02}");
        let mut text = [0u8; 7];
        text.copy_from_slice(s.as_bytes());
        Ok(Month { year, month, text })
    }

    pub fn parse(s: &str) -> Result<Month, ParseError> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
            return Err(month_error());
        }
        let year = s[..4].parse().map_err(|_| month_error())?;
        let month = s[5..].parse().map_err(|_| month_error())?;
        Month::new(year, month)
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn month(&self) -> u32 {
        self.month
    }

    /// The month of a day; an error for a day outside the years a month may name.
    pub fn of_day(day: NaiveDate) -> Result<Month, ParseError> {
        Month::new(day.year(), day.month())
    }

    pub fn first_day(&self) -> NaiveDate {
        first_of(self.year, self.month)
    }

    /// The month after, or `None` after December of [`LAST_YEAR`].
    pub fn next(&self) -> Option<Month> {
        let (y, m) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        Month::new(y, m).ok()
    }

    /// The first day after this month (it exists for every month, the last one's included).
    fn day_after(&self) -> NaiveDate {
        if self.month == 12 {
            first_of(self.year + 1, 1)
        } else {
            first_of(self.year, self.month + 1)
        }
    }

    pub fn last_day(&self) -> NaiveDate {
        self.day_after().pred_opt().unwrap_or(NaiveDate::MAX)
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        (day.year(), day.month()) == (self.year, self.month)
    }

    /// The instant the month ends: 00:00 of the next month's first day in Almaty.
    pub fn end_instant(&self) -> DateTime<Utc> {
        BusinessDay(self.day_after()).start_instant()
    }
}

/// The 1st of a month; `year` and `month` come from a [`Month`] (or its successor), whose range
/// chrono holds whole, so the fallback is never taken.
fn first_of(year: i32, month: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MAX)
}

impl AsRef<str> for Month {
    fn as_ref(&self) -> &str {
        // `text` is written by `new` from ASCII digits and a dash.
        std::str::from_utf8(&self.text).unwrap_or("0000-00")
    }
}

impl FromStr for Month {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Month::parse(s)
    }
}
string_serde!(Month);

/// A business day: a calendar date in Asia/Almaty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BusinessDay(pub NaiveDate);

impl BusinessDay {
    /// The Almaty date at a UTC instant.
    pub fn of(instant: DateTime<Utc>) -> BusinessDay {
        BusinessDay(instant.with_timezone(&ALMATY).date_naive())
    }

    /// `YYYY-MM-DD`, of a year in [`FIRST_YEAR`]..=[`LAST_YEAR`].
    pub fn parse(s: &str) -> Result<BusinessDay, ParseError> {
        let bad = || err(format!("дата должна быть в виде ГГГГ-ММ-ДД, с {FIRST_YEAR}-01-01 по {LAST_YEAR}-12-31"));
        let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
        if !(FIRST_YEAR..=LAST_YEAR).contains(&day.year()) || s.len() != 10 {
            return Err(bad());
        }
        Ok(BusinessDay(day))
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }

    /// The day's month; an error for a day outside the years a month may name (a day parsed by
    /// [`BusinessDay::parse`] always has one).
    pub fn month(&self) -> Result<Month, ParseError> {
        Month::of_day(self.0)
    }

    /// 00:00 of this day in Almaty, as a UTC instant.
    pub fn start_instant(&self) -> DateTime<Utc> {
        let midnight = self.0.and_time(chrono::NaiveTime::MIN);
        // Almaty's clocks never skipped midnight (its old summer times changed at 02:00), so
        // `earliest` always answers; the fixed UTC+5 is the fallback for a day chrono-tz lacks.
        match ALMATY.from_local_datetime(&midnight).earliest() {
            Some(t) => t.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&(midnight - chrono::Duration::hours(5))),
        }
    }
}

impl fmt::Display for BusinessDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// "Айгерим Бекова" → "А*** Б***": what a till may show of a holder.
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let first: String = w.chars().take(1).collect();
            format!("{first}***")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_check(first11: &str) -> Option<String> {
        let mut d = [0u8; 11];
        for (i, b) in first11.bytes().enumerate() {
            d[i] = b - b'0';
        }
        Iin::check_digit(&d).map(|c| format!("{first11}{c}"))
    }

    #[test]
    fn iin_check_digit() {
        // Known valid IINs (public examples used by Kazakh validators).
        for ok in ["900101300013", "850315400012"] {
            let expected = with_check(&ok[..11]).unwrap();
            assert_eq!(Iin::parse(&expected).unwrap().as_ref(), expected);
        }
        assert!(Iin::parse("90010130001").is_err());
        assert!(Iin::parse("90010130001a").is_err());
        let good = with_check("90010130001").unwrap();
        let last = good.as_bytes()[11] - b'0';
        let bad = format!("{}{}", &good[..11], (last + 1) % 10);
        assert!(Iin::parse(&bad).is_err());
    }

    #[test]
    fn iin_second_pass() {
        // Find an 11-digit prefix whose first pass gives 10, and check that the second pass decides.
        let prefix = (0..100_000u64)
            .map(|n| format!("9001013{n:04}"))
            .find(|p| {
                let s: u32 = p.bytes().enumerate().map(|(i, b)| u32::from(b - b'0') * (i as u32 + 1)).sum();
                s % 11 == 10
            })
            .unwrap();
        let w2 = [3u32, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];
        let s2: u32 = prefix.bytes().zip(w2).map(|(b, w)| u32::from(b - b'0') * w).sum::<u32>() % 11;
        match with_check(&prefix) {
            Some(iin) => assert_eq!(iin.as_bytes()[11] - b'0', s2 as u8),
            None => assert_eq!(s2, 10),
        }
    }

    #[test]
    fn iin_debug_hides_digits() {
        let iin = Iin::parse(&with_check("90010130001").unwrap()).unwrap();
        assert_eq!(format!("{iin:?}"), "Iin(***)");
    }

    #[test]
    fn phone_normalises() {
        for s in ["+7 701 123-45-67", "8 (701) 123 45 67", "77011234567", "7011234567", "+77011234567"] {
            assert_eq!(Phone::parse(s).unwrap().as_ref(), "+77011234567", "{s}");
        }
        for s in ["", "+8 701 123 45 67", "701123456", "+7701123456789", "7011234567x"] {
            assert!(Phone::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn kato_region() {
        assert_eq!(Kato::parse("551010000").unwrap().region().as_ref(), "55");
        assert!(Kato::parse("55101000").is_err());
    }

    #[test]
    fn months() {
        let m = Month::parse("2026-02").unwrap();
        assert_eq!(m.last_day(), NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        assert_eq!(Month::parse("2026-12").unwrap().next().unwrap().as_ref(), "2027-01");
        for bad in ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", "abcd-ef", "0000-00", "1999-12", "3000-01"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        // The last month has no next, but a last day and an end.
        let last = Month::parse("2999-12").unwrap();
        assert_eq!(last.next(), None);
        assert_eq!(last.last_day(), NaiveDate::from_ymd_opt(2999, 12, 31).unwrap());
        assert!(last.end_instant() > Month::parse("2999-11").unwrap().end_instant());
        assert!(Month::of_day(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()).is_err());
    }

    #[test]
    fn days_outside_the_years_are_refused() {
        for bad in ["0001-01-01", "1970-01-01", "1999-12-31", "3000-01-01", "+2026-12-01", "2026-12-1", "2026-02-30"] {
            assert!(BusinessDay::parse(bad).is_err(), "{bad}");
        }
        let d = BusinessDay::parse("2999-12-31").unwrap();
        assert_eq!(d.month().unwrap().as_ref(), "2999-12");
    }

    #[test]
    fn business_day_is_almaty() {
        // 19:30 UTC on 30 Nov is 00:30 on 1 Dec in Almaty (UTC+5).
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 19, 30, 0).unwrap();
        assert_eq!(BusinessDay::of(t).to_string(), "2026-12-01");
        assert_eq!(
            Month::parse("2026-11").unwrap().end_instant(),
            Utc.with_ymd_and_hms(2026, 11, 30, 19, 0, 0).unwrap()
        );
    }

    #[test]
    fn masks_names() {
        assert_eq!(mask_name("Айгерим  Бекова"), "А*** Б***");
    }

    proptest! {
        #[test]
        fn every_valid_iin_roundtrips(prefix in "[0-9]{11}") {
            if let Some(iin) = with_check(&prefix) {
                prop_assert_eq!(Iin::parse(&iin).unwrap().to_string(), iin.clone());
                // Any other check digit is refused.
                let mut b = iin.clone().into_bytes();
                b[11] = b'0' + (b[11] - b'0' + 1) % 10;
                prop_assert!(Iin::parse(&String::from_utf8(b).unwrap()).is_err());
            }
        }

        #[test]
        fn phone_forms_agree(n in "[0-9]{10}") {
            let canon = format!("+7{n}");
            let spaced = format!("8 ({}) {}-{}-{}", &n[..3], &n[3..6], &n[6..8], &n[8..]);
            prop_assert_eq!(Phone::parse(&canon).unwrap().to_string(), canon.clone());
            prop_assert_eq!(Phone::parse(&spaced).unwrap().to_string(), canon.clone());
        }

        #[test]
        fn month_roundtrips(y in 2000i32..=2999, m in 1u32..=12) {
            let month = Month::new(y, m).unwrap();
            prop_assert_eq!(Month::parse(month.as_ref()).unwrap(), month);
            prop_assert!(month.contains(month.last_day()));
            prop_assert_eq!(Month::of_day(month.first_day()).unwrap(), month);
            prop_assert!(month.end_instant() > BusinessDay(month.last_day()).start_instant());
            if let Some(next) = month.next() {
                prop_assert!(!month.contains(next.first_day()));
                prop_assert_eq!(BusinessDay(next.first_day()).start_instant(), month.end_instant());
            }
        }

        /// Any string at all: a month or day parses, or is refused; never a panic.
        #[test]
        fn odd_text_never_panics(s in "\\PC{0,12}") {
            let _ = Month::parse(&s).map(|m| (m.next(), m.last_day(), m.end_instant()));
            let _ = BusinessDay::parse(&s).map(|d| (d.month(), d.start_instant()));
        }
    }
}
