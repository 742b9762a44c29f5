//! Storage: one pool over SQLite (embedded default) or PostgreSQL (production), chosen by URL.
//!
//! Queries are written once and compiled for both backends through [`with_conn!`]; schema and
//! queries know nothing of HTTP.

pub mod audit;
pub mod count;
pub mod fixed;
pub mod group;
pub mod pgpool;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::AppError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// A connection of either backend, borrowed for one unit of work.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection, so one query text serves both backends.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite(inner) => {
                let $c: &mut ::diesel::sqlite::SqliteConnection = &mut **inner;
                $body
            }
            $crate::db::Conn::Pg(inner) => {
                let $c: &mut ::diesel::pg::PgConnection = &mut **inner;
                $body
            }
        }
    };
}

#[derive(Clone)]
enum Pools {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Pg(Pool<pgpool::PgManager>),
}

/// The database handle: cheap to clone, shared by every request and job.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
    /// SQLite's shared writer when group commit is on.
    writer: Option<std::sync::Arc<group::GroupWriter>>,
}

/// Per-connection settings for durability, concurrency and memory on SQLite.
#[derive(Debug)]
struct SqlitePragmas(String);

impl SqlitePragmas {
    // WAL (set once per file, in `Db::open`) lets readers run beside the writer; synchronous=FULL
    // makes every commit durable (fsync of the WAL) before we answer 2xx; busy_timeout queues
    // writers (of other processes too) instead of failing. The page cache is bounded explicitly (negative cache_size = KiB) because it is per
    // connection: the pool and the writer multiply it. mmap stays off: mapped database pages would
    // count in the server's resident memory, and reads through the OS page cache are fast enough.
    fn new(cache_kib: u32) -> SqlitePragmas {
        SqlitePragmas(format!(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA cache_size = -{cache_kib}; PRAGMA mmap_size = 0;"
        ))
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&self.0).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How many times [`Db::write_retrying`] runs a transaction that keeps losing races.
pub const WRITE_ATTEMPTS: u32 = 6;

/// SQLite's page cache per connection unless told otherwise, KiB (SQLite's own default is 2000).
pub const DEFAULT_SQLITE_CACHE_KIB: u32 = 2048;

/// How to open the database.
#[derive(Debug, Clone, Copy)]
pub struct DbOptions {
    /// Connections in the pool.
    pub pool_size: u32,
    /// SQLite: the shared-commit writer (see [`group`]) instead of one transaction per commit.
    pub group_commit: bool,
    /// SQLite: page cache per connection, KiB.
    pub sqlite_cache_kib: u32,
}

impl DbOptions {
    /// Group commit on, SQLite's default cache size.
    pub fn with_pool(pool_size: u32) -> DbOptions {
        DbOptions { pool_size, group_commit: true, sqlite_cache_kib: DEFAULT_SQLITE_CACHE_KIB }
    }
}

/// Which backend a URL names.
/// The database `DATABASE_URL` names: an SQLite file or a PostgreSQL server.
#[derive(Debug, PartialEq, Eq)]
pub enum DbUrl<'a> {
    /// `sqlite://FILE` (or `sqlite:FILE`): the file's path.
    Sqlite(&'a str),
    /// `postgres://…` or `postgresql://…`, whole.
    Postgres(&'a str),
}

const SUPPORTED: &str = "use sqlite://FILE (e.g. sqlite://azyq.db) or postgres://USER@HOST:PORT/DATABASE";

impl<'a> DbUrl<'a> {
    pub fn parse(url: &'a str) -> anyhow::Result<DbUrl<'a>> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                anyhow::bail!("DATABASE_URL {url:?} names no file: {SUPPORTED}");
            }
            return Ok(DbUrl::Sqlite(path));
        }
        // Only the scheme is repeated: the rest of a URL may hold a password.
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some(scheme) if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') => {
                anyhow::bail!("DATABASE_URL: the scheme {scheme:?} is not supported; {SUPPORTED}")
            }
            _ => anyhow::bail!("DATABASE_URL is not a database URL; {SUPPORTED}"),
        }
    }

    /// Where it is, for messages: the file, or the server's host, port and database without the
    /// user or password.
    pub fn place(&self) -> String {
        match self {
            DbUrl::Sqlite(path) => (*path).to_owned(),
            DbUrl::Postgres(url) => {
                let rest = url.split_once("://").map_or(*url, |(_, rest)| rest);
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                rest.split('?').next().unwrap_or(rest).to_owned()
            }
        }
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    matches!(DbUrl::parse(url), Ok(DbUrl::Postgres(_)))
}

