//! Drawing only: [`draw`] renders the [`App`] as it is; no state changes here.

mod sale;
mod screens;

use azyq_shared::ALMATY;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Message, Screen, Tone};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let [header, body, message, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(if app.message.is_some() { 5 } else { 0 }),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, app);
    match app.screen {
        Screen::Login => screens::login(frame, body, app),
        Screen::Sale => sale::draw(frame, body, app),
        Screen::Payment => screens::payment(frame, body, app),
        Screen::Receipt => screens::receipt(frame, body, app),
        Screen::Refund => screens::refund(frame, body, app),
        Screen::Report => screens::report(frame, body, app),
    }
    if let Some(m) = &app.message {
        draw_message(frame, message, m);
    }
    frame.render_widget(Paragraph::new(footer_line(app)).style(Style::new().bg(Color::DarkGray)), footer);
    if let Some(confirm) = app.confirm {
        draw_confirm(frame, frame.area(), confirm.question());
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App) {
    let time = app.now.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M").to_string();
    let who = match &app.session {
        Some(s) => format!(" · магазин {} · касса {} · кассир {}", s.shop, s.terminal, s.login),
        None => String::new(),
    };
    let busy = app.busy.map(|b| format!("  ⏳ {b}…")).unwrap_or_default();
    let [left, right] = Layout::horizontal([Constraint::Min(10), Constraint::Length(17)]).areas(area);
    let title = Line::from(vec![Span::raw(" Azyq").bold(), Span::raw(who), Span::raw(busy).yellow()]);
    frame.render_widget(Paragraph::new(title).style(Style::new().bg(Color::Blue).fg(Color::White)), left);
    frame.render_widget(
        Paragraph::new(time).right_aligned().style(Style::new().bg(Color::Blue).fg(Color::White)),
        right,
    );
}

fn draw_message(frame: &mut Frame, area: Rect, m: &Message) {
    let (color, title) = match m.tone {
        Tone::Error => (Color::Red, " Ошибка "),
        Tone::Info => (Color::Yellow, " Внимание "),
        Tone::Done => (Color::Green, " Готово "),
    };
    let what = Span::styled(m.what.clone(), Style::new().fg(color).add_modifier(Modifier::BOLD));
    let mut todo = Vec::new();
    if !m.todo.is_empty() {
        todo.push(Span::raw(format!("→ {}", m.todo)));
    }
    if let Some(code) = m.code {
        todo.push(Span::raw(format!("   [{code}]")).dark_gray());
    }
    let lines = vec![Line::from(what), Line::from(todo)];
    let block = Block::bordered().title(title).border_style(Style::new().fg(color));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
}

fn draw_confirm(frame: &mut Frame, area: Rect, question: &str) {
    let popup = centered(area, 64, 5);
    frame.render_widget(Clear, popup);
    let text = vec![Line::from(question.to_owned()).bold(), Line::from("Enter — да    Esc — нет")];
    let block = Block::bordered().title(" Подтвердите ").border_style(Style::new().fg(Color::Yellow));
    frame.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: true }).centered(), popup);
}

/// The keys that work on the current screen.
fn footer_line(app: &App) -> Line<'static> {
    let keys: &[(&str, &str)] = match app.screen {
        Screen::Login => &[("Tab ↑↓", "поле"), ("Enter", "далее / войти"), ("Ctrl+Q", "выход")],
        Screen::Sale if app.sale.edit.is_some() => {
            &[("Tab ↑↓", "поле"), ("Enter", "сохранить"), ("Esc", "без изменений")]
        }
        Screen::Sale => &[
            ("F2", "оплата"),
            ("F4", "изменить"),
            ("Del", "удалить"),
            ("F6", "убрать ваучер"),
            ("F8", "очистить"),
            ("F9", "возврат"),
            ("F10", "отчёт"),
            ("Ctrl+Q", "выход"),
        ],
        Screen::Payment => &[("← →", "наличные / карта"), ("Enter", "оплата получена"), ("F8", "отменить покупку")],
        Screen::Receipt => &[("Enter", "новая покупка"), ("F9", "возврат"), ("F10", "отчёт")],
        Screen::Refund => &[("Tab", "поле"), ("Enter", "провести возврат"), ("Esc", "назад")],
        Screen::Report => &[("Enter", "показать"), ("Esc", "назад")],
    };
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k}"), Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)));
        spans.push(Span::styled(format!(" {what} "), Style::new().fg(Color::White)));
    }
    Line::from(spans)
}

/// A `width` × `height` rectangle in the middle of `area` (clipped to it).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width)]).flex(Flex::Center).areas(row);
    cell
}

#[cfg(test)]
mod tests;
