//! The ministry report in CSV, XLSX and JSON: each parses back to exactly the figures rendered.
//!
//! CSV is read with the `csv` crate and rebuilt into a `MinistryReport` by column name (the names
//! are the JSON field names); XLSX is read with calamine and compared cell by cell with the CSV, and
//! its `Итого` sheet with the totals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use azyq_shared::Tiyn;
use std::collections::HashMap;
use std::io::Cursor;

use azyq_server::reports::render::{render, Format};
use azyq_server::reports::signals::detail;
use azyq_shared::api::{
    BasketFigures, ConsentFigures, GoodsFigures, MinistryReport, RecallFigures, RegionFigures, ShopFeedback,
    ShopFigures, ShopSignals, Signal, SignalCode,
};
use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use chrono::{TimeZone, Utc};
use serde_json::{Map, Value};

fn baskets(seed: i64) -> BasketFigures {
    BasketFigures {
        baskets_captured: 1_000 + seed,
        baskets_cancelled: 3 + seed,
        baskets_hold_expired: seed,
        refunds: 2,
        discount_tiyn: Tiyn::new(123_456_789 + seed), // 1,234,567.89 KZT
        paid_tiyn: Tiyn::new(987_654_305 + seed),
        refunded_tiyn: Tiyn::new(5), // 0.05 KZT: the leading zero must survive
    }
}

/// The names a report puts beside a region code (figures.rs fills them from KATO).
fn names(code: &str) -> (String, String) {
    let (ru, kk) = azyq_shared::region_names(code).unwrap();
    (ru.into(), kk.into())
}

fn region(code: &str, seed: i64) -> RegionFigures {
    let (region_name, region_name_kk) = names(code);
    RegionFigures {
        region: code.into(),
        region_name,
        region_name_kk,
        vouchers_issued: 500 + seed,
        vouchers_issued_tiyn: Tiyn::new((500 + seed) * 393_200),
        vouchers_activated: 450 + seed,
        vouchers_activated_tiyn: Tiyn::new((450 + seed) * 393_200),
        vouchers_lapsed: 50,
        vouchers_lapsed_tiyn: Tiyn::new(50 * 393_200),
        vouchers_expired: 7,
        vouchers_expired_tiyn: Tiyn::new(1_000_001),
        baskets: baskets(seed),
    }
}

fn sum(regions: &[RegionFigures]) -> RegionFigures {
    let mut t = RegionFigures { region: String::new(), ..Default::default() };
    for r in regions {
        t.vouchers_issued += r.vouchers_issued;
        t.vouchers_issued_tiyn += r.vouchers_issued_tiyn;
        t.vouchers_activated += r.vouchers_activated;
        t.vouchers_activated_tiyn += r.vouchers_activated_tiyn;
        t.vouchers_lapsed += r.vouchers_lapsed;
        t.vouchers_lapsed_tiyn += r.vouchers_lapsed_tiyn;
        t.vouchers_expired += r.vouchers_expired;
        t.vouchers_expired_tiyn += r.vouchers_expired_tiyn;
        let (b, a) = (&mut t.baskets, &r.baskets);
        b.baskets_captured += a.baskets_captured;
        b.baskets_cancelled += a.baskets_cancelled;
        b.baskets_hold_expired += a.baskets_hold_expired;
        b.refunds += a.refunds;
        b.discount_tiyn += a.discount_tiyn;
        b.paid_tiyn += a.paid_tiyn;
        b.refunded_tiyn += a.refunded_tiyn;
    }
    t
}

