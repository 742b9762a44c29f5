//! The complaints recipients filed, with a basket's rating or without a basket, newest first, as
//! the console lists them: each with the akimat's region it is routed to and its delivery to
//! e-Otinish.

use std::collections::HashMap;

use azyq_shared::api::{DeliveryKind, DeliveryStatus};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{complaints, deliveries, feedback, shops};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// Most complaints the page lists at once.
pub const PAGE: i64 = 200;

/// One complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    pub filed_at: DateTime<Utc>,
    /// The basket rated, or none for a family refused at the till.
    pub basket_id: Option<i64>,
    pub shop_id: String,
    /// The shop's name (empty if the shop is gone).
    pub shop_name: String,
    /// The region whose akimat answers it.
    pub region: String,
    pub rating: Option<i32>,
    pub text: String,
    /// Handed on to e-Otinish, or still waiting in the queue.
    pub sent_at: Option<DateTime<Utc>>,
}

type Row = (i64, NaiveDateTime, Option<i64>, String, Option<String>, String, Option<i32>, String);

/// The latest [`PAGE`] complaints, newest first.
pub fn latest(conn: &mut Conn) -> AppResult<Vec<Complaint>> {
    let rows: Vec<Row> = with_conn!(conn, c => complaints::table
        .left_join(shops::table.on(shops::shop_id.eq(complaints::shop_id)))
        .left_join(feedback::table.on(feedback::basket_id.nullable().eq(complaints::basket_id)))
        .order((complaints::created_at.desc(), complaints::id.desc()))
        .limit(PAGE)
        .select((
            complaints::id,
            complaints::created_at,
            complaints::basket_id,
            complaints::shop_id,
            shops::name.nullable(),
            complaints::region,
            feedback::rating.nullable(),
            complaints::text,
        ))
        .load(c))?;
    let keys: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
    let sent: HashMap<String, NaiveDateTime> = with_conn!(conn, c => deliveries::table
        .filter(deliveries::kind.eq(DeliveryKind::Complaint.as_str()))
        .filter(deliveries::status.eq(DeliveryStatus::Delivered.as_str()))
        .filter(deliveries::delivery_key.eq_any(&keys))
        .select((deliveries::delivery_key, deliveries::delivered_at.assume_not_null()))
        .load::<(String, NaiveDateTime)>(c))?
    .into_iter()
    .collect();
    Ok(rows
        .into_iter()
        .map(|(id, created, basket_id, shop_id, shop_name, region, rating, text)| Complaint {
            filed_at: created.and_utc(),
            basket_id,
            shop_id,
            shop_name: shop_name.unwrap_or_default(),
            region,
            rating,
            text,
            sent_at: sent.get(&id.to_string()).map(|s| s.and_utc()),
        })
        .collect())
}
