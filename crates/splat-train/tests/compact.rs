//! Compaction on the built-in scene: a model trained with adaptive density control is
//! compacted within a 0.3 dB budget; the drop on the training views, measured here independently
//! of the report, stays within it while the model loses Gaussians; held-out views are reported.

mod common;

use common::built_in;
use splat_test_support::gpu::context;
use splat_train::compact::{CompactConfig, Quiet, compact};
use splat_train::train::{
    ResetInterval, TrainConfig, Trainer, initial_gaussians, load_views, score_views,
};
use splat_train::{Gaussians32, GpuGaussians, PhotometricLoss, Rasterizer};

fn mean_psnr(
    data: &splat_scene::dataset::Dataset,
    cloud: &splat_scene::GaussianCloud,
    test: bool,
) -> f64 {
    let ctx = context();
    let mut budget = u64::MAX;
    let views = load_views(
        ctx,
        data,
        test,
        [0.0; 3],
        splat_train::train::default_near(&data.model),
        None,
        &mut budget,
    )
    .unwrap();
    let g = GpuGaussians::upload(ctx, &Gaussians32::from_cloud(cloud)).unwrap();
    let scores = score_views(
        ctx,
        &Rasterizer::new(ctx).unwrap(),
        &PhotometricLoss::new(ctx).unwrap(),
        &g,
        &views,
    )
    .unwrap();
    scores.iter().map(|s| s.psnr).sum::<f64>() / scores.len() as f64
}

#[test]
fn compaction_keeps_the_training_views_within_the_budget_with_fewer_gaussians() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 24, 64, 48, 3000);
    let steps = 600;
    let cfg = TrainConfig {
        steps,
        seed: 3,
        ..TrainConfig::default()
    }
    .with_schedule_scaled(
        f64::from(steps) / f64::from(TrainConfig::default().steps),
        ResetInterval::Kept,
    );
    let init = initial_gaussians(&data.model, cfg.max_sh_degree, cfg.seed, None);
    let mut t = Trainer::new(context(), &data, &init, cfg).unwrap();
    for _ in 0..steps {
        t.step(false).unwrap();
    }
    let model = t.download().unwrap();
    drop(t);

    let cfg = CompactConfig {
        fine_tune_steps: 150,
        seed: 3,
        ..CompactConfig::default()
    };
    let (small, report) = compact(context(), &data, &model, &cfg, &Quiet).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());

    let before = mean_psnr(&data, &model, false);
    let after = mean_psnr(&data, &small, false);
    assert!(report.compacted, "{report:?}");
    assert!(
        before - after <= cfg.max_psnr_drop + 1e-9,
        "training views: {before:.3} → {after:.3} dB, over the {} dB budget",
        cfg.max_psnr_drop
    );
    assert!((report.train_psnr_before - before).abs() < 1e-6);
    assert!((report.train_psnr_after - after).abs() < 1e-6);
    assert!(
        small.len() * 10 < model.len() * 9,
        "{} of {} Gaussians kept: at least a tenth must go",
        small.len(),
        model.len()
    );
    assert_eq!(small.len(), report.gaussians_after);
    assert_eq!(small.sh_degree, report.sh_degree_after);
    // Held-out views are scored and reported (not used to choose).
    let test_after = mean_psnr(&data, &small, true);
    assert!((report.test_psnr_after.unwrap() - test_after).abs() < 1e-6);
    // Without the compressor's settings there is no file to score.
    assert!(report.test_psnr_file.is_none());
    assert_eq!(report.test_views, data.test_images().len());
}

/// A budget of zero with no fine-tune keeps nothing the training views would miss: either the
/// model comes back as given or the drop is not positive.
#[test]
fn a_zero_budget_never_loses_psnr() {
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 48, 36, 600);
    let init = initial_gaussians(&data.model, 1, 5, None);
    let model = init.to_cloud();
    let cfg = CompactConfig {
        max_psnr_drop: 0.0,
        fine_tune_steps: 0,
        max_tries: 2,
        ..CompactConfig::default()
    };
    let (small, report) = compact(context(), &data, &model, &cfg, &Quiet).unwrap();
    let before = mean_psnr(&data, &model, false);
    let after = mean_psnr(&data, &small, false);
    assert!(after >= before - 1e-9, "{before} → {after}: {report:?}");
    if !report.compacted {
        assert_eq!(small, model);
    }
}

