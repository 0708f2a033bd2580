//! Building, rendering and writing a built-in scene.

use crate::geometry::{Object, Shape, World};
use crate::texture::Material;
use nalgebra::{Matrix3, Rotation3, Vector2, Vector3};
use rayon::prelude::*;
use serde_json::json;
use splat_scene::colmap::{Image, Point2D, Point3D, Reconstruction, TrackElement, write_binary};
use splat_scene::{Camera, SceneError};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error(transparent)]
    Scene(#[from] SceneError),
    #[error("invalid scene settings: {0}")]
    Spec(String),
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneSpec {
    pub views: usize,
    pub width: u32,
    pub height: u32,
    pub seed: u64,
    /// Samples per pixel along each axis (2 → 4 rays per pixel).
    pub samples: u32,
    /// Surface points to sample for `points3D` (those seen by fewer than 2 views are dropped).
    pub points: usize,
    /// Every `test_every`-th view goes to `transforms_test.json`.
    pub test_every: usize,
}

impl Default for SceneSpec {
    fn default() -> Self {
        Self {
            views: 24,
            width: 320,
            height: 240,
            seed: 0,
            samples: 2,
            points: 4000,
            test_every: 8,
        }
    }
}

/// The scene, its exact cameras and the sampled 3D points with their observations.
pub struct GeneratedScene {
    pub world: World,
    pub reconstruction: Reconstruction,
    pub spec: SceneSpec,
}

/// SplitMix64: a tiny generator whose sequence for a seed never changes with a dependency
/// upgrade, which is what "deterministic for a seed" needs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn colour(&mut self) -> [f64; 3] {
        [
            self.range(0.1, 1.0),
            self.range(0.1, 1.0),
            self.range(0.1, 1.0),
        ]
    }
}

fn build_world(rng: &mut SplitMix) -> World {
    let mut objects = vec![
        Object {
            shape: Shape::Dome { radius: 20.0 },
            material: Material {
                a: [0.55, 0.65, 0.85],
                b: [0.95, 0.9, 0.8],
                freq: 0.35,
                seed: rng.next(),
                kind: 2,
            },
        },
        Object {
            shape: Shape::Ground { half: 6.0 },
            material: Material {
                a: [0.35, 0.3, 0.2],
                b: [0.75, 0.7, 0.55],
                freq: 1.6,
                seed: rng.next(),
                kind: 1,
            },
        },
    ];
    // A centrepiece and a ring of boxes and spheres around it.
    let centre_half = Vector3::new(0.45, 0.35, 0.4);
    objects.push(Object {
        shape: Shape::Cuboid {
            centre: Vector3::new(0.0, 0.0, centre_half.z),
            half: centre_half,
            rot: Rotation3::from_axis_angle(&Vector3::z_axis(), 0.4).into_inner(),
        },
        material: Material {
            a: rng.colour(),
            b: rng.colour(),
            freq: 4.0,
            seed: rng.next(),
            kind: 1,
        },
    });
    let count = 6;
    for i in 0..count {
        let angle =
            std::f64::consts::TAU * (f64::from(i) + rng.range(-0.2, 0.2)) / f64::from(count);
        let r = rng.range(1.1, 1.7);
        let (x, y) = (r * angle.cos(), r * angle.sin());
        let material = Material {
            a: rng.colour(),
            b: rng.colour(),
            freq: rng.range(3.0, 6.0),
            seed: rng.next(),
            kind: (i % 3) as u32,
        };
        let shape = if i % 2 == 0 {
            let half = Vector3::new(
                rng.range(0.2, 0.4),
                rng.range(0.2, 0.4),
                rng.range(0.2, 0.5),
            );
            let rot: Matrix3<f64> =
                Rotation3::from_axis_angle(&Vector3::z_axis(), rng.range(0.0, 3.0)).into_inner();
            Shape::Cuboid {
                centre: Vector3::new(x, y, half.z),
                half,
                rot,
            }
        } else {
            let radius = rng.range(0.22, 0.4);
            Shape::Sphere {
                centre: Vector3::new(x, y, radius),
                radius,
            }
        };
        objects.push(Object { shape, material });
    }
    World {
        objects,
        light: Vector3::new(0.4, -0.3, 0.85).normalize(),
        ambient: 0.35,
    }
}

