//! The command line's shape (clap): what `azyq-server` takes.

use std::path::PathBuf;

use azyq_shared::api::Role;
use azyq_shared::Month;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "azyq-server", version, about = "Azyq wallet server: digital food vouchers")]
pub struct Cli {
    /// The database: sqlite://FILE (default sqlite://azyq.db, made if missing) or
    /// postgres://USER@HOST:PORT/DATABASE.
    #[arg(long, global = true, env = "DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Settings file (TOML, see the README's table); the environment and the flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where `serve` and `demo` listen.
#[derive(Args)]
pub struct Listen {
    /// Address to listen on: HOST:PORT, or :PORT for the loopback (:0 picks a free port, and the
    /// start line names it) [default: 127.0.0.1:8080].
    #[arg(long, env = "AZYQ_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
}

/// A month as the regulations name it, in Asia/Almaty.
fn month(s: &str) -> Result<Month, String> {
    Month::parse(s).map_err(|e| e.to_string())
}

/// The staff accounts `create-operator` makes (cashiers belong to a shop: `POST /api/v1/shops/{id}/cashiers`).
#[derive(Clone, Copy, ValueEnum)]
pub enum StaffRole {
    /// Runs the month: lists, consent requests, shops, catalogue, closing.
    Operator,
    /// Reads reports and figures only.
    Viewer,
}

impl From<StaffRole> for Role {
    fn from(r: StaffRole) -> Role {
        match r {
            StaffRole::Operator => Role::Operator,
            StaffRole::Viewer => Role::Viewer,
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API and run the scheduler; migrates the database on start.
    Serve(Listen),
    /// Serve with a seeded demo month, print the logins and write a till kit into demo/.
    Demo(Listen),
    /// Create an operator or viewer (password from AZYQ_PASSWORD), or set a new password.
    CreateOperator {
        /// The account's login (at most 64 characters).
        #[arg(long)]
        login: String,
        /// What the account may do.
        #[arg(long, value_enum, default_value = "operator")]
        role: StaffRole,
    },
    /// Close a month now that it has ended: lapse, expire, mark no-answers.
    CloseMonth {
        /// The month to close.
        #[arg(long, value_name = "YYYY-MM", value_parser = month)]
        month: Month,
    },
    /// Import a month's recipients list from a file, for lists too big for the API's 1 MiB body
    /// limit. Prints the row report; exits 1 when no row was accepted.
    Import {
        /// The month the list is for.
        #[arg(long, value_name = "YYYY-MM", value_parser = month)]
        month: Month,
        /// The list: JSON (`.json`, as the API's body) or CSV (any other name; see the README).
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
        /// How many basket lines the month has.
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
        /// How many members the generated list has.
        #[arg(long, default_value_t = 1_000_000)]
        members: u32,
        /// Then import a list of about N members (half listed already, half new) into the full
        /// month with `azyq-server import`, and print that process's peak memory (0: skip).
        #[arg(long, value_name = "N", default_value_t = 100_000)]
        list: u32,
        /// Keep the database at this path (for a load test on a national-size month).
        #[arg(long, value_name = "FILE", conflicts_with = "use_database_url")]
        keep: Option<PathBuf>,
        /// Run on the database of --database-url instead of a fresh SQLite file: an empty one, whose
        /// month lists no family yet (e.g. a throwaway PostgreSQL, `tools/load/throwaway-pg.sh`).
        #[arg(long)]
        use_database_url: bool,
    },
    /// Load-test data: N generated members in the pilot towns, their families' consent standing,
    /// their vouchers issued for the current month, in the database of --database-url (which must
    /// not list the month yet). Then run `azyq-load`'s setup on the same database.
    BenchSeed {
        /// How many members to generate.
        #[arg(long, default_value_t = 1_000_000)]
        members: u32,
        /// Also activate the first N vouchers (as their holders would in the wallet).
        #[arg(long, default_value_t = 0)]
        activate: u32,
    },
}

/// The file formats of a report.
pub const FORMATS: [&str; 4] = ["csv", "csv-ru", "xlsx", "json"];

/// A report to write: its format and file.
#[derive(Args)]
pub struct ReportOut {
    /// csv: RFC 4180 with commas; csv-ru: `;` and a decimal comma, as Excel in a Russian locale
    /// opens it; xlsx; json.
    #[arg(long, default_value = "csv", value_parser = FORMATS)]
    pub format: String,
    /// The file to write; FILE.sha256 and FILE.sig are written beside it.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Subcommand)]
pub enum ReportAction {
    /// The daily report for a business day (Asia/Almaty).
    Daily {
        /// The business day.
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: String,
        #[command(flatten)]
        out: ReportOut,
    },
    /// The pilot summary for a date range.
    Summary {
        /// The first business day of the range.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: String,
        /// The last business day of the range (included).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: String,
        #[command(flatten)]
        out: ReportOut,
    },
    /// Check FILE against FILE.sha256 and FILE.sig. With --public-key only the three files and the
    /// published key are needed; without it the key is read from the server's database.
    Verify {
        /// The report file (FILE.sha256 and FILE.sig beside it).
        file: PathBuf,
        /// The report key as published: the URL of /.well-known/report-keys, that document saved
        /// to a file, or the bare key in base64url (which may start with `-`).
        #[arg(long, value_name = "KEY_OR_URL", allow_hyphen_values = true)]
        public_key: Option<String>,
    },
    /// The signals report of a month: fraud and error signals per shop.
    Signals {
        /// The month.
        #[arg(long, value_name = "YYYY-MM", value_parser = month)]
        month: Month,
        #[command(flatten)]
        out: ReportOut,
    },
}

#[derive(Subcommand)]
pub enum KeysAction {
    /// Add a new signing key; tokens of older keys keep verifying until retired.
    Rotate,
    /// Retire a key: its tokens are refused from now on.
    Retire {
        /// The key's id, as `keys list` shows it.
        #[arg(long)]
        kid: i32,
    },
    /// List the public keys.
    List,
    /// Replace the session secret: every staff session ends at once, on every replica.
    RotateSession,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of every command says what it is: `--help` never shows a bare flag.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "azyq-server", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
        Cli::command().debug_assert();
    }

    #[test]
    fn listen_belongs_to_the_commands_that_serve() {
        assert!(Cli::try_parse_from(["azyq-server", "serve", "--listen", ":0"]).is_ok());
        assert!(Cli::try_parse_from(["azyq-server", "demo", "--listen", ":0"]).is_ok());
        assert!(Cli::try_parse_from(["azyq-server", "check", "--listen", ":0"]).is_err());
    }

    #[test]
    fn values_are_checked_by_the_parser() {
        assert!(Cli::try_parse_from(["azyq-server", "close-month", "--month", "2026-13"]).is_err());
        assert!(Cli::try_parse_from(["azyq-server", "create-operator", "--login", "a", "--role", "cashier"]).is_err());
        let bad = ["azyq-server", "report", "daily", "--date", "2026-12-01", "--format", "pdf", "--out", "x"];
        assert!(Cli::try_parse_from(bad).is_err());
    }

    /// A base64url key starts with `-` once in 64: it is the option's value, not another option.
    #[test]
    fn a_public_key_may_start_with_a_hyphen() {
        let args = ["azyq-server", "report", "verify", "daily.csv", "--public-key", "-rAbC_12"];
        assert!(Cli::try_parse_from(args).is_ok());
    }
}
