//! The recipient's side of redemption: history (Alg. p.27) and feedback (Alg. p.29).

use std::collections::HashSet;

use azyq_shared::api::{BasketStatus, ErrorCode, FeedbackRequest, FeedbackSaved, HistoryBasket};
use azyq_shared::{BusinessDay, Iin, Tiyn};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::complaints::{self, BasketComplaint};
use super::redeem::{self};
use super::wallet::families_of;
use crate::db::audit::{self, Entry};
use crate::db::schema::{baskets, feedback, shops};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

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
            offline: false,
        });
    }
    // Offline baskets (SPEC §3.9) are marked; their `at` is the time they were sold.
    let ids: Vec<i64> = out.iter().map(|b| b.basket_id).collect();
    let offline: HashSet<i64> = super::offline::offline_baskets(conn, &ids)?.into_iter().collect();
    for b in &mut out {
        b.offline = offline.contains(&b.basket_id);
    }
    Ok(out)
}

/// Rates the shop of a paid basket, once; a complaint is filed with it and queued for e-Otinish,
/// routed to the akimat of the shop's region.
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
    let complaint = match req.complaint.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(text) => Some(super::text::free_text("complaint", text, complaints::MAX_TEXT)?), // a field, not a state
        None => None,
    };
    type Row = (String, String, String, String, Option<NaiveDateTime>, NaiveDateTime);
    let row: Option<Row> = with_conn!(conn, c => baskets::table
        .find(basket_id)
        .select((baskets::month, baskets::family_id, baskets::shop_id, baskets::status, baskets::captured_at, baskets::created_at))
        .first(c)
        .optional())?;
    let families = families_of(conn, iin)?;
    let Some((month, family_id, shop_id, status, captured_at, created_at)) =
        row.filter(|r| families.contains(&(r.0.clone(), r.1.clone())))
    else {
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
            feedback::complaint.eq(&complaint),
            feedback::created_at.eq(now.naive_utc()),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    if inserted != 1 {
        return Err(AppError::new(ErrorCode::BasketState, "Отзыв об этой покупке уже оставлен").with("status", "rated"));
    }
    if let Some(text) = &complaint {
        let paid_on = BusinessDay::of(captured_at.unwrap_or(created_at).and_utc());
        let filed = BasketComplaint {
            basket_id,
            shop_id: &shop_id,
            month: &month,
            family_id: &family_id,
            rating: req.rating,
            paid_on,
            text,
        };
        complaints::file_with_basket(conn, iin, &filed, now)?;
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
