//! The sale screen: vouchers, basket, totals, scan input, and the line editor.

use azyq_shared::api::Unit;
use azyq_shared::Tiyn;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use crate::app::basket::{self, Line as BasketLine};
use crate::app::{App, LineEdit, Stage};
use crate::i18n::{self, T};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let extra = usize::from(!app.sale.lookups.is_empty() || app.sale.voucher_note.is_some());
    let voucher_rows = u16::try_from((app.sale.vouchers.len() + extra).max(1)).unwrap_or(1).min(4);
    let [vouchers, lines, totals, scan] = Layout::vertical([
        Constraint::Length(voucher_rows + 2),
        Constraint::Min(4),
        Constraint::Length(1),
        Constraint::Length(3),
    ])
    .areas(area);
    draw_vouchers(frame, vouchers, app);
    draw_lines(frame, lines, app);
    draw_totals(frame, totals, app);
    draw_scan(frame, scan, app);
    if let Some(edit) = &app.sale.edit {
        if let Some(line) = app.sale.lines.get(edit.line) {
            draw_edit(frame, lines, edit, line, app);
        }
    }
}

fn draw_vouchers(frame: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let mut rows: Vec<Line> = app
        .sale
        .vouchers
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Line::from(vec![
                Span::raw(format!("{}. ", i + 1)),
                Span::raw(format!("{:<12}", v.holder)).bold(),
                Span::raw(format!(" {} {}   ", T::Month.get(lang), v.month)),
                Span::raw(format!("{} ", T::Available.get(lang))),
                Span::raw(v.balance.to_string()).green().bold(),
                Span::raw(format!(
                    "   {}",
                    i18n::qr_until(
                        lang,
                        &v.token_expires_at.with_timezone(&azyq_shared::ALMATY).format("%H:%M").to_string()
                    )
                ))
                .dark_gray(),
            ])
        })
        .collect();
    if !app.sale.lookups.is_empty() {
        rows.push(Line::from(T::CheckingQr.get(lang)).dark_gray());
    } else if let Some(note) = &app.sale.voucher_note {
        let note = i18n::failed_because(T::QrNotAccepted.get(lang), note.get(lang));
        rows.push(Line::from(note).red());
    } else if rows.is_empty() {
        rows.push(Line::from(T::ScanCustomerQrHint.get(lang)).dark_gray());
    }
    let title = format!(" {} ", T::Vouchers.get(lang));
    frame.render_widget(Paragraph::new(rows).block(Block::bordered().title(title)), area);
}

fn money(t: Option<Tiyn>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "—".to_owned())
}

fn draw_lines(frame: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let header = Row::new(
        [T::ColProduct, T::ColQuantity, T::ColShelf, T::ColReduced, T::ColDiscount, T::ColCap, T::ColToPay]
            .iter()
            .fold(vec!["№"], |mut v, t| {
                v.push(t.get(lang));
                v
            }),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = app.sale.lines.iter().enumerate().map(|(i, l)| {
        let amounts = l.amounts();
        let over = l.within_cap() == Some(false);
        let cap = Cell::from(money(l.max_unit_discount())).style(if over {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        });
        let mut row = Row::new(vec![
            Cell::from((i + 1).to_string()),
            Cell::from(line_name(l)),
            Cell::from(l.quantity_text(lang)),
            Cell::from(money(l.shelf)),
            Cell::from(money(l.reduced)),
            Cell::from(money(amounts.map(|a| a.discount))),
            cap,
            Cell::from(money(amounts.map(|a| a.to_pay))),
        ]);
        if l.incomplete().is_some() {
            row = row.style(Style::new().fg(Color::Yellow));
        }
        if app.sale.selected == Some(i) {
            row = row.style(Style::new().bg(Color::Blue).fg(Color::White));
        }
        row
    });
    let widths = [
        Constraint::Length(3),
        Constraint::Min(18),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(11),
        Constraint::Length(15),
        Constraint::Length(13),
    ];
    let basket = T::Basket.get(lang);
    let title = match &app.sale.stage {
        Stage::Authorizing(k) if k.unknown => format!(" {basket} · {} ", T::BasketNoAnswer.get(lang)),
        Stage::Authorizing(_) => format!(" {basket} · {} ", T::BasketAuthorizing.get(lang)),
        _ => format!(" {basket} "),
    };
    let table = Table::new(rows, widths).header(header).block(Block::bordered().title(title)).column_spacing(1);
    frame.render_widget(table, area);
}

/// "Молоко 2,5% 1 л" or, for a marked pack, "Яйца С1 · SER1".
fn line_name(l: &BasketLine) -> String {
    match &l.serial {
        Some(serial) => format!("{} · {serial}", l.name),
        None => l.name.clone(),
    }
}

fn draw_totals(frame: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let t = basket::totals(&app.sale.lines);
    let mut spans = vec![
        Span::raw(format!(" {} ", T::DiscountByVoucher.get(lang))),
        Span::raw(t.discount.to_string()).green().bold(),
        Span::raw(format!("    {} ", T::ToPay.get(lang))),
        Span::raw(t.to_pay.to_string()).bold(),
    ];
    if let Some(balance) = app.sale.balance().filter(|_| !app.sale.vouchers.is_empty()) {
        if t.discount > balance {
            spans.push(Span::raw(format!("    {} ({balance})", T::BalanceShort.get(lang))).red().bold());
        }
    }
    if t.incomplete > 0 {
        spans.push(Span::raw(format!("    {} {}", T::LinesIncomplete.get(lang), t.incomplete)).yellow());
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
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
    rows.extend(super::flow(super::words(&group, Style::new().dark_gray()), inner, 1));
    rows.extend(super::flow(super::words(&i18n::cap_rule(lang, line.cap_bp), Style::new().dark_gray()), inner, 1));
    let height = u16::try_from(rows.len() + 2).unwrap_or(u16::MAX);
    let popup = super::centered(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(rows).block(Block::bordered().title(title)), popup);
}
