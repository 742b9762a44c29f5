//! Log-in, payment, receipt, refund and the daily report.

use azyq_shared::api::{BasketLine, BasketStatus, PaymentMethod, Unit, VoucherCharge};
use azyq_shared::{Tiyn, ALMATY};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;

use crate::app::basket::group_thousands;
use crate::app::{App, LoginForm, Stage};

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
    frame.render_widget(Paragraph::new(all).block(Block::bordered().title(" Вход кассира ")), popup);
}

fn method_name(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Cash => "наличные",
        PaymentMethod::Card => "карта",
    }
}

pub fn payment(frame: &mut Frame, area: Rect, app: &App) {
    let Stage::Authorized { auth, method, capture, .. } = &app.sale.stage else { return };
    let left = (auth.hold_expires_at - app.now).num_seconds();
    let hold = if left >= 3600 {
        format!("Резерв скидки действует до {}", auth.hold_expires_at.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M"))
    } else if left > 0 {
        format!("Резерв скидки действует ещё {}:{:02}", left / 60, left % 60)
    } else {
        "Время резерва истекло — оплата, скорее всего, не пройдёт".to_owned()
    };
    let choice = |m: PaymentMethod| {
        let text = format!("  {}  ", method_name(m));
        if m == *method {
            Span::styled(text, Style::new().bg(Color::Blue).fg(Color::White).add_modifier(Modifier::BOLD))
        } else {
            Span::raw(text)
        }
    };
    let mut lines = vec![
        Line::from(format!("Покупка № {}", auth.basket_id)).bold(),
        Line::from(""),
        Line::from(vec![
            Span::raw("Скидка по ваучеру:  "),
            Span::raw(Tiyn::new(auth.discount_tiyn).to_string()).green(),
        ]),
        Line::from(vec![
            Span::raw("К ОПЛАТЕ:           "),
            Span::raw(Tiyn::new(auth.to_pay_tiyn).to_string()).bold().add_modifier(Modifier::REVERSED),
        ]),
        Line::from(""),
        Line::from(vec![
            Span::raw("Способ оплаты: "),
            choice(PaymentMethod::Cash),
            Span::raw(" "),
            choice(PaymentMethod::Card),
        ]),
        Line::from(""),
        Line::from(hold).fg(if left > 60 { Color::DarkGray } else { Color::Red }),
    ];
    if capture.as_ref().is_some_and(|c| c.unknown) {
        lines.push(Line::from("Ответ на оплату не получен — нажмите Enter, чтобы повторить").red().bold());
    }
    lines.push(Line::from(""));
    lines.extend(voucher_lines(&auth.vouchers));
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Оплата ")), area);
}

fn voucher_lines(vouchers: &[VoucherCharge]) -> Vec<Line<'static>> {
    vouchers
        .iter()
        .map(|v| {
            Line::from(format!(
                "Ваучер {}: списано {}, остаток {}",
                v.voucher_id,
                Tiyn::new(v.charged_tiyn),
                Tiyn::new(v.balance_tiyn)
            ))
        })
        .collect()
}

fn quantity(l: &BasketLine) -> String {
    match l.unit {
        Unit::Piece => format!("{} шт", l.quantity),
        Unit::Kg => format!("{} г", group_thousands(l.quantity)),
    }
}

