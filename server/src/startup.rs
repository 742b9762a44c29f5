//! Building the running server: database, clock, scheduler and HTTP, with the bound port reported.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use tokio::sync::Notify;

use azyq_shared::clock::ClockChoice;

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{Db, DbOptions};
use crate::domain::{accounts, catalog, keys, secrets};
use crate::http::{self, auth::WalletAuth, AppState};
use crate::jobs;
use crate::tls::{self, Outbound};

/// The clock the settings ask for: the fake one only when explicitly allowed, and loudly.
pub fn clock_from(settings: &Settings) -> Arc<dyn Clock> {
    let (clock, choice) = azyq_shared::clock::choose(settings.fake_now, settings.allow_fake_clock);
    match choice {
        ClockChoice::Fake(start) => {
            tracing::warn!(%start, "FAKE CLOCK IN USE (AZYQ_FAKE_NOW): time starts at {start}; never do this in production");
        }
        ClockChoice::FakeRefused => tracing::warn!("AZYQ_FAKE_NOW is ignored without AZYQ_ALLOW_FAKE_CLOCK=1"),
        ClockChoice::System => {}
    }
    Arc::from(clock)
}

/// Opens and migrates the database, off the async executor.
pub async fn open_db(settings: &Settings) -> anyhow::Result<Db> {
    let url = settings.database_url.clone();
    let options = DbOptions {
        pool_size: settings.pool_size,
        group_commit: settings.group_commit,
        sqlite_cache_kib: settings.sqlite_cache_kib,
    };
    tokio::task::spawn_blocking(move || Db::open(&url, &options)).await?
}

/// Runs the server until it is stopped: the due jobs first (so a restart catches up before it
/// answers), then HTTP and the scheduler.
/// Binds the address to serve on: `HOST:PORT`, or `:PORT` for the loopback (`:0` picks a free
/// port; `local_addr` tells which).
pub fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    let address = match listen.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => listen.to_owned(),
    };
    TcpListener::bind(&address).with_context(|| {
        format!("cannot listen on {listen:?}: give HOST:PORT (127.0.0.1:8080) or :PORT (:0 picks a free port)")
    })
}