fn sample() -> MinistryReport {
    let regions = vec![region("75", 0), region("71", 11), region("10", 2)];
    let shop = |id: &str, name: &str, region: &str, seed| ShopFigures {
        shop_id: id.into(),
        shop_name: name.into(),
        region: region.into(),
        region_name: names(region).0,
        region_name_kk: names(region).1,
        baskets: baskets(seed),
        feedback: ShopFeedback::new(seed, seed * 4, seed / 2),
        refused_over_limit: seed,
        refused_recalled: 2 * seed,
        offline_sales: 3 * seed,
        offline_shortfall_tiyn: Tiyn::new(seed * 1_001),
    };
    let signals = |id: &str, name: &str, seed: i64| ShopSignals {
        shop_id: id.into(),
        name: name.into(),
        region: "75".into(),
        signals: SignalCode::ALL
            .iter()
            .zip(0..)
            .map(|(&code, i)| Signal { code, count: seed * i, detail: detail(code, None) })
            .collect(),
    };
    let goods = |region: &str, group: &str, pieces, grams, discount_tiyn| GoodsFigures {
        region: region.into(),
        region_name: names(region).0,
        region_name_kk: names(region).1,
        group: group.into(),
        group_name: format!("{group} (название)"),
        group_name_kk: format!("{group} (атауы)"),
        pieces,
        grams,
        discount_tiyn,
    };
    MinistryReport {
        from: "2025-03-14".into(),
        to: "2025-03-14".into(),
        generated_at: Utc.with_ymd_and_hms(2025, 3, 14, 19, 0, 3).unwrap() + chrono::Duration::milliseconds(250),
        totals: sum(&regions),
        regions,
        shops: vec![
            shop("S-0001", "ТОО \"Арман\", филиал №2", "75", 0),
            shop("S-0002", "ИП Сәрсенбаев; магазин «Береке»", "71", 4),
            shop("S-0003", "=SUM(A1:A9)", "10", 9),
        ],
        goods: vec![
            goods("75", "Мука", 12, 0, Tiyn::new(10_000)),
            goods("75", "Картофель", 0, 12_345, Tiyn::new(4_567)),
            goods("71", "Говядина", 0, 1_001, Tiyn::new(99)),
        ],
        consent: vec![
            ConsentFigures {
                region: "75".into(),
                region_name: names("75").0,
                region_name_kk: names("75").1,
                month: "2025-03".into(),
                sms_sent: 800,
                reminders: 120,
                yes: 610,
                no: 40,
                no_answer: 150,
                no_phone: 12,
            },
            ConsentFigures {
                region: "71".into(),
                region_name: names("71").0,
                region_name_kk: names("71").1,
                month: "2025-03".into(),
                sms_sent: 1,
                ..Default::default()
            },
        ],
        recalls: vec![
            RecallFigures {
                recall_id: 3,
                gtin: "04600000000015".into(),
                batch: Some("L2301".into()),
                reason: "Листерия, партия \"L2301\"".into(),
                refusals: 4,
            },
            RecallFigures {
                recall_id: 7,
                gtin: "04870000000012".into(),
                batch: None,
                reason: "=1+1".into(),
                refusals: 1,
            },
        ],
        signals: vec![signals("S-0001", "ТОО \"Арман\", филиал №2", 1), signals("S-0003", "=SUM(A1:A9)", 5)],
    }
}

/// The CSV's records grouped by section: each row as (column name → field), in file order.
type Sections = HashMap<String, Vec<Vec<(String, String)>>>;

fn parse_csv(bytes: &[u8]) -> (Vec<String>, Sections) {
    parse_csv_with(bytes, b',')
}

fn parse_csv_with(bytes: &[u8], delimiter: u8) -> (Vec<String>, Sections) {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(body);
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    let mut order = Vec::new();
    let mut sections = Sections::new();
    for record in reader.records() {
        let record = record.unwrap();
        // A text cell that would be a formula carries a leading `'` (OWASP); a spreadsheet shows
        // the text without it, and so does this reader.
        let fields: Vec<String> = record
            .iter()
            .map(|f| match f.strip_prefix('\'') {
                Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_owned(),
                _ => f.to_owned(),
            })
            .collect();
        let (section, kind, rest) = (&fields[0], &fields[1], &fields[2..]);
        match kind.as_str() {
            "header" => {
                let unique: std::collections::HashSet<_> = rest.iter().collect();
                assert_eq!(unique.len(), rest.len(), "{section}: duplicate column names");
                assert!(headers.insert(section.clone(), rest.to_vec()).is_none(), "one header per section");
                order.push(section.clone());
                sections.insert(section.clone(), Vec::new());
            }
            "row" => {
                let names = &headers[section];
                assert_eq!(names.len(), rest.len(), "{section}: row width");
                let row = names.iter().cloned().zip(rest.iter().cloned()).collect();
                sections.get_mut(section).unwrap().push(row);
            }
            other => panic!("kind {other:?}"),
        }
    }
    (order, sections)
}

const TEXT: [&str; 10] = [
    "region",
    "region_name",
    "region_name_kk",
    "shop_id",
    "shop_name",
    "group",
    "group_name",
    "group_name_kk",
    "month",
    "rating_average",
];

/// `-12.34` → `-1234` for a decimal with exactly `scale` digits after the point.
fn undecimal(s: &str, scale: usize) -> i64 {
    let (int, frac) = s.split_once('.').expect("a decimal point");
    assert_eq!(frac.len(), scale, "{s}");
    // The sign stays in front of the digits, so i64::MIN parses too.
    format!("{int}{frac}").parse().unwrap()
}

