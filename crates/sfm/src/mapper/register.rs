//! Registration of a new image: P3P inside LO-RANSAC on its 2D–3D correspondences (bearings
//! from the current intrinsics, reprojection error in pixels), then the pose refined by
//! bundle adjustment with the points held, and the inliers added as observations.

use super::Mapper;
use super::tracks::Element;
use crate::bundle::{self, Loss};
use crate::geometry::absolute::{bearing, p3p};
use crate::geometry::ransac::{Estimator, RansacOptions, lo_ransac};
use crate::watchdog::Deadline;
use nalgebra::{Matrix3, Vector2, Vector3};

type PoseModel = (Matrix3<f64>, Vector3<f64>);

struct PnP<'a> {
    bearings: Vec<Vector3<f64>>,
    points: Vec<Vector3<f64>>,
    pixels: Vec<Vector2<f64>>,
    camera: &'a bundle::CameraParams,
    deadline: Deadline,
}

impl Estimator for PnP<'_> {
    type Model = PoseModel;
    const SAMPLE_SIZE: usize = 3;
    fn len(&self) -> usize {
        self.points.len()
    }
    fn minimal(&self, s: &[usize]) -> Vec<PoseModel> {
        p3p(
            &[
                self.bearings[s[0]],
                self.bearings[s[1]],
                self.bearings[s[2]],
            ],
            &[self.points[s[0]], self.points[s[1]], self.points[s[2]]],
        )
    }
    fn refine(&self, inliers: &[usize], current: &PoseModel) -> Option<PoseModel> {
        (inliers.len() >= 6).then(|| refine_pose(self, inliers, current))
    }
    fn residual_sq(&self, m: &PoseModel, i: usize) -> f64 {
        let xc = m.0 * self.points[i] + m.1;
        self.camera
            .project(&xc)
            .map_or(f64::MAX, |px| (px - self.pixels[i]).norm_squared())
    }
}

/// Refines a pose on the given correspondences (points fixed, intrinsics fixed, robust loss).
fn refine_pose(pnp: &PnP, inliers: &[usize], start: &PoseModel) -> PoseModel {
    let mut problem = bundle::Problem {
        cameras: vec![*pnp.camera],
        poses: vec![bundle::Pose {
            rotation: start.0,
            translation: start.1,
            camera: 0,
        }],
        points: inliers.iter().map(|&i| pnp.points[i]).collect(),
        observations: inliers
            .iter()
            .enumerate()
            .map(|(k, &i)| bundle::Observation {
                pose: 0,
                point: k,
                xy: pnp.pixels[i],
            })
            .collect(),
    };
    let opts = bundle::Options {
        max_iterations: 20,
        loss: Loss::SoftL1(1.0),
        refine_focal: false,
        refine_distortion: false,
        fixed_points: (0..inliers.len()).collect(),
        fix_gauge: false,
        deadline: pnp.deadline,
        ..bundle::Options::default()
    };
    bundle::solve(&mut problem, &opts);
    (problem.poses[0].rotation, problem.poses[0].translation)
}

/// Why an image could not be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    #[error("no pose from {0} 2D–3D correspondences")]
    NoPose(usize),
    #[error("{inliers} of {total} 2D–3D correspondences agree on a pose")]
    FewInliers { inliers: usize, total: usize },
    #[error("{inliers} of {total} 2D–3D correspondences agree with the refined pose")]
    FewRefinedInliers { inliers: usize, total: usize },
    #[error("registration from {total} 2D–3D correspondences {expired}")]
    Expired {
        total: usize,
        expired: crate::watchdog::Expired,
    },
}

/// Registers image `i`, or says why it could not (also when it ran past its time limit,
/// `MapperOptions::registration_time_limit`).
pub fn register(m: &mut Mapper, i: usize) -> Result<(), RegisterError> {
    let corr = m.correspondences(i);
    let deadline = m.opts.registration_time_limit.start(corr.len());
    let image = &m.model.images[i];
    let camera = m.model.cameras[image.camera];
    let pnp = PnP {
        bearings: corr
            .iter()
            .map(|&(kp, _)| {
                let p = image.keypoints[kp as usize];
                bearing(camera.focal, camera.cx, camera.cy, camera.k, p.x, p.y)
            })
            .collect(),
        points: corr
            .iter()
            .map(|&(_, p)| {
                m.model.points[p]
                    .as_ref()
                    .map_or(Vector3::zeros(), |pt| pt.xyz)
            })
            .collect(),
        pixels: corr
            .iter()
            .map(|&(kp, _)| image.keypoints[kp as usize])
            .collect(),
        camera: &camera,
        deadline,
    };
    let opts = RansacOptions {
        max_error: m.opts.max_error,
        seed: m.opts.seed ^ i as u64,
        deadline,
        ..RansacOptions::default()
    };
    let total = corr.len();
    let expired = |expired| RegisterError::Expired { total, expired };
    let Some(result) = lo_ransac(&pnp, &opts).map_err(expired)? else {
        return Err(RegisterError::NoPose(total));
    };
    if result.inliers.len() < m.opts.min_registration_inliers {
        return Err(RegisterError::FewInliers {
            inliers: result.inliers.len(),
            total,
        });
    }
    let pose = refine_pose(&pnp, &result.inliers, &result.model);
    deadline.check().map_err(expired)?;
    // Keep the correspondences that agree with the refined pose.
    let max_sq = m.opts.max_error * m.opts.max_error;
    let inliers: Vec<usize> = (0..corr.len())
        .filter(|&k| pnp.residual_sq(&pose, k) <= max_sq)
        .collect();
    if inliers.len() < m.opts.min_registration_inliers {
        return Err(RegisterError::FewRefinedInliers {
            inliers: inliers.len(),
            total,
        });
    }
    m.model.images[i].pose = Some(pose);
    for k in inliers {
        let (kp, p) = corr[k];
        m.add_observation(p, Element { image: i, kp });
    }
    Ok(())
}
