//! Every shader of the trainer composes, validates and matches its Rust parameter structs and
//! shared constants (no GPU needed); each kernel's bindings are checked by name when it binds.

use splat_gpu::{Shader, ShaderSource};

fn check(source: ShaderSource) -> Shader {
    match Shader::compose(&source) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn rasterizer_shaders_match_their_rust_side() {
    check(splat_train::raster::forward_source());
    check(splat_train::raster::backward_source(false));
    check(splat_train::raster::backward_source(true));
}

#[test]
fn optimiser_loss_and_density_shaders_match_their_rust_side() {
    check(splat_train::optim::adam_source(3));
    check(splat_train::loss::loss_source());
    check(splat_train::densify::densify_source());
    check(splat_train::mcmc::mcmc_source());
}

#[test]
fn reflection_lists_only_the_bindings_an_entry_point_uses() {
    // The forward module declares 24 bindings (common.wgsl); `rank_counts` uses four of them,
    // and an automatic pipeline layout holds only those, so binding any other would fail.
    let forward = check(splat_train::raster::forward_source());
    let names: Vec<String> = forward
        .bindings("rank_counts")
        .expect("entry point")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["view", "touched", "depth_order", "rank_offsets"]);
}
