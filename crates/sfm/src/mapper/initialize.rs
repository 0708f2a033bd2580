//! Starting a model: the initial pair (many inliers, a wide enough baseline) reconstructed from
//! its relative pose.

use super::Mapper;
use super::triangulate::{self, Ray};
use crate::geometry::absolute::bearing;
use crate::geometry::two_view::{self, TwoViewOptions};
use nalgebra::{Matrix3, Vector2, Vector3};

/// A pair's relative pose (R, t), median triangulation angle (degrees) and points past the
/// angle and cheirality checks.
type TwoViewPose = (Matrix3<f64>, Vector3<f64>, f64, usize);

impl Mapper {
    /// Reconstructs the best initial pair; false when none gives enough points.
    pub(super) fn initialize(&mut self) -> bool {
        let mut order: Vec<usize> = (0..self.pairs.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse(self.pairs[k].2.len()));
        let mut best: Option<(f64, usize, Matrix3<f64>, Vector3<f64>)> = None;
        let mut warnings = Vec::new();
        for &k in order.iter().take(30) {
            let (a, b, ref inliers) = self.pairs[k];
            if inliers.len() < self.opts.min_initial_points {
                break;
            }
            let pose = self.two_view_pose(a, b, inliers).unwrap_or_else(|w| {
                warnings.push(w);
                None
            });
            let Some((r, t, angle, count)) = pose else {
                continue;
            };
            // Prefer many points seen under a wide angle; 8° of median angle is plenty.
            let score = count as f64 * angle.min(8.0);
            if count >= self.opts.min_initial_points && best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, k, r, t));
            }
        }
        self.stats.warnings.append(&mut warnings);
        let Some((_, k, r, t)) = best else {
            return false;
        };
        let (a, b, _) = self.pairs[k];
        self.model.images[a].pose = Some((Matrix3::identity(), Vector3::zeros()));
        self.model.images[b].pose = Some((r, t));
        self.stats.initial_pair = Some((
            self.model.images[a].name.clone(),
            self.model.images[b].name.clone(),
        ));
        self.triangulate_image(b);
        self.global_adjustment();
        self.model.num_points() >= self.opts.min_initial_points / 2
    }

    /// Relative pose of a pair from its inliers with the current intrinsics, the median
    /// triangulation angle (degrees) and how many points pass the angle and cheirality checks.
    pub(super) fn two_view_pose(
        &self,
        a: usize,
        b: usize,
        inliers: &[[u32; 2]],
    ) -> Result<Option<TwoViewPose>, String> {
        let pa: Vec<Vector2<f64>> = inliers
            .iter()
            .map(|m| self.model.images[a].keypoints[m[0] as usize])
            .collect();
        let pb: Vec<Vector2<f64>> = inliers
            .iter()
            .map(|m| self.model.images[b].keypoints[m[1] as usize])
            .collect();
        let opts = TwoViewOptions {
            max_error: self.opts.max_error,
            ..TwoViewOptions::default()
        };
        let g = match two_view::verify(
            &self.intrinsics(a),
            &self.intrinsics(b),
            &pa,
            &pb,
            &opts,
            self.opts.seed ^ (a as u64) << 32 ^ b as u64,
        ) {
            Ok(g) => g,
            Err(expired) => {
                return Err(format!(
                    "initial pair {} – {}: relative pose {expired}",
                    self.model.images[a].name, self.model.images[b].name
                ));
            }
        };
        let (Some(q), Some(t)) = (g.rotation, g.translation) else {
            return Ok(None);
        };
        let r = *q.to_rotation_matrix().matrix();
        let (ca, cb) = (
            &self.model.cameras[self.model.images[a].camera],
            &self.model.cameras[self.model.images[b].camera],
        );
        let mut angles = Vec::new();
        for &i in &g.inliers {
            let ra = Ray {
                rotation: Matrix3::identity(),
                translation: Vector3::zeros(),
                center: Vector3::zeros(),
                bearing: bearing(ca.focal, ca.cx, ca.cy, ca.k, pa[i].x, pa[i].y),
            };
            let rb = Ray {
                rotation: r,
                translation: t,
                center: -r.transpose() * t,
                bearing: bearing(cb.focal, cb.cx, cb.cy, cb.k, pb[i].x, pb[i].y),
            };
            let Some(x) = triangulate::dlt(&[ra, rb]) else {
                continue;
            };
            if x.z <= 0.0 || (r * x + t).z <= 0.0 {
                continue;
            }
            angles.push(triangulate::max_angle(&x, &[ra, rb]).to_degrees());
        }
        angles.sort_by(f64::total_cmp);
        let Some(&median) = angles.get(angles.len() / 2) else {
            return Ok(None);
        };
        let count = angles
            .iter()
            .filter(|&&a| a >= self.opts.min_triangulation_angle)
            .count();
        Ok(Some((r, t, median, count)))
    }
}
