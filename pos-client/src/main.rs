//! `azyq-pos`, the cashier terminal: the TUI by default, headless sub-commands for scripts.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use azyq_pos::client::{self, Timeouts, Trust};
use azyq_pos::headless::{self, Failure, Login};
use azyq_pos::i18n::{self, Lang, T};
use azyq_pos::tui;
use azyq_shared::api::{BasketLineIn, PaymentMethod};
use azyq_shared::clock::{Clock, ClockChoice};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "azyq-pos", version, about = "Azyq cashier terminal (TUI without a sub-command)")]
struct Cli {
    /// The wallet server.
    #[arg(long, env = "AZYQ_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
    server: String,
    /// Seconds to wait for the connection to open.
    #[arg(long, default_value_t = 3, global = true, value_name = "SECS")]
    connect_timeout: u64,
    /// Seconds to wait for a whole request (a lost answer is retried with the same idempotency key).
    #[arg(long, default_value_t = 10, global = true, value_name = "SECS")]
    timeout: u64,
    /// A PEM file of a private CA to trust for HTTPS, besides the web PKI's roots (a shop's own
    /// certificate authority). A server certificate that does not verify is always refused.
    #[arg(long, env = "AZYQ_CA_CERT", global = true, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// The language of the screen and of the errors: Russian or Kazakh (F12 switches it in the TUI).
    #[arg(long, env = "AZYQ_POS_LANG", value_enum, default_value = "ru", global = true)]
    lang: Lang,
    /// The till's journal (SQLite): the kept session, the offline pack and the offline sales.
    /// Default: $XDG_DATA_HOME/azyq/journal.db, else ~/.local/share/azyq/journal.db.
    #[arg(long, env = "AZYQ_POS_JOURNAL", global = true, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// TUI: the shop, pre-filled on the log-in screen.
    #[arg(long, env = "AZYQ_SHOP", default_value = "")]
    shop: String,
    /// TUI: the terminal, pre-filled on the log-in screen.
    #[arg(long, env = "AZYQ_TERMINAL", default_value = "")]
    terminal: String,
    /// TUI: the cashier's login, pre-filled on the log-in screen.
    #[arg(long, env = "AZYQ_LOGIN", default_value = "")]
    login: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Clone)]
