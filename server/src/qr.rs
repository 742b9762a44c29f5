//! Drawing a voucher token as a QR code: error correction Q, so a blurry phone screen still scans;
//! the 156-character token fits version 8.

use image::{ImageEncoder, Luma};
use qrcode::{EcLevel, QrCode};

use crate::error::{AppError, AppResult};

/// Pixels per QR module in the PNG.
const MODULE_PX: u32 = 8;

/// The QR symbol for `text` at level Q.
pub fn symbol(text: &str) -> AppResult<QrCode> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
        .map_err(|e| AppError::internal(anyhow::anyhow!("QR: {e}")))
}

/// A PNG of the QR code, with the standard 4-module quiet zone.
pub fn png(text: &str) -> AppResult<Vec<u8>> {
    let img = symbol(text)?.render::<Luma<u8>>().module_dimensions(MODULE_PX, MODULE_PX).quiet_zone(true).build();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::L8)
        .map_err(|e| AppError::internal(anyhow::anyhow!("PNG: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use azyq_shared::token;
    use qrcode::Version;

    /// Fields at their widest: every id at its maximum.
    fn widest(nonce: token::Nonce, offline: Option<token::OfflineFacts>) -> token::TokenFields {
        token::TokenFields {
            kid: u16::MAX,
            voucher_id: u64::MAX,
            month: azyq_shared::Month::parse("2026-12").unwrap(),
            issued_at: "2026-12-05T10:00:00Z".parse().unwrap(),
            expires_at: "2026-12-05T10:05:00Z".parse().unwrap(),
            nonce,
            offline,
        }
    }

    fn fits_version_8_at_level_q(fields: &token::TokenFields) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let text = token::sign(fields, &key).unwrap();
        let code = symbol(&text).unwrap();
        assert_eq!(code.error_correction_level(), EcLevel::Q);
        match code.version() {
            Version::Normal(v) => assert!(v <= 8, "version {v}"),
            Version::Micro(_) => panic!("micro QR"),
        }
        text
    }

    #[test]
    fn a_token_fits_version_8_at_level_q() {
        let text = fits_version_8_at_level_q(&widest(token::Nonce::V1([0xff; 16]), None));
        let png = png(&text).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
    }

    #[test]
    fn a_format_2_token_fits_version_8_at_level_q() {
        let most = azyq_shared::Tiyn::new(i64::from(u32::MAX));
        let facts = token::OfflineFacts { balance: most, amount: most, region: 99 };
        let text = fits_version_8_at_level_q(&widest(token::Nonce::V2([0xff; 9]), Some(facts)));
        assert!(text.starts_with(token::PREFIX_V2));
    }
}
