//! What a record type must be: cloneable (broadcast, fan-out), sendable between slot threads,
//! and serializable (it crosses processes in the cluster).

use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A type that can flow through a stream.
pub trait Data: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Data for T {}

/// A type that can key a stream: hashed into key groups and used as a state key.
pub trait Key: Data + Hash + Eq {}

impl<T: Data + Hash + Eq> Key for T {}
