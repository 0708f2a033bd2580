//! Structure from motion. This crate holds the front end: photo input with focal priors,
//! SIFT-style features, pair selection (exhaustive, sequential, retrieval, spatial),
//! descriptor matching, geometric verification (E, F, H by LO-RANSAC) and the COLMAP database
//! those are written to.

// Library code (not its tests) never unwraps, expects or panics on what a user can influence;
// where an invariant makes one impossible, the site says so with an `allow` and why.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bundle;
pub mod database;
pub mod dot_products;
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
pub mod observer;
pub mod pairs;
pub mod timing;
pub mod watchdog;

pub use error::{Result, SfmError};
pub use front_end::{CameraMode, FrontEndOptions, MatchReport, Matcher, Observer};
