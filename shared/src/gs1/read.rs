//! Reading an element string into fields: bracketed, plain, and the search over lost separators.

use std::collections::HashMap;
use std::ops::Range;

use super::*;

pub(super) type Span = (Ai, Range<usize>);

pub(super) fn assemble(b: &[u8], spans: &[Span]) -> Result<TraceCode, Gs1Error> {
    let mut gtin = None;
    let mut code = TraceCode::product(Gtin(String::new()));
    let mut seen = 0u16;
    for (ai, range) in spans {
        if seen & ai.slot() != 0 {
            return Err(Gs1Error::DuplicateAi { ai: ai.code() });
        }
        seen |= ai.slot();
        let value = b.get(range.clone()).ok_or(Gs1Error::BadLength { ai: Some(ai.code()) })?;
        match validate(*ai, value)? {
            Field::Gtin(g) => gtin = Some(g),
            Field::Serial(s) => code.serial = Some(s),
            Field::Batch(s) => code.batch = Some(s),
            Field::Expiry(d) => code.expiry = Some(d),
            Field::NetWeight(w) => code.net_weight = Some(w),
            Field::KeyId(s) => code.ai91 = Some(s),
            Field::Signature(s) => code.ai92 = Some(s),
            Field::CryptoTail(s) => code.ai93 = Some(s),
        }
    }
    code.gtin = gtin.ok_or(Gs1Error::MissingGtin)?;
    Ok(code)
}

/// Where the run of data starting at `from` ends: the next GS/space or the end.
pub(super) fn segment_end(b: &[u8], from: usize) -> usize {
    b.get(from..).and_then(|r| r.iter().position(|&c| is_sep(c))).map_or(b.len(), |i| from + i)
}

/// `(` + 2–4 digits + `)` at `pos`: the digits and where the value starts.
pub(super) fn bracketed_ai(b: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    if b.get(pos) != Some(&b'(') {
        return None;
    }
    let after = b.get(pos + 1..)?;
    let n = after.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(2..=4).contains(&n) || after.get(n) != Some(&b')') {
        return None;
    }
    Some((after.get(..n)?, pos + n + 2))
}

/// The bracketed form: each value runs to the next `(digits)` or the end.
pub(super) fn read_bracketed(content: &[u8]) -> Result<TraceCode, Gs1Error> {
    // Neither spaces nor GS can be data, and people type spaces around the brackets.
    let b: Vec<u8> = content.iter().copied().filter(|&c| !is_sep(c)).collect();
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let Some((digits, start)) = bracketed_ai(&b, pos) else {
            let after = b.get(pos + 1..).unwrap_or_default();
            return Err(match (b.get(pos), after.iter().find(|c| !c.is_ascii_digit())) {
                (Some(&c), _) if c != b'(' => Gs1Error::BadCharacter { ch: char::from(c) },
                (_, None) => Gs1Error::BadLength { ai: None },
                (_, Some(b')')) => Gs1Error::UnknownAi {
                    ai: after.iter().take_while(|c| c.is_ascii_digit()).map(|&c| char::from(c)).collect(),
                },
                (_, Some(&c)) => Gs1Error::BadCharacter { ch: char::from(c) },
            });
        };
        let ai = read_ai(digits)?;
        if ai.digits() != digits.len() {
            return Err(Gs1Error::UnknownAi { ai: digits.iter().map(|&c| char::from(c)).collect() });
        }
        let end = (start..b.len()).find(|&i| bracketed_ai(&b, i).is_some()).unwrap_or(b.len());
        spans.push((ai, start..end));
        pos = end;
    }
    assemble(&b, &spans)
}

/// An element string as typed (ASCII, separators GS or space or `029` or none).
pub(super) fn read_machine(b: &[u8]) -> Result<TraceCode, Gs1Error> {
    let plain = read_plain(b);
    if let Ok(spans) = &plain {
        if b.iter().any(|&c| is_sep(c)) {
            return assemble(b, spans);
        }
    }
    let mut best = match &plain {
        Ok(spans) if spans.iter().any(|(ai, _)| *ai == Ai::Gtin) => Some(Reading { spans: spans.clone(), hidden: 0 }),
        _ => None,
    };
    for mode in [Mode::Typed, Mode::Lost] {
        if mode == Mode::Typed && !b.windows(3).any(|w| w == b"029") {
            continue;
        }
        if let Some(found) = Search::new(b, mode).run() {
            if best.as_ref().is_none_or(|current| found.beats(current)) {
                best = Some(found);
            }
        }
    }
    match (best, plain) {
        (Some(reading), _) => assemble(b, &reading.spans),
        // A valid reading without (01): let assemble say so.
        (None, Ok(spans)) => assemble(b, &spans),
        (None, Err(e)) => Err(e),
    }
}

