//! Drawing only: [`draw`] renders the [`App`] as it is; no state changes here.
//!
//! Everything fits an 80 × 24 terminal, the smallest common one, without cutting a key hint or a
//! digit: below [`WIDE`] columns the tables drop what they can spare (the ₸ of each cell, the cap
//! column) and every text that could run past the edge is laid out in whole pieces ([`flow`]).

mod sale;
mod screens;
mod table;

use azyq_shared::ALMATY;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use crate::app::{App, Message, Screen, Tone, LANGUAGE_KEY};
use crate::i18n::{Lang, T};

/// From this width on, the full layout; below it, the compact one.
pub const WIDE: u16 = 100;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let footer = footer_lines(app, area.width);
    let message = app.message.as_ref().map(|m| message_lines(m, app.lang, area.width)).unwrap_or_default();
    let message_rows = if message.is_empty() { 0 } else { height(&message).saturating_add(2) };
    let banner = offline_banner(app);
    let [header, banner_area, body, message_area, footer_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(banner.is_some())),
        Constraint::Min(0),
        Constraint::Length(message_rows),
        Constraint::Length(height(&footer)),
    ])
    .areas(area);
    draw_header(frame, header, app);
    if let Some(banner) = banner {
        frame.render_widget(banner, banner_area);
    }
    match app.screen {
        Screen::Login => screens::login(frame, body, app),
        Screen::Sale => sale::draw(frame, body, app),
        Screen::Payment => screens::payment(frame, body, app),
        Screen::Receipt => screens::receipt(frame, body, app),
        Screen::Refund => screens::refund(frame, body, app),
        Screen::Report => screens::report(frame, body, app),
    }
    if let Some(m) = &app.message {
        let (color, title) = tone(m.tone);
        let block = Block::bordered().title(format!(" {} ", title.get(app.lang))).border_style(Style::new().fg(color));
        frame.render_widget(Paragraph::new(message).block(block), message_area);
    }
    frame.render_widget(Paragraph::new(footer).style(Style::new().bg(Color::DarkGray)), footer_area);
    if let Some(confirm) = app.confirm {
        draw_confirm(frame, area, &confirm.question(app.lang), app.lang);
    }
}

/// Whether the screen is narrower than the full layout needs.
pub fn compact(area: Rect) -> bool {
    area.width < WIDE
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App) {
    let time = app.now.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M ").to_string();
    let lang = app.lang;
    // A request being waited for matters more than who is logged in: on a narrow screen it
    // takes their place.
    let who = match (&app.session, app.busy) {
        (_, Some(busy)) if compact(area) => Span::raw(format!(" ⏳ {}…", busy.get(lang))).yellow(),
        (Some(s), _) if compact(area) => Span::raw(format!(" · {} · {} · {}", s.shop, s.terminal, s.login)),
        (Some(s), _) => Span::raw(format!(
            " · {} {} · {} {} · {} {}",
            T::Shop.get(lang),
            s.shop,
            T::Terminal.get(lang),
            s.terminal,
            T::Cashier.get(lang),
            s.login
        )),
        (None, _) => Span::raw(""),
    };
    let busy = match app.busy {
        Some(b) if !compact(area) => Span::raw(format!("  ⏳ {}…", b.get(lang))).yellow(),
        _ => Span::raw(""),
    };
    let time_width = u16::try_from(time.chars().count()).unwrap_or(0);
    let [left, right] = Layout::horizontal([Constraint::Min(0), Constraint::Length(time_width)]).areas(area);
    let style = Style::new().bg(Color::Blue).fg(Color::White);
    frame.render_widget(Paragraph::new(Line::from(vec![Span::raw(" Azyq").bold(), who, busy])).style(style), left);
    frame.render_widget(Paragraph::new(time).right_aligned().style(style), right);
}

