//! Byte-level mutations shared by every target, steered by a per-target dictionary.

use rand::seq::SliceRandom;
use rand::Rng as _;

use crate::Rng;

/// Bytes that often sit on a parser's decision boundary.
#[rustfmt::skip]
const INTERESTING_BYTES: &[u8] = &[
    0x00, 0x01, 0x1D, 0x1E, 0x7F, 0x80, 0xC0, 0xD0, 0xE2, 0xEF, 0xFF, b'\n', b'\r', b'\t', b' ', b'"', b',', b';',
    b'(', b')', b'0', b'1', b'2', b'9', b':', b'%', b'\\', b'{', b'}', b'[', b']', b'+', b'-', b'.', b'/', b'*', b'$',
];

/// Non-ASCII snippets: Cyrillic (the till's keyboard layout), Kazakh letters, a BOM, no-break and
/// line-separator spaces (trimmed by `str::trim`), a combining mark, an emoji, a lone U+FFFD.
#[rustfmt::skip]
const NON_ASCII: &[&str] = &[
    "Ж", "ъв2", "Әә", "ҚқҢңӨөҰұҮүҺһІі", "é", "\u{feff}", "\u{a0}", "\u{2028}", "\u{3000}", "\u{301}", "🍞", "\u{fffd}",
    "\u{85}", "ß", "ǅ",
];

/// How a target's inputs are mutated.
pub struct Mutator<'a> {
    /// Tokens of the target's language, inserted or written over the input.
    pub dict: &'a [&'a [u8]],
    /// Longest input worth making: beyond the parser's limit, but not by much.
    pub max_len: usize,
}

impl Mutator<'_> {
    /// Applies 1 to 8 stacked mutations (mostly few); `other` is a second input to splice with.
    pub fn mutate(&self, rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
        let mut rounds = 1;
        while rounds < 8 && rng.gen_bool(0.45) {
            rounds += 1;
        }
        for _ in 0..rounds {
            self.mutate_once(rng, data, other);
        }
        data.truncate(self.max_len);
    }

    fn mutate_once(&self, rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
        let len = data.len();
        let pos = rng.gen_range(0..=len);
        match rng.gen_range(0..20) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = rng.gen();
            }
            2 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = pick(rng, INTERESTING_BYTES);
            }
            3 => data.insert(pos, pick(rng, INTERESTING_BYTES)),
            4 if len > 0 => {
                data.remove(rng.gen_range(0..len));
            }
            5 if len > 0 => {
                let (start, end) = range(rng, len);
                data.drain(start..end);
            }
            6 if len > 0 => {
                let (start, end) = range(rng, len);
                let chunk = data[start..end].to_vec();
                data.splice(pos..pos, chunk);
            }
            7 | 8 if !self.dict.is_empty() => {
                let word = pick(rng, self.dict);
                data.splice(pos..pos, word.iter().copied());
            }
            9 if !self.dict.is_empty() => {
                let word = pick(rng, self.dict);
                let end = (pos + word.len()).min(len);
                data.splice(pos..end, word.iter().copied());
            }
            10 if !other.is_empty() => {
                let cut = rng.gen_range(0..=other.len());
                data.truncate(pos);
                data.extend_from_slice(&other[cut..]);
            }
            11 if len > 0 => data.truncate(rng.gen_range(0..len)),
            12 if len > 0 => {
                // A long run of one chunk: up to and past the parser's length limit.
                let (start, end) = range(rng, len.min(16));
                let chunk = data[start..end].to_vec();
                let times = rng.gen_range(2..=self.max_len / chunk.len().max(1) + 2);
                let run: Vec<u8> = chunk.iter().copied().cycle().take(chunk.len() * times).collect();
                data.splice(pos..pos, run);
            }
            13 => {
                let run: Vec<u8> = (0..rng.gen_range(1..=40)).map(|_| b'0' + rng.gen_range(0..10)).collect();
                data.splice(pos..pos, run);
            }
            14 => {
                data.splice(pos..pos, pick(rng, NON_ASCII).bytes());
            }
            15 if len > 0 => {
                let i = rng.gen_range(0..len);
                if data[i].is_ascii_alphabetic() {
                    data[i] ^= 0x20;
                }
            }
            16 if len > 1 => {
                let (start, end) = range(rng, len);
                data[start..end].shuffle(rng);
            }
            17 if len > 0 => {
                // Nudge a digit: moves a check digit, a date, a length just past its bound.
                let i = rng.gen_range(0..len);
                if data[i].is_ascii_digit() {
                    data[i] = b'0' + (data[i] - b'0' + rng.gen_range(1..10)) % 10;
                }
            }
            18 => {
                *data = match rng.gen_range(0..4) {
                    0 => Vec::new(),
                    1 => vec![pick(rng, INTERESTING_BYTES)],
                    2 => data.iter().copied().cycle().take(self.max_len).collect(),
                    _ => pick(rng, self.dict).repeat(rng.gen_range(1..=64)),
                };
            }
            _ => {
                let word = pick(rng, self.dict);
                data.splice(pos..pos, word.iter().copied());
            }
        }
    }
}

/// A uniformly chosen element; `T::default()` of an empty slice (only a caller's bug).
pub fn pick<T: Copy + Default>(rng: &mut Rng, items: &[T]) -> T {
    items.choose(rng).copied().unwrap_or_default()
}

/// A non-empty sub-range of `0..len` (`len > 0`), short ones favoured.
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.gen_range(0..len);
    let max = (len - start).min(if rng.gen_bool(0.8) { 8 } else { len });
    (start, start + rng.gen_range(1..=max))
}

/// Purely random input: arbitrary bytes, or characters drawn from `alphabet`, of up to `max_len`.
pub fn noise(rng: &mut Rng, alphabet: &[u8], max_len: usize) -> Vec<u8> {
    let len = rng.gen_range(0..=max_len);
    if alphabet.is_empty() || rng.gen_bool(0.3) {
        (0..len).map(|_| rng.gen()).collect()
    } else {
        (0..len).map(|_| pick(rng, alphabet)).collect()
    }
}

/// The string a string target will see for `bytes` (invalid UTF-8 as U+FFFD), as bytes again.
pub fn lossy(bytes: Vec<u8>) -> Vec<u8> {
    match String::from_utf8(bytes) {
        Ok(s) => s.into_bytes(),
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mutations_stay_within_the_limit_and_are_deterministic() {
        let dict: &[&[u8]] = &[b"01", b"\x1d", b"(21)"];
        let m = Mutator { dict, max_len: 600 };
        let run = |seed| {
            let mut rng = Rng::seed_from_u64(seed);
            let mut out = Vec::new();
            for _ in 0..2_000 {
                let mut data = b"0104600000000015215ABCDE\x1d93dGVz".to_vec();
                m.mutate(&mut rng, &mut data, b"(01)04600000000015");
                assert!(data.len() <= 600);
                out.push(data);
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
