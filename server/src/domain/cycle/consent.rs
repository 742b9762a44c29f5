//! Consent by SMS (Alg. p.19-21, annex): the start SMS, the reminder, the applicant's answer.

use azyq_shared::api::{ConsentStatus, NoticeKind, VoucherStatus};
use azyq_shared::{BusinessDay, Month, Phone, Tiyn};
use chrono::{DateTime, Datelike, Days, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{issue_vouchers, open_months, require_open_month, transition, FamilyStatus, Stamp, Step, Which};
use crate::db::audit::{self, Entry};
use crate::db::schema::{consents, family_months, vouchers};
use crate::db::Conn;
use crate::domain::sms::{self, Message, Outgoing, Policy, Reply};
use crate::domain::{lock_jobs, notices, programme};
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

/// Queues one SMS to each family's applicant, once per (kind, month, family).
pub fn queue_to_families(
    conn: &mut Conn,
    month: Month,
    family_ids: &[String],
    message: Message,
    policy: &Policy,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let phones = phones_of(conn, month, family_ids)?;
    let kind = message.kind();
    let items: Vec<Outgoing> = phones
        .iter()
        .map(|(f, p)| Outgoing { dedup_key: Some(format!("{}:{month}:{f}", kind.as_str())), to: p, message })
        .collect();
    sms::enqueue(conn, policy, &items, now)
}

/// Queues the start SMS (annex p.1) to every listed family with a phone (Alg. p.19), if the month
/// lies in the programme.
pub fn queue_consent_requests(
    conn: &mut Conn,
    month: Month,
    policy: &Policy,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    lock_jobs(conn)?;
    require_open_month(conn, month, now)?;
    programme::require(conn, month)?;
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
    queue_to_families(conn, month, &moved, Message::Start, policy, now)?;
    Ok(moved.len())
}

/// Queues the repeat SMS to families that have not answered 5 calendar days after the start SMS
/// (Alg. p.20), in every open month of the programme.
pub fn queue_reminders(conn: &mut Conn, policy: &Policy, actor: &str, now: DateTime<Utc>) -> AppResult<usize> {
    lock_jobs(conn)?;
    let today = BusinessDay::of(now).date();
    // Sent on day D, reminded from day D+5: sent before the start of day today-4.
    let Some(cutoff_day) = today.checked_sub_days(Days::new(4)) else { return Ok(0) };
    let cutoff = BusinessDay(cutoff_day).start_instant().naive_utc();
    let mut total = 0;
    for month in open_months(conn)? {
        if now >= month.end_instant() || !programme::covers(conn, month)? {
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
        queue_to_families(conn, month, &moved, Message::Reminder, policy, now)?;
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
    /// From a number in no open month's list, or an answer older than the one that stands: only
    /// counted.
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

/// An applicant's reply as the gateway delivered it.
pub struct Inbound<'a> {
    pub from: &'a Phone,
    pub text: &'a str,
    /// When the gateway received it (`received_at`); `None` when it did not say.
    pub received_at: Option<DateTime<Utc>>,
}

/// A family-month the answering phone belongs to.
#[derive(Queryable)]
struct Answering {
    month: String,
    family_id: String,
    status: FamilyStatus,
    answer_at: Option<NaiveDateTime>,
}

/// An applicant's reply (annex; SPEC §2.4). The latest answer before the month's end stands,
/// ordered by the gateway's `received_at`:
/// - `21*1` consents: the vouchers are issued at once (Alg. p.21-23), also after a `21*2` earlier
///   in the month; the consent stands for later months.
/// - `21*2` refuses: vouchers not yet activated can no longer be activated this month, activated
///   ones stay spendable to the month's end, and the standing consent ends.
/// - anything else gets the help text.
///
/// An answer received before the one that stands changes nothing.
pub fn inbound_sms(
    conn: &mut Conn,
    sms_in: &Inbound,
    policy: &Policy,
    now: DateTime<Utc>,
) -> AppResult<InboundOutcome> {
    lock_jobs(conn)?;
    // A gateway's clock ahead of ours is taken as ours: an answer cannot come from the future.
    let at = sms_in.received_at.map_or(now, |r| r.min(now));
    let mut months = Vec::new();
    for m in open_months(conn)? {
        if at < m.end_instant() && programme::covers(conn, m)? {
            months.push(m.as_ref().to_owned());
        }
    }
    let families: Vec<Answering> = with_conn!(conn, c => family_months::table
        .filter(family_months::phone.eq(sms_in.from.as_ref()))
        .filter(family_months::month.eq_any(&months))
        .select((family_months::month, family_months::family_id, family_months::status, family_months::answer_at))
        .load(c))?;
    if families.is_empty() {
        sms::bump_counter(conn, "sms_inbound_unknown")?;
        return Ok(InboundOutcome::Unknown);
    }
    let reply = sms::parse_reply(sms_in.text);
    let mut outgoing: Vec<(Option<String>, Message)> = Vec::new();
    let mut applied = false;
    for f in &families {
        let month = Month::parse(&f.month).map_err(|e| AppError::internal(anyhow::anyhow!("stored month: {e}")))?;
        // A gateway's retry of one SMS carries its received_at again: its reply goes once.
        let dedup = |what: &str| {
            sms_in.received_at.map(|r| format!("reply:{what}:{month}:{}:{}", f.family_id, r.timestamp_micros()))
        };
        if reply != Reply::Other && f.answer_at.is_some_and(|stands| at.naive_utc() < stands) {
            continue;
        }
        applied = true;
        match reply {
            Reply::Yes => {
                answer_yes(conn, month, f, at, now)?;
                outgoing.push((dedup("yes"), Message::Confirmation));
            }
            Reply::No => {
                let message = answer_no(conn, month, f, at, now)?;
                outgoing.push((dedup("no"), message));
            }
            Reply::Other => outgoing.push((dedup("help"), Message::Help)),
        }
    }
    if !applied {
        sms::bump_counter(conn, "sms_inbound_superseded")?;
        return Ok(InboundOutcome::Unknown);
    }
    // One phone may answer for several open months: one reply of each kind is enough.
    outgoing.dedup_by_key(|(_, m)| m.kind());
    let items: Vec<Outgoing> =
        outgoing.into_iter().map(|(dedup_key, message)| Outgoing { dedup_key, to: sms_in.from, message }).collect();
    sms::enqueue(conn, policy, &items, now)?;
    Ok(match reply {
        Reply::Yes => InboundOutcome::Yes,
        Reply::No => InboundOutcome::No,
        Reply::Other => InboundOutcome::Help,
    })
}

const APPLICANT: &str = "applicant_sms";

/// `21*1`: consented (from waiting, or from a refusal earlier this month), vouchers issued.
fn answer_yes(conn: &mut Conn, month: Month, f: &Answering, at: DateTime<Utc>, now: DateTime<Utc>) -> AppResult<()> {
    let family = std::slice::from_ref(&f.family_id);
    let from: Vec<FamilyStatus> = FamilyStatus::AWAITING.into_iter().chain([FamilyStatus::Refused]).collect();
    let moved = transition(
        conn,
        month,
        family,
        Step { from: &from, to: FamilyStatus::Consented, stamp: Some(Stamp::Answer(at.naive_utc())) },
        APPLICANT,
        now,
    )?;
    set_consent(conn, &f.family_id, ConsentStatus::Given, at, now)?;
    if moved.is_empty() {
        // A second yes: nothing changes but the time of the answer that stands.
        stamp_answer(conn, month, &f.family_id, at)?;
        return Ok(());
    }
    notices::record(conn, &f.family_id, month, NoticeKind::ConsentRecorded, now)?;
    if programme::covers(conn, month)? {
        issue_vouchers(conn, month, Which::Family(&f.family_id), APPLICANT, now)?;
    }
    Ok(())
}

/// `21*2`: refused (from waiting, or from a consent earlier this month); the standing consent ends.
/// Returns the reply: what the family can still do depends on what it has activated.
fn answer_no(
    conn: &mut Conn,
    month: Month,
    f: &Answering,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<Message> {
    let family = std::slice::from_ref(&f.family_id);
    let from: Vec<FamilyStatus> = FamilyStatus::AWAITING.into_iter().chain([FamilyStatus::Consented]).collect();
    let moved = transition(
        conn,
        month,
        family,
        Step { from: &from, to: FamilyStatus::Refused, stamp: Some(Stamp::Answer(at.naive_utc())) },
        APPLICANT,
        now,
    )?;
    set_consent(conn, &f.family_id, ConsentStatus::Withdrawn, at, now)?;
    if moved.is_empty() {
        stamp_answer(conn, month, &f.family_id, at)?;
    } else if f.status == FamilyStatus::Consented {
        notices::record(conn, &f.family_id, month, NoticeKind::ConsentWithdrawn, now)?;
    }
    let balances: Vec<(VoucherStatus, Tiyn)> = with_conn!(conn, c => vouchers::table
        .filter(vouchers::month.eq(month.as_ref()))
        .filter(vouchers::family_id.eq(&f.family_id))
        .select((vouchers::status, vouchers::balance_tiyn))
        .load(c))?;
    if balances.is_empty() {
        return Ok(Message::Refusal { month });
    }
    let spendable = balances.iter().any(|(s, b)| *s == VoucherStatus::Activated && *b > Tiyn::ZERO);
    Ok(Message::Withdrawal { month, spendable })
}

/// Moves the time of the answer that stands (an answer repeated later).
fn stamp_answer(conn: &mut Conn, month: Month, family_id: &str, at: DateTime<Utc>) -> AppResult<()> {
    with_conn!(conn, c => diesel::update(family_months::table.find((month.as_ref(), family_id)))
        .set(family_months::answer_at.eq(at.naive_utc()))
        .execute(c))?;
    Ok(())
}

/// Records the standing consent as of the answer received at `at`, unless a later answer already
/// stands.
fn set_consent(
    conn: &mut Conn,
    family_id: &str,
    status: ConsentStatus,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let old: Option<(ConsentStatus, NaiveDateTime)> = with_conn!(conn, c => consents::table
        .find(family_id)
        .select((consents::status, consents::updated_at))
        .first(c)
        .optional())?;
    match old {
        Some((s, _)) if s == status => return Ok(()),
        Some((_, when)) if when > at.naive_utc() => return Ok(()),
        _ => {}
    }
    with_conn!(conn, c => diesel::insert_into(consents::table)
        .values((consents::family_id.eq(family_id), consents::status.eq(status), consents::updated_at.eq(at.naive_utc())))
        .on_conflict(consents::family_id)
        .do_update()
        .set((consents::status.eq(status), consents::updated_at.eq(at.naive_utc())))
        .execute(c))?;
    audit::record(
        conn,
        &[Entry::new(now, APPLICANT, "consent", family_id, old.map(|(s, _)| s.as_str()), status.as_str())],
    )
}
