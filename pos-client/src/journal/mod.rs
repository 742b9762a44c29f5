//! The till's journal: a local SQLite file (diesel, as the server's) that lets the till sell while
//! the server cannot be reached and upload each offline sale exactly once when it can.
//!
//! It keeps the session of the last online log-in, the last offline pack (exact bytes, signature,
//! pack key), the offline sales in order with their upload state and the server's answer, the
//! token nonces used on this till, and the offline discount per voucher per Almaty day.
//!
//! WAL with `synchronous = FULL`: a COMMIT returns once the sale is on disk, so the receipt (or
//! the JSON) follows a sale that survives a power cut. The file holds the session token: it is
//! created mode 0600 in a directory of mode 0700.

mod schema;

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use azyq_shared::Tiyn;
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use rand::RngCore;

use schema::{offline_sale_vouchers, offline_sales, pack, session, used_nonces, voucher_days};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/till");

/// How long a connection waits for another (the background sync, the counter) to finish writing.
const BUSY_TIMEOUT_MS: u32 = 10_000;

/// The file's name under the data directory.
const DEFAULT_FILE: &str = "azyq/journal.db";

/// What went wrong with the journal; the text names the cause for the log, `i18n::journal_failed`
/// says it to the cashier.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {cause}")]
    Open { path: String, cause: String },
    #[error("{0}")]
    Db(String),
    /// A token nonce already in the journal: the token was used on this till.
    #[error("nonce already used on this till")]
    NonceUsed,
}

impl From<DieselError> for JournalError {
    fn from(e: DieselError) -> Self {
        JournalError::Db(e.to_string())
    }
}

/// An offline sale's upload state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleStatus {
    /// Not answered by the server yet.
    Pending,
    /// The server answered; its answer is kept.
    Uploaded,
}

impl SaleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SaleStatus::Pending => "pending",
            SaleStatus::Uploaded => "uploaded",
        }
    }
}

/// The cashier session of the last online log-in on this till.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = session)]
pub struct KeptSession {
    pub server: String,
    pub shop_id: String,
    pub terminal_id: String,
    pub login: String,
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
    /// Argon2 (PHC string) of the password that logged in.
    pub password_hash: String,
}

/// What an online log-in leaves for offline use.
#[derive(Debug, Clone, Copy)]
pub struct LoggedIn<'a> {
    pub server: &'a str,
    pub shop: &'a str,
    pub terminal: &'a str,
    pub login: &'a str,
    pub password: &'a str,
    pub token: &'a str,
    pub expires_at: DateTime<Utc>,
}

impl KeptSession {
    /// The session to keep; the password is hashed (Argon2, a random salt), never kept.
    pub fn new(s: LoggedIn) -> Result<Self, JournalError> {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(s.password.as_bytes(), &salt)
            .map_err(|e| JournalError::Db(format!("argon2: {e}")))?;
        Ok(KeptSession {
            server: s.server.to_owned(),
            shop_id: s.shop.to_owned(),
            terminal_id: s.terminal.to_owned(),
            login: s.login.to_owned(),
            token: s.token.to_owned(),
            expires_at: s.expires_at.to_rfc3339(),
            password_hash: hash.to_string(),
        })
    }

    /// Whether `password` is the one that logged in.
    pub fn password_is(&self, password: &str) -> bool {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(&self.password_hash)
            .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    }

    pub fn expires(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.expires_at).ok().map(|t| t.with_timezone(&Utc))
    }

    /// Whether the session is this cashier's at this shop and terminal, and not over at `now`.
    pub fn serves(&self, shop: &str, terminal: &str, login: &str, now: DateTime<Utc>) -> bool {
        self.shop_id == shop
            && self.terminal_id == terminal
            && self.login == login
            && self.expires().is_some_and(|e| now < e)
    }
}

/// The last offline pack as it came: the bytes the server signed, untouched.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredPack {
    pub kid: i32,
    pub bytes: Vec<u8>,
    pub signature: Vec<u8>,
    /// The pack key (32 bytes) from `/.well-known/offline-pack-keys`.
    pub public_key: Vec<u8>,
    /// RFC 3339: when the till fetched it (it refreshes a pack older than an hour).
    pub fetched_at: String,
}

impl StoredPack {
    pub fn fetched(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.fetched_at).ok().map(|t| t.with_timezone(&Utc))
    }
}

/// An offline sale to keep, with what it drew from each voucher and the nonces it used.
#[derive(Debug, Clone)]
pub struct NewSale {
    pub sale_id: String,
    pub sold_at: DateTime<Utc>,
    /// The upload's JSON (an `OfflineSale`).
    pub body: String,
    pub discount: Tiyn,
    /// (voucher id, discount drawn from it), in scan order.
    pub vouchers: Vec<(i64, Tiyn)>,
    /// The tokens' nonces, hex.
    pub nonces: Vec<String>,
    /// The Almaty day of the sale, `YYYY-MM-DD`.
    pub day: String,
}

