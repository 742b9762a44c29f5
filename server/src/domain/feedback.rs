//! What recipients said of the shops (Alg. p.29), read back: ratings and complaints summarised per
//! shop for the reports, and the month's complaints listed for the operator — with the akimat each
//! went to and its delivery's state, and no IIN or phone.

use std::collections::BTreeMap;

use azyq_shared::api::{ComplaintView, Complaints, DeliveryKind, ShopFeedback, ShopRatings};
use azyq_shared::{BusinessDay, Month};
use chrono::{Days, NaiveDateTime};
use diesel::prelude::*;

use super::complaints::akimat;
use super::deliveries;
use crate::db::schema::{baskets, complaints, feedback, shops};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// Which ratings and complaints a summary counts.
#[derive(Debug, Clone, Copy)]
pub enum Period {
    /// Given or filed on these business days (the daily report, the pilot summary).
    Days { from: BusinessDay, to: BusinessDay },
    /// Ratings of the month's baskets, complaints about the month's days (a shop's month).
    Month(Month),
}

/// Per shop: ratings (count, sum, average) and complaints, for the period; only shops with any.
pub fn by_shop(conn: &mut Conn, period: Period, shop: Option<&str>) -> AppResult<BTreeMap<String, ShopFeedback>> {
    // Days are instants [start, end) in UTC; a month is the baskets' and complaints' own column.
    let (days, month) = match period {
        Period::Days { from, to } => {
            let start = from.start_instant().naive_utc();
            let end = to.date().checked_add_days(Days::new(1)).map(|d| BusinessDay(d).start_instant().naive_utc());
            (Some((start, end.unwrap_or(NaiveDateTime::MAX))), None)
        }
        Period::Month(m) => (None, Some(m.to_string())),
    };
    let ratings: Vec<(String, i32)> = with_conn!(conn, c => {
        let mut q = feedback::table
            .inner_join(baskets::table.on(baskets::id.eq(feedback::basket_id)))
            .select((baskets::shop_id, feedback::rating))
            .into_boxed();
        if let Some((start, end)) = days {
            q = q.filter(feedback::created_at.ge(start)).filter(feedback::created_at.lt(end));
        }
        if let Some(m) = &month {
            q = q.filter(baskets::month.eq(m));
        }
        if let Some(s) = shop {
            q = q.filter(baskets::shop_id.eq(s));
        }
        q.load(c)
    })?;
    let filed: Vec<String> = with_conn!(conn, c => {
        let mut q = complaints::table.select(complaints::shop_id).into_boxed();
        if let Some((start, end)) = days {
            q = q.filter(complaints::created_at.ge(start)).filter(complaints::created_at.lt(end));
        }
        if let Some(m) = &month {
            q = q.filter(complaints::month.eq(m));
        }
        if let Some(s) = shop {
            q = q.filter(complaints::shop_id.eq(s));
        }
        q.load(c)
    })?;
    let mut sums: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (shop_id, rating) in ratings {
        let e = sums.entry(shop_id).or_default();
        e.0 += 1;
        e.1 += i64::from(rating);
    }
    for shop_id in filed {
        sums.entry(shop_id).or_default().2 += 1;
    }
    Ok(sums.into_iter().map(|(shop, (n, sum, complaints))| (shop, ShopFeedback::new(n, sum, complaints))).collect())
}

/// Shops' names and regions, by id.
pub fn shop_names(conn: &mut Conn, ids: &[&String]) -> AppResult<BTreeMap<String, (String, String)>> {
    let rows: Vec<(String, String, String)> = with_conn!(conn, c => shops::table
        .filter(shops::shop_id.eq_any(ids))
        .select((shops::shop_id, shops::name, shops::region))
        .load(c))?;
    Ok(rows.into_iter().map(|(id, name, region)| (id, (name, region))).collect())
}

/// How many complaints the operator's list shows at most.
pub const LIST_LIMIT: i64 = 2_000;

type Row = (i64, Option<i64>, Option<i32>, String, String, String, String, NaiveDateTime, Option<String>, String);

/// `GET /api/v1/complaints?month=`: the complaints about the month's days, oldest first, with the
/// akimat and the delivery's state; and each shop's ratings of the month's baskets.
pub fn list(conn: &mut Conn, month: Month) -> AppResult<Complaints> {
    let rows: Vec<Row> = with_conn!(conn, c => complaints::table
        .inner_join(shops::table.on(shops::shop_id.eq(complaints::shop_id)))
        .left_join(feedback::table.on(feedback::basket_id.nullable().eq(complaints::basket_id)))
        .filter(complaints::month.eq(month.as_ref()))
        .order(complaints::id)
        .limit(LIST_LIMIT)
        .select((
            complaints::id,
            complaints::basket_id,
            feedback::rating.nullable(),
            complaints::shop_id,
            shops::name,
            complaints::region,
            complaints::occurred_on,
            complaints::created_at,
            complaints::complainant_masked,
            complaints::text,
        ))
        .load(c))?;
    let keys: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
    let mut states = deliveries::states(conn, DeliveryKind::Complaint, &keys)?;
    let complaints = rows
        .into_iter()
        .map(|(id, basket_id, rating, shop_id, shop_name, region, occurred_on, created_at, masked, text)| {
            ComplaintView {
                complaint_id: id,
                basket_id,
                rating,
                shop_id,
                shop_name,
                occurred_on,
                filed_at: created_at.and_utc(),
                complainant: masked,
                text,
                akimat: akimat(&region),
                delivery: states.remove(&id.to_string()),
            }
        })
        .collect();
    let summary = by_shop(conn, Period::Month(month), None)?;
    let names = shop_names(conn, &summary.keys().collect::<Vec<_>>())?;
    let ratings = summary
        .into_iter()
        .map(|(shop_id, feedback)| {
            let (shop_name, region) = names.get(&shop_id).cloned().unwrap_or_default();
            ShopRatings { shop_id, shop_name, region, feedback }
        })
        .collect();
    Ok(Complaints { month: month.to_string(), complaints, ratings })
}
