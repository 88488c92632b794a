//! Choosing where an operator's keyed state lives: on the heap (the default) or in RocksDB.
//!
//! A job names its backend (`rill run --state-backend heap|rocksdb`, the REST submission's
//! `state_backend`), or gets the cluster's (`state_backend` in the config file). Operators
//! reach their state through [`KeyedStateBackend`], whichever it is; both write the same
//! canonical form into savepoints, so a job can switch backends through a savepoint.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::data::{Data, Key};
use crate::eventtime::ProcessingClock;
use crate::state::context::RuntimeContext;
use crate::state::keyed::{
    AggregatingState, HeapKeyedStateBackend, ListState, MapState, ReducingState, ValueState,
};
use crate::state::rocksdb::RocksDbKeyedStateBackend;
use crate::state::{
    AggregatingStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
    RestoredState, StateError, StateSnapshot, StateTtlConfig, ValueStateDescriptor,
};
use crate::windowing::functions::AggregateFunction;

/// Which keyed state backend a job uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub enum StateBackendKind {
    /// Objects on the heap; snapshots copy the tables (copy-on-write) and serialize off the
    /// task's thread.
    #[default]
    #[serde(rename = "heap")]
    Heap,
    /// A RocksDB instance per operator subtask on local disk; checkpoints are incremental.
    #[serde(rename = "rocksdb")]
    RocksDb,
}

impl FromStr for StateBackendKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "heap" | "hashmap" => Ok(Self::Heap),
            "rocksdb" => Ok(Self::RocksDb),
            other => Err(format!(
                "unknown state backend '{other}': expected heap or rocksdb"
            )),
        }
    }
}

impl fmt::Display for StateBackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Heap => "heap",
            Self::RocksDb => "rocksdb",
        })
    }
}

/// One operator subtask's keyed state, in the backend its job chose.
pub enum KeyedStateBackend<K> {
    /// On the heap.
    Heap(HeapKeyedStateBackend<K>),
    /// In RocksDB.
    RocksDb(Box<RocksDbKeyedStateBackend<K>>),
}

impl<K: Key> KeyedStateBackend<K> {
    /// An empty heap backend (before the operator knows its context).
    pub fn heap(max_parallelism: usize) -> Self {
        Self::Heap(HeapKeyedStateBackend::new(
            max_parallelism,
            ProcessingClock::system(),
        ))
    }

    /// The backend `ctx`'s job chose, empty, for `ctx`'s subtask.
    pub fn for_context(ctx: &RuntimeContext) -> Result<Self, StateError> {
        Ok(match ctx.state_backend {
            StateBackendKind::Heap => Self::Heap(HeapKeyedStateBackend::new(
                ctx.max_parallelism,
                ctx.clock.clone(),
            )),
            StateBackendKind::RocksDb => {
                Self::RocksDb(Box::new(RocksDbKeyedStateBackend::open(ctx)?))
            }
        })
    }

    /// Takes the state an operator restores; the states named in `internal` are the
    /// operator's own and are left to it.
    pub fn restore(
        &mut self,
        restored: RestoredState,
        internal: &[&str],
    ) -> Result<(), StateError> {
        match self {
            Self::Heap(b) => b.restore(restored, internal),
            Self::RocksDb(b) => b.restore(restored, internal),
        }
    }

    fn value_cell<'a, T: Data>(
        &'a mut self,
        name: &str,
        ttl: Option<StateTtlConfig>,
        key: &'a K,
    ) -> Result<ValueState<'a, K, T>, StateError> {
        match self {
            Self::Heap(b) => b.value_cell(name, ttl, key),
            Self::RocksDb(b) => b.value_cell(name, ttl, key),
        }
    }

    /// The current key's value state.
    pub fn value_state<'a, T: Data>(
        &'a mut self,
        d: &ValueStateDescriptor<T>,
        key: &'a K,
    ) -> Result<ValueState<'a, K, T>, StateError> {
        self.value_cell(&d.name, d.ttl, key)
    }

    /// The current key's list state.
    pub fn list_state<'a, T: Data>(
        &'a mut self,
        d: &ListStateDescriptor<T>,
        key: &'a K,
    ) -> Result<ListState<'a, K, T>, StateError> {
        match self {
            Self::Heap(b) => b.list_cell(&d.name, d.ttl, key),
            Self::RocksDb(b) => b.list_cell(&d.name, d.ttl, key),
        }
    }

    /// The current key's map state.
    pub fn map_state<'a, UK: Key, UV: Data>(
        &'a mut self,
        d: &MapStateDescriptor<UK, UV>,
        key: &'a K,
    ) -> Result<MapState<'a, K, UK, UV>, StateError> {
        match self {
            Self::Heap(b) => b.map_cell(&d.name, d.ttl, key),
            Self::RocksDb(b) => b.map_cell(&d.name, d.ttl, key),
        }
    }

    /// The current key's reducing state.
    pub fn reducing_state<'a, T: Data>(
        &'a mut self,
        d: &ReducingStateDescriptor<T>,
        key: &'a K,
    ) -> Result<ReducingState<'a, K, T>, StateError> {
        Ok(ReducingState {
            inner: self.value_cell(&d.name, d.ttl, key)?,
            reduce: d.reduce.clone(),
        })
    }

    /// The current key's aggregating state.
    pub fn aggregating_state<'a, IN, A>(
        &'a mut self,
        d: &AggregatingStateDescriptor<IN, A>,
        key: &'a K,
    ) -> Result<AggregatingState<'a, K, IN, A>, StateError>
    where
        A: AggregateFunction<IN>,
        A::Acc: Data,
    {
        Ok(AggregatingState {
            inner: self.value_cell(&d.name, d.ttl, key)?,
            agg: d.agg.clone(),
            _in: std::marker::PhantomData,
        })
    }

    /// Takes every state into `out` (see each backend for how).
    pub fn snapshot(&mut self, out: &mut StateSnapshot) -> Result<(), StateError> {
        match self {
            Self::Heap(b) => b.snapshot(out),
            Self::RocksDb(b) => b.snapshot(out),
        }
    }
}
