//! SOG compression costs on a 100,000-Gaussian model of SH degree 3 (`splat_test_support::sog::
//! synthetic_cloud`, value distributions like a trained scene): the whole compressor (sort, SH
//! palette, quantization, WebP), its two heavy steps alone (PLAS sort; k-means palette of 65,536
//! centroids, 10 iterations), and decompression of the `.sog` it wrote. `webp_encoder` encodes
//! the same `means_l` plane with libwebp (what we ship) and with the `image` crate's pure-Rust
//! lossless encoder, and prints both sizes: the choice of encoder is made on these figures.
//! 1M-Gaussian and splat-transform timings are in `benches/sogs_vs_splat_transform.sh` (one run
//! each: a criterion sample of 1M takes minutes).
//!
//! Run: `cargo bench -p splat-sogs --bench sogs`. Results go to `benches/RESULTS.md`.

use criterion::{Criterion, criterion_group, criterion_main};
use splat_sogs::{CompressOptions, Ordering, kmeans, layout::GridLayout, order, plas};
use splat_test_support::sog::synthetic_cloud;

const N: usize = 100_000;

fn bench_compress(c: &mut Criterion) {
    let cloud = synthetic_cloud(N, 3, 1);
    let mut group = c.benchmark_group("sogs_100k");
    group.sample_size(10);
    group.bench_function("compress", |b| {
        b.iter(|| {
            splat_sogs::compress(&cloud, &CompressOptions::default(), &()).expect("compress")
        });
    });
    group.bench_function("compress_morton_order", |b| {
        let opts = CompressOptions {
            ordering: Ordering::Morton,
            ..CompressOptions::default()
        };
        b.iter(|| splat_sogs::compress(&cloud, &opts, &()).expect("compress"));
    });
    let layout = GridLayout::for_count(N);
    group.bench_function("plas_sort", |b| {
        let keys = order::sort_keys(&cloud, &Default::default());
        let ids = order::morton_order(&cloud.means);
        let grid = plas::Grid::new(
            layout.width,
            layout.full_rows(),
            order::KEY_CHANNELS,
            &keys,
            &ids[..layout.width * layout.full_rows()],
        );
        b.iter(|| {
            let mut g = grid.clone();
            plas::sort(&mut g, &plas::PlasOptions::default(), &|_, _| {})
        });
    });
    group.bench_function("sh_palette_kmeans", |b| {
        b.iter(|| kmeans::fit(&cloud.sh_rest, 45, kmeans::palette_size(N), 10, 1, &|_| {}));
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.sog");
    let (files, _) =
        splat_sogs::compress(&cloud, &CompressOptions::default(), &()).expect("compress");
    splat_sogs::container::write(&path, &files).expect("write");
    group.bench_function("decompress", |b| {
        b.iter(|| splat_sogs::read_sog(&path).expect("read"));
    });
    group.finish();
}

fn bench_webp_encoders(c: &mut Criterion) {
    let cloud = synthetic_cloud(N, 0, 2);
    let layout = GridLayout::for_count(N);
    let ids: Vec<u32> = order::morton_order(&cloud.means);
    let sog = splat_sogs::planes::encode(
        &cloud,
        &ids,
        layout.width,
        layout.height,
        None,
        Default::default(),
        "bench",
    );
    let plane = sog
        .image(splat_sogs::planes::MEANS_L)
        .expect("means_l")
        .clone();
    let encode_image_webp = |img: &splat_sogs::Image| {
        let mut out = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut out)
            .encode(
                &img.rgba,
                img.width as u32,
                img.height as u32,
                image::ExtendedColorType::Rgba8,
            )
            .expect("image-webp");
        out
    };
    eprintln!(
        "webp_encoder: means_l {}×{}: libwebp {} bytes, image-webp {} bytes",
        plane.width,
        plane.height,
        splat_sogs::container::encode_webp(&plane, None)
            .expect("libwebp")
            .len(),
        encode_image_webp(&plane).len()
    );
    let mut group = c.benchmark_group("webp_encoder");
    group.sample_size(10);
    group.bench_function("libwebp", |b| {
        b.iter(|| splat_sogs::container::encode_webp(&plane, None).expect("libwebp"));
    });
    group.bench_function("image_webp", |b| b.iter(|| encode_image_webp(&plane)));
    group.finish();
}

criterion_group!(benches, bench_webp_encoders, bench_compress);
criterion_main!(benches);
