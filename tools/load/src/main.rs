//! `azyq-load`: sets up shops, tills and activated vouchers on a running Azyq server through its
//! real API, drives till traffic at it (or at several servers on one database) over loopback,
//! closed or open loop, for a bounded time; prints throughput, latency per request kind and errors
//! by code; keeps its own books of what the server acknowledged, counts double-spends and checks
//! the balances the server reports against them; contends one voucher, or one basket's
//! transitions, between two tills on two servers and judges the outcome; and can have
//! `azyq-server check` prove the books afterwards. `--only lookup` measures look-ups alone against
//! the signature check's cost.

mod basket;
mod check;
mod client;
mod cpu;
mod dbcount;
mod ledger;
mod lookup;
mod mix;
mod people;
mod pgbench;
mod premint;
mod setup;
mod sigrate;
mod stats;
mod till;
mod transitions;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::client::Api;
use crate::ledger::Ledger;
use crate::setup::{SetupArgs, State};
use crate::till::{Mode, Pool, PoolVoucher, Station, Till, Traffic};
use crate::transitions::Pair;

#[derive(Parser)]
#[command(name = "azyq-load", version, about = "Load generator for the Azyq server: real till traffic over loopback")]
struct Cli {
    /// The server's base URL; loopback only. Repeat it (or give a comma list) for several servers
    /// on one database: the setup talks to the first, the tills are spread over all of them.
    #[arg(long = "server", value_name = "URL", value_delimiter = ',', default_value = "http://127.0.0.1:18181")]
    servers: Vec<String>,
    /// Operator login for the setup (made with `azyq-server create-operator`).
    #[arg(long, default_value = "load")]
    operator_login: String,
    /// The operator's password (setup only).
    #[arg(long, env = "AZYQ_LOAD_PASSWORD", hide_env_values = true)]
    operator_password: Option<String>,
    /// The server's AZYQ_WALLET_JWT_SECRET: the load signs wallet JWTs to activate and mint.
    #[arg(long, env = "AZYQ_LOAD_WALLET_SECRET", hide_env_values = true)]
    wallet_secret: String,
    /// The server's AZYQ_SMS_GATEWAY_SECRET, for the families' consent SMS (setup only).
    #[arg(long, env = "AZYQ_LOAD_GATEWAY_SECRET", hide_env_values = true)]
    gateway_secret: Option<String>,
    /// Shops to set up.
    #[arg(long, default_value_t = 4)]
    shops: usize,
    /// Tills per shop: the default concurrency is shops × tills.
    #[arg(long, default_value_t = 8)]
    tills_per_shop: usize,
    /// Recipients (one voucher each) to list, consent and activate.
    #[arg(long, default_value_t = 2_000)]
    vouchers: u32,
    /// The pilot locality (KATO) of the shops and families.
    #[arg(long, default_value = "551010000")]
    kato: String,
    /// The vouchers' month, YYYY-MM; by default the current month in Asia/Almaty.
    #[arg(long)]
    month: Option<String>,
    /// Where the setup is written, and read back with --skip-setup.
    #[arg(long, default_value = "azyq-load-state.json")]
    state: PathBuf,
    /// Set up, write the state file and stop.
    #[arg(long, conflicts_with = "skip_setup")]
    setup_only: bool,
    /// Reuse the shops and vouchers of the state file.
    #[arg(long)]
    skip_setup: bool,
    /// Parallel requests during the setup.
    #[arg(long, default_value_t = 4)]
    setup_threads: usize,
    /// Tills (cashier sessions, one thread each); default shops × tills per shop.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Open loop: start this many sales per second in total; without it, closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Percent of sales cancelled instead of captured.
    #[arg(long, default_value_t = 5.0)]
    cancel_pct: f64,
    /// Percent of sales followed by a refund of an earlier basket.
    #[arg(long, default_value_t = 2.0)]
    refund_pct: f64,
    /// Percent of authorisations replayed with the same Idempotency-Key.
    #[arg(long, default_value_t = 3.0)]
    retry_pct: f64,
    /// Percent of sales that are contended: one voucher at two tills on two servers at once, with
    /// baskets that each fit its balance but together do not.
    #[arg(long, default_value_t = 0.0)]
    contend_pct: f64,
    /// Percent of sales whose basket's transitions are contended: two of capture, cancel and
    /// refund of one basket sent at once from its till and a till of the same shop on the next server.
    #[arg(long, default_value_t = 0.0)]
    contend_transitions_pct: f64,
    /// The pairs of transitions a contended one draws from, at random (comma list; default all).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Pair::ALL)]
    contend_pairs: Vec<Pair>,
    /// Only this kind of request: `lookup` mints tokens before the clock starts, then the tills
    /// only look them up.
    #[arg(long, value_enum, conflicts_with_all = ["contend_pct", "contend_transitions_pct"])]
    only: Option<Only>,
    /// Tokens are minted before the clock starts (a queue of fresh ones per voucher, a token a
    /// sale) and the opening balances read through the wallets; the tills then only authorise and
    /// capture (issue 19's yardstick). The tokens live the server's AZYQ_QR_MINUTES.
    #[arg(long, conflicts_with_all = ["only", "contend_pct", "contend_transitions_pct"])]
    premint: bool,
    /// With --premint: how many tokens to mint in all; by default enough for the open loop's
    /// sales, or for 4,000 sales/s in closed loop.
    #[arg(long, requires = "premint", value_name = "N")]
    premint_tokens: Option<usize>,
    /// Every plain sale sells the same five lines (three serialised milk, bread, flour; random
    /// prices) instead of 1-10 random lines: issue 19's yardstick basket.
    #[arg(long)]
    five_lines: bool,
    /// PostgreSQL: before the sales, run pgbench TPC-B-like on this database (a URL pgbench
    /// accepts; its tables are created there) and report sales/s ÷ pgbench's transactions/s.
    #[arg(long, value_name = "URL")]
    pgbench: Option<String>,
    /// pgbench's clients.
    #[arg(long, default_value_t = 32)]
    pgbench_clients: u32,
    /// pgbench's seconds.
    #[arg(long, default_value_t = 10)]
    pgbench_seconds: u64,
    /// Random seed (baskets, mix, families); by default from the clock.
    #[arg(long)]
    seed: Option<u64>,
    /// Per-request time limit in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// After the run, `PATH check` on --database-url proves the books.
    #[arg(long, requires = "database_url", value_name = "PATH_TO_AZYQ_SERVER")]
    check_with: Option<PathBuf>,
    /// The server's database, for --check-with.
    #[arg(long, requires = "check_with", value_name = "URL")]
    database_url: Option<String>,
    /// The server's process id (same machine): its CPU use over the run is printed beside ours.
    /// Repeat it (or give a comma list) for several servers.
    #[arg(long = "server-pid", value_name = "PID", value_delimiter = ',')]
    server_pids: Vec<u32>,
    /// The database's process ids (same machine; for PostgreSQL the postmaster's children): their
    /// CPU over the run is printed, in all and per sale.
    #[arg(long = "database-pid", value_name = "PID", value_delimiter = ',')]
    database_pids: Vec<u32>,
}

