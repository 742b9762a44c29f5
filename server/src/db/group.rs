//! Group commit for SQLite: concurrent write transactions share one durable COMMIT (one fsync).
//!
//! SQLite runs one writer at a time anyway; what limits a durable write path is the fsync at each
//! commit (~0.2 ms here). So the writers take turns on one connection, each inside a SAVEPOINT of a
//! transaction that stays open while more writers are queued; the last writer of a burst (or the
//! 64th) commits for all, and every writer answers only after that commit is on disk. A writer whose
//! work fails is rolled back to its savepoint alone; a failed COMMIT fails the whole batch, whose
//! writers all answer with the error — so a 2xx answer still means "on disk", and an error still
//! means "no effect".

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use super::Conn;
use crate::error::AppError;

/// Most transactions one COMMIT may carry, to bound the wait of the first in a burst.
const MAX_BATCH: usize = 64;

struct State {
    conn: SqliteConnection,
    /// A transaction is open and gathering writers.
    open: bool,
    /// The batch now open (or last opened).
    batch: u64,
    members: usize,
}

/// What waiting writers need to know, behind a lock of its own: a writer waiting for its batch's
/// COMMIT never competes with the writers queued for the connection.
#[derive(Default)]
struct Done {
    /// The newest batch whose COMMIT finished.
    finished: u64,
    /// Recent batches that failed, with why (failures are rare; kept bounded).
    failed: VecDeque<(u64, String)>,
}

/// One SQLite write connection shared by all writers of this process.
pub struct GroupWriter {
    state: Mutex<State>,
    done: Mutex<Done>,
    committed: Condvar,
    /// Writers that announced themselves and wait for the connection.
    queued: AtomicUsize,
}

fn sql_error(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::internal(anyhow::anyhow!("{what}: {e}"))
}

impl GroupWriter {
    /// Takes the process's write connection. It keeps statement journals in memory: every writer
    /// runs in a SAVEPOINT, and SQLite saves the first change to each page under a savepoint in a
    /// statement journal, a temporary *file* by default — under load, three in four of the
    /// server's disk writes. Those journals only serve a rollback within the open transaction and
    /// are worthless after a crash (the WAL commit is what is durable), so memory loses nothing.
    pub fn new(mut conn: SqliteConnection) -> Result<GroupWriter, diesel::result::Error> {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("PRAGMA temp_store = MEMORY;")?;
        Ok(GroupWriter {
            state: Mutex::new(State { conn, open: false, batch: 0, members: 0 }),
            done: Mutex::new(Done::default()),
            committed: Condvar::new(),
            queued: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside a writer is caught below before it can poison the lock; if the lock is
        // poisoned anyway, the connection state is still consistent (every step is SQL).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` as one transaction; answers once it is durable.
    pub fn write<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError>) -> Result<T, AppError> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        self.queued.fetch_sub(1, Ordering::SeqCst);
        if !st.open {
            // Through diesel's transaction manager, so that diesel's own nested transactions (its
            // SQLite batch insert uses one) become savepoints inside ours.
            if let Err(e) = AnsiTransactionManager::begin_transaction_sql(&mut st.conn, "BEGIN IMMEDIATE") {
                return Err(sql_error("begin", e));
            }
            st.open = true;
            st.batch += 1;
            st.members = 0;
        }
        // A nested diesel transaction is a SAVEPOINT: an error rolls back this writer's work alone.
        let result =
            catch_unwind(AssertUnwindSafe(|| st.conn.transaction::<T, AppError, _>(|c| f(&mut Conn::Sqlite(c)))));
        let value = match result {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                drop(self.maybe_commit(st));
                return Err(e);
            }
            Err(panic) => {
                // The transaction's state is unknown after a panic: give up the whole batch.
                let _ = self.abort_batch(st, AppError::internal(anyhow::anyhow!("a writer panicked")));
                resume_unwind(panic);
            }
        };
        st.members += 1;
        let mine = st.batch;
        let st = self.maybe_commit(st);
        self.wait_for(st, mine)?;
        Ok(value)
    }

