//! Keeping a model consistent: filtering bad observations and points, and local and global
//! bundle adjustment of the model through `crate::bundle`.

use super::tracks::Element;
use super::triangulate::{self, Ray};
use super::{
    MIN_IMAGES_FOR_PRINCIPAL_POINT, Mapper, PrincipalPoint, PrincipalPointTest,
    principal_point_is_determined,
};
use crate::bundle::{self, Loss};
use crate::timing::timed;

impl Mapper {
    /// Filters every point of the model (`filter_points`).
    pub(super) fn filter(&mut self) -> usize {
        self.filter_points(0..self.model.points.len())
    }

    /// Drops observations of `points` that reproject badly and those points left with fewer
    /// than two observations or too small an angle; returns how many observations were
    /// dropped.
    pub(super) fn filter_points(&mut self, points: impl IntoIterator<Item = usize>) -> usize {
        let mut dropped = 0;
        for p in points {
            let Some(point) = self.model.points[p].clone() else {
                continue;
            };
            let keep: Vec<Element> = point
                .observations
                .iter()
                .copied()
                .filter(|e| {
                    self.model
                        .reprojection_error(e, &point.xyz)
                        .is_some_and(|err| err <= self.opts.max_error)
                })
                .collect();
            dropped += point.observations.len() - keep.len();
            let rays: Vec<Ray> = keep.iter().filter_map(|e| self.model.ray(e)).collect();
            let angle_ok = triangulate::max_angle(&point.xyz, &rays).to_degrees()
                >= self.opts.min_triangulation_angle;
            for e in &point.observations {
                if !keep.contains(e) || keep.len() < 2 || !angle_ok {
                    self.model.images[e.image].point_of[e.kp as usize] = None;
                }
            }
            if keep.len() < 2 || !angle_ok {
                self.model.points[p] = None;
                self.track_point[point.track] = None;
            } else if let Some(pt) = self.model.points[p].as_mut() {
                pt.observations = keep;
            }
        }
        dropped
    }

    pub(super) fn global_adjustment(&mut self) {
        let registered: Vec<usize> = self.model.registered().collect();
        self.adjust(&registered, &[]);
        self.stats.global_bundle_adjustments += 1;
        self.filter();
        // Retriangulate: tracks whose points were removed, or that failed before, may now fit.
        for t in 0..self.tracks.len() {
            self.triangulate_track(t);
        }
    }

    /// Adjusts image `i` and the registered images sharing the most points with it; the
    /// others hold still (at least two, to pin the frame), as do points none of them sees.
    pub(super) fn local_adjustment(&mut self, i: usize) {
        let mut shared: std::collections::BTreeMap<usize, usize> =
            std::collections::BTreeMap::new();
        for p in self.model.images[i].point_of.iter().flatten() {
            if let Some(point) = &self.model.points[*p] {
                for e in &point.observations {
                    if e.image != i {
                        *shared.entry(e.image).or_default() += 1;
                    }
                }
            }
        }
        let mut neighbours: Vec<(usize, usize)> =
            shared.into_iter().map(|(img, n)| (n, img)).collect();
        neighbours.sort_by(|a, b| b.cmp(a));
        let mut free: Vec<usize> = vec![i];
        free.extend(
            neighbours
                .iter()
                .take(self.opts.local_ba_images)
                .map(|&(_, img)| img),
        );
        // Held still: the other images that see the window's points (the rest of the model
        // takes no part in this adjustment).
        let window_points = self.points_seen_by(&free);
        let mut fixed: Vec<usize> = window_points
            .iter()
            .filter_map(|&p| self.model.points[p].as_ref())
            .flat_map(|pt| pt.observations.iter().map(|e| e.image))
            .filter(|img| !free.contains(img))
            .collect();
        fixed.sort_unstable();
        fixed.dedup();
        if fixed.len() < 2 {
            self.global_adjustment();
            return;
        }
        let mut all = free.clone();
        all.extend(&fixed);
        self.adjust(&all, &fixed);
        self.stats.local_bundle_adjustments += 1;
        // Only the points that moved are filtered (COLMAP's rule): the rest are checked at the
        // next global adjustment, after which every point is.
        self.filter_points(window_points);
        self.triangulate_image(i);
    }

    /// The points `images` observe, ascending.
    fn points_seen_by(&self, images: &[usize]) -> Vec<usize> {
        let mut points: Vec<usize> = images
            .iter()
            .flat_map(|&i| self.model.images[i].point_of.iter().flatten().copied())
            .filter(|&p| self.model.points[p].is_some())
            .collect();
        points.sort_unstable();
        points.dedup();
        points
    }

