//! Basket lines as the cashier builds them, and the preview of their amounts.
//!
//! The preview uses the server's rules (shared/API.md, "Till"): a line's amount is price ×
//! quantity, or price per kg × grams / 1000 rounded half up; its discount is shelf amount − amount
//! to pay; a unit's discount may be at most `cap_bp` basis points of the shelf price; the shelf
//! price may be at most the region's price limit; a line from a scale label weighs what the label
//! says. The server decides; the preview lets the cashier see a mistake before sending, and a line
//! that breaks the limit or the label is not sent at all.

use azyq_shared::api::{BasketLineIn, PosProduct, Unit};
use azyq_shared::gs1::ScaleLabel;
use azyq_shared::Tiyn;

use crate::i18n::{self, Lang, T};

/// One line of the basket being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// What is sent as `code`: the canonical element string of what was scanned.
    pub code: String,
    pub gtin: String,
    pub serial: Option<String>,
    pub name: String,
    pub group: String,
    pub unit: Unit,
    pub cap_bp: i32,
    /// The highest shelf price the region allows (per piece or per kg), if it has a limit.
    pub max_shelf: Option<Tiyn>,
    /// Pieces, or grams for a `kg` product; 0 while not entered.
    pub quantity: i64,
    /// Per piece or per kg.
    pub shelf: Option<Tiyn>,
    pub reduced: Option<Tiyn>,
    /// The weight a scale label printed: the line's quantity, which the cashier cannot change.
    pub label_grams: Option<i64>,
}

/// The amounts of a complete line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    pub shelf: Tiyn,
    pub to_pay: Tiyn,
    pub discount: Tiyn,
}

/// Why a line cannot be sent yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incomplete {
    Quantity,
    ShelfPrice,
    ReducedPrice,
    ReducedAboveShelf,
    TooLarge,
    /// The shelf price is above the region's limit (the limit, per piece or per kg).
    OverLimit(Tiyn, Unit),
    /// The quantity is not the weight on the scale label (that weight, g).
    LabelWeight(i64),
}

impl Incomplete {
    /// What the cashier must fix, as a sentence.
    pub fn text(self, lang: Lang) -> String {
        match self {
            Incomplete::Quantity => T::MissingQuantity.get(lang).to_owned(),
            Incomplete::ShelfPrice => T::MissingShelf.get(lang).to_owned(),
            Incomplete::ReducedPrice => T::MissingReduced.get(lang).to_owned(),
            Incomplete::ReducedAboveShelf => i18n::lower_first(T::ReducedAboveShelf.get(lang)),
            Incomplete::TooLarge => T::LineTooLarge.get(lang).to_owned(),
            Incomplete::OverLimit(max, unit) => i18n::over_limit(lang, max, Some(unit)),
            Incomplete::LabelWeight(grams) => i18n::label_weight(lang, grams),
        }
    }

    /// The editor's field that fixes it.
    pub fn field(self) -> Field {
        match self {
            Incomplete::Quantity | Incomplete::TooLarge | Incomplete::LabelWeight(_) => Field::Quantity,
            Incomplete::ShelfPrice | Incomplete::OverLimit(..) => Field::Shelf,
            Incomplete::ReducedPrice | Incomplete::ReducedAboveShelf => Field::Reduced,
        }
    }
}

/// A field of the line editor, in its order on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Quantity,
    Shelf,
    Reduced,
}

impl Field {
    /// Its place in [`super::LineEdit::texts`].
    pub fn index(self) -> usize {
        match self {
            Field::Quantity => 0,
            Field::Shelf => 1,
            Field::Reduced => 2,
        }
    }

    /// The field an API error names: `lines[1].quantity`, `lines[0].reduced_price_tiyn`.
    pub fn of_api(field: &str) -> Option<Field> {
        match field.rsplit_once('.')?.1 {
            "quantity" => Some(Field::Quantity),
            "shelf_price_tiyn" => Some(Field::Shelf),
            "reduced_price_tiyn" => Some(Field::Reduced),
            _ => None,
        }
    }