/// The database file (it holds personal data, and by default the secrets) and its WAL and shared
/// memory files are readable by the service's user only: made so (the process's umask is 077),
/// and mended if an older version left them readable by others. SQLite gives the WAL and SHM
/// files the database file's permissions when it creates them.
fn make_private(path: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if path == ":memory:" || path.is_empty() {
        return Ok(());
    }
    for p in [path.to_owned(), format!("{path}-wal"), format!("{path}-shm")] {
        match std::fs::metadata(&p) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| anyhow::anyhow!("making {p} private: {e}"))?;
                tracing::warn!(file = %p, "was readable by other users; now 0600");
            }
            _ => {}
        }
    }
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!("creating the database file {path}: {e}")),
    }
}

/// How long a transaction that lost a race waits before running again: a few milliseconds,
/// different per attempt and per caller, so two victims do not meet again.
fn retry_pause(attempt: u32, e: &AppError) -> Duration {
    tracing::debug!(attempt, error = %e, "transaction lost a race; running it again");
    Duration::from_millis(u64::from(rand::random::<u8>() % 8) + u64::from(attempt))
}

impl Db {
    /// Opens (creating an SQLite file if needed) and migrates the database, with group commit on
    /// SQLite.
    pub fn connect(url: &str, pool_size: u32) -> anyhow::Result<Db> {
        Db::open(url, &DbOptions::with_pool(pool_size))
    }

