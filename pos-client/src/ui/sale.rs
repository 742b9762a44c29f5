//! The sale screen: vouchers, basket, totals, scan input, and the line editor.

use azyq_shared::api::Unit;
use azyq_shared::Tiyn;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, TableState};
use ratatui::Frame;

use super::table::{fitted, Align, Grid, GridRow};
use super::{compact, flow, height, words};
use crate::app::basket::{self, Line as BasketLine};
use crate::app::{App, LineEdit, Stage};
use crate::i18n::{self, T};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let inner = usize::from(area.width.saturating_sub(2));
    let vouchers = voucher_lines(app, inner);
    let totals = totals_lines(app, usize::from(area.width.saturating_sub(1)));
    let [vouchers_area, lines_area, totals_area, scan_area] = Layout::vertical([
        Constraint::Length(height(&vouchers).saturating_add(2)),
        Constraint::Min(4),
        Constraint::Length(height(&totals)),
        Constraint::Length(3),
    ])
    .areas(area);
    let title = format!(" {} ", T::Vouchers.get(app.lang));
    frame.render_widget(Paragraph::new(vouchers).block(Block::bordered().title(title)), vouchers_area);
    draw_lines(frame, lines_area, app);
    frame.render_widget(Paragraph::new(totals), totals_area);
    draw_scan(frame, scan_area, app);
    if let Some(edit) = &app.sale.edit {
        if let Some(line) = app.sale.lines.get(edit.line) {
            draw_edit(frame, area, edit, line, app);
        }
    }
}

/// One voucher a row (more where the width is short), then the QR code being checked or refused.
fn voucher_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let lang = app.lang;
    let mut rows: Vec<Line> = Vec::new();
    for (i, v) in app.sale.vouchers.iter().enumerate() {
        let until = v.token_expires_at.with_timezone(&azyq_shared::ALMATY).format("%H:%M").to_string();
        let pieces = vec![
            vec![Span::raw(format!("{}. ", i + 1)), Span::raw(v.holder.clone()).bold()],
            vec![Span::raw(format!("{} {}", T::Month.get(lang), v.month))],
            vec![Span::raw(format!("{} ", T::Available.get(lang))), Span::raw(v.balance.to_string()).green().bold()],
            vec![Span::raw(i18n::qr_until(lang, &until)).dark_gray()],
        ];
        rows.extend(flow(pieces, width, 3));
    }
    if !app.sale.lookups.is_empty() {
        rows.push(Line::from(T::CheckingQr.get(lang)).dark_gray());
    } else if let Some(note) = &app.sale.voucher_note {
        let note = i18n::failed_because(T::QrNotAccepted.get(lang), note.get(lang));
        rows.extend(flow(words(&note, Style::new().red()), width, 1));
    } else if rows.is_empty() {
        rows.push(Line::from(T::ScanCustomerQrHint.get(lang)).dark_gray());
    }
    rows
}

/// Money in a table cell: whole, or without "₸" (`trim`) where the table's title carries the
/// currency once.
pub(super) fn cell_money(t: Tiyn, trim: bool) -> String {
    let text = t.to_string();
    if trim {
        text.trim_end_matches(" ₸").to_owned()
    } else {
        text
    }
}

/// A price per piece, or per kg with "/кг" after it.
pub(super) fn price(t: Option<Tiyn>, unit: Unit, trim: bool) -> String {
    match t {
        Some(t) => format!("{}{}", cell_money(t, trim), i18n::per_kg_mark(unit)),
        None => "—".to_owned(),
    }
}

fn draw_lines(frame: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    // The cap column is the one a narrow screen spares: the editor states the cap, an excess
    // shows red on the reduced price. The price limit has a column while a line has one.
    let wide = !compact(area);
    let limits = app.sale.lines.iter().any(|l| l.max_shelf.is_some());
    let grid = |trim: bool| {
        let money = |t: Option<Tiyn>| t.map_or_else(|| "—".to_owned(), |t| cell_money(t, trim));
        let mut columns = vec![T::ColProduct, T::ColQuantity, T::ColShelf];
        if limits {
            columns.push(T::ColLimit);
        }
        columns.extend([T::ColReduced, T::ColDiscount]);
        if wide {
            columns.push(T::ColCap);
        }
        columns.push(T::ColToPay);
        let mut headers = vec!["№".to_owned()];
        headers.extend(columns.iter().map(|c| c.get(lang).to_owned()));
        let mut align = vec![Align::Right, Align::Left, Align::Right];
        align.resize(headers.len(), Align::Right);
        // Where the cells a refusal colours stand.
        let (shelf_col, reduced_col) = (3, if limits { 5 } else { 4 });
        let cap_col = reduced_col + 2;
        let rows = app
            .sale
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let amounts = l.amounts();
                let mut cells =
                    vec![(i + 1).to_string(), line_name(l), l.quantity_text(lang), price(l.shelf, l.unit, trim)];
                if limits {
                    cells.push(l.max_shelf.map_or_else(String::new, |max| price(Some(max), l.unit, trim)));
                }
                cells.extend([price(l.reduced, l.unit, trim), money(amounts.map(|a| a.discount))]);
                if wide {
                    cells.push(price(l.max_unit_discount(), l.unit, trim));
                }
                cells.push(money(amounts.map(|a| a.to_pay)));
                let mut row = GridRow::new(cells);
                let red = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
                if l.within_limit() == Some(false) {
                    // Over the limit: the shelf price is at fault, and the limit it broke.
                    row.cell_styles.extend([(shelf_col, red), (shelf_col + 1, red)]);
                }
                if l.within_cap() == Some(false) {
                    // Over the cap: the reduced price is at fault, and the cap it broke.
                    row.cell_styles.push((reduced_col, red));
                    if wide {
                        row.cell_styles.push((cap_col, red));
                    }
                }
                if l.incomplete().is_some() {
                    row.style = Style::new().fg(Color::Yellow);
                }
                if app.sale.selected == Some(i) {
                    row.style = Style::new().bg(Color::Blue).fg(Color::White);
                }
                row
            })
            .collect();
        Grid { headers, align, flexible: 1, rows }
    };
    let (table, trimmed) = fitted(area.width.saturating_sub(2), grid);
    let basket = format!("{}{}", T::Basket.get(lang), if trimmed { ", ₸" } else { "" });
    let title = match &app.sale.stage {
        Stage::Authorizing(k) if k.unknown => format!(" {basket} · {} ", T::BasketNoAnswer.get(lang)),
        Stage::Authorizing(_) => format!(" {basket} · {} ", T::BasketAuthorizing.get(lang)),
        _ => format!(" {basket} "),
    };
    // The selected line stays in sight when the basket is longer than the screen.
    let mut state = TableState::default().with_selected(app.sale.selected);
    frame.render_stateful_widget(table.block(Block::bordered().title(title)), area, &mut state);
}

