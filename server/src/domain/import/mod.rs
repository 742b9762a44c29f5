//! List in (Alg. p.13, p.18): the month's potential recipients, validated row by row.
//!
//! The whole upload is one transaction, so a crash leaves the database as before or as after; and
//! it is idempotent: a family already listed with the same content is accepted and left alone.
//!
//! Reading a list ([`parse`]), checking it row by row ([`validate`]), storing what is new (here).

mod parse;
mod validate;

pub use parse::{rows_from_csv, rows_from_json, rows_from_upload, RawRow};
pub use validate::{validate, Family, Known, Member, Validated};

use std::collections::{HashMap, HashSet};

use azyq_shared::api::{ConsentStatus, ErrorCode, ImportReport};
use azyq_shared::{Iin, Month};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::audit::{self, Entry};
use crate::db::schema::{consents, family_months, localities, members};
use crate::db::Conn;
use crate::domain::cycle::{self, FamilyStatus};
use crate::domain::sms::{Message, Policy};
use crate::domain::{bulk, programme, rates, stats};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// How many uploaded family ids or IINs one look-up statement asks for (an `IN` list well under
/// the bind limits of both databases).
pub const LOOKUP_CHUNK: usize = 10_000;

/// Most bind parameters one statement carries: SQLite's limit (`SQLITE_MAX_VARIABLE_NUMBER`,
/// 32 766 since 3.32; PostgreSQL takes 65 535). A multi-row INSERT of `n` columns carries
/// `MAX_BINDS / n` rows, so a national list is a few hundred statements, not a million.
pub const MAX_BINDS: usize = 32_766;

/// A month's list as uploaded, and how it is looked up.
pub struct Upload<'a> {
    pub month: Month,
    pub rows: &'a [RawRow],
    /// The JSON family object of each row (see [`validate`]).
    pub group: Option<&'a [usize]>,
    /// Uploaded keys per look-up statement ([`LOOKUP_CHUNK`]; a test sets a small one).
    pub lookup_chunk: usize,
}

