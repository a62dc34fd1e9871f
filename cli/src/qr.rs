//! `--qr <image>`: the activation code from a QR code in a PNG or JPEG picture (a screenshot of
//! the operator's web page or e-mail: a QR code shown on the device's own screen cannot be
//! scanned by its own camera).

use std::io::Read;
use std::path::Path;

use crate::error::CliError;

/// Largest picture accepted, in pixels per side (a 4K screenshot is 3840 wide).
const MAX_SIDE: u32 = 10_000;

/// Most memory the decoder may take for the pixels (a 4K RGBA screenshot needs 32 MiB; an 8K
/// photo 128 MiB). The header declares the size and the decoder would allocate it before
/// reading a pixel, so a file of a few bytes could otherwise ask for gigabytes.
const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

/// Largest file read (a compressed picture this size is far beyond any screenshot).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Decodes every QR code in the picture at `path` and returns the first activation code
/// (`LPA:1$...`), trimmed.
pub fn activation_code_from_image(path: &Path) -> Result<String, CliError> {
    let bytes = read_at_most(path, MAX_FILE_BYTES)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let contents =
        decode_qr_codes(&bytes).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    pick_activation_code(&contents).ok_or_else(|| {
        if contents.is_empty() {
            CliError::usage(format!(
                "{}: no readable QR code found in the picture (crop it to the code, or type the \
                 activation code instead)",
                path.display()
            ))
        } else {
            CliError::usage(format!(
                "{}: the QR code does not hold an eSIM activation code (it says {:?}; an \
                 activation code starts with LPA:1$)",
                path.display(),
                contents.first().map(String::as_str).unwrap_or_default()
            ))
        }
    })
}

/// The file's bytes, refused when it holds more than `limit` (without reading the rest).
fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "the file is larger than the {} MiB accepted for a picture",
            limit / (1024 * 1024)
        ));
    }
    Ok(bytes)
}

/// The text of every QR code found in a PNG or JPEG picture.
pub fn decode_qr_codes(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable picture: {e}"))?;
    if reader.format().is_none() {
        return Err("not a PNG or JPEG picture".into());
    }
    // Checked against the header before the decoder allocates anything.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => format!(
            "the picture is too large (at most {MAX_SIDE}x{MAX_SIDE} pixels and {} MiB of \
             pixel data are accepted): crop it to the QR code",
            MAX_DECODED_BYTES / (1024 * 1024)
        ),
        other => format!("unreadable picture: {other}"),
    })?;
    let grey = picture.to_luma8();
    let (width, height) = (grey.width() as usize, grey.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        // x < width, y < height: always inside the picture.
        grey.get_pixel_checked(x as u32, y as u32)
            .map_or(255, |p| p.0[0])
    });
    Ok(prepared
        .detect_grids()
        .iter()
        .filter_map(|grid| grid.decode().ok())
        .map(|(_meta, content)| content)
        .collect())
}

/// The first text that is an activation code (SGP.22 §4.1: `LPA:` then the code).
fn pick_activation_code(contents: &[String]) -> Option<String> {
    contents
        .iter()
        .map(|c| c.trim())
        .find(|c| c.len() > 4 && c.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("LPA:")))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_activation_code_among_other_codes() {
        let found = vec![
            "https://example.com".to_owned(),
            " lpa:1$smdp.example.com$ABC \n".to_owned(),
        ];
        assert_eq!(
            pick_activation_code(&found).as_deref(),
            Some("lpa:1$smdp.example.com$ABC")
        );
        assert_eq!(pick_activation_code(&found[..1]), None);
    }

    #[test]
    fn refuses_what_is_not_a_picture() {
        assert!(decode_qr_codes(b"not an image").is_err());
    }

    /// A PNG of a few dozen bytes whose header declares `width` x `height` pixels of 16-bit
    /// RGBA (8 bytes a pixel), with no pixel data.
    fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in bytes {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let crc = crc32(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &[]);
        chunk(&mut png, b"IEND", &[]);
        png
    }

    /// Regression: the sides were checked after `decode()`, which had already allocated the
    /// pixels the header declared (up to the image crate's default 512 MiB allowance).
    #[test]
    fn a_header_declaring_a_huge_picture_is_refused_before_decoding() {
        for (width, height) in [(100_000, 100), (100, 100_000), (100_000, 100_000)] {
            let png = png_header_only(width, height);
            assert!(png.len() < 100);
            let e = decode_qr_codes(&png).unwrap_err();
            assert!(
                e.contains("the picture is too large"),
                "{width}x{height}: {e}"
            );
        }
    }

    /// Within the side limit and the image crate's default allowance, but 7000 x 7000 x 8
    /// bytes (374 MiB) is over ours.
    #[test]
    fn a_picture_needing_too_much_memory_is_refused_before_decoding() {
        let e = decode_qr_codes(&png_header_only(7_000, 7_000)).unwrap_err();
        assert!(e.contains("the picture is too large"), "{e}");
    }

    #[test]
    fn a_file_over_the_size_limit_is_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.png");
        std::fs::write(&path, vec![0u8; 2048]).unwrap();
        let e = read_at_most(&path, 1024).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        assert_eq!(read_at_most(&path, 2048).unwrap().len(), 2048);
    }
}
