// The content hash of the dashboard's files (their ETag), shared by `build.rs`, which hashes
// the embedded files at build time (`include!`), and `src/rest/dashboard.rs`, which hashes
// files read from `RILL_WEB_DIR`.

/// FNV-1a, 64 bits: enough to tell two versions of a file apart.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
