//! High availability on etcd (issue 22), the first steps: a client of etcd's v3 JSON gateway
//! ([`etcd`]) and leader election with fencing tokens ([`election`]). Not yet wired into the
//! JobManager: `rill jobmanager` runs without HA (`--ha none`, the default) until the job
//! store, the standby's takeover and the TaskManagers' leader discovery are built on these.

pub mod election;
pub mod etcd;

pub use election::{leader_key, LeaderElection, Term};
pub use etcd::{Etcd, EtcdError, KeyValue};
