//! Log-in, payment, receipt, refund and the daily report.

use azyq_shared::api::{BasketLine, BasketStatus, PaymentMethod, VoucherCharge};
use azyq_shared::{Tiyn, ALMATY};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, TableState};
use ratatui::Frame;

use super::sale::{cell_money, price};
use super::table::{fitted, Align, Grid, GridRow};
use super::{flow, height, words};
use crate::app::{App, LoginForm, Stage};
use crate::desk::OFFLINE_BASKET;
use crate::i18n::{self, group_thousands, Lang, T};

/// Labels and values in two columns, the labels as wide as the widest.
fn labelled(pairs: Vec<(&str, Vec<Span<'static>>)>, width: usize) -> Vec<Line<'static>> {
    let label_width = pairs.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    pairs
        .into_iter()
        .flat_map(|(label, value)| {
            let pieces = vec![vec![Span::raw(format!("{label:<label_width$}"))], value];
            flow(pieces, width, 1)
        })
        .collect()
}

/// A figure of money after a label.
fn amount(tiyn: Tiyn, style: Style) -> Vec<Span<'static>> {
    vec![Span::raw(" "), Span::styled(tiyn.to_string(), style)]
}

/// An input field: its label, and its value in a box of `width` that shows the value's end.
fn field(label: &str, label_width: usize, value: &str, width: usize, focused: bool) -> Line<'static> {
    let style = if focused { Style::new().bg(Color::Blue).fg(Color::White) } else { Style::new().fg(Color::White) };
    let chars: Vec<char> = value.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(width.saturating_sub(1))..].iter().collect();
    Line::from(vec![Span::raw(format!("{label:>label_width$}: ")), Span::styled(format!(" {tail:<width$}"), style)])
}

pub fn login(frame: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let popup = super::centered(area, area.width.min(62), 9);
    let labels = LoginForm::LABELS.map(|l| l.get(lang));
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let value_width = usize::from(popup.width).saturating_sub(label_width + 5);
    let mut lines = vec![Line::from("")];
    lines.extend(labels.iter().zip(&app.login.fields).enumerate().map(|(i, (label, value))| {
        let shown = if i == LoginForm::LABELS.len() - 1 { "•".repeat(value.chars().count()) } else { value.clone() };
        field(label, label_width, &shown, value_width, i == app.login.focus)
    }));
    let title = format!(" {} ", T::LogInTitle.get(lang));
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), popup);
}

pub fn payment(frame: &mut Frame, area: Rect, app: &App) {
    let Stage::Authorized { auth, method, capture, .. } = &app.sale.stage else { return };
    let lang = app.lang;
    let width = usize::from(area.width.saturating_sub(2));
    let left = (auth.hold_expires_at - app.now).num_seconds();
    let offline = auth.basket_id == OFFLINE_BASKET;
    let hold = if offline {
        i18n::paid_offline_is_final(lang)
    } else if left >= 3600 {
        i18n::hold_until(lang, &auth.hold_expires_at.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M").to_string())
    } else if left > 0 {
        i18n::hold_left(lang, left / 60, left % 60)
    } else {
        T::HoldOver.get(lang).to_owned()
    };
    let choice = |m: PaymentMethod| {
        let text = format!("  {}  ", i18n::method_name(lang, m));
        if m == *method {
            Span::styled(text, Style::new().bg(Color::Blue).fg(Color::White).add_modifier(Modifier::BOLD))
        } else {
            Span::raw(text)
        }
    };
    let title = if offline { i18n::offline_sale(lang) } else { i18n::basket_no(lang, auth.basket_id) };
    let mut lines = vec![Line::from(title).bold(), Line::from("")];
    let loud = Style::new().bold().add_modifier(Modifier::REVERSED);
    lines.extend(labelled(
        vec![
            (T::DiscountByVoucher.get(lang), amount(auth.discount_tiyn, Style::new().green())),
            (T::ToPayLoud.get(lang), amount(auth.to_pay_tiyn, loud)),
        ],
        width,
    ));
    lines.push(Line::from(""));
    lines.extend(flow(
        vec![
            vec![Span::raw(T::PaymentMethod.get(lang))],
            vec![choice(PaymentMethod::Cash), Span::raw(" "), choice(PaymentMethod::Card)],
        ],
        width,
        1,
    ));
    lines.push(Line::from(""));
    let hold_style = Style::new().fg(if offline || left > 60 { Color::DarkGray } else { Color::Red });
    lines.extend(flow(words(&hold, hold_style), width, 1));
    if capture.as_ref().is_some_and(|c| c.unknown) {
        lines.extend(flow(words(T::CaptureNoAnswer.get(lang), Style::new().red().bold()), width, 1));
    }
    lines.push(Line::from(""));
    lines.extend(voucher_lines(&auth.vouchers, lang, width));
    let title = format!(" {} ", T::Payment.get(lang));
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}

fn voucher_lines(vouchers: &[VoucherCharge], lang: Lang, width: usize) -> Vec<Line<'static>> {
    vouchers
        .iter()
        .flat_map(|v| {
            let (charged, balance) = (v.charged_tiyn, v.balance_tiyn);
            flow(words(&i18n::voucher_charged(lang, v.voucher_id, charged, balance), Style::new()), width, 1)
        })
        .collect()
}

