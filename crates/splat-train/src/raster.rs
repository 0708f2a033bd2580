//! The GPU tile rasterizer: host side of `shaders/rasterize_forward.wgsl`.
//!
//! One frame: project every Gaussian → radix sort of the Gaussians by depth → exclusive scan of
//! the tiles each covers, in depth order → emit one (tile, id) key per covered tile, front to
//! back → stable radix sort of the keys on the tile bits only → per-tile ranges → rasterize each
//! 16×16 tile. Sorting depth once per Gaussian and then only the tile bits per key gives the
//! order one sort of (tile, depth) keys would (ties by Gaussian id), for about a third of the
//! element passes. The only mid-frame readback is the key count (4 bytes), needed to size the
//! key buffers.

use crate::reference::{FOV_CLAMP, Gaussians};
use crate::sh::coeff_count;
use crate::view::View;
use gpu::{
    GpuContext, GpuError, PrefixScan, RadixSort, SortKeys, bits_in_use, readback, reuse_buffer,
    storage_buffer, storage_buffer_zeroed,
};
use scene::GaussianCloud;

/// WGSL source of the forward kernels (the shared definitions, then the kernels).
pub const FORWARD_WGSL: &str = concat!(
    include_str!("../../../shaders/rasterize_common.wgsl"),
    include_str!("../../../shaders/rasterize_forward.wgsl")
);
/// WGSL source of the backward kernels.
pub const BACKWARD_WGSL: &str = concat!(
    include_str!("../../../shaders/rasterize_common.wgsl"),
    include_str!("../../../shaders/rasterize_backward.wgsl")
);

/// WGSL source of the backward kernels plus the tile pass with subgroup sums (needs the device's
/// SUBGROUP feature; Naga takes subgroup built-ins without WGSL's `enable subgroups;`, which it
/// rejects as not yet implemented).
pub const BACKWARD_SUBGROUP_WGSL: &str = concat!(
    include_str!("../../../shaders/rasterize_common.wgsl"),
    include_str!("../../../shaders/rasterize_backward.wgsl"),
    include_str!("../../../shaders/rasterize_backward_subgroup.wgsl")
);

/// Which kernel sums the per-pixel gradients over a tile in the backward pass. Both give the
/// same gradients up to float summation order, and each is deterministic on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileReduction {
    /// Eight pixels per invocation summed in registers, subgroup adds over the 32 invocations,
    /// then the subgroups' partial sums every few keys: fewer barriers, no serial loops and an
    /// eighth of the cross-invocation sums. Needs subgroups of at least 8 invocations (the
    /// shader sizes its workgroup memory for at most 4 subgroups) and 13 KiB of workgroup memory.
    Subgroup,
    /// Per key, row sums then the tile sum in workgroup memory: core WebGPU only.
    Portable,
}

impl TileReduction {
    /// The fastest variant `ctx` can run.
    pub fn best(ctx: &GpuContext) -> Self {
        let room = ctx.limits.max_compute_workgroup_storage_size >= 13 * 1024;
        match ctx.subgroups() {
            Some((min, _)) if min >= 8 && room => Self::Subgroup,
            _ => Self::Portable,
        }
    }
}

/// Gaussians in f32 in the layout of the GPU buffers (SH coefficient-major, then channel).
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussians32 {
    pub sh_degree: u32,
    pub means: Vec<f32>,
    pub log_scales: Vec<f32>,
    pub quats: Vec<f32>,
    pub opacities: Vec<f32>,
    pub sh: Vec<f32>,
}

impl Gaussians32 {
    pub fn len(&self) -> usize {
        self.opacities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.opacities.is_empty()
    }

    /// From a PLY cloud (its f_rest is channel-major).
    pub fn from_cloud(c: &GaussianCloud) -> Self {
        let k = coeff_count(c.sh_degree);
        let rest = k - 1;
        let mut sh = Vec::with_capacity(c.len() * k * 3);
        for i in 0..c.len() {
            sh.extend_from_slice(&c.sh_dc[i]);
            for j in 0..rest {
                for ch in 0..3 {
                    sh.push(c.sh_rest[i * 3 * rest + ch * rest + j]);
                }
            }
        }
        Self {
            sh_degree: c.sh_degree,
            means: c.means.iter().flatten().copied().collect(),
            log_scales: c.log_scales.iter().flatten().copied().collect(),
            quats: c.rotations.iter().flatten().copied().collect(),
            opacities: c.opacity.clone(),
            sh,
        }
    }

