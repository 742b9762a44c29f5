//! Hot statements of a fixed SQL text, kept prepared.
//!
//! diesel keeps a prepared statement in the connection's cache only when its shape cannot vary
//! without bound — never an `UPDATE` (its `SET` may list any subset of columns), an `ON CONFLICT …
//! DO UPDATE`, a raw `sql_query`, or a multi-row `INSERT`. Each of those is compiled afresh every
//! time it runs: on SQLite that was a quarter of the writer's time under till load (`sqlite3_prepare`
//! in perf, issue 19); on PostgreSQL the server parses and plans each again. A [`Fixed`] statement is
//! one `&'static str` of SQL with `?` where each bound value goes: its text cannot vary, so diesel
//! keeps it prepared, keyed by that text, on both backends (PostgreSQL's `$1…` are written for it).
//!
//! The SQL must be one both databases read alike (plain identifiers, `ON CONFLICT … DO UPDATE`,
//! `RETURNING`), and hold no `?` other than the binds.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, BigInt, HasSqlType, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

/// A value bound to a [`Fixed`] statement.
#[derive(Debug, Clone)]
pub enum Bind<'a> {
    Int(i64),
    Text(&'a str),
    TextOwned(String),
    OptText(Option<&'a str>),
    Time(chrono::NaiveDateTime),
    /// PostgreSQL only (`bigint[]`).
    Ints(&'a [i64]),
    /// PostgreSQL only (arrays built for the statement).
    IntsOwned(Vec<i64>),
    Ints32(Vec<i32>),
    Texts(Vec<&'a str>),
    OptTexts(Vec<Option<&'a str>>),
}

impl From<Vec<i64>> for Bind<'_> {
    fn from(v: Vec<i64>) -> Self {
        Bind::IntsOwned(v)
    }
}

impl From<Vec<i32>> for Bind<'_> {
    fn from(v: Vec<i32>) -> Self {
        Bind::Ints32(v)
    }
}

impl<'a> From<Vec<&'a str>> for Bind<'a> {
    fn from(v: Vec<&'a str>) -> Self {
        Bind::Texts(v)
    }
}

impl<'a> From<&'a Vec<&'a str>> for Bind<'a> {
    fn from(v: &'a Vec<&'a str>) -> Self {
        Bind::Texts(v.clone())
    }
}

impl<'a> From<&'a Vec<String>> for Bind<'a> {
    fn from(v: &'a Vec<String>) -> Self {
        Bind::Texts(v.iter().map(String::as_str).collect())
    }
}

impl<'a> From<Vec<Option<&'a str>>> for Bind<'a> {
    fn from(v: Vec<Option<&'a str>>) -> Self {
        Bind::OptTexts(v)
    }
}

impl From<chrono::NaiveDateTime> for Bind<'_> {
    fn from(v: chrono::NaiveDateTime) -> Self {
        Bind::Time(v)
    }
}

impl<'a> From<&'a [i64]> for Bind<'a> {
    fn from(v: &'a [i64]) -> Self {
        Bind::Ints(v)
    }
}

impl<'a> From<&'a Vec<i64>> for Bind<'a> {
    fn from(v: &'a Vec<i64>) -> Self {
        Bind::Ints(v)
    }
}

impl From<i64> for Bind<'_> {
    fn from(v: i64) -> Self {
        Bind::Int(v)
    }
}

impl From<azyq_shared::Tiyn> for Bind<'_> {
    fn from(v: azyq_shared::Tiyn) -> Self {
        Bind::Int(v.get())
    }
}

impl<'a> From<&'a str> for Bind<'a> {
    fn from(v: &'a str) -> Self {
        Bind::Text(v)
    }
}

impl From<String> for Bind<'_> {
    fn from(v: String) -> Self {
        Bind::TextOwned(v)
    }
}

impl<'a> From<&'a Vec<i32>> for Bind<'a> {
    fn from(v: &'a Vec<i32>) -> Self {
        Bind::Ints32(v.clone())
    }
}

impl<'a> From<&'a String> for Bind<'a> {
    fn from(v: &'a String) -> Self {
        Bind::Text(v)
    }
}

impl<'a> From<Option<&'a str>> for Bind<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Bind::OptText(v)
    }
}

/// A statement's answer as one JSON document (`json_build_object(…)::text AS doc`): PostgreSQL's way
/// to read rows of several shapes in one round trip.
#[derive(diesel::QueryableByName)]
pub struct Doc {
    #[diesel(sql_type = Text)]
    pub doc: String,
}

impl Doc {
    /// The document read as `T`; `what` names the statement in the error.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, what: &str) -> crate::error::AppResult<T> {
        serde_json::from_str(&self.doc).map_err(|e| crate::error::AppError::internal(anyhow::anyhow!("{what}: {e}")))
    }
}

