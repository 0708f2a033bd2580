//! The objects of a built-in scene and ray intersection with them.

use crate::texture::Material;
use nalgebra::{Matrix3, Vector3};

#[derive(Debug, Clone)]
pub enum Shape {
    Sphere {
        centre: Vector3<f64>,
        radius: f64,
    },
    /// A box with half extents, turned by `yaw` about the vertical (z) axis.
    Cuboid {
        centre: Vector3<f64>,
        half: Vector3<f64>,
        rot: Matrix3<f64>,
    },
    /// The square z = 0, |x|, |y| ≤ half.
    Ground {
        half: f64,
    },
    /// A sphere seen from inside: the backdrop.
    Dome {
        radius: f64,
    },
}

#[derive(Debug, Clone)]
pub struct Object {
    pub shape: Shape,
    pub material: Material,
}

/// A ray hit: distance along the (unit) ray, point, normal facing the ray, object index.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub t: f64,
    pub point: Vector3<f64>,
    pub normal: Vector3<f64>,
    pub object: usize,
}

/// All objects of a scene and the light.
#[derive(Debug, Clone)]
pub struct World {
    pub objects: Vec<Object>,
    /// Unit direction towards the light.
    pub light: Vector3<f64>,
    pub ambient: f64,
}

const EPS: f64 = 1e-9;

fn intersect(shape: &Shape, o: &Vector3<f64>, d: &Vector3<f64>) -> Option<(f64, Vector3<f64>)> {
    match shape {
        Shape::Sphere { centre, radius } => {
            let oc = o - centre;
            let b = oc.dot(d);
            let c = oc.norm_squared() - radius * radius;
            let disc = b * b - c;
            if disc < 0.0 {
                return None;
            }
            let s = disc.sqrt();
            let t = if -b - s > EPS { -b - s } else { -b + s };
            (t > EPS).then(|| (t, (o + d * t - centre) / *radius))
        }
        Shape::Dome { radius } => {
            let b = o.dot(d);
            let c = o.norm_squared() - radius * radius;
            let disc = b * b - c;
            if disc < 0.0 {
                return None;
            }
            let t = -b + disc.sqrt();
            (t > EPS).then(|| (t, -(o + d * t) / *radius))
        }
        Shape::Ground { half } => {
            if d.z.abs() < 1e-12 {
                return None;
            }
            let t = -o.z / d.z;
            let p = o + d * t;
            (t > EPS && p.x.abs() <= *half && p.y.abs() <= *half).then(|| (t, Vector3::z()))
        }
        Shape::Cuboid { centre, half, rot } => {
            // Slab test in the box frame (rot maps box → world).
            let lo = rot.transpose() * (o - centre);
            let ld = rot.transpose() * d;
            let (mut tmin, mut tmax) = (f64::MIN, f64::MAX);
            let mut axis_min = 0;
            let mut axis_max = 0;
            for a in 0..3 {
                if ld[a].abs() < 1e-15 {
                    if lo[a].abs() > half[a] {
                        return None;
                    }
                    continue;
                }
                let t1 = (-half[a] - lo[a]) / ld[a];
                let t2 = (half[a] - lo[a]) / ld[a];
                let (near, far) = if t1 < t2 { (t1, t2) } else { (t2, t1) };
                if near > tmin {
                    tmin = near;
                    axis_min = a;
                }
                if far < tmax {
                    tmax = far;
                    axis_max = a;
                }
            }
            if tmin > tmax || tmax <= EPS {
                return None;
            }
            let (t, axis) = if tmin > EPS {
                (tmin, axis_min)
            } else {
                (tmax, axis_max)
            };
            let mut n = Vector3::zeros();
            n[axis] = (lo[axis] + ld[axis] * t).signum();
            Some((t, rot * n))
        }
    }
}

impl World {
    /// The nearest hit along a unit ray.
    pub fn trace(&self, o: &Vector3<f64>, d: &Vector3<f64>) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        for (i, obj) in self.objects.iter().enumerate() {
            if let Some((t, n)) = intersect(&obj.shape, o, d)
                && best.is_none_or(|b| t < b.t)
            {
                let normal = if n.dot(d) > 0.0 { -n } else { n };
                best = Some(Hit {
                    t,
                    point: o + d * t,
                    normal,
                    object: i,
                });
            }
        }
        best
    }

    /// Shaded colour at a hit: albedo × (ambient + diffuse, with a shadow ray).
    pub fn shade(&self, hit: &Hit) -> [f64; 3] {
        let obj = &self.objects[hit.object];
        let albedo = obj.material.albedo(&hit.point);
        let lit = if matches!(obj.shape, Shape::Dome { .. }) {
            1.0
        } else {
            let cos = hit.normal.dot(&self.light).max(0.0);
            let origin = hit.point + hit.normal * 1e-6;
            let shadowed = cos > 0.0
                && self
                    .trace(&origin, &self.light)
                    .is_some_and(|h| !matches!(self.objects[h.object].shape, Shape::Dome { .. }));
            self.ambient + (1.0 - self.ambient) * if shadowed { 0.0 } else { cos }
        };
        albedo.map(|a| (a * lit).clamp(0.0, 1.0))
    }
}
