//! Rendering the ministry report (SPEC §6) as CSV, XLSX and JSON: the same figures in each.
//!
//! JSON is the report's serde form. CSV and XLSX are both written from one table model (the
//! `*_cells` functions below list every column once, with its JSON name and Russian title), so a
//! figure cannot be added to one format and forgotten in the other.
//!
//! # Money and weight
//!
//! Money is integer tiyn everywhere. Each money figure appears as two columns: `X_tiyn`, the exact
//! integer, and beside it `X_kzt`, the same amount in tenge with two decimals, written from the
//! integer by integer arithmetic (`-12345` → `-123.45`). Likewise `grams` is followed by `kg` with
//! three decimals. No floating point is involved in producing either.
//!
//! # CSV layout
//!
//! RFC 4180: comma-separated, quoted where needed, CRLF line ends, UTF-8 with a BOM (so that Excel
//! shows the Cyrillic). One file holds eight sections, always in this order, and every record starts
//! with two fixed columns: `section` (`meta`, `region`, `shop`, `goods`, `consent`, `recall`,
//! `signal`, `total`) and
//! `kind` (`header` or `row`). Each section has exactly one `header` record, even when it has no
//! rows, naming its columns; the names are the JSON field names, so a reader maps columns by name.
//! Sections have different widths: read with `csv::ReaderBuilder::flexible(true)`. Beside every
//! code its names, for people: `region_name` and `region_name_kk` after `region`, `group_name` and
//! `group_name_kk` after an SZPT `group`.
//!
//! ```text
//! meta,header,from,to,generated_at
//! meta,row,2025-03-14,2025-03-14,2025-03-15T00:05:00Z
//! region,header,region,region_name,region_name_kk,vouchers_issued,vouchers_issued_tiyn,vouchers_issued_kzt,…
//! region,row,55,Павлодарская область,Павлодар облысы,120,471840000,4718400.00,…
//! shop,header,shop_id,shop_name,region,region_name,region_name_kk,baskets_captured,…,discount_tiyn,discount_kzt,…,ratings,rating_sum,rating_average,complaints,refused_over_limit,refused_recalled,offline_sales,offline_shortfall_tiyn,…
//! goods,header,region,region_name,region_name_kk,group,group_name,group_name_kk,pieces,grams,kg,discount_tiyn,discount_kzt
//! consent,header,region,region_name,region_name_kk,month,sms_sent,reminders,yes,no,no_answer,no_phone
//! recall,header,recall_id,gtin,batch,reason,refusals
//! signal,header,shop_id,name,region,price_over_limit,at_cap,two_shops,small_baskets,after_hold_expired,round_sum,outside_hours
//! total,header,<the region columns>
//! total,row,<report.totals>
//! ```
//!
//! `csv-ru` is the same file for Excel in a Russian locale, which splits cells at `;` and reads a
//! decimal comma: `;` between cells and `4718400,00`.
//!
//! `generated_at` is RFC 3339 in UTC. Text is written as is (a machine file must round-trip), so a
//! person should open the XLSX, where text cells are never taken for formulas.
//!
//! # XLSX layout
//!
//! Sheets `Итого` (period, generation time, then one total figure per row), `Регионы` (with a bold
//! total row and a column chart of discount by region below), `Магазины`, `Товары`, `Согласия`,
//! `Отзывы` (refusals by recall), `Сигналы` (each shop's signals, see [`super::signals`]);
//! header rows bold and frozen. Counts and tiyn are integer number cells (`#,##0`); a tenge cell is
//! the formula `=<tiyn cell>/100` shown as `#,##0.00`, stored with the exact decimal as its cached
//! result, so Excel shows the exact amount and readers that do not recalculate read it too. A
//! figure beyond 2^53 (which a double cannot hold) would be written as text rather than rounded.
//! The document's creation time is `generated_at`, so the same report always gives the same bytes.

use std::str::FromStr;

use anyhow::Context as _;
use azyq_shared::api::{BasketFigures, ConsentFigures, GoodsFigures, MinistryReport, RegionFigures, ShopFigures};
use chrono::SecondsFormat;
use rust_xlsxwriter::utility::row_col_to_cell;
use rust_xlsxwriter::{
    Chart, ChartType, DocProperties, Format as Style, FormatAlign, FormatBorder, Formula, Workbook, Worksheet,
};

/// A file format the ministry report is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RFC 4180: commas, a decimal point.
    Csv,
    /// For Excel in a Russian locale: `;` between cells and a decimal comma, else as `Csv`.
    CsvRu,
    Xlsx,
    Json,
}

