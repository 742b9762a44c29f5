//! `azyq-server`: the command line only; everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use azyq_server::config::Settings;
use azyq_server::domain::keys;
use azyq_server::{demo, startup};
use azyq_shared::api::Role;
use azyq_shared::Month;
use clap::{Parser, Subcommand};

/// jemalloc, not glibc's malloc. An Argon2 log-in hash is one 19 MiB buffer, and glibc soon serves
/// buffers that size from the calling thread's arena instead of mapping them: each of up to 16
/// arenas (8 per core) then kept its own freed 19 MiB, and the server's peak RSS under till load was
/// 270 MB of which ~22 MB was live heap (heaptrack). jemalloc shares its arenas among threads and
/// hands large freed extents back to the kernel, so the peak is what is live plus a little.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "azyq-server", version, about = "Azyq wallet server: digital food vouchers")]
struct Cli {
    /// Database URL: sqlite://FILE (default sqlite://azyq.db) or postgres://…
    #[arg(long, global = true, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, global = true, env = "AZYQ_LISTEN")]
    listen: Option<String>,
    /// Settings file (TOML); the environment overrides it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the scheduler; migrates the database on start.
    Serve,
    /// Serve with a seeded demo month and print the logins.
    Demo,
    /// Create an operator or viewer (password from AZYQ_PASSWORD), or set a new password.
    CreateOperator {
        #[arg(long)]
        login: String,
        #[arg(long, default_value = "operator")]
        role: String,
    },
    /// Close a month now that it has ended: lapse, expire, mark no-answers.
    CloseMonth {
        #[arg(long)]
        month: String,
    },
    /// Import a month's recipients list from a file (CSV or JSON by extension), for lists too big
    /// for the API's 1 MiB body limit.
    Import {
        #[arg(long)]
        month: String,
        file: PathBuf,
    },
    /// Reports for the ministry: write one (with FILE.sha256 and FILE.sig beside it), or verify one.
    Report {
        #[command(subcommand)]
        action: ReportAction,
    },
    /// Prove the books: every voucher's money, every basket, every report figure. Exit 1 on any mismatch.
    Check,
    /// Benchmark: a month of N basket lines in a fresh SQLite file; times the daily report and `check`.
    BenchReport {
        #[arg(long, default_value_t = 10_000_000)]
        lines: i64,
    },
    /// Voucher-token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Benchmark: import a generated list of N members into a fresh database and issue their vouchers.
    BenchImport {
        #[arg(long, default_value_t = 1_000_000)]
        members: u32,
        /// Keep the database at this path (for a load test on a national-size month).
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Load-test data: N generated members in the pilot towns, their families' consent standing,
    /// their vouchers issued for the current month, in the database of --database-url (which must
    /// not list the month yet). Then run `azyq-load`'s setup on the same database.
    BenchSeed {
        #[arg(long, default_value_t = 1_000_000)]
        members: u32,
        /// Also activate the first N vouchers (as their holders would in the wallet).
        #[arg(long, default_value_t = 0)]
        activate: u32,
    },
}

#[derive(Subcommand)]
enum ReportAction {
    /// The daily report for a business day (Asia/Almaty).
    Daily {
        #[arg(long)]
        date: String,
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// The pilot summary for a date range.
    Summary {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check FILE against FILE.sha256 and FILE.sig with the report key.
    Verify { file: PathBuf },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Add a new signing key; tokens of older keys keep verifying until retired.
    Rotate,
    /// Retire a key: its tokens are refused from now on.
    Retire {
        #[arg(long)]
        kid: i32,
    },
    /// List the public keys.
    List,
    /// Replace the session secret: every staff session ends at once, on every replica.
    RotateSession,
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AZYQ_LOG").unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    // Colours only on a terminal: a log file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azyq-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = Settings::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database_url {
        s.database_url = url.clone();
    }
    if let Some(listen) = &cli.listen {
        s.listen = listen.clone();
    }
    azyq_server::domain::secrets::init(s.key_dir.as_deref())?;
    Ok(s)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Every file the server makes (the database and its WAL, the SMS file, exports, key files)
    // is readable by the service's user only: they hold secrets and personal data.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let mut settings = settings(&cli)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve => rt.block_on(async {
            let db = startup::open_db(&settings).await?;
            startup::serve(settings, db).await
        }),
        Command::Demo => rt.block_on(async {
            let db = startup::open_db(&settings).await?;
            let clock = startup::clock_from(&settings);
            let now = clock.now();
            let seeded = {
                let db = db.clone();
                tokio::task::spawn_blocking(move || demo::seed(&db, now)).await??
            };
            let secret = match &settings.wallet_jwt_secret {
                Some(s) => s.clone(),
                None => {
                    let s = format!("demo-{}", hex_random());
                    settings.wallet_jwt_secret = Some(s.clone());
                    s
                }
            };
            if settings.sms_gateway_secret.is_none() {
                settings.sms_gateway_secret = Some(format!("demo-{}", hex_random()));
            }
            let base = format!("{}://{}", settings.scheme(), settings.listen);
            println!("{}", demo::banner(&seeded, &base, &secret, now)?);
            let kit = {
                let db = db.clone();
                tokio::task::spawn_blocking(move || {
                    db.write(|c| keys::ensure_key(c, now))?;
                    demo::write_till_kit(&db, std::path::Path::new("demo"), now)
                })
                .await??
            };
            println!(
                "Till kit in demo/: {} QR codes (valid {} h, one basket each) and products.txt. Start the till:\n  cargo run -p azyq-pos -- --server {base}",
                kit.len() - 1,
                demo::DEMO_QR_HOURS
            );
            startup::serve(settings, db).await
        }),
        Command::CreateOperator { login, role } => {
            let role = match Role::parse(&role) {
                Some(r @ (Role::Operator | Role::Viewer)) => r,
                _ => anyhow::bail!("--role must be operator or viewer"),
            };
            let password =
                std::env::var("AZYQ_PASSWORD").map_err(|_| anyhow::anyhow!("set the password in AZYQ_PASSWORD"))?;
            let db = azyq_server::db::Db::connect(&settings.database_url, 2)?;
            let now = startup::clock_from(&settings).now();
            db.write(|c| azyq_server::domain::accounts::upsert_operator(c, &login, &password, role, now))
                ?;
            println!("{} {login} is ready", role.as_str());
            Ok(())
        }
        Command::CloseMonth { month } => {
            let month = Month::parse(&month)?;
            let db = azyq_server::db::Db::connect(&settings.database_url, 2)?;
            let now = startup::clock_from(&settings).now();
            let closed = db
                .write(|c| azyq_server::domain::cycle::close_month(c, month, "cli", now))
                ?;
            println!("{}", serde_json::to_string_pretty(&closed)?);
            Ok(())
        }
        Command::Import { month, file } => {
            let month = Month::parse(&month)?;
            let db = azyq_server::db::Db::connect(&settings.database_url, 2)?;
            let now = startup::clock_from(&settings).now();
            let report = azyq_server::domain::import::import_file(&db, month, &file, now)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Keys { action } => {
            let db = azyq_server::db::Db::connect(&settings.database_url, 2)?;
            let now = startup::clock_from(&settings).now();
            db.write(|c| keys::ensure_key(c, now))?;
            match action {
                KeysAction::Rotate => {
                    let kid = db.write(|c| keys::rotate(c, now))?;
                    println!("new signing key {kid}");
                }
                KeysAction::Retire { kid } => {
                    db.write(|c| keys::retire(c, kid, now))?;
                    println!("key {kid} retired");
                }
                KeysAction::List => {}
                KeysAction::RotateSession => {
                    db.write(|c| azyq_server::domain::accounts::sessions::rotate_session(c, now))?;
                    println!("session secret replaced: every staff session has ended; log in again");
                    return Ok(());
                }
            }
            let published = db.read(keys::published)?;
            println!("{}", serde_json::to_string_pretty(&azyq_shared::api::VoucherKeys { keys: published })?);
            Ok(())
        }
        Command::Report { action } => report(&settings, action),
        Command::Check => check(&settings),
        Command::BenchReport { lines } => {
            azyq_server::reports::bench::run(lines, startup::clock_from(&settings).now())
        }
        Command::BenchImport { members, keep } => azyq_server::bench::import_and_issue(&settings, members, keep.as_deref()),
        Command::BenchSeed { members, activate } => {
            let now = startup::clock_from(&settings).now();
            let started = std::time::Instant::now();
            let seeded = azyq_server::bench::seed(&settings.database_url, members, activate, now)?;
            println!(
                "seeded {}: {} families, {} vouchers issued, {} activated, in {:.1} s",
                seeded.month,
                seeded.families,
                seeded.vouchers,
                seeded.activated,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

fn hex_random() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn report(settings: &Settings, action: ReportAction) -> anyhow::Result<()> {
    use azyq_server::reports::{figures, render, signing};
    let db = azyq_server::db::Db::connect(&settings.database_url, 2)?;
    let now = startup::clock_from(settings).now();
    let (from, to, format, out) = match action {
        ReportAction::Verify { file } => {
            let key = db.write(keys::report_key)?.verifying_key();
            let verified = signing::verify(&file, |kid| (kid == keys::REPORT_KID).then_some(key))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            println!("{}: good (sha256 {}, report key {})", file.display(), verified.sha256, verified.kid);
            return Ok(());
        }
        ReportAction::Daily { date, format, out } => {
            let day = figures::report_day(&date, "date", now)?;
            (day, day, format, out)
        }
        ReportAction::Summary { from, to, format, out } => {
            (figures::report_day(&from, "from", now)?, figures::report_day(&to, "to", now)?, format, out)
        }
    };
    let format: render::Format = format.parse().map_err(|_| anyhow::anyhow!("--format must be csv, xlsx or json"))?;
    let report = db.read(|c| figures::report(c, from, to, now))?;
    let bytes = render::render(&report, format)?;
    let key = db.write(keys::report_key)?;
    signing::write_signed(&out, &bytes, keys::REPORT_KID, &key)?;
    println!("{} written, with {}.sha256 and {}.sig", out.display(), out.display(), out.display());
    Ok(())
}

fn check(settings: &Settings) -> anyhow::Result<()> {
    let db = azyq_server::db::Db::connect(&settings.database_url, 2)?;
    let started = std::time::Instant::now();
    let findings = db.read(|c| {
        azyq_server::reports::check::run(c, |i, n, rule, took| {
            eprintln!("check [{i}/{n}] {:.1} s  {rule}", took.as_secs_f64());
        })
    })?;
    let mut bad = 0;
    for f in &findings {
        if !f.mismatches.is_empty() {
            println!("MISMATCH: {} ({} rows)", f.rule, f.mismatches.len());
            for m in f.mismatches.iter().take(50) {
                println!("  {m}");
            }
            bad += f.mismatches.len();
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} mismatches in {:.1} s", started.elapsed().as_secs_f64());
    }
    println!("books are consistent: {} rules, {:.1} s", findings.len(), started.elapsed().as_secs_f64());
    Ok(())
}
