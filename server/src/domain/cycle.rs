//! The monthly cycle (SPEC §2): consent by SMS, issue, month end. Each step is a state change of a
//! family-month or a voucher, guarded by its current state, so every step can run again safely.

use azyq_shared::api::{ErrorCode, MonthClosed, MonthStatus, VoucherStatus};
use azyq_shared::{BusinessDay, Month, Phone, Tiyn};
use chrono::{DateTime, Datelike, Days, Utc};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::redeem::locks::{lock_month, MonthLock};
use super::sms::{self, Kind, Outgoing, Reply, Texts};
use super::stats::{self, ConsentEvent, VoucherEvent};
use super::{lock_jobs, rates};
use crate::db::audit::{self, Entry};
use crate::db::schema::{audit_log, consents, family_months, members, months, vouchers};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

pub use azyq_shared::api::FamilyStatus;

/// The audit id of a family in a month.
pub fn family_month_id(month: Month, family_id: &str) -> String {
    format!("{month}/{family_id}")
}

/// Which families' vouchers to issue.
pub enum Which<'a> {
    All,
    Family(&'a str),
}

/// The month's status (`None`: no row yet, an open month). A plain read: a transition that must
/// keep it reads it under its lock ([`lock_month`]).
pub fn month_status(conn: &mut Conn, month: Month) -> AppResult<Option<MonthStatus>> {
    Ok(with_conn!(conn, c => months::table.find(month.as_ref()).select(months::status).first(c).optional())?)
}

/// Whether a month is over for its vouchers: closed, or past its last day (Almaty).
pub fn month_over(status: Option<MonthStatus>, month: Month, now: DateTime<Utc>) -> bool {
    status == Some(MonthStatus::Closed) || now >= month.end_instant()
}

fn month_closed_error(month: Month) -> AppError {
    AppError::new(ErrorCode::MonthClosed, format!("Месяц {month} закрыт")).with("month", month.as_ref())
}

