//! Price limits (SPEC §3.3; what eWIC calls not-to-exceed prices): per SZPT group and region, the
//! highest shelf price a till may declare and the group's discount cap. Authorise refuses a higher
//! shelf price (`price_over_limit`), so a shop cannot inflate the shelf price to draw more discount
//! from the voucher; the cap that applies to a line is the product's own, else its group's in the
//! shop's region, else the default 15% ([`effective_cap`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use azyq_shared::api::{PriceLimit, DEFAULT_DISCOUNT_CAP_BP};
use azyq_shared::{Region, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::catalog;
use crate::db::audit::{self, Entry};
use crate::db::schema::{localities, price_limits};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// What applies to one group in one region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rule {
    pub max_shelf: Option<Tiyn>,
    pub cap_bp: Option<i32>,
}

/// The cap of a line: the product's own where set, else its group's in the region, else 15%.
pub fn effective_cap(product_cap: Option<i32>, rule: Option<&Rule>) -> i32 {
    product_cap.or(rule.and_then(|r| r.cap_bp)).unwrap_or(DEFAULT_DISCOUNT_CAP_BP)
}

type LimitRow = (String, String, Option<Tiyn>, Option<i32>);

/// The whole table, by group then region.
pub fn get(conn: &mut Conn) -> AppResult<Vec<PriceLimit>> {
    let rows: Vec<LimitRow> = with_conn!(conn, c => price_limits::table
        .order((price_limits::group_code, price_limits::region))
        .select((price_limits::group_code, price_limits::region, price_limits::max_shelf_price_tiyn, price_limits::discount_cap_bp))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(group, region, max_shelf_price_tiyn, discount_cap_bp)| PriceLimit {
            group,
            region,
            max_shelf_price_tiyn,
            discount_cap_bp,
        })
        .collect())
}

/// The rules of one region, by group code.
pub fn for_region(conn: &mut Conn, region: &str) -> AppResult<HashMap<String, Rule>> {
    let rows: Vec<(String, Option<Tiyn>, Option<i32>)> = with_conn!(conn, c => price_limits::table
        .filter(price_limits::region.eq(region))
        .select((price_limits::group_code, price_limits::max_shelf_price_tiyn, price_limits::discount_cap_bp))
        .load(c))?;
    Ok(rows.into_iter().map(|(group, max_shelf, cap_bp)| (group, Rule { max_shelf, cap_bp })).collect())
}

/// Replaces the table. Every row names a group in force and a region of a pilot locality, and sets
/// a positive price, a cap of 0–100 %, or both; one row per (group, region). Nothing is stored
/// unless every row is good.
pub fn put(conn: &mut Conn, list: &[PriceLimit], actor: &str, now: DateTime<Utc>) -> AppResult<Vec<PriceLimit>> {
    let groups: HashSet<String> = catalog::groups_in_force(conn)?.into_iter().map(|g| g.code).collect();
    let regions: BTreeSet<String> =
        with_conn!(conn, c => localities::table.filter(localities::pilot.eq(true)).select(localities::region).load::<String>(c))?
            .into_iter()
            .collect();
    let mut seen = HashSet::new();
    for (i, l) in list.iter().enumerate() {
        let field = |f: &str| format!("limits[{i}].{f}");
        if !groups.contains(&l.group) {
            return Err(AppError::validation(
                &field("group"),
                format!("группа «{}» не входит в перечень СЗПТ", l.group),
            ));
        }
        let known = Region::parse(&l.region).is_ok() && regions.contains(&l.region);
        if !known {
            return Err(AppError::validation(
                &field("region"),
                format!("регион «{}» — не регион пилотного населённого пункта (две первые цифры КАТО)", l.region),
            ));
        }
        if l.max_shelf_price_tiyn.is_some_and(|p| p <= Tiyn::ZERO) {
            return Err(AppError::validation(
                &field("max_shelf_price_tiyn"),
                "предельная цена должна быть больше нуля",
            ));
        }
        if l.discount_cap_bp.is_some_and(|c| !(0..=10_000).contains(&c)) {
            return Err(AppError::validation(
                &field("discount_cap_bp"),
                "предел скидки: от 0 до 10000 базисных пунктов (до 100 %)",
            ));
        }
        if l.max_shelf_price_tiyn.is_none() && l.discount_cap_bp.is_none() {
            return Err(AppError::validation(
                &format!("limits[{i}]"),
                "укажите предельную цену, предел скидки или оба",
            ));
        }
        if !seen.insert((l.group.as_str(), l.region.as_str())) {
            return Err(AppError::validation(
                &format!("limits[{i}]"),
                format!("группа {} в регионе {} повторяется", l.group, l.region),
            ));
        }
    }
    with_conn!(conn, c => diesel::delete(price_limits::table).execute(c))?;
    let rows: Vec<_> = list
        .iter()
        .map(|l| {
            (
                price_limits::group_code.eq(&l.group),
                price_limits::region.eq(&l.region),
                price_limits::max_shelf_price_tiyn.eq(l.max_shelf_price_tiyn),
                price_limits::discount_cap_bp.eq(l.discount_cap_bp),
            )
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        with_conn!(conn, c => diesel::insert_into(price_limits::table).values(chunk).execute(c))?;
    }
    audit::record(
        conn,
        &[Entry::new(now, actor, "price_limits", "table", None, "replaced").detail(format!("{} limits", list.len()))],
    )?;
    get(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_product_cap_wins_then_the_group_then_the_default() {
        let group = Rule { max_shelf: None, cap_bp: Some(1_000) };
        assert_eq!(effective_cap(Some(2_000), Some(&group)), 2_000);
        assert_eq!(effective_cap(None, Some(&group)), 1_000);
        assert_eq!(effective_cap(None, Some(&Rule { max_shelf: Some(Tiyn::new(5)), cap_bp: None })), 1_500);
        assert_eq!(effective_cap(None, None), DEFAULT_DISCOUNT_CAP_BP);
    }
}
