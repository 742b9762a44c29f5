//! Drawing only: [`draw`] renders the [`App`] as it is; no state changes here.

mod sale;
mod screens;

use azyq_shared::ALMATY;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Message, Screen, Tone, LANGUAGE_KEY};
use crate::i18n::{Lang, T};

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
        draw_message(frame, message, m, app.lang);
    }
    frame.render_widget(Paragraph::new(footer_line(app)).style(Style::new().bg(Color::DarkGray)), footer);
    if let Some(confirm) = app.confirm {
        draw_confirm(frame, frame.area(), &confirm.question(app.lang), app.lang);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App) {
    let time = app.now.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M").to_string();
    let lang = app.lang;
    let who = match &app.session {
        Some(s) => format!(
            " · {} {} · {} {} · {} {}",
            T::Shop.get(lang),
            s.shop,
            T::Terminal.get(lang),
            s.terminal,
            T::Cashier.get(lang),
            s.login
        ),
        None => String::new(),
    };
    let busy = app.busy.map(|b| format!("  ⏳ {}…", b.get(lang))).unwrap_or_default();
    let [left, right] = Layout::horizontal([Constraint::Min(10), Constraint::Length(17)]).areas(area);
    let title = Line::from(vec![Span::raw(" Azyq").bold(), Span::raw(who), Span::raw(busy).yellow()]);
    frame.render_widget(Paragraph::new(title).style(Style::new().bg(Color::Blue).fg(Color::White)), left);
    frame.render_widget(
        Paragraph::new(time).right_aligned().style(Style::new().bg(Color::Blue).fg(Color::White)),
        right,
    );
}

fn draw_message(frame: &mut Frame, area: Rect, m: &Message, lang: Lang) {
    let (color, title) = match m.tone {
        Tone::Error => (Color::Red, T::ToneError),
        Tone::Info => (Color::Yellow, T::ToneInfo),
        Tone::Done => (Color::Green, T::ToneDone),
    };
    let what = Span::styled(m.what.get(lang).to_owned(), Style::new().fg(color).add_modifier(Modifier::BOLD));
    let mut todo = Vec::new();
    if !m.todo.is_empty() {
        let key = m.key.map(|k| format!(" ({k})")).unwrap_or_default();
        todo.push(Span::raw(format!("→ {}{key}", m.todo.get(lang))));
    }
    if let Some(code) = m.code {
        todo.push(Span::raw(format!("   [{code}]")).dark_gray());
    }
    let lines = vec![Line::from(what), Line::from(todo)];
    let block = Block::bordered().title(format!(" {} ", title.get(lang))).border_style(Style::new().fg(color));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: true }), area);
}

fn draw_confirm(frame: &mut Frame, area: Rect, question: &str, lang: Lang) {
    let popup = centered(area, 64, 5);
    frame.render_widget(Clear, popup);
    let answers = format!("Enter — {}    Esc — {}", T::ConfirmYes.get(lang), T::ConfirmNo.get(lang));
    let text = vec![Line::from(question.to_owned()).bold(), Line::from(answers)];
    let block = Block::bordered()
        .title(format!(" {} ", T::ConfirmTitle.get(lang)))
        .border_style(Style::new().fg(Color::Yellow));
    frame.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: true }).centered(), popup);
}

/// The keys that work on the current screen, each with what it does, in the cashier's language.
pub fn key_hints(app: &App) -> Vec<(String, String)> {
    let keys: &[(&str, T)] = match app.screen {
        Screen::Login => &[("Tab ↑↓", T::KeyField), ("Enter", T::KeyNextOrLogIn), ("Ctrl+Q", T::KeyQuit)],
        Screen::Sale if app.sale.edit.is_some() => {
            &[("Tab ↑↓", T::KeyField), ("Enter", T::KeySave), ("Esc", T::KeyDiscard)]
        }
        Screen::Sale => &[
            ("F2", T::KeyPay),
            ("F4", T::KeyEdit),
            ("Del", T::KeyDelete),
            ("F6", T::KeyDropVoucher),
            ("F8", T::KeyClear),
            ("F9", T::KeyRefund),
            ("F10", T::KeyReport),
            ("Ctrl+Q", T::KeyQuit),
        ],
        Screen::Payment => &[("← →", T::KeyCashOrCard), ("Enter", T::KeyPaid), ("F8", T::KeyCancelBasket)],
        Screen::Receipt => &[("Enter", T::KeyNewSale), ("F9", T::KeyRefund), ("F10", T::KeyReport)],
        Screen::Refund => &[("Tab", T::KeyField), ("Enter", T::KeyDoRefund), ("Esc", T::KeyBack)],
        Screen::Report => &[("Enter", T::KeyShow), ("Esc", T::KeyBack)],
    };
    let mut hints: Vec<(String, String)> =
        keys.iter().map(|(k, t)| ((*k).to_owned(), t.get(app.lang).to_owned())).collect();
    // The language key shows the other language in its own words: its reader finds it.
    hints.push((format!("F{LANGUAGE_KEY}"), app.lang.other().own_name().to_owned()));
    hints
}

fn footer_line(app: &App) -> Line<'static> {
    let mut spans = Vec::new();
    for (k, what) in key_hints(app) {
        spans.push(Span::styled(format!(" {k}"), Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)));
        spans.push(Span::styled(format!(" {what} "), Style::new().fg(Color::White)));
    }
    Line::from(spans)
}

/// Lays out pieces that must never be split (words, key hints, money) in lines `width` wide,
/// `gap` spaces apart. A piece wider than a whole line stands alone on its line.
pub(crate) fn flow<'a>(pieces: Vec<Vec<Span<'a>>>, width: usize, gap: usize) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    let mut current: Vec<Span<'a>> = Vec::new();
    let mut used = 0;
    for piece in pieces {
        let w: usize = piece.iter().map(Span::width).sum();
        if !current.is_empty() && used + gap + w > width {
            lines.push(Line::from(std::mem::take(&mut current)));
            used = 0;
        }
        if !current.is_empty() {
            current.push(Span::raw(" ".repeat(gap)));
            used += gap;
        }
        current.extend(piece);
        used += w;
    }
    if !current.is_empty() {
        lines.push(Line::from(current));
    }
    lines
}

/// A sentence as pieces for [`flow`]: its words, split at plain spaces only (a figure of money
/// holds no-break spaces and stays whole).
pub(crate) fn words<'a>(text: &str, style: Style) -> Vec<Vec<Span<'a>>> {
    text.split(' ').filter(|w| !w.is_empty()).map(|w| vec![Span::styled(w.to_owned(), style)]).collect()
}

/// A `width` × `height` rectangle in the middle of `area` (clipped to it).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width)]).flex(Flex::Center).areas(row);
    cell
}

#[cfg(test)]
mod tests;