/// With the compressor's settings, compaction also picks the SH palette: the fewest centroids
/// (64·2^k below SOG's rule) whose decoded file stays within the budget on the training views.
/// Checked here by decoding the chosen file (palette, position precision and SH codebook
/// levels) again and scoring it independently. (The built-in
/// scene has no view-dependent colour, so noise in the higher bands only costs PSNR and the
/// smallest palette fits; the search's minimality is `compact`'s unit test.)
#[test]
fn the_palette_chosen_keeps_the_decoded_file_within_the_budget() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let data = built_in(dir.path(), 12, 48, 36, 3000);
    let mut init = initial_gaussians(&data.model, 3, 5, None);
    let mut r = rand_pcg::Pcg64::seed_from_u64(8);
    let k = splat_train::sh::coeff_count(3);
    for i in 0..init.len() {
        for c in 3..k * 3 {
            init.sh[i * k * 3 + c] = r.random_range(-0.4..0.4);
        }
    }
    let model = init.to_cloud();
    let opts = splat_sogs::CompressOptions::default();
    let cfg = CompactConfig {
        max_psnr_drop: 0.3,
        fine_tune_steps: 0,
        max_tries: 1,
        compress: Some(opts.clone()),
        ..CompactConfig::default()
    };
    let (small, report) = compact(context(), &data, &model, &cfg, &Quiet).unwrap();
    eprintln!(
        "palette {:?} (rule {}), tries {:?}; {} → {} Gaussians at SH degree {}",
        report.palette_size,
        report.palette_size_rule,
        report.palette_tries,
        report.gaussians_before,
        report.gaussians_after,
        report.sh_degree_after
    );
    assert!(small.sh_degree > 0, "{report:?}");
    assert_eq!(
        report.palette_size_rule,
        splat_sogs::kmeans::palette_size(small.len())
    );
    let chosen = report.palette_size.expect("a smaller palette fits");
    assert!(chosen < report.palette_size_rule);
    let importance = report.importance.as_ref().expect("weights for the palette");
    assert_eq!(importance.0.len(), small.len());
    assert!(importance.0.iter().all(|w| w.is_finite() && *w >= 0.0));
    let before = mean_psnr(&data, &model, false);
    let decoded = splat_sogs::decoded_on(
        &small,
        &splat_sogs::CompressOptions {
            palette_size: Some(chosen),
            position_bits: report.position_bits,
            sh_levels: report.sh_levels,
            // The palette weighs each Gaussian by its blending weight over the training views.
            importance: report.importance.clone(),
            ..opts
        },
        None,
    )
    .unwrap();
    let drop = before - mean_psnr(&data, &decoded, false);
    assert!(
        drop <= cfg.max_psnr_drop + 1e-6,
        "the file with {chosen} centroids loses {drop:.3} dB"
    );
    // The held-out PSNR reported for the file is that of this decoded file.
    let file_test = mean_psnr(&data, &decoded, true);
    let reported = report.test_psnr_file.expect("held-out views were scored");
    assert!(
        (reported - file_test).abs() < 1e-6,
        "{reported} against {file_test}"
    );
    let tried = report.palette_tries.iter().find(|t| t.0 == chosen);
    assert!((tried.expect("the chosen size was tried").1 - drop).abs() < 1e-6);
    // Position precision was chosen first, within its share of the budget.
    assert!(!report.position_tries.is_empty());
    assert!((8..=16).contains(&report.position_bits));
    if report.position_bits < 16 {
        let t = report
            .position_tries
            .iter()
            .find(|t| t.0 == report.position_bits);
        assert!(t.expect("the chosen precision was tried").1 <= 0.25 * cfg.max_psnr_drop);
    }
    // So were the SH codebook's levels, with the positions as chosen.
    assert!(!report.sh_level_tries.is_empty());
    if report.sh_levels < 256 {
        let t = report
            .sh_level_tries
            .iter()
            .find(|t| t.0 == report.sh_levels);
        assert!(t.expect("the chosen levels were tried").1 <= 0.25 * cfg.max_psnr_drop);
    }
}
