//! List in (Alg. p.13, p.18): the month's potential recipients, validated row by row.
//!
//! The whole upload is one transaction, so a crash leaves the database as before or as after; and
//! it is idempotent: a family already listed with the same content is accepted and left alone.

use std::collections::{HashMap, HashSet};

use azyq_shared::api::{parse_birth_date, ErrorCode, FamilyIn, ImportReport, RejectCode, RejectedRow};
use azyq_shared::{Iin, Kato, Month, Phone};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::cycle::{self, FamilyStatus};
use super::{rates, stats};
use crate::db::audit::{self, Entry};
use crate::db::schema::{consents, family_months, localities, members};
use crate::db::Conn;
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// One member row as uploaded, with its family's fields beside it (CSV shape).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RawRow {
    pub family_id: String,
    pub kato: String,
    #[serde(default)]
    pub phone: Option<String>,
    pub iin: String,
    pub name: String,
    pub birth_date: String,
}

/// Flattens the JSON shape into rows; `group` tells which family object each row came from.
pub fn rows_from_json(families: &[FamilyIn]) -> (Vec<RawRow>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut group = Vec::new();
    for (i, f) in families.iter().enumerate() {
        for m in &f.members {
            rows.push(RawRow {
                family_id: f.family_id.clone(),
                kato: f.kato.clone(),
                phone: f.phone.clone(),
                iin: m.iin.clone(),
                name: m.name.clone(),
                birth_date: m.birth_date.clone(),
            });
            group.push(i);
        }
    }
    (rows, group)
}

