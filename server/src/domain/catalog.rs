//! The SZPT catalogue: product groups in force and the products (GTINs) that belong to them.
//! Both are data the operator loads; the shipped default is the 19 groups of order 166-НҚ.

use std::collections::HashSet;

use azyq_shared::api::{CatalogGroup, Product, Unit};
use azyq_shared::gs1::{Gtin, Plu};
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

/// A CSV row of the product list: `gtin,group,name,unit,discount_cap_bp[,plu]` (cap and PLU
/// optional; an empty cap means the group's in the shop's region).
#[derive(Debug, serde::Deserialize)]
struct ProductRow {
    gtin: String,
    group: String,
    name: String,
    unit: String,
    #[serde(default)]
    discount_cap_bp: Option<i32>,
    #[serde(default)]
    plu: Option<String>,
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
            discount_cap_bp: row.discount_cap_bp,
            plu: row.plu.filter(|p| !p.trim().is_empty()),
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

/// Replaces the product list. Every product must name a group in force; a PLU (five digits, one
/// product each) only on goods sold by weight, whose scale labels carry it.
pub fn put_products(conn: &mut Conn, list: &[Product], actor: &str, now: DateTime<Utc>) -> AppResult<usize> {
    let groups: HashSet<String> = groups_in_force(conn)?.into_iter().map(|g| g.code).collect();
    let mut seen = HashSet::new();
    let mut plus = HashSet::new();
    let mut rows = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let field = |f: &str| format!("products[{i}].{f}");
        let gtin = Gtin::parse(&p.gtin).map_err(|e| AppError::validation(&field("gtin"), e.to_string()))?;
        if !groups.contains(&p.group) {
            return Err(AppError::validation(&field("group"), format!("группа {} не входит в перечень СЗПТ", p.group)));
        }
        text::label(&field("name"), &p.name, text::NAME_MAX)?;
        if p.discount_cap_bp.is_some_and(|c| !(0..=10_000).contains(&c)) {
            return Err(AppError::validation(
                &field("discount_cap_bp"),
                "предел скидки: от 0 до 10000 базисных пунктов (до 100 %)",
            ));
        }
        if !seen.insert(gtin.as_ref().to_owned()) {
            return Err(AppError::validation(&field("gtin"), format!("GTIN {gtin} повторяется")));
        }
        let plu = match &p.plu {
            None => None,
            Some(raw) => {
                let plu = Plu::parse(raw).map_err(|e| AppError::validation(&field("plu"), e.to_string()))?;
                if p.unit != Unit::Kg {
                    return Err(AppError::validation(
                        &field("plu"),
                        "PLU весовой этикетки — только у товара на вес (unit kg)",
                    ));
                }
                if !plus.insert(plu.clone()) {
                    return Err(AppError::validation(&field("plu"), format!("PLU {plu} уже занят другим товаром")));
                }
                Some(plu.as_str().to_owned())
            }
        };
        rows.push((
            products::gtin.eq(gtin.as_ref().to_owned()),
            products::group_code.eq(p.group.clone()),
            products::name.eq(p.name.trim().to_owned()),
            products::unit.eq(p.unit.as_str()),
            products::discount_cap_bp.eq(p.discount_cap_bp),
            products::plu.eq(plu),
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

type ProductListRow = (String, String, String, String, Option<i32>, Option<String>);

pub fn products(conn: &mut Conn) -> AppResult<Vec<Product>> {
    let rows: Vec<ProductListRow> = with_conn!(conn, c => products::table
        .order(products::gtin)
        .select((products::gtin, products::group_code, products::name, products::unit, products::discount_cap_bp, products::plu))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(gtin, group, name, unit, discount_cap_bp, plu)| Product {
            gtin,
            group,
            name,
            unit: Unit::parse(&unit).unwrap_or(Unit::Piece),
            discount_cap_bp,
            plu,
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
        // No cap of its own: the group's in the region applies, else 15 %.
        assert_eq!(p[0].discount_cap_bp, None);
        assert_eq!(p[1].discount_cap_bp, Some(1200));
        let with_plu = "gtin,group,name,unit,discount_cap_bp,plu\n02000000000084,potatoes,Картофель,kg,,00042\n";
        assert_eq!(parse_products_csv(with_plu.as_bytes()).unwrap()[0].plu.as_deref(), Some("00042"));
        assert_eq!(p[1].group, "flour");
        assert_eq!(p[1].unit, Unit::Kg);
        assert!(parse_products_csv(b"gtin,group,name,unit\n1,milk,x,litre\n").is_err());
    }
}