/// A sale waiting for upload, in the till's order.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct PendingSale {
    pub seq: i64,
    pub sale_id: String,
    pub body: String,
}

/// The journal file, open.
pub struct Journal {
    conn: SqliteConnection,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

/// `$XDG_DATA_HOME/azyq/journal.db`, else `~/.local/share/azyq/journal.db`.
pub fn default_path() -> Option<PathBuf> {
    let non_empty = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    let data = non_empty(std::env::var_os("XDG_DATA_HOME"))
        .or_else(|| non_empty(std::env::var_os("HOME")).map(|home| home.join(".local/share")))?;
    Some(data.join(DEFAULT_FILE))
}

impl Journal {
    /// Opens the journal, creating it (mode 0600) and its schema when new.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let failed = |cause: String| JournalError::Open { path: path.display().to_string(), cause };
        create_private(path).map_err(|e| failed(e.to_string()))?;
        let url = path.to_str().ok_or_else(|| failed("not UTF-8".into()))?;
        let mut conn = SqliteConnection::establish(url).map_err(|e| failed(e.to_string()))?;
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON;"
        ))
        .map_err(|e| failed(e.to_string()))?;
        conn.run_pending_migrations(MIGRATIONS).map_err(|e| failed(e.to_string()))?;
        Ok(Journal { conn, path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the session of an online log-in (the previous one is replaced).
    pub fn save_session(&mut self, s: &KeptSession) -> Result<(), JournalError> {
        diesel::replace_into(session::table).values((session::id.eq(1), s)).execute(&mut self.conn)?;
        Ok(())
    }

    pub fn session(&mut self) -> Result<Option<KeptSession>, JournalError> {
        Ok(session::table
            .find(1)
            .select((
                session::server,
                session::shop_id,
                session::terminal_id,
                session::login,
                session::token,
                session::expires_at,
                session::password_hash,
            ))
            .first::<KeptSession>(&mut self.conn)
            .optional()?)
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`: the write lock is taken first, so
    /// what `f` reads cannot change before it writes); committed when `f` succeeds, else rolled
    /// back. The journal's own writes inside it become savepoints.
    pub fn transaction<T, E: From<JournalError>>(
        &mut self,
        f: impl FnOnce(&mut Journal) -> Result<T, E>,
    ) -> Result<T, E> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let failed = |e: DieselError| E::from(JournalError::from(e));
        AnsiTransactionManager::begin_transaction_sql(&mut self.conn, "BEGIN IMMEDIATE").map_err(failed)?;
        match f(self) {
            Ok(v) => match AnsiTransactionManager::commit_transaction(&mut self.conn) {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = AnsiTransactionManager::rollback_transaction(&mut self.conn);
                    Err(failed(e))
                }
            },
            Err(e) => {
                let _ = AnsiTransactionManager::rollback_transaction(&mut self.conn);
                Err(e)
            }
        }
    }

    /// Keeps a pack that was verified (the previous one is replaced).
    pub fn save_pack(
        &mut self,
        kid: u16,
        bytes: &[u8],
        signature: &[u8],
        public_key: &[u8],
        fetched_at: DateTime<Utc>,
    ) -> Result<(), JournalError> {
        diesel::replace_into(pack::table)
            .values((
                pack::id.eq(1),
                pack::kid.eq(i32::from(kid)),
                pack::bytes.eq(bytes),
                pack::signature.eq(signature),
                pack::public_key.eq(public_key),
                pack::fetched_at.eq(fetched_at.to_rfc3339()),
            ))
            .execute(&mut self.conn)?;
        Ok(())
    }

    pub fn pack(&mut self) -> Result<Option<StoredPack>, JournalError> {
        Ok(pack::table
            .find(1)
            .select((pack::kid, pack::bytes, pack::signature, pack::public_key, pack::fetched_at))
            .first::<StoredPack>(&mut self.conn)
            .optional()?)
    }

    /// Keeps an offline sale, its nonces, its vouchers' draws and the day's totals in one
    /// transaction, synced to disk at COMMIT. A nonce already kept refuses the whole sale
    /// ([`JournalError::NonceUsed`]) and keeps nothing of it.
    pub fn record_sale(&mut self, sale: &NewSale) -> Result<(), JournalError> {
        self.conn.transaction::<_, JournalError, _>(|conn| {
            diesel::insert_into(offline_sales::table)
                .values((
                    offline_sales::sale_id.eq(&sale.sale_id),
                    offline_sales::sold_at.eq(sale.sold_at.to_rfc3339()),
                    offline_sales::body.eq(&sale.body),
                    offline_sales::discount_tiyn.eq(sale.discount.get()),
                    offline_sales::status.eq(SaleStatus::Pending.as_str()),
                ))
                .execute(conn)?;
            for nonce in &sale.nonces {
                let inserted = diesel::insert_into(used_nonces::table)
                    .values((used_nonces::nonce.eq(nonce), used_nonces::sale_id.eq(&sale.sale_id)))
                    .execute(conn);
                match inserted {
                    Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                        return Err(JournalError::NonceUsed)
                    }
                    other => other?,
                };
            }
            for (voucher_id, discount) in &sale.vouchers {
                diesel::insert_into(offline_sale_vouchers::table)
                    .values((
                        offline_sale_vouchers::sale_id.eq(&sale.sale_id),
                        offline_sale_vouchers::voucher_id.eq(voucher_id),
                        offline_sale_vouchers::discount_tiyn.eq(discount.get()),
                    ))
                    .execute(conn)?;
                diesel::insert_into(voucher_days::table)
                    .values((
                        voucher_days::voucher_id.eq(voucher_id),
                        voucher_days::day.eq(&sale.day),
                        voucher_days::discount_tiyn.eq(discount.get()),
                    ))
                    .on_conflict((voucher_days::voucher_id, voucher_days::day))
                    .do_update()
                    .set(voucher_days::discount_tiyn.eq(voucher_days::discount_tiyn + discount.get()))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    /// Whether a token nonce (hex) was used on this till.
    pub fn nonce_used(&mut self, nonce: &str) -> Result<bool, JournalError> {
        let n: i64 = used_nonces::table.filter(used_nonces::nonce.eq(nonce)).count().get_result(&mut self.conn)?;
        Ok(n > 0)
    }

    /// The offline discount this till drew from a voucher in sales not uploaded yet.
    pub fn pending_discount(&mut self, voucher_id: i64) -> Result<Tiyn, JournalError> {
        let draws: Vec<i64> = offline_sale_vouchers::table
            .inner_join(offline_sales::table.on(offline_sales::sale_id.eq(offline_sale_vouchers::sale_id)))
            .filter(offline_sale_vouchers::voucher_id.eq(voucher_id))
            .filter(offline_sales::status.eq(SaleStatus::Pending.as_str()))
            .select(offline_sale_vouchers::discount_tiyn)
            .load(&mut self.conn)?;
        Tiyn::checked_sum(draws.into_iter().map(Tiyn::new)).ok_or_else(|| JournalError::Db("sum overflows".into()))
    }

    /// The offline discount this till gave from a voucher on an Almaty day (`YYYY-MM-DD`).
    pub fn day_discount(&mut self, voucher_id: i64, day: &str) -> Result<Tiyn, JournalError> {
        let v: Option<i64> = voucher_days::table
            .find((voucher_id, day))
            .select(voucher_days::discount_tiyn)
            .first(&mut self.conn)
            .optional()?;
        Ok(Tiyn::new(v.unwrap_or(0)))
    }

    /// Up to `limit` sales waiting for upload, oldest first.
    pub fn pending(&mut self, limit: i64) -> Result<Vec<PendingSale>, JournalError> {
        Ok(offline_sales::table
            .filter(offline_sales::status.eq(SaleStatus::Pending.as_str()))
            .order(offline_sales::seq)
            .limit(limit)
            .select((offline_sales::seq, offline_sales::sale_id, offline_sales::body))
            .load(&mut self.conn)?)
    }

    pub fn pending_count(&mut self) -> Result<i64, JournalError> {
        Ok(offline_sales::table
            .filter(offline_sales::status.eq(SaleStatus::Pending.as_str()))
            .count()
            .get_result(&mut self.conn)?)
    }

    /// Marks sales uploaded with the server's answer to each, in one transaction; a sale already
    /// marked stays as it was. Returns how many were marked now.
    pub fn mark_uploaded(&mut self, answers: &[(String, String)]) -> Result<usize, JournalError> {
        self.conn.transaction::<_, JournalError, _>(|conn| {
            let mut marked = 0;
            for (sale_id, answer) in answers {
                marked += diesel::update(
                    offline_sales::table
                        .filter(offline_sales::sale_id.eq(sale_id))
                        .filter(offline_sales::status.eq(SaleStatus::Pending.as_str())),
                )
                .set((offline_sales::status.eq(SaleStatus::Uploaded.as_str()), offline_sales::answer.eq(answer)))
                .execute(conn)?;
            }
            Ok(marked)
        })
    }

    /// Every sale's id, status and answer in the till's order (for tests and inspection).
    pub fn sales(&mut self) -> Result<Vec<(String, String, Option<String>)>, JournalError> {
        Ok(offline_sales::table
            .order(offline_sales::seq)
            .select((offline_sales::sale_id, offline_sales::status, offline_sales::answer))
            .load(&mut self.conn)?)
    }
}

/// Creates the file mode 0600 (its directory 0700) when missing; narrows an existing file that
/// others could read.
fn create_private(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = fs::metadata(path)?;
            if meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds from `now`, then random bits, so
/// that sale ids sort by time.
pub fn new_sale_id(now: DateTime<Utc>) -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0).to_be_bytes();
    b[..6].copy_from_slice(&ms[2..]);
    b[6] = 0x70 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests;
