//! Checkpointing: barriers, alignment, storage and savepoints. The data plane already carries
//! in-band elements in order on every channel, which is what barrier alignment will rely on;
//! the coordinator and snapshots are not built yet.