/// Camera `i` of `n`: on two alternating rings, looking at the centre of the objects.
fn view_pose(i: usize, n: usize) -> (Matrix3<f64>, Vector3<f64>) {
    let az = std::f64::consts::TAU * i as f64 / n as f64 + 0.3;
    let (radius, height) = if i.is_multiple_of(2) {
        (4.2, 1.6)
    } else {
        (3.8, 2.6)
    };
    let c = Vector3::new(radius * az.cos(), radius * az.sin(), height);
    let target = Vector3::new(0.0, 0.0, 0.35);
    let forward = (target - c).normalize();
    let right = forward.cross(&Vector3::z()).normalize();
    let down = forward.cross(&right);
    let r = Matrix3::from_rows(&[right.transpose(), down.transpose(), forward.transpose()]);
    (r, -(r * c))
}

fn build_cameras(spec: &SceneSpec) -> Reconstruction {
    let mut rec = Reconstruction::default();
    let f = 0.85 * f64::from(spec.width);
    rec.cameras.insert(
        1,
        Camera::pinhole(
            1,
            u64::from(spec.width),
            u64::from(spec.height),
            f,
            f,
            f64::from(spec.width) / 2.0,
            f64::from(spec.height) / 2.0,
        ),
    );
    for i in 0..spec.views {
        let id = i as u32 + 1;
        let mut im = Image {
            id,
            qvec: [1.0, 0.0, 0.0, 0.0],
            tvec: [0.0; 3],
            camera_id: 1,
            name: format!("view_{i:03}.png"),
            points2d: vec![],
        };
        let (r, t) = view_pose(i, spec.views);
        im.set_pose(&r, &t);
        rec.images.insert(id, im);
    }
    rec
}

/// Renders one view with `samples`² stratified rays per pixel.
pub fn render_view(world: &World, cam: &Camera, im: &Image, samples: u32) -> image::RgbImage {
    let (w, h) = (cam.width as u32, cam.height as u32);
    let r_t = im.rotation().transpose();
    let c = im.center();
    let s = samples.max(1);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    buf.par_chunks_mut(3 * w as usize)
        .enumerate()
        .for_each(|(y, row)| {
            for x in 0..w as usize {
                let mut acc = [0.0f64; 3];
                for a in 0..s {
                    for b in 0..s {
                        let px = x as f64 + (f64::from(a) + 0.5) / f64::from(s);
                        let py = y as f64 + (f64::from(b) + 0.5) / f64::from(s);
                        let uv = cam.unproject(&Vector2::new(px, py));
                        let d = (r_t * Vector3::new(uv.x, uv.y, 1.0)).normalize();
                        if let Some(hit) = world.trace(&c, &d) {
                            let col = world.shade(&hit);
                            for k in 0..3 {
                                acc[k] += col[k];
                            }
                        }
                    }
                }
                let n = f64::from(s * s);
                for k in 0..3 {
                    row[3 * x + k] = (acc[k] / n * 255.0).round().clamp(0.0, 255.0) as u8;
                }
            }
        });
    image::RgbImage::from_raw(w, h, buf).unwrap_or_else(|| image::RgbImage::new(w, h))
}

