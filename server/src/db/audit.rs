//! The append-only journal of every state change (SPEC §7).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::audit_log;
use super::Conn;
use crate::error::AppError;
use crate::with_conn;

/// One state change: who moved what from which state to which.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct Entry {
    pub at: chrono::NaiveDateTime,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub detail: Option<String>,
}

impl Entry {
    pub fn new(
        at: DateTime<Utc>,
        actor: &str,
        entity: &str,
        entity_id: impl Into<String>,
        from: Option<&str>,
        to: &str,
    ) -> Entry {
        Entry {
            at: at.naive_utc(),
            actor: actor.to_owned(),
            entity: entity.to_owned(),
            entity_id: entity_id.into(),
            from_state: from.map(str::to_owned),
            to_state: to.to_owned(),
            detail: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Entry {
        self.detail = Some(detail.into());
        self
    }
}

/// Appends entries in batches small enough for SQLite's bind-parameter limit.
pub fn record(conn: &mut Conn, entries: &[Entry]) -> Result<(), AppError> {
    for chunk in entries.chunks(2_000) {
        with_conn!(conn, c => diesel::insert_into(audit_log::table).values(chunk).execute(c))?;
    }
    Ok(())
}
