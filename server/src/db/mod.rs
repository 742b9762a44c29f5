//! Storage: one pool over SQLite (embedded default) or PostgreSQL (production), chosen by URL.
//!
//! Queries are written once and compiled for both backends through [`with_conn!`]; schema and
//! queries know nothing of HTTP.

pub mod audit;
pub mod group;
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
    Pg(Pool<ConnectionManager<PgConnection>>),
}

/// The database handle: cheap to clone, shared by every request and job.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
    /// SQLite's shared writer when group commit is on.
    writer: Option<std::sync::Arc<group::GroupWriter>>,
}

/// Per-connection settings for durability and concurrency on SQLite.
#[derive(Debug)]
struct SqlitePragmas;

// WAL lets readers run beside the writer; synchronous=FULL makes every commit durable (fsync of
// the WAL) before we answer 2xx; busy_timeout queues writers (of other processes too) instead of
// failing.
const SQLITE_PRAGMAS: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(SQLITE_PRAGMAS).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Which backend a URL names.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

impl Db {
    /// Opens (creating an SQLite file if needed) and migrates the database, with group commit on
    /// SQLite.
    pub fn connect(url: &str, pool_size: u32) -> anyhow::Result<Db> {
        Db::connect_with(url, pool_size, true)
    }

    /// As [`Db::connect`]; `group_commit` chooses SQLite's shared-commit writer (see [`group`]) or
    /// one transaction per commit.
    pub fn connect_with(url: &str, pool_size: u32, group_commit: bool) -> anyhow::Result<Db> {
        if is_postgres_url(url) {
            let manager = ConnectionManager::<PgConnection>::new(url);
            let pool =
                Pool::builder().max_size(pool_size).connection_timeout(Duration::from_secs(10)).build(manager)?;
            let mut conn = pool.get()?;
            conn.run_pending_migrations(PG_MIGRATIONS).map_err(|e| anyhow::anyhow!("migrating PostgreSQL: {e}"))?;
            return Ok(Db { pools: Pools::Pg(pool), writer: None });
        }
        let path = sqlite_path(url).to_owned();
        let manager = ConnectionManager::<SqliteConnection>::new(path.clone());
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)?;
        let mut conn = pool.get()?;
        conn.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| anyhow::anyhow!("migrating SQLite: {e}"))?;
        let writer = if group_commit {
            let mut w = SqliteConnection::establish(&path)?;
            w.batch_execute(SQLITE_PRAGMAS)?;
            Some(std::sync::Arc::new(group::GroupWriter::new(w)?))
        } else {
            None
        };
        Ok(Db { pools: Pools::Sqlite(pool), writer })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.pools, Pools::Pg(_))
    }

    /// Runs `f` in one write transaction: all of it commits, or none. On SQLite the transaction
    /// takes the write lock up front (BEGIN IMMEDIATE) so that two writers never deadlock.
    pub fn write<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError>) -> Result<T, AppError> {
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

    /// Runs `f` in a read transaction (a consistent snapshot on both backends).
    pub fn read<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError>) -> Result<T, AppError> {
        match &self.pools {
            Pools::Sqlite(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                pc.transaction(|c| f(&mut Conn::Sqlite(c)))
            }
            Pools::Pg(pool) => {
                let mut pc: PooledConnection<_> = pool.get()?;
                pc.build_transaction().read_only().run(|c| f(&mut Conn::Pg(c)))
            }
        }
    }

    /// Runs a blocking database closure off the async executor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, AppError> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || f(&db))
            .await
            .map_err(|e| AppError::internal(anyhow::anyhow!("blocking task failed: {e}")))?
    }
}
