//! Log-in, payment, receipt, refund and the daily report.

use azyq_shared::api::{BasketLine, BasketStatus, PaymentMethod, VoucherCharge};
use azyq_shared::{Tiyn, ALMATY};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;

use crate::app::{App, LoginForm, Stage};
use crate::i18n::{self, group_thousands, Lang, T};

fn field<'a>(label: &str, value: String, focused: bool) -> Line<'a> {
    let style = if focused { Style::new().bg(Color::Blue).fg(Color::White) } else { Style::new().fg(Color::White) };
    Line::from(vec![Span::raw(format!("{label:>10}: ")), Span::styled(format!(" {value:<36}"), style)])
}

pub fn login(frame: &mut Frame, area: Rect, app: &App) {
    let popup = super::centered(area, 62, 9);
    let lines: Vec<Line> = LoginForm::LABELS
        .iter()
        .zip(&app.login.fields)
        .enumerate()
        .map(|(i, (label, value))| {
            let label = label.get(app.lang);
            let shown = if i == crate::app::LoginForm::LABELS.len() - 1 {
                "•".repeat(value.chars().count())
            } else {
                value.clone()
            };
            field(label, shown, i == app.login.focus)
        })
        .collect();
    let mut all = vec![Line::from("")];
    all.extend(lines);
    let title = format!(" {} ", T::LogInTitle.get(app.lang));
    frame.render_widget(Paragraph::new(all).block(Block::bordered().title(title)), popup);
}

pub fn payment(frame: &mut Frame, area: Rect, app: &App) {
    let Stage::Authorized { auth, method, capture, .. } = &app.sale.stage else { return };
    let lang = app.lang;
    let left = (auth.hold_expires_at - app.now).num_seconds();
    let hold = if left >= 3600 {
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
    let mut lines = vec![
        Line::from(i18n::basket_no(lang, auth.basket_id)).bold(),
        Line::from(""),
        Line::from(vec![
            Span::raw(format!("{}  ", T::DiscountByVoucher.get(lang))),
            Span::raw(Tiyn::new(auth.discount_tiyn).to_string()).green(),
        ]),
        Line::from(vec![
            Span::raw(format!("{}  ", T::ToPayLoud.get(lang))),
            Span::raw(Tiyn::new(auth.to_pay_tiyn).to_string()).bold().add_modifier(Modifier::REVERSED),
        ]),
        Line::from(""),
        Line::from(vec![
            Span::raw(format!("{} ", T::PaymentMethod.get(lang))),
            choice(PaymentMethod::Cash),
            Span::raw(" "),
            choice(PaymentMethod::Card),
        ]),
        Line::from(""),
        Line::from(hold).fg(if left > 60 { Color::DarkGray } else { Color::Red }),
    ];
    if capture.as_ref().is_some_and(|c| c.unknown) {
        lines.push(Line::from(T::CaptureNoAnswer.get(lang)).red().bold());
    }
    lines.push(Line::from(""));
    lines.extend(voucher_lines(&auth.vouchers, lang));
    let title = format!(" {} ", T::Payment.get(lang));
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}

fn voucher_lines(vouchers: &[VoucherCharge], lang: Lang) -> Vec<Line<'static>> {
    vouchers
        .iter()
        .map(|v| {
            let (charged, balance) = (Tiyn::new(v.charged_tiyn), Tiyn::new(v.balance_tiyn));
            Line::from(i18n::voucher_charged(lang, v.voucher_id, charged, balance))
        })
        .collect()
}

fn lines_table(lines: &[BasketLine], lang: Lang) -> Table<'static> {
    let mut titles = vec!["№"];
    titles.extend(
        [T::ColProduct, T::ColQuantity, T::ColShelf, T::ColReduced, T::ColDiscount, T::ColPaid].map(|t| t.get(lang)),
    );
    let header = Row::new(titles).bold();
    let rows: Vec<Row> = lines
        .iter()
        .map(|l| {
            let row = Row::new(vec![
                (l.index + 1).to_string(),
                match &l.serial {
                    Some(serial) => format!("{} · {serial}", l.name),
                    None => l.name.clone(),
                },
                i18n::quantity(lang, l.unit, l.quantity),
                Tiyn::new(l.shelf_price_tiyn).to_string(),
                Tiyn::new(l.reduced_price_tiyn).to_string(),
                Tiyn::new(l.discount_tiyn).to_string(),
                Tiyn::new(l.to_pay_tiyn).to_string(),
            ]);
            if l.refunded {
                row.style(Style::new().fg(Color::DarkGray).add_modifier(Modifier::CROSSED_OUT))
            } else {
                row
            }
        })
        .collect();
    let widths = [
        Constraint::Length(3),
        Constraint::Min(18),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(11),
        Constraint::Length(13),
    ];
    Table::new(rows, widths).header(header)
}

