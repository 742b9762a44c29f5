//! Synthetic recipients: families with valid, unique IINs and phones, in the shape of the
//! recipients list (`POST /api/v1/months/{month}/recipients`).

use azyq_shared::api::{FamilyIn, MemberIn};
use azyq_shared::Iin;
use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;

/// Members per birthday block; a setup may list up to `MAX_MEMBERS`.
const PER_DAY: u32 = 1_000;
/// Days a setup's IINs span (`tag` picks the span, so setups on one database rarely collide).
const DAYS: u32 = 100;
/// The most members one setup can list.
pub const MAX_MEMBERS: u32 = PER_DAY * DAYS;

const FIRST: [&str; 8] = ["Айгерим", "Ерлан", "Жанар", "Нурлан", "Гульнар", "Асхат", "Динара", "Бауыржан"];
const LAST: [&str; 6] = ["Бекова", "Сейткали", "Омарова", "Жумабаев", "Ахметова", "Касымов"];

/// The `i`-th IIN of the setup `tag` (0-199) and the birth date it encodes.
pub fn iin(tag: u32, i: u32) -> (String, NaiveDate) {
    let base = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default();
    let birth = base + Duration::days(i64::from((tag % 200) * DAYS + i / PER_DAY));
    let century = if birth.year() >= 2000 { 5 } else { 3 };
    let prefix = format!("{}{}", birth.format("%y%m%d"), century);
    // Nine candidate serials per member: one of them has a check digit (each fails with p = 1/11).
    for k in 0..9 {
        let body = format!("{prefix}{:04}", (i % PER_DAY) * 9 + k);
        let mut first11 = [0u8; 11];
        for (d, b) in first11.iter_mut().zip(body.bytes()) {
            *d = b - b'0';
        }
        if let Some(check) = Iin::check_digit(&first11) {
            return (format!("{body}{check}"), birth);
        }
    }
    // Unreachable in practice (11^-9); an invalid IIN would only be refused by the import.
    (format!("{prefix}00000"), birth)
}

/// The applicant phone of family `f` (below 100 000) of setup `tag`.
pub fn phone(tag: u32, f: u32) -> String {
    format!("+7705{:02}{:05}", tag % 100, f % 100_000)
}

/// `members` recipients in families of 1-4, in locality `kato`; family ids start with `prefix`.
pub fn families(tag: u32, members: u32, kato: &str, prefix: &str, rng: &mut impl Rng) -> Vec<FamilyIn> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < members {
        let f = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let size = rng.gen_range(1..=4).min(members - i);
        let surname = LAST[rng.gen_range(0..LAST.len())];
        let members = (0..size)
            .map(|k| {
                let (iin, birth) = iin(tag, i + k);
                let name = format!("{} {surname}", FIRST[(f + k) as usize % FIRST.len()]);
                MemberIn { iin, name, birth_date: birth.to_string() }
            })
            .collect();
        out.push(FamilyIn {
            family_id: format!("{prefix}-{f}"),
            kato: kato.to_owned(),
            phone: Some(phone(tag, f)),
            members,
        });
        i += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn iins_are_valid_and_unique() {
        let mut seen = HashSet::new();
        for i in (0..MAX_MEMBERS).step_by(7) {
            let (iin, _) = iin(123, i);
            assert!(Iin::parse(&iin).is_ok(), "{iin}");
            assert!(seen.insert(iin));
        }
    }

    #[test]
    fn families_add_up_with_distinct_names_and_phones() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let fams = families(5, 2_001, "551010000", "LOAD-x", &mut rng);
        assert_eq!(fams.iter().map(|f| f.members.len()).sum::<usize>(), 2_001);
        let phones: HashSet<_> = fams.iter().map(|f| f.phone.clone()).collect();
        assert_eq!(phones.len(), fams.len());
        for f in &fams {
            assert!(azyq_shared::Phone::parse(f.phone.as_deref().unwrap_or_default()).is_ok());
            let names: HashSet<_> = f.members.iter().map(|m| &m.name).collect();
            assert_eq!(names.len(), f.members.len(), "names tell a family's vouchers apart");
        }
    }
}
