//! Morton (Z-curve) order of positions: 10 bits per axis over the bounding box, ties kept in
//! index order. One definition for the compressed PLY writer (`formats::compressed_ply`) and the
//! SOG compressor (`splat_sogs::order`), which both want Gaussians that are near in the file to
//! be near in space.

/// Indices of `means` in Morton order.
pub fn morton_order(means: &[[f32; 3]]) -> Vec<u32> {
    let mut lo = [f32::MAX; 3];
    let mut hi = [f32::MIN; 3];
    for m in means {
        for a in 0..3 {
            lo[a] = lo[a].min(m[a]);
            hi[a] = hi[a].max(m[a]);
        }
    }
    let spread = |v: u32| -> u64 {
        let mut x = u64::from(v) & 0x3ff;
        x = (x | (x << 16)) & 0x0300_00ff;
        x = (x | (x << 8)) & 0x0300_f00f;
        x = (x | (x << 4)) & 0x030c_30c3;
        (x | (x << 2)) & 0x0924_9249
    };
    let mut coded: Vec<(u64, u32)> = means
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let q: [u32; 3] = std::array::from_fn(|a| {
                let span = hi[a] - lo[a];
                if span > 0.0 {
                    (((m[a] - lo[a]) / span) * 1023.0).round() as u32
                } else {
                    0
                }
            });
            (
                spread(q[2]) << 2 | spread(q[1]) << 1 | spread(q[0]),
                i as u32,
            )
        })
        .collect();
    coded.sort_unstable();
    coded.into_iter().map(|(_, i)| i).collect()
}