impl Format {
    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv | Format::CsvRu => "csv",
            Format::Xlsx => "xlsx",
            Format::Json => "json",
        }
    }

    /// The HTTP `Content-Type` of a rendered report.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv | Format::CsvRu => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Json => "application/json",
        }
    }
}

/// A format name other than `csv`, `xlsx` or `json`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format {0:?} (expected csv, csv-ru, xlsx or json)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Parses the lower-case extension, as it appears in a query string or a file name.
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s {
            "csv" => Ok(Format::Csv),
            "csv-ru" => Ok(Format::CsvRu),
            "xlsx" => Ok(Format::Xlsx),
            "json" => Ok(Format::Json),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// Renders the report in the given format: the bytes of the whole file.
pub fn render(report: &MinistryReport, format: Format) -> anyhow::Result<Vec<u8>> {
    match format {
        Format::Json => serde_json::to_vec_pretty(report).context("rendering the report as JSON"),
        Format::Csv | Format::CsvRu => render_csv(report, Csv::of(format)).context("rendering the report as CSV"),
        Format::Xlsx => render_xlsx(report).context("rendering the report as XLSX"),
    }
}

// ---------------------------------------------------------------------------------------------
// The table model shared by CSV and XLSX.

/// One figure of a row; the variant says how it is written (and whether it takes two columns).
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a str),
    Count(i64),
    Tiyn(azyq_shared::Tiyn),
    Grams(i64),
}

/// A row's figures, each with its JSON field name (the CSV column) and Russian title (the XLSX one).
pub(super) type Cells<'a> = Vec<(&'static str, &'static str, Value<'a>)>;

fn basket_cells(b: &BasketFigures, out: &mut Cells<'_>) {
    out.extend([
        ("baskets_captured", "Покупок проведено", Value::Count(b.baskets_captured)),
        ("baskets_cancelled", "Покупок отменено", Value::Count(b.baskets_cancelled)),
        ("baskets_hold_expired", "Покупок не завершено (холд истёк)", Value::Count(b.baskets_hold_expired)),
        ("refunds", "Возвратов", Value::Count(b.refunds)),
        ("discount_tiyn", "Скидка списана с ваучеров", Value::Tiyn(b.discount_tiyn)),
        ("paid_tiyn", "Оплачено получателями", Value::Tiyn(b.paid_tiyn)),
        ("refunded_tiyn", "Скидка возвращена на ваучеры", Value::Tiyn(b.refunded_tiyn)),
    ]);
}

fn region_cells(r: &RegionFigures) -> Cells<'_> {
    let mut out = vec![
        ("region", "Код региона", Value::Text(&r.region)),
        ("region_name", "Регион", Value::Text(&r.region_name)),
        ("region_name_kk", "Өңір", Value::Text(&r.region_name_kk)),
        ("vouchers_issued", "Ваучеров выдано", Value::Count(r.vouchers_issued)),
        ("vouchers_issued_tiyn", "Выдано на сумму", Value::Tiyn(r.vouchers_issued_tiyn)),
        ("vouchers_activated", "Ваучеров активировано", Value::Count(r.vouchers_activated)),
        ("vouchers_activated_tiyn", "Активировано на сумму", Value::Tiyn(r.vouchers_activated_tiyn)),
        ("vouchers_lapsed", "Ваучеров не активировано в срок", Value::Count(r.vouchers_lapsed)),
        ("vouchers_lapsed_tiyn", "Не активировано на сумму", Value::Tiyn(r.vouchers_lapsed_tiyn)),
        ("vouchers_expired", "Ваучеров с истёкшим остатком", Value::Count(r.vouchers_expired)),
        ("vouchers_expired_tiyn", "Истёкший остаток", Value::Tiyn(r.vouchers_expired_tiyn)),
    ];
    basket_cells(&r.baskets, &mut out);
    out
}