    pub fn name(self, lang: Lang) -> &'static str {
        i18n::field_name(lang, self)
    }
}

impl Line {
    /// A new line for a scanned product, priced from the shop's last prices where known.
    pub fn new(code: String, serial: Option<String>, product: &PosProduct, quantity: i64) -> Line {
        Line {
            code,
            gtin: product.gtin.clone(),
            serial,
            name: product.name.clone(),
            group: product.group.clone(),
            unit: product.unit,
            cap_bp: product.discount_cap_bp,
            max_shelf: product.max_shelf_price_tiyn,
            quantity,
            shelf: product.last_shelf_price_tiyn,
            reduced: product.last_reduced_price_tiyn,
            label_grams: None,
        }
    }

    /// A line for a scale label: its product (found by PLU), the label's weight as the quantity;
    /// the label's thirteen digits are what is sent as `code`.
    pub fn from_label(label: &ScaleLabel, product: &PosProduct) -> Line {
        let grams = i64::from(label.grams);
        Line { label_grams: Some(grams), ..Line::new(label.to_ean13(), None, product, grams) }
    }

    /// Whether the quantity is fixed by what was scanned: one marked pack, or a label's weight.
    pub fn fixed_quantity(&self) -> bool {
        self.serial.is_some() || self.label_grams.is_some()
    }

    /// Whether the shelf price is within the region's limit; `None` while there is no price, or
    /// no limit.
    pub fn within_limit(&self) -> Option<bool> {
        Some(self.shelf? <= self.max_shelf?)
    }

    /// The first thing missing or wrong, if any.
    pub fn incomplete(&self) -> Option<Incomplete> {
        if let Some(grams) = self.label_grams.filter(|g| *g != self.quantity) {
            return Some(Incomplete::LabelWeight(grams));
        }
        if self.quantity <= 0 {
            return Some(Incomplete::Quantity);
        }
        let Some(shelf) = self.shelf else { return Some(Incomplete::ShelfPrice) };
        let Some(reduced) = self.reduced else { return Some(Incomplete::ReducedPrice) };
        if reduced > shelf {
            return Some(Incomplete::ReducedAboveShelf);
        }
        if let Some(max) = self.max_shelf.filter(|max| shelf > *max) {
            return Some(Incomplete::OverLimit(max, self.unit));
        }
        if self.amounts().is_none() {
            return Some(Incomplete::TooLarge);
        }
        None
    }

    /// The line's amounts, when it is complete.
    pub fn amounts(&self) -> Option<Amounts> {
        let (shelf, reduced) = (self.shelf?, self.reduced?);
        if self.quantity <= 0 || reduced > shelf {
            return None;
        }
        let shelf = self.amount(shelf)?;
        let to_pay = self.amount(reduced)?;
        Some(Amounts { shelf, to_pay, discount: shelf.checked_sub(to_pay)? })
    }

    fn amount(&self, price: Tiyn) -> Option<Tiyn> {
        match self.unit {
            Unit::Piece => price.checked_mul(self.quantity),
            Unit::Kg => price.mul_div_round(self.quantity, 1000),
        }
    }

    /// The largest discount per unit the cap allows (rounded down: the server compares exactly).
    pub fn max_unit_discount(&self) -> Option<Tiyn> {
        let shelf = self.shelf?;
        let max = i128::from(shelf.get()) * i128::from(self.cap_bp) / 10_000;
        i64::try_from(max).ok().map(Tiyn::new)
    }

    /// Whether the discount per unit is within the cap; `None` while a price is missing.
    pub fn within_cap(&self) -> Option<bool> {
        let (shelf, reduced) = (self.shelf?, self.reduced?);
        let discount = i128::from(shelf.get()) - i128::from(reduced.get());
        Some(discount * 10_000 <= i128::from(shelf.get()) * i128::from(self.cap_bp))
    }

