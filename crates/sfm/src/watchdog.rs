//! Time limits for work whose length follows from its size: a pair's verification, an image's
//! registration, a bundle adjustment. Every loop in them is already bounded by counts (RANSAC
//! samples, LM iterations, capped decompositions); the limit is the net under those bounds, so
//! a case nobody foresaw ends in a warning that names the work, not in a process that seems to
//! hang. The limits sit far above normal times (`benches/sfm.rs` verifies a 1,000-match pair in
//! ~0.1 s, against a limit of 40 s; the slowest pair of `benches/verify_stress.sh` took 3.5 s),
//! so they never change a normal result.

use std::time::{Duration, Instant};

/// A limit of `base_s + per_item_s · items` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeLimit {
    pub base_s: f64,
    pub per_item_s: f64,
}

impl TimeLimit {
    /// A pair's verification (E, F and H by LO-RANSAC), per match.
    pub const VERIFICATION: TimeLimit = TimeLimit {
        base_s: 30.0,
        per_item_s: 0.01,
    };
    /// An image's registration (P3P by LO-RANSAC and the pose refinement), per 2D–3D
    /// correspondence.
    pub const REGISTRATION: TimeLimit = TimeLimit {
        base_s: 30.0,
        per_item_s: 0.01,
    };
    /// A bundle adjustment, per observation.
    pub const BUNDLE: TimeLimit = TimeLimit {
        base_s: 120.0,
        per_item_s: 0.002,
    };
    /// No limit.
    pub const NONE: TimeLimit = TimeLimit {
        base_s: f64::INFINITY,
        per_item_s: 0.0,
    };

    pub fn seconds(&self, items: usize) -> f64 {
        self.base_s + self.per_item_s * items as f64
    }

    /// Starts the clock for work of `items` items.
    pub fn start(&self, items: usize) -> Deadline {
        let seconds = self.seconds(items);
        let at = (seconds.is_finite() && seconds >= 0.0)
            .then(|| Instant::now().checked_add(Duration::from_secs_f64(seconds)))
            .flatten();
        Deadline { at, seconds }
    }
}

/// When a piece of work must be abandoned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadline {
    at: Option<Instant>,
    seconds: f64,
}

impl Default for Deadline {
    fn default() -> Self {
        Self::none()
    }
}

impl Deadline {
    pub fn none() -> Self {
        Self {
            at: None,
            seconds: f64::INFINITY,
        }
    }

    pub fn expired(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// The limit it was started with, seconds.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// `Err(Expired)` once the deadline has passed.
    pub fn check(&self) -> Result<(), Expired> {
        if self.expired() {
            Err(Expired {
                limit_s: self.seconds,
            })
        } else {
            Ok(())
        }
    }
}

/// Work abandoned at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("abandoned after its time limit of {limit_s:.1} s")]
pub struct Expired {
    pub limit_s: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_grow_with_size_and_expire() {
        assert_eq!(TimeLimit::VERIFICATION.seconds(2000), 50.0);
        assert!(!TimeLimit::VERIFICATION.start(10).expired());
        assert!(!TimeLimit::NONE.start(10).expired());
        let now = TimeLimit {
            base_s: 0.0,
            per_item_s: 0.0,
        }
        .start(5);
        assert!(now.expired());
        assert_eq!(now.check(), Err(Expired { limit_s: 0.0 }));
    }
}