/// A random point on the visible surface of an object (not the dome, not under the ground)
/// with the surface normal there, for the stand-in cloud.
fn sample_surface(shape: &Shape, rng: &mut SplitMix) -> Option<(Vector3<f64>, Vector3<f64>)> {
    match shape {
        Shape::Sphere { centre, radius } => {
            let z = rng.range(-1.0, 1.0);
            let phi = rng.range(0.0, std::f64::consts::TAU);
            let s = (1.0 - z * z).sqrt();
            let n = Vector3::new(s * phi.cos(), s * phi.sin(), z);
            let p = centre + n * *radius;
            (p.z > 0.01).then_some((p, n))
        }
        Shape::Cuboid { centre, half, rot } => {
            let axis = (rng.next() % 3) as usize;
            let mut l = Vector3::new(
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
                rng.range(-1.0, 1.0),
            )
            .component_mul(half);
            let sign = if rng.next().is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            l[axis] = sign * half[axis];
            let mut n = Vector3::zeros();
            n[axis] = sign;
            let p = centre + rot * l;
            (p.z > 0.01).then_some((p, rot * n))
        }
        Shape::Ground { .. } => {
            let (x, y) = (rng.range(-3.0, 3.0), rng.range(-3.0, 3.0));
            Some((Vector3::new(x, y, 0.0), Vector3::z()))
        }
        // The stand-in cloud has no sky.
        Shape::Dome { .. } => None,
    }
}

/// `count` flat Gaussians lying on the scene's surfaces (ground, boxes, spheres), coloured by
/// the shaded texture there, SH degree 3 with small view-dependent terms: a stand-in for a
/// trained model, with Gaussians concentrated on surfaces as in real scenes.
pub fn surface_cloud(
    scene: &GeneratedScene,
    count: usize,
    seed: u64,
) -> splat_scene::GaussianCloud {
    let world = &scene.world;
    let mut rng = SplitMix(seed ^ 0x5EED_C10D);
    // Objects are picked in proportion to their (sampled) surface area.
    let areas: Vec<(usize, f64)> = world
        .objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let a = match &o.shape {
                Shape::Sphere { radius, .. } => 4.0 * std::f64::consts::PI * radius * radius,
                Shape::Cuboid { half, .. } => {
                    8.0 * (half.x * half.y + half.y * half.z + half.z * half.x)
                }
                Shape::Ground { .. } => 36.0,
                Shape::Dome { .. } => return None,
            };
            Some((i, a))
        })
        .collect();
    let total: f64 = areas.iter().map(|a| a.1).sum();
    let spacing = (total / count.max(1) as f64).sqrt();
    let mut c = splat_scene::GaussianCloud {
        sh_degree: 3,
        ..Default::default()
    };
    while c.len() < count {
        let mut pick = rng.range(0.0, total);
        let obj = areas
            .iter()
            .find(|(_, a)| {
                pick -= a;
                pick <= 0.0
            })
            .map_or(areas[areas.len() - 1].0, |a| a.0);
        let Some((p, n)) = sample_surface(&world.objects[obj].shape, &mut rng) else {
            continue;
        };
        let colour = world.shade(&crate::geometry::Hit {
            t: 0.0,
            point: p,
            normal: n,
            object: obj,
        });
        let q = nalgebra::UnitQuaternion::rotation_between(&Vector3::z(), &n)
            .unwrap_or_else(nalgebra::UnitQuaternion::identity);
        c.means.push([p.x as f32, p.y as f32, p.z as f32]);
        c.sh_dc
            .push(colour.map(|v| ((v - 0.5) / 0.282_094_791_773_878_14) as f32));
        c.sh_rest
            .extend((0..45).map(|_| (rng.range(-0.05, 0.05)) as f32));
        c.opacity.push(rng.range(0.5, 4.0) as f32);
        let t = (spacing * rng.range(0.6, 1.0)).ln() as f32;
        c.log_scales.push([t, t, (spacing * 0.1).ln() as f32]);
        c.rotations
            .push([q.w as f32, q.i as f32, q.j as f32, q.k as f32]);
    }
    c
}

