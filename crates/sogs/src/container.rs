//! Files on disk: lossless WebP images, and the two SOG containers — a bundled `.sog` (zip with
//! STORE entries, `meta.json` last, as splat-transform writes it) and the unbundled folder of
//! `meta.json` + images. The reader takes both, v1 and v2, STORE and DEFLATE entries, and finds
//! entries through the zip's central directory.

use crate::error::{Result, SogsError};
use crate::meta::Meta;
use crate::planes::{Image, Sog};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

/// A file of a scene: its name and encoded bytes.
pub type EncodedFile = (String, Vec<u8>);

/// Lossless WebP effort: `None` is libwebp's default lossless settings (what splat-transform
/// uses by default); `Some(0..=9)` is libwebp's lossless preset of that level.
pub type Effort = Option<u8>;

/// Encodes `img` as lossless WebP with `exact` set, so RGB under zero alpha is kept bit for bit.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
pub fn encode_webp(img: &Image, effort: Effort) -> Result<Vec<u8>> {
    let mut config = webp::WebPConfig::new().map_err(|_| {
        SogsError::Input("libwebp: cannot initialise an encoder configuration".into())
    })?;
    config.lossless = 1;
    config.exact = 1;
    config.quality = 70.0;
    if let Some(level) = effort {
        // SAFETY: `config` is an initialised WebPConfig; the preset only writes its fields.
        let ok =
            unsafe { libwebp_sys::WebPConfigLosslessPreset(&mut config, i32::from(level.min(9))) };
        if ok == 0 {
            return Err(SogsError::Input(format!(
                "libwebp: bad lossless preset {level}"
            )));
        }
        config.exact = 1;
    }
    let encoder = webp::Encoder::from_rgba(&img.rgba, img.width as u32, img.height as u32);
    let mem = encoder.encode_advanced(&config).map_err(|e| {
        SogsError::Input(format!(
            "libwebp could not encode a {}×{} image: {e:?}",
            img.width, img.height
        ))
    })?;
    Ok(mem.to_vec())
}

/// Decodes a WebP file to RGBA8 (RGB images get alpha 255). `what` names it in errors.
pub fn decode_webp(bytes: &[u8], what: &str, path: &Path) -> Result<Image> {
    let decoded = webp::Decoder::new(bytes)
        .decode()
        .ok_or_else(|| SogsError::format(path, format!("{what} is not a valid WebP image")))?;
    let (w, h) = (decoded.width() as usize, decoded.height() as usize);
    let raw: &[u8] = &decoded;
    let rgba = if raw.len() == w * h * 4 {
        raw.to_vec()
    } else if raw.len() == w * h * 3 {
        raw.chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    } else {
        return Err(SogsError::format(
            path,
            format!("{what}: decoded {} bytes for a {w}×{h} image", raw.len()),
        ));
    };
    Ok(Image {
        width: w,
        height: h,
        rgba,
    })
}

/// The encoded files of a scene, in writing order (`meta.json` last).
pub fn encode_files(
    sog: &Sog,
    effort: Effort,
    on_image: &(dyn Fn(&str) + Sync),
) -> Result<Vec<(String, Vec<u8>)>> {
    use rayon::prelude::*;
    let mut files: Vec<EncodedFile> = sog
        .images
        .par_iter()
        .map(|(name, img)| {
            let bytes = encode_webp(img, effort)?;
            on_image(name);
            Ok((name.clone(), bytes))
        })
        .collect::<Result<_>>()?;
    let meta =
        serde_json::to_vec(&sog.meta).map_err(|e| SogsError::Input(format!("meta.json: {e}")))?;
    files.push(("meta.json".to_string(), meta));
    Ok(files)
}

/// The bytes of a bundled `.sog`: a zip of STORE entries for the images (WebP is already
/// entropy-coded) and a DEFLATE entry for `meta.json`, whose decimal codebooks deflate to under
/// half (on a small scene meta.json was a third of the file). splat-transform 3.7.0 and our
/// viewer read both methods (`tests/interop.rs`, the viewer's tests).
pub fn zip_bytes(files: &[EncodedFile]) -> Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    let err = |e: &dyn std::fmt::Display| SogsError::Input(format!("writing the zip: {e}"));
    for (name, bytes) in files {
        let options = if name.ends_with(".json") {
            deflated
        } else {
            stored
        };
        zip.start_file(name.as_str(), options)
            .map_err(|e| err(&e))?;
        zip.write_all(bytes).map_err(|e| err(&e))?;
    }
    Ok(zip.finish().map_err(|e| err(&e))?.into_inner())
}

