//! Embeds the web dashboard: every file under `web/` becomes an entry of the table
//! `$OUT_DIR/web_assets.rs` (its path, its bytes through `include_bytes!`, and a hash of them
//! for the ETag), which `src/rest/web.rs` serves. Cargo reruns this when anything in `web/`
//! changes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

include!("src/rest/content_hash.rs");

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?);
    let web = root.join("web");
    println!("cargo:rerun-if-changed=web");
    println!("cargo:rerun-if-changed=src/rest/content_hash.rs");
    let mut found = Vec::new();
    files(&web, &mut found)?;
    found.sort();
    let mut table = String::from("&[\n");
    for path in found {
        let rel = path
            .strip_prefix(&web)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let hash = fnv(&std::fs::read(&path)?);
        // Relative to the crate's directory when the crate compiles, not to where this script
        // ran: checkouts that share a target directory share this generated file.
        writeln!(
            table,
            "    ({rel:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/web/{rel}\")), \"{hash:016x}\"),"
        )
        .map_err(std::io::Error::other)?;
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    std::fs::write(out.join("web_assets.rs"), table)
}
