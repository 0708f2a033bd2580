//! `splat compress` and `splat decompress`: a model (a 3DGS PLY, or any form `crate::model_file`
//! reads) to a PlayCanvas SOG (v2, PLAS-sorted) and a SOG back to a 3DGS PLY, with progress bars
//! and a summary of sizes per image, the ratio and time per step. With `--views`, the model is
//! first compacted on its training views (`splat_train::compact`).

use crate::progress::Progress;
use anyhow::{Context, Result, bail};
use splat_sogs::{CompressOptions, Ordering, PlasOptions};
use splat_train::compact::{CompactConfig, CompactProgress, CompactReport};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

#[derive(clap::Args)]
pub struct CompressArgs {
    /// The model: a 3DGS PLY, another model file (.compressed.ply, .splat, .spz, .sog), a
    /// training checkpoint, or a `splat train` / `splat run` folder (its model; while it is still
    /// training, its newest checkpoint).
    model: PathBuf,
    /// Output: a bundled `.sog`, or a folder / `…/meta.json` for the unbundled form.
    #[arg(short, long)]
    output: PathBuf,
    /// SH bands to keep (0-3; default: all the model has).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=3))]
    sh_bands: Option<u32>,
    /// Centroids of the SH palette (at most 65536). Default: with --views, the fewest
    /// (64·2^k up to SOG's rule) whose decoded file keeps the training views within
    /// --max-psnr-drop; without, SOG's rule (1024·2^⌊log2(N/1024)⌋, at most 65536). Giving it
    /// also keeps positions at full precision (the views choose both, or neither).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65536))]
    palette_size: Option<u32>,
    /// k-means iterations for the SH palette.
    #[arg(short, long, default_value_t = 10)]
    iterations: usize,
    /// Texel order: plas (Morton, then the self-organizing sort), morton, or input.
    #[arg(long, default_value = "plas", value_parser = parse_ordering)]
    order: Ordering,
    /// Seed of the sort and the palette (the same seed gives the same file).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Lossless WebP effort 0-9 (libwebp's presets); default: libwebp's default lossless settings.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    webp_effort: Option<u8>,
    /// Where the sort runs: `gpu` (the WGSL kernel on the adapter `splat info` picks), `cpu`
    /// (rayon), or `auto`: a real GPU when there is one, else the CPU (a CPU Vulkan device such
    /// as lavapipe is slower than rayon). Both give the same file.
    #[arg(long, default_value = "auto", value_parser = ["auto", "gpu", "cpu"])]
    device: String,
    /// Also write the report as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Compact the model first, judged on these views: the training workspace it was trained
    /// on (COLMAP workspace or Blender folder). The Gaussians that paint least over the
    /// training views are removed, SH bands the views do not need are dropped, and the rest
    /// are fine-tuned, within --max-psnr-drop. `splat run` sets it to its own workspace.
    #[arg(long)]
    views: Option<PathBuf>,
    /// Compress the model as given even when --views is set.
    #[arg(long)]
    no_compact: bool,
    /// Most PSNR compaction may cost, in dB, as the mean over the training views (held-out
    /// views are scored and reported, never used to choose).
    #[arg(long, default_value_t = 0.3, value_parser = parse_drop)]
    max_psnr_drop: f64,
    /// Fine-tune steps after each pruning compaction tries.
    #[arg(long, default_value_t = CompactConfig::default().fine_tune_steps)]
    fine_tune_steps: u32,
    /// Longest image side compaction renders the views at (as `splat train --resolution`;
    /// default: the one in the eval.json `splat train` wrote beside MODEL, else the photos' size).
    #[arg(long)]
    resolution: Option<u32>,
    /// Background the views are composited on (default: training's, from the eval.json beside
    /// MODEL, else as `splat train`: white for Blender scenes, black for COLMAP workspaces).
    #[arg(long, value_parser = crate::render::parse_rgb)]
    background: Option<[f64; 3]>,
    /// Also write the compacted model as a 3DGS PLY here.
    #[arg(long)]
    compacted_ply: Option<PathBuf>,
}

fn parse_drop(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a PSNR drop in dB (a number ≥ 0)")),
    }
}

