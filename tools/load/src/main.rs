//! `azyq-load`: sets up shops, tills and activated vouchers on a running Azyq server through its
//! real API, drives till traffic at it over loopback (closed or open loop, for a bounded time),
//! prints throughput, latency per request kind and errors by code, and can have
//! `azyq-server check` prove the books afterwards.

mod basket;
mod check;
mod client;
mod cpu;
mod mix;
mod people;
mod setup;
mod stats;
mod till;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::client::Api;
use crate::setup::{SetupArgs, State};
use crate::till::{Mode, Pool, PoolVoucher, Till, Traffic};

#[derive(Parser)]
#[command(name = "azyq-load", version, about = "Load generator for the Azyq server: real till traffic over loopback")]
struct Cli {
    /// The server's base URL; loopback only.
    #[arg(long, default_value = "http://127.0.0.1:18181")]
    server: String,
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
    #[arg(long)]
    server_pid: Option<u32>,
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

fn run(cli: &Cli) -> Result<ExitCode, String> {
    client::require_loopback(&cli.server)?;
    bounded("shops", cli.shops, 1, 999)?;
    bounded("tills-per-shop", cli.tills_per_shop, 1, 100)?;
    bounded("vouchers", cli.vouchers, 1, people::MAX_MEMBERS)?;
    bounded("duration", cli.duration, 1, 3_600)?;
    bounded("timeout", cli.timeout, 1, 120)?;
    bounded("setup-threads", cli.setup_threads, 1, 32)?;
    if let Some(rate) = cli.rate {
        bounded("rate", rate, 0.1, 5_000.0)?;
    }
    let mix = mix::Mix::from_percent(cli.cancel_pct, cli.refund_pct, cli.retry_pct)?;
    let now = chrono::Utc::now();
    let seed = cli.seed.unwrap_or_else(|| u64::try_from(now.timestamp_micros()).unwrap_or_default());
    let api = Api::new(&cli.server, Duration::from_secs(cli.timeout));

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
            month: cli.month.clone().unwrap_or_else(|| azyq_shared::BusinessDay::of(now).month().to_string()),
            threads: cli.setup_threads,
            seed,
        };
        let state = setup::run(&api, &args)?;
        state.save(&cli.state)?;
        println!("setup: written to {}", cli.state.display());
        state
    };
    if cli.setup_only {
        return Ok(ExitCode::SUCCESS);
    }

    let concurrency = cli.concurrency.unwrap_or(state.shops.len() * state.tills_per_shop);
    bounded("concurrency", concurrency, 1, 999)?;
    let started = Instant::now();
    let mut tills = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let shop = &state.shops[w % state.shops.len()];
        let terminal = format!("T{}", w / state.shops.len() + 1);
        let till_api = Api::new(&cli.server, Duration::from_secs(cli.timeout));
        let session =
            client::cashier_session(&till_api, shop, &terminal, &state.cashier_login, &state.cashier_password)?;
        tills.push(Till { api: till_api, session });
    }
    let vouchers = state
        .vouchers
        .iter()
        .map(|v| Ok(PoolVoucher { id: v.id, jwt: setup::wallet_jwt(&cli.wallet_secret, &v.iin)? }))
        .collect::<Result<Vec<_>, String>>()?;
    let pool = Pool::new(vouchers);
    println!("run: {concurrency} tills logged in ({:.1} s)", started.elapsed().as_secs_f64());

    let mode = match cli.rate {
        Some(rate) => Mode::Open { rate },
        None => Mode::Closed,
    };
    let traffic = Traffic {
        mode,
        duration: Duration::from_secs(cli.duration),
        mix,
        seed,
        // Microseconds (mod 2^32) rather than seconds, so that two runs in one second differ.
        tag: format!("{:08x}", now.timestamp_micros() & 0xffff_ffff),
        pool: &pool,
    };
    match mode {
        Mode::Closed => println!("run: closed loop, {concurrency} tills, {} s", cli.duration),
        Mode::Open { rate } => println!("run: open loop, {rate} sales/s over {concurrency} tills, {} s", cli.duration),
    }
    let meter = cpu::Meter::start(cli.server_pid);
    let (mut stats, elapsed) = till::run(tills, &traffic);
    println!("run: measured {:.1} s", elapsed.as_secs_f64());
    stats.print(elapsed, matches!(mode, Mode::Open { .. }));
    meter.print(elapsed);

    println!("unexpected errors: {}", stats.error_count());
    let mut failed = stats.retries_differ > 0;
    if stats.retries_differ > 0 {
        println!("FAIL: {} idempotent replays got a different answer", stats.retries_differ);
    }
    if let (Some(bin), Some(url)) = (&cli.check_with, &cli.database_url) {
        failed |= !check::books(bin, url)?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