    /// The line as the API takes it; `None` while incomplete.
    pub fn to_request(&self) -> Option<BasketLineIn> {
        if self.incomplete().is_some() {
            return None;
        }
        Some(BasketLineIn {
            code: self.code.clone(),
            quantity: self.quantity,
            shelf_price_tiyn: self.shelf?,
            reduced_price_tiyn: self.reduced?,
        })
    }

    /// The quantity as shown: "3 шт" or "1 250 г".
    pub fn quantity_text(&self, lang: Lang) -> String {
        if self.quantity <= 0 {
            return "—".to_owned();
        }
        i18n::quantity(lang, self.unit, self.quantity)
    }
}

/// Totals over the complete lines: shelf amount, discount, to pay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub shelf: Tiyn,
    pub discount: Tiyn,
    pub to_pay: Tiyn,
    /// Lines left out of the totals because they are incomplete.
    pub incomplete: usize,
}

pub fn totals(lines: &[Line]) -> Totals {
    let mut t = Totals::default();
    for line in lines {
        let sum = line.amounts().and_then(|a| {
            Some((t.shelf.checked_add(a.shelf)?, t.discount.checked_add(a.discount)?, t.to_pay.checked_add(a.to_pay)?))
        });
        match sum {
            Some((shelf, discount, to_pay)) => t = Totals { shelf, discount, to_pay, ..t },
            None => t.incomplete += 1,
        }
    }
    t
}

