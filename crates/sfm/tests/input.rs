//! Folders with files that are not usable photos: those are named and skipped; fewer than two
//! usable images is an error that names what was skipped.

use sfm::front_end::{FrontEndOptions, Observer, extract_folder};
use std::path::Path;
use std::sync::Mutex;

#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);
impl Observer for Warnings {
    fn warn(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

fn noise_png(path: &Path, seed: u32) {
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        let v = ((x * 7919 + y * 104729 + seed * 31337) % 251) as u8;
        image::Rgb([v, v.wrapping_mul(3), v.wrapping_add(50)])
    });
    img.save(path).unwrap();
}

#[test]
fn unreadable_files_are_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    noise_png(&dir.path().join("a.png"), 1);
    noise_png(&dir.path().join("b.png"), 2);
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    let full = std::fs::read(dir.path().join("a.png")).unwrap();
    std::fs::write(dir.path().join("cut.png"), &full[..full.len() / 3]).unwrap();
    std::fs::write(dir.path().join(".hidden.png"), b"ignored").unwrap();
    let warnings = Warnings::default();
    let (images, skipped) =
        extract_folder(dir.path(), &FrontEndOptions::default(), &warnings).unwrap();
    let names: Vec<_> = images.iter().map(|i| i.image.name.as_str()).collect();
    assert_eq!(names, ["a.png", "b.png"]);
    let skipped: Vec<_> = skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(skipped, ["cut.png", "notes.txt"]);
    let warnings = warnings.0.into_inner().unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("cut.png"))
            && warnings.iter().any(|w| w.contains("notes.txt")),
        "{warnings:?}"
    );
    // No EXIF: the focal guess is 1.2 × the longest side.
    assert_eq!(images[0].image.focal, 1.2 * 96.0);
}

#[test]
fn fewer_than_two_usable_images_is_an_error_naming_the_skipped_files() {
    let dir = tempfile::tempdir().unwrap();
    noise_png(&dir.path().join("only.png"), 3);
    std::fs::write(dir.path().join("broken.jpg"), b"\xff\xd8\xff\xe0garbage").unwrap();
    let err = extract_folder(
        dir.path(),
        &FrontEndOptions::default(),
        &Warnings::default(),
    )
    .err()
    .expect("must fail");
    let text = err.to_string();
    assert!(
        text.contains("1 usable image") && text.contains("broken.jpg"),
        "{text}"
    );
    let err = extract_folder(
        &dir.path().join("missing"),
        &FrontEndOptions::default(),
        &Warnings::default(),
    )
    .err()
    .expect("must fail");
    assert!(err.to_string().contains("missing"), "{err}");
}
