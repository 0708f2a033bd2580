//! The crate's error type: every failure names the file (and, inside a `.sog`, the entry) and
//! what is wrong with it.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SogsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A SOG file or folder that cannot be read: bad zip, missing entry, bad JSON, an image of
    /// the wrong size, an out-of-range value.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// Input the compressor cannot take (empty cloud, bad options).
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Scene(#[from] splat_scene::SceneError),
    #[error(transparent)]
    Gpu(#[from] splat_gpu::GpuError),
}

impl SogsError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        SogsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn format(path: &Path, message: impl Into<String>) -> Self {
        SogsError::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = SogsError> = std::result::Result<T, E>;
