//! The incremental mapper: from the verified pairs of a COLMAP database to camera poses,
//! intrinsics and 3D points. An initial pair (many inliers, a wide enough baseline) is
//! reconstructed from its essential matrix; then the image that sees the most reconstructed
//! points is registered by P3P inside LO-RANSAC, its new tracks are triangulated, and bundle
//! adjustment (local after each image, global each time the model grows by 10 %) with
//! filtering of bad observations keeps the model consistent. Images that cannot join start a
//! further model; the largest model comes first.

mod adjust;
pub mod export;
mod initialize;
mod register;
pub mod tracks;
pub mod triangulate;

use crate::bundle::CameraParams;
use crate::database::DatabaseContents;
use crate::geometry::absolute::bearing;
use crate::geometry::two_view::Intrinsics;
use crate::timing::{StepTime, timed};
use crate::watchdog::TimeLimit;
use nalgebra::{Matrix3, Vector2, Vector3};
use tracks::Element;
use triangulate::Ray;

#[derive(Debug, Clone, PartialEq)]
pub struct MapperOptions {
    /// Reprojection threshold for inliers and for keeping observations, pixels.
    pub max_error: f64,
    /// Points seen under a smaller largest angle are not created (or are removed), degrees.
    pub min_triangulation_angle: f64,
    /// An image needs this many 2D–3D inliers to register.
    pub min_registration_inliers: usize,
    /// The initial pair needs this many triangulated points.
    pub min_initial_points: usize,
    /// Global bundle adjustment when the number of registered images grew by this fraction.
    pub global_ba_growth: f64,
    /// Images (besides the new one) in each local bundle adjustment.
    pub local_ba_images: usize,
    pub refine_distortion: bool,
    /// Whether the final bundle adjustments refine the principal point (only ever for cameras
    /// shared by at least `MIN_IMAGES_FOR_PRINCIPAL_POINT` registered images).
    pub principal_point: PrincipalPoint,
    pub seed: u64,
    /// An image's registration past this (per 2D–3D correspondence) is abandoned.
    pub registration_time_limit: TimeLimit,
    /// A bundle adjustment past this (per observation) stops at its last accepted step.
    pub bundle_time_limit: TimeLimit,
}

/// A principal point is refined only for cameras with this many registered images.
pub const MIN_IMAGES_FOR_PRINCIPAL_POINT: usize = 5;

/// Principal point handling in the final bundle adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalPoint {
    /// Held at the image centre (COLMAP's default).
    Fixed,
    /// Refined, and kept only where the data determine it: the shift is significant (over
    /// `PRINCIPAL_POINT_SIGNIFICANCE` standard deviations) and the standard deviation is under
    /// 0.1 % of the image's longest side; otherwise the centre is kept.
    Auto,
    /// Always refined.
    Refine,
}

/// How many of its standard deviations the principal point must move for `Auto` to keep it.
/// The deviations are the bundle adjustment's formal ones, which are optimistic: on
/// fountain-P11 the refined point lands 6 of them from the ground truth in x (σ 0.44 px,
/// 2.6 px off). At three, the built-in 600-view orbit, whose true principal point is the
/// centre, kept one moved by 3.3 σ in x (0.14 px) and 2.5 σ in y (0.78 px), and its rotations
/// were three times worse (RRE 0.26° against 0.08°). The real offsets measured are 16–50 σ
/// (south-building, fountain-P11).
pub const PRINCIPAL_POINT_SIGNIFICANCE: f64 = 10.0;

/// The `Auto` rule for one camera: shift and standard deviations in pixels.
pub fn principal_point_is_determined(
    shift: (f64, f64),
    sigma: (Option<f64>, Option<f64>),
    longest_side: f64,
) -> bool {
    let (Some(sx), Some(sy)) = sigma else {
        return false;
    };
    let precise = sx.max(sy) <= 1e-3 * longest_side;
    let k = PRINCIPAL_POINT_SIGNIFICANCE;
    let significant = shift.0.abs() > k * sx || shift.1.abs() > k * sy;
    precise && significant
}