fn shop_cells(s: &ShopFigures) -> Cells<'_> {
    let mut out = vec![
        ("shop_id", "ID магазина", Value::Text(&s.shop_id)),
        ("shop_name", "Магазин", Value::Text(&s.shop_name)),
        ("region", "Код региона", Value::Text(&s.region)),
        ("region_name", "Регион", Value::Text(&s.region_name)),
        ("region_name_kk", "Өңір", Value::Text(&s.region_name_kk)),
    ];
    basket_cells(&s.baskets, &mut out);
    out.extend([
        ("ratings", "Оценок получено", Value::Count(s.feedback.ratings)),
        ("rating_sum", "Сумма оценок", Value::Count(s.feedback.rating_sum)),
        ("rating_average", "Средняя оценка", Value::Text(&s.feedback.rating_average)),
        ("complaints", "Жалоб", Value::Count(s.feedback.complaints)),
        ("refused_over_limit", "Отказов: цена выше предельной", Value::Count(s.refused_over_limit)),
        ("refused_recalled", "Отказов: товар отозван", Value::Count(s.refused_recalled)),
        ("offline_sales", "Офлайн-продаж", Value::Count(s.offline_sales)),
        ("offline_shortfall_tiyn", "Офлайн-недостача", Value::Tiyn(s.offline_shortfall_tiyn)),
    ]);
    out
}

fn goods_cells(g: &GoodsFigures) -> Cells<'_> {
    vec![
        ("region", "Код региона", Value::Text(&g.region)),
        ("region_name", "Регион", Value::Text(&g.region_name)),
        ("region_name_kk", "Өңір", Value::Text(&g.region_name_kk)),
        ("group", "Код группы СЗПТ", Value::Text(&g.group)),
        ("group_name", "Группа СЗПТ", Value::Text(&g.group_name)),
        ("group_name_kk", "ӘМАТ тобы", Value::Text(&g.group_name_kk)),
        ("pieces", "Продано штук", Value::Count(g.pieces)),
        ("grams", "Продано на вес", Value::Grams(g.grams)),
        ("discount_tiyn", "Скидка", Value::Tiyn(g.discount_tiyn)),
    ]
}

fn consent_cells(c: &ConsentFigures) -> Cells<'_> {
    vec![
        ("region", "Код региона", Value::Text(&c.region)),
        ("region_name", "Регион", Value::Text(&c.region_name)),
        ("region_name_kk", "Өңір", Value::Text(&c.region_name_kk)),
        ("month", "Месяц", Value::Text(&c.month)),
        ("sms_sent", "SMS отправлено", Value::Count(c.sms_sent)), // a column, not a state
        ("reminders", "Напоминаний", Value::Count(c.reminders)),
        ("yes", "Согласились", Value::Count(c.yes)),
        ("no", "Отказались", Value::Count(c.no)),
        ("no_answer", "Не ответили", Value::Count(c.no_answer)), // a column, not a state
        ("no_phone", "Нет телефона", Value::Count(c.no_phone)),  // a column, not a state
    ]
}

/// One written column: a money or weight figure gives two (the integer, then the decimal).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    key: String,
    title: String,
    text: bool,
}

fn headers(cells: &Cells<'_>) -> Vec<Header> {
    let h = |key: String, title: String, text| Header { key, title, text };
    let mut out = Vec::new();
    for &(key, title, v) in cells {
        match v {
            Value::Text(_) => out.push(h(key.into(), title.into(), true)),
            Value::Count(_) => out.push(h(key.into(), title.into(), false)),
            Value::Tiyn(_) => {
                out.push(h(key.into(), format!("{title}, тиын"), false));
                out.push(h(key.replace("_tiyn", "_kzt"), format!("{title}, тенге"), false));
            }
            Value::Grams(_) => {
                out.push(h(key.into(), format!("{title}, г"), false));
                // The kilogram column's name (a column, not a state).
                let kg_key = key.replace("grams", "kg"); // not a state
                out.push(h(kg_key, format!("{title}, кг"), false));
            }
        }
    }
    out
}

/// A section of the report: its CSV section name, XLSX sheet name, written columns and rows.
pub(super) struct Table<'a> {
    section: &'static str,
    sheet: &'static str,
    headers: Vec<Header>,
    rows: Vec<Vec<Value<'a>>>,
}

pub(super) fn table<'a, T: Default>(
    section: &'static str,
    sheet: &'static str,
    items: &'a [T],
    cells: fn(&T) -> Cells<'_>,
) -> Table<'a> {
    // The header comes from a default row, so an empty section still has its columns.
    let headers = headers(&cells(&T::default()));
    let rows = items.iter().map(|item| cells(item).into_iter().map(|(_, _, v)| v).collect()).collect();
    Table { section, sheet, headers, rows }
}

/// The sections in the order they are written (the totals come separately, see [`totals`]).
fn sections(r: &MinistryReport) -> [Table<'_>; 6] {
    [
        table("region", "Регионы", &r.regions, region_cells),
        table("shop", "Магазины", &r.shops, shop_cells),
        table("goods", "Товары", &r.goods, goods_cells),
        table("consent", "Согласия", &r.consent, consent_cells),
        table("recall", "Отзывы", &r.recalls, super::signals::recall_cells),
        table("signal", "Сигналы", &r.signals, super::signals::signal_cells),
    ]
}