/// The GPU to sort on, per `--device`.
fn sort_device(choice: &str) -> Result<Option<splat_gpu::GpuContext>> {
    match choice {
        "cpu" => Ok(None),
        "gpu" => Ok(Some(
            splat_gpu::GpuContext::new().context("--device gpu: no GPU adapter")?,
        )),
        _ => Ok(splat_gpu::GpuContext::new().ok().filter(|c| !c.is_cpu())),
    }
}

fn parse_ordering(s: &str) -> Result<Ordering, String> {
    match s {
        "plas" => Ok(Ordering::Plas),
        "morton" => Ok(Ordering::Morton),
        "input" => Ok(Ordering::Input),
        _ => Err(format!("unknown order '{s}' (plas, morton or input)")),
    }
}

#[derive(clap::Args)]
pub struct DecompressArgs {
    /// A `.sog` bundle, an unbundled folder or its `meta.json` (SOG v1 or v2).
    input: PathBuf,
    /// The 3DGS PLY to write.
    #[arg(short, long)]
    output: PathBuf,
}

/// Shows sogs' steps as progress bars (or JSON lines when stderr is not a terminal).
#[derive(Default)]
struct Bars {
    current: Mutex<Option<Progress>>,
}

impl splat_sogs::Progress for Bars {
    fn begin(&self, step: &str, total: u64) {
        let mut cur = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = cur.take() {
            p.finish();
        }
        *cur = Some(Progress::new(step, total));
    }

    fn advance(&self, done: u64) {
        if let Some(p) = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            p.set(done);
        }
    }
}

impl Bars {
    fn finish(&self) {
        if let Some(p) = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            p.finish();
        }
    }
}

/// `cloud` as a SOG v2 at `output` with `splat compress`'s defaults (PLAS order, seed 1, 10
/// k-means iterations, the sort where `--device auto` puts it); returns the bytes written.
pub fn write_sog_with_defaults(cloud: &splat_scene::GaussianCloud, output: &Path) -> Result<usize> {
    let opts = CompressOptions {
        iterations: 10,
        ordering: Ordering::Plas,
        plas: PlasOptions {
            seed: 1,
            ..PlasOptions::default()
        },
        seed: 1,
        ..CompressOptions::default()
    };
    let gpu = sort_device("auto")?;
    let bars = Bars::default();
    let report = splat_sogs::compress_to_file(cloud, output, &opts, gpu.as_ref(), &bars);
    bars.finish();
    Ok(report?.written_bytes)
}

pub fn run_compress(a: CompressArgs) -> Result<()> {
    // Which file the model is, before reading it (a large PLY takes seconds).
    if same_file(&crate::model_file::locate(&a.model)?.file, &a.output) {
        bail!(
            "{}: the output would overwrite the input",
            a.output.display()
        );
    }
    let t = Instant::now();
    let (model, cloud) = crate::model_file::read_cloud(&a.model)?;
    let read_seconds = t.elapsed().as_secs_f64();
    let mut opts = CompressOptions {
        sh_bands: a.sh_bands,
        iterations: a.iterations,
        ordering: a.order,
        plas: PlasOptions {
            seed: a.seed,
            ..PlasOptions::default()
        },
        seed: a.seed,
        effort: a.webp_effort,
        palette_size: a.palette_size.map(|p| p as usize),
        ..CompressOptions::default()
    };
    let ply_bytes = ply_bytes(&model, &cloud);
    let (cloud, compaction) = match (&a.views, a.no_compact) {
        (Some(views), false) => {
            let (c, r) = compact(&a, &model, views, &cloud, &opts)?;
            opts.importance.clone_from(&r.importance);
            opts.presorted.clone_from(&r.presorted);
            if a.palette_size.is_none() {
                opts.palette_size = r.palette_size;
                opts.position_bits = r.position_bits;
                opts.sh_levels = r.sh_levels;
            }
            (c, Some(r))
        }
        _ => (cloud, None),
    };
    if let (Some(path), Some(_)) = (&a.compacted_ply, &compaction) {
        splat_scene::ply::write_ply(path, &cloud)?;
    }
    let device = sort_device(&a.device)?;
    let bars = Bars::default();
    let report = splat_sogs::compress_to_file(&cloud, &a.output, &opts, device.as_ref(), &bars);
    bars.finish();
    let mut report = report?;
    report
        .seconds
        .insert(0, ("read model".into(), read_seconds));
    if let Some(c) = &compaction {
        report.seconds.insert(1, ("compaction".into(), c.seconds));
    }
    if let Some(c) = &compaction {
        print_compaction(c);
    }
    print_summary(&report, ply_bytes, &a.output, t.elapsed().as_secs_f64());
    if let Some(path) = &a.report {
        let mut json = serde_json::to_value(&report)?;
        json["ply_bytes"] = ply_bytes.into();
        json["ratio"] = (ply_bytes as f64 / report.written_bytes.max(1) as f64).into();
        json["compaction"] = serde_json::to_value(&compaction)?;
        splat_scene::write_atomic_bytes(path, &serde_json::to_vec_pretty(&json)?)?;
    }
    Ok(())
}

