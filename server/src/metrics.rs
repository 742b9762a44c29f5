//! What the service counts for Prometheus (`GET /metrics`), through the `metrics` facade rendered
//! by `metrics-exporter-prometheus`. Without [`install`] (the CLI commands) every record is a
//! no-op.
//!
//! | metric | kind | what |
//! | --- | --- | --- |
//! | `azyq_http_request_duration_seconds{method,route,status}` | histogram | every request: its route pattern (`/api/v1/pos/baskets/{id}/capture`; `unmatched` for any other path), status and time; `_count` is the requests |
//! | `azyq_holds_total` | counter | baskets authorised (a hold placed) |
//! | `azyq_sales_total`, `azyq_sales_discount_tiyn_total` | counter | baskets captured, and the discount they charged |
//! | `azyq_holds_released_total{reason}` | counter | holds released: `cancel` or `expired` |
//! | `azyq_refunds_total`, `azyq_refunds_tiyn_total` | counter | refund operations, and the discount they returned |
//! | `azyq_outbox_depth{outbox}` | gauge | messages waiting to go out (`sms`, `complaints`), read at each scrape |
//! | `azyq_group_commit_batch_size` | histogram | SQLite: transactions that shared one commit |
//! | `azyq_db_pool_wait_seconds` | histogram | time a request waited for a database connection |
//! | `azyq_db_pool_timeouts_total` | counter | waits for a connection that gave up |
//! | `azyq_db_statements_total` | counter | SQL statements run, `BEGIN`/`COMMIT`/`SAVEPOINT` included ([`crate::db::count`]) |
//! | `azyq_db_round_trips_total` | counter | PostgreSQL: round trips to the server (statements, and the prepare of each newly cached one); 0 on SQLite |
//! | `azyq_db_prepared_total` | counter | statements prepared into a connection's statement cache |
//!
//! A business event counts only once its transaction has committed: it is noted while the
//! transaction runs ([`on_commit`]) and recorded by `Db::write` after the commit, so a transaction
//! that rolls back, or runs again after losing a race, counts once or not at all; an answer replayed
//! for a repeated `Idempotency-Key` counts nothing.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Duration;

use azyq_shared::Tiyn;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const REQUEST_SECONDS: &str = "azyq_http_request_duration_seconds";
const BATCH_SIZE: &str = "azyq_group_commit_batch_size";
const POOL_WAIT: &str = "azyq_db_pool_wait_seconds";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once): from then on everything above is counted.
pub fn install() -> anyhow::Result<&'static PrometheusHandle> {
    if let Some(h) = HANDLE.get() {
        return Ok(h);
    }
    let latency = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let batches = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_SECONDS.into()), &latency)?
        .set_buckets_for_metric(Matcher::Full(POOL_WAIT.into()), &latency)?
        .set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &batches)?
        .install_recorder()?;
    describe();
    Ok(HANDLE.get_or_init(|| handle))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "HTTP requests by method, route pattern and status");
    describe_counter!("azyq_holds_total", "Baskets authorised: a hold placed on vouchers");
    describe_counter!("azyq_sales_total", "Baskets captured");
    describe_counter!("azyq_sales_discount_tiyn_total", "Discount charged to vouchers by captured baskets, tiyn");
    describe_counter!("azyq_holds_released_total", "Holds released, by reason (cancel, expired)");
    describe_counter!("azyq_refunds_total", "Refund operations");
    describe_counter!("azyq_refunds_tiyn_total", "Discount returned to vouchers by refunds, tiyn");
    describe_gauge!("azyq_outbox_depth", "Messages waiting to be sent, by outbox");
    describe_histogram!(BATCH_SIZE, "SQLite group commit: transactions per durable commit");
    describe_histogram!(POOL_WAIT, Unit::Seconds, "Time waited for a database connection");
    describe_counter!("azyq_db_pool_timeouts_total", "Waits for a database connection that timed out");
    describe_counter!("azyq_db_statements_total", "SQL statements run, BEGIN, COMMIT and SAVEPOINT included");
    describe_counter!("azyq_db_round_trips_total", "Round trips to PostgreSQL (statements and prepares)");
    describe_counter!("azyq_db_prepared_total", "Statements prepared into a connection's statement cache");
}

/// The recorder's upkeep (histogram samples drained into buckets), every few seconds, so memory
/// stays bounded between scrapes.
pub async fn upkeep_forever() {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Some(h) = HANDLE.get() {
            h.run_upkeep();
        }
    }
}

