//! High availability on etcd: a client of etcd's v3 JSON gateway ([`etcd`]), leader election
//! with fencing tokens ([`election`]), a JobManager's contender thread ([`contender`]) and
//! what the cluster keeps in etcd: the leader's address, the job store and each job's latest
//! completed checkpoint ([`services`]). `rill jobmanager --ha etcd://… --cluster-id NAME`
//! uses them (see `cluster::run_jobmanager`); `--ha none`, one JobManager, is the default.

pub mod contender;
pub mod election;
pub mod etcd;
pub mod recovery;
pub mod services;

pub use election::{leader_key, LeaderElection, Term};
pub use etcd::{Etcd, EtcdError, KeyValue};
pub use services::{
    CheckpointPointer, HaConfigError, HaError, HaServices, HaSettings, LeaderInfo, LeaderRetrieval,
    StoredJob,
};
