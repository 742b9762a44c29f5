//! Issue (Alg. p.4, p.23): one voucher per member of a consenting family.

use azyq_shared::api::{ErrorCode, VoucherStatus};
use azyq_shared::Month;
use azyq_shared::Tiyn;
use chrono::{DateTime, Utc};
use diesel::backend::Backend;
use diesel::dsl::{exists, not};
use diesel::expression::{is_aggregate, ValidGrouping};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Text};

use super::{FamilyStatus, Which};
use crate::db::schema::{audit_log, family_months, members, vouchers};
use crate::db::Conn;
use crate::domain::stats::{self, VoucherEvent};
use crate::domain::{bulk, lock_jobs, notices, programme, rates};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Issues one voucher per member of consented families (Alg. p.4, p.23): the amount is the rate of
/// the family's region and month. Idempotent per (member, month): a member with a voucher is skipped.
/// Each family that gets vouchers gets a wallet notice. Outside the programme nothing is issued.
pub fn issue_vouchers(
    conn: &mut Conn,
    month: Month,
    which: Which,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    if !programme::covers(conn, month)? {
        return Ok(0);
    }
    let family_filter = match which {
        Which::All => None,
        Which::Family(f) => Some(f.to_owned()),
    };
    let regions: Vec<String> = with_conn!(conn, c => {
        let mut q = family_months::table
            .filter(family_months::month.eq(month.as_ref()))
            .filter(family_months::status.eq(FamilyStatus::Consented.as_str()))
            .select(family_months::region)
            .distinct()
            .into_boxed();
        if let Some(f) = &family_filter {
            q = q.filter(family_months::family_id.eq(f));
        }
        q.load(c)
    })?;
    // Issue runs are serialised (lock_jobs), so the vouchers past this id with this stamp are ours.
    lock_jobs(conn)?;
    let last_before: i64 =
        with_conn!(conn, c => vouchers::table.select(diesel::dsl::max(vouchers::id)).first::<Option<i64>>(c))?
            .unwrap_or(0);
    // The page cache for the step: a million vouchers land in the vouchers' (family, month) index
    // at random (see `bulk`); the month's member count bounds the vouchers one issue can make.
    let members_of_month = match family_filter {
        None => {
            with_conn!(conn, c => members::table.filter(members::month.eq(month.as_ref())).count().get_result::<i64>(c))?
        }
        Some(_) => 0,
    };
    bulk::with_memory_for(conn, members_of_month.unsigned_abs(), |conn| {
        issue_in(conn, month, &regions, family_filter.as_deref(), (last_before, now), actor)
    })
}

