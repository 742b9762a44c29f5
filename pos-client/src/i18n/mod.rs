//! Every word the till shows, in Russian and Kazakh.
//!
//! Fixed texts are the [`T`] table (`texts.rs`); texts with figures in them are the functions of
//! `sentences.rs`; the explanations of the API's error codes are `app::explain`. Nothing else in the till
//! writes a sentence: it picks one here by [`Lang`].

mod offline;
mod sentences;
mod texts;

use azyq_shared::api::Unit;
use azyq_shared::Tiyn;

pub use offline::*;
pub use sentences::*;
pub use texts::T;

/// The language of the till's words: Russian by default, Kazakh (the state language) at will.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, clap::ValueEnum)]
pub enum Lang {
    #[default]
    Ru,
    Kk,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ru, Lang::Kk];

    /// The one of two texts that is in this language.
    pub fn pick<X>(self, ru: X, kk: X) -> X {
        match self {
            Lang::Ru => ru,
            Lang::Kk => kk,
        }
    }

    /// The language the language key (F12) switches to.
    pub fn other(self) -> Lang {
        self.pick(Lang::Kk, Lang::Ru)
    }

    /// The language's own name for itself, so that a reader of it finds it on the key.
    pub fn own_name(self) -> &'static str {
        self.pick("русский", "қазақша")
    }

    /// `ru` or `kk`, as `--lang` takes it.
    pub fn code(self) -> &'static str {
        self.pick("ru", "kk")
    }
}

/// Words made in both languages at once: a message stays on screen while the cashier switches
/// language, and is then read in the other one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phrase {
    pub ru: String,
    pub kk: String,
}

impl Phrase {
    /// The phrase as `say` writes it in each language.
    pub fn new(say: impl Fn(Lang) -> String) -> Phrase {
        Phrase { ru: say(Lang::Ru), kk: say(Lang::Kk) }
    }

    pub fn get(&self, lang: Lang) -> &str {
        lang.pick(&self.ru, &self.kk)
    }

    /// The text for a script's output: no-break spaces become plain ones.
    pub fn plain(&self, lang: Lang) -> String {
        self.get(lang).replace('\u{a0}', " ")
    }

    pub fn is_empty(&self) -> bool {
        self.ru.is_empty() && self.kk.is_empty()
    }

    /// The phrase rewritten in each language by `f(lang, text)`.
    pub fn map(&self, f: impl Fn(Lang, &str) -> String) -> Phrase {
        Phrase::new(|lang| f(lang, self.get(lang)))
    }
}

impl From<T> for Phrase {
    fn from(t: T) -> Phrase {
        Phrase::new(|lang| t.get(lang).to_owned())
    }
}

/// Money inside a sentence: "4 325,00 ₸" with no-break spaces, so that wrapping never splits it.
pub fn money(t: Tiyn) -> String {
    t.to_string().replace(' ', "\u{a0}")
}

/// 12500 → "12 500".
pub fn group_thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

/// Basis points as a percentage without floats: 1500 → "15", 1250 → "12,5", 1234 → "12,34".
pub fn percent(bp: i64) -> String {
    let (whole, frac) = (bp / 100, bp % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole},{}", f / 10),
        f => format!("{whole},{f:02}"),
    }
}

/// "Скидка …" → "скидка …", to follow a prefix.
pub fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "магазин S1" → "Магазин S1", to start a title.
pub fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A quantity as shown: "3 шт", "3 дана", or grams "1 250 г".
pub fn quantity(lang: Lang, unit: Unit, quantity: i64) -> String {
    match unit {
        Unit::Piece => format!("{} {}", quantity, lang.pick("шт", "дана")),
        Unit::Kg => format!("{} г", group_thousands(quantity)),
    }
}

/// Grams as kilograms for the eye: 1250 → "1,250 кг".
pub fn kilograms(grams: i64) -> String {
    format!("{},{:03} кг", group_thousands(grams / 1000), grams % 1000)
}

/// What a price is for: a piece, a kilogram, or (where the till does not know) either.
pub fn per_unit(lang: Lang, unit: Option<Unit>) -> &'static str {
    match unit {
        Some(Unit::Piece) => lang.pick("за шт", "дана үшін"),
        Some(Unit::Kg) => lang.pick("за кг", "кг үшін"),
        None => lang.pick("за единицу (шт или кг)", "бірлік үшін (дана немесе кг)"),
    }
}

/// The short mark after a price of a weighed product in a table: "/кг".
pub fn per_kg_mark(unit: Unit) -> &'static str {
    match unit {
        Unit::Piece => "",
        Unit::Kg => "/кг",
    }
}
