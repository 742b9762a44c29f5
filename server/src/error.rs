//! The one error type of the server (mapped to the API's error body once, in `http::error`).

use azyq_shared::api::ErrorCode;
use serde_json::{Map, Value};

/// An answer the client gets instead of a result: a stable code, a sentence, and details.
#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Map<String, Value>,
    /// For `internal`: what went wrong, logged with its chain, never sent.
    pub source: Option<anyhow::Error>,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError { code, message: message.into(), details: Map::new(), source: None }
    }

    /// A malformed request: 400 `validation` naming the field.
    pub fn validation(field: &str, message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::Validation, message).with("field", field)
    }

    pub fn unauthorized(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden() -> AppError {
        AppError::new(ErrorCode::Forbidden, "Недостаточно прав для этого действия")
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> AppError {
        AppError {
            code: ErrorCode::Internal,
            message: "Внутренняя ошибка сервера, повторите позже".into(),
            details: Map::new(),
            source: Some(e.into()),
        }
    }

    /// A write that lost a race (a concurrent twin took a unique key first, or PostgreSQL could not
    /// serialise it): running it again in a new transaction gives the right answer.
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self.source.as_ref().and_then(|s| s.downcast_ref::<Error>()) {
            Some(Error::DatabaseError(
                DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::SerializationFailure,
                _,
            )) => true,
            // A PostgreSQL connection that died with its server (a restart): the transaction did
            // not commit unless the connection died during the COMMIT itself, which a retry meets
            // as its guards (the idempotency key's answer, the token already used, the basket's
            // state) — never a second effect. A fresh transaction runs on a tested connection.
            Some(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            // diesel has no kind for these: PostgreSQL's deadlock victim (SQLSTATE 40P01) and
            // SQLite's writer that waited out its busy timeout behind another process.
            Some(Error::DatabaseError(DatabaseErrorKind::Unknown, info)) => {
                let m = info.message();
                m.contains("deadlock detected") || m.contains("database is locked")
            }
            _ => false,
        }
    }

    /// The same answer once more, for a refusal judged once and answered later (the source, if
    /// any, survives as text: it is only ever logged).
    pub fn again(&self) -> AppError {
        AppError {
            code: self.code,
            message: self.message.clone(),
            details: self.details.clone(),
            source: self.source.as_ref().map(|s| anyhow::anyhow!("{s:#}")),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> AppError {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        // For operators at the command line (never sent to clients: error_response uses `message`).
        if let Some(source) = &self.source {
            write!(f, " ({source:#})")?;
        }
        Ok(())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> AppError {
        match e {
            diesel::result::Error::NotFound => AppError::new(ErrorCode::NotFound, "Не найдено"),
            other => {
                if matches!(
                    other,
                    diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ClosedConnection, _)
                ) {
                    // The other pooled connections are tested before their next use.
                    crate::db::pgpool::connection_lost();
                }
                AppError::internal(other)
            }
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> AppError {
        let mut err = AppError::new(ErrorCode::Unavailable, "База данных недоступна, повторите позже");
        err.source = Some(e.into());
        err
    }
}

/// What the domain answers: a result or an API error.
pub type AppResult<T> = Result<T, AppError>;
