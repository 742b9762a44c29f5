//! Who is calling: staff sessions (our JWT) and recipients (the identity provider's JWT), checked
//! while extracting, so a handler only ever sees a verified caller.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use azyq_shared::api::Role;
use azyq_shared::Iin;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::AppState;
use crate::domain::accounts::{SessionClaims, SESSION_AUDIENCE};
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

impl FromRequest for Staff {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(staff(req))
    }
}

fn staff(req: &HttpRequest) -> Result<Staff, AppError> {
    let st = state(req)?;
    let token = bearer(req)?;
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[SESSION_AUDIENCE]);
    v.leeway = 0;
    let data =
        jsonwebtoken::decode::<SessionClaims>(token, &DecodingKey::from_secret(&st.session_key), &v).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    AppError::unauthorized("Сессия истекла, войдите снова")
                }
                _ => AppError::unauthorized("Недействительный токен сессии"),
            }
        })?;
    Ok(Staff(data.claims))
}

/// An operator: may change the programme's data.
pub struct Operator(pub Staff);

/// An operator or a ministry viewer: may read reports.
pub struct ReportReader(pub Staff);

impl Operator {
    pub fn login(&self) -> &str {
        &self.0 .0.sub
    }
}

impl FromRequest for Operator {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(staff(req).and_then(|s| {
            if s.0.role == Role::Operator {
                Ok(Operator(s))
            } else {
                Err(AppError::forbidden())
            }
        }))
    }
}

impl FromRequest for ReportReader {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(staff(req).and_then(|s| match s.0.role {
            Role::Operator | Role::Viewer => Ok(ReportReader(s)),
            Role::Cashier => Err(AppError::forbidden()),
        }))
    }
}

#[derive(Deserialize)]
struct WalletClaims {
    iin: String,
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
    let mut v = Validation::new(*alg);
    v.set_audience(&[WALLET_AUDIENCE]);
    v.set_required_spec_claims(&["exp", "aud"]);
    v.leeway = 0;
    let data = jsonwebtoken::decode::<WalletClaims>(token, key, &v).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
            AppError::unauthorized("Сессия кошелька истекла, войдите снова")
        }
        _ => AppError::unauthorized("Недействительный токен кошелька"),
    })?;
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

impl FromRequest for Cashier {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(staff(req).and_then(|s| match (s.0.role, s.0.shop_id, s.0.terminal_id) {
            (Role::Cashier, Some(shop_id), Some(terminal_id)) => {
                Ok(Cashier(crate::domain::redeem::Till { shop_id, terminal_id, login: s.0.sub }))
            }
            _ => Err(AppError::forbidden()),
        }))
    }
}