impl Default for MapperOptions {
    fn default() -> Self {
        Self {
            max_error: 4.0,
            min_triangulation_angle: 1.5,
            min_registration_inliers: 15,
            min_initial_points: 100,
            global_ba_growth: 0.1,
            local_ba_images: 6,
            refine_distortion: true,
            principal_point: PrincipalPoint::Auto,
            seed: 0,
            registration_time_limit: TimeLimit::REGISTRATION,
            bundle_time_limit: TimeLimit::BUNDLE,
        }
    }
}

/// One mapper image: its keypoints, camera, pose once registered, and the 3D point of each
/// keypoint.
#[derive(Debug, Clone)]
pub struct MapImage {
    pub db_id: u32,
    pub name: String,
    pub camera: usize,
    pub keypoints: Vec<Vector2<f64>>,
    pub pose: Option<(Matrix3<f64>, Vector3<f64>)>,
    pub point_of: Vec<Option<usize>>,
}

/// A reconstructed point and the (image, keypoint) observations that support it.
#[derive(Debug, Clone)]
pub struct MapPoint {
    pub xyz: Vector3<f64>,
    pub observations: Vec<Element>,
    pub track: usize,
}

/// A model: camera intrinsics, images (registered or not) and points (`None` = removed).
#[derive(Debug, Clone)]
pub struct Model {
    pub cameras: Vec<CameraParams>,
    pub camera_db_ids: Vec<u32>,
    pub images: Vec<MapImage>,
    pub points: Vec<Option<MapPoint>>,
}

impl Model {
    pub fn registered(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.images.len()).filter(|&i| self.images[i].pose.is_some())
    }

    pub fn num_registered(&self) -> usize {
        self.registered().count()
    }

    pub fn num_points(&self) -> usize {
        self.points.iter().flatten().count()
    }

    /// Mean reprojection error over all observations, pixels.
    pub fn mean_reprojection_error(&self) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for p in self.points.iter().flatten() {
            for e in &p.observations {
                if let Some(err) = self.reprojection_error(e, &p.xyz) {
                    sum += err;
                    n += 1;
                }
            }
        }
        if n == 0 { 0.0 } else { sum / n as f64 }
    }

    pub fn reprojection_error(&self, e: &Element, x: &Vector3<f64>) -> Option<f64> {
        let im = &self.images[e.image];
        let (r, t) = im.pose?;
        let px = self.cameras[im.camera].project(&(r * x + t))?;
        Some((px - im.keypoints[e.kp as usize]).norm())
    }

    fn ray(&self, e: &Element) -> Option<Ray> {
        let im = &self.images[e.image];
        let (r, t) = im.pose?;
        let c = &self.cameras[im.camera];
        let kp = im.keypoints[e.kp as usize];
        Some(Ray {
            rotation: r,
            translation: t,
            center: -r.transpose() * t,
            bearing: bearing(c.focal, c.cx, c.cy, c.k, kp.x, kp.y),
        })
    }
}

/// What a mapper run did, for the report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MapperStats {
    pub initial_pair: Option<(String, String)>,
    pub global_bundle_adjustments: usize,
    pub local_bundle_adjustments: usize,
    /// Images that could not be registered, with the reason.
    pub unregistered: Vec<(String, String)>,
    /// Work abandoned or cut short at its time limit, each naming what it was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Degenerate samples and failed decompositions (on the mapper's thread).
    #[serde(skip_serializing_if = "crate::linalg::Counts::is_zero")]
    pub solver: crate::linalg::Counts,
    /// Where the mapping time went.
    pub time: MapperTimes,
    /// The reduced camera system of the last global adjustment whose sparsity was analysed
    /// (past `bundle::DENSE_LIMIT`): what decided between the sparse and the dense solver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduced_system: Option<crate::bundle::ReducedWork>,
    /// `PrincipalPoint::Auto`'s test, made once, in the final refinement's first adjustment,
    /// one entry per camera: empty where it did not run (`Fixed`, `Refine`, or too few images
    /// per camera).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principal_point: Vec<PrincipalPointTest>,
}

/// How far refining moved one camera's principal point, how precisely the photos place it, and
/// whether the refined one was kept or the centre restored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PrincipalPointTest {
    /// The camera's id in the COLMAP database and model.
    pub camera_id: u32,
    /// Where the mapper started it: the database's camera (the image centre unless given).
    pub prior_px: [f64; 2],
    /// Where the test's adjustment put it.
    pub refined_px: [f64; 2],
    /// Its standard deviations there (pixels), `None` where not computable.
    pub sigma_px: [Option<f64>; 2],
    /// The photos determine it (`principal_point_is_determined`).
    pub determined: bool,
    /// The refined principal point is in the model: every camera's is determined (else every
    /// camera keeps its starting one).
    pub kept: bool,
}