/// Plain GS1: a variable field runs to the next GS/space, `029` is data.
pub(super) fn read_plain(b: &[u8]) -> Result<Vec<Span>, Gs1Error> {
    let mut spans = Vec::new();
    let mut seen = 0u16;
    let mut pos = 0;
    loop {
        while b.get(pos).is_some_and(|&c| is_sep(c)) {
            pos += 1;
        }
        let Some(rest) = b.get(pos..).filter(|r| !r.is_empty()) else {
            return Ok(spans);
        };
        let ai = read_ai(rest)?;
        if seen & ai.slot() != 0 {
            return Err(Gs1Error::DuplicateAi { ai: ai.code() });
        }
        seen |= ai.slot();
        let start = pos + ai.digits();
        let seg_end = segment_end(b, start);
        let end = ai.fixed_len().map_or(seg_end, |len| (start + len).min(seg_end));
        validate(ai, b.get(start..end).unwrap_or_default())?;
        spans.push((ai, start..end));
        pos = end;
    }
}

/// How the scanner is assumed to type the separators it does not send as GS or space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// As the three characters `029`.
    Typed,
    /// Not at all.
    Lost,
}

/// A complete reading, and how many variable fields in it end at a `029` or at no separator.
#[derive(Debug, Clone, Default)]
pub(super) struct Reading {
    spans: Vec<Span>,
    hidden: u32,
}

impl Reading {
    /// More fields, then fewer hidden boundaries, then fields that end earlier.
    pub(super) fn beats(&self, other: &Reading) -> bool {
        let key = |r: &Reading| (std::cmp::Reverse(r.spans.len()), r.hidden);
        key(self).cmp(&key(other)).then_with(|| self.ends().cmp(other.ends())).is_lt()
    }

    pub(super) fn ends(&self) -> impl Iterator<Item = usize> + '_ {
        self.spans.iter().map(|(_, range)| range.end)
    }

    pub(super) fn after(&self, span: Span, hidden: bool) -> Reading {
        let mut spans = Vec::with_capacity(self.spans.len() + 1);
        spans.push(span);
        spans.extend(self.spans.iter().cloned());
        Reading { spans, hidden: self.hidden + u32::from(hidden) }
    }
}

/// The best complete reading from each (position, AIs seen), memoised: each AI occurs once, so a
/// reading has at most 8 fields and the table stays small.
pub(super) struct Search<'a> {
    b: &'a [u8],
    mode: Mode,
    memo: HashMap<(usize, u16), Option<Reading>>,
}

impl<'a> Search<'a> {
    pub(super) fn new(b: &'a [u8], mode: Mode) -> Search<'a> {
        Search { b, mode, memo: HashMap::new() }
    }

    pub(super) fn run(mut self) -> Option<Reading> {
        self.solve(0, 0)
    }

    pub(super) fn solve(&mut self, pos: usize, seen: u16) -> Option<Reading> {
        if let Some(hit) = self.memo.get(&(pos, seen)) {
            return hit.clone();
        }
        let found = self.step(pos, seen);
        self.memo.insert((pos, seen), found.clone());
        found
    }

    pub(super) fn step(&mut self, mut pos: usize, seen: u16) -> Option<Reading> {
        let b = self.b;
        loop {
            match b.get(pos..) {
                Some([c, ..]) if is_sep(*c) => pos += 1,
                // No AI starts with 02 here, so a `029` where a field starts is a separator.
                Some([b'0', b'2', b'9', ..]) if self.mode == Mode::Typed => pos += 3,
                _ => break,
            }
        }
        if pos >= b.len() {
            return (seen & Ai::Gtin.slot() != 0).then(Reading::default);
        }
        let ai = read_ai(b.get(pos..)?).ok()?;
        if seen & ai.slot() != 0 {
            return None;
        }
        let seen = seen | ai.slot();
        let start = pos + ai.digits();
        let seg_end = segment_end(b, start);
        if let Some(len) = ai.fixed_len() {
            let end = start + len;
            if end > seg_end {
                return None;
            }
            validate(ai, b.get(start..end)?).ok()?;
            return self.solve(end, seen).map(|rest| rest.after((ai, start..end), false));
        }
        let mut best: Option<Reading> = None;
        for end in start + 1..=seg_end.min(start + ai.max_len()) {
            // Guessing boundaries rests on the crypto fields' lengths: believe no other.
            if self.mode == Mode::Lost && ai.is_crypto() && !ai.known_lens().contains(&(end - start)) {
                continue;
            }
            let next = if end == seg_end {
                end
            } else if self.mode == Mode::Typed {
                if !b.get(end..).is_some_and(|r| r.starts_with(b"029")) {
                    continue;
                }
                end + 3
            } else {
                match read_ai(b.get(end..)?) {
                    Ok(following) if following.fixed_len().is_some() || following.is_crypto() => end,
                    _ => continue,
                }
            };
            let Some(rest) = self.solve(next, seen) else {
                continue;
            };
            let candidate = rest.after((ai, start..end), end != seg_end);
            if best.as_ref().is_none_or(|current| candidate.beats(current)) {
                best = Some(candidate);
            }
        }
        best
    }
}
