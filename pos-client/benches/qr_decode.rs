//! Decoding a voucher QR code from a PNG: what `azyq-pos decode` and a camera-based till do per scan.
//!
//! The image is made here: a 156-character token as a version-8 QR code at level Q, 4 px per
//! module with the 4-module quiet zone, as the wallet renders it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed step fails the test

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use qrcode::{EcLevel, QrCode, Version};

const TOKEN: &str = "AZ1:V50V50000000000W50ON8%727Q2+72ITDX507H0QS00+0J61%H1CT1-02I7N 98X0A469AIRG.MYQLU59H.5VRP9FRY8HJR7LFG66O14MT$Q%RVQ$NOQPID5GHC2B0HGA.0SJ/HG+OG.0ALU*GB3U260";

fn png() -> Vec<u8> {
    let code = QrCode::with_version(TOKEN, Version::Normal(8), EcLevel::Q).expect("fits version 8-Q");
    let image = code.render::<image::Luma<u8>>().module_dimensions(4, 4).quiet_zone(true).build();
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
    png
}

fn decode(c: &mut Criterion) {
    let png = png();
    assert_eq!(azyq_pos::qr::decode_png(&png).expect("decodes").text, TOKEN);
    c.bench_function("qr_decode_png_v8q_156", |b| b.iter(|| azyq_pos::qr::decode_png(black_box(&png))));
}

criterion_group!(benches, decode);
criterion_main!(benches);