/// A row back into its struct through serde, after checking each `_kzt`/`kg` twin of its integer.
fn rebuild<T: serde::de::DeserializeOwned>(row: &[(String, String)]) -> T {
    let mut obj = Map::new();
    for (i, (name, value)) in row.iter().enumerate() {
        if let Some(base) = name.strip_suffix("_kzt") {
            assert_eq!(row[i - 1].0, format!("{base}_tiyn"));
            assert_eq!(undecimal(value, 2), row[i - 1].1.parse::<i64>().unwrap(), "{name}");
        } else if name == "kg" {
            assert_eq!(row[i - 1].0, "grams");
            assert_eq!(undecimal(value, 3), row[i - 1].1.parse::<i64>().unwrap(), "kg");
        } else if TEXT.contains(&name.as_str()) {
            obj.insert(name.clone(), Value::String(value.clone()));
        } else {
            obj.insert(name.clone(), Value::from(value.parse::<i64>().unwrap()));
        }
    }
    serde_json::from_value(Value::Object(obj)).unwrap()
}

/// A recall's row: its text as written (an empty batch is every batch).
fn recall_of(row: &[(String, String)]) -> RecallFigures {
    let cell: HashMap<_, _> = row.iter().cloned().collect();
    RecallFigures {
        recall_id: cell["recall_id"].parse().unwrap(),
        gtin: cell["gtin"].clone(),
        batch: Some(cell["batch"].clone()).filter(|b| !b.is_empty()),
        reason: cell["reason"].clone(),
        refusals: cell["refusals"].parse().unwrap(),
    }
}

/// A shop's signals from its row: a column per code; the details are the report's sentences.
fn signals_of(row: &[(String, String)]) -> ShopSignals {
    let cell: HashMap<_, _> = row.iter().cloned().collect();
    ShopSignals {
        shop_id: cell["shop_id"].clone(),
        name: cell["name"].clone(),
        region: cell["region"].clone(),
        signals: SignalCode::ALL
            .iter()
            .map(|&code| Signal { code, count: cell[code.as_str()].parse().unwrap(), detail: detail(code, None) })
            .collect(),
    }
}

fn csv_to_report(bytes: &[u8]) -> MinistryReport {
    let (order, s) = parse_csv(bytes);
    assert_eq!(order, ["meta", "region", "shop", "goods", "consent", "recall", "signal", "total"]);
    let meta: HashMap<_, _> = s["meta"][0].iter().cloned().collect();
    let all = |name: &str| -> Vec<_> { s[name].iter().map(|r| r.as_slice()).collect() };
    MinistryReport {
        from: meta["from"].clone(),
        to: meta["to"].clone(),
        generated_at: meta["generated_at"].parse().unwrap(),
        regions: all("region").into_iter().map(rebuild).collect(),
        shops: all("shop").into_iter().map(rebuild).collect(),
        goods: all("goods").into_iter().map(rebuild).collect(),
        consent: all("consent").into_iter().map(rebuild).collect(),
        totals: rebuild(&s["total"][0]),
        recalls: all("recall").into_iter().map(recall_of).collect(),
        signals: all("signal").into_iter().map(signals_of).collect(),
    }
}

#[test]
fn csv_is_rfc4180_with_bom_and_round_trips() {
    let report = sample();
    let bytes = render(&report, Format::Csv).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.ends_with("\r\n"));
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count(), "CRLF only");
    assert!(text.starts_with(
        "meta,header,from,to,generated_at\r\nmeta,row,2025-03-14,2025-03-14,2025-03-14T19:00:03.250Z\r\n"
    ));
    assert!(
        text.contains("shop,row,S-0001,\"ТОО \"\"Арман\"\", филиал №2\",75,город Алматы,Алматы қаласы,"),
        "quoting, and the region's names beside its code:\n{text}"
    );
    assert!(text.contains(",123456789,1234567.89,"), "tiyn beside tenge");
    assert!(text.contains("shop,row,S-0003,'=SUM(A1:A9),"), "a shop named like a formula stays text:\n{text}");
    assert!(text.contains(",5,0.05\r\n"));
    assert!(text.contains(
        "goods,row,75,город Алматы,Алматы қаласы,Картофель,Картофель (название),Картофель (атауы),0,12345,12.345,4567,45.67\r\n"
    ));
    assert_eq!(csv_to_report(&bytes), report);
}

