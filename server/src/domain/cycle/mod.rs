//! The monthly cycle (SPEC §2): consent by SMS, issue, month end. Each step is a state change of a
//! family-month or a voucher, guarded by its current state, so every step can run again safely.
//! Here the family-month state machine and the month's state; the steps in [`consent`], [`issue`]
//! and [`close`].

mod close;
mod consent;
mod issue;

pub use close::close_month;
pub use consent::{
    consent_day_reached, inbound_sms, queue_consent_requests, queue_reminders, queue_to_families, Inbound,
    InboundOutcome,
};
pub use issue::issue_vouchers;

use azyq_shared::api::{ErrorCode, MonthStatus};
use azyq_shared::{Month, Tiyn};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::audit::{self, Entry};
use crate::db::schema::{family_months, months};
use crate::db::Conn;
use crate::domain::stats::{self, ConsentEvent};
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
            Some(Stamp::Answer(at)) => diesel::update(target).set((set, family_months::answer_at.eq(at))).execute(c),
        })?;
        if let Some(event) = consent_event(to) {
            for (region, (count, _)) in stats::by_region(current.iter().map(|(_, _, r)| (r.clone(), Tiyn::ZERO))) {
                stats::consent(conn, now, month.as_ref(), &region, event, count)?;
            }
        }
        // A changed answer moves the family from one answer's count to the other's: the month's
        // yes and no are the families' answers as they stand, not the SMS received.
        let changed_answer =
            current.iter().filter_map(|(_, from, r)| Some((r.clone(), answer_event(FamilyStatus::parse(from)?)?)));
        for (region, event) in changed_answer {
            stats::consent(conn, now, month.as_ref(), &region, event, -1)?;
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

/// The answer a family-month's status stands for, if it is one.
fn answer_event(status: FamilyStatus) -> Option<ConsentEvent> {
    match status {
        FamilyStatus::Consented => Some(ConsentEvent::Yes),
        FamilyStatus::Refused => Some(ConsentEvent::No),
        _ => None,
    }
}

/// Which time column a transition stamps.
#[derive(Clone, Copy)]
enum Stamp {
    StartSms,
    Reminder,
    /// The gateway's `received_at` of the answer that now stands.
    Answer(chrono::NaiveDateTime),
}