/// Writes the scene to `path`: a bundled `.sog` unless `path` ends in `meta.json` or is an
/// existing folder, when the unbundled form is written there. Every file is written to a
/// temporary name and renamed into place (`meta.json` last). Returns the bytes written.
pub fn write(path: &Path, files: &[EncodedFile]) -> Result<usize> {
    match unbundled_dir(path) {
        Some(dir) => {
            for (name, bytes) in files {
                splat_scene::write_atomic_bytes(&dir.join(name), bytes)?;
            }
            Ok(files.iter().map(|(_, b)| b.len()).sum())
        }
        None => {
            let zip = zip_bytes(files)?;
            splat_scene::write_atomic_bytes(path, &zip)?;
            Ok(zip.len())
        }
    }
}

fn unbundled_dir(path: &Path) -> Option<PathBuf> {
    if path.file_name().is_some_and(|n| n == "meta.json") {
        return Some(path.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    path.is_dir().then(|| path.to_path_buf())
}

/// The raw files of a scene on disk: its `meta.json` and each file it names.
pub struct RawScene {
    pub meta: Meta,
    pub files: Vec<EncodedFile>,
}

/// Reads a bundled `.sog`, a folder holding `meta.json`, or a `meta.json` path.
pub fn read_raw(path: &Path) -> Result<RawScene> {
    match unbundled_dir(path) {
        Some(dir) => {
            let meta_path = dir.join("meta.json");
            let bytes = std::fs::read(&meta_path).map_err(|e| SogsError::io(&meta_path, e))?;
            let meta = Meta::parse(&bytes, &meta_path)?;
            let mut files = Vec::new();
            for name in referenced(&meta) {
                let p = dir.join(&name);
                let b = std::fs::read(&p).map_err(|e| SogsError::io(&p, e))?;
                files.push((name, b));
            }
            Ok(RawScene { meta, files })
        }
        None => read_zip(path),
    }
}

fn read_zip(path: &Path) -> Result<RawScene> {
    let bytes = std::fs::read(path).map_err(|e| SogsError::io(path, e))?;
    let archive_len = bytes.len() as u64;
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| SogsError::format(path, format!("not a readable SOG bundle (zip): {e}")))?;
    let mut entry = |name: &str| -> Result<Vec<u8>> {
        let mut f = zip.by_name(name).map_err(|e| match e {
            zip::result::ZipError::FileNotFound => {
                SogsError::format(path, format!("{name} is missing from the bundle"))
            }
            e => SogsError::format(path, format!("{name}: {e}")),
        })?;
        // The declared size is the file's word, not a fact: reserve no more than the archive
        // holds (a STORE entry cannot be larger; a DEFLATE one grows as it is read).
        let mut out = Vec::with_capacity(f.size().min(archive_len) as usize);
        f.read_to_end(&mut out)
            .map_err(|e| SogsError::format(path, format!("{name}: {e}")))?;
        Ok(out)
    };
    let meta = Meta::parse(&entry("meta.json")?, path)?;
    let mut files = Vec::new();
    for name in referenced(&meta) {
        let b = entry(&name)?;
        files.push((name, b));
    }
    Ok(RawScene { meta, files })
}

/// Every file `meta.json` names, without repeats.
fn referenced(meta: &Meta) -> Vec<String> {
    let (base, sh): ([&Vec<String>; 4], Option<&Vec<String>>) = match meta {
        Meta::V2(m) => (
            [
                &m.means.files,
                &m.scales.files,
                &m.quats.files,
                &m.sh0.files,
            ],
            m.sh_n.as_ref().map(|s| &s.files),
        ),
        Meta::V1(m) => (
            [
                &m.means.files,
                &m.scales.files,
                &m.quats.files,
                &m.sh0.files,
            ],
            m.sh_n.as_ref().map(|s| &s.files),
        ),
    };
    let lists = base.into_iter().chain(sh);
    let mut out: Vec<String> = Vec::new();
    for name in lists.flatten() {
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}