/// `csv-ru` is the same file for Excel in a Russian locale: `;` between cells and a decimal comma,
/// the same cells otherwise.
#[test]
fn csv_ru_has_semicolons_and_decimal_commas() {
    let report = sample();
    let (ru, plain) = (render(&report, Format::CsvRu).unwrap(), render(&report, Format::Csv).unwrap());
    let text = std::str::from_utf8(&ru[3..]).unwrap();
    assert!(text.contains(";123456789;1234567,89;"), "{text}");
    assert!(text.contains(";Картофель (атауы);0;12345;12,345;4567;45,67\r\n"), "{text}");
    let (order, sections) = parse_csv_with(&ru, b';');
    let (plain_order, plain_sections) = parse_csv(&plain);
    assert_eq!(order, plain_order);
    for section in order {
        let (a, b) = (&sections[&section], &plain_sections[&section]);
        assert_eq!(a.len(), b.len());
        for (row, plain_row) in a.iter().zip(b) {
            for ((name, value), (plain_name, plain_value)) in row.iter().zip(plain_row) {
                assert_eq!(name, plain_name);
                let decimal = name.ends_with("_kzt") || name == "kg";
                let expected = if decimal { plain_value.replace('.', ",") } else { plain_value.clone() };
                assert_eq!(value, &expected, "{section}.{name}");
            }
        }
    }
}

#[test]
fn negative_and_extreme_amounts_are_exact() {
    let mut report = sample();
    report.regions[0].baskets.refunded_tiyn = Tiyn::new(-5);
    report.regions[1].baskets.discount_tiyn = Tiyn::new(-123_456);
    report.regions[2].baskets.paid_tiyn = Tiyn::new(i64::MIN);
    report.totals.baskets.paid_tiyn = Tiyn::new(i64::MAX);
    report.goods[1].grams = 5;
    let bytes = render(&report, Format::Csv).unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    for exact in [",-5,-0.05\r\n", ",-123456,-1234.56,", ",-9223372036854775808,-92233720368547758.08,"] {
        assert!(text.contains(exact), "{exact}");
    }
    assert!(text.contains(",9223372036854775807,92233720368547758.07,"));
    assert!(text.contains(",Картофель (атауы),0,5,0.005,"));
    assert_eq!(csv_to_report(&bytes), report);
    assert_eq!(serde_json::from_slice::<MinistryReport>(&render(&report, Format::Json).unwrap()).unwrap(), report);
    render(&report, Format::Xlsx).unwrap();
}

#[test]
fn empty_report_renders_every_section_header() {
    let report = MinistryReport { from: "2025-03-01".into(), to: "2025-03-31".into(), ..Default::default() };
    let bytes = render(&report, Format::Csv).unwrap();
    let (order, sections) = parse_csv(&bytes);
    assert_eq!(order, ["meta", "region", "shop", "goods", "consent", "recall", "signal", "total"]);
    assert!(sections["shop"].is_empty());
    assert_eq!(csv_to_report(&bytes), report);
    let xlsx = render(&report, Format::Xlsx).unwrap();
    let book: Xlsx<_> = open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    assert_eq!(book.sheet_names(), ["Итого", "Регионы", "Магазины", "Товары", "Согласия", "Отзывы", "Сигналы"]);
    assert_eq!(serde_json::from_slice::<MinistryReport>(&render(&report, Format::Json).unwrap()).unwrap(), report);
}

#[test]
fn json_round_trips() {
    let report = sample();
    let bytes = render(&report, Format::Json).unwrap();
    assert_eq!(serde_json::from_slice::<MinistryReport>(&bytes).unwrap(), report);
}

#[test]
fn rendering_is_deterministic() {
    let report = sample();
    for format in [Format::Csv, Format::Xlsx, Format::Json] {
        assert_eq!(render(&report, format).unwrap(), render(&report, format).unwrap(), "{format:?}");
    }
}

/// A cell as the CSV writes the same figure: integers exactly, decimals compared as the double
/// nearest to the CSV's decimal (which is what an exact cached result parses to).
fn assert_cell_is(cell: &Data, csv: &str, at: &str) {
    match cell {
        Data::String(s) => assert_eq!(s, csv, "{at}"),
        Data::Float(f) if csv.contains('.') => assert_eq!(*f, csv.parse::<f64>().unwrap(), "{at}: {csv}"),
        Data::Float(f) => assert_eq!(*f, csv.parse::<i64>().unwrap() as f64, "{at}: {csv}"),
        Data::Int(i) => assert_eq!(i.to_string(), csv, "{at}"),
        Data::Empty => assert_eq!("", csv, "{at}"),
        other => panic!("{at}: unexpected {other:?}"),
    }
}

