//! The compressor and decompressor end to end: cloud → order → palette → images → file, and
//! file → cloud, with a report of sizes, quality of the sort and time per step.

use crate::container::{self, Effort};
use crate::error::{Result, SogsError};
use crate::kmeans;
use crate::layout::GridLayout;
use crate::meta::Meta;
use crate::order::{self, KeyWeights, OrderReport, Ordering};
use crate::planes::{self, Image, Sog};
use crate::plas::PlasOptions;
use splat_scene::GaussianCloud;
use splat_scene::ply::sh_rest_per_channel;
use std::path::Path;
use std::time::Instant;

/// Told about long steps: `begin` names a step and its item count, `advance` reports items done.
pub trait Progress: Sync {
    fn begin(&self, _step: &str, _total: u64) {}
    fn advance(&self, _done: u64) {}
}

/// No progress output.
impl Progress for () {}

#[derive(Debug, Clone)]
pub struct CompressOptions {
    /// SH bands to keep (at most the model's degree); `None` keeps them all.
    pub sh_bands: Option<u32>,
    /// k-means iterations for the SH palette.
    pub iterations: usize,
    pub ordering: Ordering,
    pub weights: KeyWeights,
    pub plas: PlasOptions,
    /// Seeds the palette's k-means (the sort has its own seed in `plas`).
    pub seed: u64,
    /// Centroids of the SH palette; `None`: SOG v2's rule for the count
    /// (`kmeans::palette_size`). Compaction picks a smaller one where the rendered views allow.
    pub palette_size: Option<usize>,
    /// Bits of each 16-bit position code that carry information (8–16; the rest rounded
    /// away, see `planes::coarsen`). 16: all. Compaction picks fewer where the views allow.
    pub position_bits: u32,
    /// Distinct values of the SH palette's codebook (1–256; 256: all). Compaction picks fewer
    /// where the views allow.
    pub sh_levels: usize,
    pub effort: Effort,
    /// How much each Gaussian (input order) matters to the rendered views: the SH palette's
    /// k-means weighs each Gaussian's error by it (`kmeans::fit_weighted`). `None`: all alike.
    /// Compaction fills it with each Gaussian's blending weight over the training views.
    pub importance: Option<Importance>,
    /// The texel order of this very cloud with these ordering settings, sorted before
    /// ([`texel_order_on`]; compaction's rate choice sorts its result once): the file takes it
    /// instead of sorting again. `None`: sorted here.
    pub presorted: Option<Presorted>,
}

/// A texel order sorted once for one cloud and one set of ordering settings, how good it is, and
/// where the sort ran.
#[derive(Clone)]
pub struct Presorted {
    pub order: std::sync::Arc<[u32]>,
    pub report: OrderReport,
    pub device: String,
}

impl std::fmt::Debug for Presorted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Presorted({} texels, on {})",
            self.order.len(),
            self.device
        )
    }
}

/// One weight per Gaussian, shared between the option sets compaction tries.
#[derive(Clone)]
pub struct Importance(pub std::sync::Arc<[f32]>);

impl std::fmt::Debug for Importance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Importance({} weights)", self.0.len())
    }
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            sh_bands: None,
            iterations: 10,
            ordering: Ordering::Plas,
            weights: KeyWeights::default(),
            plas: PlasOptions::default(),
            seed: 1,
            effort: None,
            palette_size: None,
            position_bits: 16,
            sh_levels: 256,
            importance: None,
            presorted: None,
        }
    }
}