/// The receipt's lines, refunded ones struck through.
fn lines_grid(lines: &[BasketLine], lang: Lang, trim: bool) -> Grid {
    let mut headers = vec!["№".to_owned()];
    headers.extend(
        [T::ColProduct, T::ColQuantity, T::ColShelf, T::ColReduced, T::ColDiscount, T::ColPaid]
            .map(|t| t.get(lang).to_owned()),
    );
    let mut align = vec![Align::Right, Align::Left, Align::Right];
    align.resize(headers.len(), Align::Right);
    let rows = lines
        .iter()
        .map(|l| {
            let mut row = GridRow::new(vec![
                (l.index + 1).to_string(),
                match &l.serial {
                    Some(serial) => format!("{} · {serial}", l.name),
                    None => l.name.clone(),
                },
                i18n::quantity(lang, l.unit, l.quantity),
                price(Some(l.shelf_price_tiyn), l.unit, trim),
                price(Some(l.reduced_price_tiyn), l.unit, trim),
                cell_money(l.discount_tiyn, trim),
                cell_money(l.to_pay_tiyn, trim),
            ]);
            if l.refunded {
                row.style = Style::new().fg(Color::DarkGray).add_modifier(Modifier::CROSSED_OUT);
            }
            row
        })
        .collect();
    Grid { headers, align, flexible: 1, rows }
}

pub fn receipt(frame: &mut Frame, area: Rect, app: &App) {
    let Stage::Captured(captured) = &app.sale.stage else { return };
    let r = &captured.receipt;
    let lang = app.lang;
    let inner = Block::bordered().inner(area);
    let width = usize::from(inner.width);
    let at = r.captured_at.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M:%S").to_string();
    let shop = format!(
        "{} ({}), {} {}",
        r.shop_name,
        i18n::shop_named(lang, &r.shop_id),
        T::Terminal.get(lang),
        r.terminal_id
    );
    let mut head = flow(words(&shop, Style::new().bold()), width, 1);
    let title =
        if r.basket_id == OFFLINE_BASKET { i18n::offline_sale(lang) } else { i18n::basket_no(lang, r.basket_id) };
    head.push(Line::from(format!("{title}   {at}")));
    let mut paid = amount(r.payment.paid_tiyn, Style::new().bold());
    paid.push(Span::raw(format!(" ({})", i18n::method_name(lang, r.payment.method))));
    let mut foot = labelled(
        vec![
            (T::DiscountByVoucher.get(lang), amount(r.discount_tiyn, Style::new().green())),
            (T::PaidByCustomer.get(lang), paid),
        ],
        width,
    );
    foot.extend(voucher_lines(&r.vouchers, lang, width));
    let [head_area, table_area, foot_area] = Layout::vertical([
        Constraint::Length(height(&head).saturating_add(1)),
        Constraint::Min(2),
        Constraint::Length(height(&foot)),
    ])
    .areas(inner);
    let (table, trimmed) = fitted(inner.width, |trim| lines_grid(&r.lines, lang, trim));
    let currency = if trimmed { ", ₸" } else { "" };
    let title = format!(" {}{currency} ", T::ReceiptPaid.get(lang));
    frame.render_widget(Block::bordered().title(title).border_style(Style::new().fg(Color::Green)), area);
    frame.render_widget(Paragraph::new(head), head_area);
    frame.render_widget(table, table_area);
    frame.render_widget(Paragraph::new(foot), foot_area);
}

