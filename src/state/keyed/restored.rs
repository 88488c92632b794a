//! Restored keyed state (the module's Checkpoints section): reading a state's canonical
//! form when it is first asked for, and carrying the states never asked for into the next
//! checkpoint as they are.

use crate::data::{Data, Key};
use crate::state::snapshot::{KeyedStateSnapshot, StateError};
use crate::state::{RestoredState, StateSnapshot};

use super::Stamped;

/// Reads restored keyed state `name` in its canonical form: `Stamped` entries when the state
/// has a TTL, `Plain` ones (stamped by `stamp`, never expiring) when it has none.
fn restored_as<K: Key, Plain: Data, Stamp: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
    stamp: impl Fn(Plain) -> Stamp,
) -> Result<Vec<(K, Stamp)>, StateError> {
    if ttl {
        r.keyed::<K, Stamp>(name)
    } else {
        Ok(r.keyed::<K, Plain>(name)?
            .into_iter()
            .map(|(k, v)| (k, stamp(v)))
            .collect())
    }
}

/// Reads a restored value state.
pub(crate) fn restored_values<K: Key, T: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
) -> Result<Vec<(K, Stamped<T>)>, StateError> {
    restored_as(r, name, ttl, Stamped::forever)
}

/// Restored lists, per key.
pub(crate) type RestoredLists<K, T> = Vec<(K, Vec<Stamped<T>>)>;

/// Restored maps, per key.
pub(crate) type RestoredMaps<K, UK, UV> = Vec<(K, Vec<(UK, Stamped<UV>)>)>;

/// Reads a restored list state.
pub(crate) fn restored_lists<K: Key, T: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
) -> Result<RestoredLists<K, T>, StateError> {
    restored_as(r, name, ttl, |l: Vec<T>| {
        l.into_iter().map(Stamped::forever).collect()
    })
}

/// Reads a restored map state.
pub(crate) fn restored_maps<K: Key, UK: Key, UV: Data>(
    r: &RestoredState,
    name: &str,
    ttl: bool,
) -> Result<RestoredMaps<K, UK, UV>, StateError> {
    restored_as(r, name, ttl, |m: Vec<(UK, UV)>| {
        m.into_iter()
            .map(|(u, v)| (u, Stamped::forever(v)))
            .collect()
    })
}

/// A heap table's entries from `read` of the restored state, if there is one.
pub(super) fn from_restored<E, M: Default + FromIterator<E>>(
    r: Option<&RestoredState>,
    read: impl FnOnce(&RestoredState) -> Result<Vec<E>, StateError>,
) -> Result<M, StateError> {
    Ok(match r {
        Some(r) => read(r)?.into_iter().collect(),
        None => M::default(),
    })
}

/// Copies restored keyed state that was never asked for into `out` as it is, so that no
/// state is lost because a function had not touched it yet.
pub(crate) fn carry_untouched(
    restored: Option<&RestoredState>,
    touched: &[&str],
    internal: &[String],
    out: &mut StateSnapshot,
) {
    let Some(r) = restored else { return };
    let mut untouched: Vec<&str> = r
        .snapshots
        .iter()
        .flat_map(|s| s.keyed.iter().map(|k| k.name.as_str()))
        .filter(|n| !touched.contains(n))
        .filter(|n| !internal.iter().any(|i| i == n))
        .collect();
    untouched.sort_unstable();
    untouched.dedup();
    for name in untouched {
        out.written_mut().keyed.push(KeyedStateSnapshot {
            name: name.to_string(),
            groups: r.raw_keyed(name),
        });
    }
}