/// "Молоко 2,5% 1 л" or, for a marked pack, "Яйца С1 · SER1".
fn line_name(l: &BasketLine) -> String {
    match &l.serial {
        Some(serial) => format!("{} · {serial}", l.name),
        None => l.name.clone(),
    }
}

fn totals_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let lang = app.lang;
    let t = basket::totals(&app.sale.lines);
    let mut pieces = vec![
        vec![
            Span::raw(format!("{} ", T::DiscountByVoucher.get(lang))),
            Span::raw(t.discount.to_string()).green().bold(),
        ],
        vec![Span::raw(format!("{} ", T::ToPay.get(lang))), Span::raw(t.to_pay.to_string()).bold()],
    ];
    if let Some(balance) = app.sale.balance().filter(|_| !app.sale.vouchers.is_empty()) {
        if t.discount > balance {
            pieces.push(vec![Span::raw(format!("{} ({balance})", T::BalanceShort.get(lang))).red().bold()]);
        }
    }
    if t.incomplete > 0 {
        pieces.push(vec![Span::raw(format!("{} {}", T::LinesIncomplete.get(lang), t.incomplete)).yellow()]);
    }
    flow(pieces, width, 4).into_iter().map(|l| Line::from([vec![Span::raw(" ")], l.spans].concat())).collect()
}

fn draw_scan(frame: &mut Frame, area: Rect, app: &App) {
    // A token is shown cut short: the screen faces the queue.
    let shown = if app.sale.scan.chars().count() > 40 {
        let head: String = app.sale.scan.chars().take(12).collect();
        format!("{head}… ({} {})", app.sale.scan.chars().count(), T::Chars.get(app.lang))
    } else {
        app.sale.scan.replace('\u{1d}', "⟨GS⟩")
    };
    let block = Block::bordered().title(format!(" {} ", T::ScanTitle.get(app.lang)));
    frame.render_widget(Paragraph::new(format!("> {shown}")).block(block), area);
    if app.sale.edit.is_none() && app.confirm.is_none() {
        let x = area.x.saturating_add(3).saturating_add(u16::try_from(shown.chars().count()).unwrap_or(0));
        frame.set_cursor_position((x.min(area.right().saturating_sub(2)), area.y.saturating_add(1)));
    }
}

fn draw_edit(frame: &mut Frame, area: Rect, edit: &LineEdit, line: &BasketLine, app: &App) {
    let lang = app.lang;
    let labels = [
        match line.unit {
            Unit::Piece => T::EditQuantityPieces.get(lang).to_owned(),
            Unit::Kg => T::EditWeightGrams.get(lang).to_owned(),
        },
        i18n::price_label(lang, T::EditShelf, line.unit),
        i18n::price_label(lang, T::EditReduced, line.unit),
    ];
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut rows: Vec<Line> = labels
        .iter()
        .zip(&edit.texts)
        .enumerate()
        .map(|(i, (label, text))| {
            let style = if i == edit.field { Style::new().bg(Color::Blue).fg(Color::White) } else { Style::new() };
            let mut spans =
                vec![Span::raw(format!("{label:<label_width$} ")), Span::styled(format!(" {text:<12} "), style)];
            // Grams are what the scale says; the kilograms beside them are for the cashier's eye.
            if let (0, Unit::Kg, Some(grams)) = (i, line.unit, basket::parse_quantity(text)) {
                spans.push(Span::raw(format!(" = {}", i18n::kilograms(grams))).dark_gray());
            }
            Line::from(spans)
        })
        .collect();
    let title = format!(" {} ", i18n::line_named(lang, edit.line + 1, &line.name));
    let want = (label_width + 30).max(title.chars().count() + 4);
    let width = area.width.min(u16::try_from(want).unwrap_or(u16::MAX));
    let inner = usize::from(width.saturating_sub(2));
    let group = format!("{}: {}", T::Group.get(lang), app.group_name(&line.group));
    rows.extend(flow(words(&group, Style::new().dark_gray()), inner, 1));
    rows.extend(flow(words(&i18n::cap_rule(lang, line.cap_bp), Style::new().dark_gray()), inner, 1));
    if let Some(max) = line.max_shelf {
        let style = if line.within_limit() == Some(false) { Style::new().red() } else { Style::new().dark_gray() };
        rows.extend(flow(words(&i18n::limit_rule(lang, max, line.unit), style), inner, 1));
    }
    let popup = super::centered(area, width, height(&rows).saturating_add(2));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(rows).block(Block::bordered().title(title)), popup);
}
