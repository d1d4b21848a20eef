//! QR code images of UICs, sent after completion so a clinic can scan the code
//! instead of typing it.

use std::io::Cursor;

use image::{ImageFormat, Luma};
use qrcode::{EcLevel, QrCode};

/// Pixels per QR module: sharp on a phone screen, a few kilobytes per image.
const MODULE_PIXELS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The text does not fit in a QR code (thousands of characters; a UIC never does this).
    #[error("the text is too long for a QR code")]
    TooLong(#[from] qrcode::types::QrError),
    #[error("could not encode the QR code as PNG: {0}")]
    Png(#[from] image::ImageError),
}

/// A PNG of `text` as a QR code: error correction M (readable with 15% of the
/// image damaged, e.g. a screenshot of a cracked screen), the standard quiet
/// zone, black on white.
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M)?;
    let image = code
        .render::<Luma<u8>>()
        .dark_color(Luma([0]))
        .light_color(Luma([255]))
        .quiet_zone(true)
        .module_dimensions(MODULE_PIXELS, MODULE_PIXELS)
        .build();
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png)?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> String {
        let image = image::load_from_memory(png).unwrap().to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn png_decodes_back_to_the_code() {
        for uic in ["MBEIBR7DA1", "985-KINS-15-JEA-KABI-A3F9D"] {
            let png = png(uic).unwrap();
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert_eq!(decode(&png), uic);
        }
    }

    #[test]
    fn png_is_black_on_white_with_a_quiet_zone() {
        let image = image::load_from_memory(&png("MBEIBR7DA1").unwrap()).unwrap().to_luma8();
        // Version 1 (21 modules) plus 4 modules of quiet zone on each side.
        assert_eq!(image.width(), (21 + 8) * MODULE_PIXELS);
        assert!(image.pixels().all(|p| p.0 == [0] || p.0 == [255]));
        assert_eq!(image.get_pixel(0, 0).0, [255]);
        assert_eq!(image.get_pixel(4 * MODULE_PIXELS, 4 * MODULE_PIXELS).0, [0]);
    }

    #[test]
    fn png_refuses_text_too_long_for_a_qr_code() {
        assert!(matches!(png(&"A".repeat(5000)), Err(QrError::TooLong(_))));
    }
}