/// The SQL text for `n` rows (1 ≤ n ≤ N) of a multi-row statement, built once per row count by
/// `build` and kept in `texts` for the process's life: the set of texts is bounded by N.
pub fn for_rows<const N: usize>(
    texts: &'static [std::sync::OnceLock<String>; N],
    n: usize,
    build: impl FnOnce(usize) -> String,
) -> Option<&'static str> {
    let slot = texts.get(n.checked_sub(1)?)?;
    Some(slot.get_or_init(|| build(n)).as_str())
}

/// A statement of fixed SQL text (see the module's doc). `ST` is what a `RETURNING` answers.
#[derive(Debug, Clone)]
pub struct Fixed<'a, ST = ()> {
    sql: &'static str,
    /// Placeholders are `$1`, `$2`, … rather than `?`.
    numbered: bool,
    binds: Vec<Bind<'a>>,
    returns: PhantomData<ST>,
}

impl<'a> Fixed<'a> {
    /// A statement that answers a row count (`execute`).
    pub fn new(sql: &'static str) -> Self {
        Fixed { sql, numbered: false, binds: Vec::with_capacity(8), returns: PhantomData }
    }

    /// A statement whose placeholders are numbered, `$1`…`$n` (PostgreSQL's way: a value may be
    /// used more than once); the binds are given in number order, and every one must be used.
    pub fn numbered(sql: &'static str) -> Self {
        Fixed { numbered: true, ..Fixed::new(sql) }
    }
}

impl<'a, ST> Fixed<'a, ST> {
    /// The statement answers rows read by name (`QueryableByName`), as `sql_query` does.
    pub fn by_name(self) -> Fixed<'a, diesel::sql_types::Untyped> {
        self.returning()
    }

    /// The statement answers rows of `R` (its `RETURNING` or `SELECT` list).
    pub fn returning<R>(self) -> Fixed<'a, R> {
        Fixed { sql: self.sql, numbered: self.numbered, binds: self.binds, returns: PhantomData }
    }

    /// Binds the next `?` to `v`.
    pub fn bind(mut self, v: impl Into<Bind<'a>>) -> Self {
        self.binds.push(v.into());
        self
    }

    pub fn int(mut self, v: i64) -> Self {
        self.binds.push(Bind::Int(v));
        self
    }

    pub fn text(mut self, v: &'a str) -> Self {
        self.binds.push(Bind::Text(v));
        self
    }

    pub fn opt_text(mut self, v: Option<&'a str>) -> Self {
        self.binds.push(Bind::OptText(v));
        self
    }
}

/// How each backend takes a [`Bind`].
pub trait Binds: Backend {
    fn push<'b>(out: &mut AstPass<'_, 'b, Self>, bind: &'b Bind<'_>) -> QueryResult<()>;
}

/// The binds both backends take alike; `None` for an array (PostgreSQL's alone).
fn push_scalar<'b, DB>(out: &mut AstPass<'_, 'b, DB>, bind: &'b Bind<'_>) -> Option<QueryResult<()>>
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text> + HasSqlType<Timestamp>,
    i64: ToSql<BigInt, DB>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    for<'x> Option<&'x str>: ToSql<Nullable<Text>, DB>,
    chrono::NaiveDateTime: ToSql<Timestamp, DB>,
{
    Some(match bind {
        Bind::Int(v) => out.push_bind_param::<BigInt, i64>(v),
        Bind::Text(v) => out.push_bind_param::<Text, str>(v),
        Bind::TextOwned(v) => out.push_bind_param::<Text, String>(v),
        Bind::OptText(v) => out.push_bind_param::<Nullable<Text>, Option<&str>>(v),
        Bind::Time(v) => out.push_bind_param::<Timestamp, chrono::NaiveDateTime>(v),
        Bind::Ints(_) | Bind::IntsOwned(_) | Bind::Ints32(_) | Bind::Texts(_) | Bind::OptTexts(_) => return None,
    })
}

impl Binds for diesel::sqlite::Sqlite {
    fn push<'b>(out: &mut AstPass<'_, 'b, Self>, bind: &'b Bind<'_>) -> QueryResult<()> {
        push_scalar(out, bind).unwrap_or_else(|| Err(unbound("an array on SQLite")))
    }
}

impl Binds for diesel::pg::Pg {
    fn push<'b>(out: &mut AstPass<'_, 'b, Self>, bind: &'b Bind<'_>) -> QueryResult<()> {
        match bind {
            Bind::Ints(v) => out.push_bind_param::<Array<BigInt>, [i64]>(v),
            Bind::IntsOwned(v) => out.push_bind_param::<Array<BigInt>, Vec<i64>>(v),
            Bind::Ints32(v) => out.push_bind_param::<Array<Integer>, Vec<i32>>(v),
            Bind::Texts(v) => out.push_bind_param::<Array<Text>, Vec<&str>>(v),
            Bind::OptTexts(v) => out.push_bind_param::<Array<Nullable<Text>>, Vec<Option<&str>>>(v),
            scalar => push_scalar(out, scalar).unwrap_or_else(|| Err(unbound("a value of no known type"))),
        }
    }
}

fn unbound(what: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("{what} cannot be bound").into())
}