/// Imports a month's list in the caller's transaction: validates, lists new families, and issues at
/// once the vouchers of families whose consent holds from an earlier month, telling each by SMS
/// (in the daytime hours) and a wallet notice. A month outside the programme is refused.
pub fn import(
    conn: &mut Conn,
    month: Month,
    rows: &[RawRow],
    group: Option<&[usize]>,
    sms: &Policy,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<ImportReport> {
    import_upload(conn, &Upload { month, rows, group, lookup_chunk: LOOKUP_CHUNK }, sms, actor, now)
}

/// [`import`], with the look-up's chunk size chosen by the caller.
pub fn import_upload(
    conn: &mut Conn,
    upload: &Upload,
    sms: &Policy,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<ImportReport> {
    let Upload { month, rows, group, lookup_chunk } = *upload;
    // Imports run one at a time (with the other jobs of the cycle): what is read below as already
    // listed is then what the writes below see, so the same list sent twice at once lists once.
    super::lock_jobs(conn)?;
    programme::require(conn, month)?;
    cycle::require_open_month(conn, month, now)?;
    rates::require_any_rate(conn, month)?;

    let pilot_katos: HashSet<String> = with_conn!(conn, c => localities::table
        .filter(localities::pilot.eq(true))
        .select(localities::kato)
        .load::<String>(c))?
    .into_iter()
    .collect();
    // Only what the month lists under the uploaded family ids and IINs is read — the validator asks
    // about nothing else — so the memory an upload takes follows the upload, not the month (a month
    // of a million members loaded whole took a quarter of a gigabyte).
    let (families, listed) = listed_of_upload(conn, month, rows, lookup_chunk)?;
    let mut validated =
        validate(rows, group, &Known { pilot_katos: &pilot_katos, families: &families, members: &listed });
    drop((families, listed));
    // New families are stored in key order, so that the tables' B-trees and most of their indexes
    // grow at their right edge (families and the journal by family id, members by IIN); the page
    // cache is raised for the index entries that land at random (see `bulk`).
    validated.new.sort_unstable_by(|a, b| a.family_id.cmp(&b.family_id));

    let standing = standing_consents(conn, &validated.new, lookup_chunk)?;
    let ts = now.naive_utc();
    let mut fm_rows = Vec::with_capacity(validated.new.len());
    let mut journal = Vec::with_capacity(validated.new.len());
    let mut consented = Vec::new();
    let mut consent_counts: std::collections::BTreeMap<(String, stats::ConsentEvent), i64> = Default::default();
    for f in &validated.new {
        let status = match (&f.phone, standing.contains(&f.family_id)) {
            (None, _) => FamilyStatus::NoPhone,
            (Some(_), true) => FamilyStatus::Consented,
            (Some(_), false) => FamilyStatus::Listed,
        };
        let entity_id = cycle::family_month_id(month, &f.family_id);
        journal.push(Entry::new(now, actor, "family_month", entity_id.clone(), None, FamilyStatus::Listed.as_str()));
        match status {
            FamilyStatus::NoPhone => journal.push(
                Entry::new(now, actor, "family_month", entity_id, Some(FamilyStatus::Listed.as_str()), status.as_str())
                    .detail("no applicant phone: reported in the SDU return (Alg. p.17)"),
            ),
            FamilyStatus::Consented => {
                journal.push(
                    Entry::new(
                        now,
                        actor,
                        "family_month",
                        entity_id,
                        Some(FamilyStatus::Listed.as_str()),
                        status.as_str(),
                    )
                    .detail("consent holds from an earlier month"),
                );
                consented.push(f.family_id.clone());
            }
            _ => {}
        }
        fm_rows.push((
            family_months::month.eq(month.as_ref().to_owned()),
            family_months::family_id.eq(f.family_id.clone()),
            family_months::kato.eq(f.kato.as_ref().to_owned()),
            family_months::region.eq(f.kato.region().as_ref().to_owned()),
            family_months::phone.eq(f.phone.as_ref().map(|p| p.as_ref().to_owned())),
            family_months::content_hash.eq(f.content_hash()),
            family_months::status.eq(status.as_str()),
            family_months::status_at.eq(ts),
        ));
    }
    // Members by IIN, as families are by id: see above.
    let mut new_members: Vec<(&Member, &str)> =
        validated.new.iter().flat_map(|f| f.members.iter().map(move |m| (m, f.family_id.as_str()))).collect();
    new_members.sort_unstable_by(|a, b| a.0.iin.cmp(&b.0.iin));
    let member_rows: Vec<_> = new_members
        .into_iter()
        .map(|(m, family_id)| {
            (
                members::month.eq(month.as_ref()),
                members::iin.eq(m.iin.as_ref()),
                members::family_id.eq(family_id),
                members::name.eq(m.name.as_str()),
                members::birth_date.eq(azyq_shared::api::birth_date_text(m.birth_date)),
            )
        })
        .collect();
    for f in &validated.new {
        let region = f.kato.region();
        let event = match (&f.phone, standing.contains(&f.family_id)) {
            (None, _) => stats::ConsentEvent::NoPhone,
            (Some(_), true) => stats::ConsentEvent::Yes,
            (Some(_), false) => continue,
        };
        *consent_counts.entry((region.as_ref().to_owned(), event)).or_insert(0) += 1;
    }
    for ((region, event), count) in consent_counts {
        stats::consent(conn, now, month.as_ref(), &region, event, count)?;
    }
    bulk::with_memory_for(conn, member_rows.len() as u64, |conn| {
        match conn {
            // One COPY a table: a million members' rows stream in binary, where multi-row INSERTs
            // of 32 766 bound values were parsed, planned and executed 150 times.
            Conn::Pg(c) => {
                diesel::copy_from(family_months::table).from_insertable(&fm_rows).execute(&mut **c)?;
                diesel::copy_from(members::table).from_insertable(&member_rows).execute(&mut **c)?;
            }
            Conn::Sqlite(c) => {
                for chunk in fm_rows.chunks(MAX_BINDS / 8) {
                    diesel::insert_into(family_months::table).values(chunk).execute(&mut **c)?;
                }
                for chunk in member_rows.chunks(MAX_BINDS / 5) {
                    diesel::insert_into(members::table).values(chunk).execute(&mut **c)?;
                }
            }
        }
        audit::record(conn, &journal)
    })?;
    bulk::analyze_after(conn, member_rows.len(), &["family_months", "members"])?;
    let vouchers_issued =
        if consented.is_empty() { 0 } else { cycle::issue_vouchers(conn, month, cycle::Which::All, actor, now)? };
    // The families whose consent carried over get no start SMS: this one tells them (SW p.4, p.7).
    cycle::queue_to_families(conn, month, &consented, Message::VouchersIssued { month }, sms, now)?;
    if !validated.rejected.is_empty() {
        tracing::info!(month = %month, rejected = validated.rejected.len(), "recipient rows rejected");
    }
    Ok(ImportReport {
        accepted: validated.accepted_rows,
        rejected: validated.rejected,
        new_families: validated.new.len(),
        vouchers_issued,
    })
}

/// The month's families (id → content hash) and members (IIN → family id) among those an upload
/// names, looked up `chunk` keys at a time.
fn listed_of_upload(
    conn: &mut Conn,
    month: Month,
    rows: &[RawRow],
    chunk: usize,
) -> AppResult<(HashMap<String, String>, HashMap<String, String>)> {
    let chunk = chunk.max(1);
    // A month's first list (the national one) finds nothing: one look-up says so, instead of a
    // million keys bound in vain (members are listed only with their family).
    let any_listed = with_conn!(conn, c => diesel::select(diesel::dsl::exists(
        family_months::table.filter(family_months::month.eq(month.as_ref())),
    ))
    .get_result::<bool>(c))?;
    if !any_listed {
        return Ok((HashMap::new(), HashMap::new()));
    }
    let mut family_ids: Vec<&str> = rows.iter().map(|r| r.family_id.trim()).collect();
    family_ids.sort_unstable();
    family_ids.dedup();
    let mut iins: Vec<String> =
        rows.iter().filter_map(|r| Iin::parse(&r.iin).ok()).map(|i| i.as_ref().to_owned()).collect();
    iins.sort_unstable();
    iins.dedup();
    let mut families = HashMap::new();
    for ids in family_ids.chunks(chunk) {
        let found: Vec<(String, String)> = with_conn!(conn, c => family_months::table
            .filter(family_months::month.eq(month.as_ref()))
            .filter(family_months::family_id.eq_any(ids))
            .select((family_months::family_id, family_months::content_hash))
            .load(c))?;
        families.extend(found);
    }
    let mut members = HashMap::new();
    for keys in iins.chunks(chunk) {
        let found: Vec<(String, String)> = with_conn!(conn, c => members::table
            .filter(members::month.eq(month.as_ref()))
            .filter(members::iin.eq_any(keys))
            .select((members::iin, members::family_id))
            .load(c))?;
        members.extend(found);
    }
    Ok((families, members))
}

/// Which of the new families have a standing consent (given in an earlier month and not withdrawn).
fn standing_consents(conn: &mut Conn, new: &[Family], chunk: usize) -> AppResult<HashSet<String>> {
    let ids: Vec<&str> = new.iter().filter(|f| f.phone.is_some()).map(|f| f.family_id.as_str()).collect();
    let mut standing = HashSet::new();
    let any_given = !ids.is_empty()
        && with_conn!(conn, c => diesel::select(diesel::dsl::exists(
            consents::table.filter(consents::status.eq(ConsentStatus::Given)),
        ))
        .get_result::<bool>(c))?;
    if !any_given {
        return Ok(standing);
    }
    for ids in ids.chunks(chunk.max(1)) {
        let found: Vec<String> = with_conn!(conn, c => consents::table
            .filter(consents::status.eq(ConsentStatus::Given))
            .filter(consents::family_id.eq_any(ids))
            .select(consents::family_id)
            .load(c))?;
        standing.extend(found);
    }
    Ok(standing)
}

/// A list that cannot be read at all (as opposed to rows that are refused).
pub fn empty_list() -> AppError {
    AppError::new(ErrorCode::Validation, "Список пуст").with("field", "families")
}

/// `azyq-server import`: a CSV or JSON list file (over the API's body limit) in one transaction.
pub fn import_file(
    db: &crate::db::Db,
    month: Month,
    file: &std::path::Path,
    sms: &Policy,
    now: DateTime<Utc>,
) -> anyhow::Result<ImportReport> {
    use anyhow::Context as _;
    let body = std::fs::read(file).with_context(|| format!("cannot read the list {}", file.display()))?;
    let is_json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let (rows, group) = rows_from_upload(&body, is_json).with_context(|| {
        format!("{} is not a recipients list in {}", file.display(), if is_json { "JSON" } else { "CSV" })
    })?;
    Ok(db.write(|c| import(c, month, &rows, group.as_deref(), sms, "cli", now))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use azyq_shared::api::RejectCode;
    use azyq_shared::Iin;
    use std::collections::{HashMap, HashSet};

    fn iin(prefix: &str) -> String {
        let mut d = [0u8; 11];
        for (i, b) in prefix.bytes().enumerate() {
            d[i] = b - b'0';
        }
        format!("{prefix}{}", Iin::check_digit(&d).unwrap())
    }

    fn valid_iins(n: usize) -> Vec<String> {
        (0..)
            .map(|k| format!("9001013{k:04}"))
            .filter_map(|p| {
                let mut d = [0u8; 11];
                for (i, b) in p.bytes().enumerate() {
                    d[i] = b - b'0';
                }
                Iin::check_digit(&d).map(|_| iin(&p))
            })
            .take(n)
            .collect()
    }

    fn row(family: &str, kato: &str, phone: Option<&str>, iin: &str) -> RawRow {
        RawRow {
            family_id: family.into(),
            kato: kato.into(),
            phone: phone.map(Into::into),
            iin: iin.into(),
            name: "Айгерим Бекова".into(),
            birth_date: "1990-01-01".into(),
        }
    }

    #[test]
    fn rejections_each_have_their_code() {
        let iins = valid_iins(6);
        let pilot: HashSet<String> = ["551010000".to_string()].into();
        let families = HashMap::from([("OLD".to_string(), "different".to_string())]);
        let members = HashMap::from([(iins[5].clone(), "OTHER".to_string())]);
        let known = Known { pilot_katos: &pilot, families: &families, members: &members };
        let mut bad_iin = iins[0].clone();
        bad_iin.replace_range(11..12, if bad_iin.ends_with('0') { "1" } else { "0" });
        let rows = vec![
            row("F1", "551010000", Some("+77011234567"), &iins[0]), // ok
            row("F2", "551010000", Some("+77011234568"), &bad_iin), // invalid_iin
            row("F3", "111010000", Some("+77011234569"), &iins[1]), // not pilot
            row("F4", "55101", None, &iins[2]),                     // invalid kato
            row("F5", "551010000", Some("12345"), &iins[3]),        // invalid phone
            row("F6", "551010000", None, &iins[0]),                 // member in two families (this file)
            row("F7", "551010000", None, &iins[5]),                 // member in two families (earlier upload)
            row("OLD", "551010000", None, &iins[4]),                // family conflict
        ];
        let v = validate(&rows, None, &known);
        let codes: Vec<(usize, RejectCode)> = v.rejected.iter().map(|r| (r.row, r.code)).collect();
        assert_eq!(
            codes,
            vec![
                (2, RejectCode::InvalidIin),
                (3, RejectCode::NotPilotLocality),
                (4, RejectCode::InvalidKato),
                (5, RejectCode::InvalidPhone),
                (6, RejectCode::MemberInTwoFamilies),
                (7, RejectCode::MemberInTwoFamilies),
                (8, RejectCode::FamilyConflict),
            ]
        );
        assert_eq!(v.new.len(), 1);
        assert_eq!(v.accepted_rows, 1);
    }

    #[test]
    fn one_bad_member_rejects_the_family_and_identical_reupload_is_unchanged() {
        let iins = valid_iins(3);
        let pilot: HashSet<String> = ["551010000".to_string()].into();
        let empty = HashMap::new();
        let known = Known { pilot_katos: &pilot, families: &empty, members: &empty };
        let rows = vec![
            row("F1", "551010000", Some("87011234567"), &iins[0]),
            row("F1", "551010000", Some("87011234567"), "123"),
            row("F2", "551010000", Some("87011234568"), &iins[1]),
        ];
        let v = validate(&rows, None, &known);
        assert_eq!(
            v.rejected.iter().map(|r| (r.row, r.code)).collect::<Vec<_>>(),
            vec![(1, RejectCode::FamilyRejected), (2, RejectCode::InvalidIin)]
        );
        let hashes: HashMap<String, String> = v.new.iter().map(|f| (f.family_id.clone(), f.content_hash())).collect();
        let known2 = Known { pilot_katos: &pilot, families: &hashes, members: &empty };
        let again = validate(&rows[2..], None, &known2);
        assert_eq!((again.new.len(), again.unchanged, again.accepted_rows), (0, 1, 1));
    }

    #[test]
    fn control_characters_are_refused_per_row() {
        let iins = valid_iins(2);
        let pilot: HashSet<String> = ["551010000".to_string()].into();
        let empty = HashMap::new();
        let known = Known { pilot_katos: &pilot, families: &empty, members: &empty };
        let mut nul_name = row("F1", "551010000", None, &iins[0]);
        nul_name.name = "Аня\0".into();
        let v = validate(&[nul_name, row("F\u{0}2", "551010000", None, &iins[1])], None, &known);
        let codes: Vec<(usize, RejectCode)> = v.rejected.iter().map(|r| (r.row, r.code)).collect();
        assert_eq!(codes, vec![(1, RejectCode::InvalidMember), (2, RejectCode::InvalidMember)]);
        assert!(v.new.is_empty());
    }

    #[test]
    fn one_family_in_two_json_objects_conflicts() {
        let iins = valid_iins(2);
        let pilot: HashSet<String> = ["551010000".to_string()].into();
        let empty = HashMap::new();
        let known = Known { pilot_katos: &pilot, families: &empty, members: &empty };
        let rows = vec![row("F1", "551010000", None, &iins[0]), row("F1", "551010000", None, &iins[1])];
        let v = validate(&rows, Some(&[0, 1]), &known);
        assert!(v.rejected.iter().any(|r| r.code == RejectCode::FamilyConflict && r.row == 2));
        let v = validate(&rows, None, &known);
        assert!(v.rejected.is_empty());
    }
}