/// Time of each part of a mapper run (wall and process CPU), summed over the run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MapperTimes {
    /// Choosing the next image to register.
    pub next_image: StepTime,
    /// Registration (2D–3D correspondences, P3P in LO-RANSAC, pose refinement).
    pub registration: StepTime,
    /// Triangulating the tracks of each newly registered image.
    pub triangulation: StepTime,
    /// Local bundle adjustments with their filtering and triangulation.
    pub local_adjustment: StepTime,
    /// Global bundle adjustments during the run, with filtering and retriangulation.
    pub global_adjustment: StepTime,
    /// The final global refinement.
    pub final_refinement: StepTime,
    /// Of the adjustments above, the time inside the bundle adjustment solver.
    pub solver: StepTime,
}

/// The mapper's state for one database.
pub struct Mapper {
    opts: MapperOptions,
    pub model: Model,
    tracks: Vec<Vec<Element>>,
    /// Set for the final refinement (principal points may move then).
    final_stage: bool,
    track_of: Vec<Vec<Option<usize>>>,
    track_point: Vec<Option<usize>>,
    /// Verified pairs: (image a, image b, inlier matches).
    pairs: Vec<(usize, usize, Vec<[u32; 2]>)>,
    pub stats: MapperStats,
}

impl Mapper {
    /// Prepares tracks from a database's verified pairs.
    pub fn new(db: &DatabaseContents, opts: MapperOptions) -> Self {
        let camera_index = |id: u32| db.cameras.iter().position(|c| c.id == id);
        let cameras: Vec<CameraParams> = db
            .cameras
            .iter()
            .map(|c| {
                let (f, _) = splat_scene::Camera {
                    id: c.id,
                    model: c.model,
                    width: u64::from(c.width),
                    height: u64::from(c.height),
                    params: c.params.clone(),
                }
                .focal();
                let (cx, cy) = (f64::from(c.width) / 2.0, f64::from(c.height) / 2.0);
                let k = if c.model == splat_scene::CameraModel::SimpleRadial {
                    c.params[3]
                } else {
                    0.0
                };
                CameraParams {
                    focal: f,
                    cx,
                    cy,
                    k,
                }
            })
            .collect();
        let images: Vec<MapImage> = db
            .images
            .iter()
            .map(|im| MapImage {
                db_id: im.id,
                name: im.name.clone(),
                camera: camera_index(im.camera_id).unwrap_or(0),
                keypoints: im
                    .keypoints
                    .iter()
                    .map(|k| Vector2::new(f64::from(k[0]), f64::from(k[1])))
                    .collect(),
                pose: None,
                point_of: vec![None; im.keypoints.len()],
            })
            .collect();
        let index_of = |id: u32| db.images.iter().position(|i| i.id == id);
        let pairs: Vec<(usize, usize, Vec<[u32; 2]>)> = db
            .two_view
            .iter()
            .filter(|t| t.is_verified())
            .filter_map(|t| Some((index_of(t.image1)?, index_of(t.image2)?, t.inliers.clone())))
            .collect();
        let counts: Vec<usize> = images.iter().map(|i| i.keypoints.len()).collect();
        let (tracks, track_of) = tracks::build(&counts, &pairs);
        let track_point = vec![None; tracks.len()];
        Self {
            opts,
            model: Model {
                cameras,
                camera_db_ids: db.cameras.iter().map(|c| c.id).collect(),
                images,
                points: Vec::new(),
            },
            tracks,
            final_stage: false,
            track_of,
            track_point,
            pairs,
            stats: MapperStats::default(),
        }
    }

    pub fn num_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Runs the whole reconstruction; `progress(registered, total)` after each registration.
    pub fn run(&mut self, progress: &mut dyn FnMut(usize, usize)) -> bool {
        let before = crate::linalg::counts();
        let done = self.run_counted(progress);
        self.stats.solver = crate::linalg::counts().since(&before);
        done
    }

