//! The append-only journal of every state change (SPEC §7).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::fixed::Fixed;
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

/// An entry as [`record`] inserts it: every column bound, the absent ones as NULL.
type Row<'a> = (
    diesel::dsl::Eq<audit_log::at, chrono::NaiveDateTime>,
    diesel::dsl::Eq<audit_log::actor, &'a String>,
    diesel::dsl::Eq<audit_log::entity, &'a String>,
    diesel::dsl::Eq<audit_log::entity_id, &'a String>,
    diesel::dsl::Eq<audit_log::from_state, Option<&'a String>>,
    diesel::dsl::Eq<audit_log::to_state, &'a String>,
    diesel::dsl::Eq<audit_log::detail, Option<&'a String>>,
);

fn row(e: &Entry) -> Row<'_> {
    (
        audit_log::at.eq(e.at),
        audit_log::actor.eq(&e.actor),
        audit_log::entity.eq(&e.entity),
        audit_log::entity_id.eq(&e.entity_id),
        audit_log::from_state.eq(e.from_state.as_ref()),
        audit_log::to_state.eq(&e.to_state),
        audit_log::detail.eq(e.detail.as_ref()),
    )
}

/// Rows of one multi-row INSERT of [`record`] (under SQLite's bind-parameter limit); on PostgreSQL,
/// more than this go in one COPY.
const COPY_FROM_ROWS: usize = 2_000;

/// Appends entries, one multi-row INSERT per batch small enough for SQLite's bind-parameter
/// limit; on PostgreSQL a long journal is one COPY. The absent states and details are bound as
/// NULL rather than left to the column default, so that diesel writes one statement on SQLite too
/// (with defaults it inserts row by row inside a savepoint of its own).
pub fn record(conn: &mut Conn, entries: &[Entry]) -> Result<(), AppError> {
    if let [one] = entries {
        // A transition's one row, the hot case: a statement kept prepared.
        let _columns = (audit_log::at, audit_log::actor, audit_log::from_state, audit_log::detail);
        with_conn!(conn, c => Fixed::new(
            "INSERT INTO audit_log (at, actor, entity, entity_id, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(one.at)
        .bind(&one.actor)
        .bind(&one.entity)
        .bind(&one.entity_id)
        .bind(one.from_state.as_deref())
        .bind(&one.to_state)
        .bind(one.detail.as_deref())
        .execute(c))?;
        return Ok(());
    }
    if let (Conn::Pg(c), true) = (&mut *conn, entries.len() > COPY_FROM_ROWS) {
        // A month's journal (an import's hundreds of thousands of rows) in one COPY.
        let rows: Vec<_> = entries.iter().map(row).collect();
        diesel::copy_from(audit_log::table).from_insertable(&rows).execute(&mut **c)?;
        return Ok(());
    }
    for chunk in entries.chunks(COPY_FROM_ROWS) {
        let rows: Vec<_> = chunk.iter().map(row).collect();
        with_conn!(conn, c => diesel::insert_into(audit_log::table).values(&rows).execute(c))?;
    }
    Ok(())
}
