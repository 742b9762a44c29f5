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

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AZYQ_LOG").unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    // Colours only on a terminal: a log file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}

fn main() -> ExitCode {
    init_logging();
    match commands::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azyq-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
