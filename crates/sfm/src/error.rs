//! The errors of the SfM stages.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SfmError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir}: {usable} usable image(s); at least 2 are needed{skipped}")]
    TooFewImages {
        dir: PathBuf,
        usable: usize,
        /// A description of the files that were skipped, if any.
        skipped: String,
    },
    #[error("database {path}: {source}")]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database {path}: {message}")]
    BadDatabase { path: PathBuf, message: String },
    /// A ground-truth camera file (or folder of them) that cannot be used.
    #[error("{}: {message}", path.display())]
    BadCameraFile { path: PathBuf, message: String },
}

pub type Result<T, E = SfmError> = std::result::Result<T, E>;
