//! The family's notices in the wallet (SW p.4, p.7; SPEC §2.5): vouchers issued, an answer
//! recorded, the month's end near. Written in the transaction of the change they tell of, so a
//! notice exists exactly when its change does; the once-per-month kinds carry a dedup key.

use std::collections::HashSet;

use azyq_shared::api::{FamilyStatus, NoticeKind, Notification, VoucherStatus};
use azyq_shared::{BusinessDay, Iin, Month};
use chrono::{DateTime, Days, NaiveDateTime, Utc};
use diesel::dsl::{exists, not, sql, AsExprOf};
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};

use super::sms::{last_day, month_kk, month_ru};
use crate::db::schema::{family_months, notice_texts, notices, vouchers};
use crate::db::Conn;
use crate::error::AppResult;
use crate::with_conn;

/// A notice's Russian and Kazakh texts.
pub fn texts(kind: NoticeKind, month: Month) -> (String, String) {
    let (ru_m, kk_m, end) = (month_ru(month), month_kk(month), last_day(month));
    match kind {
        NoticeKind::VouchersIssued => (
            format!("Ваучеры на {ru_m} выпущены. Активируйте их до {end} включительно, иначе они сгорят."),
            format!("{kk_m} айына ваучерлер шығарылды. Оларды {end} қоса алғанда белсендіріңіз, әйтпесе күшін жояды."),
        ),
        NoticeKind::ConsentRecorded => (
            format!("Согласие на ваучеры на {ru_m} принято. Активируйте ваучеры до {end} включительно."),
            format!("{kk_m} айына ваучерлерге келісім қабылданды. Ваучерлерді {end} қоса алғанда белсендіріңіз."),
        ),
        NoticeKind::ConsentWithdrawn => (
            format!(
                "Отказ принят: неактивированные ваучеры на {ru_m} больше не активировать, активированными можно \
                 платить до {end} включительно. Согласие на следующие месяцы отозвано; передумаете — отправьте 21*1."
            ),
            format!(
                "Бас тарту қабылданды: {kk_m} айының белсендірілмеген ваучерлерін енді белсендіру мүмкін емес, \
                 белсендірілгендерімен {end} қоса алғанда төлей аласыз. Келесі айларға келісім кері қайтарылды; \
                 ойыңыз өзгерсе — 21*1 жіберіңіз."
            ),
        ),
        NoticeKind::MonthEndsSoon => (
            format!("Месяц заканчивается {end}: активируйте ваучеры на {ru_m} до этого дня включительно, иначе они сгорят."),
            format!("Ай {end} аяқталады: {kk_m} айының ваучерлерін осы күнді қоса алғанда белсендіріңіз, әйтпесе күшін жояды."),
        ),
    }
}

fn dedup_key(kind: NoticeKind, month: Month, family_id: &str) -> String {
    format!("{}:{month}:{family_id}", kind.as_str())
}

/// The dedup key of a once-per-month notice, spelled in SQL from the row's month and family.
fn dedup_sql(kind: NoticeKind, month_col: &str, family_col: &str) -> String {
    format!("'{}:' || {month_col} || ':' || {family_col}", kind.as_str())
}

