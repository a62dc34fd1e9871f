//! `lpa profile download --qr <picture>`: QR codes rendered here into PNG and JPEG pictures
//! (as a screenshot of an operator's page would hold them) are decoded to the right
//! activation code, which then downloads the ordered profile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::{Bed, lpa, run};
use image::{GrayImage, Luma};
use qrcode::{Color, QrCode};

/// Renders `text` as a QR code: 6 pixels per module, a 4-module quiet zone, on a larger white
/// page (the code is not alone in a screenshot).
fn qr_picture(text: &str) -> GrayImage {
    let code = QrCode::new(text.as_bytes()).unwrap();
    let modules = code.width();
    let colors = code.to_colors();
    let scale = 6;
    let margin = 40;
    let side = (modules as u32 + 8) * scale + 2 * margin;
    let mut img = GrayImage::from_pixel(side + 100, side, Luma([255]));
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = ((i % modules) as u32 + 4, (i / modules) as u32 + 4);
            for dy in 0..scale {
                for dx in 0..scale {
                    img.put_pixel(
                        margin + mx * scale + dx,
                        margin + my * scale + dy,
                        Luma([0]),
                    );
                }
            }
        }
    }
    img
}

fn save(img: &GrayImage, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    img.save(&path).unwrap();
    path
}

#[test]
fn png_and_jpeg_qr_codes_give_the_ordered_profile() {
    let bed = Bed::new();
    for (n, name) in [(1u32, "code.png"), (2, "code.jpg")] {
        let (iccid, code) = bed.order(n);
        let picture = save(&qr_picture(&code), bed.path(), name);
        let r = run(bed
            .lpa()
            .arg("--json")
            .args(["profile", "download", "--yes", "--qr"])
            .arg(&picture));
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let json = r.json();
        assert_eq!(
            json["data"]["installation"]["iccid"],
            iccid.to_string(),
            "{name}"
        );
        assert_eq!(bed.status(&iccid), "Installed");
    }
}

#[test]
fn a_qr_code_that_is_no_activation_code_and_a_file_that_is_no_picture() {
    let dir = tempfile::tempdir().unwrap();
    let other = save(
        &qr_picture("https://example.com/esim"),
        dir.path(),
        "web.png",
    );
    let testbed = dir.path().join("card");
    let r = run(lpa()
        .arg("--testbed")
        .arg(&testbed)
        .args(["profile", "download", "--yes", "--qr"])
        .arg(&other));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not hold an eSIM activation code"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("https://example.com/esim"),
        "{}",
        r.stderr
    );

    let blank = save(
        &GrayImage::from_pixel(200, 200, Luma([255])),
        dir.path(),
        "blank.png",
    );
    let r = run(lpa()
        .arg("--testbed")
        .arg(&testbed)
        .args(["profile", "download", "--yes", "--qr"])
        .arg(&blank));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no readable QR code"), "{}", r.stderr);

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "LPA:1$smdp.example.com$ABC").unwrap();
    let r = run(lpa()
        .arg("--testbed")
        .arg(&testbed)
        .args(["profile", "download", "--yes", "--qr"])
        .arg(&text));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a PNG or JPEG"), "{}", r.stderr);
}

/// A PNG of a few dozen bytes whose header declares `width` x `height` RGBA pixels, with no
/// pixel data.
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
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A hostile picture: a tiny file whose header declares 2 000 000 000 x 2 000 000 000 pixels
/// (16 exabytes) is refused from its header, as bad input, without decoding it.
#[test]
fn a_tiny_png_declaring_a_huge_picture_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.png");
    let png = png_header_only(2_000_000_000, 2_000_000_000);
    assert!(png.len() < 100);
    std::fs::write(&path, png).unwrap();
    let r = run(lpa()
        .arg("--testbed")
        .arg(dir.path().join("card"))
        .args(["--json", "profile", "download", "--yes", "--qr"])
        .arg(&path));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the picture is too large"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("crop it to the QR code"), "{}", r.stderr);
    assert_eq!(r.json()["error"]["kind"], "invalid_input");
}