    /// As a PLY cloud (inverse of `from_cloud`).
    pub fn to_cloud(&self) -> GaussianCloud {
        let n = self.len();
        let k = coeff_count(self.sh_degree);
        let rest = k - 1;
        let mut sh_dc = Vec::with_capacity(n);
        let mut sh_rest = vec![0.0f32; n * rest * 3];
        for i in 0..n {
            let c = &self.sh[i * k * 3..(i + 1) * k * 3];
            sh_dc.push([c[0], c[1], c[2]]);
            for j in 0..rest {
                for ch in 0..3 {
                    sh_rest[i * 3 * rest + ch * rest + j] = c[(j + 1) * 3 + ch];
                }
            }
        }
        let arrays = |v: &[f32]| v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        GaussianCloud {
            sh_degree: self.sh_degree,
            means: arrays(&self.means),
            sh_dc,
            sh_rest,
            opacity: self.opacities.clone(),
            log_scales: arrays(&self.log_scales),
            rotations: self
                .quats
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
        }
    }

    /// The same values in f64, for the reference.
    pub fn to_reference(&self) -> Gaussians {
        let f = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        let three = |v: &[f32]| {
            v.chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]].map(f64::from))
                .collect()
        };
        Gaussians {
            sh_degree: self.sh_degree,
            means: three(&self.means),
            log_scales: three(&self.log_scales),
            quats: self
                .quats
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]].map(f64::from))
                .collect(),
            opacities: f(&self.opacities),
            sh: f(&self.sh),
        }
    }
}

/// Coefficients per SH band: 1, 3, 5, 7.
const BAND_COEFFS: [usize; 4] = [1, 3, 5, 7];

/// Splits coefficient-major SH (`n × K × 3`) into one array per band (`n × (2b+1) × 3`);
/// bands above the degree are empty.
fn split_bands(sh: &[f32], n: usize, degree: u32) -> [Vec<f32>; 4] {
    let k = coeff_count(degree);
    let mut out: [Vec<f32>; 4] = Default::default();
    let mut first = 0;
    for (b, &nb) in BAND_COEFFS.iter().enumerate() {
        if first + nb > k {
            break;
        }
        out[b] = (0..n)
            .flat_map(|i| {
                sh[(i * k + first) * 3..(i * k + first + nb) * 3]
                    .iter()
                    .copied()
            })
            .collect();
        first += nb;
    }
    out
}

/// Inverse of `split_bands`.
fn merge_bands(bands: &[Vec<f32>; 4], n: usize, degree: u32) -> Vec<f32> {
    let k = coeff_count(degree);
    let mut sh = vec![0.0; n * k * 3];
    let mut first = 0;
    for (b, &nb) in BAND_COEFFS.iter().enumerate() {
        if first + nb > k {
            break;
        }
        for i in 0..n {
            sh[(i * k + first) * 3..(i * k + first + nb) * 3]
                .copy_from_slice(&bands[b][i * nb * 3..(i + 1) * nb * 3]);
        }
        first += nb;
    }
    sh
}

/// Gaussian parameters resident on the GPU.
pub struct GpuGaussians {
    pub count: u32,
    /// The degree the SH buffers hold.
    pub sh_degree: u32,
    /// The degree rendering uses (training raises it over time); at most `sh_degree`.
    active_sh_degree: u32,
    pub means: wgpu::Buffer,
    pub log_scales: wgpu::Buffer,
    pub quats: wgpu::Buffer,
    pub opacities: wgpu::Buffer,
    /// SH coefficients, one buffer per band (see `split_bands`).
    pub sh: [wgpu::Buffer; 4],
}

impl GpuGaussians {
    /// Renders (and differentiates) with SH up to `degree` only (clamped to the stored degree);
    /// higher coefficients get zero gradient.
    pub fn set_active_sh_degree(&mut self, degree: u32) {
        self.active_sh_degree = degree.min(self.sh_degree);
    }

    pub fn active_sh_degree(&self) -> u32 {
        self.active_sh_degree
    }

