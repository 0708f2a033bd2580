//! SOGS compression: Gaussians sorted into a smooth 2-D grid by PLAS, quantized exactly as
//! PlayCanvas SOG v2 lays them out (16-bit log positions, smallest-three quaternions, 256-entry
//! codebooks, a k-means SH palette), stored as lossless WebP in a `.sog` bundle or a folder; and
//! the reader for v1 and v2 files written by any tool.

// Library code (not its tests) never unwraps, expects or panics on what a user can influence;
// where an invariant makes one impossible, the site says so with an `allow` and why.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod codebook;
mod compress;
pub mod container;
mod error;
pub mod kmeans;
pub mod layout;
pub mod meta;
pub mod order;
pub mod planes;
pub mod plas;
pub mod plas_gpu;

pub use compress::{
    CompressOptions, CompressReport, Importance, MAX_PALETTE, Presorted, Progress, Quantized,
    compress, compress_on, compress_to_file, decode, decode_raw, decoded_in_order, decoded_on,
    quantize_on, read_sog, read_sog_images, texel_order_on,
};
pub use error::{Result, SogsError};
pub use order::{KeyWeights, Ordering};
pub use planes::{Image, Sog};
pub use plas::PlasOptions;
