//! The recipient's side of redemption: history (Alg. p.27) and feedback (Alg. p.29).

use std::collections::HashSet;

use azyq_shared::api::{BasketStatus, ErrorCode, FeedbackRequest, FeedbackSaved, HistoryBasket};
use azyq_shared::{Iin, Tiyn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::redeem::{self};
use super::wallet::families_of;
use crate::db::audit::{self, Entry};
use crate::db::schema::{baskets, complaints_outbox, feedback, shops};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Longest complaint kept, in characters.
pub const MAX_COMPLAINT: usize = 2_000;

type Row = (i64, String, String, String, String, NaiveDateTime, Option<NaiveDateTime>, Tiyn, Tiyn, BasketStatus);

/// Every basket paid with the family's vouchers: shop, time, lines, status. Newest first.
pub fn history(conn: &mut Conn, iin: &Iin) -> AppResult<Vec<HistoryBasket>> {
    let families = families_of(conn, iin)?;
    let ids: Vec<&String> = families.iter().map(|(_, f)| f).collect::<HashSet<_>>().into_iter().collect();
    let rows: Vec<Row> = with_conn!(conn, c => baskets::table
        .inner_join(shops::table.on(shops::shop_id.eq(baskets::shop_id)))
        .filter(baskets::family_id.eq_any(&ids))
        .order(baskets::id.desc())
        .limit(500)
        .select((
            baskets::id,
            baskets::month,
            baskets::family_id,
            baskets::shop_id,
            shops::name,
            baskets::created_at,
            baskets::captured_at,
            baskets::discount_tiyn,
            baskets::to_pay_tiyn,
            baskets::status,
        ))
        .load(c))?;
    let mut out = Vec::new();
    for (id, month, family, shop_id, shop_name, created, captured, discount_tiyn, to_pay_tiyn, status) in rows {
        if !families.contains(&(month, family)) {
            continue;
        }
        out.push(HistoryBasket {
            basket_id: id,
            shop_id,
            shop_name,
            at: captured.unwrap_or(created).and_utc(),
            status,
            discount_tiyn,
            to_pay_tiyn,
            lines: redeem::lines_of(conn, id)?,
            vouchers: redeem::charges_of(conn, id)?,
        });
    }
    Ok(out)
}

/// Rates the shop of a paid basket, once; a complaint goes to the e-Otinish outbox.
pub fn give_feedback(
    conn: &mut Conn,
    iin: &Iin,
    basket_id: i64,
    req: &FeedbackRequest,
    now: DateTime<Utc>,
) -> AppResult<FeedbackSaved> {
    if !(1..=5).contains(&req.rating) {
        return Err(AppError::validation("rating", "оценка от 1 до 5"));
    }
    let complaint = req.complaint.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if complaint.is_some_and(|c| c.chars().count() > MAX_COMPLAINT) {
        return Err(AppError::validation("complaint", format!("жалоба не длиннее {MAX_COMPLAINT} символов")));
    }
    let row: Option<(String, String, String, String)> = with_conn!(conn, c => baskets::table
        .find(basket_id)
        .select((baskets::month, baskets::family_id, baskets::shop_id, baskets::status))
        .first(c)
        .optional())?;
    let families = families_of(conn, iin)?;
    let Some((_, _, shop_id, status)) = row.filter(|r| families.contains(&(r.0.clone(), r.1.clone()))) else {
        return Err(redeem::basket_not_found());
    };
    if !matches!(
        BasketStatus::parse(&status),
        Some(BasketStatus::Captured | BasketStatus::PartlyRefunded | BasketStatus::Refunded)
    ) {
        return Err(
            AppError::new(ErrorCode::BasketState, "Оценить можно только оплаченную покупку").with("status", status)
        );
    }
    let inserted = with_conn!(conn, c => diesel::insert_into(feedback::table)
        .values((
            feedback::basket_id.eq(basket_id),
            feedback::rating.eq(req.rating),
            feedback::complaint.eq(complaint),
            feedback::created_at.eq(now.naive_utc()),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted != 1 {
        return Err(AppError::new(ErrorCode::BasketState, "Отзыв об этой покупке уже оставлен").with("status", "rated"));
    }
    if let Some(text) = complaint {
        with_conn!(conn, c => diesel::insert_into(complaints_outbox::table)
            .values((
                complaints_outbox::basket_id.eq(basket_id),
                complaints_outbox::shop_id.eq(&shop_id),
                complaints_outbox::text.eq(text),
                complaints_outbox::status.eq("pending"),
                complaints_outbox::created_at.eq(now.naive_utc()),
            ))
            .execute(c))?;
    }
    let actor = super::secrets::recipient_actor(conn, iin)?;
    audit::record(
        conn,
        &[Entry::new(now, &actor, "basket_feedback", basket_id.to_string(), None, "rated").detail(format!(
            "rating={} complaint={}",
            req.rating,
            complaint.is_some()
        ))],
    )?;
    Ok(FeedbackSaved { basket_id, rating: req.rating, complaint_queued: complaint.is_some() })
}
