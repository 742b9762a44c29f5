//! Cost of reading what the scanner typed, per shape of input: plain GS1, each separator style,
//! the bracketed form and a bare EAN-13.
//! `cargo bench -p azyq-shared --bench gs1 -- --quick`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use std::hint::black_box;

use azyq_shared::gs1;
use criterion::{criterion_group, criterion_main, Criterion};

const SIG44: &str = "YXp5cSB0ZXN0IHNpZ25hdHVyZSBvZiAzMiBieXRlcyE=";

fn benches(c: &mut Criterion) {
    let shoe = |sep: &str| format!("]d2010460043993125621JgXJ5.TVmtkTq{sep}91EE05{sep}92{SIG44}\r\n");
    let inputs = [
        ("milk_gs", "]d20104600000000015215ABCDE\u{1d}93dGVz\r\n".to_owned()),
        ("milk_lost", "0104600000000015215ABCDE93dGVz".to_owned()),
        ("milk_029", "0104600000000015215ABCDE02993dGVz".to_owned()),
        ("weighed_lost", "0104600000000015215ABCDE93dGVz3103000353".to_owned()),
        ("shoe_gs", shoe("\u{1d}")),
        ("shoe_029", shoe("029")),
        ("shoe_lost", shoe("")),
        ("hri", "(01)04600000000015(21)ABC123(10)LOT-7A(17)261231(3103)001500".to_owned()),
        ("ean13", "4006381333931\r\n".to_owned()),
    ];
    let mut group = c.benchmark_group("gs1_parse");
    for (name, input) in &inputs {
        assert!(gs1::parse(input).is_ok(), "{name}");
        group.bench_function(*name, |b| b.iter(|| gs1::parse(black_box(input))));
    }
    group.finish();
}

criterion_group!(gs1_benches, benches);
criterion_main!(gs1_benches);
