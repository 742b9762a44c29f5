//! Recipient lists: valid families with valid IINs, written as CSV or JSON, and the mutations
//! that know those shapes (a cell, a row, the header, a JSON node, a duplicate key…).

use azyq_shared::Iin;
use rand::seq::SliceRandom;
use rand::Rng as _;
use serde_json::{json, Map, Value};

use super::{PILOT_KATOS, PREV_FAMILY, PREV_MEMBER_IIN};
use crate::mutate::pick;
use crate::Rng;

/// A valid IIN, checked by a test.
#[cfg(test)]
pub const SAMPLE_IIN: &str = "900101300017";
const HEADER: [&str; 6] = ["family_id", "kato", "phone", "iin", "name", "birth_date"];

#[rustfmt::skip]
pub const CSV_DICT: &[&[u8]] = &[
    b",", b"\"", b"\"\"", b"\n", b"\r\n", b"\r", b"\n\n", b"family_id,kato,phone,iin,name,birth_date", b"\xef\xbb\xbf",
    b"551010000", b"111010000", b"+77011234567", b"8 (701) 123-45-67", b"1990-01-01", b"2024-02-30", b"900101300017",
    b"851231400021", b"PREV-1", b"F1", b" ", b"\t", b"#", b"\x00", "Айгерим".as_bytes(),
];
pub const CSV_ALPHABET: &[u8] = b"0123456789,\"\n\r -+()abcF:";
#[rustfmt::skip]
pub const JSON_DICT: &[&[u8]] = &[
    b"{", b"}", b"[", b"]", b"\"", b":", b",", b"null", b"true", b"1e400", b"-0", b"18446744073709551616", b"\\u0000",
    b"\\ud800", b"\\\"", b"\\\\", b"\"families\"", b"\"members\"", b"\"iin\"", b"\"kato\"", b"\"phone\"",
    b"\"family_id\"", b"\"name\"", b"\"birth_date\"", b"\"551010000\"", b"\"900101300017\"", b"\"PREV-1\"", b" ",
    b"\n", b"\xef\xbb\xbf", b"/*", b"//",
];
pub const JSON_ALPHABET: &[u8] = b"{}[]\":,0123456789 nultrefamisb\\";

const NAMES: &[&str] = &[
    "Айгерим Бекова",
    "Әлия Құрманғазы",
    "Нұрсұлтан Өтегенұлы",
    "Ivanov Ivan",
    "O'Brien, Jr.",
    "Анна \"Аня\" Ли",
    "  Ержан  ",
    "Мария-Луиза Шмидт",
];
const PHONES: &[&str] =
    &["+77011234567", "87011234567", "77011234567", "7011234567", "+7 701 123-45-67", "8 (701) 1234567", ""];

/// One member as written in the list.
#[derive(Debug, Clone)]
pub struct Member {
    pub iin: String,
    pub name: String,
    pub birth_date: String,
}

/// One family as written in the list.
#[derive(Debug, Clone)]
pub struct Family {
    pub id: String,
    pub kato: String,
    pub phone: Option<String>,
    pub members: Vec<Member>,
}

/// A member born on a random day, with an IIN of that birth date and a right check digit.
fn member(rng: &mut Rng, serial: &mut u32) -> Member {
    let (y, m, d) = (rng.gen_range(1930..=2025), rng.gen_range(1..=12u32), rng.gen_range(1..=28u32));
    let century = if y >= 2000 { 5 } else { 3 } + u32::from(rng.gen_bool(0.5));
    loop {
        *serial += 1;
        let first11 = format!("{:02}{m:02}{d:02}{century}{:04}", y % 100, *serial % 10_000);
        let mut digits = [0u8; 11];
        for (slot, c) in digits.iter_mut().zip(first11.bytes()) {
            *slot = c - b'0';
        }
        if let Some(check) = Iin::check_digit(&digits) {
            let name = pick(rng, NAMES).to_owned();
            let name = if rng.gen_bool(0.02) { "Я".repeat(200) } else { name };
            return Member { iin: format!("{first11}{check}"), name, birth_date: format!("{y}-{m:02}-{d:02}") };
        }
    }
}