/// Compaction's phases as progress bars.
impl CompactProgress for Bars {
    fn phase(&self, name: &str, total: u64) {
        splat_sogs::Progress::begin(self, name, total);
    }

    fn advance(&self, done: u64) {
        splat_sogs::Progress::advance(self, done);
    }
}

/// `--views`: the model compacted on the training views of that dataset.
fn compact(
    a: &CompressArgs,
    model: &Path,
    views: &Path,
    cloud: &splat_scene::GaussianCloud,
    opts: &CompressOptions,
) -> Result<(splat_scene::GaussianCloud, CompactReport)> {
    let data = splat_scene::dataset::Dataset::load(views)
        .with_context(|| format!("--views {}: not a training workspace", views.display()))?;
    let ctx = splat_gpu::GpuContext::new().context("compaction renders on the GPU")?;
    let trained = trained_at(model);
    let cfg = CompactConfig {
        max_psnr_drop: a.max_psnr_drop,
        fine_tune_steps: a.fine_tune_steps,
        resolution: a.resolution.or(trained.resolution),
        background: a
            .background
            .or(trained.background)
            .unwrap_or_else(|| data.source.default_background()),
        seed: a.seed,
        max_sh_degree: a.sh_bands,
        // The palette is chosen by the views unless --palette-size says.
        compress: a.palette_size.is_none().then(|| opts.clone()),
        ..CompactConfig::default()
    };
    let bars = Bars::default();
    let out = splat_train::compact::compact(&ctx, &data, cloud, &cfg, &bars);
    bars.finish();
    out.with_context(|| format!("compacting {}", a.model.display()))
}

/// Whether two paths name one file (the second need not exist).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The size of the model as a 3DGS PLY, for the ratio: the file's own when it is one, else what
/// `splat export` would write for these Gaussians.
fn ply_bytes(model: &Path, cloud: &splat_scene::GaussianCloud) -> u64 {
    if splat_scene::formats::Format::from_name(model) == Some(splat_scene::formats::Format::Ply)
        && let Ok(meta) = std::fs::metadata(model)
    {
        return meta.len();
    }
    let mut counter = ByteCounter(0);
    splat_scene::ply::write_ply_to(&mut counter, cloud).map_or(0, |()| counter.0)
}

/// A writer that only counts bytes (std has none that counts).
struct ByteCounter(u64);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The resolution and background a model was trained at, from the `eval.json` `splat train`
/// writes beside it, or one folder up for a checkpoint in the run's `checkpoints/` (each `None`
/// when absent).
#[derive(Default)]
struct TrainedAt {
    resolution: Option<u32>,
    background: Option<[f64; 3]>,
}

fn trained_at(model: &Path) -> TrainedAt {
    let up = if crate::model_file::is_checkpoint(model) {
        2
    } else {
        1
    };
    let Some(eval) = model
        .ancestors()
        .skip(1)
        .take(up)
        .find_map(|dir| std::fs::read_to_string(dir.join("eval.json")).ok())
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
    else {
        return TrainedAt::default();
    };
    TrainedAt {
        resolution: eval["resolution"]
            .as_u64()
            .and_then(|r| u32::try_from(r).ok()),
        background: serde_json::from_value(eval["background"].clone()).ok(),
    }
}

