//! The sale screen: vouchers, basket, totals, scan input, and the line editor.

use azyq_shared::Tiyn;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use crate::app::basket::{self, Line as BasketLine};
use crate::app::{App, LineEdit, Stage};

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
            draw_edit(frame, lines, edit, line);
        }
    }
}

fn draw_vouchers(frame: &mut Frame, area: Rect, app: &App) {
    let mut rows: Vec<Line> = app
        .sale
        .vouchers
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Line::from(vec![
                Span::raw(format!("{}. ", i + 1)),
                Span::raw(format!("{:<12}", v.holder)).bold(),
                Span::raw(format!(" месяц {}   ", v.month)),
                Span::raw("доступно "),
                Span::raw(v.balance.to_string()).green().bold(),
                Span::raw(format!(
                    "   QR до {}",
                    v.token_expires_at.with_timezone(&azyq_shared::ALMATY).format("%H:%M")
                ))
                .dark_gray(),
            ])
        })
        .collect();
    if !app.sale.lookups.is_empty() {
        rows.push(Line::from("Проверка QR-кода…").dark_gray());
    } else if let Some(note) = &app.sale.voucher_note {
        rows.push(Line::from(format!("QR-код не принят: {}", crate::app::lower_first(note))).red());
    } else if rows.is_empty() {
        rows.push(Line::from("Отсканируйте QR-код покупателя").dark_gray());
    }
    frame.render_widget(Paragraph::new(rows).block(Block::bordered().title(" Ваучеры ")), area);
}

fn money(t: Option<Tiyn>) -> String {
    t.map(|t| t.to_string()).unwrap_or_else(|| "—".to_owned())
}

fn draw_lines(frame: &mut Frame, area: Rect, app: &App) {
    let header = Row::new(["№", "Товар", "Кол-во", "Цена", "Со скидкой", "Скидка", "Макс. скидка/ед", "К оплате"])
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
            Cell::from(l.quantity_text()),
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
    let title = match &app.sale.stage {
        Stage::Authorizing(k) if k.unknown => " Покупка · ответ не получен — F2 повторить ",
        Stage::Authorizing(_) => " Покупка · авторизация… ",
        _ => " Покупка ",
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
    let t = basket::totals(&app.sale.lines);
    let mut spans = vec![
        Span::raw(" Скидка по ваучеру: "),
        Span::raw(t.discount.to_string()).green().bold(),
        Span::raw("    К оплате: "),
        Span::raw(t.to_pay.to_string()).bold(),
    ];
    if let Some(balance) = app.sale.balance().filter(|_| !app.sale.vouchers.is_empty()) {
        if t.discount > balance {
            spans.push(Span::raw(format!("    не хватает баланса ({balance})")).red().bold());
        }
    }
    if t.incomplete > 0 {
        spans.push(Span::raw(format!("    строк без цены или количества: {}", t.incomplete)).yellow());
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_scan(frame: &mut Frame, area: Rect, app: &App) {
    // A token is shown cut short: the screen faces the queue.
    let shown = if app.sale.scan.chars().count() > 40 {
        let head: String = app.sale.scan.chars().take(12).collect();
        format!("{head}… ({} симв.)", app.sale.scan.chars().count())
    } else {
        app.sale.scan.replace('\u{1d}', "⟨GS⟩")
    };
    let block = Block::bordered().title(" Скан: QR-код ваучера или код товара, Enter ");
    frame.render_widget(Paragraph::new(format!("> {shown}")).block(block), area);
    if app.sale.edit.is_none() && app.confirm.is_none() {
        let x = area.x.saturating_add(3).saturating_add(u16::try_from(shown.chars().count()).unwrap_or(0));
        frame.set_cursor_position((x.min(area.right().saturating_sub(2)), area.y.saturating_add(1)));
    }
}

fn draw_edit(frame: &mut Frame, area: Rect, edit: &LineEdit, line: &BasketLine) {
    let popup = super::centered(area, 56, 7);
    frame.render_widget(Clear, popup);
    let qty_label = match line.unit {
        azyq_shared::api::Unit::Piece => "Количество, шт",
        azyq_shared::api::Unit::Kg => "Вес, г",
    };
    let labels = [qty_label, "Цена на полке, ₸", "Цена со скидкой, ₸"];
    let lines: Vec<Line> = labels
        .iter()
        .zip(&edit.texts)
        .enumerate()
        .map(|(i, (label, text))| {
            let style = if i == edit.field { Style::new().bg(Color::Blue).fg(Color::White) } else { Style::new() };
            Line::from(vec![Span::raw(format!("{label:<20}")), Span::styled(format!(" {text:<14}"), style)])
        })
        .collect();
    let mut all = lines;
    all.push(Line::from(format!("Макс. скидка: {}% цены на полке", f64_free_percent(line.cap_bp))).dark_gray());
    let block = Block::bordered().title(format!(" Строка {}: {} ", edit.line + 1, line.name));
    frame.render_widget(Paragraph::new(all).block(block), popup);
}

/// 1500 → "15", 1250 → "12,5".
fn f64_free_percent(bp: i32) -> String {
    let (whole, frac) = (bp / 100, bp % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole},{}", f / 10),
        f => format!("{whole},{f:02}"),
    }
}
