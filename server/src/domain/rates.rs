//! The voucher amount per member: 1 MRP by default (Alg. p.4), or the operator's regional rate (p.2.5).

use std::collections::BTreeMap;

use azyq_shared::api::{ErrorCode, Rates};
use azyq_shared::{Month, Region, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::audit::{self, Entry};

use crate::db::schema::rates;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The monthly calculation index by year, as set by the republican budget laws: the default rate.
/// A year not listed here needs a rate set by the operator (`PUT /api/v1/rates/{month}`).
pub const MRP_BY_YEAR: &[(i32, Tiyn)] = &[(2025, Tiyn::from_tenge(3_932)), (2026, Tiyn::from_tenge(4_325))];

/// The rate row key for a month's default.
const DEFAULT_REGION: &str = "";

pub fn mrp(year: i32) -> Option<Tiyn> {
    MRP_BY_YEAR.iter().find(|(y, _)| *y == year).map(|(_, t)| *t)
}

/// The amount of one member's voucher in `region` for `month`.
pub fn rate_for(conn: &mut Conn, month: Month, region: &str) -> AppResult<Option<Tiyn>> {
    let rows: Vec<(String, Tiyn)> = with_conn!(conn, c => rates::table
        .filter(rates::month.eq(month.as_ref()))
        .filter(rates::region.eq(region).or(rates::region.eq(DEFAULT_REGION)))
        .select((rates::region, rates::amount_tiyn))
        .load(c))?;
    let regional = rows.iter().find(|(r, _)| r == region).map(|(_, a)| *a);
    let default = rows.iter().find(|(r, _)| r == DEFAULT_REGION).map(|(_, a)| *a);
    Ok(regional.or(default).or_else(|| mrp(month.year())))
}

/// Refuses work on a month that has no rate at all (neither set nor an MRP year we know).
pub fn require_any_rate(conn: &mut Conn, month: Month) -> AppResult<()> {
    if mrp(month.year()).is_some() {
        return Ok(());
    }
    let n: i64 = with_conn!(conn, c => rates::table.filter(rates::month.eq(month.as_ref())).count().get_result(c))?;
    if n == 0 {
        return Err(AppError::new(
            ErrorCode::RateNotSet,
            format!("Для {month} не задан размер ваучера: задайте его через PUT /api/v1/rates/{month}"),
        ));
    }
    Ok(())
}

/// Replaces the month's rates.
pub fn put(conn: &mut Conn, month: Month, body: &Rates, actor: &str, now: DateTime<Utc>) -> AppResult<Rates> {
    if body.default_tiyn <= Tiyn::ZERO {
        return Err(AppError::validation("default_tiyn", "размер ваучера должен быть больше нуля"));
    }
    let mut rows = vec![(DEFAULT_REGION.to_owned(), body.default_tiyn)];
    for (region, amount) in &body.regions {
        Region::parse(region).map_err(|e| AppError::validation("regions", e.to_string()))?;
        if *amount <= Tiyn::ZERO {
            return Err(AppError::validation(
                "regions",
                format!("размер для региона {region} должен быть больше нуля"),
            ));
        }
        rows.push((region.clone(), *amount));
    }
    with_conn!(conn, c => diesel::delete(rates::table.filter(rates::month.eq(month.as_ref()))).execute(c))?;
    let values: Vec<_> = rows
        .iter()
        .map(|(r, a)| (rates::month.eq(month.as_ref()), rates::region.eq(r), rates::amount_tiyn.eq(a)))
        .collect();
    with_conn!(conn, c => diesel::insert_into(rates::table).values(&values).execute(c))?;
    let detail = rows
        .iter()
        .map(|(r, a)| format!("{}={}", if r.is_empty() { "default" } else { r }, a.get()))
        .collect::<Vec<_>>();
    audit::record(conn, &[Entry::new(now, actor, "rates", month.as_ref(), None, "set").detail(detail.join(" "))])?;
    get(conn, month)
}

/// The month's rates as set, or the MRP default when none is.
pub fn get(conn: &mut Conn, month: Month) -> AppResult<Rates> {
    let rows: Vec<(String, Tiyn)> = with_conn!(conn, c => rates::table
        .filter(rates::month.eq(month.as_ref()))
        .select((rates::region, rates::amount_tiyn))
        .load(c))?;
    let mut regions = BTreeMap::new();
    let mut default = mrp(month.year());
    for (region, amount) in rows {
        if region == DEFAULT_REGION {
            default = Some(amount);
        } else {
            regions.insert(region, amount);
        }
    }
    match default {
        Some(default_tiyn) => Ok(Rates { default_tiyn, regions }),
        None => Err(AppError::new(ErrorCode::RateNotSet, format!("Для {month} не задан размер ваучера"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrp_of_the_budget_laws() {
        assert_eq!(mrp(2025), Some(Tiyn::new(393_200)));
        assert_eq!(mrp(2026), Some(Tiyn::new(432_500)));
        assert_eq!(mrp(2031), None);
    }
}