    fn run_counted(&mut self, progress: &mut dyn FnMut(usize, usize)) -> bool {
        if !self.initialize() {
            return false;
        }
        let total = self.model.images.len();
        progress(self.model.num_registered(), total);
        let mut last_global = self.model.num_registered();
        let mut failed = vec![0usize; total];
        loop {
            let (next, t) = timed(|| self.next_image(&failed));
            self.stats.time.next_image += t;
            let Some(next) = next else { break };
            let (registered, t) = timed(|| register::register(self, next));
            self.stats.time.registration += t;
            match registered {
                Ok(()) => {
                    let ((), t) = timed(|| self.triangulate_image(next));
                    self.stats.time.triangulation += t;
                    let n = self.model.num_registered();
                    if n as f64 >= last_global as f64 * (1.0 + self.opts.global_ba_growth) {
                        let ((), t) = timed(|| self.global_adjustment());
                        self.stats.time.global_adjustment += t;
                        last_global = n;
                    } else {
                        let ((), t) = timed(|| self.local_adjustment(next));
                        self.stats.time.local_adjustment += t;
                    }
                    progress(n, total);
                }
                Err(reason) => {
                    failed[next] += 1;
                    let name = self.model.images[next].name.clone();
                    if matches!(reason, register::RegisterError::Expired { .. }) {
                        self.stats.warnings.push(format!("image {name}: {reason}"));
                    }
                    if failed[next] >= 2 {
                        self.stats.unregistered.push((name, reason.to_string()));
                    }
                }
            }
        }
        // Final refinement: adjust, filter and retriangulate until the model stops changing.
        self.final_stage = true;
        let ((), t) = timed(|| {
            for _ in 0..3 {
                let before = self.observation_count();
                self.global_adjustment();
                if self.observation_count().abs_diff(before) * 1000 <= before {
                    break;
                }
            }
        });
        self.stats.time.final_refinement = t;
        for (i, im) in self.model.images.iter().enumerate() {
            if im.pose.is_none() && failed[i] < 2 {
                self.stats
                    .unregistered
                    .push((im.name.clone(), "no reconstructed points seen".into()));
            }
        }
        true
    }

    fn observation_count(&self) -> usize {
        self.model
            .points
            .iter()
            .flatten()
            .map(|p| p.observations.len())
            .sum()
    }

    /// The unregistered image that sees the most reconstructed points (at most two tries each).
    fn next_image(&self, failed: &[usize]) -> Option<usize> {
        (0..self.model.images.len())
            .filter(|&i| self.model.images[i].pose.is_none() && failed[i] < 2)
            .map(|i| (self.visible_points(i), i))
            .filter(|&(n, _)| n >= self.opts.min_registration_inliers)
            .max_by_key(|&(n, i)| (n, std::cmp::Reverse(i)))
            .map(|(_, i)| i)
    }

    /// How many of image `i`'s keypoints belong to tracks with a reconstructed point.
    fn visible_points(&self, i: usize) -> usize {
        self.track_of[i]
            .iter()
            .filter(|t| t.is_some_and(|t| self.track_point[t].is_some()))
            .count()
    }

    /// 2D–3D correspondences of image `i`: (keypoint, point).
    fn correspondences(&self, i: usize) -> Vec<(u32, usize)> {
        self.track_of[i]
            .iter()
            .enumerate()
            .filter_map(|(kp, t)| Some((kp as u32, self.track_point[(*t)?]?)))
            .collect()
    }

    fn intrinsics(&self, image: usize) -> Intrinsics {
        let c = &self.model.cameras[self.model.images[image].camera];
        Intrinsics {
            focal: c.focal,
            cx: c.cx,
            cy: c.cy,
            known_focal: true,
        }
    }

    /// Creates points for the tracks through image `i` that have none yet, and extends the
    /// existing points it sees.
    fn triangulate_image(&mut self, i: usize) {
        let tracks: Vec<usize> = self.track_of[i].iter().flatten().copied().collect();
        for t in tracks {
            self.triangulate_track(t);
        }
    }

