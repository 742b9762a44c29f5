//! The signals report (SPEC §6): per shop and period, how often each fraud or error signal fired,
//! read from the day counters that authorise keeps ([`crate::domain::signals`]) — one row per
//! shop, day and signal, so the report costs the same whatever the month's volume of sales.
//! Also the refusals by recall, for the ministry's daily report and pilot summary.
//!
//! CSV and XLSX come from the ministry report's table model ([`super::render`]): in CSV the
//! sections `meta` (month, generated_at), `signal` (one row per shop, one column per signal code:
//! `shop_id,name,region,price_over_limit,at_cap,two_shops,small_baskets,after_hold_expired,
//! round_sum,outside_hours`) and `legend` (`code,title,detail`: what each column counts); in XLSX
//! the sheets `Сигналы` and `Пояснения`.

use std::collections::BTreeMap;

use anyhow::Context as _;
use azyq_shared::api::{RecallFigures, ShopSignals, Signal, SignalCode, SignalsReport};
use azyq_shared::{BusinessDay, Month};
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use rust_xlsxwriter::{DocProperties, Workbook};

use super::render::{self, Cells, Format, Value};
use crate::db::schema::{day_recall_stats, day_shop_stats, day_signal_stats, recalls, shops};
use crate::db::Conn;
use crate::domain::signals::{
    ShopHours, AFTER_EXPIRY_MINUTES, ROUND_SUM, SMALL_BASKET, SMALL_BASKETS_PER_DAY, TWO_SHOPS_MINUTES,
};
use crate::error::AppResult;
use crate::with_conn;

/// A signal's column title: a few words.
pub fn title(code: SignalCode) -> &'static str {
    match code {
        SignalCode::PriceOverLimit => "Цена выше предельной",
        SignalCode::AtCap => "Скидка ровно на пределе",
        SignalCode::TwoShops => "Ваучер в двух магазинах",
        SignalCode::SmallBaskets => "Много мелких покупок",
        SignalCode::AfterHoldExpired => "Покупка после истёкшего резерва",
        SignalCode::RoundSum => "Круглая сумма скидки",
        SignalCode::OutsideHours => "Вне обычных часов",
        SignalCode::OfflineShortfall => "Офлайн-недостача",
        SignalCode::TokenTwice => "QR-код использован дважды",
    }
}

/// What a signal's count counts, in a sentence with the thresholds in force (the usual hours
/// where known: the ministry's report is made without the settings).
pub fn detail(code: SignalCode, hours: Option<ShopHours>) -> String {
    match code {
        SignalCode::PriceOverLimit => {
            "отказов в авторизации: цена на полке выше предельной цены группы в регионе".to_owned()
        }
        SignalCode::AtCap => "покупок, где скидка в каждой строке равна наибольшей, что позволяет предел".to_owned(),
        SignalCode::TwoShops => {
            format!("покупок, чей ваучер был в покупке другого магазина менее чем за {TWO_SHOPS_MINUTES} мин до неё")
        }
        SignalCode::SmallBaskets => format!(
            "случаев, когда у одного ваучера за день в магазине набралось {SMALL_BASKETS_PER_DAY} покупки со скидкой меньше {SMALL_BASKET}"
        ),
        SignalCode::AfterHoldExpired => format!(
            "покупок менее чем через {AFTER_EXPIRY_MINUTES} мин после того, как истёк резерв того же ваучера"
        ),
        SignalCode::RoundSum => format!("покупок со скидкой, кратной {ROUND_SUM}"),
        SignalCode::OutsideHours => match hours {
            Some(hours) => format!("покупок вне обычных часов работы магазинов ({hours} по Алматы)"),
            None => "покупок вне обычных часов работы магазинов (по Алматы)".to_owned(),
        },
        SignalCode::OfflineShortfall => {
            "офлайн-продаж, скидку которых остаток ваучера покрыл не полностью (недостача за счёт магазина)".to_owned()
        }
        SignalCode::TokenTwice => {
            "офлайн-продаж с QR-кодом, уже использованным в другой покупке (онлайн или на другой кассе)".to_owned()
        }
    }
}

/// Each shop's signals over the business days `from..=to`: every shop that sold, was refused or
/// signalled in them, with every signal (zeros included), by shop id.
pub fn shops(
    conn: &mut Conn,
    from: BusinessDay,
    to: BusinessDay,
    hours: Option<ShopHours>,
) -> AppResult<Vec<ShopSignals>> {
    let (f, t) = (from.to_string(), to.to_string());
    let counts: Vec<(String, SignalCode, i64)> = with_conn!(conn, c => day_signal_stats::table
        .filter(day_signal_stats::day.ge(&f))
        .filter(day_signal_stats::day.le(&t))
        .group_by((day_signal_stats::shop_id, day_signal_stats::code))
        .select((day_signal_stats::shop_id, day_signal_stats::code, sql::<BigInt>("CAST(SUM(day_signal_stats.count) AS BIGINT)")))
        .load(c))?;
    let active: Vec<String> = with_conn!(conn, c => day_shop_stats::table
        .filter(day_shop_stats::day.ge(&f))
        .filter(day_shop_stats::day.le(&t))
        .select(day_shop_stats::shop_id)
        .distinct()
        .load(c))?;
    let mut by_shop: BTreeMap<String, BTreeMap<SignalCode, i64>> = BTreeMap::new();
    for id in active {
        by_shop.entry(id).or_default();
    }
    for (shop, code, n) in counts {
        *by_shop.entry(shop).or_default().entry(code).or_default() += n;
    }
    let ids: Vec<String> = by_shop.keys().cloned().collect();
    let mut names: BTreeMap<String, (String, String)> = BTreeMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, String)> = with_conn!(conn, c => shops::table
            .filter(shops::shop_id.eq_any(chunk))
            .select((shops::shop_id, shops::name, shops::region))
            .load(c))?;
        names.extend(rows.into_iter().map(|(id, name, region)| (id, (name, region))));
    }
    Ok(by_shop
        .into_iter()
        .map(|(shop_id, counts)| {
            let (name, region) = names.remove(&shop_id).unwrap_or_default();
            let signals = SignalCode::ALL
                .iter()
                .map(|&code| Signal {
                    code,
                    count: counts.get(&code).copied().unwrap_or(0),
                    detail: detail(code, hours),
                })
                .collect();
            ShopSignals { shop_id, name, region, signals }
        })
        .collect())
}