/// Where a random pixel of a random view meets the scene (an object, the ground or the sky
/// dome). Points drawn this way spread over everything the cameras see in proportion to image
/// area, as SfM's do, so the ground far beyond the objects and the sky get points too (with
/// none there, training invents floaters to paint them).
fn sample_seen(
    world: &World,
    rec: &Reconstruction,
    cam: &splat_scene::Camera,
    image_ids: &[u32],
    rng: &mut SplitMix,
) -> Option<Vector3<f64>> {
    let im = &rec.images[&image_ids[(rng.next() % image_ids.len() as u64) as usize]];
    let px = Vector2::new(
        rng.range(0.0, cam.width as f64),
        rng.range(0.0, cam.height as f64),
    );
    let uv = cam.unproject(&px);
    let d = (im.rotation().transpose() * Vector3::new(uv.x, uv.y, 1.0)).normalize();
    world.trace(&im.center(), &d).map(|hit| hit.point)
}

/// Samples points the cameras see, keeps those seen (unoccluded, inside the frame) by ≥ 2 views,
/// and records their observations as keypoints.
fn add_points(world: &World, rec: &mut Reconstruction, count: usize, rng: &mut SplitMix) {
    let cam = rec.cameras[&1].clone();
    let mut next_id = 1u64;
    let image_ids: Vec<u32> = rec.images.keys().copied().collect();
    for _ in 0..count {
        let Some(p) = sample_seen(world, rec, &cam, &image_ids, rng) else {
            continue;
        };
        let mut obs = Vec::new();
        let mut colour = None;
        for &iid in &image_ids {
            let im = &rec.images[&iid];
            let Some(px) = cam.project(&im.world_to_camera(&p)) else {
                continue;
            };
            if px.x < 0.0 || px.y < 0.0 || px.x >= cam.width as f64 || px.y >= cam.height as f64 {
                continue;
            }
            let c = im.center();
            let dist = (p - c).norm();
            let d = (p - c) / dist;
            match world.trace(&c, &d) {
                Some(hit) if (hit.t - dist).abs() < 1e-6 * dist.max(1.0) => {
                    colour.get_or_insert_with(|| world.shade(&hit));
                    obs.push((iid, px));
                }
                _ => {}
            }
        }
        if obs.len() < 2 {
            continue;
        }
        let id = next_id;
        next_id += 1;
        let mut track = Vec::with_capacity(obs.len());
        for (iid, px) in obs {
            #[allow(
                clippy::expect_used,
                reason = "the observations' image ids come from this model"
            )]
            let im = rec
                .images
                .get_mut(&iid)
                .expect("image ids come from the model");
            track.push(TrackElement {
                image_id: iid,
                point2d_idx: im.points2d.len() as u32,
            });
            im.points2d.push(Point2D {
                xy: [px.x, px.y],
                point3d_id: Some(id),
            });
        }
        let rgb = colour
            .unwrap_or([0.0; 3])
            .map(|c| (c * 255.0).round() as u8);
        rec.points3d.insert(
            id,
            Point3D {
                id,
                xyz: [p.x, p.y, p.z],
                rgb,
                error: 0.0,
                track,
            },
        );
    }
}

/// The scene for `spec` without writing anything.
pub fn build(spec: &SceneSpec) -> Result<GeneratedScene, DatasetError> {
    if spec.views < 2 {
        return Err(DatasetError::Spec(format!(
            "need at least 2 views, got {}",
            spec.views
        )));
    }
    if spec.width < 16 || spec.height < 16 || spec.width > 8192 || spec.height > 8192 {
        return Err(DatasetError::Spec(format!(
            "image size {}x{} is outside 16..8192",
            spec.width, spec.height
        )));
    }
    if spec.test_every < 2 {
        return Err(DatasetError::Spec("test_every must be at least 2".into()));
    }
    let mut rng = SplitMix(spec.seed);
    let world = build_world(&mut rng);
    let mut reconstruction = build_cameras(spec);
    add_points(&world, &mut reconstruction, spec.points, &mut rng);
    Ok(GeneratedScene {
        world,
        reconstruction,
        spec: spec.clone(),
    })
}

