//! Reading a QR code from a PNG image (what the wallet's `qr.png` or the demo wrote).

/// Why no text came out of an image.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("не удалось прочитать изображение PNG: {0}")]
    Image(String),
    #[error("на изображении не найден QR-код")]
    NotFound,
    #[error("QR-код найден, но не читается: {0}")]
    Unreadable(String),
}

/// A decoded QR code: its text and its version (1..=40).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrText {
    pub text: String,
    pub version: usize,
}

/// Decodes the first readable QR code in a PNG.
pub fn decode_png(png: &[u8]) -> Result<QrText, QrError> {
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .map_err(|e| QrError::Image(e.to_string()))?
        .to_luma8();
    decode_luma(&image)
}

/// Decodes the first readable QR code in a greyscale image.
pub fn decode_luma(image: &image::GrayImage) -> Result<QrText, QrError> {
    let (w, h) = image.dimensions();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
        // x < w and y < h, both from u32, so the casts are exact.
        image.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NotFound);
    }
    let mut last_error = String::new();
    for grid in grids {
        match grid.decode() {
            Ok((meta, text)) => return Ok(QrText { text, version: meta.version.0 }),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(QrError::Unreadable(last_error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use qrcode::{EcLevel, QrCode, Version};

    /// The first test vector of docs/token.md.
    pub const TOKEN: &str = "AZ1:V50V50000000000W50ON8%727Q2+72ITDX507H0QS00+0J61%H1CT1-02I7N 98X0A469AIRG.MYQLU59H.5VRP9FRY8HJR7LFG66O14MT$Q%RVQ$NOQPID5GHC2B0HGA.0SJ/HG+OG.0ALU*GB3U260";

    fn png_of(code: &QrCode) -> Vec<u8> {
        let image = code.render::<image::Luma<u8>>().module_dimensions(4, 4).quiet_zone(true).build();
        let mut png = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        png
    }

    #[test]
    fn a_token_fits_version_8_at_level_q_and_reads_back() {
        assert_eq!(TOKEN.len(), 156);
        let code = QrCode::with_error_correction_level(TOKEN, EcLevel::Q).unwrap();
        let Version::Normal(v) = code.version() else { unreachable!("a normal QR code") };
        assert!(v <= 8, "version {v}");
        let read = decode_png(&png_of(&code)).unwrap();
        assert_eq!(read.text, TOKEN);
        assert!(read.version <= 8);
    }

    #[test]
    fn an_image_without_a_code_says_so() {
        let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255]));
        assert!(matches!(decode_luma(&blank), Err(QrError::NotFound)));
        assert!(matches!(decode_png(b"not a png"), Err(QrError::Image(_))));
    }
}
