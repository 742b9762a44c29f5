//! A month's figures as the console shows them: the consent funnel (the families' states now) and
//! the vouchers (issued, activated, spent, lapsed, expired), read with a few grouped queries on the
//! `(month, status)` indexes.

use azyq_shared::api::{FamilyStatus, MonthStatus, VoucherStatus};
use azyq_shared::{Month, Tiyn};
use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::db::schema::{day_consent_stats, family_months, months};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// The consent funnel of a month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnel {
    /// Families on the month's list.
    pub listed: i64,
    /// Start SMS queued for the month (each family gets one).
    pub sms_sent: i64,
    pub yes: i64,
    pub no: i64,
    /// Asked, no answer yet.
    pub awaiting: i64,
    /// No answer by the month's end.
    pub no_answer: i64,
    pub no_phone: i64,
}

/// A count of vouchers and the money they carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub count: i64,
    pub tiyn: Tiyn,
}

/// The vouchers of a month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vouchers {
    pub issued: Amount,
    /// Ever activated (activated, exhausted, or expired with a balance left).
    pub activated: Amount,
    /// Vouchers something was charged to, and the discount they carried net of refunds.
    pub spent: Amount,
    pub lapsed: Amount,
    /// Vouchers whose balance expired at the month's end, and the balance that expired.
    pub expired: Amount,
}

/// One month of the programme as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthRow {
    pub month: Month,
    pub closed: bool,
    pub families: i64,
}

/// Every month with a list or a row of its own, newest first.
pub fn months(conn: &mut Conn) -> AppResult<Vec<MonthRow>> {
    let listed: Vec<(String, i64)> = with_conn!(conn, c => family_months::table
        .group_by(family_months::month)
        .select((family_months::month, count_star()))
        .load(c))?;
    let states: Vec<(String, MonthStatus)> =
        with_conn!(conn, c => months::table.select((months::month, months::status)).load(c))?;
    let mut rows: std::collections::BTreeMap<String, MonthRow> = std::collections::BTreeMap::new();
    for (m, status) in &states {
        if let Ok(month) = Month::parse(m) {
            rows.insert(m.clone(), MonthRow { month, closed: *status == MonthStatus::Closed, families: 0 });
        }
    }
    for (m, n) in listed {
        if let Ok(month) = Month::parse(&m) {
            rows.entry(m).or_insert(MonthRow { month, closed: false, families: 0 }).families = n;
        }
    }
    Ok(rows.into_values().rev().collect())
}

/// The consent funnel of a month.
pub fn funnel(conn: &mut Conn, month: Month) -> AppResult<Funnel> {
    let by_status: Vec<(FamilyStatus, i64)> = with_conn!(conn, c => family_months::table
        .filter(family_months::month.eq(month.as_ref()))
        .group_by(family_months::status)
        .select((family_months::status, count_star()))
        .load(c))?;
    let sms_sent: i64 = with_conn!(conn, c => day_consent_stats::table
        .filter(day_consent_stats::month.eq(month.as_ref()))
        .select(day_consent_stats::sms_sent)
        .load::<i64>(c))?
    .into_iter()
    .sum();
    let mut f = Funnel { sms_sent, ..Funnel::default() };
    for (status, n) in by_status {
        f.listed += n;
        match status {
            FamilyStatus::Consented => f.yes += n,
            FamilyStatus::Refused => f.no += n,
            FamilyStatus::SmsSent | FamilyStatus::Reminded => f.awaiting += n,
            FamilyStatus::NoAnswer => f.no_answer += n,
            FamilyStatus::NoPhone => f.no_phone += n,
            FamilyStatus::Listed => {}
        }
    }
    Ok(f)
}

/// One status's vouchers: how many, their amount, what was spent of them net of refunds, what
/// expired, and how many had anything spent.
#[derive(QueryableByName)]
struct VoucherSums {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: VoucherStatus,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    amount: Tiyn,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    spent: Tiyn,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    spent_n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    expired: Tiyn,
}

/// SUM of BIGINT is NUMERIC on PostgreSQL: cast back, so both databases answer BIGINT.
const VOUCHER_SUMS: &str = "SELECT status, COUNT(*) AS n, \
    CAST(COALESCE(SUM(amount_tiyn), 0) AS BIGINT) AS amount, \
    CAST(COALESCE(SUM(charged_tiyn - refunded_tiyn), 0) AS BIGINT) AS spent, \
    CAST(COALESCE(SUM(CASE WHEN charged_tiyn > refunded_tiyn THEN 1 ELSE 0 END), 0) AS BIGINT) AS spent_n, \
    CAST(COALESCE(SUM(expired_tiyn), 0) AS BIGINT) AS expired \
    FROM vouchers WHERE month = $1 GROUP BY status";

/// The vouchers of a month by what became of them.
pub fn vouchers(conn: &mut Conn, month: Month) -> AppResult<Vouchers> {
    use diesel::sql_types::Text;
    let rows: Vec<VoucherSums> = match conn {
        Conn::Sqlite(c) => {
            diesel::sql_query(VOUCHER_SUMS.replace("$1", "?")).bind::<Text, _>(month.as_ref()).load(*c)?
        }
        Conn::Pg(c) => diesel::sql_query(VOUCHER_SUMS).bind::<Text, _>(month.as_ref()).load(*c)?,
    };
    let mut v = Vouchers::default();
    for r in rows {
        v.issued.count += r.n;
        v.issued.tiyn += r.amount;
        v.spent.count += r.spent_n;
        v.spent.tiyn += r.spent;
        match r.status {
            VoucherStatus::Issued => {}
            VoucherStatus::Lapsed => {
                v.lapsed.count += r.n;
                v.lapsed.tiyn += r.amount;
            }
            VoucherStatus::Activated | VoucherStatus::Exhausted | VoucherStatus::Expired => {
                v.activated.count += r.n;
                v.activated.tiyn += r.amount;
                if r.status == VoucherStatus::Expired {
                    v.expired.count += r.n;
                    v.expired.tiyn += r.expired;
                }
            }
        }
    }
    Ok(v)
}
