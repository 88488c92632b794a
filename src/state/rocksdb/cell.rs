//! One key's state in RocksDB, as the state handles reach it: value and list cells go
//! through the backend's cache, map entries are read and written under the key's prefix.

use std::cell::RefCell;

use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::state::keyed::Stamped;
use crate::state::rocks_cache::{StateCache, WriteBack};
use crate::state::StateError;

use super::layout::{
    backend_error, decode_stamped, deserialize_error, encode_list, encode_stamped, serialize_error,
    successor, RawEntry,
};
use super::ColumnState;

/// One key's state in RocksDB, as the state handles reach it.
pub(crate) struct RocksCell<'a> {
    pub(super) db: &'a DB,
    pub(super) cf: &'a ColumnFamily,
    pub(super) write: &'a WriteOptions,
    pub(super) key: Vec<u8>,
    pub(super) ttl: bool,
    /// Whether the key holds map entries under it (else one value or list).
    pub(super) map: bool,
    pub(super) name: &'a str,
    /// The backend's cache, for value and list cells when it is on.
    pub(super) cache: Option<&'a RefCell<StateCache>>,
    /// The state's index in `states`.
    pub(super) index: usize,
    pub(super) states: &'a [ColumnState],
}

impl RocksCell<'_> {
    fn failed(&self, doing: &str, e: impl std::fmt::Display) -> StateError {
        backend_error(&format!("{doing} state '{}'", self.name), e)
    }

    fn read(&self, key: &[u8]) -> Result<Option<rocksdb::DBPinnableSlice<'_>>, StateError> {
        self.db
            .get_pinned_cf(self.cf, key)
            .map_err(|e| self.failed("reading", e))
    }

    fn store(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.db
            .put_cf_opt(self.cf, key, value, self.write)
            .map_err(|e| self.failed("writing", e))
    }

    fn remove(&self, key: &[u8]) -> Result<(), StateError> {
        self.db
            .delete_cf_opt(self.cf, key, self.write)
            .map_err(|e| self.failed("writing", e))
    }

    fn cache<'c>(
        &self,
        cache: &'c RefCell<StateCache>,
    ) -> Result<std::cell::RefMut<'c, StateCache>, StateError> {
        cache
            .try_borrow_mut()
            .map_err(|_| StateError::Backend(format!("state '{}' is in use", self.name)))
    }

    /// Decodes the cell's bytes with `decode`: from the cache, else from RocksDB (and then
    /// caches them).
    fn load<R>(
        &self,
        decode: impl FnOnce(Option<&[u8]>) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        let Some(cache) = self.cache else {
            return decode(self.read(&self.key)?.as_deref());
        };
        let mut c = self.cache(cache)?;
        if let Some(bytes) = c.get(self.index, &self.key) {
            return decode(bytes);
        }
        let bytes = self.read(&self.key)?;
        let r = decode(bytes.as_deref());
        c.put(self.index, &self.key, bytes.as_deref(), false);
        self.evict_if_full(&mut c)?;
        r
    }

    /// Sets the cell's bytes (`None`: empties it): in the cache, else in RocksDB.
    fn save(&self, bytes: Option<&[u8]>) -> Result<(), StateError> {
        let Some(cache) = self.cache else {
            return match bytes {
                Some(b) => self.store(&self.key, b),
                None => self.remove(&self.key),
            };
        };
        let mut c = self.cache(cache)?;
        c.put(self.index, &self.key, bytes, true);
        self.evict_if_full(&mut c)
    }

    fn evict_if_full(&self, c: &mut StateCache) -> Result<(), StateError> {
        if !c.is_full() {
            return Ok(());
        }
        let gone = c.evict();
        write_batch(
            self.db,
            self.states,
            self.write,
            gone.iter().map(|(s, k, v)| (*s, &**k, v.as_deref())),
        )
    }

    pub(crate) fn get<T: DeserializeOwned>(&self) -> Result<Option<Stamped<T>>, StateError> {
        self.load(|b| {
            b.map(|b| decode_stamped(self.name, b, self.ttl))
                .transpose()
        })
    }

    pub(crate) fn put<T: Serialize>(&self, s: &Stamped<T>) -> Result<(), StateError> {
        self.save(Some(&encode_stamped(self.name, s, self.ttl)?))
    }

    pub(crate) fn delete(&self) -> Result<(), StateError> {
        self.save(None)
    }

    pub(crate) fn get_list<T: DeserializeOwned>(&self) -> Result<Vec<Stamped<T>>, StateError> {
        self.load(|b| {
            let Some(b) = b else {
                return Ok(Vec::new());
            };
            if self.ttl {
                rmp_serde::from_slice(b).map_err(|e| deserialize_error(self.name, e))
            } else {
                let l: Vec<T> =
                    rmp_serde::from_slice(b).map_err(|e| deserialize_error(self.name, e))?;
                Ok(l.into_iter().map(Stamped::forever).collect())
            }
        })
    }

    pub(crate) fn put_list<T: Serialize>(&self, l: &[Stamped<T>]) -> Result<(), StateError> {
        self.save(Some(&encode_list(self.name, l, self.ttl)?))
    }

    fn entry_key<UK: Serialize>(&self, uk: &UK) -> Result<Vec<u8>, StateError> {
        let mut k = self.key.clone();
        rmp_serde::encode::write(&mut k, uk).map_err(|e| serialize_error(self.name, e))?;
        Ok(k)
    }

    pub(crate) fn get_entry<UK: Serialize, UV: DeserializeOwned>(
        &self,
        uk: &UK,
    ) -> Result<Option<Stamped<UV>>, StateError> {
        match self.read(&self.entry_key(uk)?)? {
            Some(b) => decode_stamped(self.name, &b, self.ttl).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn put_entry<UK: Serialize, UV: Serialize>(
        &self,
        uk: &UK,
        s: &Stamped<UV>,
    ) -> Result<(), StateError> {
        self.store(
            &self.entry_key(uk)?,
            &encode_stamped(self.name, s, self.ttl)?,
        )
    }

    pub(crate) fn delete_entry<UK: Serialize>(&self, uk: &UK) -> Result<(), StateError> {
        self.remove(&self.entry_key(uk)?)
    }

    /// The raw entries under this key's prefix.
    fn scan(&self) -> Result<Vec<RawEntry>, StateError> {
        let mut read = ReadOptions::default();
        read.set_prefix_same_as_start(true);
        if let Some(end) = successor(&self.key) {
            read.set_iterate_upper_bound(end);
        }
        self.db
            .iterator_cf_opt(
                self.cf,
                read,
                IteratorMode::From(&self.key, Direction::Forward),
            )
            .map(|e| e.map_err(|e| self.failed("reading", e)))
            .collect()
    }

    pub(crate) fn entries<UK: DeserializeOwned, UV: DeserializeOwned>(
        &self,
    ) -> Result<Vec<(UK, Stamped<UV>)>, StateError> {
        let n = self.key.len();
        self.scan()?
            .into_iter()
            .map(|(k, v)| {
                let uk =
                    rmp_serde::from_slice(&k[n..]).map_err(|e| deserialize_error(self.name, e))?;
                Ok((uk, decode_stamped(self.name, &v, self.ttl)?))
            })
            .collect()
    }

    /// Removes the key's whole state: its value or list, or every entry of its map.
    pub(crate) fn clear(&self) -> Result<(), StateError> {
        if !self.map {
            return self.delete();
        }
        let mut batch = WriteBatch::default();
        for (k, _) in self.scan()? {
            batch.delete_cf(self.cf, k);
        }
        self.db
            .write_opt(batch, self.write)
            .map_err(|e| self.failed("writing", e))
    }
}

/// Writes cached entries to their states' column families in one batch.
pub(super) fn write_batch<'e>(
    db: &DB,
    states: &[ColumnState],
    write: &WriteOptions,
    entries: impl IntoIterator<Item = WriteBack<'e>>,
) -> Result<(), StateError> {
    let cfs: Vec<Option<&ColumnFamily>> = states.iter().map(|s| db.cf_handle(&s.name)).collect();
    let mut batch = WriteBatch::default();
    for (state, key, value) in entries {
        let cf = cfs.get(state).copied().flatten().ok_or_else(|| {
            StateError::Backend(format!("cached state #{state} has no column family"))
        })?;
        match value {
            Some(v) => batch.put_cf(cf, key, v),
            None => batch.delete_cf(cf, key),
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    db.write_opt(batch, write)
        .map_err(|e| backend_error("writing cached state to RocksDB", e))
}
