//! Staff sessions: a JWT signed with the service's session secret, carrying the account's
//! credential version. A token is good while its signature, its times and that version all hold:
//! a password reset, a role change, a removed cashier or a rotated secret ends it at once, on every
//! replica, because each request compares the version with the database's.

use std::sync::RwLock;

use azyq_shared::api::{Role, SessionResponse};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::super::secrets;
use crate::db::audit::{self, Entry};
use crate::db::schema::{cashiers, operators};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

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
    /// The account's credential version when the session began (0 in tokens older than it).
    #[serde(default)]
    pub ver: i32,
}

pub const SESSION_AUDIENCE: &str = "azyq-session";

const SECRET_NAME: &str = "session_jwt";

fn fresh_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The session-signing secret: made once, kept where the secrets live, so every replica shares it.
pub fn session_secret(conn: &mut Conn) -> AppResult<Vec<u8>> {
    let value = secrets::get_or_make(conn, SECRET_NAME, fresh_secret)?;
    hex::decode(value).map_err(|e| AppError::internal(anyhow::anyhow!("session secret: {e}")))
}

/// The session secret as it is now (a read: the server made it when it started).
pub fn current_secret(conn: &mut Conn) -> AppResult<Vec<u8>> {
    let value = secrets::get(conn, SECRET_NAME)?.ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("no session secret yet: it is made when the server starts"))
    })?;
    hex::decode(value).map_err(|e| AppError::internal(anyhow::anyhow!("session secret: {e}")))
}

/// `azyq-server keys rotate-session`: a new secret, and every account's version raised, so every
/// session ends at once on every replica (their tokens fail the version check even where the old
/// secret is still in memory; a replica reloads the secret on its next log-in or unknown token).
pub fn rotate_session(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<()> {
    secrets::put(conn, SECRET_NAME, &fresh_secret())?;
    with_conn!(conn, c => diesel::update(operators::table)
        .set(operators::credential_version.eq(operators::credential_version + 1))
        .execute(c))?;
    with_conn!(conn, c => diesel::update(cashiers::table)
        .set(cashiers::credential_version.eq(cashiers::credential_version + 1))
        .execute(c))?;
    audit::record(conn, &[Entry::new(now, "cli", "session_secret", SECRET_NAME, None, "rotated")])
}

/// The session secret as this process knows it, reloaded after a rotation elsewhere.
pub struct Sessions {
    secret: RwLock<Vec<u8>>,
}

impl Sessions {
    pub fn new(secret: Vec<u8>) -> Sessions {
        Sessions { secret: RwLock::new(secret) }
    }

    pub fn secret(&self) -> Vec<u8> {
        self.secret.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes the secret as just read from where it lives (a log-in reads it, so it never signs
    /// with a secret rotated out by another process).
    pub fn reload_with(&self, secret: Vec<u8>) {
        *self.secret.write().unwrap_or_else(|p| p.into_inner()) = secret;
    }
}

/// What a session token will carry: the account and its credential version now.
#[derive(Debug, Clone)]
pub struct Principal {
    pub login: String,
    pub role: Role,
    pub shop_id: Option<String>,
    pub terminal_id: Option<String>,
    pub version: i32,
}

/// Mints the session token for an accepted log-in.
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
        ver: principal.version,
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .map_err(AppError::internal)?;
    Ok(SessionResponse { token, expires_at, role: principal.role })
}

/// 401 for a verified token whose account no longer stands as the token says.
pub fn session_ended() -> AppError {
    AppError::unauthorized("Сессия завершена: пароль, права или учётная запись изменились. Войдите снова")
}

/// The query of a cashier's credential version, which finds no row once the cashier is removed: run
/// by [`cashier_version`], and read as a column by the look-up's one statement.
pub type StandingCashierVersion<'a> = diesel::dsl::Select<
    diesel::dsl::Filter<
        diesel::dsl::Find<cashiers::table, (&'a str, &'a str)>,
        diesel::dsl::IsNull<cashiers::removed_at>,
    >,
    cashiers::credential_version,
>;

/// See [`StandingCashierVersion`].
pub fn standing_cashier_version<'a>(shop_id: &'a str, login: &'a str) -> StandingCashierVersion<'a> {
    cashiers::table.find((shop_id, login)).filter(cashiers::removed_at.is_null()).select(cashiers::credential_version)
}

/// A cashier's credential version now, if the cashier stands (not removed).
pub fn cashier_version(conn: &mut Conn, shop_id: &str, login: &str) -> AppResult<Option<i32>> {
    Ok(with_conn!(conn, c => standing_cashier_version(shop_id, login).first::<i32>(c).optional())?)
}

/// Whether the account behind a verified token still stands as the token says: it exists (a
/// cashier not removed), has the same role, and its credential version is the token's.
pub fn still_valid(conn: &mut Conn, claims: &SessionClaims) -> AppResult<bool> {
    let current: Option<(i32, Role)> = match (&claims.role, &claims.shop_id) {
        (Role::Cashier, Some(shop_id)) => cashier_version(conn, shop_id, &claims.sub)?.map(|v| (v, Role::Cashier)),
        (Role::Cashier, None) => None,
        (Role::Operator | Role::Viewer, _) => with_conn!(conn, c => operators::table
            .find(&claims.sub)
            .select((operators::credential_version, operators::role))
            .first::<(i32, String)>(c)
            .optional())?
        .and_then(|(v, role)| Some((v, Role::parse(&role)?))),
    };
    Ok(current == Some((claims.ver, claims.role)))
}
