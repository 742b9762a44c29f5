//! Who may log in: operators and viewers, and the cashiers of each shop. Passwords are Argon2 hashes.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use azyq_shared::api::{ErrorCode, Role, SessionRequest, SessionResponse};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::audit::{self, Entry};
use crate::db::schema::{cashiers, login_attempts, operators, server_secrets, shops};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Failed log-ins allowed for one login within [`LOCKOUT_WINDOW_MINUTES`] before 429.
pub const MAX_FAILURES: i32 = 5;
pub const LOCKOUT_WINDOW_MINUTES: i64 = 15;
pub const MIN_PASSWORD_LEN: usize = 8;

/// Argon2 is memory-hard on purpose (19 MiB per hash by default): a burst of log-ins (a shift of
/// cashiers at 8 o'clock, or an attack) must not multiply that by the number of requests, so only
/// this many hashes run at once; the others wait their turn.
const ARGON2_AT_ONCE: usize = 2;

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
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::validation("password", format!("пароль: не короче {MIN_PASSWORD_LEN} символов")));
    }
    Ok(())
}

fn check_login_rules(login: &str) -> AppResult<()> {
    if login.trim().is_empty() || login.len() > 64 || login.chars().any(char::is_whitespace) {
        return Err(AppError::validation("login", "логин: от 1 до 64 символов без пробелов"));
    }
    Ok(())
}

/// Creates an operator or viewer, or sets a new password for an existing one.
pub fn upsert_operator(conn: &mut Conn, login: &str, password: &str, role: Role, now: DateTime<Utc>) -> AppResult<()> {
    check_login_rules(login)?;
    check_password_rules(password)?;
    if role == Role::Cashier {
        return Err(AppError::validation("role", "кассиры создаются для магазина"));
    }
    let hash = hash_password(password)?;
    with_conn!(conn, c => diesel::insert_into(operators::table)
        .values((
            operators::login.eq(login),
            operators::password_hash.eq(&hash),
            operators::role.eq(role.as_str()),
            operators::created_at.eq(now.naive_utc()),
        ))
        .on_conflict(operators::login)
        .do_update()
        .set((operators::password_hash.eq(&hash), operators::role.eq(role.as_str())))
        .execute(c))?;
    audit::record(conn, &[Entry::new(now, "cli", "operator", login, None, role.as_str())])
}

/// Creates a cashier of a shop, or sets a new password for an existing one.
pub fn upsert_cashier(
    conn: &mut Conn,
    shop_id: &str,
    login: &str,
    password: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    check_login_rules(login)?;
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
        .set(cashiers::password_hash.eq(&hash))
        .execute(c))?;
    audit::record(conn, &[Entry::new(now, actor, "cashier", format!("{shop_id}/{login}"), None, "active")])
}

/// The claims of a staff session token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub aud: String,
}

pub const SESSION_AUDIENCE: &str = "azyq-session";

/// The server's session-signing secret: made once, kept in the database so every replica shares it.
pub fn session_secret(conn: &mut Conn) -> AppResult<Vec<u8>> {
    let fresh = {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        hex::encode(b)
    };
    with_conn!(conn, c => diesel::insert_into(server_secrets::table)
        .values((server_secrets::name.eq("session_jwt"), server_secrets::value.eq(&fresh)))
        .on_conflict_do_nothing()
        .execute(c))?;
    let value: String =
        with_conn!(conn, c => server_secrets::table.find("session_jwt").select(server_secrets::value).first(c))?;
    hex::decode(value).map_err(|e| AppError::internal(anyhow::anyhow!("session secret: {e}")))
}

/// A verified log-in, before the token is minted.
pub struct Principal {
    login: String,
    role: Role,
    shop_id: Option<String>,
    terminal_id: Option<String>,
}

fn attempts_exhausted(conn: &mut Conn, subject: &str, now: DateTime<Utc>) -> AppResult<bool> {
    let row: Option<(i32, chrono::NaiveDateTime)> = with_conn!(conn, c => login_attempts::table
        .find(subject)
        .select((login_attempts::failures, login_attempts::window_start))
        .first(c)
        .optional())?;
    Ok(matches!(row, Some((failures, start))
        if failures >= MAX_FAILURES && now.naive_utc() < start + Duration::minutes(LOCKOUT_WINDOW_MINUTES)))
}

