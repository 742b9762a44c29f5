//! Consent by SMS (Alg. p.19-21, annex): the start SMS, the reminder, the applicant's answer.

use azyq_shared::{BusinessDay, Month, Phone};
use chrono::{DateTime, Datelike, Days, Utc};
use diesel::prelude::*;

use super::{issue_vouchers, open_months, require_open_month, transition, FamilyStatus, Stamp, Step, Which};
use crate::db::audit::{self, Entry};
use crate::db::schema::{consents, family_months};
use crate::db::Conn;
use crate::domain::lock_jobs;
use crate::domain::sms::{self, Kind, Outgoing, Reply, Texts};
use crate::error::{AppError, AppResult};
use crate::with_conn;

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