/// 1-6 valid families of 1-4 members, at most 20 rows, every IIN distinct.
pub fn families(rng: &mut Rng) -> Vec<Family> {
    let mut serial = rng.gen_range(0..9_000);
    let mut rows = 0;
    let mut out: Vec<Family> = Vec::new();
    for n in 0..rng.gen_range(1..=6) {
        let size = rng.gen_range(1..=4usize).min(20 - rows);
        if size == 0 {
            break;
        }
        rows += size;
        let id = match rng.gen_range(0..10) {
            0 => format!("семья-{n}"),
            1 => format!("  F{n} "),
            2 => format!("{n}{}", "x".repeat(63 - n.to_string().len())),
            3 => format!("{}", 1_000_000 + n),
            _ => format!("F{n}"),
        };
        let phone = match rng.gen_range(0..4) {
            0 => None,
            _ => Some(pick(rng, PHONES).to_owned()),
        };
        let members = (0..size).map(|_| member(rng, &mut serial)).collect();
        out.push(Family { id, kato: pick(rng, &PILOT_KATOS).to_owned(), phone, members });
    }
    out
}

/// Breaks one thing the validator checks, in the list's own terms.
fn break_list(rng: &mut Rng, list: &mut [Family]) {
    let fi = rng.gen_range(0..list.len());
    let mi = rng.gen_range(0..list[fi].members.len());
    let other = &list[rng.gen_range(0..list.len())];
    let (other_iin, other_id) = (other.members.first().map(|m| m.iin.clone()).unwrap_or_default(), other.id.clone());
    let f = &mut list[fi];
    let m = &mut f.members[mi];
    match rng.gen_range(0..14) {
        0 => {
            let last = m.iin.pop().map_or(0, |c| c as u8 - b'0');
            m.iin.push(char::from(b'0' + (last + 1) % 10));
        }
        1 => {
            m.iin =
                pick(rng, &["", "12345678901", "1234567890123", "90010130001X", "９００１０１３０００１７"]).to_owned()
        }
        2 => m.iin = other_iin,
        3 => m.iin = PREV_MEMBER_IIN.to_owned(),
        4 => {
            f.kato =
                pick(rng, &["111010000", "55101000", "5510100000", "", "55101000A", "５５１０１００００"]).to_owned()
        }
        5 => f.phone = Some(pick(rng, &["12345", "+87011234567", "+7701123456a", "++77011234567", "8701"]).to_owned()),
        6 => m.name = pick(rng, &["", "   ", "\t"]).to_owned(),
        7 => m.name = "Я".repeat(201),
        8 => {
            m.birth_date =
                pick(rng, &["1990-02-30", "90-01-01", "1990/01/01", "", "1990-1-1", "+1990-01-01"]).to_owned()
        }
        9 => f.id = pick(rng, &["", "   ", PREV_FAMILY]).to_owned(),
        10 => f.id = "x".repeat(65),
        11 => {
            let copy = m.clone();
            f.members.push(copy);
        }
        12 => f.id = other_id,
        _ => f.members.clear(),
    }
}

fn row_cells(f: &Family, m: &Member) -> Vec<String> {
    let phone = f.phone.clone().unwrap_or_default();
    vec![f.id.clone(), f.kato.clone(), phone, m.iin.clone(), m.name.clone(), m.birth_date.clone()]
}

/// CSV-shaped damage: a cell, a row, the header.
fn break_grid(rng: &mut Rng, grid: &mut Vec<Vec<String>>) {
    let r = rng.gen_range(0..grid.len());
    let c = rng.gen_range(0..6);
    // Rows more often than the header: a broken header stops the parser at the first line.
    let r = if r == 0 && grid.len() > 1 && rng.gen_bool(0.7) { grid.len() - 1 } else { r };
    match rng.gen_range(0..8) {
        0 => {
            if let Some(cell) = grid[r].get_mut(c) {
                *cell = pick(rng, &["", " ", "\"", "a,b", "line\nbreak", "\u{feff}", "\0", "Ж"]).to_owned();
            }
        }
        1 => {
            if !grid[r].is_empty() {
                let last = grid[r].len() - 1;
                grid[r].remove(c.min(last));
            }
        }
        2 => grid[r].push("extra".to_owned()),
        3 => {
            let copy = grid[r].clone();
            grid.insert(r, copy);
        }
        4 if grid.len() > 1 => {
            grid.remove(r);
        }
        5 if rng.gen_bool(0.3) => grid[0].shuffle(rng),
        6 if rng.gen_bool(0.3) => grid[0] = HEADER.iter().map(|h| h.to_uppercase()).collect(),
        _ => {
            // Rows of one family disagreeing on locality or phone.
            let col = if rng.gen_bool(0.5) { 1 } else { 2 };
            if let Some(cell) = grid[r].get_mut(col) {
                cell.push('9');
            }
        }
    }
}