/// Parses a price typed by the cashier, in tenge: "1234", "1 234,5", "1234.50" → tiyn; at most
/// 9 999 999,99 ₸ (a longer number is a barcode typed into the wrong place).
pub fn parse_tenge(text: &str) -> Option<Tiyn> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace() && *c != '₸').collect();
    let (whole, frac) = match cleaned.split_once([',', '.']) {
        Some((w, f)) => (w, f),
        None => (cleaned.as_str(), ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 || whole.len() > 7 {
        return None;
    }
    let tenge: i64 = whole.parse().ok()?;
    let tiyn: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    tenge.checked_mul(100)?.checked_add(tiyn).map(Tiyn::new)
}

/// A price for an edit field: "1234,50" (no thousands separator, so it edits cleanly).
pub fn tenge_text(t: Tiyn) -> String {
    let v = t.get();
    format!("{},{:02}", v / 100, (v % 100).abs())
}

/// Parses a whole quantity (pieces or grams, at most 999 999): "3", "1 250".
pub fn parse_quantity(text: &str) -> Option<i64> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if cleaned.is_empty() || cleaned.len() > 6 || !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    cleaned.parse().ok().filter(|q| *q > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(unit: Unit) -> PosProduct {
        PosProduct {
            gtin: "04600000000015".into(),
            group: "milk".into(),
            name: "Молоко 2,5%".into(),
            unit,
            discount_cap_bp: 1500,
            last_shelf_price_tiyn: Some(Tiyn::new(10_000)),
            last_reduced_price_tiyn: Some(Tiyn::new(8_500)),
            max_shelf_price_tiyn: None,
            plu: None,
        }
    }

    #[test]
    fn a_price_over_the_limit_is_not_sent() {
        let mut p = product(Unit::Kg);
        p.max_shelf_price_tiyn = Some(Tiyn::new(30_000));
        let mut line = Line::new("x".into(), None, &p, 1_250);
        line.shelf = Some(Tiyn::new(30_000));
        line.reduced = Some(Tiyn::new(25_500));
        assert_eq!((line.incomplete(), line.within_limit()), (None, Some(true)));
        line.shelf = Some(Tiyn::new(30_001));
        assert_eq!(line.incomplete(), Some(Incomplete::OverLimit(Tiyn::new(30_000), Unit::Kg)));
        assert_eq!(line.incomplete().map(Incomplete::field), Some(Field::Shelf));
        assert!(line.to_request().is_none());
        assert_eq!(
            line.incomplete().map(|i| i.text(Lang::Ru)).as_deref(),
            Some("цена на полке выше предельной (не больше 300,00\u{a0}₸ за кг)")
        );
    }

    #[test]
    fn a_label_line_weighs_what_the_label_says() {
        let mut p = product(Unit::Kg);
        p.last_shelf_price_tiyn = Some(Tiyn::new(30_000));
        p.last_reduced_price_tiyn = Some(Tiyn::new(25_500));
        let label =
            azyq_shared::gs1::ScaleLabel::weight(0, azyq_shared::gs1::Plu::parse("00042").unwrap(), 1_250).unwrap();
        let mut line = Line::from_label(&label, &p);
        assert_eq!((line.code.as_str(), line.quantity, line.fixed_quantity()), ("2000042012502", 1_250, true));
        // 1 250 g at 300,00 ₸/kg, 255,00 ₸/kg reduced: 56,25 ₸ off, as the server counts.
        assert_eq!(line.amounts().map(|a| a.discount), Some(Tiyn::new(5_625)));
        line.quantity = 1_000;
        assert_eq!(line.incomplete(), Some(Incomplete::LabelWeight(1_250)));
        assert!(line.to_request().is_none());
    }

    #[test]
    fn piece_and_weight_amounts() {
        let mut line = Line::new("x".into(), None, &product(Unit::Piece), 3);
        assert_eq!(
            line.amounts(),
            Some(Amounts { shelf: Tiyn::new(30_000), to_pay: Tiyn::new(25_500), discount: Tiyn::new(4_500) })
        );
        line.unit = Unit::Kg;
        line.quantity = 1_255; // 100,00 per kg × 1,255 kg = 125,50; 85,00 × 1,255 = 106,675 → 106,68
        let a = line.amounts().unwrap();
        assert_eq!((a.shelf.get(), a.to_pay.get(), a.discount.get()), (12_550, 10_668, 1_882));
        assert_eq!(line.quantity_text(Lang::Kk), "1 255 г");
        line.unit = Unit::Piece;
        line.quantity = 3;
        assert_eq!((line.quantity_text(Lang::Ru), line.quantity_text(Lang::Kk)), ("3 шт".into(), "3 дана".into()));
    }

    #[test]
    fn cap_is_exact_like_the_server() {
        let mut line = Line::new("x".into(), None, &product(Unit::Piece), 1);
        line.shelf = Some(Tiyn::new(333));
        line.reduced = Some(Tiyn::new(284));
        assert_eq!(line.within_cap(), Some(true));
        line.reduced = Some(Tiyn::new(283));
        assert_eq!(line.within_cap(), Some(false));
        assert_eq!(line.max_unit_discount(), Some(Tiyn::new(49)));
    }

    #[test]
    fn incomplete_lines_say_why_and_stay_out_of_totals() {
        let mut p = product(Unit::Kg);
        p.last_reduced_price_tiyn = None;
        let kg = Line::new("y".into(), None, &p, 0);
        assert_eq!(kg.incomplete(), Some(Incomplete::Quantity));
        let mut priced = kg.clone();
        priced.quantity = 500;
        assert_eq!(priced.incomplete(), Some(Incomplete::ReducedPrice));
        assert!(priced.to_request().is_none());
        let piece = Line::new("x".into(), None, &product(Unit::Piece), 2);
        let t = totals(&[kg, piece]);
        assert_eq!((t.discount.get(), t.to_pay.get(), t.incomplete), (3_000, 17_000, 1));
    }

    #[test]
    fn prices_in_tenge_parse_without_floats() {
        assert_eq!(parse_tenge("1234"), Some(Tiyn::new(123_400)));
        assert_eq!(parse_tenge("1 234,5"), Some(Tiyn::new(123_450)));
        assert_eq!(parse_tenge("0.05 ₸"), Some(Tiyn::new(5)));
        for bad in ["", ",5", "1,234", "-5", "12a", "1,2,3", "12345678"] {
            assert_eq!(parse_tenge(bad), None, "{bad}");
        }
        assert_eq!(tenge_text(Tiyn::new(123_405)), "1234,05");
        assert_eq!(parse_quantity("1 250"), Some(1250));
        assert_eq!(parse_quantity("0"), None);
        assert_eq!(parse_quantity("-1"), None);
    }
}