/// Reads the CSV shape: `family_id,kato,phone,iin,name,birth_date` with a header row.
pub fn rows_from_csv(body: &[u8]) -> AppResult<Vec<RawRow>> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(body);
    let headers = reader.headers().map_err(|e| AppError::validation("header", format!("заголовок CSV: {e}")))?.clone();
    let expected = ["family_id", "kato", "phone", "iin", "name", "birth_date"];
    if headers.iter().collect::<Vec<_>>() != expected {
        return Err(AppError::validation("header", format!("заголовок CSV должен быть: {}", expected.join(","))));
    }
    let mut rows = Vec::new();
    for (i, rec) in reader.deserialize::<RawRow>().enumerate() {
        let row = rec.map_err(|e| {
            AppError::validation(&format!("row {}", i + 1), format!("строка {}: {e}", i + 1)).with("row", i + 1)
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// A family that passed validation.
#[derive(Debug, Clone)]
pub struct Family {
    pub family_id: String,
    pub kato: Kato,
    pub phone: Option<Phone>,
    pub members: Vec<Member>,
    /// File rows (1-based) of the members, in file order.
    pub rows: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub iin: Iin,
    pub name: String,
    pub birth_date: chrono::NaiveDate,
}

impl Family {
    /// A digest of everything listed about the family: equal digests mean an identical re-upload.
    pub fn content_hash(&self) -> String {
        let mut members: Vec<&Member> = self.members.iter().collect();
        members.sort_by(|a, b| a.iin.cmp(&b.iin));
        let mut h = Sha256::new();
        h.update(self.kato.as_ref());
        h.update([0]);
        h.update(self.phone.as_ref().map_or("", |p| p.as_ref()));
        for m in members {
            h.update([0]);
            h.update(m.iin.as_ref());
            h.update([0]);
            h.update(m.name.as_bytes());
            h.update([0]);
            h.update(m.birth_date.to_string());
        }
        hex::encode(h.finalize())
    }
}

/// The facts the validator checks rows against.
pub struct Known<'a> {
    pub pilot_katos: &'a HashSet<String>,
    /// Families already listed this month: id → content hash.
    pub families: &'a HashMap<String, String>,
    /// Members already listed this month: IIN → family id.
    pub members: &'a HashMap<String, String>,
}

/// The outcome of validating an upload: families to list (new or unchanged) and rejected rows.
pub struct Validated {
    pub new: Vec<Family>,
    pub unchanged: usize,
    pub accepted_rows: usize,
    pub rejected: Vec<RejectedRow>,
}

fn reject(row: usize, code: RejectCode, message: impl Into<String>) -> RejectedRow {
    RejectedRow { row, code, message: message.into() }
}

/// Validates rows (pure: no I/O). `group[i]` is the family object of row i in a JSON upload, so
/// that one family id in two objects is told apart from one family over several CSV rows.
pub fn validate(rows: &[RawRow], group: Option<&[usize]>, known: &Known) -> Validated {
    // Families in order of first appearance.
    let mut order: Vec<String> = Vec::new();
    let mut by_family: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let id = r.family_id.trim();
        by_family
            .entry(id)
            .or_insert_with(|| {
                order.push(id.to_owned());
                Vec::new()
            })
            .push(i);
    }
    let mut rejected = Vec::new();
    let mut new = Vec::new();
    let mut unchanged = 0;
    let mut accepted_rows = 0;
    // IINs claimed by an earlier family of this upload.
    let mut claimed: HashMap<String, String> = HashMap::new();

    for family_id in order {
        let idx = &by_family[family_id.as_str()];
        let mut errors: Vec<RejectedRow> = Vec::new();
        let first = &rows[idx[0]];
        // Control characters (NUL above all, which PostgreSQL cannot store) are refused here, per
        // row, rather than failing the whole upload at the database.
        if family_id.is_empty() || family_id.len() > 64 || family_id.chars().any(char::is_control) {
            errors.push(reject(
                idx[0] + 1,
                RejectCode::InvalidMember,
                "идентификатор семьи: от 1 до 64 печатных символов",
            ));
        }
        if let Some(g) = group {
            if idx.iter().any(|&i| g[i] != g[idx[0]]) {
                for &i in idx.iter().filter(|&&i| g[i] != g[idx[0]]) {
                    errors.push(reject(
                        i + 1,
                        RejectCode::FamilyConflict,
                        format!("семья {family_id} указана в списке дважды"),
                    ));
                }
            }
        }
        for &i in &idx[1..] {
            if rows[i].kato.trim() != first.kato.trim()
                || rows[i].phone.as_deref().map(str::trim) != first.phone.as_deref().map(str::trim)
            {
                errors.push(reject(
                    i + 1,
                    RejectCode::FamilyInconsistent,
                    "у строк одной семьи разные КАТО или телефон",
                ));
            }
        }
        let kato = match Kato::parse(&first.kato) {
            Ok(k) if known.pilot_katos.contains(k.as_ref()) => Some(k),
            Ok(k) => {
                errors.push(reject(
                    idx[0] + 1,
                    RejectCode::NotPilotLocality,
                    format!("населённый пункт {k} не входит в пилот"),
                ));
                None
            }
            Err(e) => {
                errors.push(reject(idx[0] + 1, RejectCode::InvalidKato, e.to_string()));
                None
            }
        };
        let phone = match first.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => match Phone::parse(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(reject(idx[0] + 1, RejectCode::InvalidPhone, e.to_string()));
                    None
                }
            },
        };
        let mut family_members = Vec::with_capacity(idx.len());
        let mut in_family = HashSet::new();
        for &i in idx {
            let r = &rows[i];
            let iin = match Iin::parse(&r.iin) {
                Ok(iin) => iin,
                Err(e) => {
                    errors.push(reject(i + 1, RejectCode::InvalidIin, e.to_string()));
                    continue;
                }
            };
            let elsewhere = claimed
                .get(iin.as_ref())
                .or_else(|| known.members.get(iin.as_ref()))
                .filter(|other| **other != family_id);
            if let Some(other) = elsewhere {
                errors.push(reject(i + 1, RejectCode::MemberInTwoFamilies, format!("ИИН уже указан в семье {other}")));
                continue;
            }
            if !in_family.insert(iin.clone()) {
                errors.push(reject(i + 1, RejectCode::MemberInTwoFamilies, "ИИН повторяется в семье"));
                continue;
            }
            let name = r.name.trim();
            let Some(birth_date) = parse_birth_date(&r.birth_date) else {
                errors.push(reject(i + 1, RejectCode::InvalidMember, "дата рождения должна быть в виде ГГГГ-ММ-ДД"));
                continue;
            };
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                errors.push(reject(i + 1, RejectCode::InvalidMember, "укажите ФИО (до 200 символов)"));
                continue;
            }
            family_members.push(Member { iin, name: name.to_owned(), birth_date });
        }
        if errors.is_empty() {
            if let (Some(kato), true) = (kato, !family_members.is_empty()) {
                let family = Family {
                    family_id: family_id.clone(),
                    kato,
                    phone,
                    members: family_members,
                    rows: idx.iter().map(|i| i + 1).collect(),
                };
                match known.families.get(&family_id) {
                    Some(hash) if *hash == family.content_hash() => {
                        unchanged += 1;
                        accepted_rows += idx.len();
                    }
                    Some(_) => {
                        for &i in idx {
                            errors.push(reject(
                                i + 1,
                                RejectCode::FamilyConflict,
                                format!("семья {family_id} уже в списке месяца с другими данными"),
                            ));
                        }
                    }
                    None => {
                        for m in &family.members {
                            claimed.insert(m.iin.as_ref().to_owned(), family_id.clone());
                        }
                        accepted_rows += idx.len();
                        new.push(family);
                    }
                }
            }
        }
        if !errors.is_empty() {
            let failed: HashSet<usize> = errors.iter().map(|e| e.row).collect();
            for &i in idx {
                if !failed.contains(&(i + 1)) {
                    errors.push(reject(
                        i + 1,
                        RejectCode::FamilyRejected,
                        format!("семья {family_id} отклонена из-за других строк"),
                    ));
                }
            }
            rejected.extend(errors);
        }
    }
    rejected.sort_by_key(|r| r.row);
    Validated { new, unchanged, accepted_rows, rejected }
}