fn totals(r: &MinistryReport) -> Table<'_> {
    table("total", "Итого", std::slice::from_ref(&r.totals), region_cells)
}

/// `value / 10^scale` as an exact decimal: `decimal(-5, 2)` is `-0.05`. Integer arithmetic only, so
/// no amount is ever rounded; `unsigned_abs` keeps `i64::MIN` right.
fn decimal(value: i64, scale: u32) -> String {
    decimal_with(value, scale, '.')
}

fn decimal_with(value: i64, scale: u32, point: char) -> String {
    let unit = 10u64.pow(scale);
    let abs = value.unsigned_abs();
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}{point}{:0width$}", abs / unit, abs % unit, width = scale as usize)
}

fn generated_at(r: &MinistryReport) -> String {
    rfc3339(&r.generated_at)
}

/// An instant as the files write it: RFC 3339 in UTC.
pub(super) fn rfc3339(at: &chrono::DateTime<chrono::Utc>) -> String {
    // AutoSi keeps sub-second digits when there are any, so the time parses back unchanged.
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ---------------------------------------------------------------------------------------------
// CSV

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A text cell that a spreadsheet will show as text: one starting with `=`, `+`, `-`, `@`, a tab
/// or a carriage return would be read as a formula (a shop named `=HYPERLINK(…)` would be a live
/// link in the ministry's Excel), so it gets a leading `'`, as OWASP's CSV-injection advice says.
pub fn spreadsheet_safe(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// The punctuation of a CSV dialect.
#[derive(Clone, Copy)]
pub(super) struct Csv {
    delimiter: u8,
    point: char,
}

impl Csv {
    pub(super) const RFC4180: Csv = Csv { delimiter: b',', point: '.' };
    /// Excel in a Russian locale splits at `;` and reads `1234,50` as a number.
    pub(super) const RUSSIAN_EXCEL: Csv = Csv { delimiter: b';', point: ',' };

    /// The dialect of a CSV format.
    pub(super) fn of(format: Format) -> Csv {
        if format == Format::CsvRu {
            Csv::RUSSIAN_EXCEL
        } else {
            Csv::RFC4180
        }
    }
}

fn render_csv(report: &MinistryReport, dialect: Csv) -> anyhow::Result<Vec<u8>> {
    let generated = generated_at(report);
    let meta = [("from", report.from.as_str()), ("to", report.to.as_str()), ("generated_at", generated.as_str())];
    let [regions, shops, goods, consent, recalls, signals] = sections(report);
    csv_file(&meta, &[regions, shops, goods, consent, recalls, signals, totals(report)], dialect)
}

/// A CSV file of the layout above: the `meta` section (its names and values), then the tables.
pub(super) fn csv_file(meta: &[(&str, &str)], tables: &[Table<'_>], dialect: Csv) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .delimiter(dialect.delimiter)
        .terminator(csv::Terminator::CRLF)
        .from_writer(BOM.to_vec());
    let record = |kind: &str, f: fn(&(&str, &str)) -> String| {
        ["meta".to_owned(), kind.to_owned()].into_iter().chain(meta.iter().map(f)).collect::<Vec<_>>()
    };
    w.write_record(record("header", |(k, _)| (*k).to_owned()))?;
    w.write_record(record("row", |(_, v)| (*v).to_owned()))?;
    for t in tables {
        let mut record = vec![t.section.to_owned(), "header".to_owned()];
        record.extend(t.headers.iter().map(|h| h.key.clone()));
        w.write_record(&record)?;
        for row in &t.rows {
            let mut record = vec![t.section.to_owned(), "row".to_owned()];
            for v in row {
                match *v {
                    Value::Text(s) => record.push(spreadsheet_safe(s)),
                    Value::Count(n) => record.push(n.to_string()),
                    Value::Tiyn(n) => record.extend([n.get().to_string(), decimal_with(n.get(), 2, dialect.point)]),
                    Value::Grams(n) => record.extend([n.to_string(), decimal_with(n, 3, dialect.point)]),
                }
            }
            w.write_record(&record)?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

// ---------------------------------------------------------------------------------------------
// XLSX

/// The largest magnitude an XLSX number (an IEEE double) holds exactly as an integer.
const EXACT_LIMIT: u64 = 1 << 53;

/// Cell styles of a data row (plain) or a total row (bold).
pub(super) struct CellStyles {
    text: Style,
    int: Style,
    tenge: Style,
    kg: Style,
}

fn cell_styles(base: Style) -> CellStyles {
    let int = base.clone().set_num_format("#,##0");
    let tenge = base.clone().set_num_format("#,##0.00");
    CellStyles { text: base.clone(), int, tenge, kg: base.set_num_format("#,##0.000") }
}

pub(super) struct Styles {
    header: Style,
    plain: CellStyles,
    bold: CellStyles,
}

/// The styles of every sheet: a bold wrapped header with a rule under it, plain and bold rows.
pub(super) fn styles() -> Styles {
    let header = Style::new().set_bold().set_text_wrap().set_align(FormatAlign::Top);
    Styles {
        header: header.set_border_bottom(FormatBorder::Thin),
        plain: cell_styles(Style::new()),
        bold: cell_styles(Style::new().set_bold()),
    }
}

fn render_xlsx(report: &MinistryReport) -> anyhow::Result<Vec<u8>> {
    let mut wb = Workbook::new();
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("Azyq: отчёт для Министерства, {} — {}", report.from, report.to))
            .set_author("Azyq")
            .set_creation_datetime(&report.generated_at),
    );
    let styles = styles();
    summary_sheet(wb.add_worksheet(), report, &styles)?;
    let total = totals(report);
    for t in sections(report) {
        let ws = wb.add_worksheet();
        write_table(ws, &t, &styles)?;
        if t.section == "region" {
            let below = row_num(t.rows.len() + 1)?;
            if let Some(total_row) = total.rows.first() {
                let mut row = total_row.clone();
                if let Some(first) = row.first_mut() {
                    *first = Value::Text("Итого");
                }
                write_row(ws, below, &row, &styles.bold)?;
            }
            discount_chart(ws, &t, below + 2)?;
        }
    }
    Ok(wb.save_to_buffer()?)
}

fn row_num(n: usize) -> anyhow::Result<u32> {
    u32::try_from(n).context("too many rows for a sheet")
}

/// The `Итого` sheet: the period, then one total figure a row (title, JSON name, value, tenge).
fn summary_sheet(ws: &mut Worksheet, report: &MinistryReport, st: &Styles) -> anyhow::Result<()> {
    ws.set_name("Итого")?;
    let generated = generated_at(report);
    for (row, (label, value)) in
        [("Период с", report.from.as_str()), ("Период по", report.to.as_str()), ("Сформирован (UTC)", &generated)]
            .into_iter()
            .enumerate()
    {
        let row = row_num(row)?;
        ws.write_string_with_format(row, 0, label, &st.bold.text)?;
        ws.write_string(row, 1, value)?;
    }
    const HEADER_ROW: u32 = 4;
    for (c, title) in ["Показатель", "Код показателя", "Значение", "Тенге"].into_iter().enumerate()
    {
        ws.write_string_with_format(HEADER_ROW, u16::try_from(c)?, title, &st.header)?;
    }
    let mut row = HEADER_ROW + 1;
    for (key, title, v) in region_cells(&report.totals) {
        if let Value::Text(_) = v {
            continue; // the totals' region is a label, not a figure
        }
        ws.write_string(row, 0, title)?;
        ws.write_string(row, 1, key)?;
        write_value(ws, row, 2, v, &st.plain)?;
        row += 1;
    }
    ws.set_freeze_panes(HEADER_ROW + 1, 0)?;
    for (c, width) in [40, 26, 18, 18].into_iter().enumerate() {
        ws.set_column_width(u16::try_from(c)?, width)?;
    }
    Ok(())
}

/// A section's sheet: a frozen bold header, the rows, and widths that fit the text.
pub(super) fn write_table(ws: &mut Worksheet, t: &Table<'_>, st: &Styles) -> anyhow::Result<()> {
    ws.set_name(t.sheet)?;
    for (c, h) in t.headers.iter().enumerate() {
        ws.write_string_with_format(0, u16::try_from(c)?, &h.title, &st.header)?;
    }
    ws.set_row_height(0, 48)?;
    ws.set_freeze_panes(1, 0)?;
    let mut widths: Vec<usize> = t.headers.iter().map(|h| if h.text { 10 } else { 16 }).collect();
    for (i, row) in t.rows.iter().enumerate() {
        write_row(ws, row_num(i + 1)?, row, &st.plain)?;
        let mut c = 0;
        for v in row {
            if let (Value::Text(s), Some(w)) = (v, widths.get_mut(c)) {
                *w = (*w).max(s.chars().count() + 2).min(50);
            }
            c += usize::from(width(v));
        }
    }
    for (c, w) in widths.into_iter().enumerate() {
        ws.set_column_width(u16::try_from(c)?, u32::try_from(w)?)?;
    }
    Ok(())
}

/// How many columns a figure takes.
fn width(v: &Value<'_>) -> u16 {
    match v {
        Value::Text(_) | Value::Count(_) => 1,
        Value::Tiyn(_) | Value::Grams(_) => 2,
    }
}

fn write_row(ws: &mut Worksheet, row: u32, values: &[Value<'_>], st: &CellStyles) -> anyhow::Result<()> {
    let mut c = 0;
    for &v in values {
        write_value(ws, row, c, v, st)?;
        c += width(&v);
    }
    Ok(())
}

fn write_value(ws: &mut Worksheet, row: u32, c: u16, v: Value<'_>, st: &CellStyles) -> anyhow::Result<()> {
    match v {
        Value::Text(s) => {
            ws.write_string_with_format(row, c, s, &st.text)?;
        }
        Value::Count(n) => write_int(ws, row, c, n, &st.int)?,
        Value::Tiyn(n) => {
            write_int(ws, row, c, n.get(), &st.int)?;
            write_scaled(ws, row, c + 1, n.get(), 2, &st.tenge)?;
        }
        Value::Grams(n) => {
            write_int(ws, row, c, n, &st.int)?;
            write_scaled(ws, row, c + 1, n, 3, &st.kg)?;
        }
    }
    Ok(())
}

/// An integer as a number cell when a double holds it exactly (any real figure), else as text, so
/// that it is never silently rounded.
fn write_int(ws: &mut Worksheet, row: u32, c: u16, n: i64, style: &Style) -> anyhow::Result<()> {
    if n.unsigned_abs() <= EXACT_LIMIT {
        ws.write_number_with_format(row, c, n as f64, style)?; // exact: |n| ≤ 2^53
    } else {
        ws.write_string_with_format(row, c, n.to_string(), style)?;
    }
    Ok(())
}

/// `n / 10^scale` beside the integer cell `n` (to the left): a formula over that cell, so the sheet
/// stays consistent if someone edits it, cached with the exact decimal for readers that do not
/// recalculate.
fn write_scaled(ws: &mut Worksheet, row: u32, c: u16, n: i64, scale: u32, style: &Style) -> anyhow::Result<()> {
    if n.unsigned_abs() <= EXACT_LIMIT {
        let source = row_col_to_cell(row, c.saturating_sub(1));
        let formula = Formula::new(format!("={source}/{}", 10u64.pow(scale))).set_result(decimal(n, scale));
        ws.write_formula_with_format(row, c, formula, style)?;
    } else {
        ws.write_string_with_format(row, c, decimal(n, scale), style)?;
    }
    Ok(())
}

/// A column chart of discount (tenge) by region, placed at `at_row` under the regions table.
fn discount_chart(ws: &mut Worksheet, t: &Table<'_>, at_row: u32) -> anyhow::Result<()> {
    let Some(value_col) = t.headers.iter().position(|h| h.key == "discount_kzt") else {
        return Ok(());
    };
    if t.rows.is_empty() {
        return Ok(()); // an empty range is not a valid series
    }
    let (last, value_col) = (row_num(t.rows.len())?, u16::try_from(value_col)?);
    let mut chart = Chart::new(ChartType::Column);
    chart.title().set_name("Скидка по регионам, тенге");
    chart
        .add_series()
        .set_name("Скидка, тенге")
        .set_categories((t.sheet, 1, 0, last, 0))
        .set_values((t.sheet, 1, value_col, last, value_col));
    chart.legend().set_hidden();
    chart.x_axis().set_name("Регион");
    chart.y_axis().set_num_format("#,##0");
    ws.insert_chart(at_row, 0, &chart)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_become_text() {
        assert_eq!(
            super::spreadsheet_safe("=HYPERLINK(\"http://evil.example/x\",\"Click\")"),
            "'=HYPERLINK(\"http://evil.example/x\",\"Click\")"
        );
        for risky in ["+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(super::spreadsheet_safe(risky).starts_with('\''), "{risky:?}");
        }
        assert_eq!(super::spreadsheet_safe("Магазин №1"), "Магазин №1");
        assert_eq!(super::spreadsheet_safe(""), "");
    }
}
