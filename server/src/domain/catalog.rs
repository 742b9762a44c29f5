//! The SZPT catalogue: product groups in force and the products (GTINs) that belong to them.
//! Both are data the operator loads; the shipped default is the 19 groups of order 166-НҚ.

use std::collections::HashSet;

use azyq_shared::api::{CatalogGroup, Product, Unit, DEFAULT_DISCOUNT_CAP_BP};
use azyq_shared::gs1::Gtin;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::text;
use crate::db::audit::{self, Entry};
use crate::db::schema::{catalog_groups, products};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The 19 groups of order 166-НҚ of 11 May 2023, the list the pilot order cites.
pub const SHIPPED_GROUPS_CSV: &str = include_str!("../../data/szpt-groups-166.csv");

/// Reads a `code,name_ru,name_kk` CSV of groups.
pub fn parse_groups_csv(text: &str) -> AppResult<Vec<CatalogGroup>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, rec) in reader.deserialize::<CatalogGroup>().enumerate() {
        out.push(rec.map_err(|e| AppError::validation(&format!("row {}", i + 1), e.to_string()))?);
    }
    Ok(out)
}

/// Loads the shipped groups into an empty catalogue (first start); never overwrites the operator's.
pub fn seed_groups(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<()> {
    let n: i64 = with_conn!(conn, c => catalog_groups::table.count().get_result(c))?;
    if n == 0 {
        put_groups(conn, &parse_groups_csv(SHIPPED_GROUPS_CSV)?, "system", now)?;
    }
    Ok(())
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Replaces the groups in force. A group left out stays known (old sales name it) but is no longer
/// in force; a code is never reused for another group, so an existing code keeps its meaning.
pub fn put_groups(
    conn: &mut Conn,
    groups: &[CatalogGroup],
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<Vec<CatalogGroup>> {
    let mut seen = HashSet::new();
    for (i, g) in groups.iter().enumerate() {
        if !valid_code(&g.code) {
            return Err(AppError::validation(
                &format!("groups[{i}].code"),
                "код группы: латиница в нижнем регистре, цифры и _",
            ));
        }
        text::label(&format!("groups[{i}].name_ru"), &g.name_ru, text::NAME_MAX)?;
        text::label(&format!("groups[{i}].name_kk"), &g.name_kk, text::NAME_MAX)?;
        if !seen.insert(g.code.as_str()) {
            return Err(AppError::validation(&format!("groups[{i}].code"), format!("код {} повторяется", g.code)));
        }
    }
    with_conn!(conn, c => diesel::update(catalog_groups::table).set(catalog_groups::in_force.eq(false)).execute(c))?;
    for g in groups {
        let row = (
            catalog_groups::code.eq(&g.code),
            catalog_groups::name_ru.eq(g.name_ru.trim()),
            catalog_groups::name_kk.eq(g.name_kk.trim()),
            catalog_groups::in_force.eq(true),
        );
        with_conn!(conn, c => diesel::insert_into(catalog_groups::table)
            .values(row)
            .on_conflict(catalog_groups::code)
            .do_update()
            .set((
                catalog_groups::name_ru.eq(g.name_ru.trim()),
                catalog_groups::name_kk.eq(g.name_kk.trim()),
                catalog_groups::in_force.eq(true),
            ))
            .execute(c))?;
    }
    audit::record(
        conn,
        &[Entry::new(now, actor, "catalog_groups", "in_force", None, "replaced")
            .detail(format!("{} groups", groups.len()))],
    )?;
    groups_in_force(conn)
}

pub fn groups_in_force(conn: &mut Conn) -> AppResult<Vec<CatalogGroup>> {
    load_groups(conn, true)
}

/// Every group the catalogue has known, retired ones included: a code is never reused, so the
/// till can name the goods of an old sale by it.
pub fn groups_known(conn: &mut Conn) -> AppResult<Vec<CatalogGroup>> {
    load_groups(conn, false)
}

fn load_groups(conn: &mut Conn, in_force_only: bool) -> AppResult<Vec<CatalogGroup>> {
    let rows: Vec<(String, String, String)> = with_conn!(conn, c => {
        let mut q = catalog_groups::table
            .order(catalog_groups::code)
            .select((catalog_groups::code, catalog_groups::name_ru, catalog_groups::name_kk))
            .into_boxed();
        if in_force_only {
            q = q.filter(catalog_groups::in_force.eq(true));
        }
        q.load(c)
    })?;
    Ok(rows.into_iter().map(|(code, name_ru, name_kk)| CatalogGroup { code, name_ru, name_kk }).collect())
}

/// A CSV row of the product list: `gtin,group,name,unit,discount_cap_bp` (cap optional).
#[derive(Debug, serde::Deserialize)]
struct ProductRow {
    gtin: String,
    group: String,
    name: String,
    unit: String,
    #[serde(default)]
    discount_cap_bp: Option<i32>,
}

/// Reads the product list from CSV, naming the row of the first error.
pub fn parse_products_csv(text: &[u8]) -> AppResult<Vec<Product>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text);
    let mut out = Vec::new();
    for (i, rec) in reader.deserialize::<ProductRow>().enumerate() {
        let row = rec.map_err(|e| AppError::validation(&format!("row {}", i + 1), format!("строка {}: {e}", i + 1)))?;
        let unit = Unit::parse(&row.unit)
            .ok_or_else(|| AppError::validation(&format!("row {}", i + 1), "единица измерения: piece или kg"))?;
        out.push(Product {
            gtin: row.gtin,
            group: row.group,
            name: row.name,
            unit,
            discount_cap_bp: row.discount_cap_bp.unwrap_or(DEFAULT_DISCOUNT_CAP_BP),
        });
    }
    Ok(out)
}

/// A product list as uploaded: JSON `{"products":[…]}` or CSV.
pub fn products_from_upload(body: &[u8], json: bool) -> AppResult<Vec<Product>> {
    if json {
        Ok(serde_json::from_slice::<azyq_shared::api::Products>(body)
            .map_err(|e| AppError::validation("body", format!("неверный JSON: {e}")))?
            .products)
    } else {
        parse_products_csv(body)
    }
}

/// Replaces the product list. Every product must name a group in force.
pub fn put_products(conn: &mut Conn, list: &[Product], actor: &str, now: DateTime<Utc>) -> AppResult<usize> {
    let groups: HashSet<String> = groups_in_force(conn)?.into_iter().map(|g| g.code).collect();
    let mut seen = HashSet::new();
    let mut rows = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let field = |f: &str| format!("products[{i}].{f}");
        let gtin = Gtin::parse(&p.gtin).map_err(|e| AppError::validation(&field("gtin"), e.to_string()))?;
        if !groups.contains(&p.group) {
            return Err(AppError::validation(&field("group"), format!("группа {} не входит в перечень СЗПТ", p.group)));
        }
        text::label(&field("name"), &p.name, text::NAME_MAX)?;
        if !(0..=10_000).contains(&p.discount_cap_bp) {
            return Err(AppError::validation(
                &field("discount_cap_bp"),
                "предел скидки: от 0 до 10000 базисных пунктов",
            ));
        }
        if !seen.insert(gtin.as_ref().to_owned()) {
            return Err(AppError::validation(&field("gtin"), format!("GTIN {gtin} повторяется")));
        }
        rows.push((
            products::gtin.eq(gtin.as_ref().to_owned()),
            products::group_code.eq(p.group.clone()),
            products::name.eq(p.name.trim().to_owned()),
            products::unit.eq(p.unit.as_str()),
            products::discount_cap_bp.eq(p.discount_cap_bp),
        ));
    }
    with_conn!(conn, c => diesel::delete(products::table).execute(c))?;
    for chunk in rows.chunks(1_000) {
        with_conn!(conn, c => diesel::insert_into(products::table).values(chunk).execute(c))?;
    }
    audit::record(
        conn,
        &[Entry::new(now, actor, "catalog", "products", None, "replaced").detail(format!("{} products", rows.len()))],
    )?;
    Ok(rows.len())
}

