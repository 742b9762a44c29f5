//! Group commit for SQLite: concurrent write transactions share one durable COMMIT (one fsync).
//!
//! SQLite runs one writer at a time anyway; what limits a durable write path is the fsync at each
//! commit. So every writer's work runs on one thread, the writer thread, on one connection, each
//! inside a SAVEPOINT of a transaction that stays open while more writers are queued; the last
//! writer of a burst (or the 64th) commits for all, and every writer answers only after that
//! commit is on disk. A writer whose work fails is rolled back to its savepoint alone; a failed
//! COMMIT fails the whole batch, whose writers all answer with the error — so a 2xx answer still
//! means "on disk", and an error still means "no effect".
//!
//! The fsync is taken out of the turn (early lock release). The write connection commits with
//! `synchronous = NORMAL`: COMMIT appends the batch's frames to the WAL file and returns without
//! syncing, the next batch starts at once, and the committing thread then syncs the WAL file
//! itself — one fsync covering every batch appended so far — before any writer of those batches is
//! answered. Nothing acknowledged can be lost: WAL frames are checksummed in a chain, so recovery
//! after a power cut keeps a prefix of the commits, and every acknowledged commit lies inside a
//! synced prefix. Other connections may read a batch in the moment between its COMMIT and its
//! fsync; anything they write after it lands later in the same WAL, so it can only be durable if
//! that batch is too. A failed fsync stops the process (as PostgreSQL does): after one, what is on
//! disk is unknown, and a restart's recovery is the only honest state.

use std::collections::VecDeque;
use std::fs::File;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
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
    /// A thread is syncing the WAL (and will commit the batch gathered meanwhile).
    syncing: bool,
}

/// What waiting writers need to know, behind a lock of its own: a writer waiting for its batch to
/// be durable never competes with the writers queued for the connection.
#[derive(Default)]
struct Done {
    /// Every batch up to this one is durable.
    durable: u64,
    /// Recent batches that failed, with why (failures are rare; kept bounded).
    failed: VecDeque<(u64, String)>,
}

/// One SQLite write connection shared by all writers of this process.
///
/// # Locks
/// `state` (the connection and the open batch) is taken before `done` (what is durable or failed),
/// never the other way round; a writer waiting for durability holds only `done` (through the
/// `committed` condition), so it never stands in the way of the writers queued for the connection.
///
/// # Invariants
/// - `done.durable ≤ written ≤ state.batch`: a batch is made durable only after its COMMIT
///   returned, and only batches that were opened can commit.
/// - A writer answers only when its batch is in `done.failed` (error) or `≤ done.durable` (ok),
///   and `failed` is looked at first: a failed batch number is never covered by a later durable one
///   in the writer's eyes.
/// - At most one sync is in flight (`state.syncing`). While it runs, a batch with members is left
///   open to gather more writers (unless full); whoever closes the turn next commits it — a writer
///   finding nobody queued behind it, or else the sync thread, which commits any open batch with
///   members and nobody queued before it syncs again. So no member of a batch waits for a commit
///   nobody will make.
pub struct GroupWriter {
    state: Mutex<State>,
    done: Mutex<Done>,
    committed: Condvar,
    /// Writers that announced themselves and wait for the connection.
    queued: AtomicUsize,
    /// The newest batch whose COMMIT returned: its frames are in the WAL file, maybe not on disk.
    written: AtomicU64,
    /// The WAL file, synced outside the turn by the sync thread; `None` when there is none to open
    /// (then the connection keeps `synchronous = FULL` and each COMMIT syncs itself).
    wal: Option<File>,
    /// Wakes the sync thread (with the `state` lock) when a batch has committed.
    to_sync: Condvar,
    /// `committed` for writers that wait as tasks ([`GroupWriter::write_async`]).
    committed_async: tokio::sync::Notify,
    /// The writer thread: every transaction runs on it, one after another (see [`GroupWriter::write`]).
    pool: rayon_core::ThreadPool,
    /// Tests: milliseconds each WAL sync takes on top of its own, to hold a batch open during it.
    #[cfg(test)]
    slow_sync_ms: AtomicU64,
}

fn sql_error(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::internal(anyhow::anyhow!("{what}: {e}"))
}

