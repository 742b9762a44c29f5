//! Logging in, with a lockout that holds under parallel guesses: every attempt is counted (for its
//! login and for its client address) in one transaction before its password is checked, so at most
//! [`MAX_ATTEMPTS`] passwords are checked per login per window whatever the concurrency; and the
//! Argon2 check waits for its slot without holding a database connection or a blocking thread, so
//! a flood of log-ins cannot stall the tills.

use azyq_shared::api::{ErrorCode, Role, SessionRequest, SessionResponse};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::sessions::{issue_session, Principal, Sessions};
use super::{check_name, decoy_hash, invalid_credentials, verify_password, ARGON2_AT_ONCE, MAX_PASSWORD_LEN};
use crate::db::schema::{cashiers, login_attempts, operators};
use crate::db::{Conn, Db};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Log-in attempts allowed for one login within [`LOCKOUT_WINDOW_MINUTES`] until one succeeds.
pub const MAX_ATTEMPTS: i32 = 5;
/// Log-in attempts allowed from one client address within the window, less those that succeeded
/// (a shop's cashiers share one address behind its router; a flood from one address stops here,
/// before Argon2).
pub const MAX_PER_ADDRESS: i32 = 30;
pub const LOCKOUT_WINDOW_MINUTES: i64 = 15;
/// Longest terminal id: `[A-Za-z0-9_-]`.
pub const MAX_TERMINAL_LEN: usize = 32;

/// A log-in whose parts were checked before anything is stored or hashed.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    login: String,
    password: String,
    /// `Some((shop, terminal))` for a cashier.
    till: Option<(String, String)>,
}

impl LoginRequest {
    /// Refuses a malformed log-in with 400 `validation` (nothing is stored for it).
    pub fn parse(req: SessionRequest) -> AppResult<LoginRequest> {
        check_name("login", &req.login)?;
        if req.password.is_empty() || req.password.chars().count() > MAX_PASSWORD_LEN {
            return Err(AppError::validation("password", format!("пароль: от 1 до {MAX_PASSWORD_LEN} символов")));
        }
        let till = match (req.shop_id, req.terminal_id) {
            (Some(shop), Some(terminal)) => {
                check_name("shop_id", &shop)?;
                if terminal.is_empty()
                    || terminal.len() > MAX_TERMINAL_LEN
                    || !terminal.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(AppError::validation(
                        "terminal_id",
                        format!("номер кассы: от 1 до {MAX_TERMINAL_LEN} знаков из латинских букв, цифр, _ и -"),
                    ));
                }
                Some((shop, terminal))
            }
            (None, None) => None,
            _ => return Err(AppError::validation("terminal_id", "для входа кассира укажите shop_id и terminal_id")),
        };
        Ok(LoginRequest { login: req.login, password: req.password, till })
    }

    /// The lockout's key for this login.
    fn subject(&self) -> String {
        match &self.till {
            Some((shop, _)) => format!("cashier:{shop}:{}", self.login),
            None => format!("staff:{}", self.login),
        }
    }
}

fn too_many() -> AppError {
    AppError::new(
        ErrorCode::TooManyAttempts,
        format!("Слишком много попыток входа. Повторите через {LOCKOUT_WINDOW_MINUTES} минут"),
    )
}

/// Counts one attempt on a subject: answers its count in the current window, this one included.
fn bump(conn: &mut Conn, subject: &str, now: DateTime<Utc>) -> AppResult<i32> {
    let now = now.naive_utc();
    let window_open_since = now - Duration::minutes(LOCKOUT_WINDOW_MINUTES);
    let q = login_attempts::table.find(subject).select((login_attempts::failures, login_attempts::window_start));
    // The row is locked first, so concurrent attempts on one subject count one after another.
    let row: Option<(i32, NaiveDateTime)> = match conn {
        Conn::Pg(c) => q.for_update().first(*c).optional()?,
        Conn::Sqlite(c) => q.first(*c).optional()?,
    };
    let (count, start) = match row {
        Some((n, start)) if start > window_open_since => (n + 1, start),
        _ => (1, now),
    };
    with_conn!(conn, c => diesel::insert_into(login_attempts::table)
        .values((login_attempts::subject.eq(subject), login_attempts::failures.eq(count), login_attempts::window_start.eq(start)))
        .on_conflict(login_attempts::subject)
        .do_update()
        .set((login_attempts::failures.eq(count), login_attempts::window_start.eq(start)))
        .execute(c))?;
    Ok(count)
}

/// Counts the attempt for its login and its client address, in the caller's transaction, before
/// any password is checked: 429 `too_many_attempts` over either limit.
fn count_attempt(conn: &mut Conn, subject: &str, address: Option<&str>, now: DateTime<Utc>) -> AppResult<()> {
    // Address first, then login: one order for every attempt.
    if let Some(addr) = address {
        if bump(conn, &format!("addr:{addr}"), now)? > MAX_PER_ADDRESS {
            return Err(too_many());
        }
    }
    if bump(conn, subject, now)? > MAX_ATTEMPTS {
        return Err(too_many());
    }
    Ok(())
}