    /// Uploads the parameters; fails with a clear error when an array is larger than the
    /// device allows in one binding (lavapipe: 128 MiB, i.e. ~700k Gaussians at SH degree 3).
    pub fn upload(ctx: &GpuContext, g: &Gaussians32) -> Result<Self, GpuError> {
        for (what, len) in [
            ("Gaussian means", g.means.len()),
            ("Gaussian rotations", g.quats.len()),
            (
                "Gaussian SH coefficients of one band",
                3 * (2 * g.sh_degree as usize + 1) * g.len(),
            ),
        ] {
            ctx.check_binding(what, len as u64 * 4)?;
        }
        ctx.checked("uploading Gaussians", || {
            Ok(Self {
                count: g.len() as u32,
                sh_degree: g.sh_degree,
                active_sh_degree: g.sh_degree,
                means: storage_buffer(ctx, "means", &g.means),
                log_scales: storage_buffer(ctx, "log_scales", &g.log_scales),
                quats: storage_buffer(ctx, "quats", &g.quats),
                opacities: storage_buffer(ctx, "opacities", &g.opacities),
                sh: split_bands(&g.sh, g.len(), g.sh_degree)
                    .map(|band| storage_buffer(ctx, "sh band", &band)),
            })
        })
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ViewParams {
    rot: [[f32; 4]; 3],
    campos: [f32; 4],
    background: [f32; 4],
    focal: [f32; 4],
    limits: [f32; 4],
    size: [u32; 4],
    counts: [u32; 4],
}

fn view_params(view: &View, n: u32, sh_coeffs: u32, keys: u32) -> ViewParams {
    let r = view.rotation;
    let t = view.translation;
    let c = view.camera_centre();
    let (tx, ty) = view.tiles();
    ViewParams {
        rot: [0, 1, 2].map(|i| {
            [
                r[(i, 0)] as f32,
                r[(i, 1)] as f32,
                r[(i, 2)] as f32,
                t[i] as f32,
            ]
        }),
        campos: [c.x as f32, c.y as f32, c.z as f32, 0.0],
        background: [
            view.background[0] as f32,
            view.background[1] as f32,
            view.background[2] as f32,
            0.0,
        ],
        focal: [
            view.fx as f32,
            view.fy as f32,
            view.cx as f32,
            view.cy as f32,
        ],
        limits: [
            (FOV_CLAMP * f64::from(view.width) / (2.0 * view.fx)) as f32,
            (FOV_CLAMP * f64::from(view.height) / (2.0 * view.fy)) as f32,
            view.near as f32,
            0.0,
        ],
        size: [view.width, view.height, tx, ty],
        counts: [n, sh_coeffs, keys, 0],
    }
}

/// A rendered frame read back to the host.
#[derive(Debug, Clone)]
pub struct RenderOutput {
    pub width: u32,
    pub height: u32,
    /// Row-major RGB and accumulated alpha (1 − final transmittance).
    pub color: Vec<[f32; 4]>,
    /// Expected depth Σ zᵢ αᵢ Tᵢ.
    pub depth: Vec<f32>,
    /// Per pixel, how many of its tile's Gaussians were visited up to the last one that
    /// contributed (the backward pass starts there).
    pub last: Vec<u32>,
    /// (tile, Gaussian) pairs sorted this frame.
    pub keys: u32,
}

/// The compiled forward kernels.
pub struct Rasterizer {
    project: wgpu::ComputePipeline,
    rank_counts: wgpu::ComputePipeline,
    emit: wgpu::ComputePipeline,
    ranges: wgpu::ComputePipeline,
    raster: wgpu::ComputePipeline,
    raster_backward: wgpu::ComputePipeline,
    reduction: TileReduction,
    project_backward: wgpu::ComputePipeline,
    scan: PrefixScan,
    sort: RadixSort,
    /// When profiling: the end of the last timed stage and the stages timed so far.
    profile: std::sync::Mutex<Option<Profile>>,
}

/// Wall time per stage, measured by submitting and waiting after each one (which itself costs
/// time; use only to see where the time goes).
#[derive(Debug, Clone)]
pub struct Profile {
    last: std::time::Instant,
    pub stages: Vec<(&'static str, f64)>,
}

const WORKGROUP: u32 = 256;

impl Rasterizer {
    /// The rasterizer with the fastest backward tile pass the device supports.
    pub fn new(ctx: &GpuContext) -> Self {
        Self::with_reduction(ctx, TileReduction::best(ctx))
    }

    /// The rasterizer with a chosen backward tile pass (tests compare the two).
    pub fn with_reduction(ctx: &GpuContext, reduction: TileReduction) -> Self {
        let raster_backward = match reduction {
            TileReduction::Subgroup => ctx.compute_pipeline(
                "rasterize_backward_subgroup",
                BACKWARD_SUBGROUP_WGSL,
                "rasterize_backward_subgroup",
            ),
            TileReduction::Portable => {
                ctx.compute_pipeline("rasterize_backward", BACKWARD_WGSL, "rasterize_backward")
            }
        };
        Self {
            project: ctx.compute_pipeline("project", FORWARD_WGSL, "project"),
            rank_counts: ctx.compute_pipeline("rank_counts", FORWARD_WGSL, "rank_counts"),
            emit: ctx.compute_pipeline("emit_keys", FORWARD_WGSL, "emit_keys"),
            ranges: ctx.compute_pipeline("tile_ranges", FORWARD_WGSL, "tile_ranges"),
            raster: ctx.compute_pipeline("rasterize", FORWARD_WGSL, "rasterize"),
            raster_backward,
            reduction,
            project_backward: ctx.compute_pipeline(
                "project_backward",
                BACKWARD_WGSL,
                "project_backward",
            ),
            scan: PrefixScan::new(ctx),
            sort: RadixSort::new(ctx),
            profile: std::sync::Mutex::new(None),
        }
    }

    /// The backward tile pass in use.
    pub fn reduction(&self) -> TileReduction {
        self.reduction
    }

    /// Starts (or stops) timing each stage of later calls.
    pub fn set_profiling(&self, on: bool) {
        let mut p = self.profile.lock().unwrap_or_else(|e| e.into_inner());
        *p = on.then(|| Profile {
            last: std::time::Instant::now(),
            stages: Vec::new(),
        });
    }

    /// The stages timed since profiling started or was last taken.
    pub fn take_profile(&self) -> Vec<(&'static str, f64)> {
        let mut p = self.profile.lock().unwrap_or_else(|e| e.into_inner());
        p.as_mut()
            .map(|p| std::mem::take(&mut p.stages))
            .unwrap_or_default()
    }

    fn restart_clock(&self) {
        if let Some(p) = self
            .profile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            p.last = std::time::Instant::now();
        }
    }

    /// Ends a stage when profiling: submits what `enc` holds so far, waits for the GPU and
    /// records the time since the previous mark (the trainer marks its own stages here too).
    pub(crate) fn mark(
        &self,
        ctx: &GpuContext,
        enc: Option<&mut wgpu::CommandEncoder>,
        stage: &'static str,
    ) -> Result<(), GpuError> {
        let mut guard = self.profile.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = guard.as_mut() else {
            return Ok(());
        };
        if let Some(enc) = enc {
            let done = std::mem::replace(enc, ctx.encoder(stage));
            ctx.queue.submit([done.finish()]);
        }
        ctx.wait()?;
        let now = std::time::Instant::now();
        p.stages.push((stage, (now - p.last).as_secs_f64()));
        p.last = now;
        Ok(())
    }

    /// Renders `g` into `view` and reads the frame back.
    pub fn render(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        view: &View,
    ) -> Result<RenderOutput, GpuError> {
        self.forward(ctx, g, view)?.read(ctx)
    }

    /// Renders `g` into `view`, leaving the result on the GPU (submitted, not waited for).
    pub fn forward(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        view: &View,
    ) -> Result<Frame, GpuError> {
        let mut frame = Frame::empty(ctx);
        self.forward_into(ctx, g, view, &mut frame)?;
        Ok(frame)
    }

    /// As `forward`, reusing `frame`'s buffers where they are large enough (they grow as
    /// needed): what a loop over many frames should call.
    pub fn forward_into(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        view: &View,
        frame: &mut Frame,
    ) -> Result<(), GpuError> {
        let next = ctx.checked("rendering a frame", || {
            self.forward_unchecked(ctx, g, view, frame)
        })?;
        *frame = next;
        Ok(())
    }

    fn forward_unchecked(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        view: &View,
        cache: &mut Frame,
    ) -> Result<Frame, GpuError> {
        self.restart_clock();
        let n = g.count;
        let coeffs = coeff_count(g.active_sh_degree) as u32;
        let (tiles_x, tiles_y) = view.tiles();
        let pixels = u64::from(view.width) * u64::from(view.height);
        let n4 = u64::from(n.max(1)) * 16;
        let xy_depth = reuse_buffer(ctx, &mut cache.xy_depth, n4, "xy_depth");
        let conic = reuse_buffer(ctx, &mut cache.conic, n4, "conic_opacity");
        let colors = reuse_buffer(ctx, &mut cache.colors, n4, "colors");
        let rects = reuse_buffer(ctx, &mut cache.rects, n4, "rects");
        let n1 = u64::from(n.max(1)) * 4;
        let touched = reuse_buffer(ctx, &mut cache.touched, n1, "touched");
        let depth_keys = reuse_buffer(ctx, &mut cache.depth_keys, n1, "depth_keys");
        let depth_order = reuse_buffer(ctx, &mut cache.depth_order, n1, "depth_order");
        let rank_offsets = reuse_buffer(
            ctx,
            &mut cache.rank_offsets,
            u64::from(n + 1) * 4,
            "rank_offsets",
        );

        // Pass 1: project, sort by depth, scan the tile counts in depth order.
        let params = storage_buffer(ctx, "view", &[view_params(view, n, coeffs, 0)]);
        let bind = ctx.bind_group_at(
            "project",
            &self.project,
            &[
                (0, &params),
                (1, &g.means),
                (2, &g.log_scales),
                (3, &g.quats),
                (4, &g.opacities),
                (5, &g.sh[0]),
                (6, &xy_depth),
                (7, &conic),
                (8, &colors),
                (9, &rects),
                (10, &touched),
                (11, &depth_keys),
                (23, &g.sh[1]),
                (24, &g.sh[2]),
                (25, &g.sh[3]),
                (26, &depth_order),
            ],
        );
        let mut enc = ctx.encoder("forward: project");
        ctx.dispatch(&mut enc, &self.project, &bind, n.div_ceil(WORKGROUP));
        self.mark(ctx, Some(&mut enc), "project")?;
        self.sort.encode(
            ctx,
            &mut enc,
            SortKeys::U32(&depth_keys),
            &depth_order,
            n,
            32,
        )?;
        self.mark(ctx, Some(&mut enc), "depth sort")?;
        let counts = ctx.bind_group_at(
            "rank_counts",
            &self.rank_counts,
            &[
                (0, &params),
                (10, &touched),
                (26, &depth_order),
                (27, &rank_offsets),
            ],
        );
        ctx.dispatch(
            &mut enc,
            &self.rank_counts,
            &counts,
            (n + 1).div_ceil(WORKGROUP),
        );
        let plan = self.scan.plan(ctx, &rank_offsets, n + 1);
        self.scan.encode(ctx, &mut enc, &plan);
        ctx.queue.submit([enc.finish()]);
        let total = readback::<u32>(ctx, &rank_offsets, n as usize + 1)?[n as usize];
        self.mark(ctx, None, "scan + key count")?;
        ctx.check_binding("the frame's tile/Gaussian key list", u64::from(total) * 4)?;

        // Pass 2: keys, sort, ranges, rasterize.
        let params = storage_buffer(ctx, "view", &[view_params(view, n, coeffs, total)]);
        let key_tiles = reuse_buffer(ctx, &mut cache.key_tiles, u64::from(total) * 4, "key_tiles");
        let values = reuse_buffer(ctx, &mut cache.values, u64::from(total) * 4, "key_values");
        let ranges = reuse_buffer(
            ctx,
            &mut cache.ranges,
            u64::from(tiles_x * tiles_y) * 8,
            "ranges",
        );
        let out_color = reuse_buffer(ctx, &mut cache.out_color, pixels * 16, "out_color");
        let out_last = reuse_buffer(ctx, &mut cache.out_last, pixels * 4, "out_last");
        let out_depth = reuse_buffer(ctx, &mut cache.out_depth, pixels * 4, "out_depth");
        let mut enc = ctx.encoder("forward: raster");
        // Tiles no key lands on keep an empty range.
        enc.clear_buffer(&ranges, 0, None);
        let owner = reuse_buffer(ctx, &mut cache.owner, u64::from(total) * 4, "owner");
        let emit = ctx.bind_group_at(
            "emit",
            &self.emit,
            &[
                (0, &params),
                (9, &rects),
                (10, &touched),
                (12, &key_tiles),
                (13, &values),
                (18, &owner),
                (26, &depth_order),
                (27, &rank_offsets),
            ],
        );
        ctx.dispatch(&mut enc, &self.emit, &emit, n.div_ceil(WORKGROUP));
        self.mark(ctx, Some(&mut enc), "emit_keys")?;
        let tile_bits = bits_in_use(u64::from(tiles_x * tiles_y).saturating_sub(1));
        self.sort.encode(
            ctx,
            &mut enc,
            SortKeys::U32(&key_tiles),
            &values,
            total,
            tile_bits,
        )?;
        self.mark(ctx, Some(&mut enc), "tile sort")?;
        let rb = ctx.bind_group_at(
            "ranges",
            &self.ranges,
            &[(0, &params), (12, &key_tiles), (14, &ranges)],
        );
        ctx.dispatch(&mut enc, &self.ranges, &rb, total.div_ceil(WORKGROUP));
        self.mark(ctx, Some(&mut enc), "tile_ranges")?;
        let raster = ctx.bind_group_at(
            "rasterize",
            &self.raster,
            &[
                (0, &params),
                (6, &xy_depth),
                (7, &conic),
                (8, &colors),
                (13, &values),
                (14, &ranges),
                (15, &out_color),
                (16, &out_last),
                (17, &out_depth),
                (18, &owner),
            ],
        );
        ctx.dispatch_grid(&mut enc, &self.raster, &raster, tiles_x, tiles_y);
        ctx.queue.submit([enc.finish()]);
        self.mark(ctx, None, "rasterize")?;
        Ok(Frame {
            width: view.width,
            height: view.height,
            tiles: (tiles_x, tiles_y),
            keys: total,
            out_color,
            out_depth,
            out_last,
            params,
            xy_depth,
            conic,
            colors,
            rects,
            touched,
            values,
            owner,
            ranges,
            key_tiles,
            depth_keys,
            depth_order,
            rank_offsets,
        })
    }
}

/// A frame rendered on the GPU.
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// (tile, Gaussian) pairs sorted this frame.
    pub keys: u32,
    /// RGB + accumulated alpha per pixel.
    pub out_color: wgpu::Buffer,
    pub out_depth: wgpu::Buffer,
    pub out_last: wgpu::Buffer,
    tiles: (u32, u32),
    params: wgpu::Buffer,
    xy_depth: wgpu::Buffer,
    conic: wgpu::Buffer,
    colors: wgpu::Buffer,
    rects: wgpu::Buffer,
    touched: wgpu::Buffer,
    values: wgpu::Buffer,
    owner: wgpu::Buffer,
    ranges: wgpu::Buffer,
    key_tiles: wgpu::Buffer,
    depth_keys: wgpu::Buffer,
    depth_order: wgpu::Buffer,
    rank_offsets: wgpu::Buffer,
}

impl Frame {
    /// A frame with no buffers yet, for `Rasterizer::forward_into` to fill.
    pub fn empty(ctx: &GpuContext) -> Self {
        let b = |label| storage_buffer_zeroed(ctx, label, 4);
        Self {
            width: 0,
            height: 0,
            keys: 0,
            out_color: b("out_color"),
            out_depth: b("out_depth"),
            out_last: b("out_last"),
            tiles: (0, 0),
            params: b("params placeholder"),
            xy_depth: b("xy_depth"),
            conic: b("conic_opacity"),
            colors: b("colors"),
            rects: b("rects"),
            touched: b("touched"),
            values: b("key_values"),
            owner: b("owner"),
            ranges: b("ranges"),
            key_tiles: b("key_tiles"),
            depth_keys: b("depth_keys"),
            depth_order: b("depth_order"),
            rank_offsets: b("rank_offsets"),
        }
    }