/// The Prometheus text of everything counted, with the outbox depths read just now.
pub fn render(outboxes: &[(&'static str, i64)]) -> String {
    for (outbox, depth) in outboxes {
        gauge!("azyq_outbox_depth", "outbox" => *outbox).set(*depth as f64);
    }
    let db = crate::db::count::counts();
    counter!("azyq_db_statements_total").absolute(db.statements);
    counter!("azyq_db_round_trips_total").absolute(db.round_trips);
    counter!("azyq_db_prepared_total").absolute(db.prepared);
    HANDLE.get().map(PrometheusHandle::render).unwrap_or_default()
}

/// The outboxes' depths now: SMS not yet sent, deliveries (complaints, reports, SDU returns) not
/// yet delivered.
pub fn outbox_depths(conn: &mut crate::db::Conn) -> crate::error::AppResult<Vec<(&'static str, i64)>> {
    use crate::db::schema::{deliveries, sms_outbox};
    use azyq_shared::api::{DeliveryStatus, SmsStatus};
    use diesel::prelude::*;
    let sms: i64 = crate::with_conn!(conn, c => sms_outbox::table
        .filter(sms_outbox::status.eq_any([SmsStatus::Pending, SmsStatus::Sending]))
        .count()
        .get_result(c))?;
    let deliveries: i64 = crate::with_conn!(conn, c => deliveries::table
        .filter(deliveries::status.ne(DeliveryStatus::Delivered.as_str()))
        .count()
        .get_result(c))?;
    Ok(vec![("sms", sms), ("deliveries", deliveries)])
}

/// One answered request.
pub fn request(method: &actix_web::http::Method, route: Option<String>, status: u16, took: Duration) {
    let method: &'static str = match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        _ => "other",
    };
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    histogram!(REQUEST_SECONDS, "method" => method, "route" => route, "status" => status_text(status))
        .record(took.as_secs_f64());
}

/// The status as a label without an allocation for the common ones.
fn status_text(status: u16) -> metrics::SharedString {
    match status {
        200 => "200".into(),
        201 => "201".into(),
        204 => "204".into(),
        303 => "303".into(),
        400 => "400".into(),
        401 => "401".into(),
        403 => "403".into(),
        404 => "404".into(),
        409 => "409".into(),
        422 => "422".into(),
        429 => "429".into(),
        500 => "500".into(),
        other => other.to_string().into(),
    }
}

/// A change the business counters count, noted in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Hold,
    Sale { discount: Tiyn },
    Released { expired: bool, count: u64 },
    Refund { tiyn: Tiyn },
}

thread_local! {
    static PENDING: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// Notes an event of the transaction running on this thread; it counts if that commits.
pub fn on_commit(event: Event) {
    PENDING.with(|p| p.borrow_mut().push(event));
}

/// A write transaction begins on this thread: nothing is pending.
pub(crate) fn transaction_begins() {
    PENDING.with(|p| p.borrow_mut().clear());
}

/// The events noted on this thread since [`transaction_begins`], taken away: SQLite's writer thread
/// runs a transaction for the request thread that asked, which gets them back with [`restore_pending`].
pub(crate) fn take_pending() -> Vec<Event> {
    PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// Notes on this thread the events a transaction run on another thread noted ([`take_pending`]).
pub(crate) fn restore_pending(events: Vec<Event>) {
    PENDING.with(|p| p.borrow_mut().extend(events));
}

/// The transaction on this thread ended: count its events if it committed.
pub(crate) fn transaction_ended(committed: bool) {
    let events = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if committed {
        count_committed(events);
    }
}

/// Counts the events of a transaction that committed (taken from the thread that ran it).
pub(crate) fn count_committed(events: Vec<Event>) {
    for e in events {
        match e {
            Event::Hold => counter!("azyq_holds_total").increment(1),
            Event::Sale { discount } => {
                counter!("azyq_sales_total").increment(1);
                counter!("azyq_sales_discount_tiyn_total").increment(discount.get().max(0) as u64);
            }
            Event::Released { expired, count } => {
                let reason = if expired { "expired" } else { "cancel" }; // not a state: a label
                counter!("azyq_holds_released_total", "reason" => reason).increment(count);
            }
            Event::Refund { tiyn } => {
                counter!("azyq_refunds_total").increment(1);
                counter!("azyq_refunds_tiyn_total").increment(tiyn.get().max(0) as u64);
            }
        }
    }
}

/// SQLite's group commit made `members` transactions durable in one commit.
pub fn group_commit(members: usize) {
    histogram!(BATCH_SIZE).record(members as f64);
}

/// The database pools' waits for a connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolEvents;

impl diesel::r2d2::HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: diesel::r2d2::event::CheckoutEvent) {
        histogram!(POOL_WAIT).record(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, event: diesel::r2d2::event::TimeoutEvent) {
        histogram!(POOL_WAIT).record(event.timeout().as_secs_f64());
        counter!("azyq_db_pool_timeouts_total").increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_only_after_a_commit() {
        transaction_begins();
        on_commit(Event::Hold);
        transaction_ended(false);
        // Nothing pending leaks into the next transaction.
        transaction_begins();
        assert!(PENDING.with(|p| p.borrow().is_empty()));
        on_commit(Event::Sale { discount: Tiyn::new(100) });
        transaction_ended(true);
        assert!(PENDING.with(|p| p.borrow().is_empty()));
    }
}
