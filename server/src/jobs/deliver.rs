//! Delivering the deliveries outbox (`domain::deliveries`) to its destinations: complaints to
//! e-Otinish (`AZYQ_OTINISH_SENDER`), reports to the ministry and the SDU (`AZYQ_REPORT_DELIVERY`).
//!
//! What leaves the server for one item, to a file or an HTTP receiver alike, is one JSON object
//! (its bytes fixed by the item, so a resend is the same request):
//! `{"id","kind","key","created_at","payload"}` — `id` the delivery's id, `payload` the complaint
//! (`domain::complaints::ComplaintPayload`) or the report files (`reports::delivery::ReportFiles`).
//!
//! - `file:PATH`: one line per item, appended and synced before the item is recorded delivered.
//! - `http:URL`: POST of the object as `application/json` through the server's one
//!   [`Outbound`] (HTTPS with the web PKI and `AZYQ_OUTBOUND_CA_CERT`), with
//!   `Idempotency-Key: <id>`, and for a report `X-Content-SHA256` and `X-Signature` over the body
//!   (the report key, as the report API answers carry). Any 2xx is delivered.

use std::sync::Arc;
use std::time::Duration;

use azyq_shared::api::DeliveryKind;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use tokio::sync::Notify;

use super::jsonl::JsonLines;
use crate::clock::Clock;
use crate::config::{DeliveryTargets, Target};
use crate::db::Db;
use crate::domain::deliveries::{self, Claimed, Routes};
use crate::domain::keys::REPORT_KID;
use crate::error::AppResult;
use crate::reports::signing;
use crate::tls::{transport_cause, Outbound};

/// How long one HTTP try may take, connection and answer (reports are a few hundred KiB at most).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
// A live try must never be overtaken: its claim outlasts the longest try, with room to spare.
const _: () = assert!(4 * HTTP_TIMEOUT.as_secs() as i64 <= deliveries::LEASE_SECONDS);

/// Items taken per pass.
const BATCH: i64 = 100;

/// One item as it leaves the server.
#[derive(Debug, Serialize)]
struct Wire<'a> {
    id: i64,
    kind: DeliveryKind,
    key: &'a str,
    created_at: DateTime<Utc>,
    payload: serde_json::Value,
}

/// The bytes sent for an item.
fn body(item: &Claimed) -> Result<Vec<u8>, String> {
    let payload: serde_json::Value =
        serde_json::from_str(&item.payload).map_err(|_| "the stored payload is not JSON".to_owned())?;
    let wire = Wire { id: item.id, kind: item.kind, key: &item.key, created_at: item.created_at, payload };
    serde_json::to_vec(&wire).map_err(|_| "payload could not be written".to_owned())
}

/// A place items go to.
pub trait Destination: Send + Sync {
    /// Delivers `body` (item `item.id`); `Err` says why not, without personal data.
    fn send(&self, item: &Claimed, body: &[u8]) -> Result<(), String>;
    /// Whether an item whose try ended in silence got through: `Some` when this destination can tell.
    fn was_delivered(&self, id: i64) -> Option<bool>;
}

/// Appends one JSON line per item to a file.
pub struct FileDestination {
    file: JsonLines,
}

impl Destination for FileDestination {
    fn send(&self, _item: &Claimed, body: &[u8]) -> Result<(), String> {
        self.file.append(body)
    }

    fn was_delivered(&self, id: i64) -> Option<bool> {
        Some(self.file.holds_id(id))
    }
}

/// POSTs each item to a receiver that deduplicates by `Idempotency-Key`.
pub struct HttpDestination {
    url: String,
    agent: ureq::Agent,
    report_key: SigningKey,
}

impl Destination for HttpDestination {
    fn send(&self, item: &Claimed, body: &[u8]) -> Result<(), String> {
        let mut req = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json")
            .set("Idempotency-Key", &item.id.to_string());
        if matches!(item.kind, DeliveryKind::DailyReport | DeliveryKind::SduReturn) {
            let (sha256, signature) = signing::seal(body, REPORT_KID, &self.report_key);
            req = req.set("X-Content-SHA256", &sha256).set("X-Signature", &signature);
        }
        match req.send_bytes(body) {
            Ok(_) => Ok(()),
            // ureq's error text may hold the URL, never the body: only the status or cause is kept.
            Err(ureq::Error::Status(code, _)) => Err(format!("receiver answered {code}")),
            Err(ureq::Error::Transport(t)) => Err(format!("receiver unreachable: {}", transport_cause(&t))),
        }
    }

    fn was_delivered(&self, _id: i64) -> Option<bool> {
        None
    }
}