fn quote(cell: &str, always: bool) -> String {
    if always || cell.contains([',', '"', '\n', '\r']) || cell.starts_with(' ') || cell.ends_with(' ') {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// The list as CSV, header first; `damage`: break the list or the grid first.
pub fn csv(rng: &mut Rng, list: &[Family], damage: bool) -> Vec<u8> {
    let mut list = list.to_vec();
    if damage && rng.gen_bool(0.6) {
        break_list(rng, &mut list);
    }
    let mut grid: Vec<Vec<String>> = vec![HEADER.iter().map(|h| (*h).to_owned()).collect()];
    grid.extend(list.iter().flat_map(|f| f.members.iter().map(|m| row_cells(f, m))));
    if damage && rng.gen_bool(0.5) {
        break_grid(rng, &mut grid);
    }
    let always = rng.gen_bool(0.2);
    let eol = pick(rng, &["\n", "\n", "\r\n", "\r"]);
    let mut out = if rng.gen_bool(0.2) { "\u{feff}".to_owned() } else { String::new() };
    for row in &grid {
        let cells: Vec<String> = row.iter().map(|c| quote(c, always)).collect();
        out.push_str(&cells.join(","));
        out.push_str(eol);
    }
    if rng.gen_bool(0.2) {
        out.truncate(out.len() - eol.len());
    }
    out.into_bytes()
}

fn family_json(f: &Family) -> Value {
    let members: Vec<Value> =
        f.members.iter().map(|m| json!({"iin": m.iin, "name": m.name, "birth_date": m.birth_date})).collect();
    json!({"family_id": f.id, "kato": f.kato, "phone": f.phone, "members": members})
}

/// An odd JSON value for a node: another type, a big number, an empty container.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.gen_range(0..8) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(u64::MAX),
        4 => json!([]),
        5 => json!({}),
        6 => json!(""),
        _ => json!("x".repeat(rng.gen_range(65..300))),
    }
}

/// JSON-shaped damage: a field's type, a missing or unknown key, the top-level shape.
fn break_json(rng: &mut Rng, root: &mut Value) {
    let Some(families) = root.get_mut("families").and_then(Value::as_array_mut) else {
        return;
    };
    if families.is_empty() || rng.gen_bool(0.1) {
        *root = pick(rng, &[0, 1, 2, 3]).into();
        if rng.gen_bool(0.5) {
            *root = json!({"families": odd_value(rng)});
        }
        return;
    }
    let fi = rng.gen_range(0..families.len());
    let object: Option<&mut Map<String, Value>> = if rng.gen_bool(0.5) {
        families[fi].as_object_mut()
    } else {
        let members = families[fi].get_mut("members").and_then(Value::as_array_mut);
        members.and_then(|ms| ms.choose_mut(rng)).and_then(Value::as_object_mut)
    };
    let Some(object) = object else { return };
    let keys: Vec<String> = object.keys().cloned().collect();
    let Some(key) = keys.choose(rng).cloned() else { return };
    match rng.gen_range(0..3) {
        0 => *object.entry(key).or_insert(Value::Null) = odd_value(rng),
        1 => {
            object.remove(&key);
        }
        _ => {
            object.insert("unknown".to_owned(), odd_value(rng));
        }
    }
}

/// The list as a `RecipientList` JSON body; `damage`: break the list, the JSON or the text.
pub fn json(rng: &mut Rng, list: &[Family], damage: bool) -> Vec<u8> {
    let mut list = list.to_vec();
    if damage && rng.gen_bool(0.5) {
        break_list(rng, &mut list);
    }
    let mut families: Vec<Value> = list.iter().map(family_json).collect();
    if damage && rng.gen_bool(0.1) && !families.is_empty() {
        // One family id in two objects.
        let copy = families[0].clone();
        families.push(copy);
    }
    let mut root = json!({ "families": families });
    if damage && rng.gen_bool(0.4) {
        break_json(rng, &mut root);
    }
    let mut text = if rng.gen_bool(0.3) { serde_json::to_string_pretty(&root) } else { serde_json::to_string(&root) }
        .unwrap_or_default();
    if damage && rng.gen_bool(0.15) {
        match rng.gen_range(0..5) {
            0 => text = text.replacen('{', "{\"families\":[],", 1),
            1 => text = format!("{}{text}{}", "[".repeat(200), "]".repeat(200)),
            2 => text = text.replacen("\"name\":\"", "\"name\":\"\\ud800", 1),
            3 => text = text.replacen("\"name\":\"", "\"name\":\"\\u0000", 1),
            _ => text.push_str(pick(rng, &[",", " {}", "\0", "\n\n"])),
        }
    }
    text.into_bytes()
}
