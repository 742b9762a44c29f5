//! The complaints recipients filed with their rating of a purchase, newest first, as the console
//! lists them: the feedback and its place in the queue to e-Otinish (`complaints_outbox`).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{complaints_outbox, feedback, shops};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// Most complaints the page lists at once.
pub const PAGE: i64 = 200;

/// One complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    pub filed_at: DateTime<Utc>,
    pub basket_id: i64,
    pub shop_id: String,
    /// The shop's name (empty if the shop is gone).
    pub shop_name: String,
    pub rating: Option<i32>,
    pub text: String,
    /// Handed on to e-Otinish (`sent_at` set), or still waiting in the queue.
    pub sent_at: Option<DateTime<Utc>>,
}

type Row = (NaiveDateTime, i64, String, Option<String>, Option<i32>, String, Option<NaiveDateTime>);

/// The latest [`PAGE`] complaints, newest first.
pub fn latest(conn: &mut Conn) -> AppResult<Vec<Complaint>> {
    let rows: Vec<Row> = with_conn!(conn, c => complaints_outbox::table
        .left_join(shops::table.on(shops::shop_id.eq(complaints_outbox::shop_id)))
        .left_join(feedback::table.on(feedback::basket_id.eq(complaints_outbox::basket_id)))
        .order((complaints_outbox::created_at.desc(), complaints_outbox::id.desc()))
        .limit(PAGE)
        .select((
            complaints_outbox::created_at,
            complaints_outbox::basket_id,
            complaints_outbox::shop_id,
            shops::name.nullable(),
            feedback::rating.nullable(),
            complaints_outbox::text,
            complaints_outbox::sent_at,
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(created, basket_id, shop_id, shop_name, rating, text, sent)| Complaint {
            filed_at: created.and_utc(),
            basket_id,
            shop_id,
            shop_name: shop_name.unwrap_or_default(),
            rating,
            text,
            sent_at: sent.map(|s| s.and_utc()),
        })
        .collect())
}