pub async fn serve(settings: Settings, db: Db, listener: TcpListener) -> anyhow::Result<()> {
    let clock = clock_from(&settings);
    let sms = settings.sms_policy()?;
    // Certificates first: a bad file stops the start before anything else is done.
    let tls = settings.tls()?.map(tls::server_config).transpose()?;
    let outbound = Outbound::new(settings.outbound_ca_cert.as_deref())?;
    let target = settings.sms_target()?;
    if let crate::config::SmsTarget::File(path) = &target {
        // Phone numbers: the service's user only (an older version made the file 0644).
        if path.exists() {
            secrets::restrict(path, 0o600)?;
        }
    }
    let sender: Arc<dyn jobs::sender::Sender> = Arc::from(jobs::sender::from_target(&target, &outbound));
    // Complaints hold personal data, reports are the ministry's: files for the service's user only.
    let delivery_targets = settings.delivery_targets()?;
    for target in [&delivery_targets.otinish, &delivery_targets.reports] {
        if let crate::config::Target::File(path) = target {
            if path.exists() {
                secrets::restrict(path, 0o600)?;
            }
        }
    }
    let wallet =
        WalletAuth::from_settings(settings.wallet_jwt_secret.as_deref(), settings.wallet_jwt_public_key.as_deref())
            .context("reading the wallet JWT key")?;
    if wallet.0.is_none() {
        tracing::warn!(
            "no AZYQ_WALLET_JWT_SECRET or AZYQ_WALLET_JWT_PUBLIC_KEY: wallet endpoints will refuse every caller"
        );
    }
    if settings.sms_gateway_secret.is_none() {
        tracing::warn!("no AZYQ_SMS_GATEWAY_SECRET: the inbound SMS webhook will refuse every call");
    }

    let (session_key, report_key) = {
        let (db, clock, sms, scheduler) = (db.clone(), clock.clone(), sms.clone(), settings.scheduler);
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<u8>, ed25519_dalek::SigningKey)> {
            let now = clock.now();
            db.write(|c| catalog::seed_groups(c, now)).map_err(|e| anyhow::anyhow!("seeding the catalogue: {e}"))?;
            let moved = db.write(secrets::move_out_of_database).map_err(|e| anyhow::anyhow!("key folder: {e}"))?;
            if moved > 0 {
                tracing::warn!(moved, "secrets moved out of the database into AZYQ_KEY_DIR");
            }
            let key = db.write(accounts::session_secret).map_err(|e| anyhow::anyhow!("session secret: {e}"))?;
            db.write(|c| keys::ensure_key(c, now)).map_err(|e| anyhow::anyhow!("voucher keys: {e}"))?;
            // Made now, so that the public `/.well-known/report-keys` only ever reads.
            let report_key = db.write(keys::report_key).map_err(|e| anyhow::anyhow!("report key: {e}"))?;
            // The offline pack key too (SPEC §3.9): packs are then made on read connections.
            db.write(crate::domain::offline::pack_key).map_err(|e| anyhow::anyhow!("offline pack key: {e}"))?;
            if scheduler {
                let report = jobs::run_due(&db, clock.as_ref(), &sms, None)
                    .map_err(|e| anyhow::anyhow!("catching up on jobs: {e}"))?;
                tracing::info!(?report, "caught up on due jobs");
            } else {
                tracing::info!("AZYQ_SCHEDULER is off: this process answers requests only");
            }
            Ok((key, report_key))
        })
        .await??
    };
    let destinations = Arc::new(jobs::deliver::Destinations::new(&delivery_targets, &outbound, &report_key));
    let delivery_kick = Arc::new(Notify::new());

    let kick = Arc::new(Notify::new());
    let state = web::Data::new(AppState {
        db: db.clone(),
        clock: clock.clone(),
        sms: sms.clone(),
        sessions: accounts::Sessions::new(session_key),
        wallet,
        sms_gateway_secret: settings.sms_gateway_secret.clone(),
        sms_kick: kick.clone(),
        hold: settings.hold(),
        qr_ttl: chrono::Duration::minutes(settings.qr_minutes),
        offline: crate::domain::offline::Rules {
            pack_hours: settings.offline_pack_hours,
            voucher_day_bp: settings.offline_voucher_day_bp,
        },
        delivery_kick: delivery_kick.clone(),
        delivery_routes: destinations.routes.clone(),
        shop_hours: settings.shop_hours()?,
    });
    crate::metrics::install()?;
    let metrics_access = web::Data::new(http::metrics::MetricsAccess { token: settings.metrics_token.clone() });
    let addr = listener.local_addr()?;
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "plain HTTP on a network address: passwords and tokens cross the network in clear; set AZYQ_TLS_CERT and AZYQ_TLS_KEY"
        );
    }
    // Actix's own choice of workers, made explicit because the blocking threads are per worker.
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let blocking = settings.blocking_threads_per_worker(workers);
    tracing::info!(workers, blocking_threads_per_worker = blocking, "HTTP workers");
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics_access.clone())
            .app_data(http::json_config())
            .app_data(http::path_config())
            .app_data(http::query_config())
            .wrap(middleware::from_fn(refuse_control_characters))
            .wrap(middleware::from_fn(log_request))
            .configure(http::routes)
            .configure(crate::console::routes)
            .default_service(web::to(http::not_found))
    })
    .workers(workers)
    // A request's database work runs on a blocking thread (`Db::run`) — but for the tills'
    // transitions on SQLite's writer thread, which a request awaits as a task (`Db::write_retrying_async`).
    // Actix allows 512 of them: under load the pool grew to a hundred threads that mostly waited for
    // a connection or the writer, each with its stack and allocator cache (see
    // `Settings::blocking_threads`).
    .worker_max_blocking_threads(blocking)
    .shutdown_timeout(5);
    let server = match tls {
        Some(config) => server.listen_rustls_0_23(listener, config)?,
        None => server.listen(listener)?,
    }
    .run();
    // The one line scripts and tests wait for.
    let scheme = settings.scheme();
    println!("azyq-server listening on {scheme}://{addr}");
    tracing::info!(%addr, scheme, "listening");

    let upkeep = tokio::spawn(crate::metrics::upkeep_forever());
    let scheduler = settings.scheduler.then(|| {
        let deliveries = tokio::spawn(jobs::deliver::run_forever(
            db.clone(),
            clock.clone(),
            destinations,
            delivery_kick,
            settings.tick(),
        ));
        let jobs =
            tokio::spawn(jobs::run_forever(db, clock, sms, sender, kick, settings.tick(), settings.export_dir.clone()));
        (jobs, deliveries)
    });
    let result = server.await;
    upkeep.abort();
    if let Some((jobs, deliveries)) = scheduler {
        jobs.abort();
        deliveries.abort();
    }
    result.map_err(Into::into)
}

/// Whether a percent-encoded URL part spells a control character (`%00`-`%1F`, `%7F`): no path
/// segment or query value of the API may hold one (PostgreSQL refuses NUL in text outright).
fn encodes_control_character(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && matches!((w[1], w[2].to_ascii_uppercase()), (b'0' | b'1', b'0'..=b'9' | b'A'..=b'F') | (b'7', b'F'))
    })
}

/// 400 `validation` for a URL that encodes a control character, before any handler sees it.
async fn refuse_control_characters(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let uri = req.uri();
    if encodes_control_character(uri.path()) || uri.query().is_some_and(encodes_control_character) {
        let err = crate::error::AppError::validation("url", "адрес запроса содержит управляющие символы");
        return Ok(req.error_response(err));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// One log line per request: method, path, status, time. Never bodies or query strings (they may
/// hold personal data). And the request in the metrics, by its route pattern.
async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let res = next.call(req).await?;
    let (status, took) = (res.status().as_u16(), started.elapsed());
    crate::metrics::request(&method, res.request().match_pattern(), status, took);
    tracing::info!(%method, %path, status, ms = took.as_millis() as u64, "request");
    Ok(res)
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_in_urls_are_seen() {
        for bad in ["/a/%00", "/a/%1f", "/a/%7F", "%0A"] {
            assert!(super::encodes_control_character(bad), "{bad}");
        }
        for good in ["/api/v1/shops/SHOP-A", "/a/%20b", "/a/%D1%91", "date=2026-12-01", "/a/%2F"] {
            assert!(!super::encodes_control_character(good), "{good}");
        }
    }
}