    fn done(&self) -> MutexGuard<'_, Done> {
        self.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits when nobody else is queued to join the batch, or when it is full.
    fn maybe_commit<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        if !st.open || (self.queued.load(Ordering::SeqCst) > 0 && st.members < MAX_BATCH) {
            return st;
        }
        let outcome = if st.members == 0 {
            AnsiTransactionManager::rollback_transaction(&mut st.conn).map_err(|e| e.to_string())
        } else {
            AnsiTransactionManager::commit_transaction(&mut st.conn).map_err(|e| e.to_string())
        };
        if outcome.is_err() {
            rollback_all(&mut st.conn);
        }
        self.finish(&mut st, outcome.err());
        st
    }

    /// Closes the open batch and wakes its writers with its outcome.
    fn finish(&self, st: &mut State, failure: Option<String>) {
        st.open = false;
        let mut done = self.done();
        if let Some(why) = failure {
            if done.failed.len() >= 4_096 {
                done.failed.pop_front();
            }
            done.failed.push_back((st.batch, why));
        }
        done.finished = st.batch;
        self.committed.notify_all();
    }

    /// Waits, without holding the connection, until batch `mine` has committed; answers its outcome.
    fn wait_for(&self, st: MutexGuard<'_, State>, mine: u64) -> Result<(), AppError> {
        drop(st);
        let mut done = self.done();
        while done.finished < mine {
            done = self.committed.wait(done).unwrap_or_else(|p| p.into_inner());
        }
        match done.failed.iter().find(|(b, _)| *b == mine) {
            Some((_, e)) => Err(sql_error("commit", e)),
            None => Ok(()),
        }
    }

    /// A broken transaction: roll back everything open and fail this writer and the batch.
    fn abort_batch(&self, mut st: MutexGuard<'_, State>, err: AppError) -> AppError {
        rollback_all(&mut st.conn);
        self.finish(&mut st, Some(format!("{err}")));
        err
    }
}

/// Leaves no transaction open, whatever state diesel's manager is in.
fn rollback_all(conn: &mut SqliteConnection) {
    for _ in 0..8 {
        let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth();
        match depth {
            Ok(Some(_)) => {
                if AnsiTransactionManager::rollback_transaction(conn).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;
    use crate::with_conn;

    fn count(w: &GroupWriter) -> i64 {
        w.write(|c| {
            #[derive(QueryableByName)]
            struct N {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let rows: Vec<N> = with_conn!(c, c => diesel::sql_query("SELECT COUNT(*) AS n FROM t").load(c))?;
            Ok(rows[0].n)
        })
        .unwrap()
    }

    #[test]
    fn concurrent_writers_share_commits_and_a_failure_undoes_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (k INTEGER PRIMARY KEY)",
        )
        .unwrap();
        let w = Arc::new(GroupWriter::new(conn).unwrap());
        std::thread::scope(|s| {
            for i in 0..16i64 {
                let w = w.clone();
                s.spawn(move || {
                    let r = w.write(|c| {
                        with_conn!(c, c => diesel::sql_query(format!("INSERT INTO t (k) VALUES ({i})")).execute(c))?;
                        if i % 5 == 0 {
                            // Fails after its insert: the insert must not survive.
                            return Err(AppError::validation("i", "refused"));
                        }
                        Ok(i)
                    });
                    assert_eq!(r.is_ok(), i % 5 != 0);
                });
            }
        });
        assert_eq!(count(&w), 16 - 4);
        // A duplicate key is an error for that writer only.
        assert!(w
            .write(|c| Ok(with_conn!(c, c => diesel::sql_query("INSERT INTO t (k) VALUES (1)").execute(c))?))
            .is_err());
        assert_eq!(count(&w), 12);
        // What was answered Ok is on disk: a fresh connection sees it.
        let mut fresh = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let n: Vec<N> = diesel::sql_query("SELECT COUNT(*) AS n FROM t").load(&mut fresh).unwrap();
        assert_eq!(n[0].n, 12);
    }
}