/// What `compress` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompressReport {
    pub count: usize,
    pub width: usize,
    pub height: usize,
    pub sh_bands: u32,
    pub palette_size: usize,
    /// Where the sort ran: the GPU adapter's name, or "cpu".
    pub sort_device: String,
    /// Mean squared error per SH coefficient of the palette (before its 8-bit codebook).
    pub palette_mse: f64,
    pub order: OrderReport,
    /// Encoded bytes per file, `meta.json` included.
    pub files: Vec<(String, usize)>,
    pub total_bytes: usize,
    /// Bytes on disk once written (the zip adds its headers to `total_bytes`); 0 until written.
    pub written_bytes: usize,
    /// Seconds per step.
    pub seconds: Vec<(String, f64)>,
    /// Texel `i` holds input Gaussian `order[i]` (the decoded file is in this order).
    #[serde(skip)]
    pub texel_order: Vec<u32>,
}

/// Encoded files by name, in writing order.
pub type EncodedFiles = Vec<container::EncodedFile>;

/// Compresses `cloud` into encoded files (ready for [`container::write`]).
pub fn compress(
    cloud: &GaussianCloud,
    opts: &CompressOptions,
    progress: &dyn Progress,
) -> Result<(EncodedFiles, CompressReport)> {
    compress_on(cloud, opts, None, progress)
}

/// The images of a compressed scene, before the image codec, and what making them took.
pub struct Quantized {
    pub sog: Sog,
    pub order: Vec<u32>,
    pub order_report: OrderReport,
    pub layout: GridLayout,
    pub bands: u32,
    pub palette_size: usize,
    pub palette_mse: f64,
    pub seconds: Vec<(String, f64)>,
}

/// What a file written with `opts` decodes to: the images are lossless, so the scene is
/// quantized in memory and decoded back without the codec (for judging a choice by the views).
pub fn decoded_on(
    cloud: &GaussianCloud,
    opts: &CompressOptions,
    gpu: Option<&splat_gpu::GpuContext>,
) -> Result<GaussianCloud> {
    decode(&quantize_on(cloud, opts, gpu, &())?.sog)
}

