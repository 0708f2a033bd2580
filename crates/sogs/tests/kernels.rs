//! The PLAS shader composes, validates and matches its Rust parameter struct (no GPU needed).

#[test]
fn plas_shader_matches_its_rust_side() {
    if let Err(e) = splat_gpu::Shader::compose(&splat_sogs::plas_gpu::plas_source()) {
        panic!("{e}");
    }
}
