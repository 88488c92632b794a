//! Tests of [`super`]: the keyed module's behaviour, kept beside it.

use super::*;
use crate::checkpoint::barrier::SnapshotKind;
use crate::eventtime::ProcessingClock;
use crate::state::context::RuntimeContext;
use crate::state::key_group::key_group_range;
use crate::state::{
    KeyedStateBackend, OperatorSnapshot, RestoredState, SnapshotTarget, StateBackendKind,
    StateSnapshot,
};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A backend of `kind` (RocksDB under `dir`) whose clock reads `time`.
fn backend_at(
    kind: StateBackendKind,
    dir: &std::path::Path,
    time: &Arc<AtomicI64>,
) -> KeyedStateBackend<String> {
    backend_cached(kind, dir, time, crate::state::rocksdb::DEFAULT_CACHE_BYTES)
}

/// As [`backend_at`], with a RocksDB cache of `cache` bytes.
fn backend_cached(
    kind: StateBackendKind,
    dir: &std::path::Path,
    time: &Arc<AtomicI64>,
    cache: usize,
) -> KeyedStateBackend<String> {
    let mut ctx = RuntimeContext::standalone("test");
    ctx.clock = ProcessingClock::manual(time.clone());
    ctx.state_backend = kind;
    ctx.local_state_dir = dir.to_path_buf();
    ctx.rocksdb_cache_bytes = cache;
    KeyedStateBackend::for_context(&ctx).expect("opens")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rill-keyed-{name}-{}-{}",
        std::process::id(),
        crate::util::random_u64()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

const KINDS: [StateBackendKind; 2] = [StateBackendKind::Heap, StateBackendKind::RocksDb];

#[test]
fn values_expire_after_their_ttl_and_reads_refresh_them_when_asked() {
    for kind in KINDS {
        let dir = scratch("ttl");
        let time = Arc::new(AtomicI64::new(1_000));
        let mut b = backend_at(kind, &dir, &time);
        let written = ValueStateDescriptor::<u64>::new("w")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
        let read = ValueStateDescriptor::<u64>::new("r")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)).on_read_and_write());
        let k = "a".to_string();
        let value = |b: &mut KeyedStateBackend<String>, d: &ValueStateDescriptor<u64>| {
            b.value_state(d, &k).expect("state").value().expect("reads")
        };
        b.value_state(&written, &k)
            .expect("state")
            .update(1)
            .expect("writes");
        b.value_state(&read, &k)
            .expect("state")
            .update(2)
            .expect("writes");
        time.store(1_080, Ordering::Relaxed);
        assert_eq!(value(&mut b, &written), Some(1), "{kind}");
        // A read at 1080 keeps "r" alive until 1180.
        assert_eq!(value(&mut b, &read), Some(2), "{kind}");
        time.store(1_100, Ordering::Relaxed);
        assert_eq!(value(&mut b, &written), None, "{kind}");
        assert_eq!(value(&mut b, &read), Some(2), "{kind}");
        time.store(1_300, Ordering::Relaxed);
        assert_eq!(value(&mut b, &read), None, "{kind}");

        let list = ListStateDescriptor::<u64>::new("l")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
        b.list_state(&list, &k)
            .expect("state")
            .add(1)
            .expect("writes");
        time.store(1_350, Ordering::Relaxed);
        b.list_state(&list, &k)
            .expect("state")
            .add(2)
            .expect("writes");
        time.store(1_410, Ordering::Relaxed);
        let got = b
            .list_state(&list, &k)
            .expect("state")
            .get()
            .expect("reads");
        assert_eq!(got, vec![2], "{kind}");

        let map = MapStateDescriptor::<u64, u64>::new("m")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
        b.map_state(&map, &k)
            .expect("state")
            .put(1, 10)
            .expect("writes");
        time.store(1_460, Ordering::Relaxed);
        b.map_state(&map, &k)
            .expect("state")
            .put(2, 20)
            .expect("writes");
        time.store(1_520, Ordering::Relaxed);
        let mut m = b.map_state(&map, &k).expect("state");
        assert_eq!(m.get(&1).expect("reads"), None, "{kind}");
        assert_eq!(m.entries().expect("reads"), vec![(2, 20)], "{kind}");
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_name_declared_with_another_type_is_an_error() {
    for kind in KINDS {
        let dir = scratch("types");
        let mut b = backend_at(kind, &dir, &Arc::new(AtomicI64::new(0)));
        let k = "a".to_string();
        b.value_state(&ValueStateDescriptor::<u64>::new("x"), &k)
            .expect("state")
            .update(1)
            .expect("writes");
        assert!(b
            .list_state(&ListStateDescriptor::<u64>::new("x"), &k)
            .is_err());
        if kind == StateBackendKind::Heap {
            // RocksDB holds bytes: a type change shows when they do not decode.
            assert!(b
                .value_state(&ValueStateDescriptor::<String>::new("x"), &k)
                .is_err());
        }
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn restored(snap: OperatorSnapshot, p: usize, i: usize) -> RestoredState {
    RestoredState {
        snapshots: vec![snap],
        key_groups: key_group_range(128, p, i),
        subtask_index: i,
        parallelism: p,
    }
}

fn take(b: &mut KeyedStateBackend<String>, target: &SnapshotTarget) -> OperatorSnapshot {
    let mut snap = StateSnapshot::default();
    b.snapshot(&mut snap).expect("snapshots");
    let mut snap = snap.complete(target).expect("writes");
    for r in &mut snap.rocksdb {
        r.shared_dir = target.shared_dir();
    }
    snap
}

/// A RocksDB cache far smaller than the state: values, deletions and lists go through
/// many evictions, reads always see the last write, and a checkpoint taken mid-way holds
/// exactly the cells' contents at that moment (read back without a cache).
#[test]
fn rocksdb_cells_read_their_writes_through_evictions_and_checkpoints() {
    type Model = std::collections::HashMap<String, (Option<u64>, Vec<u64>)>;
    let value = ValueStateDescriptor::<u64>::new("v");
    let list = ListStateDescriptor::<u64>::new("l");
    let time = Arc::new(AtomicI64::new(0));
    let dir = scratch("cache");
    let mut b = backend_cached(StateBackendKind::RocksDb, &dir, &time, 4 << 10);
    let mut model = Model::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut step = |b: &mut KeyedStateBackend<String>, model: &mut Model| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let k = format!("k{}", rng % 400);
        let m = model.entry(k.clone()).or_default();
        let mut v = b.value_state(&value, &k).expect("s");
        assert_eq!(v.value().expect("r"), m.0, "{k}");
        match (rng >> 20) % 8 {
            0 => {
                v.clear().expect("w");
                m.0 = None;
            }
            1 => {
                b.list_state(&list, &k).expect("s").clear().expect("w");
                m.1.clear();
            }
            n => {
                let x = m.0.unwrap_or(0) + n;
                v.update(x).expect("w");
                m.0 = Some(x);
                b.list_state(&list, &k).expect("s").add(x).expect("w");
                m.1.push(x);
            }
        }
    };
    for _ in 0..20_000 {
        step(&mut b, &mut model);
    }
    let target = SnapshotTarget {
        kind: SnapshotKind::Checkpoint,
        dir: dir.join("chk-1"),
    };
    let snap = take(&mut b, &target);
    let at_checkpoint = model.clone();
    for _ in 0..5_000 {
        step(&mut b, &mut model);
    }
    let check = |b: &mut KeyedStateBackend<String>, model: &Model| {
        for (k, (v, l)) in model {
            assert_eq!(
                b.value_state(&value, k).expect("s").value().expect("r"),
                *v,
                "{k}"
            );
            let got: Vec<u64> = b.list_state(&list, k).expect("s").get().expect("r");
            assert_eq!(&got, l, "{k}");
        }
    };
    check(&mut b, &model);
    let mut r = backend_cached(StateBackendKind::RocksDb, &dir, &time, 0);
    r.restore(restored(snap, 1, 0), &[]).expect("restores");
    check(&mut r, &at_checkpoint);
    drop((b, r));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every state type through a snapshot of one backend and a restore into another, as a
/// savepoint (canonical) and, RocksDB to RocksDB, as an incremental checkpoint.
#[test]
fn every_state_type_survives_a_snapshot_into_either_backend() {
    let value = ValueStateDescriptor::<u64>::new("v");
    let list = ListStateDescriptor::<String>::new("l");
    let map = MapStateDescriptor::<u64, String>::new("m");
    let reducing = ReducingStateDescriptor::<u64>::new("r", |a, b| a + b);
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    let time = Arc::new(AtomicI64::new(0));
    for from in KINDS {
        for (to, kind) in [
            (StateBackendKind::Heap, SnapshotKind::Savepoint),
            (StateBackendKind::RocksDb, SnapshotKind::Savepoint),
            (StateBackendKind::RocksDb, SnapshotKind::Checkpoint),
        ] {
            if kind == SnapshotKind::Checkpoint && from == StateBackendKind::Heap {
                continue;
            }
            let dir = scratch("types");
            let target = SnapshotTarget {
                kind,
                dir: dir.join("chk-1"),
            };
            let mut b = backend_at(from, &dir, &time);
            for (i, k) in keys.iter().enumerate() {
                let i = i as u64;
                b.value_state(&value, k).expect("s").update(i).expect("w");
                let mut l = b.list_state(&list, k).expect("s");
                l.add(format!("{k}-a")).expect("w");
                l.add(format!("{k}-b")).expect("w");
                let mut m = b.map_state(&map, k).expect("s");
                for j in 0..(i % 4) {
                    m.put(j, format!("{k}/{j}")).expect("w");
                }
                for j in 0..=i {
                    b.reducing_state(&reducing, k)
                        .expect("s")
                        .add(j)
                        .expect("w");
                }
            }
            let snap = take(&mut b, &target);
            drop(b);
            // Restored at parallelism 2: each half holds exactly its keys.
            let mut seen = 0;
            for i in 0..2 {
                let r = restored(snap.clone(), 2, i);
                let mine = r.key_groups;
                let mut b2 = backend_at(to, &dir, &time);
                b2.restore(r, &[]).expect("restores");
                for (n, k) in keys.iter().enumerate() {
                    let owned = mine.contains(crate::state::key_group::assign_to_key_group(k, 128));
                    let n = n as u64;
                    let v = b2.value_state(&value, k).expect("s").value().expect("r");
                    assert_eq!(v, owned.then_some(n), "{from}->{to} {kind:?} {k}");
                    if !owned {
                        continue;
                    }
                    seen += 1;
                    let l = b2.list_state(&list, k).expect("s").get().expect("r");
                    assert_eq!(l, vec![format!("{k}-a"), format!("{k}-b")]);
                    let mut m = b2.map_state(&map, k).expect("s").entries().expect("r");
                    m.sort();
                    let want: Vec<(u64, String)> =
                        (0..(n % 4)).map(|j| (j, format!("{k}/{j}"))).collect();
                    assert_eq!(m, want, "{from}->{to} {kind:?} {k}");
                    let r = b2
                        .reducing_state(&reducing, k)
                        .expect("s")
                        .get()
                        .expect("r");
                    assert_eq!(r, Some(n * (n + 1) / 2));
                }
            }
            assert_eq!(seen, keys.len(), "{from}->{to} {kind:?}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

#[test]
fn restored_state_is_read_when_asked_and_kept_until_then() {
    for kind in KINDS {
        let dir = scratch("untouched");
        let time = Arc::new(AtomicI64::new(0));
        let target = SnapshotTarget {
            kind: SnapshotKind::Savepoint,
            dir: dir.join("sp"),
        };
        let mut b = backend_at(kind, &dir, &time);
        let d = ValueStateDescriptor::<u64>::new("v");
        let untouched = ValueStateDescriptor::<u64>::new("u");
        for i in 0..20u64 {
            let k = format!("k{i}");
            b.value_state(&d, &k).expect("state").update(i).expect("w");
            b.value_state(&untouched, &k)
                .expect("state")
                .update(i * 10)
                .expect("w");
        }
        let snap = take(&mut b, &target);
        let mut r = backend_at(kind, &dir, &time);
        r.restore(restored(snap, 1, 0), &[]).expect("restores");
        let v = r.value_state(&d, &"k7".to_string()).expect("state").value();
        assert_eq!(v.expect("reads"), Some(7));
        // "u" was never asked for: the next snapshot still holds it.
        let again = take(&mut r, &target);
        let mut r2 = backend_at(kind, &dir, &time);
        r2.restore(restored(again, 1, 0), &[]).expect("restores");
        for i in 0..20u64 {
            let k = format!("k{i}");
            let u = r2.value_state(&untouched, &k).expect("state").value();
            assert_eq!(u.expect("reads"), Some(i * 10), "{kind}");
            let v = r2.value_state(&d, &k).expect("state").value();
            assert_eq!(v.expect("reads"), Some(i), "{kind}");
        }
        drop((b, r, r2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A second incremental checkpoint of mostly unchanged state writes only the new files.
#[test]
fn rocksdb_checkpoints_upload_only_new_files() {
    let dir = scratch("incremental");
    let time = Arc::new(AtomicI64::new(0));
    let mut b = backend_at(StateBackendKind::RocksDb, &dir, &time);
    let d = ValueStateDescriptor::<String>::new("v");
    for i in 0..20_000u64 {
        let v = format!("{i:0>200}");
        b.value_state(&d, &format!("k{i}"))
            .expect("s")
            .update(v)
            .expect("w");
    }
    let first = SnapshotTarget {
        kind: SnapshotKind::Checkpoint,
        dir: dir.join("job/chk-1"),
    };
    let one = take(&mut b, &first);
    let uploaded = |s: &OperatorSnapshot| -> (u64, u64) {
        let files = s.rocksdb.iter().flat_map(|r| r.shared.iter());
        files.fold((0, 0), |(u, t), f| {
            (u + if f.uploaded { f.size } else { 0 }, t + f.size)
        })
    };
    let (u1, t1) = uploaded(&one);
    assert!(
        u1 > 4_000_000 && u1 == t1,
        "first uploads everything: {u1} of {t1}"
    );
    for i in 0..10u64 {
        b.value_state(&d, &format!("k{i}"))
            .expect("s")
            .update("changed".into())
            .expect("w");
    }
    let second = SnapshotTarget {
        kind: SnapshotKind::Checkpoint,
        dir: dir.join("job/chk-2"),
    };
    let two = take(&mut b, &second);
    let (u2, t2) = uploaded(&two);
    assert!(t2 > t1, "the second refers to both files: {t2}");
    assert!(
        u2 * 50 < t2,
        "the second writes only its new file: {u2} of {t2}"
    );
    // Restored from the second, the instance holds both generations of values.
    let mut r = backend_at(StateBackendKind::RocksDb, &dir, &time);
    r.restore(restored(two, 1, 0), &[]).expect("restores");
    let v = |r: &mut KeyedStateBackend<String>, k: &str| {
        r.value_state(&d, &k.to_string())
            .expect("s")
            .value()
            .expect("r")
    };
    assert_eq!(v(&mut r, "k3"), Some("changed".into()));
    assert_eq!(v(&mut r, "k19999"), Some(format!("{:0>200}", 19_999)));
    drop((b, r));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn values_change_in_place_or_move_out_on_both_backends() {
    for kind in KINDS {
        let dir = scratch("modify");
        let time = Arc::new(AtomicI64::new(1_000));
        let mut b = backend_at(kind, &dir, &time);
        let d = ValueStateDescriptor::<Vec<u64>>::new("rows")
            .with_ttl(StateTtlConfig::new(Duration::from_millis(100)));
        let k = "a".to_string();
        let state = |b: &mut KeyedStateBackend<String>| {
            b.value_state(&d, &k)
                .expect("state")
                .value()
                .expect("reads")
        };
        let pushed = |b: &mut KeyedStateBackend<String>, x: u64| {
            b.value_state(&d, &k)
                .expect("state")
                .modify(|rows| {
                    rows.get_or_insert_with(Vec::new).push(x);
                    (x, true)
                })
                .expect("modifies")
        };
        assert_eq!(pushed(&mut b, 1), 1);
        assert_eq!(pushed(&mut b, 2), 2);
        assert_eq!(state(&mut b), Some(vec![1, 2]), "{kind}");
        // Unchanged: it keeps its expiry (written at 1000, gone at 1100).
        time.store(1_060, Ordering::Relaxed);
        let len = b
            .value_state(&d, &k)
            .expect("state")
            .modify(|rows| (rows.as_ref().map_or(0, Vec::len), false))
            .expect("reads");
        assert_eq!(len, 2, "{kind}");
        time.store(1_100, Ordering::Relaxed);
        assert_eq!(state(&mut b), None, "{kind}: expired as written at 1000");
        // Left None, it is cleared; taken, it leaves until put back.
        pushed(&mut b, 3);
        b.value_state(&d, &k)
            .expect("state")
            .modify(|rows| {
                *rows = None;
                ((), true)
            })
            .expect("clears");
        assert_eq!(state(&mut b), None, "{kind}");
        pushed(&mut b, 4);
        let taken = b.value_state(&d, &k).expect("state").take().expect("takes");
        assert_eq!(taken, Some(vec![4]), "{kind}");
        b.value_state(&d, &k)
            .expect("state")
            .update(vec![5])
            .expect("writes");
        assert_eq!(state(&mut b), Some(vec![5]), "{kind}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