    /// Per Gaussian: screen mean xy, depth and radius (valid where `rects` is non-empty).
    pub fn xy_depth_radius(&self) -> &wgpu::Buffer {
        &self.xy_depth
    }

    /// Per Gaussian: the tile rectangle it covers, empty (all zero) when culled.
    pub fn tile_rects(&self) -> &wgpu::Buffer {
        &self.rects
    }

    /// Reads only the colour back (RGB + accumulated alpha per pixel; blocking).
    pub fn read_color(&self, ctx: &GpuContext) -> Result<Vec<[f32; 4]>, GpuError> {
        readback(
            ctx,
            &self.out_color,
            self.width as usize * self.height as usize,
        )
    }

    /// Reads the frame back to the host (blocking).
    pub fn read(&self, ctx: &GpuContext) -> Result<RenderOutput, GpuError> {
        let pixels = self.width as usize * self.height as usize;
        Ok(RenderOutput {
            width: self.width,
            height: self.height,
            color: self.read_color(ctx)?,
            depth: readback(ctx, &self.out_depth, pixels)?,
            last: readback(ctx, &self.out_last, pixels)?,
            keys: self.keys,
        })
    }
}

impl GpuGaussians {
    /// Reads every parameter back to the host (blocking).
    pub fn read(&self, ctx: &GpuContext) -> Result<Gaussians32, GpuError> {
        let n = self.count as usize;
        let mut bands: [Vec<f32>; 4] = Default::default();
        for (b, band) in bands
            .iter_mut()
            .enumerate()
            .take(self.sh_degree as usize + 1)
        {
            *band = readback(ctx, &self.sh[b], n * BAND_COEFFS[b] * 3)?;
        }
        Ok(Gaussians32 {
            sh_degree: self.sh_degree,
            means: readback(ctx, &self.means, n * 3)?,
            log_scales: readback(ctx, &self.log_scales, n * 3)?,
            quats: readback(ctx, &self.quats, n * 4)?,
            opacities: readback(ctx, &self.opacities, n)?,
            sh: merge_bands(&bands, n, self.sh_degree),
        })
    }
}

/// Gradients on the GPU: per Gaussian 16 floats (mean xyz, log-scale xyz, quaternion wxyz,
/// opacity logit, screen-space mean xy in pixels, 2 unused) and the SH gradients per band.
pub struct GpuGrads {
    pub count: u32,
    pub sh_degree: u32,
    pub geom: wgpu::Buffer,
    /// One buffer per SH band, as `GpuGaussians::sh`.
    pub sh: [wgpu::Buffer; 4],
    /// Per-key partial sums (scratch, kept for reuse).
    key_grads: wgpu::Buffer,
}

/// Where each parameter's gradient sits in a Gaussian's 16-float record of `GpuGrads::geom`
/// (the layout `project_backward` in `rasterize_backward.wgsl` writes).
const GEOM_STRIDE: u32 = 16;
const GEOM_MEAN: usize = 0;
const GEOM_SCALE: usize = 3;
const GEOM_QUAT: usize = 6;
const GEOM_OPACITY: usize = 10;
const GEOM_MEAN2D: usize = 12;

/// One optimisable parameter array of the Gaussians and where its gradient lives.
#[derive(Clone, Copy)]
pub struct ParamGroup<'a> {
    pub param: &'a wgpu::Buffer,
    pub grad: &'a wgpu::Buffer,
    pub layout: crate::optim::GradLayout,
    /// Rows (Gaussians; 0 for SH bands above the stored degree) and floats per row.
    pub rows: u32,
    pub dim: u32,
}