/// The signals report of a month (Asia/Almaty days).
pub fn month_report(conn: &mut Conn, month: Month, hours: ShopHours, now: DateTime<Utc>) -> AppResult<SignalsReport> {
    let (from, to) = (BusinessDay(month.first_day()), BusinessDay(month.last_day()));
    Ok(SignalsReport { month: month.to_string(), generated_at: now, shops: shops(conn, from, to, Some(hours))? })
}

/// Refusals of recalled goods by recall over the business days `from..=to`.
pub fn recall_refusals(conn: &mut Conn, from: BusinessDay, to: BusinessDay) -> AppResult<Vec<RecallFigures>> {
    let (f, t) = (from.to_string(), to.to_string());
    let rows: Vec<(i64, String, Option<String>, String, i64)> = with_conn!(conn, c => day_recall_stats::table
        .inner_join(recalls::table)
        .filter(day_recall_stats::day.ge(&f))
        .filter(day_recall_stats::day.le(&t))
        .group_by((recalls::id, recalls::gtin, recalls::batch, recalls::reason))
        .order(recalls::id)
        .select((recalls::id, recalls::gtin, recalls::batch, recalls::reason, sql::<BigInt>("CAST(SUM(day_recall_stats.refusals) AS BIGINT)")))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(recall_id, gtin, batch, reason, refusals)| RecallFigures { recall_id, gtin, batch, reason, refusals })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// As tables (CSV sections and XLSX sheets).

/// A shop's signals as one row: a column per signal code.
pub(super) fn signal_cells(s: &ShopSignals) -> Cells<'_> {
    let mut out = vec![
        ("shop_id", "ID магазина", Value::Text(&s.shop_id)),
        ("name", "Магазин", Value::Text(&s.name)),
        ("region", "Регион", Value::Text(&s.region)),
    ];
    for &code in SignalCode::ALL {
        let n = s.signals.iter().find(|x| x.code == code).map_or(0, |x| x.count);
        out.push((code.as_str(), title(code), Value::Count(n)));
    }
    out
}

pub(super) fn recall_cells(r: &RecallFigures) -> Cells<'_> {
    vec![
        ("recall_id", "Отзыв №", Value::Count(r.recall_id)),
        ("gtin", "GTIN", Value::Text(&r.gtin)),
        ("batch", "Партия (пусто: все)", Value::Text(r.batch.as_deref().unwrap_or(""))),
        ("reason", "Причина отзыва", Value::Text(&r.reason)),
        ("refusals", "Отказов на кассах", Value::Count(r.refusals)),
    ]
}

/// What a column of the signal table counts.
#[derive(Debug, Clone, Default)]
struct Legend {
    code: String,
    title: String,
    detail: String,
}

fn legend_cells(l: &Legend) -> Cells<'_> {
    vec![
        ("code", "Код", Value::Text(&l.code)),
        ("title", "Сигнал", Value::Text(&l.title)),
        ("detail", "Что считается", Value::Text(&l.detail)),
    ]
}

/// Renders the signals report: JSON as the API answers it, or CSV/XLSX (see the module's doc);
/// `hours` are the usual shop hours the report was counted with, for the legend.
pub fn render(report: &SignalsReport, hours: ShopHours, format: Format) -> anyhow::Result<Vec<u8>> {
    let legend: Vec<Legend> = SignalCode::ALL
        .iter()
        .map(|&c| Legend { code: c.as_str().to_owned(), title: title(c).to_owned(), detail: detail(c, Some(hours)) })
        .collect();
    let tables = [
        render::table("signal", "Сигналы", &report.shops, signal_cells),
        render::table("legend", "Пояснения", &legend, legend_cells),
    ];
    let generated = render::rfc3339(&report.generated_at);
    match format {
        Format::Json => serde_json::to_vec_pretty(report).context("rendering the signals as JSON"),
        Format::Csv | Format::CsvRu => {
            let meta = [("month", report.month.as_str()), ("generated_at", generated.as_str())];
            render::csv_file(&meta, &tables, render::Csv::of(format)).context("rendering the signals as CSV")
        }
        Format::Xlsx => {
            let mut wb = Workbook::new();
            wb.set_properties(
                &DocProperties::new()
                    .set_title(format!("Azyq: сигналы по магазинам, {}", report.month))
                    .set_author("Azyq")
                    .set_creation_datetime(&report.generated_at),
            );
            let styles = render::styles();
            for t in &tables {
                render::write_table(wb.add_worksheet(), t, &styles)?;
            }
            Ok(wb.save_to_buffer()?)
        }
    }
}
