//! Scoring a model on held-out views: PSNR and SSIM per view and their means.

use super::Trainer;
use super::views::TrainView;
use crate::error::TrainError;
use crate::loss::{LossEval, PhotometricLoss};
use crate::model::GpuGaussians;
use crate::raster::{Frame, Rasterizer};
use crate::view::View;
use splat_gpu::GpuContext;

/// How well a model reproduces one photo (serialised as `{"image", "psnr", "ssim"}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewScore {
    #[serde(rename = "image")]
    pub name: String,
    pub psnr: f64,
    pub ssim: f64,
}

/// Scores of a set of views and their means.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub psnr: f64,
    pub ssim: f64,
    pub views: Vec<ViewScore>,
}

impl Evaluation {
    pub fn of(views: Vec<ViewScore>) -> Self {
        let n = views.len().max(1) as f64;
        Self {
            psnr: views.iter().map(|v| v.psnr).sum::<f64>() / n,
            ssim: views.iter().map(|v| v.ssim).sum::<f64>() / n,
            views,
        }
    }
}

/// PSNR (render clamped to [0, 1]) and SSIM (11×11 Gaussian window, as the loss) of `g` on
/// each of `views` (one frame and loss buffer reused for all).
pub fn score_views<'v>(
    ctx: &GpuContext,
    raster: &Rasterizer,
    loss: &PhotometricLoss,
    g: &GpuGaussians,
    views: impl IntoIterator<Item = &'v TrainView>,
) -> Result<Vec<ViewScore>, TrainError> {
    let mut frame = Frame::empty(ctx);
    let mut eval = LossEval::empty(ctx);
    let mut scratch = splat_gpu::storage_buffer_zeroed(ctx, "target (streamed)", 4);
    views
        .into_iter()
        .map(|tv| {
            raster.forward_into(ctx, g, &tv.view, &mut frame)?;
            let size = (tv.view.width, tv.view.height);
            let target = tv.target(ctx, &mut scratch);
            loss.evaluate_into(ctx, &frame.out_color, &target, size, 0.2, &mut eval)?;
            Ok(ViewScore {
                name: tv.name.clone(),
                psnr: psnr(&frame.read_color(ctx)?, &tv.rgb()),
                ssim: eval.terms(ctx)?.ssim,
            })
        })
        .collect()
}

/// PSNR (dB) of a render against a photo, the render clamped to [0, 1].
pub fn psnr(render: &[[f32; 4]], target: &[[f32; 3]]) -> f64 {
    let mse = render
        .iter()
        .zip(target)
        .map(|(a, b)| {
            (0..3)
                .map(|c| (f64::from(a[c].clamp(0.0, 1.0)) - f64::from(b[c])).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / (3 * target.len()) as f64;
    10.0 * (1.0 / mse.max(1e-20)).log10()
}

impl Trainer<'_> {
    /// The views evaluation uses: the test views, or the training views when none is held out.
    pub fn eval_views(&self) -> &[TrainView] {
        if self.test.is_empty() {
            &self.train
        } else {
            &self.test
        }
    }

    /// Mean PSNR over the test views (the training views when there are none).
    pub fn evaluate(&self) -> Result<f64, TrainError> {
        Ok(self.evaluate_full()?.psnr)
    }

    /// PSNR and SSIM of every test view (the training views when there are none) and their means.
    pub fn evaluate_full(&self) -> Result<Evaluation, TrainError> {
        self.evaluate_full_with(&mut |_, _| {})
    }

    /// As `evaluate_full`, telling `progress` (views scored, views in all) before each view and
    /// at the end: an evaluation of many large photos takes minutes.
    pub fn evaluate_full_with(
        &self,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Evaluation, TrainError> {
        let views = self.eval_views();
        let total = views.len();
        let scores = score_views(
            self.ctx,
            &self.raster,
            &self.loss,
            &self.gaussians,
            views.iter().enumerate().map(|(k, v)| {
                progress(k, total);
                v
            }),
        )?;
        progress(total, total);
        Ok(Evaluation::of(scores))
    }

    /// Renders one view with the current model.
    pub fn render(&self, view: &View) -> Result<crate::raster::RenderOutput, TrainError> {
        Ok(self.raster.render(self.ctx, &self.gaussians, view)?)
    }
}
