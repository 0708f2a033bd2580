//! Cases the fuzzer found that need its allocation guard to fail: each named, each exact.

use std::path::Path;

/// A bit flip in a bundle's central directory declared a 1 GiB entry, and the reader reserved
/// that much before reading a byte (the guard refused it). The declared size of the first entry
/// is set to 2 GiB here; the reader must answer without reserving it.
#[test]
fn a_zip_entry_declaring_gigabytes_reserves_nothing_of_the_kind() {
    let cloud = splat_test_support::sog::synthetic_cloud(40, 0, 3);
    let files = splat_sogs::compress(&cloud, &splat_sogs::CompressOptions::default(), &())
        .unwrap()
        .0;
    let mut bytes = splat_sogs::container::zip_bytes(&files).unwrap();
    let central = bytes
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    // Central directory header: the uncompressed size is at offset 24.
    bytes[central + 24..central + 28].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sized.sog");
    std::fs::write(&p, &bytes).unwrap();
    match splat_sogs::read_sog(Path::new(&p)) {
        Ok(c) => c.validate(&p).unwrap(),
        Err(e) => assert!(e.to_string().contains("sized.sog"), "{e}"),
    }
}
