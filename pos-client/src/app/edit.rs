//! Editing a basket line: quantity, shelf price and reduced price; removing lines and vouchers.

use super::basket::{parse_quantity, parse_tenge, tenge_text};
use super::sale::MAX_SCAN_CHARS;
use super::{edit_text, App, Command, Key, LineEdit, Message};
use crate::i18n::{self, Phrase, T};
use azyq_shared::Tiyn;

impl App {
    pub(super) fn start_edit(&mut self) {
        if !self.sale.is_open() {
            return;
        }
        let Some(index) = self.sale.selected else {
            self.message = Some(Message::info(T::NoLineSelected, T::SelectWithArrows));
            return;
        };
        let Some(line) = self.sale.lines.get(index) else { return };
        let texts = [
            if line.quantity > 0 { line.quantity.to_string() } else { String::new() },
            line.shelf.map(tenge_text).unwrap_or_default(),
            line.reduced.map(tenge_text).unwrap_or_default(),
        ];
        // The field an error named, else the first thing missing; a serialised item is always
        // one piece and a labelled one weighs what its label says, so their quantity is never
        // where the form starts.
        let fault = self.sale.fault.filter(|f| f.line == index).map(|f| f.field.index());
        let fixed = line.fixed_quantity();
        let first = usize::from(fixed);
        let field = if let Some(field) = fault {
            field.max(first)
        } else if line.quantity <= 0 {
            0
        } else if line.shelf.is_none() {
            1
        } else if line.reduced.is_none() || fixed {
            2
        } else {
            0
        };
        self.sale.edit = Some(LineEdit { line: index, field, texts });
    }

    pub(super) fn edit_key(&mut self, key: Key) -> Vec<Command> {
        let Some(edit) = self.sale.edit.as_mut() else { return Vec::new() };
        let fixed = self.sale.lines.get(edit.line).is_some_and(|l| l.fixed_quantity());
        let first = usize::from(fixed);
        match key {
            Key::Tab | Key::Down | Key::Right => edit.field = if edit.field >= 2 { first } else { edit.field + 1 },
            Key::BackTab | Key::Up | Key::Left => edit.field = if edit.field <= first { 2 } else { edit.field - 1 },
            Key::Esc => self.sale.edit = None,
            Key::Enter => {
                let text = edit.texts.get(edit.field).map(|t| t.trim().to_owned()).unwrap_or_default();
                if looks_scanned(&text, edit.field) {
                    return self.scan_while_editing(&text);
                }
                self.save_edit();
            }
            // Any character is taken, so that a code the scanner types into the form can be
            // recognised on Enter rather than mangled into a price.
            other => {
                if let Some(text) = edit.texts.get_mut(edit.field) {
                    edit_text(text, other, MAX_SCAN_CHARS);
                }
            }
        }
        Vec::new()
    }

    /// The scanner typed the next code into the line form: the form closes as it was (the line
    /// stays marked incomplete) and the code is taken as a scan.
    fn scan_while_editing(&mut self, text: &str) -> Vec<Command> {
        let line = self.sale.edit.take().map_or(0, |e| e.line);
        let commands = self.scan(text);
        if self.message.is_none() {
            let name = self.sale.lines.get(line).map(|l| l.name.clone()).unwrap_or_default();
            let what = Phrase::new(|lang| i18n::line_not_filled(lang, line + 1, &name));
            self.message = Some(Message::info(what, T::SelectItAndF4));
        }
        commands
    }

    fn save_edit(&mut self) {
        let Some(edit) = self.sale.edit.clone() else { return };
        let [qty, shelf, reduced] = &edit.texts;
        let parsed = (parse_quantity(qty), parse_tenge(shelf), parse_tenge(reduced));
        let (Some(quantity), Some(shelf), Some(reduced)) = parsed else {
            let (field, what) = match parsed {
                (None, _, _) => (0, T::BadQuantity),
                (_, None, _) => (1, T::BadShelf),
                _ => (2, T::BadReduced),
            };
            if let Some(e) = self.sale.edit.as_mut() {
                e.field = field;
            }
            self.message = Some(Message::error(what, T::FixAndEnter));
            return;
        };
        let Some(line) = self.sale.lines.get_mut(edit.line) else { return };
        if line.serial.is_some() && quantity != 1 {
            self.message = Some(Message::error(T::MarkedIsOnePiece, T::ScanEachPackApart));
            return;
        }
        if let Some(grams) = line.label_grams.filter(|g| *g != quantity) {
            self.message =
                Some(Message::error(Phrase::new(|lang| i18n::label_weight(lang, grams)), T::ScanEachPackApart));
            return;
        }
        if reduced > shelf {
            self.message = Some(Message::error(T::ReducedAboveShelf, T::FixPricesAndEnter));
            return;
        }
        line.quantity = quantity;
        line.shelf = Some(shelf);
        line.reduced = Some(reduced);
        if self.sale.fault.is_some_and(|f| f.line == edit.line) {
            self.sale.fault = None;
        }
        if let (Some(false), Some(max)) = (line.within_limit(), line.max_shelf) {
            let unit = line.unit;
            let what = Phrase::new(|lang| i18n::upper_first(&i18n::over_limit(lang, max, Some(unit))));
            self.message = Some(Message { key: Some("F4"), ..Message::info(what, T::ServerWillRefuseLimit) });
        } else if line.within_cap() == Some(false) {
            let (max, unit) = (line.max_unit_discount().unwrap_or(Tiyn::ZERO), line.unit);
            let what = Phrase::new(|lang| i18n::over_cap(lang, max, unit));
            self.message = Some(Message { key: Some("F4"), ..Message::info(what, T::ServerWillRefuseCap) });
        }
        self.sale.edit = None;
    }

    pub(super) fn remove_line(&mut self) {
        if !self.sale.is_open() {
            return;
        }
        let Some(index) = self.sale.selected.filter(|i| *i < self.sale.lines.len()) else { return };
        self.sale.lines.remove(index);
        // The lines after it move up: a fault noted by number no longer points at its line.
        self.sale.fault = None;
        self.sale.selected = if self.sale.lines.is_empty() { None } else { Some(index.min(self.sale.lines.len() - 1)) };
    }

    pub(super) fn remove_voucher(&mut self) {
        if self.sale.is_open() && self.sale.vouchers.pop().is_some() {
            self.message = Some(Message::info(T::VoucherRemoved, Phrase::default()));
        }
    }
}

/// Whether what was typed into a form field is a scanned code rather than a number: more digits
/// than any quantity (6: grams up to a tonne) or whole tenge of a price (7), or characters that
/// neither has. Every barcode (EAN-8 and longer) is caught.
fn looks_scanned(text: &str, field: usize) -> bool {
    if text.chars().any(|c| !(c.is_ascii_digit() || matches!(c, ',' | '.' | ' ' | '₸'))) {
        return true;
    }
    let whole = text.split([',', '.']).next().unwrap_or_default();
    let digits = whole.chars().filter(char::is_ascii_digit).count();
    digits > if field == 0 { 6 } else { 7 }
}