/// OpenGL camera → world matrix (Blender's convention) of an image.
fn opengl_c2w(im: &Image) -> Vec<Vec<f64>> {
    let r_c2w = im.rotation().transpose();
    let c = im.center();
    let sign = [1.0, -1.0, -1.0];
    let mut rows: Vec<Vec<f64>> = (0..3)
        .map(|r| {
            (0..3)
                .map(|k| r_c2w[(r, k)] * sign[k])
                .chain([c[r]])
                .collect()
        })
        .collect();
    rows.push(vec![0.0, 0.0, 0.0, 1.0]);
    rows
}

fn write_transforms(path: &Path, rec: &Reconstruction, ids: &[u32]) -> Result<(), DatasetError> {
    let cam = &rec.cameras[&1];
    let (fx, fy) = cam.focal();
    let (cx, cy) = cam.principal_point();
    let frames: Vec<_> = ids
        .iter()
        .map(|id| {
            let im = &rec.images[id];
            json!({ "file_path": format!("images/{}", im.name), "transform_matrix": opengl_c2w(im) })
        })
        .collect();
    let doc = json!({
        "camera_angle_x": 2.0 * (cam.width as f64 / (2.0 * fx)).atan(),
        "fl_x": fx, "fl_y": fy, "cx": cx, "cy": cy, "w": cam.width, "h": cam.height,
        "frames": frames,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| DatasetError::Spec(e.to_string()))?;
    splat_scene::write_atomic_bytes(path, text.as_bytes())?;
    Ok(())
}

/// Generates the scene and writes it to `out`: `images/`, `sparse/0/`, `transforms_*.json`
/// and `manifest.json`.
pub fn generate(spec: &SceneSpec, out: &Path) -> Result<GeneratedScene, DatasetError> {
    generate_with_progress(spec, out, &|_| {})
}

/// As `generate`, calling `done(name)` after each image is written.
pub fn generate_with_progress(
    spec: &SceneSpec,
    out: &Path,
    done: &(dyn Fn(&str) + Sync),
) -> Result<GeneratedScene, DatasetError> {
    let built = build(spec)?;
    let rec = &built.reconstruction;
    let cam = &rec.cameras[&1];
    rec.images
        .values()
        .collect::<Vec<_>>()
        .par_iter()
        .try_for_each(|im| -> Result<(), DatasetError> {
            let img = render_view(&built.world, cam, im, spec.samples);
            splat_scene::images::save(
                &out.join("images").join(&im.name),
                &image::DynamicImage::ImageRgb8(img),
            )?;
            done(&im.name);
            Ok(())
        })?;
    write_binary(&out.join("sparse/0"), rec)?;
    let ids: Vec<u32> = rec.images_by_name().iter().map(|i| i.id).collect();
    let test: Vec<u32> = ids.iter().copied().step_by(spec.test_every).collect();
    let train: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|id| !test.contains(id))
        .collect();
    write_transforms(&out.join("transforms_train.json"), rec, &train)?;
    write_transforms(&out.join("transforms_test.json"), rec, &test)?;
    let manifest = json!({
        "generator": "splat built-in scene v1",
        "seed": spec.seed, "views": spec.views, "width": spec.width, "height": spec.height,
        "samples_per_pixel": spec.samples * spec.samples,
        "points3D": rec.points3d.len(),
        "test_every": spec.test_every,
        "test_views": test.len(), "train_views": train.len(),
        "camera_model": "PINHOLE",
        "axes": "world z up; COLMAP/OpenCV camera axes in sparse/0, OpenGL in transforms_*.json",
    });
    let text =
        serde_json::to_string_pretty(&manifest).map_err(|e| DatasetError::Spec(e.to_string()))?;
    splat_scene::write_atomic_bytes(&out.join("manifest.json"), text.as_bytes())?;
    Ok(built)
}
