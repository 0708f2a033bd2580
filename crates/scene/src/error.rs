//! Errors of the scene crate. Every variant names the file; parse errors also say where (byte
//! offset or line) and what was expected there.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SceneError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A binary file that ends early or holds an impossible value.
    #[error("{}: at byte {offset}: {message}", path.display())]
    Binary {
        path: PathBuf,
        offset: u64,
        message: String,
    },
    /// A text file with a malformed line.
    #[error("{}:{line}: {message}", path.display())]
    Text {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: missing property '{name}' in element 'vertex'", path.display())]
    MissingProperty { path: PathBuf, name: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

impl SceneError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn text(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Self::Text {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