impl GpuGaussians {
    /// The eight parameter groups in a fixed order — means, log-scales, rotations, opacity
    /// logits, SH bands 0–3 — each paired with its gradient in `grads`.
    pub fn param_groups<'a>(&'a self, grads: &'a GpuGrads) -> [ParamGroup<'a>; 8] {
        use crate::optim::GradLayout;
        let geom = |param, offset: usize, dim| ParamGroup {
            param,
            grad: &grads.geom,
            layout: GradLayout {
                stride: GEOM_STRIDE,
                offset: offset as u32,
            },
            rows: self.count,
            dim,
        };
        let band = |b: usize| {
            let dim = 3 * BAND_COEFFS[b] as u32;
            let rows = if b <= self.sh_degree as usize {
                self.count
            } else {
                0
            };
            ParamGroup {
                param: &self.sh[b],
                grad: &grads.sh[b],
                layout: GradLayout {
                    stride: dim,
                    offset: 0,
                },
                rows,
                dim,
            }
        };
        [
            geom(&self.means, GEOM_MEAN, 3),
            geom(&self.log_scales, GEOM_SCALE, 3),
            geom(&self.quats, GEOM_QUAT, 4),
            geom(&self.opacities, GEOM_OPACITY, 1),
            band(0),
            band(1),
            band(2),
            band(3),
        ]
    }
}