/// The inserts of [`issue_vouchers`]: the vouchers of every region in one INSERT … SELECT, their
/// journal and the families' notices, each one INSERT … SELECT.
fn issue_in(
    conn: &mut Conn,
    month: Month,
    regions: &[String],
    family_filter: Option<&str>,
    (last_before, now): (i64, DateTime<Utc>),
    actor: &str,
) -> AppResult<usize> {
    let ts = now.naive_utc();
    let mut amounts = Vec::with_capacity(regions.len());
    for region in regions {
        let amount = rates::rate_for(conn, month, region)?
            .ok_or_else(|| AppError::new(ErrorCode::RateNotSet, format!("Для {month} не задан размер ваучера")))?;
        amounts.push((region.clone(), amount));
    }
    if amounts.is_empty() {
        return Ok(0);
    }
    let amount = RegionAmount(&amounts);
    // One pass over the month's members for all regions (one pass per region read every member
    // once per region). The whole month's run reads the members in their key order (IIN, the order
    // they are stored in), so the table is read front to back and the vouchers' (month, IIN) keys,
    // which the "not issued yet" test looks up, grow at their right edge; each member's family is
    // one look-up by key. A single family's run goes by the members' family index instead.
    let inserted = with_conn!(conn, c => {
        let mut source = members::table
            .inner_join(
                family_months::table.on(family_months::month
                    .eq(members::month)
                    .and(family_months::family_id.eq(members::family_id))),
            )
            .filter(family_months::month.eq(month.as_ref()))
            .filter(family_months::status.eq(FamilyStatus::Consented.as_str()))
            .filter(family_months::region.eq_any(regions))
            .filter(not(exists(
                vouchers::table.filter(vouchers::month.eq(members::month)).filter(vouchers::iin.eq(members::iin)),
            )))
            .select((
                members::month,
                members::family_id,
                members::iin,
                members::name,
                family_months::region,
                amount.clone(),
                amount.clone(),
                VoucherStatus::Issued.into_sql::<diesel::sql_types::Text>(),
                ts.into_sql::<diesel::sql_types::Timestamp>(),
            ))
            .into_boxed();
        source = match family_filter {
            Some(f) => source.filter(family_months::family_id.eq(f)),
            None => source.order((members::month, members::iin)),
        };
        diesel::insert_into(vouchers::table)
            .values(source)
            .into_columns((
                vouchers::month,
                vouchers::family_id,
                vouchers::iin,
                vouchers::member_name,
                vouchers::region,
                vouchers::amount_tiyn,
                vouchers::balance_tiyn,
                vouchers::status,
                vouchers::issued_at,
            ))
            .execute(c)
    })?;
    bulk::analyze_after(conn, inserted, &["vouchers"])?;
    // The figures per region, counted from the run's vouchers (the ids past `last_before`).
    let counted: Vec<(String, i64)> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::id.gt(last_before))
        .filter(vouchers::month.eq(month.as_ref()))
        .group_by(vouchers::region)
        .select((vouchers::region, diesel::dsl::count_star()))
        .load(c))?;
    let mut issued: i64 = 0;
    for (region, n) in counted {
        let rate = amounts.iter().find(|(r, _)| *r == region).map(|(_, a)| *a);
        let issued_tiyn =
            rate.and_then(|a| a.checked_mul(n)).ok_or_else(|| AppError::internal(anyhow::anyhow!("issue sum")))?;
        stats::vouchers(conn, now, &region, VoucherEvent::Issued, n, issued_tiyn)?;
        issued += n;
    }
    let issued = usize::try_from(issued).map_err(|e| AppError::internal(anyhow::anyhow!("issued count: {e}")))?;
    // The journal rows are written by the database from the new vouchers: at national scale
    // (a million members) that is one statement instead of a million bound rows.
    with_conn!(conn, c => diesel::insert_into(audit_log::table)
        .values(
            vouchers::table
                .filter(vouchers::id.gt(last_before))
                .filter(vouchers::month.eq(month.as_ref()))
                .filter(vouchers::issued_at.eq(ts))
                .select((
                    ts.into_sql::<diesel::sql_types::Timestamp>(),
                    actor.into_sql::<diesel::sql_types::Text>(),
                    "voucher".into_sql::<diesel::sql_types::Text>(),
                    diesel::dsl::sql::<diesel::sql_types::Text>("CAST(vouchers.id AS TEXT)"),
                    None::<String>.into_sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(),
                    VoucherStatus::Issued.into_sql::<diesel::sql_types::Text>(),
                )),
        )
        .into_columns((
            audit_log::at,
            audit_log::actor,
            audit_log::entity,
            audit_log::entity_id,
            audit_log::from_state,
            audit_log::to_state,
        ))
        .execute(c))?;
    if issued > 0 {
        notices::vouchers_issued(conn, month, family_filter, last_before, ts)?;
    }
    Ok(issued)
}

/// `CASE family_months.region WHEN ? THEN ? … END`: each region's voucher amount, bound. Only for
/// a source filtered to the regions it lists (there is no ELSE).
#[derive(Debug, Clone)]
struct RegionAmount<'a>(&'a [(String, Tiyn)]);

impl Expression for RegionAmount<'_> {
    type SqlType = BigInt;
}

impl<QS> AppearsOnTable<QS> for RegionAmount<'_> {}

impl<QS> SelectableExpression<QS> for RegionAmount<'_> {}

impl ValidGrouping<()> for RegionAmount<'_> {
    type IsAggregate = is_aggregate::Never;
}

/// No static id: its SQL varies with the number of regions.
impl QueryId for RegionAmount<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB> QueryFragment<DB> for RegionAmount<'_>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text>,
    family_months::region: QueryFragment<DB>,
    i64: ToSql<BigInt, DB>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("CASE ");
        family_months::region.walk_ast(out.reborrow())?;
        for (region, amount) in self.0 {
            out.push_sql(" WHEN ");
            out.push_bind_param::<Text, String>(region)?;
            out.push_sql(" THEN ");
            out.push_bind_param::<BigInt, i64>(amount.as_i64_ref())?;
        }
        out.push_sql(" END");
        Ok(())
    }
}
