//! Pairs from where the photos were taken: each image with its nearest neighbours by EXIF GPS
//! position (drone captures), optionally only those within a radius.

use crate::input::GpsPosition;

/// WGS84 semi-major axis, metres.
const WGS84_A: f64 = 6_378_137.0;
/// WGS84 first eccentricity squared.
const WGS84_E2: f64 = 6.694_379_990_14e-3;

/// Earth-centred, earth-fixed coordinates (metres) of a GPS position; a missing altitude is
/// taken as `default_altitude`.
pub fn ecef(p: &GpsPosition, default_altitude: f64) -> [f64; 3] {
    let (lat, lon) = (p.latitude.to_radians(), p.longitude.to_radians());
    let h = p.altitude.unwrap_or(default_altitude);
    let n = WGS84_A / (1.0 - WGS84_E2 * lat.sin().powi(2)).sqrt();
    [
        (n + h) * lat.cos() * lon.cos(),
        (n + h) * lat.cos() * lon.sin(),
        (n * (1.0 - WGS84_E2) + h) * lat.sin(),
    ]
}

/// How spatial pairs are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpatialOptions {
    /// Nearest images each image is matched with.
    pub neighbours: usize,
    /// Only neighbours closer than this many metres (0: no limit).
    pub max_distance: f64,
    /// Ignore altitude (it is often poor from phone GPS).
    pub ignore_altitude: bool,
}

impl Default for SpatialOptions {
    fn default() -> Self {
        Self {
            neighbours: 20,
            max_distance: 0.0,
            ignore_altitude: false,
        }
    }
}

/// Pairs (i < j, sorted, unique) of each positioned image with its nearest positioned images;
/// images without a position get none.
pub fn spatial_pairs(
    positions: &[Option<GpsPosition>],
    opts: &SpatialOptions,
) -> Vec<(usize, usize)> {
    let mean_altitude = {
        let known: Vec<f64> = positions
            .iter()
            .flatten()
            .filter_map(|p| p.altitude)
            .collect();
        if known.is_empty() {
            0.0
        } else {
            known.iter().sum::<f64>() / known.len() as f64
        }
    };
    let points: Vec<Option<[f64; 3]>> = positions
        .iter()
        .map(|p| {
            p.map(|p| {
                let p = if opts.ignore_altitude {
                    GpsPosition {
                        altitude: None,
                        ..p
                    }
                } else {
                    p
                };
                ecef(&p, mean_altitude)
            })
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in points.iter().enumerate() {
        let Some(a) = a else { continue };
        let mut near: Vec<(f64, usize)> = points
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .filter_map(|(j, b)| {
                b.map(|b| {
                    let d2: f64 = (0..3).map(|k| (a[k] - b[k]).powi(2)).sum();
                    (d2.sqrt(), j)
                })
            })
            .filter(|&(d, _)| opts.max_distance <= 0.0 || d <= opts.max_distance)
            .collect();
        near.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        pairs.extend(
            near.into_iter()
                .take(opts.neighbours)
                .map(|(_, j)| (i.min(j), i.max(j))),
        );
    }
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64, alt: Option<f64>) -> GpsPosition {
        GpsPosition {
            latitude: lat,
            longitude: lon,
            altitude: alt,
        }
    }

    #[test]
    fn ecef_matches_known_points() {
        // The equator at Greenwich, the north pole (b = a·√(1 − e²)), and 100 m up.
        let p = ecef(&at(0.0, 0.0, None), 0.0);
        assert!((p[0] - WGS84_A).abs() < 1e-6 && p[1].abs() < 1e-6 && p[2].abs() < 1e-6);
        let pole = ecef(&at(90.0, 0.0, Some(0.0)), 0.0);
        assert!((pole[2] - 6_356_752.314_245).abs() < 1e-3, "{pole:?}");
        let up = ecef(&at(0.0, 90.0, Some(100.0)), 0.0);
        assert!((up[1] - WGS84_A - 100.0).abs() < 1e-6);
        // One arc-second of latitude near 45° is about 30.9 m.
        let a = ecef(&at(45.0, 7.0, None), 0.0);
        let b = ecef(&at(45.0 + 1.0 / 3600.0, 7.0, None), 0.0);
        let d = (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>().sqrt();
        assert!((d - 30.87).abs() < 0.05, "{d}");
    }

    #[test]
    fn nearest_neighbours_along_a_line_and_a_radius() {
        // Photos 0, 10, 25, 45 and 70 m along a meridian, and one without GPS.
        let metre = 1.0 / 111_132.0;
        let mut positions: Vec<Option<GpsPosition>> = [0.0, 10.0, 25.0, 45.0, 70.0]
            .iter()
            .map(|d| Some(at(47.0 + d * metre, 8.0, Some(400.0))))
            .collect();
        positions.insert(2, None);
        let one = SpatialOptions {
            neighbours: 1,
            ..SpatialOptions::default()
        };
        // Indices 0, 1, (2: none), 3, 4, 5: each with its nearest.
        assert_eq!(
            spatial_pairs(&positions, &one),
            vec![(0, 1), (1, 3), (3, 4), (4, 5)]
        );
        let radius = SpatialOptions {
            neighbours: 10,
            max_distance: 17.0,
            ..SpatialOptions::default()
        };
        assert_eq!(spatial_pairs(&positions, &radius), vec![(0, 1), (1, 3)]);
        let all = SpatialOptions {
            neighbours: 10,
            ..SpatialOptions::default()
        };
        assert_eq!(spatial_pairs(&positions, &all).len(), 10);
    }

    #[test]
    fn altitude_can_be_ignored() {
        // Photo 1 is 50 m above photo 0; photo 2 is 30 m north of photo 1, at its height.
        let north = 30.0 / 111_132.0;
        let positions = vec![
            Some(at(47.0, 8.0, Some(400.0))),
            Some(at(47.0, 8.0, Some(450.0))),
            Some(at(47.0 + north, 8.0, Some(450.0))),
        ];
        let one = SpatialOptions {
            neighbours: 1,
            ..SpatialOptions::default()
        };
        assert_eq!(spatial_pairs(&positions, &one), vec![(0, 1), (1, 2)]);
        // Flat, 0 and 1 coincide and 2 is as near to both: the lower index wins.
        let flat = SpatialOptions {
            ignore_altitude: true,
            ..one
        };
        assert_eq!(spatial_pairs(&positions, &flat), vec![(0, 1), (0, 2)]);
    }
}
