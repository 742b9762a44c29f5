//! The programme period (order p.9; Alg. p.30; SPEC §2.8): the pilot order runs to a set date and
//! is extended by agreement, so the months the service runs are data. Outside them no list is
//! accepted, no SMS goes and nothing is issued; standing consents end with the programme.

use azyq_shared::api::{ConsentStatus, ErrorCode, Programme};
use azyq_shared::{BusinessDay, Month};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::audit::{self, Entry};
use crate::db::schema::{consents, programme};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// The months the service runs, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Month,
    pub to: Month,
}

impl Period {
    /// Parses the API's body: two months, the first not after the second.
    pub fn parse(body: &Programme) -> AppResult<Period> {
        let month =
            |field: &str, text: &str| Month::parse(text).map_err(|e| AppError::validation(field, e.to_string()));
        let (from, to) = (month("from_month", &body.from_month)?, month("to_month", &body.to_month)?);
        if from > to {
            return Err(AppError::validation("to_month", "конец программы раньше её начала"));
        }
        Ok(Period { from, to })
    }

    pub fn contains(&self, month: Month) -> bool {
        (self.from..=self.to).contains(&month)
    }

    pub fn to_api(self) -> Programme {
        Programme { from_month: self.from.as_ref().to_owned(), to_month: self.to.as_ref().to_owned() }
    }
}

/// The programme as stored (the migration writes the order's own period, 2026-01 to 2026-04).
pub fn period(conn: &mut Conn) -> AppResult<Period> {
    let (from, to): (String, String) =
        with_conn!(conn, c => programme::table.find(1).select((programme::from_month, programme::to_month)).first(c))?;
    let stored = |m: &str| Month::parse(m).map_err(|e| AppError::internal(anyhow::anyhow!("stored programme: {e}")));
    Ok(Period { from: stored(&from)?, to: stored(&to)? })
}

/// Whether the service runs in `month`.
pub fn covers(conn: &mut Conn, month: Month) -> AppResult<bool> {
    Ok(period(conn)?.contains(month))
}

/// Refuses work for a month outside the programme with 409 `outside_programme`.
pub fn require(conn: &mut Conn, month: Month) -> AppResult<()> {
    let p = period(conn)?;
    if p.contains(month) {
        return Ok(());
    }
    Err(AppError::new(
        ErrorCode::OutsideProgramme,
        format!("Месяц {month} вне срока программы ({} — {})", p.from, p.to),
    )
    .with("month", month.as_ref())
    .with("from_month", p.from.as_ref())
    .with("to_month", p.to.as_ref()))
}

/// Records the programme's months (an extension by agreement, Alg. p.30); if it is already over,
/// the standing consents end at once.
pub fn set(conn: &mut Conn, p: Period, actor: &str, now: DateTime<Utc>) -> AppResult<Period> {
    super::lock_jobs(conn)?;
    let old = period(conn)?;
    with_conn!(conn, c => diesel::update(programme::table.find(1))
        .set((
            programme::from_month.eq(p.from.as_ref()),
            programme::to_month.eq(p.to.as_ref()),
            programme::updated_at.eq(now.naive_utc()),
            programme::updated_by.eq(actor),
        ))
        .execute(c))?;
    audit::record(
        conn,
        &[Entry::new(
            now,
            actor,
            "programme",
            "1",
            Some(&format!("{}..{}", old.from, old.to)),
            &format!("{}..{}", p.from, p.to),
        )],
    )?;
    end_consents_if_over(conn, actor, now)?;
    Ok(p)
}

/// Widens the programme to take `month` in, if it does not already (the demo and the benchmarks,
/// which run in the current month, record the agreement an operator would).
pub fn cover(conn: &mut Conn, month: Month, actor: &str, now: DateTime<Utc>) -> AppResult<Period> {
    let p = period(conn)?;
    if p.contains(month) {
        return Ok(p);
    }
    set(conn, Period { from: p.from.min(month), to: p.to.max(month) }, actor, now)
}

/// Ends every standing consent once the programme is over (its last month has passed, Almaty
/// time): a later programme asks the families again. Returns how many ended.
pub fn end_consents_if_over(conn: &mut Conn, actor: &str, now: DateTime<Utc>) -> AppResult<usize> {
    let p = period(conn)?;
    let today = BusinessDay::of(now);
    if today.date() <= p.to.last_day() {
        return Ok(0);
    }
    let ended: Vec<String> = with_conn!(conn, c => diesel::update(consents::table.filter(consents::status.eq(ConsentStatus::Given)))
        .set((consents::status.eq(ConsentStatus::Ended), consents::updated_at.eq(now.naive_utc())))
        .returning(consents::family_id)
        .get_results(c))?;
    let journal: Vec<Entry> = ended
        .iter()
        .map(|f| {
            Entry::new(
                now,
                actor,
                "consent",
                f.as_str(),
                Some(ConsentStatus::Given.as_str()),
                ConsentStatus::Ended.as_str(),
            )
            .detail(format!("the programme ended with {}", p.to))
        })
        .collect();
    audit::record(conn, &journal)?;
    Ok(ended.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(from: &str, to: &str) -> Programme {
        Programme { from_month: from.into(), to_month: to.into() }
    }

    #[test]
    fn parses_and_contains() {
        let p = Period::parse(&body("2026-01", "2026-04")).unwrap();
        assert!(p.contains(Month::parse("2026-01").unwrap()));
        assert!(p.contains(Month::parse("2026-04").unwrap()));
        assert!(!p.contains(Month::parse("2026-05").unwrap()));
        assert!(!p.contains(Month::parse("2025-12").unwrap()));
        assert_eq!(p.to_api(), body("2026-01", "2026-04"));
    }

    #[test]
    fn refuses_bad_periods() {
        for (from, to, field) in
            [("2026-13", "2027-01", "from_month"), ("2026-01", "26-04", "to_month"), ("2026-05", "2026-04", "to_month")]
        {
            let e = Period::parse(&body(from, to)).unwrap_err();
            assert_eq!(e.code, ErrorCode::Validation);
            assert_eq!(e.details.get("field").and_then(|v| v.as_str()), Some(field), "{from}..{to}");
        }
    }
}