/// As [`compress`], with the sort on `gpu` when given (same result, faster on a real GPU).
pub fn compress_on(
    cloud: &GaussianCloud,
    opts: &CompressOptions,
    gpu: Option<&splat_gpu::GpuContext>,
    progress: &dyn Progress,
) -> Result<(EncodedFiles, CompressReport)> {
    let Quantized {
        sog,
        order,
        order_report,
        layout,
        bands,
        palette_size,
        palette_mse,
        mut seconds,
    } = quantize_on(cloud, opts, gpu, progress)?;
    let t = Instant::now();
    progress.begin("webp", sog.images.len() as u64);
    let done = std::sync::atomic::AtomicU64::new(0);
    let files = container::encode_files(&sog, opts.effort, &|_| {
        progress.advance(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
    })?;
    seconds.push(("webp".to_string(), t.elapsed().as_secs_f64()));

    let sizes: Vec<(String, usize)> = files.iter().map(|(n, b)| (n.clone(), b.len())).collect();
    let report = CompressReport {
        count: cloud.len(),
        width: layout.width,
        height: layout.height,
        sh_bands: bands,
        sort_device: opts
            .presorted
            .as_ref()
            .map_or_else(|| device_name(gpu), |p| p.device.clone()),
        palette_size,
        palette_mse,
        order: order_report,
        total_bytes: sizes.iter().map(|(_, s)| s).sum(),
        written_bytes: 0,
        files: sizes,
        seconds,
        texel_order: order,
    };
    Ok((files, report))
}

/// The order, the palette and the images of `cloud` (everything but the image codec).
pub fn quantize_on(
    cloud: &GaussianCloud,
    opts: &CompressOptions,
    gpu: Option<&splat_gpu::GpuContext>,
    progress: &dyn Progress,
) -> Result<Quantized> {
    let layout = checked_layout(cloud, opts)?;
    let mut seconds = Vec::new();

    let (order, order_report) = if let Some(p) = &opts.presorted {
        check_order_len(&p.order, cloud)?;
        (p.order.to_vec(), p.report.clone())
    } else {
        let t = Instant::now();
        if opts.ordering == Ordering::Plas {
            let radii = crate::plas::radius_schedule(
                layout.width,
                layout.full_rows(),
                opts.plas.min_radius,
            );
            progress.begin("sort", radii.len() as u64);
        }
        let sorted = sorted(cloud, &layout, opts, gpu, &|done, _| {
            progress.advance(done as u64);
        })?;
        seconds.push(("sort".to_string(), t.elapsed().as_secs_f64()));
        sorted
    };
    let planes = planes_in_order(cloud, opts, &layout, &order, progress, &mut seconds);
    Ok(Quantized {
        sog: planes.sog,
        order,
        order_report,
        layout,
        bands: planes.bands,
        palette_size: planes.palette_size,
        palette_mse: planes.palette_mse,
        seconds,
    })
}

/// The texel order `opts` gives `cloud`: the sort [`quantize_on`] starts with, and its slow part.
/// Computed once, it serves [`decoded_in_order`] for every option set with the same ordering
/// settings (`ordering`, `weights`, `plas`): the palette, position precision, SH levels and
/// importance do not change it; and the file, through [`CompressOptions::presorted`].
pub fn texel_order_on(
    cloud: &GaussianCloud,
    opts: &CompressOptions,
    gpu: Option<&splat_gpu::GpuContext>,
) -> Result<Presorted> {
    let layout = checked_layout(cloud, opts)?;
    let (order, report) = sorted(cloud, &layout, opts, gpu, &|_, _| {})?;
    Ok(Presorted {
        order: order.into(),
        report,
        device: device_name(gpu),
    })
}

/// Where a sort runs: the GPU adapter's name, or "cpu".
fn device_name(gpu: Option<&splat_gpu::GpuContext>) -> String {
    gpu.map_or_else(|| "cpu".to_string(), |c| c.info.name.clone())
}

/// An error unless `order` has one texel per Gaussian of `cloud`.
fn check_order_len(order: &[u32], cloud: &GaussianCloud) -> Result<()> {
    if order.len() == cloud.len() {
        return Ok(());
    }
    Err(SogsError::Input(format!(
        "a texel order of {} for {} Gaussians",
        order.len(),
        cloud.len()
    )))
}

/// The texel order by `opts`' ordering settings.
fn sorted(
    cloud: &GaussianCloud,
    layout: &GridLayout,
    opts: &CompressOptions,
    gpu: Option<&splat_gpu::GpuContext>,
    progress: &dyn Fn(usize, usize),
) -> Result<(Vec<u32>, OrderReport)> {
    Ok(order::texel_order(
        cloud,
        layout,
        opts.ordering,
        &opts.weights,
        &opts.plas,
        gpu,
        progress,
    )?)
}

/// As [`decoded_on`], the texel order given (from [`texel_order_on`] for this cloud and these
/// ordering settings) instead of sorted again.
pub fn decoded_in_order(
    cloud: &GaussianCloud,
    opts: &CompressOptions,
    order: &[u32],
) -> Result<GaussianCloud> {
    let layout = checked_layout(cloud, opts)?;
    check_order_len(order, cloud)?;
    decode(&planes_in_order(cloud, opts, &layout, order, &(), &mut Vec::new()).sog)
}

/// The grid for `cloud`, once `cloud` and `opts` are found compressible.
fn checked_layout(cloud: &GaussianCloud, opts: &CompressOptions) -> Result<GridLayout> {
    let n = cloud.len();
    if n == 0 {
        return Err(SogsError::Input(
            "the model has no Gaussians to compress".into(),
        ));
    }
    if n > 1 << 26 {
        return Err(SogsError::Input(format!(
            "{n} Gaussians: SOG images are limited to 16383² texels"
        )));
    }
    if let Some(w) = &opts.importance
        && w.0.len() != n
    {
        return Err(SogsError::Input(format!(
            "{} importance weights for {n} Gaussians",
            w.0.len()
        )));
    }
    Ok(GridLayout::for_count(n))
}

/// The palette and the images of `cloud` with texel `t` holding Gaussian `order[t]`.
struct Planes {
    sog: Sog,
    bands: u32,
    palette_size: usize,
    palette_mse: f64,
}

/// Fits the SH palette and quantizes every attribute into the images, in `order`; adds the
/// steps' times to `seconds`.
fn planes_in_order(
    cloud: &GaussianCloud,
    opts: &CompressOptions,
    layout: &GridLayout,
    order: &[u32],
    progress: &dyn Progress,
    seconds: &mut Vec<(String, f64)>,
) -> Planes {
    let n = cloud.len();
    let bands = opts
        .sh_bands
        .map_or(cloud.sh_degree, |b| b.min(cloud.sh_degree));
    let t = Instant::now();
    let palette = if bands > 0 {
        let data = truncated_sh(cloud, bands);
        let dim = 3 * sh_rest_per_channel(bands);
        progress.begin("sh palette", opts.iterations as u64);
        let count = opts
            .palette_size
            .unwrap_or_else(|| kmeans::palette_size(n))
            .clamp(1, MAX_PALETTE);
        let weights = opts.importance.as_ref().map(|w| &w.0[..]);
        let p = kmeans::fit_weighted(
            &data,
            dim,
            count,
            opts.iterations,
            opts.seed,
            weights,
            &|i| progress.advance(i as u64),
        );
        let mse = p.mse(&data);
        Some((p, mse))
    } else {
        None
    };
    seconds.push(("sh palette".to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let generator = format!("splat v{}", env!("CARGO_PKG_VERSION"));
    let sog = planes::encode(
        cloud,
        order,
        layout.width,
        layout.height,
        palette.as_ref().map(|(p, _)| (bands, p)),
        planes::Precision {
            position_bits: opts.position_bits,
            sh_levels: opts.sh_levels,
        },
        &generator,
    );
    seconds.push(("quantize".to_string(), t.elapsed().as_secs_f64()));
    Planes {
        sog,
        bands,
        palette_size: palette.as_ref().map_or(0, |(p, _)| p.count()),
        palette_mse: palette.as_ref().map_or(0.0, |(_, m)| *m),
    }
}

/// The most centroids a palette can have: labels are 16 bits.
pub const MAX_PALETTE: usize = 1 << 16;

/// The first `bands` bands of each Gaussian's `f_rest`, channel-major.
fn truncated_sh(cloud: &GaussianCloud, bands: u32) -> Vec<f32> {
    let k_all = sh_rest_per_channel(cloud.sh_degree);
    let k = sh_rest_per_channel(bands);
    let mut out = Vec::with_capacity(cloud.len() * 3 * k);
    for g in cloud.sh_rest.chunks_exact(3 * k_all) {
        for ch in 0..3 {
            out.extend_from_slice(&g[ch * k_all..ch * k_all + k]);
        }
    }
    out
}

/// Compresses `cloud` into `output` (bundled `.sog`, or a folder / `meta.json` for the
/// unbundled form), written atomically; the report includes the bytes written and the write's time.
pub fn compress_to_file(
    cloud: &GaussianCloud,
    output: &Path,
    opts: &CompressOptions,
    gpu: Option<&splat_gpu::GpuContext>,
    progress: &dyn Progress,
) -> Result<CompressReport> {
    let (files, mut report) = compress_on(cloud, opts, gpu, progress)?;
    let t = Instant::now();
    report.written_bytes = container::write(output, &files)?;
    report
        .seconds
        .push(("write".to_string(), t.elapsed().as_secs_f64()));
    Ok(report)
}

/// Reads a `.sog` bundle, an unbundled folder or its `meta.json` (v1 or v2) into a cloud.
pub fn read_sog(path: &Path) -> Result<GaussianCloud> {
    decode_raw(&container::read_raw(path)?, path)
}

/// Decodes a scene already read from `path` (`container::read_raw`) into a cloud.
pub fn decode_raw(raw: &container::RawScene, path: &Path) -> Result<GaussianCloud> {
    let images = decode_images(&raw.files, path)?;
    let cloud = match &raw.meta {
        Meta::V2(m) => planes::decode_v2(m, &images, path),
        Meta::V1(m) => planes::decode_v1(m, &images, path),
    }?;
    // A codebook or range in meta.json can hold values past f32 (1e308): refuse what decodes
    // to a non-finite Gaussian, as the PLY reader does.
    cloud.validate(path)?;
    Ok(cloud)
}

/// Reads a scene's images without decoding the Gaussians (for inspection and tests).
pub fn read_sog_images(path: &Path) -> Result<(Meta, Vec<(String, Image)>)> {
    let raw = container::read_raw(path)?;
    let images = decode_images(&raw.files, path)?;
    Ok((raw.meta, images))
}

fn decode_images(files: &[(String, Vec<u8>)], path: &Path) -> Result<Vec<(String, Image)>> {
    use rayon::prelude::*;
    files
        .par_iter()
        .map(|(name, bytes)| Ok((name.clone(), container::decode_webp(bytes, name, path)?)))
        .collect()
}

/// Decodes an in-memory scene (no files involved).
pub fn decode(sog: &Sog) -> Result<GaussianCloud> {
    planes::decode_v2(&sog.meta, &sog.images, Path::new("<memory>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use splat_test_support::sog::synthetic_cloud;

    /// The order sorted once gives, for every rate setting, the very cloud `decoded_on` sorts
    /// for again (what compaction relies on when it tries many settings).
    #[test]
    fn a_texel_order_sorted_once_decodes_as_sorting_each_time() {
        let cloud = synthetic_cloud(700, 3, 9);
        let base = CompressOptions {
            iterations: 3,
            ..CompressOptions::default()
        };
        let sorted = texel_order_on(&cloud, &base, None).unwrap();
        let order = &sorted.order[..];
        let input: Vec<u32> = (0..cloud.len() as u32).collect();
        assert_ne!(order, &input[..], "PLAS should move something");
        for (position_bits, sh_levels, palette_size) in [(16, 256, None), (8, 16, Some(64))] {
            let opts = CompressOptions {
                position_bits,
                sh_levels,
                palette_size,
                ..base.clone()
            };
            assert_eq!(
                decoded_in_order(&cloud, &opts, order).unwrap(),
                decoded_on(&cloud, &opts, None).unwrap(),
                "{position_bits} bits, {sh_levels} levels, palette {palette_size:?}"
            );
        }
        let e = decoded_in_order(&cloud, &base, &order[1..]).unwrap_err();
        assert!(e.to_string().contains("699 for 700"), "{e}");
    }

    /// The file written with a presorted order is the file that sorts for itself, with the same
    /// order report; an order for another cloud is an error.
    #[test]
    fn a_presorted_order_writes_the_file_that_sorting_writes() {
        let cloud = synthetic_cloud(700, 2, 4);
        let opts = CompressOptions {
            iterations: 3,
            ..CompressOptions::default()
        };
        let presorted = texel_order_on(&cloud, &opts, None).unwrap();
        let (files, report) = compress(&cloud, &opts, &()).unwrap();
        let with = CompressOptions {
            presorted: Some(presorted.clone()),
            ..opts.clone()
        };
        let (files_presorted, report_presorted) = compress(&cloud, &with, &()).unwrap();
        assert_eq!(files_presorted, files);
        assert_eq!(report_presorted.texel_order, report.texel_order);
        assert_eq!(
            report_presorted.order.neighbour_distance,
            report.order.neighbour_distance
        );
        assert!(
            report_presorted
                .seconds
                .iter()
                .all(|(step, _)| step != "sort")
        );
        let other = synthetic_cloud(699, 2, 4);
        let e = compress(&other, &with, &()).unwrap_err();
        assert!(e.to_string().contains("700 for 699"), "{e}");
    }
}