impl GroupWriter {
    /// Takes the process's write connection to the database file at `path`.
    ///
    /// It keeps statement journals in memory: every writer runs in a SAVEPOINT, and SQLite saves
    /// the first change to each page under a savepoint in a statement journal, a temporary *file*
    /// by default — under load, three in four of the server's disk writes. Those journals only
    /// serve a rollback within the open transaction and are worthless after a crash (the WAL
    /// commit is what is durable), so memory loses nothing.
    pub fn new(mut conn: SqliteConnection, path: &str) -> Result<Arc<GroupWriter>, diesel::result::Error> {
        conn.batch_execute("PRAGMA temp_store = MEMORY;")?;
        // The WAL exists once the database is in WAL mode and open; without it, no early release.
        let wal = File::open(format!("{path}-wal")).ok();
        if wal.is_some() {
            conn.batch_execute("PRAGMA synchronous = NORMAL;")?;
        } else {
            tracing::warn!(path, "group commit: no WAL file to sync apart; each COMMIT syncs itself");
        }
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "azyq-writer".into())
            .build()
            .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
        let writer = Arc::new(GroupWriter {
            pool,
            state: Mutex::new(State { conn, open: false, batch: 0, members: 0, syncing: false }),
            done: Mutex::new(Done::default()),
            committed: Condvar::new(),
            queued: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            wal,
            to_sync: Condvar::new(),
            committed_async: tokio::sync::Notify::new(),
            #[cfg(test)]
            slow_sync_ms: AtomicU64::new(0),
        });
        if writer.wal.is_some() {
            let weak = Arc::downgrade(&writer);
            std::thread::Builder::new()
                .name("azyq-wal-sync".into())
                .spawn(move || {
                    // Ends within a second of the writer being dropped.
                    while let Some(w) = weak.upgrade() {
                        w.sync_round();
                    }
                })
                .map_err(|e| diesel::result::Error::QueryBuilderError(Box::new(e)))?;
        }
        Ok(writer)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside a writer is caught below before it can poison the lock; if the lock is
        // poisoned anyway, the connection state is still consistent (every step is SQL).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` as one transaction; answers once it is durable.
    ///
    /// `f` runs on the writer thread, while this thread waits: the writer thread takes the writers
    /// one after another from its queue without sleeping in between, where request threads taking
    /// turns at a lock each had to be woken and scheduled first (with two cores busy, a woken thread
    /// waits for a core while the turn stands idle). What `f` notes for the business counters
    /// ([`crate::metrics::on_commit`]) comes back to this thread with its answer, and `f` logs in
    /// this request's span.
    pub fn write<T: Send>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError> + Send) -> Result<T, AppError> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let span = tracing::Span::current();
        let (turn, events) = self.pool.install(|| {
            let _entered = span.enter();
            crate::metrics::transaction_begins();
            let turn = self.turn(f);
            (turn, crate::metrics::take_pending())
        });
        crate::metrics::restore_pending(events);
        let (value, mine) = turn?;
        self.wait_for(mine)?;
        Ok(value)
    }

    /// As [`GroupWriter::write`], for a request that waits as a task rather than on a thread: `f`
    /// is queued to the writer thread and the task is woken when its batch is durable (or failed),
    /// so no thread is held while a writer waits for its turn or for the batch's fsync. Answers
    /// with what `f` noted for the business counters, to be counted once the value is answered
    /// ([`crate::metrics::count_committed`]). A panic of `f` is answered as an internal error.
    pub async fn write_async<T, F>(self: &Arc<Self>, f: F) -> Result<(T, Vec<crate::metrics::Event>), AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, AppError> + Send + 'static,
    {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (me, span) = (Arc::clone(self), tracing::Span::current());
        self.pool.spawn(move || {
            let _entered = span.enter();
            crate::metrics::transaction_begins();
            let turn = catch_unwind(AssertUnwindSafe(|| me.turn(f)));
            // The asker may be gone (its client hung up): the effect stands, as on a thread.
            let _ = tx.send((turn, crate::metrics::take_pending()));
        });
        let (turn, events) =
            rx.await.map_err(|_| AppError::internal(anyhow::anyhow!("the SQLite writer thread dropped a write")))?;
        let (value, mine) = turn.map_err(|_| AppError::internal(anyhow::anyhow!("a writer panicked")))??;
        self.wait_for_async(mine).await?;
        Ok((value, events))
    }

    /// The writer thread's part of [`GroupWriter::write`]: `f` in a savepoint of the open batch
    /// (opening one if none is); the value and the batch that has to be durable before it is
    /// answered. A panic of `f` unwinds to the thread that asked.
    fn turn<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, AppError>) -> Result<(T, u64), AppError> {
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
                // No effect to wait for; but if this writer closes the batch, it makes it durable.
                self.maybe_commit(st);
                return Err(e);
            }
            Err(panic) => {
                // diesel leaves the writer's savepoint open when the closure panics: roll back to
                // it, and the batch goes on without this writer, as after an error. Only if that
                // fails is the transaction's state unknown, and the whole batch is given up.
                if rollback_to_batch(&mut st.conn) {
                    self.maybe_commit(st);
                } else {
                    let _ = self.abort_batch(st, AppError::internal(anyhow::anyhow!("a writer panicked")));
                }
                resume_unwind(panic);
            }
        };
        st.members += 1;
        let mine = st.batch;
        self.maybe_commit(st);
        Ok((value, mine))
    }

    fn done(&self) -> MutexGuard<'_, Done> {
        self.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits when nobody else is queued to join the batch, or when it is full — unless a sync
    /// is under way: then the batch stays open to gather writers until that sync ends, and the
    /// sync thread commits it. So at most one sync is in flight, and a batch grows for as long as
    /// the sync before it takes.
    fn maybe_commit(&self, mut st: MutexGuard<'_, State>) {
        if !st.open || (self.queued.load(Ordering::SeqCst) > 0 && st.members < MAX_BATCH) {
            return;
        }
        if st.syncing && st.members > 0 && st.members < MAX_BATCH {
            return;
        }
        if self.commit(&mut st) {
            if self.wal.is_none() {
                // synchronous = FULL: the COMMIT itself synced.
                let batch = st.batch;
                drop(st);
                self.durable_up_to(batch);
            } else {
                self.to_sync.notify_one();
            }
        }
    }

    /// Commits (or, if nobody in it succeeded, rolls back) the open batch; true if it committed.
    fn commit(&self, st: &mut State) -> bool {
        st.open = false;
        let batch = st.batch;
        if st.members == 0 {
            if AnsiTransactionManager::rollback_transaction(&mut st.conn).is_err() {
                rollback_all(&mut st.conn);
            }
            return false;
        }
        if let Err(e) = AnsiTransactionManager::commit_transaction(&mut st.conn) {
            rollback_all(&mut st.conn);
            self.fail(batch, e.to_string());
            return false;
        }
        self.written.fetch_max(batch, Ordering::SeqCst);
        crate::metrics::group_commit(st.members);
        true
    }

    /// One round of the sync thread: wait (up to a second) for committed batches that are not yet
    /// durable, committing first any batch left open to gather during the last sync; sync the WAL
    /// file; wake the writers of every batch the sync covered.
    fn sync_round(&self) {
        let Some(wal) = &self.wal else { return };
        let mut st = self.lock();
        loop {
            if st.open && st.members > 0 && self.queued.load(Ordering::SeqCst) == 0 {
                self.commit(&mut st);
            }
            if self.written.load(Ordering::SeqCst) > self.done().durable {
                break;
            }
            st.syncing = false;
            let (guard, waited) =
                self.to_sync.wait_timeout(st, Duration::from_secs(1)).unwrap_or_else(|p| p.into_inner());
            st = guard;
            if waited.timed_out() && !st.open && self.written.load(Ordering::SeqCst) <= self.done().durable {
                return;
            }
        }
        st.syncing = true;
        let upto = self.written.load(Ordering::SeqCst);
        drop(st);
        #[cfg(test)]
        std::thread::sleep(Duration::from_millis(self.slow_sync_ms.load(Ordering::SeqCst)));
        if let Err(e) = wal.sync_data() {
            tracing::error!(error = %e, "fsync of the SQLite WAL failed: stopping, so that nothing unsynced is acknowledged");
            std::process::abort();
        }
        self.durable_up_to(upto);
    }

    fn durable_up_to(&self, batch: u64) {
        let mut done = self.done();
        done.durable = done.durable.max(batch);
        self.committed.notify_all();
        self.committed_async.notify_waiters();
    }

    /// A batch that did not commit: its writers answer the error.
    fn fail(&self, batch: u64, why: String) {
        let mut done = self.done();
        if done.failed.len() >= 4_096 {
            done.failed.pop_front();
        }
        done.failed.push_back((batch, why));
        self.committed.notify_all();
        self.committed_async.notify_waiters();
    }

    /// Waits, without holding the connection, until batch `mine` is durable or failed.
    fn wait_for(&self, mine: u64) -> Result<(), AppError> {
        let mut done = self.done();
        loop {
            if let Some(answer) = done.outcome(mine) {
                return answer;
            }
            done = self.committed.wait(done).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// As [`GroupWriter::wait_for`], as a task.
    async fn wait_for_async(&self, mine: u64) -> Result<(), AppError> {
        loop {
            // Registered before the look, so a batch made durable in between still wakes it.
            let woken = self.committed_async.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if let Some(answer) = self.done().outcome(mine) {
                return answer;
            }
            woken.await;
        }
    }

    /// A broken transaction: roll back everything open and fail this writer and the batch.
    fn abort_batch(&self, mut st: MutexGuard<'_, State>, err: AppError) -> AppError {
        rollback_all(&mut st.conn);
        st.open = false;
        let batch = st.batch;
        drop(st);
        self.fail(batch, format!("{err}"));
        err
    }
}

impl Done {
    /// How batch `mine` ended, if it has: a failure is looked at first (see the invariants).
    fn outcome(&self, mine: u64) -> Option<Result<(), AppError>> {
        if let Some((_, e)) = self.failed.iter().find(|(b, _)| *b == mine) {
            return Some(Err(sql_error("commit", e)));
        }
        (self.durable >= mine).then_some(Ok(()))
    }
}

/// Rolls back every savepoint inside the batch's transaction; true if the batch's own transaction
/// is left open and usable.
fn rollback_to_batch(conn: &mut SqliteConnection) -> bool {
    for _ in 0..8 {
        match AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth() {
            Ok(Some(depth)) if depth.get() > 1 => {
                if AnsiTransactionManager::rollback_transaction(conn).is_err() {
                    return false;
                }
            }
            Ok(Some(_)) => return true,
            _ => return false,
        }
    }
    false
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
        let w = GroupWriter::new(conn, path.to_str().unwrap()).unwrap();
        assert!(w.wal.is_some(), "the WAL is synced by the sync thread, outside the write turn");
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
        assert_eq!(on_disk(&path), 12);
    }

    /// The rows of `t` as a fresh connection to the file sees them.
    fn on_disk(path: &std::path::Path) -> i64 {
        let mut fresh = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let n: Vec<N> = diesel::sql_query("SELECT COUNT(*) AS n FROM t").load(&mut fresh).unwrap();
        n[0].n
    }

    fn writer() -> (tempfile::TempDir, Arc<GroupWriter>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY)").unwrap();
        let w = GroupWriter::new(conn, path.to_str().unwrap()).unwrap();
        (dir, w)
    }

    /// A writer that panics in the middle of its work takes only its own work with it: the other
    /// writers of its batch commit, and the next batches too.
    #[test]
    fn a_panicking_writer_does_not_fail_its_batch() {
        let (_dir, w) = writer();
        let ok = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for i in 0..24i64 {
                let (w, ok) = (w.clone(), &ok);
                s.spawn(move || {
                    let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        w.write(|c| {
                            with_conn!(c, c => diesel::sql_query(format!("INSERT INTO t (k) VALUES ({i})")).execute(c))?;
                            assert!(i % 6 != 0, "writer {i} panics after its insert");
                            Ok(())
                        })
                    }));
                    match r {
                        Ok(Ok(())) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Err(e)) => panic!("writer {i} failed although it did not panic: {e}"),
                        Err(_) => assert_eq!(i % 6, 0, "only the panicking writers unwind"),
                    }
                });
            }
        });
        assert_eq!(ok.load(Ordering::SeqCst), 20);
        // The panicking writers' inserts are gone, every other one is there.
        assert_eq!(count(&w), 20);
        assert!(w
            .write(|c| Ok(with_conn!(c, c => diesel::sql_query("INSERT INTO t (k) VALUES (0)").execute(c))?))
            .is_ok());
    }

    /// A writer's work runs on the writer thread, yet what it notes for the business counters comes
    /// back to the thread that asked (which counts it only if the transaction committed).
    #[test]
    fn what_a_writer_notes_comes_back_to_its_own_thread() {
        let (_dir, w) = writer();
        crate::metrics::transaction_begins();
        let ran_on = w
            .write(|_| {
                crate::metrics::on_commit(crate::metrics::Event::Hold);
                Ok(std::thread::current().name().map(str::to_owned))
            })
            .unwrap();
        assert_eq!(ran_on.as_deref(), Some("azyq-writer"));
        assert_eq!(crate::metrics::take_pending(), vec![crate::metrics::Event::Hold]);
    }

    /// Writers awaited as tasks, far more of them than there are threads (one: the runtime's),
    /// share the writer thread's batches: each is answered once its batch is durable, a failure
    /// undoes only its own work, a panic is answered as an error without failing its batch, and
    /// what each noted for the counters comes back with its answer.
    #[test]
    fn writers_awaited_as_tasks_hold_no_thread_and_keep_every_promise() {
        let (dir, w) = writer();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answers: Vec<Result<(i64, Vec<crate::metrics::Event>), AppError>> = rt.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..200i64 {
                let w = w.clone();
                tasks.spawn(async move {
                    let r = w
                        .write_async(move |c| {
                            with_conn!(c, c => diesel::sql_query(format!("INSERT INTO t (k) VALUES ({i})")).execute(c))?;
                            crate::metrics::on_commit(crate::metrics::Event::Hold);
                            assert!(i % 50 != 7, "writer {i} panics after its insert");
                            if i % 10 == 3 {
                                return Err(AppError::validation("i", "refused"));
                            }
                            Ok(i)
                        })
                        .await;
                    (i, r)
                });
            }
            let mut answers = Vec::new();
            while let Some(done) = tasks.join_next().await {
                let (i, r) = done.unwrap();
                answers.push(r.map(|(v, events)| {
                    assert_eq!(v, i);
                    (v, events)
                }));
            }
            answers
        });
        let ok: Vec<&(i64, Vec<crate::metrics::Event>)> = answers.iter().filter_map(|r| r.as_ref().ok()).collect();
        // 20 refused (i % 10 == 3); 4 panicked (7, 57, 107, 157), answered as errors.
        assert_eq!(ok.len(), 176);
        assert!(ok.iter().all(|(_, events)| events == &vec![crate::metrics::Event::Hold]));
        assert_eq!(answers.iter().filter(|r| r.as_ref().is_err_and(|e| e.to_string().contains("panicked"))).count(), 4);
        // Answered Ok means on disk: a fresh connection sees exactly those.
        assert_eq!(on_disk(&dir.path().join("g.db")), 176);
        assert_eq!(count(&w), 176);
    }

    /// A writer that arrives while the WAL is being synced joins a batch left open to gather; with
    /// nobody behind it, the sync thread commits that batch itself, and the writer is answered once
    /// it is durable.
    #[test]
    fn the_sync_thread_commits_a_batch_left_open_during_a_sync() {
        let (dir, w) = writer();
        w.slow_sync_ms.store(300, Ordering::SeqCst);
        std::thread::scope(|s| {
            let first = s.spawn(|| {
                w.write(|c| Ok(with_conn!(c, c => diesel::sql_query("INSERT INTO t (k) VALUES (1)").execute(c))?))
            });
            // The first batch is committed and being synced by now.
            std::thread::sleep(Duration::from_millis(100));
            assert!(w.lock().syncing, "the first batch's sync is under way");
            let second = s.spawn(|| {
                w.write(|c| Ok(with_conn!(c, c => diesel::sql_query("INSERT INTO t (k) VALUES (2)").execute(c))?))
            });
            std::thread::sleep(Duration::from_millis(50));
            {
                let st = w.lock();
                assert!(st.open && st.members == 1, "the second writer waits in a batch left open");
            }
            first.join().unwrap().unwrap();
            second.join().unwrap().unwrap();
        });
        assert!(w.written.load(Ordering::SeqCst) >= 2 && w.done().durable >= 2);
        assert_eq!(on_disk(&dir.path().join("g.db")), 2);
    }

    /// A COMMIT that fails fails every writer of its batch (none of them is on disk), and the
    /// writer goes on with the next batch.
    #[test]
    fn a_failed_commit_fails_the_whole_batch_only() {
        let (_dir, w) = writer();
        // A deferred foreign key is checked at COMMIT: a batch holding a dangling reference cannot
        // commit.
        w.write(|c| {
            with_conn!(c, c => diesel::sql_query("CREATE TABLE r (k INTEGER REFERENCES t(k) DEFERRABLE INITIALLY DEFERRED)").execute(c))?;
            Ok(())
        })
        .unwrap();
        {
            let mut st = w.lock();
            st.conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
        }
        let r = w.write(|c| {
            with_conn!(c, c => diesel::sql_query("INSERT INTO t (k) VALUES (1)").execute(c))?;
            with_conn!(c, c => diesel::sql_query("INSERT INTO r (k) VALUES (999)").execute(c))?;
            Ok(())
        });
        assert!(r.is_err(), "the batch's COMMIT failed, so its writer must not be answered Ok");
        assert_eq!(count(&w), 0, "nothing of the failed batch is there");
        w.write(|c| Ok(with_conn!(c, c => diesel::sql_query("INSERT INTO t (k) VALUES (2)").execute(c))?)).unwrap();
        assert_eq!(count(&w), 1);
    }
}
