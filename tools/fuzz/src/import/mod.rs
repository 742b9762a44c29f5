//! The recipients import without a database (SPEC §2.1): parse (CSV, or JSON into
//! `RecipientList` and `rows_from_json`) then `import::validate` against fixed known facts.
//!
//! Invariants for any upload: every row is either accepted or rejected, never both and never
//! neither; accepted families hold valid, pilot, unclaimed members; and validating the same upload
//! again with its own result as the month's state changes nothing (the import is idempotent).

mod gen;

use std::collections::{BTreeSet, HashMap, HashSet};

use azyq_server::domain::import::{rows_from_csv, rows_from_json, validate, Known, RawRow, Validated};
use azyq_server::error::AppError;
use azyq_shared::api::{RecipientList, RejectCode};
use rand::Rng as _;

use crate::mutate::{noise, Mutator};
use crate::{invariant, Harness, Outcome, Rng};

/// The pilot localities the validator knows.
pub const PILOT_KATOS: [&str; 3] = ["551010000", "591010000", "711010000"];
/// A family listed by an earlier upload of the month, with other content: uploading it conflicts.
pub const PREV_FAMILY: &str = "PREV-1";
/// A member listed by an earlier upload, in family `PREV-2`.
pub const PREV_MEMBER_IIN: &str = "851231400021";

/// Which body the import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/csv` with the header `family_id,kato,phone,iin,name,birth_date`.
    Csv,
    /// A `RecipientList` as JSON.
    Json,
}

/// Generates uploads in one format and validates them against the fixed known facts.
pub struct ImportHarness {
    format: Format,
    pilot: HashSet<String>,
    families: HashMap<String, String>,
    members: HashMap<String, String>,
}

impl ImportHarness {
    /// The harness for `format`, with the pilot KATOs and the earlier upload above.
    pub fn new(format: Format) -> ImportHarness {
        ImportHarness {
            format,
            pilot: PILOT_KATOS.iter().map(|k| (*k).to_owned()).collect(),
            families: HashMap::from([(PREV_FAMILY.to_owned(), "0".repeat(64))]),
            members: HashMap::from([(PREV_MEMBER_IIN.to_owned(), "PREV-2".to_owned())]),
        }
    }

    /// Validates `rows` twice (the second time as a re-upload) and checks the invariants.
    fn check(&self, rows: &[RawRow], group: Option<&[usize]>) -> Outcome {
        if rows.is_empty() {
            // The handler answers `empty_list` before validating.
            return Outcome::rejected("empty_list");
        }
        let known = Known { pilot_katos: &self.pilot, families: &self.families, members: &self.members };
        let first = validate(rows, group, &known);
        check_accounting(rows, &first, &self.pilot, &self.members);

        let mut families = self.families.clone();
        let mut members = self.members.clone();
        for f in &first.new {
            families.insert(f.family_id.clone(), f.content_hash());
            for m in &f.members {
                members.insert(m.iin.as_ref().to_owned(), f.family_id.clone());
            }
        }
        let again = validate(rows, group, &Known { pilot_katos: &self.pilot, families: &families, members: &members });
        invariant(
            again.new.is_empty()
                && again.unchanged == first.new.len() + first.unchanged
                && again.accepted_rows == first.accepted_rows,
            || {
                format!(
                    "re-upload not idempotent: first new {} unchanged {} accepted {}, again new {} unchanged {} accepted {}",
                    first.new.len(),
                    first.unchanged,
                    first.accepted_rows,
                    again.new.len(),
                    again.unchanged,
                    again.accepted_rows
                )
            },
        );

        let reasons: BTreeSet<&'static str> = first.rejected.iter().map(|r| reject_name(r.code)).collect();
        let mut reached = Vec::new();
        if !first.new.is_empty() {
            reached.push("family_new");
            if !first.rejected.is_empty() {
                reached.push("partly_accepted");
            }
        }
        Outcome { accepted: first.rejected.is_empty(), reasons: reasons.into_iter().collect(), reached }
    }
}

/// Each row accepted or rejected exactly once; accepted families are sound.
fn check_accounting(rows: &[RawRow], v: &Validated, pilot: &HashSet<String>, known: &HashMap<String, String>) {
    let rejected: BTreeSet<usize> = v.rejected.iter().map(|r| r.row).collect();
    invariant(v.rejected.windows(2).all(|w| w[0].row <= w[1].row), || "rejections not sorted by row".to_owned());
    invariant(rejected.iter().all(|r| (1..=rows.len()).contains(r)), || format!("rejected rows {rejected:?}"));
    invariant(rejected.len() + v.accepted_rows == rows.len(), || {
        format!("{} rows: {} rejected, {} accepted", rows.len(), rejected.len(), v.accepted_rows)
    });
    let mut iins = HashSet::new();
    for f in &v.new {
        invariant(f.rows.iter().all(|r| !rejected.contains(r)), || {
            format!("family {} accepted and rejected", f.family_id)
        });
        invariant(f.members.len() == f.rows.len() && !f.members.is_empty(), || "members and rows differ".to_owned());
        invariant(pilot.contains(f.kato.as_ref()), || format!("family {} outside the pilot", f.family_id));
        invariant(!f.family_id.is_empty() && f.family_id.len() <= 64 && f.family_id.trim() == f.family_id, || {
            format!("family id {:?} accepted", f.family_id)
        });
        for m in &f.members {
            let iin = m.iin.as_ref();
            invariant(iins.insert(iin.to_owned()), || "one IIN in two accepted families".to_owned());
            invariant(known.get(iin).is_none_or(|other| *other == f.family_id), || "IIN listed before".to_owned());
            invariant(!m.name.is_empty() && m.name.chars().count() <= 200, || "bad name accepted".to_owned());
        }
        let hash = f.content_hash();
        invariant(hash.len() == 64 && hash.bytes().all(|c| c.is_ascii_hexdigit()), || format!("hash {hash}"));
    }
}

