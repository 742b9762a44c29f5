//! Who is calling: staff sessions (our JWT) and recipients (the identity provider's JWT), checked
//! while extracting, so a handler only ever sees a verified caller.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use azyq_shared::api::Role;
use azyq_shared::Iin;
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::AppState;
use crate::domain::accounts::{self, SessionClaims, SESSION_AUDIENCE};
use crate::error::AppError;

/// The audience the wallet's identity provider puts in its tokens.
pub const WALLET_AUDIENCE: &str = "azyq-wallet";

/// How recipient JWTs are checked; `None` when no identity provider is configured.
pub struct WalletAuth(pub Option<(DecodingKey, Algorithm)>);

impl WalletAuth {
    pub fn from_settings(secret: Option<&str>, public_key_pem: Option<&str>) -> anyhow::Result<WalletAuth> {
        Ok(WalletAuth(match (public_key_pem, secret) {
            (Some(pem), _) => Some((DecodingKey::from_ed_pem(pem.as_bytes())?, Algorithm::EdDSA)),
            (None, Some(secret)) => Some((DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256)),
            (None, None) => None,
        }))
    }
}

fn state(req: &HttpRequest) -> Result<&web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))
}

fn bearer(req: &HttpRequest) -> Result<&str, AppError> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::unauthorized("Требуется вход: заголовок Authorization: Bearer <токен>"))
}

/// A logged-in operator, viewer or cashier.
#[derive(Debug, Clone)]
pub struct Staff(pub SessionClaims);

type Checked<T> = LocalBoxFuture<'static, Result<T, AppError>>;

/// The checks of a JWT other than its times: signature, algorithm, audience, required claims.
/// jsonwebtoken would compare `exp` and `nbf` with the wall clock; ours are compared with the
/// injected clock instead (see [`TimeClaims::check`]), so a server under `AZYQ_FAKE_NOW` expires
/// sessions on its own time like everything else.
fn validation(alg: Algorithm, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "aud"]);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v
}

/// The time claims of a JWT, checked against the server's clock.
#[derive(Deserialize)]
struct TimeClaims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
}

/// Why a JWT's times refuse it.
#[derive(Debug, PartialEq, Eq)]
enum TimeRefusal {
    Expired,
    NotYetValid,
}

impl TimeClaims {
    /// `exp` is the first second the token is no longer good; `nbf` the first second it is.
    fn check(&self, now: DateTime<Utc>) -> Result<(), TimeRefusal> {
        let now = now.timestamp();
        if now >= self.exp {
            return Err(TimeRefusal::Expired);
        }
        if self.nbf.is_some_and(|nbf| now < nbf) {
            return Err(TimeRefusal::NotYetValid);
        }
        Ok(())
    }
}

/// Decodes a session token with the secret: its signature, algorithm, audience.
fn decode_session(token: &str, secret: &[u8]) -> Result<SessionClaims, jsonwebtoken::errors::ErrorKind> {
    let v = validation(Algorithm::HS256, SESSION_AUDIENCE);
    jsonwebtoken::decode::<SessionClaims>(token, &DecodingKey::from_secret(secret), &v)
        .map(|d| d.claims)
        .map_err(|e| e.into_kind())
}

/// A staff session: a token signed with our secret, within its times on our clock, whose account
/// still stands as the token says (see [`accounts::sessions::still_valid`]).
async fn staff(req: &HttpRequest) -> Result<Staff, AppError> {
    session(state(req)?, bearer(req)?).await
}

/// The staff session a token stands for, checked as [`staff`] checks a bearer token (the web
/// console's cookie carries the same token, so the same revocation ends it).
pub async fn session(st: &AppState, token: &str) -> Result<Staff, AppError> {
    let claims = verified_claims(st, token).await?;
    let still = {
        let claims = claims.clone();
        st.db.read_short_one(move |c| accounts::sessions::still_valid(c, &claims)).await?
    };
    if !still {
        return Err(accounts::sessions::session_ended());
    }
    Ok(Staff(claims))
}

/// The claims of a session token whose signature and times are good; whether its account still
/// stands is the caller's to check.
async fn verified_claims(st: &AppState, token: &str) -> Result<SessionClaims, AppError> {
    let invalid = || AppError::unauthorized("Недействительный токен сессии");
    let claims = match decode_session(token, &st.sessions.secret()) {
        Ok(c) => c,
        // A well-formed token whose signature fails: maybe another process rotated the secret
        // (`keys rotate-session`); read it again, once. (Malformed tokens cost no read.)
        Err(jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
            let secret = st.db.read_short(accounts::sessions::current_secret).await?;
            st.sessions.reload_with(secret.clone());
            decode_session(token, &secret).map_err(|_| invalid())?
        }
        Err(_) => return Err(invalid()),
    };
    match (TimeClaims { exp: claims.exp, nbf: None }).check(st.clock.now()) {
        Ok(()) => {}
        Err(TimeRefusal::Expired) => return Err(AppError::unauthorized("Сессия истекла, войдите снова")),
        Err(TimeRefusal::NotYetValid) => return Err(invalid()),
    }
    Ok(claims)
}

/// An operator: may change the programme's data.
pub struct Operator(pub Staff);

/// An operator or a ministry viewer: may read reports.
pub struct ReportReader(pub Staff);

