//! `--qr <image>`: the activation code from a QR code in a PNG or JPEG picture (a screenshot of
//! the operator's web page or e-mail: a QR code shown on the device's own screen cannot be
//! scanned by its own camera).

use std::path::Path;

use crate::error::CliError;

/// Largest picture accepted, in pixels per side (a 4K screenshot is 3840 wide).
const MAX_SIDE: u32 = 10_000;

/// Decodes every QR code in the picture at `path` and returns the first activation code
/// (`LPA:1$...`), trimmed.
pub fn activation_code_from_image(path: &Path) -> Result<String, CliError> {
    let bytes = std::fs::read(path)
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

/// The text of every QR code found in a PNG or JPEG picture.
pub fn decode_qr_codes(bytes: &[u8]) -> Result<Vec<String>, String> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("unreadable picture: {e}"))?;
    if reader.format().is_none() {
        return Err("not a PNG or JPEG picture".into());
    }
    let picture = reader
        .decode()
        .map_err(|e| format!("unreadable picture: {e}"))?;
    if picture.width() > MAX_SIDE || picture.height() > MAX_SIDE {
        return Err(format!(
            "picture of {}x{} pixels is larger than the {MAX_SIDE}x{MAX_SIDE} accepted",
            picture.width(),
            picture.height()
        ));
    }
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
}