/// The `RejectCode` as it is spelt in the API.
pub fn reject_name(code: RejectCode) -> &'static str {
    match code {
        RejectCode::InvalidIin => "invalid_iin",
        RejectCode::InvalidKato => "invalid_kato",
        RejectCode::NotPilotLocality => "not_pilot_locality",
        RejectCode::InvalidPhone => "invalid_phone",
        RejectCode::MemberInTwoFamilies => "member_in_two_families",
        RejectCode::FamilyConflict => "family_conflict",
        RejectCode::FamilyInconsistent => "family_inconsistent",
        RejectCode::InvalidMember => "invalid_member",
        RejectCode::FamilyRejected => "family_rejected",
    }
}

/// Why `rows_from_csv` refused a body: the header, or a row's kind of CSV error.
fn csv_reason(e: &AppError) -> &'static str {
    let header = e.details.get("field").and_then(|f| f.as_str()) == Some("header");
    match (header, e.message.as_str()) {
        (true, m) if m.contains("должен быть") => "csv_header_names",
        (true, _) => "csv_header",
        (false, m) if m.contains("invalid utf-8") => "csv_utf8",
        (false, m) if m.contains("found record with") => "csv_unequal_lengths",
        (false, m) if m.contains("deserialize error") => "csv_deserialize",
        (false, _) => "csv_row",
    }
}

fn json_reason(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "json_io",
        serde_json::error::Category::Syntax => "json_syntax",
        serde_json::error::Category::Data => "json_data",
        serde_json::error::Category::Eof => "json_eof",
    }
}

impl Harness for ImportHarness {
    fn generate(&self, rng: &mut Rng) -> Vec<u8> {
        let (dict, alphabet) = match self.format {
            Format::Csv => (gen::CSV_DICT, gen::CSV_ALPHABET),
            Format::Json => (gen::JSON_DICT, gen::JSON_ALPHABET),
        };
        let roll = rng.gen_range(0..100);
        if roll >= 95 {
            return noise(rng, alphabet, 300);
        }
        let list = gen::families(rng);
        let mut data = match self.format {
            Format::Csv => gen::csv(rng, &list, roll >= 25),
            Format::Json => gen::json(rng, &list, roll >= 25),
        };
        if roll >= 70 {
            let list = gen::families(rng);
            let other = match self.format {
                Format::Csv => gen::csv(rng, &list, false),
                Format::Json => gen::json(rng, &list, false),
            };
            Mutator { dict, max_len: 8 * 1024 }.mutate(rng, &mut data, &other);
        }
        data
    }

    fn execute(&self, input: &[u8]) -> Outcome {
        match self.format {
            Format::Csv => match rows_from_csv(input) {
                Ok(rows) => self.check(&rows, None),
                Err(e) => Outcome::rejected(csv_reason(&e)),
            },
            Format::Json => match serde_json::from_slice::<RecipientList>(input) {
                Ok(list) => {
                    let (rows, group) = rows_from_json(&list.families);
                    let members: usize = list.families.iter().map(|f| f.members.len()).sum();
                    invariant(rows.len() == members && group.len() == members, || "rows lost in flattening".to_owned());
                    invariant(group.windows(2).all(|w| w[0] <= w[1]), || "groups out of order".to_owned());
                    self.check(&rows, Some(&group))
                }
                Err(e) => Outcome::rejected(json_reason(&e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azyq_shared::Iin;
    use rand::SeedableRng;

    #[test]
    fn fixed_iins_are_valid() {
        for iin in [PREV_MEMBER_IIN, gen::SAMPLE_IIN] {
            assert!(Iin::parse(iin).is_ok(), "{iin}");
        }
    }

    #[test]
    fn unmutated_lists_are_accepted() {
        for format in [Format::Csv, Format::Json] {
            let h = ImportHarness::new(format);
            let mut rng = Rng::seed_from_u64(5);
            for _ in 0..300 {
                let list = gen::families(&mut rng);
                let body = match format {
                    Format::Csv => gen::csv(&mut rng, &list, false),
                    Format::Json => gen::json(&mut rng, &list, false),
                };
                let outcome = h.execute(&body);
                assert!(outcome.accepted, "{format:?} {outcome:?}\n{}", String::from_utf8_lossy(&body));
            }
        }
    }

    #[test]
    fn reasons_are_named() {
        let h = ImportHarness::new(Format::Csv);
        assert_eq!(h.execute(b""), Outcome::rejected("csv_header_names"));
        assert_eq!(h.execute(b"family_id,kato,phone,iin,name,birth_date\n"), Outcome::rejected("empty_list"));
        let row = b"family_id,kato,phone,iin,name,birth_date\nF1,551010000,,900101300017,A\n";
        assert_eq!(h.execute(row), Outcome::rejected("csv_unequal_lengths"));
        let j = ImportHarness::new(Format::Json);
        assert_eq!(j.execute(b"{"), Outcome::rejected("json_eof"));
        assert_eq!(j.execute(b"{\"families\":1}"), Outcome::rejected("json_data"));
    }
}