fn destination(
    target: &Target,
    outbound: &Outbound,
    report_key: &SigningKey,
    what: &'static str,
) -> Box<dyn Destination> {
    match target {
        Target::File(path) => Box::new(FileDestination { file: JsonLines::new(path.clone(), what) }),
        Target::Http(url) => Box::new(HttpDestination {
            url: url.clone(),
            agent: outbound.agent(HTTP_TIMEOUT),
            report_key: report_key.clone(),
        }),
    }
}

/// The destinations of every kind, and how the operator is shown them.
pub struct Destinations {
    complaints: Box<dyn Destination>,
    reports: Box<dyn Destination>,
    pub routes: Routes,
}

impl Destinations {
    pub fn new(targets: &DeliveryTargets, outbound: &Outbound, report_key: &SigningKey) -> Destinations {
        Destinations {
            complaints: destination(&targets.otinish, outbound, report_key, "the e-Otinish file"),
            reports: destination(&targets.reports, outbound, report_key, "the report delivery file"),
            routes: Routes {
                complaints: deliveries::shown(&targets.otinish),
                reports: deliveries::shown(&targets.reports),
            },
        }
    }

    fn of(&self, kind: DeliveryKind) -> &dyn Destination {
        match kind {
            DeliveryKind::Complaint => self.complaints.as_ref(),
            DeliveryKind::DailyReport | DeliveryKind::SduReturn => self.reports.as_ref(),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub failed: usize,
    /// Items whose earlier try's outcome was unknown and proved delivered: not sent again.
    pub resolved: usize,
}

/// Delivers what is due: each item claimed, sent, and its outcome recorded in its row. A
/// destination that fails is not tried again in this pass (its other items wait for the next).
pub fn deliver_due(db: &Db, clock: &dyn Clock, dests: &Destinations) -> AppResult<Pass> {
    let mut pass = Pass::default();
    let mut broken: Vec<&str> = Vec::new();
    let due = db.read(|c| deliveries::due(c, clock.now(), BATCH))?;
    for (id, kind) in due {
        let shown = dests.routes.of(kind);
        if broken.contains(&shown) {
            continue;
        }
        let Some(item) = db.write(|c| deliveries::claim(c, id, shown, clock.now()))? else { continue };
        let dest = dests.of(item.kind);
        // A try that died mid-send: resend only what provably did not get there (an HTTP
        // receiver cannot tell us, and dedups the same Idempotency-Key instead).
        if item.stale && dest.was_delivered(item.id) == Some(true) {
            db.write(|c| deliveries::mark_delivered(c, item.id, clock.now()))?;
            tracing::info!(delivery_id = item.id, kind = %item.kind, "delivery found delivered by an earlier try");
            pass.resolved += 1;
            continue;
        }
        let outcome = body(&item).and_then(|body| dest.send(&item, &body));
        match outcome {
            Ok(()) => {
                db.write(|c| deliveries::mark_delivered(c, item.id, clock.now()))?;
                tracing::info!(delivery_id = item.id, kind = %item.kind, key = %item.key, attempt = item.attempt, "delivery accepted by its destination");
                pass.delivered += 1;
            }
            Err(e) => {
                tracing::warn!(delivery_id = item.id, kind = %item.kind, attempt = item.attempt, error = %e, "delivery failed, will retry");
                db.write(|c| deliveries::mark_failed(c, item.id, item.attempt, &e, clock.now()))?;
                broken.push(shown);
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// Queues what is owed and not yet queued (the SDU returns of closed months, complaints filed
/// before deliveries existed); run with the scheduler's jobs.
pub fn queue_owed(db: &Db, now: DateTime<Utc>) -> AppResult<usize> {
    let sdu = db.write(|c| crate::reports::delivery::queue_sdu_returns(c, now))?;
    let complaints = db.write(|c| crate::domain::complaints::queue_unqueued(c, now))?;
    Ok(sdu + complaints)
}

/// The delivery loop: every `tick`, and whenever `kick` fires (a complaint was filed), a pass.
/// Its own task, so a slow receiver never holds up the SMS or the monthly jobs.
pub async fn run_forever(
    db: Db,
    clock: Arc<dyn Clock>,
    dests: Arc<Destinations>,
    kick: Arc<Notify>,
    tick: std::time::Duration,
) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = kick.notified() => {}
        }
        let (db, clock, dests) = (db.clone(), clock.clone(), dests.clone());
        let result = tokio::task::spawn_blocking(move || deliver_due(&db, clock.as_ref(), &dests)).await;
        match result {
            Ok(Ok(pass)) if pass != Pass::default() => tracing::info!(?pass, "deliveries ran"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, source = ?e.source, "delivery pass failed; will retry"),
            Err(e) => tracing::error!(error = %e, "delivery pass panicked; will retry"),
        }
    }
}
