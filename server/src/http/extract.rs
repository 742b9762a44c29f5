//! Path segments and headers parsed while extracting, so a handler never sees a raw string: each
//! refusal is 400 `validation` naming the field.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use azyq_shared::Month;

use crate::domain::idempotency;
use crate::error::AppError;

fn segment<'a>(req: &'a HttpRequest, name: &str) -> Result<&'a str, AppError> {
    req.match_info().get(name).ok_or_else(|| AppError::internal(anyhow::anyhow!("route has no {{{name}}} segment")))
}

/// `{month}` of the path: `YYYY-MM`.
#[derive(Debug, Clone, Copy)]
pub struct MonthPath(pub Month);

impl FromRequest for MonthPath {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            segment(req, "month").and_then(|raw| {
                Month::parse(raw).map(MonthPath).map_err(|e| AppError::validation("month", e.to_string()))
            }),
        )
    }
}

/// `{id}` of a voucher or basket path: a positive integer.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub i64);

impl FromRequest for IdPath {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(segment(req, "id").and_then(|raw| match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(IdPath(id)),
            _ => Err(AppError::validation("id", "номер — целое положительное число")),
        }))
    }
}

/// The `Idempotency-Key` header, when given: 1 to 64 printable ASCII characters.
#[derive(Debug, Clone, Default)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let raw = match req.headers().get("Idempotency-Key") {
                None => None,
                Some(v) => Some(
                    v.to_str().map_err(|_| AppError::validation("Idempotency-Key", "ключ — печатные символы ASCII"))?,
                ),
            };
            idempotency::parse_key(raw).map(IdempotencyKey)
        })())
    }
}