pub fn refund(frame: &mut Frame, area: Rect, app: &App) {
    let f = &app.refund;
    let lang = app.lang;
    let width = usize::from(area.width.saturating_sub(2));
    let labels = [T::FieldBasketNo.get(lang), T::FieldLines.get(lang)];
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let value_width = width.saturating_sub(label_width + 3).min(36);
    let unknown = f.pending.as_ref().is_some_and(|(_, k)| k.unknown);
    let mut lines = vec![
        Line::from(""),
        field(labels[0], label_width, &f.basket, value_width, f.focus == 0),
        field(labels[1], label_width, &f.lines, value_width, f.focus == 1),
    ];
    // The hint sits under the values, wrapping there.
    let indent = " ".repeat(label_width + 3);
    let hint =
        flow(words(T::RefundLinesHint.get(lang), Style::new().dark_gray()), width.saturating_sub(indent.len()), 1);
    lines.extend(hint.into_iter().map(|l| Line::from([vec![Span::raw(indent.clone())], l.spans].concat())));
    lines.push(Line::from(""));
    let mut said = Vec::new();
    if unknown {
        said.push((T::RefundNoAnswer.get(lang).to_owned(), Style::new().red().bold()));
    }
    if let Some(done) = &f.done {
        let numbers: Vec<String> = done.lines.iter().map(|i| (i + 1).to_string()).collect();
        let status = if done.status == BasketStatus::Refunded { T::RefundedFully } else { T::RefundedPartly }.get(lang);
        said.push((i18n::refund_record(lang, done.refund_id, done.basket_id, status), Style::new().green()));
        said.push((format!("{}: {}", T::FieldLines.get(lang), numbers.join(", ")), Style::new()));
        let back = format!("{} {}", T::BackToVouchers.get(lang), i18n::money(done.refunded_tiyn));
        said.push((back, Style::new().bold()));
        for v in &done.vouchers {
            said.push((i18n::voucher_balance(lang, v.voucher_id, v.balance_tiyn), Style::new()));
        }
    }
    for (text, style) in said {
        lines.extend(flow(words(&text, style), width, 1));
    }
    let title = format!(" {} ", T::Refund.get(lang));
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}

pub fn report(frame: &mut Frame, area: Rect, app: &App) {
    let lang = app.lang;
    let [form, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(area);
    let date = if app.report.date.is_empty() { T::Today.get(lang).to_owned() } else { app.report.date.clone() };
    let loading = if app.report.loading { format!("   {}", T::Loading.get(lang)) } else { String::new() };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw(format!(" {} ", T::ReportDate.get(lang))),
            Span::raw(date).bold(),
            Span::raw(loading),
        ]))
        .block(Block::bordered().title(format!(" {} ", T::ReportTitle.get(lang)))),
        form,
    );
    let Some(r) = &app.report.report else {
        let hint = format!(" {}", T::PressEnterForReport.get(lang));
        frame.render_widget(Paragraph::new(hint).block(Block::bordered()), body);
        return;
    };
    let figure = |label: T, value: String| (label.get(lang), vec![Span::raw("  "), Span::raw(value).bold()]);
    let text = labelled(
        vec![
            figure(T::BasketsCaptured, r.baskets_captured.to_string()),
            figure(T::BasketsCancelled, r.baskets_cancelled.to_string()),
            figure(T::HoldsExpired, r.baskets_hold_expired.to_string()),
            figure(T::Refunds, r.refunds.to_string()),
            figure(T::DiscountByVouchers, r.discount_tiyn.to_string()),
            figure(T::PaidByCustomers, r.paid_tiyn.to_string()),
            figure(T::RefundedToVouchers, r.refunded_tiyn.to_string()),
        ],
        usize::from(body.width.saturating_sub(3)),
    );
    let text: Vec<Line> = text.into_iter().map(|l| Line::from([vec![Span::raw(" ")], l.spans].concat())).collect();
    let [figures, groups] =
        Layout::vertical([Constraint::Length(height(&text).saturating_add(2)), Constraint::Min(3)]).areas(body);
    let title = format!(" {} · {} ", i18n::upper_first(&i18n::shop_named(lang, &r.shop_id)), r.date);
    frame.render_widget(Paragraph::new(text).block(Block::bordered().title(title)), figures);
    let grid = |trim: bool| Grid {
        headers: [T::ColGroup, T::ColPieces, T::ColGrams, T::ColDiscount].map(|t| t.get(lang).to_owned()).to_vec(),
        align: vec![Align::Left, Align::Right, Align::Right, Align::Right],
        flexible: 0,
        rows: r
            .by_group
            .iter()
            .map(|g| {
                GridRow::new(vec![
                    app.group_name(&g.group),
                    g.pieces.to_string(),
                    group_thousands(g.grams),
                    cell_money(g.discount_tiyn, trim),
                ])
            })
            .collect(),
    };
    let (table, trimmed) = fitted(groups.width.saturating_sub(2), grid);
    let title = format!(" {}{} ", T::ByGroup.get(lang), if trimmed { ", ₸" } else { "" });
    let table = table.block(Block::bordered().title(title)).row_highlight_style(Style::new().reversed());
    // ↑↓ go through the groups when there are more than the screen holds.
    let mut state = TableState::default().with_selected(app.report.selected);
    frame.render_stateful_widget(table, groups, &mut state);
}
