//! Where checkpoint files live: a local directory, or a prefix in an object store
//! (`s3://bucket/prefix`, also `s3a://`), chosen by the location's scheme as Flink's
//! `FileSystem` is. Every checkpoint file — state files, `_metadata`, the shared RocksDB SST
//! files, savepoints — is read and written through the functions here, which keep the
//! locations as paths (`Path::join` and `parent` work on `s3://…` as on directories).
//!
//! All of them block: they run on the I/O threads of the actors and of the snapshot writers,
//! never on an actor's own thread. Object-store requests run on a runtime of their own (see
//! [`s3`]) with retries and backoff on transient errors; files larger than
//! [`MULTIPART_ABOVE`] go up in parts. Errors are `std::io::Error`s (`NotFound` where the
//! object is missing), so callers name the file the same way for both kinds of storage.

mod s3;

use std::fs;
use std::io::{self, Write};
use std::path::Path;

pub use s3::{configure, S3ConfigError, S3Options};

/// Files above this size are uploaded to an object store in parts of this size.
pub const MULTIPART_ABOVE: usize = 8 << 20;

/// What a location names.
enum Location<'a> {
    /// A local path.
    Local(&'a Path),
    /// An object (or a prefix, for a directory) in a bucket.
    Object(s3::ObjectPath),
}

/// The schemes of object stores Rill writes to.
const OBJECT_SCHEMES: [&str; 2] = ["s3", "s3a"];

fn locate(path: &Path) -> io::Result<Location<'_>> {
    let Some(text) = path.to_str() else {
        return Ok(Location::Local(path));
    };
    match text.split_once("://") {
        None => Ok(Location::Local(path)),
        Some(("file", rest)) => Ok(Location::Local(Path::new(rest))),
        Some((scheme, rest)) if OBJECT_SCHEMES.contains(&scheme) => {
            s3::ObjectPath::parse(rest).map(Location::Object)
        }
        Some((scheme, _)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "the storage scheme '{scheme}://' is not supported: use a local path or s3://bucket/prefix"
            ),
        )),
    }
}

/// Whether `path` names an object store rather than a local path.
pub fn is_remote(path: &Path) -> bool {
    matches!(locate(path), Ok(Location::Object(_)))
}

/// Checks that `path` is a location checkpoints can be written to (a local path, or an
/// object store with a bucket), without touching it.
pub fn check(path: &Path) -> io::Result<()> {
    locate(path).map(|_| ())
}

/// Writes `bytes` to `path` whole or not at all: locally through a synced temporary file and
/// a rename, to an object store in one request (or in parts, completed at the end).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match locate(path)? {
        Location::Local(path) => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            let tmp = path.with_extension("inprogress");
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        }
        Location::Object(o) => s3::put(&o, bytes),
    }
}

/// The whole content of the file at `path`.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    match locate(path)? {
        Location::Local(path) => fs::read(path),
        Location::Object(o) => s3::get(&o),
    }
}

/// The size of the file at `path`.
pub fn len(path: &Path) -> io::Result<u64> {
    match locate(path)? {
        Location::Local(path) => fs::metadata(path).map(|m| m.len()),
        Location::Object(o) => s3::head(&o),
    }
}

/// Whether a file is at `path`: an error where that cannot be told (an object store that
/// does not answer).
pub fn is_file(path: &Path) -> io::Result<bool> {
    match locate(path)? {
        Location::Local(path) => Ok(path.is_file()),
        Location::Object(o) => match s3::head(&o) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        },
    }
}

/// Whether a file is at `path` (false where it cannot be told, which is logged).
pub fn exists(path: &Path) -> bool {
    is_file(path).unwrap_or_else(|e| {
        tracing::warn!(path = %path.display(), error = %e, "could not tell whether a checkpoint file exists");
        false
    })
}

/// The names of the entries (files and directories) right under the directory `dir`; none
/// where it does not exist.
pub fn children(dir: &Path) -> io::Result<Vec<String>> {
    match locate(dir)? {
        Location::Local(dir) => match fs::read_dir(dir) {
            Ok(entries) => Ok(entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        },
        Location::Object(o) => s3::children(&o),
    }
}

/// The files under the directory `dir`, at any depth, as paths relative to it (`a/b/f`); none
/// where it does not exist.
pub fn files(dir: &Path) -> io::Result<Vec<String>> {
    match locate(dir)? {
        Location::Local(dir) => {
            let mut out = Vec::new();
            let mut dirs = vec![(dir.to_path_buf(), String::new())];
            while let Some((d, relative)) = dirs.pop() {
                let entries = match fs::read_dir(&d) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries.flatten() {
                    let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                        continue;
                    };
                    let path = if relative.is_empty() {
                        name
                    } else {
                        format!("{relative}/{name}")
                    };
                    // A few levels hold buckets or checkpoints; a deeper tree is not Rill's.
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        if path.matches('/').count() < 16 {
                            dirs.push((entry.path(), path));
                        }
                    } else {
                        out.push(path);
                    }
                }
            }
            Ok(out)
        }
        Location::Object(o) => s3::files(&o),
    }
}

/// Renames the file `from` to `to` (an object store copies, then deletes).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    match (locate(from)?, locate(to)?) {
        (Location::Local(from), Location::Local(to)) => fs::rename(from, to),
        (Location::Object(from), Location::Object(to)) => s3::rename(&from, &to),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "cannot rename {} to {}: not on the same storage",
                from.display(),
                to.display()
            ),
        )),
    }
}

/// Removes the file at `path`.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match locate(path)? {
        Location::Local(path) => fs::remove_file(path),
        Location::Object(o) => s3::delete(&o),
    }
}

/// Removes the directory `dir` and everything under it.
pub fn remove_dir_all(dir: &Path) -> io::Result<()> {
    match locate(dir)? {
        Location::Local(dir) => fs::remove_dir_all(dir),
        Location::Object(o) => s3::delete_prefix(&o),
    }
}

/// Makes the directory `dir` where the storage has directories (object stores have none).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    match locate(dir)? {
        Location::Local(dir) => fs::create_dir_all(dir),
        Location::Object(_) => Ok(()),
    }
}

/// Copies the local file `from` to `to`, whole or not at all (in parts to an object store
/// when it is large, never read into memory whole).
pub fn upload(from: &Path, to: &Path) -> io::Result<()> {
    match locate(to)? {
        Location::Local(to) => {
            let tmp = to.with_extension("inprogress");
            fs::copy(from, &tmp)?;
            fs::File::open(&tmp).and_then(|f| f.sync_all())?;
            fs::rename(&tmp, to)
        }
        Location::Object(o) => s3::upload(from, &o),
    }
}

/// Puts the file at `from` on the local disk at `to`: a hard link where both are local (a
/// copy where linking fails), a download in ranges from an object store.
pub fn download(from: &Path, to: &Path) -> io::Result<()> {
    match locate(from)? {
        Location::Local(from) => {
            if fs::hard_link(from, to).is_err() {
                fs::copy(from, to)?;
            }
            Ok(())
        }
        Location::Object(o) => s3::download(&o, to),
    }
}

#[cfg(test)]
mod tests;