/// A good log-in clears its login's count and gives its address's attempt back, so a shop whose
/// tills all log in from one address is limited only by its failures.
fn clear_attempts(conn: &mut Conn, subject: &str, address: Option<&str>) -> AppResult<()> {
    if let Some(addr) = address {
        let key = format!("addr:{addr}");
        with_conn!(conn, c => diesel::update(login_attempts::table.find(&key).filter(login_attempts::failures.gt(0)))
            .set(login_attempts::failures.eq(login_attempts::failures - 1))
            .execute(c))?;
    }
    with_conn!(conn, c => diesel::delete(login_attempts::table.find(subject)).execute(c))?;
    Ok(())
}

/// Forgets attempts whose window has passed (the scheduler runs it), so anonymous requests cannot
/// grow the table.
pub fn purge_attempts(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<usize> {
    let cutoff = (now - Duration::minutes(LOCKOUT_WINDOW_MINUTES)).naive_utc();
    Ok(
        with_conn!(conn, c => diesel::delete(login_attempts::table.filter(login_attempts::window_start.le(cutoff))).execute(c))?,
    )
}

/// The stored hash to check against (`None`: no such account) and who it would be.
fn account(conn: &mut Conn, req: &LoginRequest) -> AppResult<Option<(String, Principal)>> {
    Ok(match &req.till {
        Some((shop_id, terminal_id)) => with_conn!(conn, c => cashiers::table
            .find((shop_id, &req.login))
            .filter(cashiers::removed_at.is_null())
            .select((cashiers::password_hash, cashiers::credential_version))
            .first::<(String, i32)>(c)
            .optional())?
        .map(|(hash, version)| {
            let principal = Principal {
                login: req.login.clone(),
                role: Role::Cashier,
                shop_id: Some(shop_id.clone()),
                terminal_id: Some(terminal_id.clone()),
                version,
            };
            (hash, principal)
        }),
        None => with_conn!(conn, c => operators::table
            .find(&req.login)
            .select((operators::password_hash, operators::role, operators::credential_version))
            .first::<(String, String, i32)>(c)
            .optional())?
        .and_then(|(hash, role, version)| {
            let role = Role::parse(&role)?;
            Some((hash, Principal { login: req.login.clone(), role, shop_id: None, terminal_id: None, version }))
        }),
    })
}

/// Logs in: counts the attempt, reads the account (short transactions), then checks the password
/// in one of [`ARGON2_AT_ONCE`] slots, waiting for it without a connection or a thread.
pub async fn log_in(
    db: &Db,
    sessions: &Sessions,
    req: LoginRequest,
    address: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<SessionResponse> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(ARGON2_AT_ONCE);
    let subject = req.subject();
    {
        let (subject, address) = (subject.clone(), address.clone());
        db.run(move |db| db.write_retrying(|c| count_attempt(c, &subject, address.as_deref(), now))).await?;
    }
    let account = {
        let req = req.clone();
        db.read_short(move |c| account(c, &req)).await?
    };
    let permit = SLOTS.acquire().await.map_err(AppError::internal)?;
    let password = req.password.clone();
    let hash = account.as_ref().map(|(h, _)| h.clone());
    let good = tokio::task::spawn_blocking(move || verify_password(&password, hash.as_deref().unwrap_or(decoy_hash())))
        .await
        .map_err(AppError::internal)?;
    drop(permit);
    let principal = match account {
        Some((_, principal)) if good => principal,
        _ => return Err(invalid_credentials()),
    };
    let secret = db
        .run(move |db| {
            db.write(|c| clear_attempts(c, &subject, address.as_deref()))?;
            db.read(super::sessions::current_secret)
        })
        .await?;
    sessions.reload_with(secret.clone());
    issue_session(principal, &secret, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(login: &str, shop: Option<&str>, terminal: Option<&str>) -> SessionRequest {
        SessionRequest {
            login: login.into(),
            password: "secret-password".into(),
            shop_id: shop.map(Into::into),
            terminal_id: terminal.map(Into::into),
        }
    }

    #[test]
    fn odd_log_ins_are_refused_before_anything_is_stored() {
        let long = "x".repeat(65);
        for bad in [
            req(&long, None, None),
            req("", None, None),
            req("a b", None, None),
            req("a\u{0}b", None, None),
            req("kassa", Some("SHOP-A"), None),
            req("kassa", Some("SHOP-A"), Some("T 1")),
            req("kassa", Some("SHOP-A"), Some(&"T".repeat(33))),
            req("kassa", Some("SHOP A"), Some("T1")),
        ] {
            let e = LoginRequest::parse(bad.clone()).expect_err(&format!("{bad:?}"));
            assert_eq!(e.code, ErrorCode::Validation);
        }
        let ok = LoginRequest::parse(req("kassa", Some("SHOP-A"), Some("T-1_a"))).unwrap();
        assert_eq!(ok.subject(), "cashier:SHOP-A:kassa");
    }
}