/// Gradients read back to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads32 {
    pub means: Vec<[f32; 3]>,
    pub log_scales: Vec<[f32; 3]>,
    pub quats: Vec<[f32; 4]>,
    pub opacities: Vec<f32>,
    pub sh: Vec<f32>,
    /// dL/d(projected mean) in pixels, what densification accumulates.
    pub mean2d: Vec<[f32; 2]>,
}

impl GpuGrads {
    /// Gradients with no buffers yet, for `Rasterizer::backward_into` to fill.
    pub fn empty(ctx: &GpuContext) -> Self {
        let b = |label| storage_buffer_zeroed(ctx, label, 4);
        Self {
            count: 0,
            sh_degree: 0,
            geom: b("grad_geom"),
            sh: std::array::from_fn(|_| b("grad_sh band")),
            key_grads: b("key_grads"),
        }
    }

    pub fn read(&self, ctx: &GpuContext) -> Result<Grads32, GpuError> {
        let n = self.count as usize;
        let geom: Vec<[f32; 16]> = readback(ctx, &self.geom, n)?;
        Ok(Grads32 {
            means: geom
                .iter()
                .map(|g| [g[GEOM_MEAN], g[GEOM_MEAN + 1], g[GEOM_MEAN + 2]])
                .collect(),
            log_scales: geom
                .iter()
                .map(|g| [g[GEOM_SCALE], g[GEOM_SCALE + 1], g[GEOM_SCALE + 2]])
                .collect(),
            quats: geom
                .iter()
                .map(|g| {
                    [
                        g[GEOM_QUAT],
                        g[GEOM_QUAT + 1],
                        g[GEOM_QUAT + 2],
                        g[GEOM_QUAT + 3],
                    ]
                })
                .collect(),
            opacities: geom.iter().map(|g| g[GEOM_OPACITY]).collect(),
            mean2d: geom
                .iter()
                .map(|g| [g[GEOM_MEAN2D], g[GEOM_MEAN2D + 1]])
                .collect(),
            sh: {
                let k = coeff_count(self.sh_degree);
                let mut bands: [Vec<f32>; 4] = Default::default();
                let mut first = 0;
                for (b, &nb) in BAND_COEFFS.iter().enumerate() {
                    if first + nb <= k {
                        bands[b] = readback(ctx, &self.sh[b], n * nb * 3)?;
                    }
                    first += nb;
                }
                merge_bands(&bands, n, self.sh_degree)
            },
        })
    }
}

