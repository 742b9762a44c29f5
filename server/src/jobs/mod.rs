//! The scheduler inside `serve`: consent SMS on the 5th and reminders (inside the SMS hours), the
//! month's-end notices, month close, the programme's end, SMS delivery; the deliveries
//! (complaints, reports) have a loop of their own in [`deliver`]. Every job is guarded by the
//! state it changes, so a restart at any moment does what is due once.

pub mod deliver;
pub mod jsonl;
pub mod sender;

use std::path::Path;
use std::sync::Arc;

use azyq_shared::Month;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::db::Db;
use crate::domain::sms::{self, Policy};
use crate::domain::{cycle, notices, programme, redeem};
use crate::error::AppResult;
use sender::Sender;

const ACTOR: &str = "scheduler";

/// What one run of the due jobs did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub holds_expired: usize,
    pub closed: Vec<Month>,
    pub start_sms: usize,
    pub reminders: usize,
    pub ends_soon: usize,
    pub consents_ended: usize,
    pub exported: usize,
    /// Deliveries queued by the sweep (SDU returns of closed months, older complaints).
    pub deliveries_queued: usize,
}

/// Runs every job that is due at the clock's now; the report export only when `export_dir` is given
/// (not on the start-up catch-up, which must stay quick).
pub fn run_due(db: &Db, clock: &dyn Clock, sms: &Policy, export_dir: Option<&Path>) -> AppResult<TickReport> {
    let mut report = TickReport::default();
    let now = clock.now();
    report.holds_expired = redeem::expire_holds(db, now)?;
    db.write(|c| crate::domain::accounts::purge_attempts(c, now))?;
    report.consents_ended = db.write(|c| programme::end_consents_if_over(c, ACTOR, now))?;
    let open = db.read(cycle::open_months)?;
    for month in open {
        let now = clock.now();
        if now >= month.end_instant() {
            db.write(|c| cycle::close_month(c, month, ACTOR, now))?;
            report.closed.push(month);
            continue;
        }
        report.ends_soon += db.write(|c| notices::month_ends_soon(c, month, now))?;
        // Start SMS only in the daytime: after a night-time restart they wait for the morning.
        if cycle::consent_day_reached(month, now)
            && sms.hours.contains(now)
            && db.read(|c| programme::covers(c, month))?
        {
            report.start_sms += db.write(|c| cycle::queue_consent_requests(c, month, sms, ACTOR, now))?;
        }
    }
    report.deliveries_queued = deliver::queue_owed(db, clock.now())?;
    let now = clock.now();
    if sms.hours.contains(now) {
        report.reminders = db.write(|c| cycle::queue_reminders(c, sms, ACTOR, now))?;
    }
    if let Some(dir) = export_dir {
        report.exported = crate::reports::export::export_due(db, dir, clock.now())?.len();
    }
    Ok(report)
}

/// Delivers due SMS; each attempt's result is recorded in its own transaction with the row.
pub fn deliver_sms(db: &Db, clock: &dyn Clock, policy: &Policy, sender: &dyn Sender) -> AppResult<usize> {
    // First resolve claims whose process died mid-send: resend only what provably did not go out.
    for id in db.read(|c| sms::stale_claims(c, clock.now()))? {
        let now = clock.now();
        match sender.was_delivered(id) {
            Some(true) => db.write(|c| sms::mark_sent(c, id, now))?,
            Some(false) | None => db.write(|c| sms::release_claim(c, id, now))?,
        }
    }
    let mut sent = 0;
    loop {
        let due = db.read(|c| sms::due(c, clock.now(), 200))?;
        if due.is_empty() {
            return Ok(sent);
        }
        let mut progressed = false;
        for id in due {
            let Some(claimed) = db.write(|c| sms::claim(c, id, clock.now()))? else { continue };
            progressed = true;
            match sender.send(&claimed, clock.now()) {
                Ok(()) => {
                    db.write(|c| sms::mark_sent(c, id, clock.now()))?;
                    sent += 1;
                }
                Err(e) => {
                    tracing::warn!(sms_id = id, kind = %claimed.kind, error = %e, "SMS delivery failed, will retry");
                    db.write(|c| sms::mark_failed(c, policy, id, &e, clock.now()))?;
                }
            }
        }
        if !progressed {
            return Ok(sent);
        }
    }
}

/// The scheduler's loop: every `tick` all due jobs, and SMS delivery also whenever `kick` fires.
pub async fn run_forever(
    db: Db,
    clock: Arc<dyn Clock>,
    policy: Policy,
    sender: Arc<dyn Sender>,
    kick: Arc<Notify>,
    tick: std::time::Duration,
    export_dir: std::path::PathBuf,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let full = tokio::select! {
            _ = interval.tick() => true,
            _ = kick.notified() => false,
        };
        let (db, clock, policy, sender, dir) =
            (db.clone(), clock.clone(), policy.clone(), sender.clone(), export_dir.clone());
        let result = tokio::task::spawn_blocking(move || -> AppResult<()> {
            if full {
                let report = run_due(&db, clock.as_ref(), &policy, Some(&dir))?;
                if report != TickReport::default() {
                    tracing::info!(?report, "scheduled jobs ran");
                }
            }
            deliver_sms(&db, clock.as_ref(), &policy, sender.as_ref())?;
            Ok(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, source = ?e.source, "scheduled job failed; will retry"),
            Err(e) => tracing::error!(error = %e, "scheduled job panicked; will retry"),
        }
    }
}
