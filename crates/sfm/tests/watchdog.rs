//! Time limits (issue 19): work that runs past the bound for its size is abandoned with a
//! warning that names it, and what is left is consistent: a pair abandoned in verification is
//! stored unverified, an image whose registration ran out is listed as unregistered with the
//! reason, a bundle adjustment keeps its last accepted step. The limits are set to zero here so
//! the abandonment is certain; the default limits must not change a normal run.

use nalgebra::Vector2;
use rand::{Rng, SeedableRng};
use splat_sfm::front_end::{self, FrontEndOptions, Matcher, Observer, Silent};
use splat_sfm::geometry::two_view::{self, Intrinsics, TwoViewOptions};
use splat_sfm::mapper::{MapperOptions, reconstruct};
use splat_sfm::watchdog::{Expired, TimeLimit};
use std::sync::Mutex;
mod support;

const NOW: TimeLimit = TimeLimit {
    base_s: 0.0,
    per_item_s: 0.0,
};

/// Keeps the warnings.
#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);
impl Observer for Warnings {
    fn warn(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

#[test]
fn verification_past_its_limit_is_abandoned() {
    // 200 exact correspondences of a random two-view scene.
    let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
    let k = Intrinsics {
        focal: 500.0,
        cx: 320.0,
        cy: 240.0,
        known_focal: true,
    };
    let (mut p1, mut p2) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let x = nalgebra::Vector3::new(
            rng.random_range(-2.0..2.0),
            rng.random_range(-1.5..1.5),
            rng.random_range(4.0..8.0),
        );
        let y = x - nalgebra::Vector3::new(0.5, 0.0, 0.0);
        p1.push(Vector2::new(
            500.0 * x.x / x.z + 320.0,
            500.0 * x.y / x.z + 240.0,
        ));
        p2.push(Vector2::new(
            500.0 * y.x / y.z + 320.0,
            500.0 * y.y / y.z + 240.0,
        ));
    }
    let opts = TwoViewOptions {
        time_limit: NOW,
        ..TwoViewOptions::default()
    };
    assert_eq!(
        two_view::verify(&k, &k, &p1, &p2, &opts, 1),
        Err(Expired { limit_s: 0.0 })
    );
    let g = two_view::verify(&k, &k, &p1, &p2, &TwoViewOptions::default(), 1)
        .expect("the default limit for 200 matches is 32 s");
    assert_eq!(g.inliers.len(), 200);
}

#[test]
fn the_front_end_and_the_mapper_name_what_they_abandon() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let scene = support::orbit(480, 360);
    support::render_views(&scene, &images, 6);

    // Every pair abandoned: stored unverified, reported, and a warning per pair naming it.
    let mut opts = FrontEndOptions {
        matcher: Matcher::Exhaustive,
        ..FrontEndOptions::default()
    };
    opts.two_view.time_limit = NOW;
    let warnings = Warnings::default();
    let report = front_end::run(&images, &tmp.path().join("cut.db"), &opts, &warnings).unwrap();
    assert_eq!(report.pairs.len(), 15);
    assert_eq!(report.verified_pairs, 0);
    // Pairs with too few matches to verify end before any clock starts.
    let timed: Vec<_> = report.pairs.iter().filter(|p| p.matches >= 15).collect();
    assert!(timed.len() >= 10, "{} pairs with 15 matches", timed.len());
    assert_eq!(report.verification.abandoned_pairs, timed.len());
    assert!(timed.iter().all(|p| p.abandoned && p.inliers == 0));
    let warnings = warnings.0.into_inner().unwrap();
    assert_eq!(warnings.len(), timed.len(), "{warnings:?}");
    for p in timed {
        assert!(
            warnings.iter().any(|w| w.contains(&p.image1)
                && w.contains(&p.image2)
                && w.contains("abandoned after its time limit")),
            "no warning names {} – {}: {warnings:?}",
            p.image1,
            p.image2
        );
    }
    let db = splat_sfm::database::read(&tmp.path().join("cut.db")).unwrap();
    // COLMAP reads 0 (undefined) and 1 (degenerate) as unverified.
    assert!(
        db.two_view.iter().all(|t| t.config <= 1),
        "{:?}",
        db.two_view.iter().map(|t| t.config).collect::<Vec<_>>()
    );

    // With the default limits nothing is abandoned and the pairs verify.
    let db_path = tmp.path().join("database.db");
    let report = front_end::run(&images, &db_path, &FrontEndOptions::default(), &Silent).unwrap();
    assert_eq!(report.verification.abandoned_pairs, 0);
    assert!(report.verified_pairs >= 10);
    assert!(report.pairs.iter().all(|p| p.verify_ms > 0.0));
    let db = splat_sfm::database::read(&db_path).unwrap();
    let full = reconstruct(&db, &MapperOptions::default(), &mut |_, _| {});
    assert_eq!(full[0].0.num_registered(), 6);
    assert!(full[0].1.warnings.is_empty(), "{:?}", full[0].1.warnings);

    // Registrations past their limit: the images stay out, each with the reason and a warning.
    let opts = MapperOptions {
        registration_time_limit: NOW,
        ..MapperOptions::default()
    };
    let (model, stats) = &reconstruct(&db, &opts, &mut |_, _| {})[0];
    assert_eq!(model.num_registered(), 2, "only the initial pair");
    assert_eq!(stats.unregistered.len(), 4, "{:?}", stats.unregistered);
    // An image that sees none of the pair's points is never tried; every one tried ran out.
    let tried: Vec<_> = stats
        .unregistered
        .iter()
        .filter(|(_, why)| why != "no reconstructed points seen")
        .collect();
    assert!(!tried.is_empty(), "{:?}", stats.unregistered);
    for (name, why) in tried {
        assert!(
            why.contains("abandoned after its time limit"),
            "{name}: {why}"
        );
        assert!(
            stats.warnings.iter().any(|w| w.contains(name.as_str())),
            "no warning names {name}: {:?}",
            stats.warnings
        );
    }

    // Bundle adjustments past their limit: they stop, say so, and the model stays whole.
    let opts = MapperOptions {
        bundle_time_limit: NOW,
        ..MapperOptions::default()
    };
    let (model, stats) = &reconstruct(&db, &opts, &mut |_, _| {})[0];
    assert!(model.num_registered() >= 2);
    assert!(
        stats
            .warnings
            .iter()
            .any(|w| w.starts_with("bundle adjustment of") && w.contains("time limit")),
        "{:?}",
        stats.warnings
    );
}