/// Imports a month's list in the caller's transaction: validates, lists new families, and issues at
/// once the vouchers of families whose consent holds from an earlier month.
pub fn import(
    conn: &mut Conn,
    month: Month,
    rows: &[RawRow],
    group: Option<&[usize]>,
    actor: &str,
    now: DateTime<Utc>,
) -> AppResult<ImportReport> {
    // Imports run one at a time (with the other jobs of the cycle): what is read below as already
    // listed is then what the writes below see, so the same list sent twice at once lists once.
    super::lock_jobs(conn)?;
    cycle::require_open_month(conn, month, now)?;
    rates::require_any_rate(conn, month)?;

    let pilot_katos: HashSet<String> = with_conn!(conn, c => localities::table
        .filter(localities::pilot.eq(true))
        .select(localities::kato)
        .load::<String>(c))?
    .into_iter()
    .collect();
    let families: HashMap<String, String> = with_conn!(conn, c => family_months::table
        .filter(family_months::month.eq(month.as_ref()))
        .select((family_months::family_id, family_months::content_hash))
        .load::<(String, String)>(c))?
    .into_iter()
    .collect();
    let listed: HashMap<String, String> = with_conn!(conn, c => members::table
        .filter(members::month.eq(month.as_ref()))
        .select((members::iin, members::family_id))
        .load::<(String, String)>(c))?
    .into_iter()
    .collect();
    let validated = validate(rows, group, &Known { pilot_katos: &pilot_katos, families: &families, members: &listed });

    let standing: HashSet<String> = if validated.new.is_empty() {
        HashSet::new()
    } else {
        with_conn!(conn, c => consents::table
            .filter(consents::status.eq("given"))
            .select(consents::family_id)
            .load::<String>(c))?
        .into_iter()
        .collect()
    };
    let ts = now.naive_utc();
    let mut fm_rows = Vec::with_capacity(validated.new.len());
    let mut member_rows = Vec::new();
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
        for m in &f.members {
            member_rows.push((
                members::month.eq(month.as_ref().to_owned()),
                members::iin.eq(m.iin.as_ref().to_owned()),
                members::family_id.eq(f.family_id.clone()),
                members::name.eq(m.name.clone()),
                members::birth_date.eq(m.birth_date.to_string()),
            ));
        }
    }
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
    for chunk in fm_rows.chunks(2_000) {
        with_conn!(conn, c => diesel::insert_into(family_months::table).values(chunk).execute(c))?;
    }
    for chunk in member_rows.chunks(5_000) {
        with_conn!(conn, c => diesel::insert_into(members::table).values(chunk).execute(c))?;
    }
    audit::record(conn, &journal)?;
    let vouchers_issued =
        if consented.is_empty() { 0 } else { cycle::issue_vouchers(conn, month, cycle::Which::All, actor, now)? };
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

/// A list that cannot be read at all (as opposed to rows that are refused).
pub fn empty_list() -> AppError {
    AppError::new(ErrorCode::Validation, "Список пуст").with("field", "families")
}

#[cfg(test)]
mod tests {
    use super::*;

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