impl Operator {
    pub fn login(&self) -> &str {
        &self.0 .0.sub
    }

    /// How the journal names this operator.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.login())
    }
}

/// A staff session of a given kind: `pick` turns the session into the extractor, or refuses it
/// (403 for a role that may not).
fn staff_as<T: 'static>(req: &HttpRequest, pick: fn(Staff) -> Result<T, AppError>) -> Checked<T> {
    let req = req.clone();
    Box::pin(async move { pick(staff(&req).await?) })
}

/// Declares a staff extractor by how it picks from a session.
macro_rules! staff_extractor {
    ($t:ty, $pick:expr) => {
        impl FromRequest for $t {
            type Error = AppError;
            type Future = Checked<Self>;
            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                staff_as(req, $pick)
            }
        }
    };
}

staff_extractor!(Staff, Ok);

staff_extractor!(Operator, |s| if s.0.role == Role::Operator { Ok(Operator(s)) } else { Err(AppError::forbidden()) });

staff_extractor!(ReportReader, |s| match s.0.role {
    Role::Operator | Role::Viewer => Ok(ReportReader(s)),
    Role::Cashier => Err(AppError::forbidden()),
});

#[derive(Deserialize)]
struct WalletClaims {
    iin: String,
    #[serde(flatten)]
    times: TimeClaims,
}

/// A recipient signed in to the state wallet app; carries the IIN from the identity provider.
pub struct Recipient {
    pub iin: Iin,
}

fn recipient(req: &HttpRequest) -> Result<Recipient, AppError> {
    let st = state(req)?;
    let token = bearer(req)?;
    let Some((key, alg)) = &st.wallet.0 else {
        return Err(AppError::unauthorized("Вход в кошелёк не настроен на сервере (AZYQ_WALLET_JWT_SECRET)"));
    };
    let v = validation(*alg, WALLET_AUDIENCE);
    let invalid = || AppError::unauthorized("Недействительный токен кошелька");
    let data = jsonwebtoken::decode::<WalletClaims>(token, key, &v).map_err(|_| invalid())?;
    match data.claims.times.check(st.clock.now()) {
        Ok(()) => {}
        Err(TimeRefusal::Expired) => return Err(AppError::unauthorized("Сессия кошелька истекла, войдите снова")),
        Err(TimeRefusal::NotYetValid) => return Err(AppError::unauthorized("Токен кошелька ещё не действует (nbf)")),
    }
    let iin = Iin::parse(&data.claims.iin).map_err(|_| AppError::unauthorized("В токене кошелька неверный ИИН"))?;
    Ok(Recipient { iin })
}

impl FromRequest for Recipient {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(recipient(req))
    }
}

/// A cashier logged in at one shop's terminal.
pub struct Cashier(pub crate::domain::redeem::Till);

staff_extractor!(Cashier, |s| cashier_till(s.0).map(Cashier));

fn cashier_till(claims: SessionClaims) -> Result<crate::domain::redeem::Till, AppError> {
    match (claims.role, claims.shop_id, claims.terminal_id) {
        (Role::Cashier, Some(shop_id), Some(terminal_id)) => {
            Ok(crate::domain::redeem::Till { shop_id, terminal_id, login: claims.sub })
        }
        _ => Err(AppError::forbidden()),
    }
}

/// A cashier whose session token is good (signature, times, role) but whose account is not read
/// yet: the requests that take it (authorise and the look-up) read the account in their own first
/// statement and answer 401 as [`Cashier`] would (see [`crate::domain::redeem::check`] and
/// [`crate::domain::pos::lookup_fast`]), one round trip fewer.
pub struct CashierToken {
    pub till: crate::domain::redeem::Till,
    /// The credential version the token carries.
    pub version: i32,
}

impl FromRequest for CashierToken {
    type Error = AppError;
    type Future = Checked<Self>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let claims = verified_claims(state(&req)?, bearer(&req)?).await?;
            let version = claims.ver;
            Ok(CashierToken { till: cashier_till(claims)?, version })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn times_are_checked_against_the_given_clock_not_the_wall() {
        // A token of 2020, checked at an instant of 2020: good, whatever the wall says.
        let t = TimeClaims { exp: 1_600_000_100, nbf: Some(1_600_000_000) };
        assert_eq!(t.check(at(1_600_000_050)), Ok(()));
        assert_eq!(t.check(at(1_600_000_100)), Err(TimeRefusal::Expired));
        assert_eq!(t.check(at(1_599_999_999)), Err(TimeRefusal::NotYetValid));
        // A token of 2040 is good in 2040 and not yet before its nbf.
        let t = TimeClaims { exp: 2_220_000_100, nbf: None };
        assert_eq!(t.check(at(2_220_000_099)), Ok(()));
    }

    #[test]
    fn jsonwebtoken_never_reads_the_wall_clock() {
        let v = validation(Algorithm::HS256, SESSION_AUDIENCE);
        assert!(!v.validate_exp && !v.validate_nbf);
        // An expired-by-the-wall token still decodes; its times are ours to judge.
        let claims = serde_json::json!({"iin": "x", "aud": SESSION_AUDIENCE, "exp": 1_000});
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_secret(b"k"), &v).is_ok());
    }
}