/// Refuses work on a month that has ended or been closed; opens its row on first use.
pub fn require_open_month(conn: &mut Conn, month: Month, now: DateTime<Utc>) -> AppResult<()> {
    if month_over(month_status(conn, month)?, month, now) {
        return Err(month_closed_error(month));
    }
    with_conn!(conn, c => diesel::insert_into(months::table)
        .values((months::month.eq(month.as_ref()), months::status.eq(MonthStatus::Open)))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// Months that are open (not yet closed), oldest first.
pub fn open_months(conn: &mut Conn) -> AppResult<Vec<Month>> {
    let rows: Vec<String> = with_conn!(conn, c => months::table
        .filter(months::status.eq(MonthStatus::Open))
        .order(months::month)
        .select(months::month)
        .load(c))?;
    Ok(rows.iter().filter_map(|m| Month::parse(m).ok()).collect())
}

/// Issues one voucher per member of consented families (Alg. p.4, p.23): the amount is the rate of
/// the family's region and month. Idempotent per (member, month): a member with a voucher is skipped.
pub fn issue_vouchers(
    conn: &mut Conn,
    month: Month,
    which: Which,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
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
    let ts = now.naive_utc();
    // Issue runs are serialised (lock_jobs), so the vouchers past this id with this stamp are ours.
    lock_jobs(conn)?;
    let last_before: i64 =
        with_conn!(conn, c => vouchers::table.select(diesel::dsl::max(vouchers::id)).first::<Option<i64>>(c))?
            .unwrap_or(0);
    let mut issued = 0;
    for region in regions {
        let amount = rates::rate_for(conn, month, &region)?
            .ok_or_else(|| AppError::new(ErrorCode::RateNotSet, format!("Для {month} не задан размер ваучера")))?;
        let n = with_conn!(conn, c => {
            let mut source = members::table
                .inner_join(
                    family_months::table.on(family_months::month
                        .eq(members::month)
                        .and(family_months::family_id.eq(members::family_id))),
                )
                .filter(family_months::month.eq(month.as_ref()))
                .filter(family_months::status.eq(FamilyStatus::Consented.as_str()))
                .filter(family_months::region.eq(&region))
                .filter(not(exists(
                    vouchers::table.filter(vouchers::month.eq(members::month)).filter(vouchers::iin.eq(members::iin)),
                )))
                .select((
                    members::month,
                    members::family_id,
                    members::iin,
                    members::name,
                    family_months::region,
                    amount.into_sql::<diesel::sql_types::BigInt>(),
                    amount.into_sql::<diesel::sql_types::BigInt>(),
                    VoucherStatus::Issued.into_sql::<diesel::sql_types::Text>(),
                    ts.into_sql::<diesel::sql_types::Timestamp>(),
                ))
                .into_boxed();
            if let Some(f) = &family_filter {
                source = source.filter(family_months::family_id.eq(f));
            }
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
        let issued_tiyn =
            amount.checked_mul(n as i64).ok_or_else(|| AppError::internal(anyhow::anyhow!("issue sum")))?;
        stats::vouchers(conn, now, &region, VoucherEvent::Issued, n as i64, issued_tiyn)?;
        issued += n;
    }
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
    Ok(issued)
}

/// Moves families from one status to another (guarded by the old status) and journals each.
fn transition(
    conn: &mut Conn,
    month: Month,
    family_ids: &[String],
    step: Step,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<Vec<String>> {
    let Step { from, to, stamp } = step;
    let mut moved = Vec::new();
    let mut journal = Vec::new();
    for chunk in family_ids.chunks(500) {
        let current: Vec<(String, String, String)> = with_conn!(conn, c => family_months::table
            .filter(family_months::month.eq(month.as_ref()))
            .filter(family_months::family_id.eq_any(chunk))
            .filter(family_months::status.eq_any(from))
            .select((family_months::family_id, family_months::status, family_months::region))
            .load(c))?;
        if current.is_empty() {
            continue;
        }
        let ids: Vec<&String> = current.iter().map(|(f, _, _)| f).collect();
        let ts = now.naive_utc();
        let target = family_months::table
            .filter(family_months::month.eq(month.as_ref()))
            .filter(family_months::family_id.eq_any(&ids))
            .filter(family_months::status.eq_any(from));
        let set = (family_months::status.eq(to.as_str()), family_months::status_at.eq(ts));
        with_conn!(conn, c => match stamp {
            None => diesel::update(target).set(set).execute(c),
            Some(Stamp::StartSms) => diesel::update(target).set((set, family_months::start_sms_at.eq(ts))).execute(c),
            Some(Stamp::Reminder) => diesel::update(target).set((set, family_months::reminder_at.eq(ts))).execute(c),
        })?;
        if let Some(event) = consent_event(to) {
            for (region, (count, _)) in stats::by_region(current.iter().map(|(_, _, r)| (r.clone(), Tiyn::ZERO))) {
                stats::consent(conn, now, month.as_ref(), &region, event, count)?;
            }
        }
        for (family_id, status, _) in current {
            journal.push(Entry::new(
                now,
                actor,
                "family_month",
                family_month_id(month, &family_id),
                Some(&status),
                to.as_str(),
            ));
            moved.push(family_id);
        }
    }
    audit::record(conn, &journal)?;
    Ok(moved)
}

/// One step of the family-month state machine: from which states, to which, stamping which time.
struct Step<'a> {
    from: &'a [FamilyStatus],
    to: FamilyStatus,
    stamp: Option<Stamp>,
}

/// What the consent figures count for a family moving to `to`.
pub fn consent_event(to: FamilyStatus) -> Option<ConsentEvent> {
    match to {
        FamilyStatus::SmsSent => Some(ConsentEvent::SmsSent),
        FamilyStatus::Reminded => Some(ConsentEvent::Reminder),
        FamilyStatus::Consented => Some(ConsentEvent::Yes),
        FamilyStatus::Refused => Some(ConsentEvent::No),
        FamilyStatus::NoAnswer => Some(ConsentEvent::NoAnswer),
        FamilyStatus::NoPhone => Some(ConsentEvent::NoPhone),
        FamilyStatus::Listed => None,
    }
}

/// Which time column a transition stamps.
#[derive(Clone, Copy)]
enum Stamp {
    StartSms,
    Reminder,
}

fn phones_of(conn: &mut Conn, month: Month, family_ids: &[String]) -> AppResult<Vec<(String, Phone)>> {
    let mut out = Vec::with_capacity(family_ids.len());
    for chunk in family_ids.chunks(500) {
        let rows: Vec<(String, Option<String>)> = with_conn!(conn, c => family_months::table
            .filter(family_months::month.eq(month.as_ref()))
            .filter(family_months::family_id.eq_any(chunk))
            .select((family_months::family_id, family_months::phone))
            .load(c))?;
        out.extend(rows.into_iter().filter_map(|(f, p)| Some((f, Phone::parse(&p?).ok()?))));
    }
    Ok(out)
}

/// Queues one SMS of `kind` to each family's applicant, once per (kind, month, family).
fn queue_to_families(
    conn: &mut Conn,
    month: Month,
    family_ids: &[String],
    kind: Kind,
    texts: &Texts,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let phones = phones_of(conn, month, family_ids)?;
    let items: Vec<Outgoing> = phones
        .iter()
        .map(|(f, p)| Outgoing { dedup_key: Some(format!("{}:{month}:{f}", kind.as_str())), to: p, kind })
        .collect();
    sms::enqueue(conn, texts, &items, now)
}

/// Queues the start SMS (annex p.1) to every listed family with a phone (Alg. p.19).
pub fn queue_consent_requests(
    conn: &mut Conn,
    month: Month,
    texts: &Texts,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    lock_jobs(conn)?;
    require_open_month(conn, month, now)?;
    let listed: Vec<String> = with_conn!(conn, c => family_months::table
        .filter(family_months::month.eq(month.as_ref()))
        .filter(family_months::status.eq(FamilyStatus::Listed.as_str()))
        .filter(family_months::phone.is_not_null())
        .select(family_months::family_id)
        .load(c))?;
    let moved = transition(
        conn,
        month,
        &listed,
        Step { from: &[FamilyStatus::Listed], to: FamilyStatus::SmsSent, stamp: Some(Stamp::StartSms) },
        actor,
        now,
    )?;
    queue_to_families(conn, month, &moved, Kind::Start, texts, now)?;
    Ok(moved.len())
}

/// Queues the repeat SMS to families that have not answered 5 calendar days after the start SMS
/// (Alg. p.20), in every open month.
pub fn queue_reminders(conn: &mut Conn, texts: &Texts, actor: &str, now: DateTime<Utc>) -> AppResult<usize> {
    lock_jobs(conn)?;
    let today = BusinessDay::of(now).date();
    // Sent on day D, reminded from day D+5: sent before the start of day today-4.
    let Some(cutoff_day) = today.checked_sub_days(Days::new(4)) else { return Ok(0) };
    let cutoff = BusinessDay(cutoff_day).start_instant().naive_utc();
    let mut total = 0;
    for month in open_months(conn)? {
        if now >= month.end_instant() {
            continue;
        }
        let due: Vec<String> = with_conn!(conn, c => family_months::table
            .filter(family_months::month.eq(month.as_ref()))
            .filter(family_months::status.eq(FamilyStatus::SmsSent.as_str()))
            .filter(family_months::start_sms_at.lt(cutoff))
            .select(family_months::family_id)
            .load(c))?;
        let moved = transition(
            conn,
            month,
            &due,
            Step { from: &[FamilyStatus::SmsSent], to: FamilyStatus::Reminded, stamp: Some(Stamp::Reminder) },
            actor,
            now,
        )?;
        queue_to_families(conn, month, &moved, Kind::Reminder, texts, now)?;
        total += moved.len();
    }
    Ok(total)
}

/// Whether the day is on or after the 5th of the month: the day the start SMS go (Alg. p.19).
pub fn consent_day_reached(month: Month, now: DateTime<Utc>) -> bool {
    let today = BusinessDay::of(now).date();
    month.contains(today) && today.day() >= 5
}

/// What an inbound SMS led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    Yes,
    No,
    Help,
    /// From a number in no open month's list: only counted.
    Unknown,
}

impl InboundOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundOutcome::Yes => "yes",
            InboundOutcome::No => "no",
            InboundOutcome::Help => "help",
            InboundOutcome::Unknown => "ignored",
        }
    }
}

