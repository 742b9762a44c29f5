//! `azyq-server`'s commands: one function each, over the settings the command line and the
//! environment gave. `main.rs` only parses and calls [`run`].

mod admin;
pub mod cli;
mod reports;
mod serve;

pub use cli::Cli;
use cli::Command;

use crate::config::Settings;

/// The settings of a command line: the file and environment, then the flags.
pub fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = Settings::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database_url {
        s.database_url = url.clone();
    }
    if let Command::Serve(listen) | Command::Demo(listen) = &cli.command {
        if let Some(listen) = &listen.listen {
            s.listen = listen.clone();
        }
    }
    crate::domain::secrets::init(s.key_dir.as_deref())?;
    Ok(s)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // Every file the server makes (the database and its WAL, the SMS file, exports, key files)
    // is readable by the service's user only: they hold secrets and personal data.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let settings = settings(&cli)?;
    match cli.command {
        Command::Serve(_) => serve::serve(settings),
        Command::Demo(_) => serve::demo(settings),
        Command::CreateOperator { login, role } => admin::create_operator(&settings, &login, role.into()),
        Command::CloseMonth { month } => admin::close_month(&settings, month),
        Command::Import { month, file } => admin::import(&settings, month, &file),
        Command::Keys { action } => admin::keys(&settings, action),
        Command::Report { action } => reports::report(&settings, action),
        Command::Check => reports::check(&settings),
        Command::BenchReport { lines, keep } => {
            crate::reports::bench::run(lines, keep.as_deref(), crate::startup::clock_from(&settings).now())
        }
        Command::BenchImport { members, list, keep, use_database_url } => {
            let on = use_database_url.then_some(settings.database_url.as_str());
            crate::bench::import_and_issue(&settings, members, list, keep.as_deref(), on)
        }
        Command::BenchSeed { members, activate } => admin::bench_seed(&settings, members, activate),
    }
}
