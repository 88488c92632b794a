//! How keys and values are laid out in RocksDB (the module's Layout section): a cell's key
//! and its prefix, the encoding of values and lists, and the options of every column family.

use std::hash::Hash;

use rocksdb::{ColumnFamily, DBCompressionType, Options, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::state::key_group::assign_to_key_group;
use crate::state::keyed::Stamped;
use crate::state::StateError;

pub(super) fn backend_error(context: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Backend(format!("{context}: {e}"))
}

pub(super) fn serialize_error(state: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Serialize {
        state: state.to_string(),
        message: e.to_string(),
    }
}

pub(super) fn deserialize_error(state: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Deserialize {
        state: state.to_string(),
        message: e.to_string(),
    }
}

/// Bytes of a key group's first key.
pub(super) fn group_prefix(group: usize) -> [u8; 2] {
    (group as u16).to_be_bytes()
}

/// The block cache all instances of the process share.
fn block_cache() -> Option<&'static rocksdb::Cache> {
    static CACHE: std::sync::OnceLock<Option<rocksdb::Cache>> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| rocksdb::Cache::new_lru_cache(256 << 20).ok())
        .as_ref()
}

/// The column family options: no compression (state is hot, CPU is scarce), a shared block
/// cache and bloom filters for point lookups.
pub(super) fn options() -> Options {
    let mut o = Options::default();
    // Point reads and writes of value and list cells mostly stay in the backend's cache
    // (`StateCache`); RocksDB gets its writes as sorted batches (evictions, checkpoints),
    // which the default skip-list memtable takes cheaply and flushes without re-sorting
    // (measured: a hash memtable's re-sort at every flush cost more than half the time of
    // a running sum checkpointed every second). The prefix extractor (by cell) serves map
    // state's prefix scans and the memtable's bloom filter serves point reads that miss.
    o.set_prefix_extractor(rocksdb::SliceTransform::create(
        "rill-cell",
        cell_prefix,
        Some(has_cell_prefix),
    ));
    o.set_memtable_prefix_bloom_ratio(0.1);
    o.set_memtable_whole_key_filtering(true);
    o.set_allow_concurrent_memtable_write(false);
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_compression_type(DBCompressionType::None);
    o.set_write_buffer_size(64 << 20);
    o.set_max_background_jobs(2);
    o.set_keep_log_file_num(2);
    o.set_max_log_file_size(1 << 20);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    if let Some(cache) = block_cache() {
        table.set_block_cache(cache);
    }
    o.set_block_based_table_factory(&table);
    o
}

/// The cell part of a key: key group, key length and key (a map entry's user key after it
/// is left out).
fn cell_prefix(key: &[u8]) -> &[u8] {
    match key.get(2..6) {
        Some(len) => {
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            key.get(..6 + len).unwrap_or(key)
        }
        None => key,
    }
}

fn has_cell_prefix(key: &[u8]) -> bool {
    cell_prefix(key).len() < key.len() || key.len() >= 6
}

/// An unused random name.
pub(super) fn random_name() -> String {
    format!("{:016x}", crate::util::random_u64())
}

pub(super) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StateError> {
    db.cf_handle(name)
        .ok_or_else(|| StateError::Backend(format!("RocksDB has no column family '{name}'")))
}

/// Writes `key group · key length · key` for `key` into `out`.
pub(super) fn cell_key<K: Hash + Serialize>(
    out: &mut Vec<u8>,
    key: &K,
    max_parallelism: usize,
    state: &str,
) -> Result<(), StateError> {
    out.extend_from_slice(&group_prefix(assign_to_key_group(key, max_parallelism)));
    out.extend_from_slice(&[0; 4]);
    rmp_serde::encode::write(out, key).map_err(|e| serialize_error(state, e))?;
    let len = (out.len() - 6) as u32;
    out[2..6].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

pub(super) fn encode_stamped<T: Serialize>(
    state: &str,
    s: &Stamped<T>,
    stamped: bool,
) -> Result<Vec<u8>, StateError> {
    let r = if stamped {
        rmp_serde::to_vec(s)
    } else {
        rmp_serde::to_vec(&s.v)
    };
    r.map_err(|e| serialize_error(state, e))
}

pub(super) fn decode_stamped<T: DeserializeOwned>(
    state: &str,
    bytes: &[u8],
    stamped: bool,
) -> Result<Stamped<T>, StateError> {
    if stamped {
        rmp_serde::from_slice(bytes).map_err(|e| deserialize_error(state, e))
    } else {
        rmp_serde::from_slice(bytes)
            .map(Stamped::forever)
            .map_err(|e| deserialize_error(state, e))
    }
}

pub(super) fn encode_list<T: Serialize>(
    state: &str,
    l: &[Stamped<T>],
    stamped: bool,
) -> Result<Vec<u8>, StateError> {
    let r = if stamped {
        rmp_serde::to_vec(l)
    } else {
        rmp_serde::to_vec(&l.iter().map(|s| &s.v).collect::<Vec<_>>())
    };
    r.map_err(|e| serialize_error(state, e))
}

/// The smallest key above every key starting with `prefix`, if there is one.
pub(super) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A key's bytes and its value's.
pub(super) type RawEntry = (Box<[u8]>, Box<[u8]>);
