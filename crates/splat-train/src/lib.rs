//! 3DGS training. So far: the plain-Rust f64 reference of the tile rasterizer (forward and
//! analytic backward), the oracle the WGSL kernels are tested against.

pub mod reference;
pub mod sh;
