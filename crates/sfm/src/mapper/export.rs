//! A mapper model as a COLMAP reconstruction (SIMPLE_RADIAL cameras, the registered images with
//! all their keypoints, points with their tracks, colours and mean reprojection errors).

use super::Model;
use splat_scene::{Camera, CameraModel, Image, Point2D, Point3D, Reconstruction, TrackElement};
use std::collections::BTreeMap;

/// `colors[i][kp]` gives the RGB of keypoint `kp` in image `i` when known.
pub fn to_reconstruction(
    model: &Model,
    sizes: &[(u32, u32)],
    colors: &dyn Fn(usize, u32) -> Option<[u8; 3]>,
) -> Reconstruction {
    let mut rec = Reconstruction::default();
    for (c, cam) in model.cameras.iter().enumerate() {
        let id = model.camera_db_ids[c];
        let (w, h) = sizes.get(c).copied().unwrap_or((0, 0));
        rec.cameras.insert(
            id,
            Camera {
                id,
                model: CameraModel::SimpleRadial,
                width: u64::from(w),
                height: u64::from(h),
                params: vec![cam.focal, cam.cx, cam.cy, cam.k],
            },
        );
    }
    let mut point_ids: BTreeMap<usize, u64> = BTreeMap::new();
    for (p, point) in model.points.iter().enumerate() {
        if point.is_some() {
            point_ids.insert(p, point_ids.len() as u64 + 1);
        }
    }
    for i in model.registered() {
        let im = &model.images[i];
        let Some((r, t)) = im.pose else { continue };
        let mut image = Image {
            id: im.db_id,
            qvec: [1.0, 0.0, 0.0, 0.0],
            tvec: [0.0; 3],
            camera_id: model.camera_db_ids[im.camera],
            name: im.name.clone(),
            points2d: im
                .keypoints
                .iter()
                .zip(&im.point_of)
                .map(|(k, p)| Point2D {
                    xy: [k.x, k.y],
                    point3d_id: p.and_then(|p| point_ids.get(&p).copied()),
                })
                .collect(),
        };
        image.set_pose(&r, &t);
        rec.images.insert(im.db_id, image);
    }
    for (p, id) in &point_ids {
        let Some(point) = &model.points[*p] else {
            continue;
        };
        let errors: Vec<f64> = point
            .observations
            .iter()
            .filter_map(|e| model.reprojection_error(e, &point.xyz))
            .collect();
        let rgb = point
            .observations
            .iter()
            .find_map(|e| colors(e.image, e.kp))
            .unwrap_or([128, 128, 128]);
        rec.points3d.insert(
            *id,
            Point3D {
                id: *id,
                xyz: [point.xyz.x, point.xyz.y, point.xyz.z],
                rgb,
                error: errors.iter().sum::<f64>() / errors.len().max(1) as f64,
                track: point
                    .observations
                    .iter()
                    .map(|e| TrackElement {
                        image_id: model.images[e.image].db_id,
                        point2d_idx: e.kp,
                    })
                    .collect(),
            },
        );
    }
    rec
}