pub fn receipt(frame: &mut Frame, area: Rect, app: &App) {
    let Stage::Captured(captured) = &app.sale.stage else { return };
    let r = &captured.receipt;
    let rows = u16::try_from(r.lines.len()).unwrap_or(u16::MAX).saturating_add(1);
    let [head, table, foot] =
        Layout::vertical([Constraint::Length(3), Constraint::Max(rows.saturating_add(1)), Constraint::Min(4)])
            .margin(1)
            .areas(area);
    let lang = app.lang;
    let title = format!(" {} ", T::ReceiptPaid.get(lang));
    frame.render_widget(Block::bordered().title(title).border_style(Style::new().fg(Color::Green)), area);
    let at = r.captured_at.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M:%S");
    let head_text = vec![
        Line::from(format!(
            "{} ({}), {} {}",
            r.shop_name,
            i18n::shop_named(lang, &r.shop_id),
            T::Terminal.get(lang),
            r.terminal_id
        ))
        .bold(),
        Line::from(format!("{}   {at}", i18n::basket_no(lang, r.basket_id))),
    ];
    frame.render_widget(Paragraph::new(head_text), head);
    frame.render_widget(lines_table(&r.lines, lang), table);
    let mut foot_text = vec![
        Line::from(vec![
            Span::raw(format!("{} ", T::DiscountByVoucher.get(lang))),
            Span::raw(Tiyn::new(r.discount_tiyn).to_string()).green(),
        ]),
        Line::from(vec![
            Span::raw(format!("{} ", T::PaidByCustomer.get(lang))),
            Span::raw(Tiyn::new(r.payment.paid_tiyn).to_string()).bold(),
            Span::raw(format!(" ({})", i18n::method_name(lang, r.payment.method))),
        ]),
    ];
    foot_text.extend(voucher_lines(&r.vouchers, lang));
    frame.render_widget(Paragraph::new(foot_text), foot);
}

pub fn refund(frame: &mut Frame, area: Rect, app: &App) {
    let f = &app.refund;
    let lang = app.lang;
    let unknown = f.pending.as_ref().is_some_and(|(_, k)| k.unknown);
    let mut lines = vec![
        Line::from(""),
        field(T::FieldBasketNo.get(lang), f.basket.clone(), f.focus == 0),
        field(T::FieldLines.get(lang), f.lines.clone(), f.focus == 1),
        Line::from(format!("            {}", T::RefundLinesHint.get(lang))).dark_gray(),
        Line::from(""),
    ];
    if unknown {
        lines.push(Line::from(T::RefundNoAnswer.get(lang)).red().bold());
    }
    if let Some(done) = &f.done {
        let numbers: Vec<String> = done.lines.iter().map(|i| (i + 1).to_string()).collect();
        let status = if done.status == BasketStatus::Refunded { T::RefundedFully } else { T::RefundedPartly }.get(lang);
        lines.push(Line::from(i18n::refund_record(lang, done.refund_id, done.basket_id, status)).green());
        lines.push(Line::from(format!("{}: {}", T::FieldLines.get(lang), numbers.join(", "))));
        lines.push(Line::from(format!("{} {}", T::BackToVouchers.get(lang), Tiyn::new(done.refunded_tiyn))).bold());
        lines.extend(
            done.vouchers
                .iter()
                .map(|v| Line::from(i18n::voucher_balance(lang, v.voucher_id, Tiyn::new(v.balance_tiyn)))),
        );
    }
    let title = format!(" {} ", T::Refund.get(lang));
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}

pub fn report(frame: &mut Frame, area: Rect, app: &App) {
    let [form, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(area);
    let lang = app.lang;
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
    let [figures, groups] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(body);
    let figure =
        |label: &str, value: String| Line::from(vec![Span::raw(format!(" {label:<28}")), Span::raw(value).bold()]);
    let text = vec![
        figure(T::BasketsCaptured.get(lang), r.baskets_captured.to_string()),
        figure(T::BasketsCancelled.get(lang), r.baskets_cancelled.to_string()),
        figure(T::HoldsExpired.get(lang), r.baskets_hold_expired.to_string()),
        figure(T::Refunds.get(lang), r.refunds.to_string()),
        figure(T::DiscountByVouchers.get(lang), Tiyn::new(r.discount_tiyn).to_string()),
        figure(T::PaidByCustomers.get(lang), Tiyn::new(r.paid_tiyn).to_string()),
        figure(T::RefundedToVouchers.get(lang), Tiyn::new(r.refunded_tiyn).to_string()),
    ];
    let title = format!(" {} · {} ", i18n::upper_first(&i18n::shop_named(lang, &r.shop_id)), r.date);
    frame.render_widget(Paragraph::new(text).block(Block::bordered().title(title)), figures);
    let header = Row::new([T::ColGroup, T::ColPieces, T::ColGrams, T::ColDiscount].map(|t| t.get(lang))).bold();
    let rows: Vec<Row> = r
        .by_group
        .iter()
        .map(|g| {
            Row::new(vec![
                app.group_name(&g.group),
                g.pieces.to_string(),
                group_thousands(g.grams),
                Tiyn::new(g.discount_tiyn).to_string(),
            ])
        })
        .collect();
    let widths = [Constraint::Min(20), Constraint::Length(8), Constraint::Length(10), Constraint::Length(14)];
    let table =
        Table::new(rows, widths).header(header).block(Block::bordered().title(format!(" {} ", T::ByGroup.get(lang))));
    frame.render_widget(table, groups);
}