/// Counts a failed log-in. Runs in its own transaction so the count survives the 401.
pub fn record_failure(conn: &mut Conn, subject: &str, now: DateTime<Utc>) -> AppResult<()> {
    let row: Option<(i32, chrono::NaiveDateTime)> = with_conn!(conn, c => login_attempts::table
        .find(subject)
        .select((login_attempts::failures, login_attempts::window_start))
        .first(c)
        .optional())?;
    let (failures, start) = match row {
        Some((f, s)) if now.naive_utc() < s + Duration::minutes(LOCKOUT_WINDOW_MINUTES) => (f + 1, s),
        _ => (1, now.naive_utc()),
    };
    with_conn!(conn, c => diesel::insert_into(login_attempts::table)
        .values((login_attempts::subject.eq(subject), login_attempts::failures.eq(failures), login_attempts::window_start.eq(start)))
        .on_conflict(login_attempts::subject)
        .do_update()
        .set((login_attempts::failures.eq(failures), login_attempts::window_start.eq(start)))
        .execute(c))?;
    Ok(())
}

/// The rate-limit subject of a log-in request.
pub fn subject_of(req: &SessionRequest) -> String {
    match &req.shop_id {
        Some(shop) => format!("cashier:{shop}:{}", req.login),
        None => format!("staff:{}", req.login),
    }
}

/// Checks a log-in (read-only: Argon2 is slow, so no write lock is held meanwhile). `Ok(None)`
/// means bad credentials: the caller records the failure in a transaction of its own, so the
/// count is kept although the answer is an error.
pub fn authenticate(conn: &mut Conn, req: &SessionRequest, now: DateTime<Utc>) -> AppResult<Option<Principal>> {
    let subject = subject_of(req);
    if attempts_exhausted(conn, &subject, now)? {
        return Err(AppError::new(
            ErrorCode::TooManyAttempts,
            format!("Слишком много неудачных попыток входа. Повторите через {LOCKOUT_WINDOW_MINUTES} минут"),
        ));
    }
    find_principal(conn, req)
}

/// Forgets the failed log-ins of a subject after a good one.
pub fn clear_failures(conn: &mut Conn, subject: &str) -> AppResult<()> {
    with_conn!(conn, c => diesel::delete(login_attempts::table.find(subject)).execute(c))?;
    Ok(())
}

fn find_principal(conn: &mut Conn, req: &SessionRequest) -> AppResult<Option<Principal>> {
    match (&req.shop_id, &req.terminal_id) {
        (Some(shop_id), Some(terminal_id)) => {
            let hash: Option<String> = with_conn!(conn, c => cashiers::table
                .find((shop_id, &req.login))
                .select(cashiers::password_hash)
                .first(c)
                .optional())?;
            let ok = verify_password(&req.password, hash.as_deref().unwrap_or(decoy_hash())) && hash.is_some();
            Ok(ok.then(|| Principal {
                login: req.login.clone(),
                role: Role::Cashier,
                shop_id: Some(shop_id.clone()),
                terminal_id: Some(terminal_id.clone()),
            }))
        }
        (None, None) => {
            let row: Option<(String, String)> = with_conn!(conn, c => operators::table
                .find(&req.login)
                .select((operators::password_hash, operators::role))
                .first(c)
                .optional())?;
            let ok = verify_password(&req.password, row.as_ref().map_or(decoy_hash(), |r| r.0.as_str()));
            Ok(match row {
                Some((_, role)) if ok => Role::parse(&role).map(|role| Principal {
                    login: req.login.clone(),
                    role,
                    shop_id: None,
                    terminal_id: None,
                }),
                _ => None,
            })
        }
        _ => Err(AppError::validation("terminal_id", "для входа кассира укажите shop_id и terminal_id")),
    }
}

/// Mints the session token for a log-in that [`authenticate`] accepted.
pub fn issue_session(principal: Principal, secret: &[u8], now: DateTime<Utc>) -> AppResult<SessionResponse> {
    let ttl = if principal.role == Role::Cashier { Duration::hours(12) } else { Duration::hours(8) };
    let expires_at = now + ttl;
    let claims = SessionClaims {
        sub: principal.login,
        role: principal.role,
        shop_id: principal.shop_id,
        terminal_id: principal.terminal_id,
        exp: expires_at.timestamp(),
        iat: now.timestamp(),
        aud: SESSION_AUDIENCE.into(),
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .map_err(AppError::internal)?;
    Ok(SessionResponse { token, expires_at, role: principal.role })
}

pub fn invalid_credentials() -> AppError {
    AppError::new(ErrorCode::InvalidCredentials, "Неверный логин или пароль")
}
