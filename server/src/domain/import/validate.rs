//! Every row checked (IIN check digit, locality, phone, duplicates within and across families);
//! what is new, unchanged or refused, and why.

use std::collections::{HashMap, HashSet};

use azyq_shared::api::{birth_date_text, parse_birth_date, RejectCode, RejectedRow};
use azyq_shared::{Iin, Kato, Phone};
use sha2::{Digest, Sha256};

use super::RawRow;

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
            h.update(birth_date_text(m.birth_date));
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

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// An IIN's twelve digits as a number (exact: every IIN is twelve ASCII digits).
fn iin_number(iin: &Iin) -> u64 {
    iin.as_ref().bytes().fold(0, |n, d| n * 10 + u64::from(d - b'0'))
}

fn reject(row: usize, code: RejectCode, message: impl Into<String>) -> RejectedRow {
    RejectedRow { row, code, message: message.into() }
}

/// Validates rows (pure: no I/O). `group[i]` is the family object of row i in a JSON upload, so
/// that one family id in two objects is told apart from one family over several CSV rows.
pub fn validate(rows: &[RawRow], group: Option<&[usize]>, known: &Known) -> Validated {
    // Families in order of first appearance. The upload's own maps take foldhash's hasher: a
    // national list hashes a million keys, and SipHash's DoS resistance buys nothing against an
    // authenticated operator's file (foldhash still seeds each map at random).
    let mut order: Vec<&str> = Vec::new();
    let mut by_family: FastMap<&str, Vec<usize>> = FastMap::default();
    for (i, r) in rows.iter().enumerate() {
        let id = r.family_id.trim();
        by_family
            .entry(id)
            .or_insert_with(|| {
                order.push(id);
                Vec::new()
            })
            .push(i);
    }
    let mut rejected = Vec::new();
    let mut new = Vec::new();
    let mut unchanged = 0;
    let mut accepted_rows = 0;
    // IINs (as numbers: twelve digits) claimed by an earlier family of this upload.
    let mut claimed: FastMap<u64, &str> = FastMap::default();

    for family_id in order {
        let idx = &by_family[family_id];
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
        let mut family_members: Vec<Member> = Vec::with_capacity(idx.len());
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
                .get(&iin_number(&iin))
                .copied()
                .or_else(|| known.members.get(iin.as_ref()).map(String::as_str))
                .filter(|other| *other != family_id);
            if let Some(other) = elsewhere {
                errors.push(reject(i + 1, RejectCode::MemberInTwoFamilies, format!("ИИН уже указан в семье {other}")));
                continue;
            }
            // A family has a handful of members: a scan beats a set.
            if family_members.iter().any(|m| m.iin == iin) {
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
                    family_id: family_id.to_owned(),
                    kato,
                    phone,
                    members: family_members,
                    rows: idx.iter().map(|i| i + 1).collect(),
                };
                match known.families.get(family_id) {
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
                            claimed.insert(iin_number(&m.iin), family_id);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iin_numbers_are_the_digits() {
        for prefix in ["90010130001", "00010150002", "75123140003"] {
            let digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
            let check = Iin::check_digit(&digits.try_into().unwrap()).expect("a prefix with a check digit");
            let text = format!("{prefix}{check}");
            let iin = Iin::parse(&text).unwrap();
            assert_eq!(iin_number(&iin), text.parse::<u64>().unwrap());
        }
    }
}
