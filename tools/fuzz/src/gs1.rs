//! GS1 traceability codes: `gs1::parse` and `Gtin::parse` (SPEC §5).
//!
//! Inputs start as real codes — GTIN with a right check digit, serial, batch, expiry, net weight,
//! marking crypto fields — written in every form a scanner types: GS, space, `029` or no
//! separator, the bracketed form, bare EAN/UPC, behind a symbology identifier and before CR/LF.
//! Some get one field broken on purpose (check digit, date, length, unknown or repeated AI); then
//! most are mutated with GS1 words. Invariant: a code read back from its canonical element string
//! (and, where no value holds a `(`, from its bracketed form) is the same code.

use azyq_shared::gs1::{self, Gtin, TraceCode};
use rand::seq::SliceRandom;
use rand::Rng as _;

use crate::mutate::{lossy, noise, pick, Mutator};
use crate::{as_text, invariant, Harness, Outcome, Rng};

/// The character set (82) of variable-length fields.
const SET82: &[u8] = b"!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
/// Real GTINs (the Russian prefix 046, an EAN-13, a UPC-A, a GTIN-8 padded).
const GTINS: &[&str] = &["04600000000015", "04600439931256", "04006381333931", "00036000291452", "00000096385074"];
/// Longest input `gs1::parse` reads; inputs run past it.
const MAX_INPUT_CHARS: usize = 512;

#[rustfmt::skip]
const DICT: &[&[u8]] = &[
    b"01", b"10", b"17", b"21", b"310", b"3103", b"3105", b"3106", b"91", b"92", b"93", b"029", b"02", b"9", b"\x1d",
    b"\x1d\x1d", b" ", b"(", b")", b"(01)", b"(21)", b"(10)", b"(17)", b"(3103)", b"(91)", b"(92)", b"(93)", b"(99)",
    b"(8005)", b"]d2", b"]C1", b"]Q3", b"]e0", b"]E0", b"]E4", b"]d1", b"]", b"04600000000015", b"04600000000017",
    b"4006381333931", b"261231", b"260200", b"260230", b"991399", b"000000", b"8005", b"99", b"240", b"7003", b"#",
    b"=", b"dGVz", b"EE05", b"\r\n", b"\t",
];

/// Runs `gs1::parse` on inputs built from real codes.
pub struct Gs1Harness;

/// (AI, value, variable length?), in the order written.
type Fields = Vec<(String, String, bool)>;

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10))).collect()
}

fn text(rng: &mut Rng, alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(pick(rng, alphabet))).collect()
}