struct LoginArgs {
    /// The shop the cashier works for.
    #[arg(long)]
    shop: String,
    /// This till's terminal id.
    #[arg(long)]
    terminal: String,
    /// The cashier's login.
    #[arg(long)]
    login: String,
    /// The environment variable holding the cashier's password.
    #[arg(long, default_value = "AZYQ_POS_PASSWORD", value_name = "VAR")]
    password_env: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Pay {
    Cash,
    Card,
}

#[derive(Subcommand)]
enum Command {
    /// Log in as a shop's cashier and print the session's role and expiry as JSON.
    Login(LoginArgs),
    /// Print the text of the QR code in a PNG image (the token text and a newline).
    Decode { file: PathBuf },
    /// Look up the tokens, authorise the basket and capture it with paid = to pay; print JSON.
    Sale {
        #[command(flatten)]
        login: LoginArgs,
        /// A voucher token (QR text); repeat for several vouchers of one family, in order.
        #[arg(long = "token", required = true, value_name = "TOKEN")]
        tokens: Vec<String>,
        /// A basket line CODE:QTY:SHELF:REDUCED (QTY pieces or grams; prices per piece or per kg, in tiyn).
        #[arg(long = "line", required = true, value_name = "CODE:QTY:SHELF:REDUCED", value_parser = headless::parse_line)]
        lines: Vec<BasketLineIn>,
        #[arg(long, value_enum, default_value = "cash")]
        pay: Pay,
        /// Authorise only: leave the hold for a later capture or cancel.
        #[arg(long)]
        no_capture: bool,
    },
    /// Cancel an authorised basket (release its hold); print the basket's state as JSON.
    Cancel {
        #[command(flatten)]
        login: LoginArgs,
        /// The basket id (`basket_id` of the authorisation).
        #[arg(long)]
        basket: i64,
    },
    /// Refund a captured basket, whole or the given lines; print the refund as JSON.
    Refund {
        #[command(flatten)]
        login: LoginArgs,
        /// The basket id (`basket_id` of the receipt).
        #[arg(long)]
        basket: i64,
        /// A line index as in the API (`lines[].index`, from 0); repeat for several; none: all.
        #[arg(long = "line", value_name = "N")]
        lines: Vec<usize>,
    },
    /// Upload the offline sales waiting in the journal (in chunks of up to 500), refresh the
    /// offline pack; print {"uploaded","applied","short","pending","pack_expires_at"}.
    Sync {
        #[command(flatten)]
        login: LoginArgs,
        /// Sales per upload request, 1 to 500 (fewer for a slow link).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
        chunk: u16,
    },
    /// The shop's daily report as JSON.
    Report {
        #[command(flatten)]
        login: LoginArgs,
        /// YYYY-MM-DD (Asia/Almaty); today when omitted.
        #[arg(long)]
        date: Option<String>,
    },
}

/// The till's clock: the system's, or `AZYQ_FAKE_NOW` when `AZYQ_ALLOW_FAKE_CLOCK=1` (tests and
/// demos run the server at a chosen instant, and the till must agree with it on token expiry).
fn clock(lang: Lang) -> Result<Arc<dyn Clock>, String> {
    let fake_now = match std::env::var("AZYQ_FAKE_NOW") {
        Ok(v) => Some(
            chrono::DateTime::parse_from_rfc3339(&v)
                .map_err(|e| i18n::not_a_time(lang, &format!("AZYQ_FAKE_NOW={v}"), &e.to_string()))?
                .with_timezone(&chrono::Utc),
        ),
        Err(_) => None,
    };
    let allowed = std::env::var("AZYQ_ALLOW_FAKE_CLOCK").is_ok_and(|v| v == "1");
    let (clock, choice) = azyq_shared::clock::choose(fake_now, allowed);
    match choice {
        ClockChoice::Fake(start) => eprintln!("azyq-pos: FAKE CLOCK IN USE (AZYQ_FAKE_NOW): time starts at {start}"),
        ClockChoice::FakeRefused => eprintln!("azyq-pos: AZYQ_FAKE_NOW is ignored without AZYQ_ALLOW_FAKE_CLOCK=1"),
        ClockChoice::System => {}
    }
    Ok(Arc::from(clock))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lang = cli.lang;
    let clock = match clock(lang) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("azyq-pos: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &cli.ca_cert {
        match Trust::with_ca_file(path) {
            Ok(trust) => client::trust_for_process(trust),
            Err(e) => {
                eprintln!("azyq-pos: {}", i18n::ca_cert_unusable(lang, &path.display().to_string(), &e));
                return ExitCode::FAILURE;
            }
        }
    }
    let timeouts =
        Timeouts { connect: Duration::from_secs(cli.connect_timeout), request: Duration::from_secs(cli.timeout) };
    let journal = cli.journal.clone().or_else(azyq_pos::journal::default_path);
    let login = |a: &LoginArgs| Login {
        server: cli.server.clone(),
        timeouts,
        shop: a.shop.clone(),
        terminal: a.terminal.clone(),
        login: a.login.clone(),
        password_env: a.password_env.clone(),
        clock: clock.clone(),
        lang,
        journal: journal.clone(),
    };
    let result: Result<String, Failure> = match &cli.command {
        None => {
            let options = tui::Options {
                server: cli.server.clone(),
                shop: cli.shop.clone(),
                terminal: cli.terminal.clone(),
                login: cli.login.clone(),
                timeouts,
                clock: clock.clone(),
                lang,
                journal: journal.clone(),
            };
            return match tui::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("azyq-pos: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Login(a)) => headless::login_only(&login(a)),
        Some(Command::Decode { file }) => headless::decode(file, lang),
        Some(Command::Sale { login: a, tokens, lines, pay, no_capture }) => {
            let method = match pay {
                Pay::Cash => PaymentMethod::Cash,
                Pay::Card => PaymentMethod::Card,
            };
            headless::sale(&login(a), tokens, lines.clone(), method, !no_capture)
        }
        Some(Command::Cancel { login: a, basket }) => headless::cancel(&login(a), *basket),
        Some(Command::Refund { login: a, basket, lines }) => headless::refund(&login(a), *basket, lines.clone()),
        Some(Command::Report { login: a, date }) => headless::report(&login(a), date.as_deref()),
        Some(Command::Sync { login: a, chunk }) => headless::sync(&login(a), usize::from(*chunk)),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("azyq-pos: {failure}");
            if failure.outcome_unknown {
                eprintln!("azyq-pos: {}", T::OutcomeUnknown.get(lang));
                ExitCode::from(headless::EXIT_UNKNOWN_OUTCOME)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
