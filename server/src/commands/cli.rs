//! The command line's shape (clap): what `azyq-server` takes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "azyq-server", version, about = "Azyq wallet server: digital food vouchers")]
pub struct Cli {
    /// Database URL: sqlite://FILE (default sqlite://azyq.db) or postgres://…
    #[arg(long, global = true, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, global = true, env = "AZYQ_LISTEN")]
    pub listen: Option<String>,
    /// Settings file (TOML); the environment overrides it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Benchmark: a month of N basket lines in a fresh SQLite file; times the daily report, the
    /// signals report and `check`.
    BenchReport {
        #[arg(long, default_value_t = 10_000_000)]
        lines: i64,
        /// Keep the month's database at this path (to time `report signals` on it from outside).
        #[arg(long)]
        keep: Option<PathBuf>,
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
pub enum ReportAction {
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
    /// The signals report of a month (fraud and error signals per shop).
    Signals {
        #[arg(long)]
        month: String,
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check FILE against FILE.sha256 and FILE.sig with the report key.
    Verify { file: PathBuf },
}

#[derive(Subcommand)]
pub enum KeysAction {
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