    /// Triangulates a track from its registered views (or, when it has a point, adds the views
    /// that agree with it).
    fn triangulate_track(&mut self, t: usize) {
        let elements: Vec<Element> = self.tracks[t]
            .iter()
            .copied()
            .filter(|e| self.model.images[e.image].pose.is_some())
            .collect();
        if elements.len() < 2 {
            return;
        }
        let max_error = self.opts.max_error;
        let threshold =
            |m: &Model, e: &Element| max_error / m.cameras[m.images[e.image].camera].focal;
        if let Some(p) = self.track_point[t] {
            let Some(point) = self.model.points[p].clone() else {
                return;
            };
            for e in elements {
                if point.observations.contains(&e) {
                    continue;
                }
                let ok = self
                    .model
                    .ray(&e)
                    .and_then(|r| triangulate::angular_error(&point.xyz, &r))
                    .is_some_and(|err| err <= threshold(&self.model, &e));
                if ok {
                    self.add_observation(p, e);
                }
            }
            return;
        }
        let rays: Vec<Ray> = elements.iter().filter_map(|e| self.model.ray(e)).collect();
        let Some(x) = triangulate::dlt(&rays) else {
            return;
        };
        let good: Vec<Element> = elements
            .iter()
            .zip(&rays)
            .filter(|(e, r)| {
                triangulate::angular_error(&x, r)
                    .is_some_and(|err| err <= threshold(&self.model, e))
            })
            .map(|(e, _)| *e)
            .collect();
        if good.len() < 2 {
            return;
        }
        let good_rays: Vec<Ray> = good.iter().filter_map(|e| self.model.ray(e)).collect();
        let Some(x) = triangulate::dlt(&good_rays) else {
            return;
        };
        if triangulate::max_angle(&x, &good_rays).to_degrees() < self.opts.min_triangulation_angle {
            return;
        }
        if good.iter().zip(&good_rays).any(|(e, r)| {
            triangulate::angular_error(&x, r).is_none_or(|err| err > threshold(&self.model, e))
        }) {
            return;
        }
        let p = self.model.points.len();
        self.model.points.push(Some(MapPoint {
            xyz: x,
            observations: Vec::new(),
            track: t,
        }));
        self.track_point[t] = Some(p);
        for e in good {
            self.add_observation(p, e);
        }
    }

    fn add_observation(&mut self, p: usize, e: Element) {
        if let Some(point) = self.model.points[p].as_mut() {
            point.observations.push(e);
            self.model.images[e.image].point_of[e.kp as usize] = Some(p);
        }
    }
}

/// Reconstructs every model the database supports, the largest first: after each model, the
/// images it did not register try again among themselves.
pub fn reconstruct(
    db: &DatabaseContents,
    opts: &MapperOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<(Model, MapperStats)> {
    let mut models = Vec::new();
    let mut remaining = db.clone();
    while remaining.images.len() >= 2 && !remaining.two_view.is_empty() {
        let mut mapper = Mapper::new(&remaining, opts.clone());
        if !mapper.run(progress) {
            break;
        }
        let done: Vec<u32> = mapper
            .model
            .registered()
            .map(|i| mapper.model.images[i].db_id)
            .collect();
        models.push((mapper.model, mapper.stats));
        remaining.images.retain(|im| !done.contains(&im.id));
        remaining
            .two_view
            .retain(|t| !done.contains(&t.image1) && !done.contains(&t.image2));
    }
    models.sort_by_key(|(m, _)| std::cmp::Reverse(m.num_registered()));
    models
}

#[cfg(test)]
mod tests {
    use super::principal_point_is_determined as determined;

    #[test]
    fn the_principal_point_is_kept_only_when_the_photos_pin_it_down() {
        // fountain-P11 (3,072 px) and south-building (768 px), as measured: kept.
        assert!(determined((-17.4, -19.2), (Some(0.44), Some(1.25)), 3072.0));
        assert!(determined((1.4, 6.9), (Some(0.09), Some(0.14)), 768.0));
        // The built-in 600-view orbit, whose true principal point is the centre: a shift of a
        // few formal deviations is not evidence.
        assert!(!determined(
            (-0.14, -0.78),
            (Some(0.042), Some(0.31)),
            320.0
        ));
        // Imprecise (σ over 0.1 % of the image), or no deviation at all: the centre stays.
        assert!(!determined((40.0, 0.0), (Some(3.5), Some(0.5)), 3072.0));
        assert!(!determined((40.0, 0.0), (None, Some(0.5)), 3072.0));
    }
}
