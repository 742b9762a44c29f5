//! The one mapping of [`AppError`] to an HTTP answer: the stable code's status and the error body;
//! anything unexpected is logged with its chain and answered without details.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use azyq_shared::api::{ErrorBody, ErrorDetail};

use crate::error::AppError;

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.source {
            tracing::error!(code = self.code.as_str(), error = format!("{source:#}"), "request failed");
        }
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: ErrorDetail { code: self.code, message: self.message.clone(), details: self.details.clone() },
        })
    }
}
