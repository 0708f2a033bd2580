//! The forward pass: per-view parameters, the frame's GPU buffers (`Frame`, reused across
//! frames) and the kernels from projection to the rasterized tiles.

use super::{Rasterizer, TileBounds};
use crate::constants::FOV_CLAMP;
use crate::model::GpuGaussians;
use crate::sh::coeff_count;
use crate::view::View;
use splat_gpu::{
    GpuContext, GpuError, SortKeys, StructLayout, bits_in_use, readback, readback_at, reuse_buffer,
    storage_buffer, storage_buffer_zeroed, wgsl_layout,
};

/// What a frame's RGBA image is called in a `TooLarge` error: its size is the view's, not the
/// model's, so training names `--resolution` for it (`TrainError::FrameTooLarge`).
pub const FRAME_IMAGE: &str = "the frame's RGBA image";

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ViewParams {
    rot0: [f32; 4],
    rot1: [f32; 4],
    rot2: [f32; 4],
    campos: [f32; 4],
    background: [f32; 4],
    focal: [f32; 4],
    limits: [f32; 4],
    size: [u32; 4],
    counts: [u32; 4],
}

fn view_params(view: &View, n: u32, sh_coeffs: u32, keys: u32, bounds: TileBounds) -> ViewParams {
    let r = view.rotation;
    let t = view.translation;
    let c = view.camera_centre();
    let (tx, ty) = view.tiles();
    let row = |i: usize| {
        [
            r[(i, 0)] as f32,
            r[(i, 1)] as f32,
            r[(i, 2)] as f32,
            t[i] as f32,
        ]
    };
    ViewParams {
        rot0: row(0),
        rot1: row(1),
        rot2: row(2),
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
        counts: [n, sh_coeffs, keys, bounds as u32],
    }
}

/// `ViewParams` as the shaders must declare it.
pub(super) fn view_params_layout() -> StructLayout {
    wgsl_layout!(ViewParams as "ViewParams" {
        rot0, rot1, rot2, campos, background, focal, limits, size, counts
    })
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

impl Rasterizer {
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
        // The RGBA f32 image is the largest per-pixel buffer: a clear error before any work.
        ctx.check_binding(FRAME_IMAGE, pixels * 16)?;
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
        let params = storage_buffer(ctx, "view", &[view_params(view, n, coeffs, 0, self.bounds)]);
        let bind = self.project.bind(
            ctx,
            &[
                ("view", &params),
                ("means", &g.means),
                ("log_scales", &g.log_scales),
                ("quats", &g.quats),
                ("opacities", &g.opacities),
                ("sh0", &g.sh[0]),
                ("xy_depth", &xy_depth),
                ("conic_opacity", &conic),
                ("colors", &colors),
                ("rects", &rects),
                ("touched", &touched),
                ("depth_keys", &depth_keys),
                ("sh1", &g.sh[1]),
                ("sh2", &g.sh[2]),
                ("sh3", &g.sh[3]),
                ("depth_order", &depth_order),
            ],
        );
        let mut enc = ctx.encoder("forward: project");
        self.project.dispatch_items(ctx, &mut enc, &bind, n);
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
        let counts = self.rank_counts.bind(
            ctx,
            &[
                ("view", &params),
                ("touched", &touched),
                ("depth_order", &depth_order),
                ("rank_offsets", &rank_offsets),
            ],
        );
        self.rank_counts
            .dispatch_items(ctx, &mut enc, &counts, n + 1);
        let plan = self.scan.plan(ctx, &rank_offsets, n + 1);
        self.scan.encode(ctx, &mut enc, &plan);
        ctx.queue.submit([enc.finish()]);
        let total = readback_at::<u32>(ctx, &rank_offsets, n as usize, 1)?[0];
        self.mark(ctx, None, "scan + key count")?;
        ctx.check_binding("the frame's tile/Gaussian key list", u64::from(total) * 4)?;

        // Pass 2: keys, sort, ranges, rasterize.
        let params = storage_buffer(
            ctx,
            "view",
            &[view_params(view, n, coeffs, total, self.bounds)],
        );
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
        let emit = self.emit.bind(
            ctx,
            &[
                ("view", &params),
                ("rects", &rects),
                ("touched", &touched),
                ("key_tiles", &key_tiles),
                ("key_values", &values),
                ("owner", &owner),
                ("depth_order", &depth_order),
                ("rank_offsets", &rank_offsets),
            ],
        );
        self.emit.dispatch_items(ctx, &mut enc, &emit, n);
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
        let rb = self.ranges.bind(
            ctx,
            &[
                ("view", &params),
                ("key_tiles", &key_tiles),
                ("ranges", &ranges),
            ],
        );
        self.ranges.dispatch_items(ctx, &mut enc, &rb, total);
        self.mark(ctx, Some(&mut enc), "tile_ranges")?;
        let raster = self.raster.bind(
            ctx,
            &[
                ("view", &params),
                ("xy_depth", &xy_depth),
                ("conic_opacity", &conic),
                ("colors", &colors),
                ("key_values", &values),
                ("ranges", &ranges),
                ("out_color", &out_color),
                ("out_last", &out_last),
                ("out_depth", &out_depth),
                ("owner", &owner),
            ],
        );
        self.raster
            .dispatch_grid(ctx, &mut enc, &raster, tiles_x, tiles_y);
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
    pub(super) tiles: (u32, u32),
    pub(super) params: wgpu::Buffer,
    pub(super) xy_depth: wgpu::Buffer,
    pub(super) conic: wgpu::Buffer,
    pub(super) colors: wgpu::Buffer,
    pub(super) rects: wgpu::Buffer,
    pub(super) touched: wgpu::Buffer,
    pub(super) values: wgpu::Buffer,
    pub(super) owner: wgpu::Buffer,
    pub(super) ranges: wgpu::Buffer,
    pub(super) key_tiles: wgpu::Buffer,
    pub(super) depth_keys: wgpu::Buffer,
    pub(super) depth_order: wgpu::Buffer,
    pub(super) rank_offsets: wgpu::Buffer,
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
