//! A pinhole view to render: intrinsics, world → camera pose, near plane and background.

use crate::constants::TILE;
use nalgebra::{Matrix3, Vector3};

/// A pinhole view to render.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub width: u32,
    pub height: u32,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    /// World → camera.
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
    /// Gaussians closer than this (camera z) are culled.
    pub near: f64,
    pub background: [f64; 3],
}

impl View {
    pub fn camera_centre(&self) -> Vector3<f64> {
        -(self.rotation.transpose() * self.translation)
    }

    pub fn tiles(&self) -> (u32, u32) {
        (self.width.div_ceil(TILE), self.height.div_ceil(TILE))
    }

    /// A view of a COLMAP image with a PINHOLE or SIMPLE_PINHOLE camera.
    pub fn from_colmap(
        cam: &splat_scene::Camera,
        im: &splat_scene::Image,
        near: f64,
        background: [f64; 3],
    ) -> Option<Self> {
        if !cam.model.is_pinhole() {
            return None;
        }
        let (fx, fy) = cam.focal();
        let (cx, cy) = cam.principal_point();
        Some(Self {
            width: cam.width as u32,
            height: cam.height as u32,
            fx,
            fy,
            cx,
            cy,
            rotation: im.rotation(),
            translation: im.translation(),
            near,
            background,
        })
    }
}