pub fn products(conn: &mut Conn) -> AppResult<Vec<Product>> {
    let rows: Vec<(String, String, String, String, i32)> = with_conn!(conn, c => products::table
        .order(products::gtin)
        .select((products::gtin, products::group_code, products::name, products::unit, products::discount_cap_bp))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(gtin, group, name, unit, discount_cap_bp)| Product {
            gtin,
            group,
            name,
            unit: Unit::parse(&unit).unwrap_or(Unit::Piece),
            discount_cap_bp,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_list_has_the_19_groups_of_order_166() {
        let groups = parse_groups_csv(SHIPPED_GROUPS_CSV).unwrap();
        let codes: Vec<&str> = groups.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "flour",
                "bread",
                "pasta",
                "buckwheat",
                "rice",
                "potatoes",
                "carrots",
                "onions",
                "cabbage",
                "sugar",
                "sunflower_oil",
                "beef",
                "chicken",
                "milk",
                "kefir",
                "butter",
                "eggs",
                "salt",
                "cottage_cheese"
            ]
        );
        assert!(groups.iter().all(|g| valid_code(&g.code) && !g.name_kk.is_empty()));
    }

    #[test]
    fn product_csv_rows_and_default_cap() {
        let csv = "gtin,group,name,unit,discount_cap_bp\n4600000000015,milk,Молоко,piece,\n02000000000084, flour ,Мука,kg,1200\n";
        let p = parse_products_csv(csv.as_bytes()).unwrap();
        assert_eq!(p[0].discount_cap_bp, 1500);
        assert_eq!(p[1].group, "flour");
        assert_eq!(p[1].unit, Unit::Kg);
        assert!(parse_products_csv(b"gtin,group,name,unit\n1,milk,x,litre\n").is_err());
    }
}
