//! Structure from motion. This crate holds the front end: photo input with focal priors,
//! SIFT-style features, exhaustive or sequential descriptor matching, geometric verification
//! (E, F, H by LO-RANSAC) and the COLMAP database those are written to.

pub mod bundle;
pub mod database;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod front_end;
pub mod geometry;
pub mod gray;
pub mod input;
pub mod linalg;
pub mod mapper;
pub mod matching;
pub mod timing;
pub mod watchdog;

pub use error::{Result, SfmError};
pub use front_end::{CameraMode, FrontEndOptions, MatchReport, Matcher, Observer};
