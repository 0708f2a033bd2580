//! Every shader of the trainer composes, validates and matches its Rust parameter structs and
//! shared constants (no GPU needed); each kernel's bindings are checked by name when it binds.

use gpu::{Shader, ShaderSource};

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
    check(splat_train::optim::adam_source());
    check(splat_train::loss::loss_source());
    check(splat_train::densify::densify_source());
    check(splat_train::mcmc::mcmc_source());
}

#[test]
fn the_gradient_record_is_written_where_densification_reads_it() {
    // The backward pass writes the screen-space gradient at GEOM_MEAN2D of a GEOM_STRIDE record;
    // both numbers reach every shader from `constants.rs`, so the text must not define its own.
    for source in [
        splat_train::raster::backward_source(false),
        splat_train::densify::densify_source(),
        splat_train::mcmc::mcmc_source(),
    ] {
        let shader = check(source);
        let text = shader.text();
        assert_eq!(
            text.matches("const GEOM_STRIDE").count(),
            1,
            "one generated GEOM_STRIDE"
        );
        assert!(text.contains(&format!(
            "const GEOM_MEAN2D: u32 = {}u;",
            splat_train::constants::GEOM_MEAN2D
        )));
    }
}

#[test]
fn a_kernel_uses_the_bindings_its_host_code_gives() {
    let forward = check(splat_train::raster::forward_source());
    let names: Vec<String> = forward
        .bindings("rank_counts")
        .expect("entry point")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["view", "touched", "depth_order", "rank_offsets"]);
}
