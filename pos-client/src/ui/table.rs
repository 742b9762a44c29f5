//! Tables whose columns are as wide as what they hold: a figure is never cut, and one column (a
//! product's or a group's name) takes the width left and wraps onto more lines where it must.

use ratatui::layout::Constraint;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Cell, Row, Table};

/// How a column's cells sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Figures: right-aligned, so that their digits line up.
    Right,
}

/// A table before it is laid out.
pub struct Grid {
    pub headers: Vec<String>,
    pub align: Vec<Align>,
    /// The column that takes the width left and wraps.
    pub flexible: usize,
    pub rows: Vec<GridRow>,
}

/// One row: its cells' texts, the row's style, and a style for single cells.
#[derive(Default)]
pub struct GridRow {
    pub cells: Vec<String>,
    pub style: Style,
    pub cell_styles: Vec<(usize, Style)>,
}

impl GridRow {
    pub fn new(cells: Vec<String>) -> GridRow {
        GridRow { cells, ..GridRow::default() }
    }
}

/// Columns one space apart where the width is short, two where the names fit whole anyway.
const NARROW: u16 = 1;
const ROOMY: u16 = 2;

/// The narrowest a name column may get before the figures give up their "₸".
const MIN_NAME: u16 = 20;

/// The table built by `build(trim)` for `width`: with "₸" in every money cell where the names
/// keep room enough, else without (`trim`, returned so that the title can carry the currency).
pub fn fitted(width: u16, build: impl Fn(bool) -> Grid) -> (Table<'static>, bool) {
    let full = build(false);
    if full.room(width, NARROW) >= MIN_NAME {
        return (full.layout(width), false);
    }
    (build(true).layout(width), true)
}

impl Grid {
    /// The widths of the columns as their contents ask, the flexible one included.
    fn natural_widths(&self) -> Vec<u16> {
        let chars = |s: &str| u16::try_from(s.chars().count()).unwrap_or(u16::MAX);
        let mut widths: Vec<u16> = self.headers.iter().map(|h| chars(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(&row.cells) {
                *w = (*w).max(chars(cell));
            }
        }
        widths
    }

    /// The width left for the flexible column once the others have theirs, `spacing` apart.
    fn room(&self, width: u16, spacing: u16) -> u16 {
        let fixed: u16 =
            self.natural_widths().iter().enumerate().filter(|(i, _)| *i != self.flexible).map(|(_, w)| *w).sum();
        let gaps = spacing.saturating_mul(u16::try_from(self.headers.len().saturating_sub(1)).unwrap_or(0));
        width.saturating_sub(fixed).saturating_sub(gaps)
    }

    /// The table laid out for `width` columns of screen.
    pub fn layout(self, width: u16) -> Table<'static> {
        let mut widths = self.natural_widths();
        let natural = widths.get(self.flexible).copied().unwrap_or(0);
        let spacing = if self.room(width, ROOMY) >= natural { ROOMY } else { NARROW };
        // The flexible column takes all the room left, so the figures end at the right edge.
        let left = self.room(width, spacing);
        if let Some(w) = widths.get_mut(self.flexible) {
            *w = left.max(1);
        }
        let flex_width = usize::from(widths.get(self.flexible).copied().unwrap_or(1));
        let cell = |text: String, align: Align| -> Cell<'static> {
            match align {
                Align::Left => Cell::from(text),
                Align::Right => Cell::from(Line::from(text).right_aligned()),
            }
        };
        let header =
            Row::new(self.headers.iter().zip(&self.align).map(|(h, a)| cell(h.clone(), *a)).collect::<Vec<_>>())
                .style(Style::new().add_modifier(Modifier::BOLD));
        let rows: Vec<Row> = self
            .rows
            .into_iter()
            .map(|row| {
                let mut height = 1;
                let cells: Vec<Cell> = row
                    .cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, text)| {
                        let align = self.align.get(i).copied().unwrap_or(Align::Left);
                        let mut c = if i == self.flexible {
                            let lines = wrap(&text, flex_width);
                            height = height.max(lines.len());
                            Cell::from(Text::from(lines.into_iter().map(Line::from).collect::<Vec<_>>()))
                        } else {
                            cell(text, align)
                        };
                        if let Some((_, style)) = row.cell_styles.iter().find(|(at, _)| *at == i) {
                            c = c.style(*style);
                        }
                        c
                    })
                    .collect();
                Row::new(cells).style(row.style).height(u16::try_from(height).unwrap_or(1))
            })
            .collect();
        let constraints: Vec<Constraint> = widths.into_iter().map(Constraint::Length).collect();
        Table::new(rows, constraints).header(header).column_spacing(spacing)
    }
}

/// Words of `text` in lines at most `width` wide; a word longer than a line is cut into pieces.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > width {
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            lines.push(word.drain(..width).collect());
        }
        let n = current.chars().count();
        if n > 0 && n + 1 + word.len() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.extend(word);
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wrap_at_words_and_long_words_are_cut() {
        assert_eq!(wrap("Молоко 2,5% 1 л", 8), vec!["Молоко", "2,5% 1 л"]);
        assert_eq!(wrap("Говядина лопаточно-грудная", 10), vec!["Говядина", "лопаточно-", "грудная"]);
        assert_eq!(wrap("", 5), vec![""]);
    }
}