/// GS1 mod-10 check digit of `body` (weights 3, 1, 3… from the right).
pub fn check_digit(body: &str) -> char {
    let sum: u32 =
        body.bytes().rev().enumerate().map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn gtin14(rng: &mut Rng) -> String {
    if rng.gen_bool(0.5) {
        return pick(rng, GTINS).to_owned();
    }
    let body = digits(rng, 13);
    format!("{body}{}", check_digit(&body))
}

fn expiry(rng: &mut Rng) -> String {
    let day = if rng.gen_bool(0.2) { 0 } else { rng.gen_range(1..=28) };
    format!("{:02}{:02}{:02}", rng.gen_range(0..100), rng.gen_range(1..=12), day)
}

/// A valid code's fields: (01) first, the rest in canonical or shuffled order.
fn valid_fields(rng: &mut Rng) -> Fields {
    let mut rest: Fields = Vec::new();
    let var = |rng: &mut Rng, ai: &str, alphabet: &[u8], len: usize| (ai.to_owned(), text(rng, alphabet, len), true);
    if rng.gen_bool(0.6) {
        let len = rng.gen_range(1..=20);
        rest.push(var(rng, "21", SET82, len));
    }
    if rng.gen_bool(0.3) {
        let len = rng.gen_range(1..=20);
        rest.push(var(rng, "10", SET82, len));
    }
    if rng.gen_bool(0.4) {
        rest.push(("17".to_owned(), expiry(rng), false));
    }
    if rng.gen_bool(0.25) {
        rest.push((format!("310{}", rng.gen_range(0..=5)), digits(rng, 6), false));
    }
    if rng.gen_bool(0.3) {
        let len = if rng.gen_bool(0.9) { 4 } else { rng.gen_range(1..=90) };
        rest.push(var(rng, "91", SET82, len));
    }
    if rng.gen_bool(0.3) {
        let len = if rng.gen_bool(0.5) { 44 } else { 88 };
        rest.push(var(rng, "92", BASE64, len));
    }
    if rng.gen_bool(0.4) {
        let len = if rng.gen_bool(0.9) { 4 } else { rng.gen_range(1..=90) };
        rest.push(var(rng, "93", SET82, len));
    }
    if rng.gen_bool(0.3) {
        rest.shuffle(rng);
    }
    let mut fields = vec![("01".to_owned(), gtin14(rng), false)];
    fields.extend(rest);
    fields
}

/// Breaks one thing the parser checks.
fn break_one(rng: &mut Rng, fields: &mut Fields) {
    let i = rng.gen_range(0..fields.len());
    match rng.gen_range(0..9) {
        0 => {
            let gtin = &mut fields[0].1;
            let last = gtin.pop().map_or(0, |c| c as u8 - b'0');
            gtin.push(char::from(b'0' + (last + 1) % 10));
        }
        1 => fields[i].1.push_str(&"X".repeat(rng.gen_range(1..=80))),
        2 => fields[i].1.clear(),
        3 => fields.push(("17".to_owned(), pick(rng, &["261332", "260230", "260000", "2612"]).to_owned(), false)),
        4 => {
            let ai = pick(rng, &["8005", "99", "240", "3106", "7003", "02", "00"]);
            fields.insert(rng.gen_range(1..=fields.len()), (ai.to_owned(), "123456".to_owned(), true));
        }
        5 => {
            let copy = fields[i].clone();
            fields.push(copy);
        }
        6 => {
            fields.remove(0);
        }
        7 => fields[i].1.insert(0, pick(rng, &['Ж', '#', 'é', '\u{1d}', ' ', '~'])),
        _ => fields[i].1.insert_str(0, "(21)"),
    }
}

/// Writes `fields` the way one kind of scanner (or person) would.
fn write(rng: &mut Rng, fields: &Fields) -> String {
    let form = rng.gen_range(0..6);
    write_form(rng, fields, form)
}

/// Form 0 is bracketed; 1-5 are element strings with GS, space, `029`, nothing, GS.
fn write_form(rng: &mut Rng, fields: &Fields, form: usize) -> String {
    let prefix = pick(rng, &["", "", "", "]d2", "]C1", "]Q3", "]e0", "\x1d", "]d2\x1d"]);
    let suffix = pick(rng, &["", "", "\r\n", "\n", "\r", "\t", " "]);
    let body = match form {
        0 => {
            let spaced = rng.gen_bool(0.3);
            let sp = if spaced { " " } else { "" };
            fields.iter().map(|(ai, v, _)| format!("{sp}({ai}){sp}{v}")).collect()
        }
        form => {
            let sep = ["\x1d", " ", "029", "", "\x1d"][(form - 1) % 5];
            let mut out = String::new();
            for (i, (ai, value, variable)) in fields.iter().enumerate() {
                out.push_str(ai);
                out.push_str(value);
                if (*variable && i + 1 < fields.len()) || (sep == "\x1d" && rng.gen_bool(0.05)) {
                    out.push_str(sep);
                }
            }
            out
        }
    };
    format!("{prefix}{body}{suffix}")
}

/// A bare EAN-13, UPC-A, GTIN-8 or GTIN-14, as an EAN/UPC scanner sends it.
fn bare(rng: &mut Rng) -> String {
    let len = pick(rng, &[8, 12, 13, 14]);
    let body = digits(rng, len - 1);
    let prefix = pick(rng, &["", "", "]E0", "]E4", "]e0", "]d2"]);
    format!("{prefix}{body}{}\r\n", check_digit(&body))
}

fn valid(rng: &mut Rng) -> String {
    if rng.gen_bool(0.1) {
        return bare(rng);
    }
    let mut fields = valid_fields(rng);
    if rng.gen_bool(0.15) {
        break_one(rng, &mut fields);
    }
    write(rng, &fields)
}

impl Harness for Gs1Harness {
    fn generate(&self, rng: &mut Rng) -> Vec<u8> {
        let mutator = Mutator { dict: DICT, max_len: MAX_INPUT_CHARS + 64 };
        let input = match rng.gen_range(0..100) {
            0..=29 => valid(rng).into_bytes(),
            30..=93 => {
                let mut data = valid(rng).into_bytes();
                let other = valid(rng);
                mutator.mutate(rng, &mut data, other.as_bytes());
                data
            }
            _ => noise(rng, SET82, 120),
        };
        lossy(input)
    }

    fn execute(&self, input: &[u8]) -> Outcome {
        let text = as_text(input);
        let gtin = Gtin::parse(&text);
        let code = match gs1::parse(&text) {
            Ok(code) => code,
            Err(e) => return Outcome::rejected(e.reason()),
        };
        if let Ok(g) = gtin {
            if text.trim().len() < 16 {
                let product = product(g);
                invariant(code == product, || format!("bare GTIN read as {code:?}"));
            }
        }
        // A leading GS makes the plain GS1 reading decide, which is exact for the canonical form.
        let again = gs1::parse(&format!("\x1d{}", code.to_element_string()));
        invariant(again.as_ref() == Ok(&code), || format!("{code:?} reads back from its element string as {again:?}"));
        let values = [&code.serial, &code.batch, &code.ai91, &code.ai92, &code.ai93];
        if values.iter().all(|v| v.as_ref().is_none_or(|v| !v.contains('('))) {
            let again = gs1::parse(&code.to_hri());
            invariant(again.as_ref() == Ok(&code), || format!("{code:?} reads back from its HRI as {again:?}"));
        }
        let mut reached = Vec::new();
        let has = |flag: bool, name: &'static str, reached: &mut Vec<&'static str>| {
            if flag {
                reached.push(name);
            }
        };
        has(code.is_serialised(), "serialised", &mut reached);
        has(code.batch.is_some(), "batch", &mut reached);
        has(code.expiry.is_some(), "expiry", &mut reached);
        has(code.net_weight.is_some(), "net_weight", &mut reached);
        has(code.ai91.is_some() || code.ai92.is_some() || code.ai93.is_some(), "crypto", &mut reached);
        Outcome::accepted(reached)
    }
}

/// A product code with only a GTIN (what a bare barcode reads as).
fn product(gtin: Gtin) -> TraceCode {
    TraceCode { gtin, serial: None, batch: None, expiry: None, net_weight: None, ai91: None, ai92: None, ai93: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn unbroken_codes_parse_in_every_form() {
        let mut rng = Rng::seed_from_u64(11);
        for _ in 0..2_000 {
            let fields = valid_fields(&mut rng);
            // Lost and `029` separators may split a value differently, and a value holding `(NN)`
            // cuts the bracketed form: acceptance is certain for GS and clean brackets only.
            let input = write_form(&mut rng, &fields, 1);
            assert!(Gs1Harness.execute(input.as_bytes()).accepted, "{input:?}");
            if fields.iter().all(|(_, v, _)| !v.contains('(')) {
                let input = write_form(&mut rng, &fields, 0);
                assert!(Gs1Harness.execute(input.as_bytes()).accepted, "{input:?}");
            }
        }
        assert_eq!(check_digit("460000000001"), '5');
    }
}