/// A plain banner under the header: `ОФЛАЙН` and the sales waiting while the server cannot be
/// reached; the upload still running once it can.
fn offline_banner(app: &App) -> Option<Paragraph<'static>> {
    if app.offline {
        let text = crate::i18n::offline_banner(app.lang, app.waiting);
        Some(Paragraph::new(text).style(Style::new().bg(Color::Red).fg(Color::White).add_modifier(Modifier::BOLD)))
    } else if app.waiting > 0 {
        let text = crate::i18n::uploading_banner(app.lang, app.waiting);
        Some(Paragraph::new(text).style(Style::new().bg(Color::Yellow).fg(Color::Black)))
    } else {
        None
    }
}

fn tone(tone: Tone) -> (Color, T) {
    match tone {
        Tone::Error => (Color::Red, T::ToneError),
        Tone::Info => (Color::Yellow, T::ToneInfo),
        Tone::Done => (Color::Green, T::ToneDone),
    }
}

/// The message's lines inside its box: what happened, then what to do, its key and its code.
fn message_lines(m: &Message, lang: Lang, width: u16) -> Vec<Line<'static>> {
    let inner = usize::from(width.saturating_sub(2));
    let (color, _) = tone(m.tone);
    let mut lines = flow(words(m.what.get(lang), Style::new().fg(color).add_modifier(Modifier::BOLD)), inner, 1);
    let mut todo = Vec::new();
    if !m.todo.is_empty() {
        let key = m.key.map(|k| format!(" ({k})")).unwrap_or_default();
        todo = words(&format!("→ {}{key}", m.todo.get(lang)), Style::new());
    }
    if let Some(code) = m.code {
        todo.push(vec![Span::raw(format!("  [{code}]")).dark_gray()]);
    }
    lines.extend(flow(todo, inner, 1));
    lines
}

fn draw_confirm(frame: &mut Frame, area: Rect, question: &str, lang: Lang) {
    let width = area.width.min(64);
    let inner = usize::from(width.saturating_sub(2));
    let answers = format!("Enter — {}    Esc — {}", T::ConfirmYes.get(lang), T::ConfirmNo.get(lang));
    let mut text: Vec<Line> =
        question.lines().flat_map(|paragraph| flow(words(paragraph, Style::new().bold()), inner, 1)).collect();
    text.push(Line::from(answers));
    let lines: Vec<Line> = text.into_iter().map(Line::centered).collect();
    let popup = centered(area, width, height(&lines).saturating_add(2));
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(format!(" {} ", T::ConfirmTitle.get(lang)))
        .border_style(Style::new().fg(Color::Yellow));
    frame.render_widget(Paragraph::new(lines).block(block), popup);
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
        Screen::Report if app.report.report.as_ref().is_some_and(|r| !r.by_group.is_empty()) => {
            &[("Enter", T::KeyShow), ("↑↓", T::KeyGroups), ("Esc", T::KeyBack)]
        }
        Screen::Report => &[("Enter", T::KeyShow), ("Esc", T::KeyBack)],
    };
    let mut hints: Vec<(String, String)> =
        keys.iter().map(|(k, t)| ((*k).to_owned(), t.get(app.lang).to_owned())).collect();
    // The language key shows the other language in its own words: its reader finds it.
    hints.push((format!("F{LANGUAGE_KEY}"), app.lang.other().own_name().to_owned()));
    hints
}

/// The footer: every key hint whole, on as many lines as the width needs.
fn footer_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let hints = key_hints(app)
        .into_iter()
        .map(|(k, what)| {
            vec![
                Span::styled(k, Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)),
                Span::styled(format!(" {what}"), Style::new().fg(Color::White)),
            ]
        })
        .collect();
    let lines = flow(hints, usize::from(width.saturating_sub(1)), 2);
    lines.into_iter().map(|l| Line::from([vec![Span::raw(" ")], l.spans].concat())).collect()
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

/// The number of rows `lines` take, for a layout constraint.
fn height(lines: &[Line]) -> u16 {
    u16::try_from(lines.len()).unwrap_or(u16::MAX)
}

/// A `width` × `height` rectangle in the middle of `area` (clipped to it).
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height)]).flex(Flex::Center).areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width)]).flex(Flex::Center).areas(row);
    cell
}

#[cfg(test)]
mod tests;