/// Stores the texts of `kind` for `month` if none are stored yet: a notice row names its kind and
/// month, and its texts are read from here (the ones first written, even if the wording changes).
fn put_texts(conn: &mut Conn, kind: NoticeKind, month: Month) -> AppResult<()> {
    let (text, text_kk) = texts(kind, month);
    with_conn!(conn, c => diesel::insert_into(notice_texts::table)
        .values((
            notice_texts::kind.eq(kind.as_str()),
            notice_texts::month.eq(month.as_ref()),
            notice_texts::text.eq(&text),
            notice_texts::text_kk.eq(&text_kk),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// One notice to one family (an answer recorded or withdrawn: each answer that changes the state
/// gets its own).
pub fn record(conn: &mut Conn, family_id: &str, month: Month, kind: NoticeKind, now: DateTime<Utc>) -> AppResult<()> {
    put_texts(conn, kind, month)?;
    let once = matches!(kind, NoticeKind::VouchersIssued | NoticeKind::MonthEndsSoon);
    with_conn!(conn, c => diesel::insert_into(notices::table)
        .values((
            notices::family_id.eq(family_id),
            notices::month.eq(month.as_ref()),
            notices::kind.eq(kind.as_str()),
            notices::created_at.eq(now.naive_utc()),
            notices::dedup_key.eq(once.then(|| dedup_key(kind, month, family_id))),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// `vouchers_issued` to every family that got vouchers in one issue run (those of `month` with an
/// id above `after`; `family` when the run was one family's): one statement, however many
/// families. Issue runs are serialised and nothing else makes vouchers, so the vouchers past
/// `after` are the run's. Driven from the month's families in key order, each asked whether it has
/// such a voucher in the vouchers' (family, month) index: no sort of a million vouchers to find
/// their families, and the notices' dedup keys arrive in order.
pub fn vouchers_issued(
    conn: &mut Conn,
    month: Month,
    family: Option<&str>,
    after: i64,
    issued_at: NaiveDateTime,
) -> AppResult<usize> {
    let kind = NoticeKind::VouchersIssued;
    put_texts(conn, kind, month)?;
    let key = dedup_sql(kind, "family_months.month", "family_months.family_id");
    Ok(with_conn!(conn, c => {
        let mut source = family_months::table
            .filter(family_months::month.eq(month.as_ref()))
            .filter(exists(
                vouchers::table
                    .filter(vouchers::family_id.eq(family_months::family_id))
                    .filter(vouchers::month.eq(family_months::month))
                    .filter(vouchers::id.gt(after)),
            ))
            .filter(not(exists(notices::table.filter(notices::dedup_key.eq(sql::<Nullable<Text>>(&key))))))
            .select(to_families(kind, issued_at, &key))
            .into_boxed();
        if let Some(f) = family {
            source = source.filter(family_months::family_id.eq(f));
        }
        diesel::insert_into(notices::table).values(source).into_columns(COLUMNS).execute(c)
    })?)
}

/// The select list of a notice to each family a `family_months` query finds, in [`COLUMNS`]'
/// order.
type FamilyNotice = (
    family_months::family_id,
    family_months::month,
    AsExprOf<&'static str, Text>,
    AsExprOf<NaiveDateTime, Timestamp>,
    SqlLiteral<Nullable<Text>>,
);

/// [`FamilyNotice`] of `kind`, its time and `key`, the dedup key's SQL (see `dedup_sql`). The
/// texts are the kind's and month's, stored once ([`put_texts`]).
fn to_families(kind: NoticeKind, at: NaiveDateTime, key: &str) -> FamilyNotice {
    (
        family_months::family_id,
        family_months::month,
        kind.as_str().into_sql::<Text>(),
        at.into_sql::<Timestamp>(),
        sql::<Nullable<Text>>(key),
    )
}

/// The columns an insert-select of notices fills, in the order its select lists them.
const COLUMNS: (notices::family_id, notices::month, notices::kind, notices::created_at, notices::dedup_key) =
    (notices::family_id, notices::month, notices::kind, notices::created_at, notices::dedup_key);

/// Whether `now` falls in the last days of `month` when families are reminded to activate: from
/// three days before its last day (the 28th of a 31-day month) to its end.
pub fn ends_soon(month: Month, now: DateTime<Utc>) -> bool {
    let today = BusinessDay::of(now).date();
    let from = month.last_day().checked_sub_days(Days::new(3)).unwrap_or(month.first_day());
    month.contains(today) && today >= from
}

/// `month_ends_soon` to every consenting family of `month` with a voucher still not activated,
/// once per family and month.
pub fn month_ends_soon(conn: &mut Conn, month: Month, now: DateTime<Utc>) -> AppResult<usize> {
    if !ends_soon(month, now) {
        return Ok(0);
    }
    let kind = NoticeKind::MonthEndsSoon;
    put_texts(conn, kind, month)?;
    let key = dedup_sql(kind, "family_months.month", "family_months.family_id");
    let ts = now.naive_utc();
    Ok(with_conn!(conn, c => diesel::insert_into(notices::table)
        .values(
            family_months::table
                .filter(family_months::month.eq(month.as_ref()))
                .filter(family_months::status.eq(FamilyStatus::Consented.as_str()))
                .filter(exists(
                    vouchers::table
                        .filter(vouchers::month.eq(family_months::month))
                        .filter(vouchers::family_id.eq(family_months::family_id))
                        .filter(vouchers::status.eq(VoucherStatus::Issued)),
                ))
                .filter(not(exists(notices::table.filter(notices::dedup_key.eq(sql::<Nullable<Text>>(&key))))))
                .select(to_families(kind, ts, &key)),
        )
        .into_columns(COLUMNS)
        .execute(c))?)
}

#[derive(Queryable)]
struct Row {
    family_id: String,
    month: String,
    kind: NoticeKind,
    text: String,
    text_kk: String,
    created_at: NaiveDateTime,
}

/// The notices of every family-month the recipient is listed in, newest first.
pub fn of_recipient(conn: &mut Conn, iin: &Iin) -> AppResult<Vec<Notification>> {
    let families: HashSet<(String, String)> = super::wallet::families_of(conn, iin)?;
    let ids: Vec<&String> = families.iter().map(|(_, f)| f).collect::<HashSet<_>>().into_iter().collect();
    let rows: Vec<Row> = with_conn!(conn, c => notices::table
        .inner_join(
            notice_texts::table.on(notice_texts::kind.eq(notices::kind).and(notice_texts::month.eq(notices::month))),
        )
        .filter(notices::family_id.eq_any(&ids))
        .order((notices::created_at.desc(), notices::id.desc()))
        .select((
            notices::family_id,
            notices::month,
            notices::kind,
            notice_texts::text,
            notice_texts::text_kk,
            notices::created_at,
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .filter(|r| families.contains(&(r.month.clone(), r.family_id.clone())))
        .map(|r| Notification {
            kind: r.kind,
            month: r.month,
            text: r.text,
            text_kk: r.text_kk,
            created_at: r.created_at.and_utc(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn ends_soon_from_three_days_before_the_last() {
        let dec = Month::parse("2026-12").unwrap();
        assert!(!ends_soon(dec, at("2026-12-27T12:00:00Z")));
        assert!(ends_soon(dec, at("2026-12-28T00:00:00Z"))); // 05:00 in Almaty on the 28th
        assert!(ends_soon(dec, at("2026-12-31T18:00:00Z"))); // 23:00 on the 31st
        assert!(!ends_soon(dec, at("2026-12-31T19:00:00Z"))); // 00:00 on 1 January
        let nov = Month::parse("2026-11").unwrap();
        assert!(ends_soon(nov, at("2026-11-27T06:00:00Z")));
        assert!(!ends_soon(nov, at("2026-11-26T06:00:00Z")));
    }

    #[test]
    fn texts_name_the_month_and_its_last_day() {
        let dec = Month::parse("2026-12").unwrap();
        for kind in [
            NoticeKind::VouchersIssued,
            NoticeKind::ConsentRecorded,
            NoticeKind::ConsentWithdrawn,
            NoticeKind::MonthEndsSoon,
        ] {
            let (ru, kk) = texts(kind, dec);
            assert!(ru.contains("31.12.2026") && kk.contains("31.12.2026"), "{kind:?}");
            assert!(ru.contains("декабрь 2026") && kk.contains("желтоқсан"), "{kind:?}");
        }
    }
}