impl Rasterizer {
    /// Gradients of a loss with respect to every Gaussian parameter, given dL/d(image) and
    /// dL/d(alpha) per pixel as `[r, g, b, alpha]` in `d_image`, for a frame `forward` made of
    /// the same Gaussians. Deterministic: no float atomics, every sum in a fixed order.
    pub fn backward(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        frame: &Frame,
        d_image: &wgpu::Buffer,
    ) -> Result<GpuGrads, GpuError> {
        let mut grads = GpuGrads::empty(ctx);
        self.backward_into(ctx, g, frame, d_image, &mut grads)?;
        Ok(grads)
    }

    /// As `backward`, reusing `grads`' buffers where they are large enough.
    pub fn backward_into(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        frame: &Frame,
        d_image: &wgpu::Buffer,
        grads: &mut GpuGrads,
    ) -> Result<(), GpuError> {
        let next = ctx.checked("computing gradients", || {
            self.backward_unchecked(ctx, g, frame, d_image, grads)
        })?;
        *grads = next;
        Ok(())
    }

    fn backward_unchecked(
        &self,
        ctx: &GpuContext,
        g: &GpuGaussians,
        frame: &Frame,
        d_image: &wgpu::Buffer,
        cache: &mut GpuGrads,
    ) -> Result<GpuGrads, GpuError> {
        self.restart_clock();
        let n = g.count;
        ctx.check_binding("the frame's per-key gradients", u64::from(frame.keys) * 48)?;
        // At least one record: a binding must hold one whole element even when no key does.
        let key_grads = reuse_buffer(
            ctx,
            &mut cache.key_grads,
            u64::from(frame.keys.max(1)) * 48,
            "key_grads",
        );
        let geom = reuse_buffer(ctx, &mut cache.geom, u64::from(n) * 64, "grad_geom");
        let stored = g.sh_degree as usize;
        let sh: [wgpu::Buffer; 4] = std::array::from_fn(|b| {
            let bytes = if b <= stored {
                u64::from(n) * BAND_COEFFS[b] as u64 * 12
            } else {
                4
            };
            reuse_buffer(ctx, &mut cache.sh[b], bytes, "grad_sh band")
        });
        let mut enc = ctx.encoder("backward");
        // Keys past every pixel's last contributor and SH bands above the active degree are not
        // written by the kernels: they must read as zero.
        if frame.keys > 0 {
            enc.clear_buffer(&key_grads, 0, Some(u64::from(frame.keys) * 48));
        }
        for (b, buf) in sh.iter().enumerate().skip(g.active_sh_degree as usize + 1) {
            if b <= stored {
                enc.clear_buffer(buf, 0, Some(u64::from(n) * BAND_COEFFS[b] as u64 * 12));
            }
        }
        let rb = ctx.bind_group_at(
            "rasterize_backward",
            &self.raster_backward,
            &[
                (0, &frame.params),
                (6, &frame.xy_depth),
                (7, &frame.conic),
                (8, &frame.colors),
                (13, &frame.values),
                (14, &frame.ranges),
                (15, &frame.out_color),
                (16, &frame.out_last),
                (18, &frame.owner),
                (19, d_image),
                (20, &key_grads),
            ],
        );
        ctx.dispatch_grid(
            &mut enc,
            &self.raster_backward,
            &rb,
            frame.tiles.0,
            frame.tiles.1,
        );
        self.mark(ctx, Some(&mut enc), "rasterize_backward")?;
        let pb = ctx.bind_group_at(
            "project_backward",
            &self.project_backward,
            &[
                (0, &frame.params),
                (1, &g.means),
                (2, &g.log_scales),
                (3, &g.quats),
                (5, &g.sh[0]),
                (7, &frame.conic),
                (9, &frame.rects),
                (10, &frame.touched),
                (20, &key_grads),
                (21, &geom),
                (22, &sh[0]),
                (23, &g.sh[1]),
                (24, &g.sh[2]),
                (25, &g.sh[3]),
                (26, &sh[1]),
                (27, &sh[2]),
                (28, &sh[3]),
            ],
        );
        ctx.dispatch(&mut enc, &self.project_backward, &pb, n.div_ceil(WORKGROUP));
        ctx.queue.submit([enc.finish()]);
        self.mark(ctx, None, "project_backward")?;
        Ok(GpuGrads {
            count: n,
            sh_degree: g.sh_degree,
            geom,
            sh,
            key_grads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_split_round_trips_at_every_degree() {
        for degree in 0..=3 {
            let n = 5;
            let k = coeff_count(degree);
            let sh: Vec<f32> = (0..n * k * 3).map(|v| v as f32).collect();
            let bands = split_bands(&sh, n, degree);
            assert_eq!(bands[0].len(), n * 3);
            assert_eq!(bands.iter().map(Vec::len).sum::<usize>(), sh.len());
            // Gaussian 1's first band-1 coefficient, green channel, is coefficient 1 of the input.
            if degree >= 1 {
                assert_eq!(bands[1][3 * 3 + 1], sh[(k + 1) * 3 + 1]);
            }
            assert_eq!(merge_bands(&bands, n, degree), sh);
        }
    }
}
