//! `azyq-server`: the command line only; everything else lives in the library.

use std::process::ExitCode;

use azyq_server::commands::{self, Cli};
use clap::Parser;

/// jemalloc, not glibc's malloc. An Argon2 log-in hash is one 19 MiB buffer, and glibc soon serves
/// buffers that size from the calling thread's arena instead of mapping them: each of up to 16
/// arenas (8 per core) then kept its own freed 19 MiB, and the server's peak RSS under till load was
/// 270 MB of which ~22 MB was live heap (heaptrack). jemalloc shares its arenas among threads and
/// hands large freed extents back to the kernel, so the peak is what is live plus a little.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How log lines are written: text for people (the default), or one JSON object per line for a
/// log pipeline (`AZYQ_LOG_FORMAT=json`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

fn log_format() -> Result<LogFormat, String> {
    match std::env::var("AZYQ_LOG_FORMAT").unwrap_or_default().trim() {
        "" | "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("AZYQ_LOG_FORMAT must be json or text, not {other:?}")),
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AZYQ_LOG").unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Fields at the top level of each object: what log pipelines index.
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(false).with_span_list(false).init(),
        // Colours only on a terminal: a log file gets plain text.
        LogFormat::Text => fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}

fn main() -> ExitCode {
    let format = match log_format() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("azyq-server: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(format);
    match commands::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if format == LogFormat::Json => {
            tracing::error!(error = format!("{e:#}"), "azyq-server stopped");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("azyq-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