/// An applicant's reply (annex): `21*1` consents (vouchers issued at once, Alg. p.21-23), `21*2`
/// refuses this month and withdraws the standing consent; anything else gets the help text.
pub fn inbound_sms(
    conn: &mut Conn,
    from: &Phone,
    text: &str,
    texts: &Texts,
    now: DateTime<Utc>,
) -> AppResult<InboundOutcome> {
    lock_jobs(conn)?;
    let open: Vec<String> =
        open_months(conn)?.into_iter().filter(|m| now < m.end_instant()).map(|m| m.as_ref().to_owned()).collect();
    let families: Vec<(String, String, String)> = with_conn!(conn, c => family_months::table
        .filter(family_months::phone.eq(from.as_ref()))
        .filter(family_months::month.eq_any(&open))
        .select((family_months::month, family_months::family_id, family_months::status))
        .load(c))?;
    if families.is_empty() {
        sms::bump_counter(conn, "sms_inbound_unknown")?;
        return Ok(InboundOutcome::Unknown);
    }
    let actor = "applicant_sms";
    let reply = sms::parse_reply(text);
    let mut outgoing: Vec<(Option<String>, Kind)> = Vec::new();
    for (month, family_id, status) in &families {
        let month = Month::parse(month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
        let family = std::slice::from_ref(family_id);
        match reply {
            Reply::Yes => {
                set_consent(conn, family_id, "given", actor, now)?;
                let moved = transition(
                    conn,
                    month,
                    family,
                    Step { from: &FamilyStatus::AWAITING, to: FamilyStatus::Consented, stamp: None },
                    actor,
                    now,
                )?;
                if !moved.is_empty() {
                    issue_vouchers(conn, month, Which::Family(family_id), actor, now)?;
                    outgoing.push((Some(format!("confirmation:{month}:{family_id}")), Kind::Confirmation));
                } else if status == FamilyStatus::Refused.as_str() {
                    // Alg. p.20: a refusal annuls this month; the consent holds from the next.
                    outgoing.push((None, Kind::ConsentNextMonth));
                }
            }
            Reply::No => {
                set_consent(conn, family_id, "withdrawn", actor, now)?;
                let moved = transition(
                    conn,
                    month,
                    family,
                    Step {
                        from: &[
                            FamilyStatus::Listed,
                            FamilyStatus::SmsSent,
                            FamilyStatus::Reminded,
                            FamilyStatus::Consented,
                        ],
                        to: FamilyStatus::Refused,
                        stamp: None,
                    },
                    actor,
                    now,
                )?;
                if !moved.is_empty() {
                    outgoing.push((Some(format!("refusal:{month}:{family_id}")), Kind::Refusal));
                }
            }
            Reply::Other => outgoing.push((None, Kind::Help)),
        }
    }
    // One phone may answer for several open months: one reply of each kind is enough.
    outgoing.dedup_by_key(|(_, k)| *k);
    let items: Vec<Outgoing> =
        outgoing.into_iter().map(|(dedup_key, kind)| Outgoing { dedup_key, to: from, kind }).collect();
    sms::enqueue(conn, texts, &items, now)?;
    Ok(match reply {
        Reply::Yes => InboundOutcome::Yes,
        Reply::No => InboundOutcome::No,
        Reply::Other => InboundOutcome::Help,
    })
}

fn set_consent(conn: &mut Conn, family_id: &str, status: &str, actor: &str, now: DateTime<Utc>) -> AppResult<()> {
    let old: Option<String> =
        with_conn!(conn, c => consents::table.find(family_id).select(consents::status).first(c).optional())?;
    if old.as_deref() == Some(status) {
        return Ok(());
    }
    with_conn!(conn, c => diesel::insert_into(consents::table)
        .values((consents::family_id.eq(family_id), consents::status.eq(status), consents::updated_at.eq(now.naive_utc())))
        .on_conflict(consents::family_id)
        .do_update()
        .set((consents::status.eq(status), consents::updated_at.eq(now.naive_utc())))
        .execute(c))?;
    audit::record(conn, &[Entry::new(now, actor, "consent", family_id, old.as_deref(), status)])
}

/// Month end (Alg. p.7, p.20): unanswered families → `no_answer`; vouchers never activated →
/// `lapsed`; the unspent balance of activated vouchers → `expired`, the amount kept for the
/// reports. Refused before the month has ended; a second close answers the first one's counts.
pub fn close_month(conn: &mut Conn, month: Month, actor: &str, now: DateTime<Utc>) -> AppResult<MonthClosed> {
    lock_jobs(conn)?;
    if now < month.end_instant() {
        return Err(AppError::new(
            ErrorCode::MonthNotEnded,
            format!("Месяц {month} ещё не закончился: его можно закрыть после {}", month.last_day()),
        ));
    }
    // The month alone: tills and the wallet hold it shared for each change of its money, so the
    // close waits for those under way and the ones after it see the month closed.
    with_conn!(conn, c => diesel::insert_into(months::table)
        .values((months::month.eq(month.as_ref()), months::status.eq(MonthStatus::Open)))
        .on_conflict_do_nothing()
        .execute(c))?;
    lock_month(conn, month, MonthLock::Exclusive)?;
    type Counts = (MonthStatus, Option<chrono::NaiveDateTime>, i64, i64, i64, Tiyn, i64);
    let row: Option<Counts> = with_conn!(conn, c => months::table
        .find(month.as_ref())
        .select((months::status, months::closed_at, months::no_answer, months::lapsed, months::expired, months::expired_tiyn, months::holds_released))
        .first(c)
        .optional())?;
    if let Some((status, _, no_answer, lapsed, expired, expired_tiyn, holds_released)) = &row {
        if *status == MonthStatus::Closed {
            return Ok(MonthClosed {
                month: month.to_string(),
                no_answer: *no_answer,
                lapsed: *lapsed,
                expired: *expired,
                expired_tiyn: *expired_tiyn,
                holds_released: *holds_released,
            });
        }
    }
    let ts = now.naive_utc();
    // Holds still open are released first, so their amounts expire with the rest (SPEC §2.7).
    let holds_released = super::redeem::release_month_holds(conn, month, now)? as i64;
    let awaiting: Vec<String> = with_conn!(conn, c => family_months::table
        .filter(family_months::month.eq(month.as_ref()))
        .filter(family_months::status.eq_any(FamilyStatus::AWAITING))
        .select(family_months::family_id)
        .load(c))?;
    let no_answer = transition(
        conn,
        month,
        &awaiting,
        Step { from: &FamilyStatus::AWAITING, to: FamilyStatus::NoAnswer, stamp: None },
        actor,
        now,
    )?
    .len();

    let to_lapse: Vec<(i64, String, Tiyn)> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::month.eq(month.as_ref()))
        .filter(vouchers::status.eq(VoucherStatus::Issued))
        .select((vouchers::id, vouchers::region, vouchers::amount_tiyn))
        .load(c))?;
    for (region, (count, tiyn)) in stats::by_region(to_lapse.iter().map(|(_, r, a)| (r.clone(), *a))) {
        stats::vouchers(conn, now, &region, VoucherEvent::Lapsed, count, tiyn)?;
    }
    with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::month.eq(month.as_ref()))
            .filter(vouchers::status.eq(VoucherStatus::Issued)))
        .set((vouchers::status.eq(VoucherStatus::Lapsed), vouchers::closed_at.eq(ts)))
        .execute(c))?;
    let to_expire: Vec<(i64, Tiyn, String)> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::month.eq(month.as_ref()))
        .filter(vouchers::status.eq(VoucherStatus::Activated))
        .select((vouchers::id, vouchers::balance_tiyn, vouchers::region))
        .load(c))?;
    for (region, (count, tiyn)) in stats::by_region(to_expire.iter().map(|(_, b, r)| (r.clone(), *b))) {
        stats::vouchers(conn, now, &region, VoucherEvent::Expired, count, tiyn)?;
    }
    with_conn!(conn, c => diesel::update(vouchers::table
            .filter(vouchers::month.eq(month.as_ref()))
            .filter(vouchers::status.eq(VoucherStatus::Activated)))
        .set((
            vouchers::expired_tiyn.eq(vouchers::balance_tiyn),
            vouchers::balance_tiyn.eq(Tiyn::ZERO),
            vouchers::status.eq(VoucherStatus::Expired),
            vouchers::closed_at.eq(ts),
        ))
        .execute(c))?;
    let expired_tiyn: Tiyn = to_expire.iter().map(|(_, b, _)| *b).sum();
    let mut journal: Vec<Entry> = to_lapse
        .iter()
        .map(|(id, _, _)| {
            Entry::new(
                now,
                actor,
                "voucher",
                id.to_string(),
                Some(VoucherStatus::Issued.as_str()),
                VoucherStatus::Lapsed.as_str(),
            )
        })
        .collect();
    journal.extend(to_expire.iter().map(|(id, b, _)| {
        Entry::new(
            now,
            actor,
            "voucher",
            id.to_string(),
            Some(VoucherStatus::Activated.as_str()),
            VoucherStatus::Expired.as_str(),
        )
        .detail(format!("expired_tiyn={}", b.get()))
    }));
    let result = MonthClosed {
        month: month.to_string(),
        no_answer: no_answer as i64,
        lapsed: to_lapse.len() as i64,
        expired: to_expire.len() as i64,
        expired_tiyn,
        holds_released,
    };
    journal.push(
        Entry::new(now, actor, "month", month.as_ref(), Some(MonthStatus::Open.as_str()), MonthStatus::Closed.as_str())
            .detail(format!(
                "no_answer={} lapsed={} expired={} expired_tiyn={}",
                result.no_answer,
                result.lapsed,
                result.expired,
                result.expired_tiyn.get()
            )),
    );
    audit::record(conn, &journal)?;
    let values = (
        months::status.eq(MonthStatus::Closed),
        months::closed_at.eq(Some(ts)),
        months::no_answer.eq(result.no_answer),
        months::lapsed.eq(result.lapsed),
        months::expired.eq(result.expired),
        months::expired_tiyn.eq(result.expired_tiyn),
        months::holds_released.eq(result.holds_released),
    );
    with_conn!(conn, c => diesel::insert_into(months::table)
        .values((months::month.eq(month.as_ref()), values))
        .on_conflict(months::month)
        .do_update()
        .set(values)
        .execute(c))?;
    tracing::info!(month = %month, no_answer = result.no_answer, lapsed = result.lapsed, expired = result.expired, "month closed");
    Ok(result)
}