fn print_compaction(r: &CompactReport) {
    let test = |v: Option<f64>| v.map_or("-".to_string(), |p| format!("{p:.2} dB"));
    if r.compacted {
        println!(
            "compaction: {} → {} Gaussians, SH degree {} → {}, {} more with invisible view-dependent colour zeroed ({:.0} s)",
            r.gaussians_before,
            r.gaussians_after,
            r.sh_degree_before,
            r.sh_degree_after,
            r.sh_rest_zeroed,
            r.seconds
        );
    } else {
        println!(
            "compaction: no pruning kept the training views within {} dB; the model is compressed as given ({:.0} s)",
            r.max_psnr_drop, r.seconds
        );
    }
    println!(
        "  training views ({}): PSNR {:.2} → {:.2} dB (budget −{} dB); held-out views ({}): {} → {}{}",
        r.train_views,
        r.train_psnr_before,
        r.train_psnr_after,
        r.max_psnr_drop,
        r.test_views,
        test(r.test_psnr_before),
        test(r.test_psnr_after),
        r.test_psnr_file
            .map_or(String::new(), |p| format!(", the file decoded {p:.2} dB"))
    );
    if !r.position_tries.is_empty() {
        println!(
            "  positions: {} of 16 bits (PSNR change on the training views against full precision: {})",
            r.position_bits,
            changes(&r.position_tries, " bits")
        );
    }
    if !r.sh_level_tries.is_empty() {
        println!(
            "  SH codebook: {} of 256 levels (PSNR change on the training views against 256: {})",
            r.sh_levels,
            changes(&r.sh_level_tries, "")
        );
    }
    if !r.palette_tries.is_empty() {
        println!(
            "  SH palette: {} centroids (SOG's rule: {}); PSNR change of the decoded files tried, on the training views: {}",
            r.palette_size.unwrap_or(r.palette_size_rule),
            r.palette_size_rule,
            changes(&r.palette_tries, "")
        );
    }
}

/// "12 bits: -0.011 dB, 10 bits: -0.099 dB" from (setting, PSNR drop) pairs.
fn changes<T: std::fmt::Display>(tries: &[(T, f64)], unit: &str) -> String {
    let each: Vec<String> = tries
        .iter()
        .map(|(value, drop)| format!("{value}{unit}: {:+.3} dB", -drop))
        .collect();
    each.join(", ")
}

fn print_summary(r: &splat_sogs::CompressReport, ply_bytes: u64, output: &Path, seconds: f64) {
    println!(
        "{} Gaussians → {} ({}×{} images, SH bands {}, palette {})",
        r.count,
        output.display(),
        r.width,
        r.height,
        r.sh_bands,
        r.palette_size
    );
    for (name, size) in &r.files {
        println!("  {name:<20} {size:>10} bytes");
    }
    println!(
        "  {:<20} {:>10} bytes ({:.1}× smaller than the {:.2} MB PLY)",
        "total",
        r.written_bytes,
        ply_bytes as f64 / r.written_bytes.max(1) as f64,
        ply_bytes as f64 / 1e6
    );
    println!(
        "  neighbour distance: input order {:.4}, Morton {:.4}, written {:.4} (sorted on {})",
        r.order.neighbour_distance_input,
        r.order.neighbour_distance_morton,
        r.order.neighbour_distance,
        r.sort_device
    );
    let steps: Vec<String> = r
        .seconds
        .iter()
        .map(|(s, t)| format!("{s} {t:.2} s"))
        .collect();
    println!("  time: {} (total {seconds:.2} s)", steps.join(", "));
}

pub fn run_decompress(a: DecompressArgs) -> Result<()> {
    let t = Instant::now();
    let cloud = splat_sogs::read_sog(&a.input)?;
    cloud.validate(&a.input).with_context(|| {
        format!(
            "{}: decoded values are not a valid model",
            a.input.display()
        )
    })?;
    splat_scene::ply::write_ply(&a.output, &cloud)?;
    println!(
        "{} Gaussians (SH degree {}) → {} in {:.2} s",
        cloud.len(),
        cloud.sh_degree,
        a.output.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