fn lines_table(lines: &[BasketLine]) -> Table<'static> {
    let header = Row::new(["№", "Товар", "Кол-во", "Цена", "Со скидкой", "Скидка", "Оплачено"]).bold();
    let rows: Vec<Row> = lines
        .iter()
        .map(|l| {
            let row = Row::new(vec![
                (l.index + 1).to_string(),
                match &l.serial {
                    Some(serial) => format!("{} · {serial}", l.name),
                    None => l.name.clone(),
                },
                quantity(l),
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
    frame.render_widget(Block::bordered().title(" Чек · оплачено ").border_style(Style::new().fg(Color::Green)), area);
    let at = r.captured_at.with_timezone(&ALMATY).format("%d.%m.%Y %H:%M:%S");
    let head_text = vec![
        Line::from(format!("{} (магазин {}), касса {}", r.shop_name, r.shop_id, r.terminal_id)).bold(),
        Line::from(format!("Покупка № {}   {at}", r.basket_id)),
    ];
    frame.render_widget(Paragraph::new(head_text), head);
    frame.render_widget(lines_table(&r.lines), table);
    let mut foot_text = vec![
        Line::from(vec![Span::raw("Скидка по ваучеру: "), Span::raw(Tiyn::new(r.discount_tiyn).to_string()).green()]),
        Line::from(vec![
            Span::raw("Оплачено покупателем: "),
            Span::raw(Tiyn::new(r.payment.paid_tiyn).to_string()).bold(),
            Span::raw(format!(" ({})", method_name(r.payment.method))),
        ]),
    ];
    foot_text.extend(voucher_lines(&r.vouchers));
    frame.render_widget(Paragraph::new(foot_text), foot);
}

pub fn refund(frame: &mut Frame, area: Rect, app: &App) {
    let f = &app.refund;
    let unknown = f.pending.as_ref().is_some_and(|(_, k)| k.unknown);
    let mut lines = vec![
        Line::from(""),
        field("Покупка №", f.basket.clone(), f.focus == 0),
        field("Строки", f.lines.clone(), f.focus == 1),
        Line::from("            номера строк из чека через запятую; пусто — вся покупка").dark_gray(),
        Line::from(""),
    ];
    if unknown {
        lines.push(
            Line::from("Ответ на возврат не получен — нажмите Enter, чтобы повторить тот же возврат").red().bold(),
        );
    }
    if let Some(done) = &f.done {
        let numbers: Vec<String> = done.lines.iter().map(|i| (i + 1).to_string()).collect();
        let status = if done.status == BasketStatus::Refunded {
            "возвращена полностью"
        } else {
            "возвращена частично"
        };
        lines.push(
            Line::from(format!("Возврат № {} по покупке № {}: {status}", done.refund_id, done.basket_id)).green(),
        );
        lines.push(Line::from(format!("Строки: {}", numbers.join(", "))));
        lines.push(Line::from(format!("Вернулось на ваучеры: {}", Tiyn::new(done.refunded_tiyn))).bold());
        lines.extend(
            done.vouchers
                .iter()
                .map(|v| Line::from(format!("Ваучер {}: остаток {}", v.voucher_id, Tiyn::new(v.balance_tiyn)))),
        );
    }
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Возврат ")), area);
}

pub fn report(frame: &mut Frame, area: Rect, app: &App) {
    let [form, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(3)]).areas(area);
    let date = if app.report.date.is_empty() { "сегодня".to_owned() } else { app.report.date.clone() };
    let loading = if app.report.loading { "   загрузка…" } else { "" };
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::raw(" Дата (ГГГГ-ММ-ДД): "), Span::raw(date).bold(), Span::raw(loading)]))
            .block(Block::bordered().title(" Отчёт за день ")),
        form,
    );
    let Some(r) = &app.report.report else {
        frame.render_widget(Paragraph::new(" Нажмите Enter, чтобы получить отчёт").block(Block::bordered()), body);
        return;
    };
    let [figures, groups] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(body);
    let figure =
        |label: &str, value: String| Line::from(vec![Span::raw(format!(" {label:<28}")), Span::raw(value).bold()]);
    let text = vec![
        figure("Покупок оплачено", r.baskets_captured.to_string()),
        figure("Покупок отменено", r.baskets_cancelled.to_string()),
        figure("Резервов истекло", r.baskets_hold_expired.to_string()),
        figure("Возвратов", r.refunds.to_string()),
        figure("Скидка по ваучерам", Tiyn::new(r.discount_tiyn).to_string()),
        figure("Оплачено покупателями", Tiyn::new(r.paid_tiyn).to_string()),
        figure("Возвращено на ваучеры", Tiyn::new(r.refunded_tiyn).to_string()),
    ];
    let title = format!(" Магазин {} · {} ", r.shop_id, r.date);
    frame.render_widget(Paragraph::new(text).block(Block::bordered().title(title)), figures);
    let header = Row::new(["Группа СЗПТ", "Штук", "Граммов", "Скидка"]).bold();
    let rows: Vec<Row> = r
        .by_group
        .iter()
        .map(|g| {
            Row::new(vec![
                g.group.clone(),
                g.pieces.to_string(),
                group_thousands(g.grams),
                Tiyn::new(g.discount_tiyn).to_string(),
            ])
        })
        .collect();
    let widths = [Constraint::Min(20), Constraint::Length(8), Constraint::Length(10), Constraint::Length(14)];
    let table = Table::new(rows, widths).header(header).block(Block::bordered().title(" По группам товаров "));
    frame.render_widget(table, groups);
}
