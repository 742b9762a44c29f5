//! `azyq-pos`, the cashier terminal. This first cut checks a cashier's log-in against the server;
//! the counter screens (scan, basket, authorise, capture) come with the till API.

use std::process::ExitCode;
use std::time::Duration;

use azyq_shared::api::{ErrorBody, SessionRequest, SessionResponse};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "azyq-pos", version, about = "Azyq cashier terminal")]
struct Cli {
    /// The wallet server.
    #[arg(long, env = "AZYQ_SERVER", default_value = "http://127.0.0.1:8080", global = true)]
    server: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in as a shop's cashier (password from AZYQ_POS_PASSWORD) and print the session's expiry.
    Login {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        terminal: String,
        #[arg(long)]
        login: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azyq-pos: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Login { shop, terminal, login } => {
            let password = std::env::var("AZYQ_POS_PASSWORD")
                .map_err(|_| anyhow::anyhow!("задайте пароль кассира в AZYQ_POS_PASSWORD"))?;
            let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
            let body = SessionRequest { login, password, shop_id: Some(shop), terminal_id: Some(terminal) };
            let url = format!("{}/api/v1/sessions", cli.server.trim_end_matches('/'));
            match agent.post(&url).send_json(&body) {
                Ok(res) => {
                    let session: SessionResponse = res.into_json()?;
                    println!("вход выполнен: роль {}, сессия до {}", session.role.as_str(), session.expires_at);
                    Ok(())
                }
                Err(ureq::Error::Status(status, res)) => {
                    let err: ErrorBody = res.into_json()?;
                    anyhow::bail!("{} ({status} {})", err.error.message, err.error.code.as_str())
                }
                Err(e) => anyhow::bail!("сервер {} недоступен: {e}", cli.server),
            }
        }
    }
}