/// What `--only` restricts the run to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// `POST /api/v1/pos/lookup` back to back with tokens minted before the run.
    Lookup,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("azyq-load: {e}");
            ExitCode::from(2)
        }
    }
}

fn bounded<T: PartialOrd + std::fmt::Display>(name: &str, v: T, lo: T, hi: T) -> Result<(), String> {
    if v < lo || v > hi {
        return Err(format!("--{name} must be within {lo}..={hi}, not {v}"));
    }
    Ok(())
}

/// The servers of `--server`: at least one, each a loopback URL.
fn servers(urls: &[String]) -> Result<Vec<String>, String> {
    let list: Vec<String> = urls.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
    if list.is_empty() {
        return Err("--server needs a URL".into());
    }
    for url in &list {
        client::require_loopback(url)?;
    }
    Ok(list)
}

/// The tills of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Its own till, terminal `T…`.
    Own,
    /// The partner of a contended authorisation: the next server, the next shop, terminal `P…`.
    Partner,
    /// The twin of contended transitions: the next server, the same shop (a basket's transitions
    /// belong to the shop that sold it), terminal `Q…`.
    Twin,
}

/// Which server, shop and terminal the `role` till of worker `w` of `shops` shops and `servers`
/// servers uses.
fn placement(w: usize, shops: usize, servers: usize, role: Role) -> (usize, usize, String) {
    let (shop, number) = (w % shops, w / shops + 1);
    match role {
        Role::Own => (w % servers, shop, format!("T{number}")),
        Role::Partner => ((w + 1) % servers, (shop + 1) % shops, format!("P{number}")),
        Role::Twin => ((w + 1) % servers, shop, format!("Q{number}")),
    }
}

