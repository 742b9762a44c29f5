//! The SDU return (Alg. p.17) and a shop's monthly reconciliation (Alg. p.8-12).

use azyq_shared::api::{
    BasketStatus, FamilyStatus, ReconciledBasket, ReconciliationTotals, SduFamily, SduReturn, ShopReconciliation,
};
use azyq_shared::{Month, Tiyn};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{baskets, family_months, refunds};
use crate::db::Conn;
use crate::domain::feedback::Period;
use crate::domain::redeem;
use crate::error::AppResult;
use crate::with_conn;

/// The month's families with no phone, refusals and no answers.
pub fn sdu_return(conn: &mut Conn, month: Month) -> AppResult<SduReturn> {
    let rows: Vec<(String, String, FamilyStatus, NaiveDateTime)> = with_conn!(conn, c => family_months::table
        .filter(family_months::month.eq(month.as_ref()))
        .filter(family_months::status.eq_any([FamilyStatus::NoPhone, FamilyStatus::Refused, FamilyStatus::NoAnswer]))
        .order(family_months::family_id)
        .select((family_months::family_id, family_months::kato, family_months::status, family_months::status_at))
        .load(c))?;
    Ok(SduReturn {
        month: month.to_string(),
        families: rows
            .into_iter()
            .map(|(family_id, kato, status, at)| SduFamily { family_id, kato, status, status_at: at.and_utc() })
            .collect(),
    })
}

/// (id, captured at, status, discount, paid)
type BasketRow = (i64, Option<NaiveDateTime>, BasketStatus, Tiyn, Option<Tiyn>);

/// Every captured and refunded basket of the shop in the month, with lines and totals.
pub fn reconciliation(conn: &mut Conn, shop_id: &str, month: Month) -> AppResult<ShopReconciliation> {
    let (shop_name, _) = redeem::shop_of(conn, shop_id)?;
    let rows: Vec<BasketRow> = with_conn!(conn, c => baskets::table
        .filter(baskets::shop_id.eq(shop_id))
        .filter(baskets::month.eq(month.as_ref()))
        .filter(baskets::status.eq_any([BasketStatus::Captured, BasketStatus::PartlyRefunded, BasketStatus::Refunded]))
        .order(baskets::id)
        .select((baskets::id, baskets::captured_at, baskets::status, baskets::discount_tiyn, baskets::paid_tiyn))
        .load(c))?;
    let mut out = Vec::with_capacity(rows.len());
    let mut totals = ReconciliationTotals::default();
    for (id, captured_at, status, discount_tiyn, paid) in rows {
        let refunded: Vec<Tiyn> = with_conn!(conn, c => refunds::table.filter(refunds::basket_id.eq(id)).select(refunds::refunded_tiyn).load(c))?;
        let refunded_tiyn: Tiyn = refunded.iter().sum();
        let paid_tiyn = paid.unwrap_or(Tiyn::ZERO);
        totals.baskets += 1;
        totals.discount_tiyn += discount_tiyn;
        totals.paid_tiyn += paid_tiyn;
        totals.refunded_tiyn += refunded_tiyn;
        out.push(ReconciledBasket {
            basket_id: id,
            captured_at: captured_at.map(|t| t.and_utc()).unwrap_or_default(),
            status,
            discount_tiyn,
            paid_tiyn,
            refunded_tiyn,
            lines: redeem::lines_of(conn, id)?,
        });
    }
    totals.net_discount_tiyn = totals.discount_tiyn - totals.refunded_tiyn;
    let feedback = crate::domain::feedback::by_shop(conn, Period::Month(month), Some(shop_id))?
        .remove(shop_id)
        .unwrap_or_default();
    Ok(ShopReconciliation {
        shop_id: shop_id.to_owned(),
        shop_name,
        month: month.to_string(),
        baskets: out,
        totals,
        feedback,
    })
}
