//! Who may log in: operators and viewers, and the cashiers of each shop. Passwords are Argon2
//! hashes; each account carries a credential version that its session tokens repeat, so that a
//! password reset, a role change or a removed cashier ends the sessions issued before it.

pub mod login;
pub mod sessions;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use azyq_shared::api::{ErrorCode, Role};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

pub use login::{log_in, purge_attempts, LoginRequest, LOCKOUT_WINDOW_MINUTES, MAX_ATTEMPTS, MAX_PER_ADDRESS};
pub use sessions::{session_secret, SessionClaims, Sessions, SESSION_AUDIENCE};

use crate::db::audit::{self, Entry};
use crate::db::schema::{cashiers, operators, shops};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

pub const MIN_PASSWORD_LEN: usize = 8;
/// Longer passwords are refused before Argon2 sees them.
pub const MAX_PASSWORD_LEN: usize = 256;
/// Longest login, shop id.
pub const MAX_LOGIN_LEN: usize = 64;

/// Argon2 is memory-hard on purpose (19 MiB per hash by default): a burst of log-ins (a shift of
/// cashiers at 8 o'clock, or an attack) must not multiply that by the number of requests, so only
/// this many hashes run at once; the others wait their turn.
pub const ARGON2_AT_ONCE: usize = 2;

static ARGON2_SLOTS: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

fn with_argon2_slot<T>(f: impl FnOnce() -> T) -> T {
    let (lock, freed) = &ARGON2_SLOTS;
    {
        let mut busy = lock.lock().unwrap_or_else(|p| p.into_inner());
        while *busy >= ARGON2_AT_ONCE {
            busy = freed.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy += 1;
    }
    let out = f();
    *lock.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    freed.notify_one();
    out
}

pub fn hash_password(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    with_argon2_slot(|| Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()))
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|h| with_argon2_slot(|| Argon2::default().verify_password(password.as_bytes(), &h).is_ok()))
}

/// A hash of nothing, verified against when the login does not exist so that timing does not tell.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-valid").unwrap_or_default())
}

fn check_password_rules(password: &str) -> AppResult<()> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        return Err(AppError::validation(
            "password",
            format!("пароль: от {MIN_PASSWORD_LEN} до {MAX_PASSWORD_LEN} символов"),
        ));
    }
    Ok(())
}

/// A login or shop id: 1 to 64 printable characters, no spaces.
fn check_name(field: &str, value: &str) -> AppResult<()> {
    if value.is_empty()
        || value.chars().count() > MAX_LOGIN_LEN
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AppError::validation(field, format!("{field}: от 1 до {MAX_LOGIN_LEN} символов без пробелов")));
    }
    Ok(())
}

/// Creates an operator or viewer, or sets a new password (or role) for an existing one: the
/// sessions issued before end at once.
pub fn upsert_operator(conn: &mut Conn, login: &str, password: &str, role: Role, now: DateTime<Utc>) -> AppResult<()> {
    check_name("login", login)?;
    check_password_rules(password)?;
    if role == Role::Cashier {
        return Err(AppError::validation("role", "кассиры создаются для магазина"));
    }
    let hash = hash_password(password)?;
    let before: Option<String> =
        with_conn!(conn, c => operators::table.find(login).select(operators::role).first(c).optional())?;
    with_conn!(conn, c => diesel::insert_into(operators::table)
        .values((
            operators::login.eq(login),
            operators::password_hash.eq(&hash),
            operators::role.eq(role.as_str()),
            operators::created_at.eq(now.naive_utc()),
        ))
        .on_conflict(operators::login)
        .do_update()
        .set((
            operators::password_hash.eq(&hash),
            operators::role.eq(role.as_str()),
            operators::credential_version.eq(operators::credential_version + 1),
        ))
        .execute(c))?;
    audit::record(conn, &[Entry::new(now, "cli", "operator", login, before.as_deref(), role.as_str())])
}

/// Creates a cashier of a shop, or sets a new password for an existing (or removed) one: the
/// sessions issued before end at once.
pub fn upsert_cashier(
    conn: &mut Conn,
    shop_id: &str,
    login: &str,
    password: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    check_name("login", login)?;
    check_password_rules(password)?;
    let exists: bool =
        with_conn!(conn, c => diesel::select(diesel::dsl::exists(shops::table.find(shop_id))).get_result(c))?;
    if !exists {
        return Err(AppError::new(ErrorCode::ShopNotFound, "Магазин не найден"));
    }
    let hash = hash_password(password)?;
    with_conn!(conn, c => diesel::insert_into(cashiers::table)
        .values((
            cashiers::shop_id.eq(shop_id),
            cashiers::login.eq(login),
            cashiers::password_hash.eq(&hash),
            cashiers::created_at.eq(now.naive_utc()),
        ))
        .on_conflict((cashiers::shop_id, cashiers::login))
        .do_update()
        .set((
            cashiers::password_hash.eq(&hash),
            cashiers::credential_version.eq(cashiers::credential_version + 1),
            cashiers::removed_at.eq(None::<chrono::NaiveDateTime>),
        ))
        .execute(c))?;
    audit::record(conn, &[Entry::new(now, actor, "cashier", format!("{shop_id}/{login}"), None, "active")])
}

/// Removes a cashier: it can no longer log in, and its sessions end at once. The row stays (with
/// its version raised), so the same login made again later never revives an old session.
pub fn remove_cashier(conn: &mut Conn, shop_id: &str, login: &str, actor: &str, now: DateTime<Utc>) -> AppResult<()> {
    let n = with_conn!(conn, c => diesel::update(cashiers::table
            .find((shop_id, login))
            .filter(cashiers::removed_at.is_null()))
        .set((
            cashiers::removed_at.eq(Some(now.naive_utc())),
            cashiers::credential_version.eq(cashiers::credential_version + 1),
        ))
        .execute(c))?;
    if n == 0 {
        return Err(AppError::new(ErrorCode::NotFound, "Нет такого кассира в этом магазине"));
    }
    audit::record(conn, &[Entry::new(now, actor, "cashier", format!("{shop_id}/{login}"), Some("active"), "removed")])
}

pub fn invalid_credentials() -> AppError {
    AppError::new(ErrorCode::InvalidCredentials, "Неверный логин или пароль")
}