impl<ST, DB: Binds> QueryFragment<DB> for Fixed<'_, ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.numbered {
            return self.walk_numbered(out);
        }
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        let mut binds = self.binds.iter();
        for part in parts {
            DB::push(&mut out, binds.next().ok_or_else(|| mismatch(self.sql))?)?;
            out.push_sql(part);
        }
        if binds.next().is_some() {
            return Err(mismatch(self.sql));
        }
        Ok(())
    }
}

impl<ST> Fixed<'_, ST> {
    /// `$n` placeholders: each pushes bind n (a value used twice is bound twice). Every bind must
    /// be used.
    fn walk_numbered<'b, DB: Binds>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut used = vec![false; self.binds.len()];
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(mismatch(self.sql));
            }
            out.push_sql(&rest[..at]);
            let n: usize = rest[at + 1..at + 1 + digits].parse().map_err(|_| mismatch(self.sql))?;
            let i = n.checked_sub(1).filter(|i| *i < self.binds.len()).ok_or_else(|| mismatch(self.sql))?;
            used[i] = true;
            DB::push(&mut out, &self.binds[i])?;
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        if used.contains(&false) {
            return Err(mismatch(self.sql));
        }
        Ok(())
    }
}

fn mismatch(sql: &str) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("binds do not match the `?` of: {sql}").into())
}

/// No static id: the statement cache keys it by its SQL text, one of a fixed set.
impl<ST> QueryId for Fixed<'_, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: 'static> Query for Fixed<'_, ST> {
    type SqlType = ST;
}

impl<ST, Conn> RunQueryDsl<Conn> for Fixed<'_, ST> {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;
    use diesel::sqlite::SqliteConnection;

    use super::Fixed;

    struct Prepares(Arc<AtomicUsize>);

    impl Instrumentation for Prepares {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { .. } = event {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn conn() -> (SqliteConnection, Arc<AtomicUsize>) {
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        c.batch_execute(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL, note TEXT); \
             INSERT INTO t (k, v) VALUES (1, 10), (2, 20);",
        )
        .unwrap();
        let n = Arc::new(AtomicUsize::new(0));
        c.set_instrumentation(Prepares(n.clone()));
        (c, n)
    }

    const BUMP: &str = "UPDATE t SET v = v + ?, note = ? WHERE k = ? AND v >= ?";

    #[test]
    fn a_fixed_update_is_prepared_once_and_then_reused() {
        let (mut c, prepares) = conn();
        for (k, note) in [(1i64, Some("a")), (2, None), (1, Some("b")), (2, Some("c"))] {
            let n = Fixed::new(BUMP).int(1).opt_text(note).int(k).int(0).execute(&mut c).unwrap();
            assert_eq!(n, 1);
        }
        assert_eq!(prepares.load(Ordering::SeqCst), 1, "one prepare, then the kept statement");
        // The guard of a conditional update still decides: no row at v >= 1000.
        assert_eq!(Fixed::new(BUMP).int(1).opt_text(None).int(1).int(1000).execute(&mut c).unwrap(), 0);
        let v: i64 = Fixed::new("UPDATE t SET v = v + ? WHERE k = ? RETURNING v")
            .int(5)
            .int(2)
            .returning::<diesel::sql_types::BigInt>()
            .get_result(&mut c)
            .unwrap();
        assert_eq!(v, 20 + 2 + 5);
        let note: Option<String> = Fixed::new("SELECT note FROM t WHERE k = ?")
            .int(2)
            .returning::<diesel::sql_types::Nullable<diesel::sql_types::Text>>()
            .get_result(&mut c)
            .unwrap();
        assert_eq!(note.as_deref(), Some("c"));
    }

    #[test]
    fn numbered_placeholders_bind_a_value_each_time_it_is_used() {
        let (mut c, prepares) = conn();
        for k in [1i64, 2, 1] {
            let v: i64 = Fixed::numbered("UPDATE t SET v = v + $2 WHERE k = $1 AND v >= $2 RETURNING v")
                .int(k)
                .int(3)
                .returning::<diesel::sql_types::BigInt>()
                .get_result(&mut c)
                .unwrap();
            assert!(v > 10);
        }
        assert_eq!(prepares.load(Ordering::SeqCst), 1);
        let unused = Fixed::numbered("UPDATE t SET v = $1").int(1).int(2).execute(&mut c);
        assert!(unused.is_err(), "a bind no placeholder uses is a mistake");
        assert!(Fixed::numbered("UPDATE t SET v = $3").int(1).execute(&mut c).is_err());
        assert!(Fixed::new("UPDATE t SET v = ?").bind(&[1i64][..]).execute(&mut c).is_err(), "no arrays on SQLite");
    }

    #[test]
    fn binds_that_do_not_match_the_sql_are_an_error_not_a_statement() {
        let (mut c, _) = conn();
        assert!(Fixed::new(BUMP).int(1).execute(&mut c).is_err(), "too few");
        assert!(Fixed::new("UPDATE t SET v = ?").int(1).int(2).execute(&mut c).is_err(), "too many");
    }
}
