//! Food recalls (SPEC §5): the operator recalls a GTIN, or one batch (AI 10) of it, with a reason;
//! authorise refuses recalled goods (`product_recalled`) and the till warns at the scan. Lifting a
//! recall keeps its row, so that the reports still name what its refusals were counted under.

use azyq_shared::api::{ErrorCode, Recall, RecallRequest};
use azyq_shared::gs1::Gtin;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::text;
use crate::db::audit::{self, Entry};
use crate::db::schema::recalls;
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The longest batch number: GS1 gives AI (10) up to 20 characters.
pub const BATCH_MAX: usize = 20;

/// A recall request, checked: a GTIN with its check digit, a batch as AI (10) allows, a reason.
struct Parsed {
    gtin: Gtin,
    batch: Option<String>,
    reason: String,
}

fn parse(req: &RecallRequest) -> AppResult<Parsed> {
    let gtin = Gtin::parse(&req.gtin).map_err(|e| AppError::validation("gtin", format!("GTIN: {e}")))?;
    let batch = match req.batch.as_deref().map(str::trim) {
        None => None,
        // GS1's character set 82 is printable ASCII without space and a few signs; a looser test
        // (printable, no space) is enough to keep what a scanner can never type out.
        Some(b) if !b.is_empty() && b.len() <= BATCH_MAX && b.bytes().all(|c| c.is_ascii_graphic()) => {
            Some(b.to_owned())
        }
        Some(_) => {
            return Err(AppError::validation(
                "batch",
                format!("номер партии (AI 10): от 1 до {BATCH_MAX} латинских букв, цифр и знаков без пробелов"),
            ))
        }
    };
    let reason = text::label("reason", &req.reason, text::NAME_MAX)?;
    Ok(Parsed { gtin, batch, reason })
}

type RecallRow = (i64, String, Option<String>, String, NaiveDateTime);

fn to_api((id, gtin, batch, reason, created_at): RecallRow) -> Recall {
    Recall { id, gtin, batch, reason, created_at: created_at.and_utc() }
}

/// Places a recall. The same GTIN and batch recalled twice while in force is refused, naming the
/// recall that stands: the insert itself decides (a unique index over the recalls in force), so two
/// operators at once cannot both place it.
pub fn create(conn: &mut Conn, req: &RecallRequest, actor: &str, now: DateTime<Utc>) -> AppResult<Recall> {
    let p = parse(req)?;
    let id: Option<i64> = with_conn!(conn, c => diesel::insert_into(recalls::table)
        .values((
            recalls::gtin.eq(p.gtin.as_str()),
            recalls::batch.eq(p.batch.as_deref()),
            recalls::reason.eq(&p.reason),
            recalls::created_at.eq(now.naive_utc()),
            recalls::created_by.eq(actor),
        ))
        .on_conflict_do_nothing()
        .returning(recalls::id)
        .get_result(c)
        .optional())?;
    let Some(id) = id else {
        let standing = in_force_for(conn, p.gtin.as_str())?.into_iter().find(|r| r.batch == p.batch);
        let mut e = AppError::validation("gtin", "этот товар (и партия) уже отозван");
        if let Some(r) = standing {
            e = AppError::validation("gtin", format!("этот товар (и партия) уже отозван: отзыв №{}", r.id))
                .with("recall_id", r.id);
        }
        return Err(e);
    };
    audit::record(
        conn,
        &[Entry::new(now, actor, "recall", id.to_string(), None, "in_force").detail(format!(
            "gtin={} batch={}",
            p.gtin.as_str(),
            p.batch.as_deref().unwrap_or("*")
        ))],
    )?;
    Ok(Recall { id, gtin: p.gtin.as_str().to_owned(), batch: p.batch, reason: p.reason, created_at: now })
}

fn select() -> (recalls::id, recalls::gtin, recalls::batch, recalls::reason, recalls::created_at) {
    (recalls::id, recalls::gtin, recalls::batch, recalls::reason, recalls::created_at)
}

/// The recalls in force, oldest first.
pub fn in_force(conn: &mut Conn) -> AppResult<Vec<Recall>> {
    let rows: Vec<RecallRow> = with_conn!(conn, c => recalls::table
        .filter(recalls::lifted_at.is_null())
        .order(recalls::id)
        .select(select())
        .load(c))?;
    Ok(rows.into_iter().map(to_api).collect())
}

/// The recalls in force of one GTIN-14.
pub fn in_force_for(conn: &mut Conn, gtin: &str) -> AppResult<Vec<Recall>> {
    let rows: Vec<RecallRow> = with_conn!(conn, c => recalls::table
        .filter(recalls::gtin.eq(gtin))
        .filter(recalls::lifted_at.is_null())
        .order(recalls::id)
        .select(select())
        .load(c))?;
    Ok(rows.into_iter().map(to_api).collect())
}

/// Lifts a recall in force; one already lifted, or none, is 404.
pub fn lift(conn: &mut Conn, id: i64, actor: &str, now: DateTime<Utc>) -> AppResult<()> {
    let n = with_conn!(conn, c => diesel::update(recalls::table.filter(recalls::id.eq(id)).filter(recalls::lifted_at.is_null()))
        .set((recalls::lifted_at.eq(now.naive_utc()), recalls::lifted_by.eq(actor)))
        .execute(c))?;
    if n == 0 {
        return Err(AppError::new(ErrorCode::NotFound, "Отзыв не найден или уже снят").with("recall_id", id));
    }
    audit::record(conn, &[Entry::new(now, actor, "recall", id.to_string(), Some("in_force"), "lifted")])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(gtin: &str, batch: Option<&str>, reason: &str) -> RecallRequest {
        RecallRequest { gtin: gtin.into(), batch: batch.map(Into::into), reason: reason.into() }
    }

    fn field(r: AppResult<Parsed>) -> Option<String> {
        r.err().and_then(|e| e.details.get("field").and_then(|f| f.as_str()).map(str::to_owned))
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let ok = parse(&req("4600000000015", Some(" L2301 "), "Листерия")).unwrap();
        assert_eq!((ok.gtin.as_str(), ok.batch.as_deref()), ("04600000000015", Some("L2301")));
        assert_eq!(field(parse(&req("4600000000016", None, "x"))).as_deref(), Some("gtin"));
        assert_eq!(field(parse(&req("4600000000015", Some(""), "x"))).as_deref(), Some("batch"));
        assert_eq!(field(parse(&req("4600000000015", Some("L 1"), "x"))).as_deref(), Some("batch"));
        assert_eq!(field(parse(&req("4600000000015", Some(&"9".repeat(21)), "x"))).as_deref(), Some("batch"));
        assert_eq!(field(parse(&req("4600000000015", None, "  "))).as_deref(), Some("reason"));
    }
}