    /// Bundle adjustment of the points seen by `images` (free or fixed poses as given).
    pub(super) fn adjust(&mut self, images: &[usize], fixed: &[usize]) {
        let free: Vec<usize> = images
            .iter()
            .copied()
            .filter(|i| !fixed.contains(i))
            .collect();
        let point_ids = self.points_seen_by(&free);
        let pose_index: std::collections::HashMap<usize, usize> =
            images.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        let mut problem = bundle::Problem {
            cameras: self.model.cameras.clone(),
            poses: images
                .iter()
                .filter_map(|&i| {
                    let (r, t) = self.model.images[i].pose?;
                    Some(bundle::Pose {
                        rotation: r,
                        translation: t,
                        camera: self.model.images[i].camera,
                    })
                })
                .collect(),
            points: point_ids
                .iter()
                .filter_map(|&p| self.model.points[p].as_ref().map(|pt| pt.xyz))
                .collect(),
            observations: Vec::new(),
        };
        for (k, &p) in point_ids.iter().enumerate() {
            let Some(point) = &self.model.points[p] else {
                continue;
            };
            for e in &point.observations {
                if let Some(&pose) = pose_index.get(&e.image) {
                    problem.observations.push(bundle::Observation {
                        pose,
                        point: k,
                        xy: self.model.images[e.image].keypoints[e.kp as usize],
                    });
                }
            }
        }
        let n = images.len();
        let opts = bundle::Options {
            max_iterations: if fixed.is_empty() { 50 } else { 25 },
            // Intermediate adjustments need not converge fully: the final ones do.
            function_tolerance: if self.final_stage { 1e-9 } else { 1e-6 },
            loss: Loss::SoftL1(1.0),
            refine_focal: n >= 3,
            refine_distortion: self.opts.refine_distortion && n >= 3,
            // Under `Auto` the first final adjustment tests it (below); the later ones refine
            // it where that test kept it and hold it where it did not.
            refine_principal_point: self.final_stage
                && self.opts.principal_point != PrincipalPoint::Fixed
                && self.stats.principal_point.iter().all(|t| t.kept)
                && {
                    let per_camera = |c: usize| {
                        images
                            .iter()
                            .filter(|&&i| self.model.images[i].camera == c)
                            .count()
                    };
                    (0..self.model.cameras.len()).all(|c| {
                        per_camera(c) == 0 || per_camera(c) >= MIN_IMAGES_FOR_PRINCIPAL_POINT
                    })
                },
            fixed_poses: fixed
                .iter()
                .filter_map(|i| pose_index.get(i).copied())
                .collect(),
            fix_gauge: fixed.is_empty(),
            ..bundle::Options::default()
        };
        let start = problem.clone();
        let test_principal_point = opts.refine_principal_point
            && self.opts.principal_point == PrincipalPoint::Auto
            && self.stats.principal_point.is_empty();
        let opts = bundle::Options {
            compute_covariance: test_principal_point,
            deadline: self
                .opts
                .bundle_time_limit
                .start(problem.observations.len()),
            ..opts
        };
        let (report, t) = timed(|| bundle::solve(&mut problem, &opts));
        self.stats.time.solver += t;
        if fixed.is_empty() && report.reduced_work.is_some() {
            self.stats.reduced_system = report.reduced_work;
        }
        if report.timed_out {
            self.stats.warnings.push(format!(
                "bundle adjustment of {} images ({} observations) stopped at its time limit of {:.0} s after {} iterations; the last accepted step is kept",
                images.len(),
                problem.observations.len(),
                opts.deadline.seconds(),
                report.iterations
            ));
        }
        if test_principal_point {
            let tests: Vec<PrincipalPointTest> = start
                .cameras
                .iter()
                .zip(&problem.cameras)
                .enumerate()
                .map(|(c, (before, after))| {
                    let sigma = report
                        .camera_sigmas
                        .get(c)
                        .map_or([None; 2], |s| [s[2], s[3]]);
                    PrincipalPointTest {
                        camera_id: self.model.camera_db_ids[c],
                        prior_px: [before.cx, before.cy],
                        refined_px: [after.cx, after.cy],
                        sigma_px: sigma,
                        determined: principal_point_is_determined(
                            (after.cx - before.cx, after.cy - before.cy),
                            (sigma[0], sigma[1]),
                            2.0 * before.cx.max(before.cy),
                        ),
                        kept: false,
                    }
                })
                .collect();
            // Every camera's refined principal point is kept, or none.
            let accepted = report.camera_sigmas.len() == problem.cameras.len()
                && tests.iter().all(|t| t.determined);
            self.stats.principal_point = tests
                .into_iter()
                .map(|t| PrincipalPointTest {
                    kept: accepted,
                    ..t
                })
                .collect();
            if !accepted {
                problem = start;
                let (_, t) = timed(|| {
                    bundle::solve(
                        &mut problem,
                        &bundle::Options {
                            refine_principal_point: false,
                            compute_covariance: false,
                            ..opts
                        },
                    )
                });
                self.stats.time.solver += t;
            }
        }
        for (k, &i) in images.iter().enumerate() {
            let pose = &problem.poses[k];
            self.model.images[i].pose = Some((pose.rotation, pose.translation));
        }
        for (k, &p) in point_ids.iter().enumerate() {
            if let Some(point) = self.model.points[p].as_mut() {
                point.xyz = problem.points[k];
            }
        }
        self.model.cameras = problem.cameras;
    }
}
