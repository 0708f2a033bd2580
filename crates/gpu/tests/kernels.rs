//! Every shader of this crate composes, validates and matches its Rust structs (no GPU needed).

#[test]
fn every_gpu_shader_matches_its_rust_side() {
    for source in [splat_gpu::scan_source(), splat_gpu::sort_source()] {
        if let Err(e) = splat_gpu::Shader::compose(&source) {
            panic!("{e}");
        }
    }
}