    /// Opens (creating an SQLite file if needed) and migrates the database as `options` say.
    pub fn open(url: &str, options: &DbOptions) -> anyhow::Result<Db> {
        let DbOptions { pool_size, group_commit, sqlite_cache_kib } = *options;
        count::install();
        let parsed = DbUrl::parse(url)?;
        let path = match parsed {
            DbUrl::Sqlite(path) => path.to_owned(),
            DbUrl::Postgres(url) => {
                // One attempt first, so that a server that cannot be reached is one clear line rather
                // than the pool's retries logged for ten seconds.
                if let Err(e) = PgConnection::establish(url) {
                    let why = e.to_string();
                    let why = why.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no answer").to_owned();
                    anyhow::bail!("cannot connect to PostgreSQL at {}: {why}", parsed.place());
                }
                let manager = pgpool::PgManager::new(url);
                let pool = Pool::builder()
                    .max_size(pool_size)
                    .connection_timeout(Duration::from_secs(10))
                    // Tested at check-out only when it may be stale (see `pgpool`): idle for a
                    // second, or older than the last connection this process saw lost. A busy
                    // connection costs no round trip; a read on a connection lost less than a
                    // second ago can still fail once (writes are run again).
                    .test_on_check_out(true)
                    .event_handler(Box::new(crate::metrics::PoolEvents))
                    .build(manager)?;
                let mut conn = pool.get()?;
                conn.run_pending_migrations(PG_MIGRATIONS).map_err(|e| anyhow::anyhow!("migrating PostgreSQL: {e}"))?;
                return Ok(Db { pools: Pools::Pg(pool), writer: None });
            }
        };
        make_private(&path)?;
        // WAL is a property of the file: set it once, before the pool opens its connections in
        // parallel (changing the journal mode takes the database alone; concurrent changes fail
        // with "database is locked", which r2d2 logged at every start on a fresh file).
        SqliteConnection::establish(&path)?.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")?;
        let manager = ConnectionManager::<SqliteConnection>::new(path.clone());
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            // An SQLite connection is a file handle in this process: nothing to test before use.
            .test_on_check_out(false)
            .connection_customizer(Box::new(SqlitePragmas::new(sqlite_cache_kib)))
            .event_handler(Box::new(crate::metrics::PoolEvents))
            .build(manager)?;
        let mut conn = pool.get()?;
        conn.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| anyhow::anyhow!("migrating SQLite: {e}"))?;
        let writer = if group_commit {
            let mut w = SqliteConnection::establish(&path)?;
            w.batch_execute(&SqlitePragmas::new(sqlite_cache_kib).0)?;
            Some(group::GroupWriter::new(w, &path)?)
        } else {
            None
        };
        Ok(Db { pools: Pools::Sqlite(pool), writer })
    }

    /// Runs `f` in one write transaction: all of it commits, or none. On SQLite the transaction
    /// takes the write lock up front (BEGIN IMMEDIATE) so that two writers never deadlock.
    pub fn write<T: Send>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError> + Send) -> Result<T, AppError> {
        // Business counters noted by `f` count only if it commits (see `crate::metrics`).
        crate::metrics::transaction_begins();
        let result = self.write_once(f);
        crate::metrics::transaction_ended(result.is_ok());
        result
    }

    fn write_once<T: Send>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError> + Send) -> Result<T, AppError> {
        if let Some(writer) = &self.writer {
            return writer.write(f);
        }
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                pc.immediate_transaction(|c| f(&mut Conn::Sqlite(c)))
            }
            Pools::Pg(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                pc.transaction(|c| f(&mut Conn::Pg(c)))
            }
        }
    }

    /// As [`Db::write`], running `f` again (up to [`WRITE_ATTEMPTS`] times in all) when its
    /// transaction lost a race that a fresh transaction resolves: a unique key a concurrent twin
    /// took first, a serialisation failure, a deadlock ([`AppError::is_retryable`]). So such races
    /// never reach a client as a 500.
    pub fn write_retrying<T: Send>(&self, f: impl Fn(&mut Conn) -> Result<T, AppError> + Sync) -> Result<T, AppError> {
        let mut attempt = 1;
        loop {
            match self.write(&f) {
                Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                    std::thread::sleep(retry_pause(attempt, &e));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// True when write transactions run on SQLite's writer thread (group commit), so that a
    /// request can wait for one as a task ([`Db::write_retrying_async`]) instead of on a thread.
    pub fn writes_on_writer_thread(&self) -> bool {
        self.writer.is_some()
    }

    /// As [`Db::write_retrying`], for a request that waits as a task. With SQLite's writer thread
    /// the transaction is queued to it and no thread is held while it waits for its turn and its
    /// batch's fsync (see [`group::GroupWriter::write_async`]): the requests in flight are not
    /// bounded by the blocking threads. Otherwise it runs on a blocking thread.
    pub async fn write_retrying_async<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> Result<T, AppError> + Send + Sync + 'static,
    {
        let Some(writer) = &self.writer else {
            return self.run(move |db| db.write_retrying(f)).await;
        };
        let f = std::sync::Arc::new(f);
        let mut attempt = 1;
        loop {
            let g = std::sync::Arc::clone(&f);
            match writer.write_async(move |c| g(c)).await {
                Ok((value, events)) => {
                    crate::metrics::count_committed(events);
                    return Ok(value);
                }
                Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                    tokio::time::sleep(retry_pause(attempt, &e)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `f` in a read transaction (a consistent snapshot on both backends). On PostgreSQL that
    /// takes REPEATABLE READ: under the default READ COMMITTED each statement sees what committed
    /// before it, so a read of several statements could count one row twice or not at all. A
    /// read-only transaction there never fails for serialisation.
    pub fn read<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError>) -> Result<T, AppError> {
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                pc.transaction(|c| f(&mut Conn::Sqlite(c)))
            }
            Pools::Pg(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                pc.build_transaction().read_only().repeatable_read().run(|c| f(&mut Conn::Pg(c)))
            }
        }
    }

    /// Runs `f`, a read of ONE statement, outside any transaction: a single statement sees one
    /// consistent state by itself, and skipping `BEGIN`/`COMMIT` saves two of the three statements
    /// (on PostgreSQL, two of the three round trips).
    pub fn read_one<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError>) -> Result<T, AppError> {
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                f(&mut Conn::Sqlite(&mut pc))
            }
            Pools::Pg(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                f(&mut Conn::Pg(&mut pc))
            }
        }
    }

    /// Runs a short read (a few indexed look-ups) for a request. On SQLite it runs right here on
    /// the request's thread: such a read costs a few microseconds of CPU and never waits for a
    /// writer (WAL), less than the hand-over to a blocking thread and back. On PostgreSQL a read
    /// is a network round trip, so it goes to a blocking thread.
    pub async fn read_short<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, AppError> + Send + 'static,
    {
        match &self.pools {
            Pools::Sqlite(_) => self.read(f),
            Pools::Pg(_) => self.run(move |db| db.read(f)).await,
        }
    }

    /// As [`Db::read_short`] for a read of ONE statement, outside any transaction ([`Db::read_one`]).
    pub async fn read_short_one<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, AppError> + Send + 'static,
    {
        match &self.pools {
            Pools::Sqlite(_) => self.read_one(f),
            Pools::Pg(_) => self.run(move |db| db.read_one(f)).await,
        }
    }

    /// Runs a blocking database closure off the async executor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::DbUrl;

    #[test]
    fn database_urls_name_their_scheme_and_place() {
        assert_eq!(DbUrl::parse("sqlite://azyq.db").unwrap(), DbUrl::Sqlite("azyq.db"));
        assert_eq!(DbUrl::parse("sqlite:/tmp/a.db").unwrap(), DbUrl::Sqlite("/tmp/a.db"));
        let pg = DbUrl::parse("postgres://azyq:s3cret@db.local:5433/azyq?sslmode=require").unwrap();
        assert_eq!(pg.place(), "db.local:5433/azyq", "no user or password in messages");
        for (url, says) in [
            ("mysql://root:pw@host/db", "the scheme \"mysql\" is not supported"),
            ("garbage", "not a database URL"),
            ("sqlite://", "names no file"),
            ("", "not a database URL"),
        ] {
            let e = DbUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("sqlite://FILE") && e.contains("postgres://"), "{url}: {e}");
            assert!(!e.contains("pw@"), "{e}");
        }
    }
}