#[test]
fn xlsx_holds_the_same_figures_as_csv() {
    let report = sample();
    let (_, csv) = parse_csv(&render(&report, Format::Csv).unwrap());
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(render(&report, Format::Xlsx).unwrap())).unwrap();
    assert_eq!(book.sheet_names(), ["Итого", "Регионы", "Магазины", "Товары", "Согласия", "Отзывы", "Сигналы"]);

    let sheets = [
        ("Регионы", "region"),
        ("Магазины", "shop"),
        ("Товары", "goods"),
        ("Согласия", "consent"),
        ("Отзывы", "recall"),
        ("Сигналы", "signal"),
    ];
    for (sheet, section) in sheets {
        let range = book.worksheet_range(sheet).unwrap();
        let rows = &csv[section];
        assert!(!rows.is_empty());
        for (r, row) in rows.iter().enumerate() {
            for (c, (name, value)) in row.iter().enumerate() {
                let cell = range.get_value((r as u32 + 1, c as u32)).unwrap_or(&Data::Empty);
                assert_cell_is(cell, value, &format!("{sheet} row {} {name}", r + 1));
            }
        }
        assert_eq!(range.width(), rows[0].len(), "{sheet}: no column beyond the CSV's");
    }

    // The bold total row under the regions, labelled, then the region total's figures.
    let regions = book.worksheet_range("Регионы").unwrap();
    let below = csv["region"].len() as u32 + 1;
    assert_eq!(regions.get_value((below, 0)), Some(&Data::String("Итого".into())));
    for (c, (name, value)) in csv["total"][0].iter().enumerate().skip(1) {
        assert_cell_is(regions.get_value((below, c as u32)).unwrap(), value, &format!("total row {name}"));
    }
    let headers: Vec<String> = (0..6).map(|c| regions.get_value((0, c)).unwrap().to_string()).collect();
    assert_eq!(
        headers,
        ["Код региона", "Регион", "Өңір", "Ваучеров выдано", "Выдано на сумму, тиын", "Выдано на сумму, тенге"]
    );

    // Tenge are formulas over the tiyn cell beside them.
    let formulas = book.worksheet_formula("Регионы").unwrap();
    assert_eq!(formulas.get_value((1, 5)).map(String::as_str), Some("E2/100"));

    // The summary: period, then one total figure a row keyed by its JSON name.
    let summary = book.worksheet_range("Итого").unwrap();
    assert_eq!(summary.get_value((0, 1)), Some(&Data::String(report.from.clone())));
    assert_eq!(summary.get_value((1, 1)), Some(&Data::String(report.to.clone())));
    assert_eq!(summary.get_value((2, 1)), Some(&Data::String("2025-03-14T19:00:03.250Z".into())));
    let totals = serde_json::to_value(&report.totals).unwrap();
    let mut seen = 0;
    for row in 5.. {
        let Some(Data::String(key)) = summary.get_value((row, 1)) else { break };
        let expected = totals[key.as_str()].as_i64().unwrap();
        assert_cell_is(summary.get_value((row, 2)).unwrap(), &expected.to_string(), key);
        if key.ends_with("_tiyn") {
            let tenge = format!("{}.{:02}", expected / 100, expected % 100);
            assert_cell_is(summary.get_value((row, 3)).unwrap(), &tenge, key);
        }
        seen += 1;
    }
    assert_eq!(seen, totals.as_object().unwrap().len() - 3, "every figure but the region's code and names");
}

#[test]
fn figures_a_double_cannot_hold_are_written_as_exact_text() {
    let mut report = sample();
    report.regions[0].vouchers_issued_tiyn = Tiyn::new((1 << 60) + 1);
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(render(&report, Format::Xlsx).unwrap())).unwrap();
    let range = book.worksheet_range("Регионы").unwrap();
    assert_eq!(range.get_value((1, 4)), Some(&Data::String("1152921504606846977".into())));
    assert_eq!(range.get_value((1, 5)), Some(&Data::String("11529215046068469.77".into())));
}

#[test]
fn format_names() {
    assert_eq!("xlsx".parse::<Format>().unwrap(), Format::Xlsx);
    assert!("xls".parse::<Format>().is_err());
    assert_eq!(
        "CSV".parse::<Format>().unwrap_err().to_string(),
        "unknown report format \"CSV\" (expected csv, csv-ru, xlsx or json)"
    );
    assert_eq!("csv-ru".parse::<Format>().unwrap(), Format::CsvRu);
    assert_eq!(Format::CsvRu.extension(), "csv");
    assert_eq!(Format::Json.extension(), "json");
    assert_eq!(Format::Xlsx.content_type(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
}
