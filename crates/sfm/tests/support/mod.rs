//! Helpers shared by this crate's integration tests.
#![allow(dead_code)] // each test binary uses a different part

use splat_datasets::{GeneratedScene, SceneSpec, build, render_view};
use std::path::Path;

/// The built-in scene with its 48-view orbit (7.5° apart, alternating heights) at `width`×`height`.
pub fn orbit(width: u32, height: u32) -> GeneratedScene {
    build(&SceneSpec {
        views: 48,
        width,
        height,
        samples: 2,
        ..SceneSpec::default()
    })
    .expect("scene")
}

/// Renders the first `count` views of `scene` into `dir` under their image names.
pub fn render_views(scene: &GeneratedScene, dir: &Path, count: usize) {
    let cam = &scene.reconstruction.cameras[&1];
    for im in scene.reconstruction.images.values().take(count) {
        render_view(&scene.world, cam, im, scene.spec.samples)
            .save(dir.join(&im.name))
            .expect("writing a view");
    }
}
