//! Damaged and unusual SOG files: every problem is an error naming the file and what is wrong;
//! DEFLATE bundles and the unbundled folder read like STORE bundles.

use splat_sogs::CompressOptions;
use splat_sogs::container::{EncodedFile, zip_bytes};
use splat_test_support::sog::synthetic_cloud;
use std::io::Write;
use std::path::Path;

fn files() -> Vec<EncodedFile> {
    let cloud = synthetic_cloud(1500, 2, 7);
    splat_sogs::compress(&cloud, &CompressOptions::default(), &())
        .unwrap()
        .0
}

fn error_of(path: &Path) -> String {
    match splat_sogs::read_sog(path) {
        Ok(_) => panic!("{} was read without error", path.display()),
        Err(e) => e.to_string(),
    }
}

fn write_zip(path: &Path, files: &[EncodedFile]) {
    std::fs::write(path, zip_bytes(files).unwrap()).unwrap();
}

fn replace(files: &[EncodedFile], name: &str, bytes: Vec<u8>) -> Vec<EncodedFile> {
    files
        .iter()
        .map(|(n, b)| (n.clone(), if n == name { bytes.clone() } else { b.clone() }))
        .collect()
}

#[test]
fn truncated_and_foreign_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = zip_bytes(&files()).unwrap();
    let cut = dir.path().join("cut.sog");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let e = error_of(&cut);
    assert!(e.contains("cut.sog") && e.contains("zip"), "{e}");
    let missing = dir.path().join("nothing.sog");
    let e = error_of(&missing);
    assert!(e.contains("nothing.sog"), "{e}");
}

#[test]
fn missing_entries_bad_json_and_bad_versions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let all = files();
    let without: Vec<EncodedFile> = all
        .iter()
        .filter(|(n, _)| n != "sh0.webp")
        .cloned()
        .collect();
    let p = dir.path().join("no_sh0.sog");
    write_zip(&p, &without);
    let e = error_of(&p);
    assert!(
        e.contains("no_sh0.sog") && e.contains("sh0.webp") && e.contains("missing"),
        "{e}"
    );

    let p = dir.path().join("bad_json.sog");
    write_zip(
        &p,
        &replace(&all, "meta.json", b"{\"version\": 2, \"count\": ".to_vec()),
    );
    let e = error_of(&p);
    assert!(e.contains("bad_json.sog") && e.contains("meta.json"), "{e}");

    let p = dir.path().join("v9.sog");
    let meta = String::from_utf8(
        all.iter()
            .find(|(n, _)| n == "meta.json")
            .unwrap()
            .1
            .clone(),
    )
    .unwrap();
    write_zip(
        &p,
        &replace(
            &all,
            "meta.json",
            meta.replacen("\"version\":2", "\"version\":9", 1)
                .into_bytes(),
        ),
    );
    let e = error_of(&p);
    assert!(e.contains("version 9"), "{e}");

    let p = dir.path().join("bad_webp.sog");
    write_zip(
        &p,
        &replace(&all, "quats.webp", b"RIFF\0\0\0\0WEBPjunk".to_vec()),
    );
    let e = error_of(&p);
    assert!(e.contains("quats.webp") && e.contains("WebP"), "{e}");
}

#[test]
fn wrong_image_sizes_and_out_of_range_labels_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let all = files();
    let small = splat_sogs::container::encode_webp(&splat_sogs::Image::zeroed(8, 8), None).unwrap();
    let p = dir.path().join("small.sog");
    write_zip(&p, &replace(&all, "scales.webp", small));
    let e = error_of(&p);
    assert!(e.contains("scales.webp") && e.contains("too small"), "{e}");

    // Every label set to 0xffff, beyond the palette of 1024.
    let p = dir.path().join("labels.sog");
    write_zip(&p, &all);
    let (_, images) = splat_sogs::read_sog_images(&p).unwrap();
    let labels = &images
        .iter()
        .find(|(n, _)| n == "shN_labels.webp")
        .unwrap()
        .1;
    let mut bad = labels.clone();
    for px in bad.rgba.chunks_exact_mut(4) {
        px.copy_from_slice(&[255, 255, 0, 255]);
    }
    write_zip(
        &p,
        &replace(
            &all,
            "shN_labels.webp",
            splat_sogs::container::encode_webp(&bad, None).unwrap(),
        ),
    );
    let e = error_of(&p);
    assert!(e.contains("label 65535") && e.contains("palette"), "{e}");
}

#[test]
fn deflate_bundles_and_unbundled_folders_read_like_store_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let all = files();
    let store = dir.path().join("store.sog");
    write_zip(&store, &all);
    let reference = splat_sogs::read_sog(&store).unwrap();

    let deflate = dir.path().join("deflate.sog");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&deflate).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in &all {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    assert_eq!(splat_sogs::read_sog(&deflate).unwrap(), reference);

    let folder = dir.path().join("unbundled");
    std::fs::create_dir_all(&folder).unwrap();
    splat_sogs::container::write(&folder, &all).unwrap();
    assert!(folder.join("meta.json").exists() && folder.join("means_l.webp").exists());
    assert_eq!(splat_sogs::read_sog(&folder).unwrap(), reference);
    assert_eq!(
        splat_sogs::read_sog(&folder.join("meta.json")).unwrap(),
        reference
    );
}

/// Found by fuzzing (issue 24): a codebook entry of 1e308 in `meta.json` decoded to infinite
/// scales that the reader returned.
#[test]
fn values_past_f32_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let all = files();
    let meta = &all.iter().find(|(n, _)| n == "meta.json").unwrap().1;
    let mut json: serde_json::Value = serde_json::from_slice(meta).unwrap();
    json["scales"]["codebook"][255] = serde_json::json!(1e308);
    let p = dir.path().join("huge.sog");
    write_zip(
        &p,
        &replace(&all, "meta.json", serde_json::to_vec(&json).unwrap()),
    );
    let e = error_of(&p);
    assert!(
        e.contains("huge.sog") && e.contains("NaN or infinite"),
        "{e}"
    );
}