fn run(cli: &Cli) -> Result<ExitCode, String> {
    let servers = servers(&cli.servers)?;
    bounded("shops", cli.shops, 1, 999)?;
    bounded("tills-per-shop", cli.tills_per_shop, 1, 100)?;
    bounded("vouchers", cli.vouchers, 1, people::MAX_MEMBERS)?;
    bounded("duration", cli.duration, 1, 3_600)?;
    bounded("timeout", cli.timeout, 1, 120)?;
    bounded("setup-threads", cli.setup_threads, 1, 32)?;
    bounded("contend-pct", cli.contend_pct, 0.0, 100.0)?;
    bounded("contend-transitions-pct", cli.contend_transitions_pct, 0.0, 100.0)?;
    if cli.contend_pct + cli.contend_transitions_pct > 100.0 {
        return Err("--contend-pct and --contend-transitions-pct together must not exceed 100".into());
    }
    if cli.contend_pairs.is_empty() {
        return Err("--contend-pairs needs at least one pair".into());
    }
    if let Some(rate) = cli.rate {
        bounded("rate", rate, 0.1, 5_000.0)?;
    }
    let mix = mix::Mix::from_percent(cli.cancel_pct, cli.refund_pct, cli.retry_pct)?;
    let now = chrono::Utc::now();
    let seed = cli.seed.unwrap_or_else(|| u64::try_from(now.timestamp_micros()).unwrap_or_default());
    let timeout = Duration::from_secs(cli.timeout);
    let api = Api::new(&servers[0], timeout);

    let state = if cli.skip_setup {
        let state = State::load(&cli.state)?;
        println!(
            "setup: reusing {} ({} shops, {} vouchers)",
            cli.state.display(),
            state.shops.len(),
            state.vouchers.len()
        );
        state
    } else {
        let args = SetupArgs {
            operator_login: cli.operator_login.clone(),
            operator_password: cli.operator_password.clone().ok_or("the setup needs --operator-password")?,
            wallet_secret: cli.wallet_secret.clone(),
            gateway_secret: cli.gateway_secret.clone().ok_or("the setup needs --gateway-secret")?,
            shops: cli.shops,
            tills_per_shop: cli.tills_per_shop,
            vouchers: cli.vouchers,
            kato: cli.kato.clone(),
            month: match &cli.month {
                Some(m) => m.clone(),
                None => azyq_shared::BusinessDay::of(now).month().map_err(|e| e.to_string())?.to_string(),
            },
            threads: cli.setup_threads,
            seed,
        };
        let state = setup::run(&api, &args)?;
        state.save(&cli.state)?;
        println!("setup: written to {} (on {})", cli.state.display(), servers[0]);
        state
    };
    if cli.setup_only {
        return Ok(ExitCode::SUCCESS);
    }

    let concurrency = cli.concurrency.unwrap_or(state.shops.len() * state.tills_per_shop);
    bounded("concurrency", concurrency, 1, 999)?;
    let contend = Contend {
        authorise: cli.only.is_none() && cli.contend_pct > 0.0,
        transitions: cli.only.is_none() && cli.contend_transitions_pct > 0.0,
    };
    let started = Instant::now();
    let stations = log_in(&state, &servers, concurrency, contend, timeout)?;
    let extra = match (contend.authorise, contend.transitions) {
        (true, true) => " and as many partner and twin tills",
        (true, false) => " and as many partner tills",
        (false, true) => " and as many twin tills",
        (false, false) => "",
    };
    println!(
        "run: {concurrency} tills{extra} logged in on {} server{} ({:.1} s)",
        servers.len(),
        if servers.len() == 1 { "" } else { "s, round-robin" },
        started.elapsed().as_secs_f64()
    );
    let vouchers = state
        .vouchers
        .iter()
        .map(|v| {
            Ok(PoolVoucher {
                id: v.id,
                jwt: setup::wallet_jwt(&cli.wallet_secret, &v.iin)?,
                tokens: Default::default(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mode = match cli.rate {
        Some(rate) => Mode::Open { rate },
        None => Mode::Closed,
    };
    let mut failed = match cli.only {
        Some(Only::Lookup) => lookups(cli, &api, stations, &vouchers, mode)?,
        None => sales(cli, &api, stations, vouchers, mode, mix, seed, now)?,
    };
    if let (Some(bin), Some(url)) = (&cli.check_with, &cli.database_url) {
        failed |= !check::books(bin, url)?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Which contended sales a run makes, and so which extra tills it logs in.
#[derive(Debug, Clone, Copy)]
struct Contend {
    authorise: bool,
    transitions: bool,
}

/// Logs every till in on its server, and the partner and twin tills the contended sales need.
fn log_in(
    state: &State,
    servers: &[String],
    concurrency: usize,
    contend: Contend,
    timeout: Duration,
) -> Result<Vec<Station>, String> {
    let shops = state.shops.len();
    let till = |w: usize, role: Role| -> Result<Till, String> {
        let (server, shop, terminal) = placement(w, shops, servers.len(), role);
        let api = Api::new(&servers[server], timeout);
        let session =
            client::cashier_session(&api, &state.shops[shop], &terminal, &state.cashier_login, &state.cashier_password)
                .map_err(|e| format!("{e} (on {})", servers[server]))?;
        Ok(Till { api, session })
    };
    let maybe = |w: usize, role: Role, wanted: bool| if wanted { till(w, role).map(Some) } else { Ok(None) };
    (0..concurrency)
        .map(|w| {
            Ok(Station {
                till: till(w, Role::Own)?,
                partner: maybe(w, Role::Partner, contend.authorise)?,
                twin: maybe(w, Role::Twin, contend.transitions)?,
            })
        })
        .collect()
}

fn mode_line(mode: Mode, concurrency: usize, duration: u64) -> String {
    match mode {
        Mode::Closed => format!("closed loop, {concurrency} tills, {duration} s"),
        Mode::Open { rate } => format!("open loop, {rate}/s over {concurrency} tills, {duration} s"),
    }
}

/// The sales run; answers whether it failed (a different replay, a double-spend, a refund moved
/// twice, a balance the books cannot explain, a contended pair both authorised, or contended
/// transitions judged wrong).
#[allow(clippy::too_many_arguments)]
fn sales(
    cli: &Cli,
    api: &Api,
    stations: Vec<Station>,
    mut vouchers: Vec<PoolVoucher>,
    mode: Mode,
    mix: mix::Mix,
    seed: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, String> {
    let concurrency = stations.len();
    let jwts: HashMap<i64, String> = vouchers.iter().map(|v| (v.id, v.jwt.clone())).collect();
    let openings =
        if cli.premint { Some(premint_run(cli, api, &mut vouchers, &jwts, mode, concurrency, now)?) } else { None };
    let pool = Pool::new(vouchers);
    let traffic = Traffic {
        mode,
        duration: Duration::from_secs(cli.duration),
        mix,
        contend: cli.contend_pct / 100.0,
        race: cli.contend_transitions_pct / 100.0,
        pairs: &cli.contend_pairs,
        seed,
        // Microseconds (mod 2^32) rather than seconds, so that two runs in one second differ.
        tag: format!("{:08x}", now.timestamp_micros() & 0xffff_ffff),
        pool: &pool,
        five_lines: cli.five_lines,
        premint: cli.premint,
    };
    println!("run: {}", mode_line(mode, concurrency, cli.duration));
    println!(
        "run: in the loop, per sale: {}",
        if cli.premint {
            "authorise + capture (tokens minted before the clock)"
        } else {
            "wallet mint + look-up + authorise + capture"
        }
    );
    let across = if servers(&cli.servers).map_or(0, |s| s.len()) < 2 {
        " (one server: both tills of a pair are on it)"
    } else {
        " across two servers"
    };
    if cli.contend_pct > 0.0 {
        println!("run: {}% of sales contended{across}", cli.contend_pct);
    }
    if cli.contend_transitions_pct > 0.0 {
        let pairs: Vec<&str> = cli.contend_pairs.iter().map(|p| p.name()).collect();
        println!(
            "run: {}% of sales with contended transitions{across}, pairs drawn from {}",
            cli.contend_transitions_pct,
            pairs.join(", ")
        );
    }
    let servers = servers(&cli.servers)?;
    let timeout = Duration::from_secs(cli.timeout);
    let pgbench = match &cli.pgbench {
        Some(url) => {
            let bench = pgbench::Pgbench {
                url: url.clone(),
                clients: cli.pgbench_clients,
                seconds: cli.pgbench_seconds,
                scale: 10,
            };
            println!("pgbench: {} clients for {} s on the same PostgreSQL…", bench.clients, bench.seconds);
            Some(bench.measure()?)
        }
        None => None,
    };
    let counted = dbcount::read(&servers, timeout);
    let meter = cpu::Meter::start(&cli.server_pids);
    let database = cpu::Database::start(&cli.database_pids);
    let (mut stats, mut ledger, elapsed) = till::run(stations, &traffic);
    if let Some(openings) = openings {
        ledger.merge(openings);
    }
    println!("run: measured {:.1} s", elapsed.as_secs_f64());
    stats.print(elapsed, matches!(mode, Mode::Open { .. }));
    meter.print(elapsed);
    if let Some(db) = &database {
        println!("{}", db.line(elapsed, stats.captured, "sale"));
    }
    println!("{}", dbcount::line(counted, dbcount::read(&servers, timeout)));
    if let Some(tps) = pgbench {
        println!(
            "{}",
            pgbench::line(tps, stats.captured as f64 / elapsed.as_secs_f64().max(1e-9), cli.pgbench_clients)
        );
    }

    println!("unexpected errors: {}", stats.error_count());
    let mut failed = false;
    if stats.retries_differ > 0 {
        println!("FAIL: {} idempotent replays got a different answer", stats.retries_differ);
        failed = true;
    }
    if stats.contended.both_authorized > 0 {
        println!(
            "FAIL: {} contended pairs were both authorised, although together they exceed the balance",
            stats.contended.both_authorized
        );
        failed = true;
    }
    let races = stats.races.total();
    if races.wrong > 0 {
        println!("FAIL: {} contended transitions judged wrong; the first of each till:", races.wrong);
        for note in &stats.races.wrong_notes {
            println!("  wrong: {note}");
        }
        failed = true;
    }
    failed |= prove_books(api, &ledger, &jwts, cli.setup_threads, Duration::from_secs(cli.timeout));
    Ok(failed)
}

/// `--premint`, before the clock: mints the run's tokens and hands them to the vouchers (dropping
/// those that got none), and reads every voucher's opening balance through its wallet. Answers the
/// books' openings, which stand in for the look-ups that are no longer in the loop.
fn premint_run(
    cli: &Cli,
    api: &Api,
    vouchers: &mut Vec<PoolVoucher>,
    jwts: &HashMap<i64, String>,
    mode: Mode,
    tills: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Ledger, String> {
    let duration = Duration::from_secs(cli.duration);
    let total = premint::tokens_needed(cli.premint_tokens, mode, duration, tills);
    let per = premint::per_voucher(total, vouchers.len());
    let timeout = Duration::from_secs(cli.timeout);
    let started = Instant::now();
    let minted = premint::mint(api, vouchers, per, cli.setup_threads, timeout);
    println!(
        "premint: {} tokens minted for {} vouchers ({per} each, {total} wanted) in {:.1} s",
        minted.count(),
        vouchers.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(first) = &minted.failure {
        println!("premint: some tokens were not minted; the first failure: {first}");
    }
    let first_expiry = minted.first_expiry;
    let dropped = premint::hand_out(vouchers, minted.tokens);
    if vouchers.is_empty() {
        return Err("no token could be minted for the sales".into());
    }
    if dropped > 0 {
        println!("premint: {dropped} vouchers got no token and stay out of the run");
    }
    let started_at = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    if let Some(note) = premint::expiry_note(first_expiry, started_at, duration) {
        println!("{note}");
    }
    let listed: Vec<(i64, &str)> =
        vouchers.iter().filter_map(|v| jwts.get(&v.id).map(|jwt| (v.id, jwt.as_str()))).collect();
    let (balances, unreadable) = client::wallet_balances(api, &listed, cli.setup_threads, timeout);
    if unreadable > 0 {
        return Err(format!("premint: {unreadable} opening balances could not be read"));
    }
    let at = Instant::now();
    let mut openings = Ledger::default();
    for v in vouchers.iter() {
        let balance = balances.get(&v.id).ok_or_else(|| format!("premint: no opening balance for voucher {}", v.id))?;
        openings.looked_up(v.id, at, *balance);
    }
    Ok(openings)
}

/// Counts double-spends and refunds moved twice in the generator's books and compares them with
/// the balances the server reports now; answers whether any of these found anything.
fn prove_books(api: &Api, ledger: &Ledger, jwts: &HashMap<i64, String>, threads: usize, timeout: Duration) -> bool {
    let touched: Vec<(i64, &str)> =
        ledger.touched().filter_map(|(id, _)| jwts.get(&id).map(|jwt| (id, jwt.as_str()))).collect();
    let started = Instant::now();
    let (reported, unreadable) = client::wallet_balances(api, &touched, threads, timeout);
    println!(
        "books: {} vouchers touched, {} with a request that got no answer (balances read back in {:.1} s)",
        touched.len(),
        ledger.unanswered_count(),
        started.elapsed().as_secs_f64()
    );
    let (spent, unsure) = ledger.double_spends();
    let unsure = if unsure > 0 {
        format!(" ({unsure} more unsure: a refund or cancel on them got no answer)")
    } else {
        String::new()
    };
    println!("double-spends: {}{unsure}", spent.len());
    for id in spent.iter().take(5) {
        if let Some((_, a)) = ledger.touched().find(|(v, _)| v == id) {
            let opening = a.opening.map_or(0, |(_, b)| b);
            println!("  voucher {id}: had {opening} tiyn, acknowledged charges {} tiyn", a.net_charged());
        }
    }
    let (refunds, refunded) = ledger.refunds();
    let twice: Vec<_> = ledger.refunded_twice().collect();
    println!("refunds in the books: {refunds}, {refunded} tiyn given back; refunds moved twice: {}", twice.len());
    for (id, b) in twice.iter().take(5) {
        println!(
            "  basket {id}: charged {} tiyn, refunds acknowledged {} tiyn in {}, lines refunded twice {:?}",
            b.charged, b.refunded, b.refunds, b.twice
        );
    }
    let check = ledger.cross_check(&reported);
    println!(
        "balance cross-check: {} compared, mismatches: {} (left out: {} with an unanswered request, {} unreadable)",
        check.compared,
        check.mismatches.len(),
        check.unsure,
        check.unread.max(unreadable)
    );
    for (id, low, high, balance) in check.mismatches.iter().take(5) {
        let expected = if low == high { low.to_string() } else { format!("{low}..={high}") };
        println!("  voucher {id}: the books say {expected} tiyn, the server {balance} tiyn");
    }
    !spent.is_empty() || !twice.is_empty() || !check.mismatches.is_empty()
}

/// The look-up-only run; answers whether it failed (never: its figures are the point).
fn lookups(cli: &Cli, api: &Api, stations: Vec<Station>, vouchers: &[PoolVoucher], mode: Mode) -> Result<bool, String> {
    let tills: Vec<Till> = stations.into_iter().map(|s| s.till).collect();
    let started = Instant::now();
    let (tokens, failure) = lookup::mint_tokens(api, vouchers, cli.setup_threads, Duration::from_secs(cli.timeout));
    if let Some(first) = failure {
        println!("lookup: some tokens were not minted; the first failure: {first}");
    }
    if tokens.is_empty() {
        return Err("no token could be minted for the look-ups".into());
    }
    println!("lookup: {} tokens minted ({:.1} s)", tokens.len(), started.elapsed().as_secs_f64());
    if cli.duration > 240 {
        println!("lookup: tokens live AZYQ_QR_MINUTES (5 by default): a long run ends in token_expired");
    }
    let measured = sigrate::verify_strict_rate(Duration::from_secs(1))?;
    let verify = measured.per_second;
    if measured.cpu_time {
        println!(
            "verify_strict: {verify:.0}/s on one core here (per second of the thread's CPU time; it was on a CPU {:.0}% \
             of the wall time)",
            measured.on_cpu * 100.0
        );
    } else {
        println!("verify_strict: {verify:.0}/s on one core here (wall time: low if the machine was busy)");
    }

    println!("run: look-ups only, {}", mode_line(mode, tills.len(), cli.duration));
    let servers = servers(&cli.servers)?;
    let counted = dbcount::read(&servers, Duration::from_secs(cli.timeout));
    let meter = cpu::Meter::start(&cli.server_pids);
    let database = cpu::Database::start(&cli.database_pids);
    let (mut stats, elapsed) = lookup::run(tills, &tokens, mode, Duration::from_secs(cli.duration));
    let rate = stats.lookups_ok as f64 / elapsed.as_secs_f64().max(1e-9);
    println!("run: measured {:.1} s", elapsed.as_secs_f64());
    println!("lookups: {} answered 2xx ({rate:.1}/s)", stats.lookups_ok);
    stats.print_table(elapsed, matches!(mode, Mode::Open { .. }));
    let server_cpu = meter.print(elapsed);
    match sigrate::per_core(rate, server_cpu, verify) {
        Some((per_core, share)) => println!(
            "lookup per server core: {per_core:.0}/s = {share:.1}% of verify_strict ({verify:.0}/s on one core here)"
        ),
        None if cli.server_pids.is_empty() => println!(
            "lookup per server core: cannot be computed without --server-pid ({verify:.0}/s verify_strict on one core here)"
        ),
        None => println!(
            "lookup per server core: cannot be computed, the server's CPU was not readable ({verify:.0}/s verify_strict on one core here)"
        ),
    }
    if let Some(db) = &database {
        println!("{}", db.line(elapsed, stats.lookups_ok, "look-up"));
    }
    let after = dbcount::read(&servers, Duration::from_secs(cli.timeout));
    println!("{}", dbcount::lookup_line(counted, after, stats.lookups_ok));
    println!("unexpected errors: {}", stats.error_count());
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["azyq-load", "--wallet-secret", "s"].iter().chain(args))
    }

    #[test]
    fn several_servers_and_pids() {
        let cli = parse(&[
            "--server",
            "http://127.0.0.1:18281,http://127.0.0.1:18282",
            "--server",
            "http://[::1]:3",
            "--server-pid",
            "11,12",
            "--server-pid",
            "13",
            "--contend-pct",
            "20",
        ])
        .expect("parses");
        assert_eq!(cli.servers, ["http://127.0.0.1:18281", "http://127.0.0.1:18282", "http://[::1]:3"]);
        assert_eq!(cli.server_pids, [11, 12, 13]);
        assert_eq!(cli.contend_pct, 20.0);
        assert_eq!(servers(&cli.servers).map(|s| s.len()), Ok(3));
    }

    #[test]
    fn defaults_keep_the_old_behaviour() {
        let cli = parse(&[]).expect("parses");
        assert_eq!(cli.servers, ["http://127.0.0.1:18181"]);
        assert!(cli.server_pids.is_empty());
        assert_eq!((cli.contend_pct, cli.only), (0.0, None));
        assert_eq!((cli.contend_transitions_pct, cli.contend_pairs.as_slice()), (0.0, &Pair::ALL[..]));
        let cli = parse(&["--server-pid", "42"]).expect("parses");
        assert_eq!(cli.server_pids, [42]);
    }

    #[test]
    fn premint_and_its_conflicts() {
        let cli = parse(&["--premint", "--premint-tokens", "1000", "--rate", "2000"]).expect("parses");
        assert!(cli.premint);
        assert_eq!((cli.premint_tokens, cli.rate), (Some(1000), Some(2000.0)));
        assert!(!parse(&[]).expect("parses").premint, "off by default: the full flow");
        assert!(parse(&["--premint-tokens", "10"]).is_err(), "a count needs --premint");
        assert!(parse(&["--premint", "--only", "lookup"]).is_err());
        assert!(parse(&["--premint", "--contend-pct", "5"]).is_err());
        assert!(parse(&["--premint", "--contend-transitions-pct", "5"]).is_err());
        assert!(parse(&["--premint", "--premint-tokens", "many"]).is_err());
    }

    #[test]
    fn only_lookup_and_its_conflicts() {
        assert_eq!(parse(&["--only", "lookup"]).expect("parses").only, Some(Only::Lookup));
        assert!(parse(&["--only", "sales"]).is_err());
        assert!(parse(&["--only", "lookup", "--contend-pct", "5"]).is_err());
        assert!(parse(&["--only", "lookup", "--contend-transitions-pct", "5"]).is_err());
    }

    #[test]
    fn contended_transitions_and_their_pairs() {
        let cli = parse(&["--contend-transitions-pct", "25", "--contend-pairs", "capture-cancel,refund-two-lines"])
            .expect("parses");
        assert_eq!(cli.contend_transitions_pct, 25.0);
        assert_eq!(cli.contend_pairs, [Pair::CaptureCancel, Pair::RefundTwoLines]);
        assert!(parse(&["--contend-pairs", "capture-refund"]).is_err());
    }

    #[test]
    fn every_server_must_be_loopback() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(servers(&list(&["http://127.0.0.1:1", "http://10.0.0.1:2"])).is_err());
        assert!(servers(&list(&[" ", ""])).is_err());
        assert_eq!(servers(&list(&[" http://127.0.0.1:1 ", ""])), Ok(list(&["http://127.0.0.1:1"])));
    }

    #[test]
    fn tills_spread_over_servers_and_partners_sit_elsewhere() {
        // 4 shops, 2 servers, 8 tills.
        let mut seen = std::collections::HashSet::new();
        for w in 0..8 {
            let (server, shop, terminal) = placement(w, 4, 2, Role::Own);
            assert_eq!(server, w % 2);
            let (p_server, p_shop, p_terminal) = placement(w, 4, 2, Role::Partner);
            assert_ne!(server, p_server, "a pair spans two servers");
            assert_ne!(shop, p_shop);
            let (t_server, t_shop, t_terminal) = placement(w, 4, 2, Role::Twin);
            assert_ne!(server, t_server, "a twin is on the other server");
            assert_eq!(shop, t_shop, "and in the same shop: a basket's transitions are its shop's");
            for till in [(shop, terminal), (p_shop, p_terminal), (t_shop, t_terminal)] {
                assert!(seen.insert(till), "one session per till");
            }
        }
        assert_eq!(placement(5, 4, 1, Role::Partner).0, 0, "one server: the partner is on it too");
        assert_eq!(placement(5, 4, 1, Role::Twin).0, 0);
    }
}
