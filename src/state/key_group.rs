//! Key groups: the unit in which keyed state is partitioned and redistributed.
//!
//! ## Rules (Flink's, exactly)
//! - A key's group is `murmur(hashCode(key)) % max_parallelism`; Rill's `hashCode` is the
//!   [`StableHasher`](crate::util::StableHasher) folded to 32 bits, identical on every node.
//! - Subtask `i` of `p` owns the contiguous range
//!   `[ceil(i * max / p), floor(((i + 1) * max - 1) / p)]`.
//! - Group `g` belongs to subtask `g * p / max`, which is the subtask whose range holds `g`.

use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::util::StableHasher;

/// The default number of key groups, as in Flink.
pub const DEFAULT_MAX_PARALLELISM: usize = 128;

/// The largest max parallelism Flink allows (2^15).
pub const UPPER_BOUND_MAX_PARALLELISM: usize = 1 << 15;

/// An inclusive range of key groups owned by one subtask.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KeyGroupRange {
    /// First key group in the range.
    pub start: usize,
    /// Last key group in the range (inclusive).
    pub end: usize,
}

impl KeyGroupRange {
    /// Whether `group` lies in the range.
    pub fn contains(&self, group: usize) -> bool {
        self.start <= group && group <= self.end
    }

    /// How many key groups the range holds.
    pub fn len(&self) -> usize {
        (self.end + 1).saturating_sub(self.start)
    }

    /// Whether the range holds no group (only when parallelism exceeds max parallelism).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The 32-bit hash code of a key.
pub fn key_hash_code<K: Hash + ?Sized>(key: &K) -> i32 {
    let mut h = StableHasher::default();
    key.hash(&mut h);
    let x = h.finish();
    ((x >> 32) ^ x) as u32 as i32
}

/// Flink's `MathUtils.murmurHash(int)`: murmur3's mixing of one 32-bit block, made non-negative.
pub fn murmur_hash(code: i32) -> i32 {
    let mut code = code.wrapping_mul(0xcc9e_2d51_u32 as i32);
    code = code.rotate_left(15);
    code = code.wrapping_mul(0x1b87_3593);
    code = code.rotate_left(13);
    code = code.wrapping_mul(5).wrapping_add(0xe654_6b64_u32 as i32);
    code ^= 4;
    // fmix32
    let mut h = code as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    let code = h as i32;
    if code >= 0 {
        code
    } else if code != i32::MIN {
        -code
    } else {
        0
    }
}

/// The key group of a key.
pub fn assign_to_key_group<K: Hash + ?Sized>(key: &K, max_parallelism: usize) -> usize {
    compute_key_group_for_hash(key_hash_code(key), max_parallelism)
}

/// The key group of a key's hash code.
pub fn compute_key_group_for_hash(hash_code: i32, max_parallelism: usize) -> usize {
    murmur_hash(hash_code) as usize % max_parallelism
}

/// The subtask that owns key group `group`.
pub fn operator_index_for_key_group(
    max_parallelism: usize,
    parallelism: usize,
    group: usize,
) -> usize {
    group * parallelism / max_parallelism
}

/// The key groups owned by subtask `index` of `parallelism`.
pub fn key_group_range(max_parallelism: usize, parallelism: usize, index: usize) -> KeyGroupRange {
    let start = (index * max_parallelism).div_ceil(parallelism);
    let end = ((index + 1) * max_parallelism - 1) / parallelism;
    KeyGroupRange { start, end }
}

/// The subtask that a key is routed to.
pub fn subtask_for_key<K: Hash + ?Sized>(
    key: &K,
    max_parallelism: usize,
    parallelism: usize,
) -> usize {
    operator_index_for_key_group(
        max_parallelism,
        parallelism,
        assign_to_key_group(key, max_parallelism),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn murmur_matches_flink_reference_values() {
        // values from an independent Python transcription of Flink's MathUtils.murmurHash
        assert_eq!(murmur_hash(0), 593_689_054);
        assert_eq!(murmur_hash(1), 68_075_478);
        assert_eq!(murmur_hash(42), 1_134_849_565);
        assert_eq!(murmur_hash(-1), 1_982_413_648);
    }

    #[test]
    fn ranges_are_contiguous_and_cover_all_groups() {
        for max in [1, 7, 128, 1000] {
            for p in 1..=max.min(64) {
                let mut next = 0;
                for i in 0..p {
                    let r = key_group_range(max, p, i);
                    assert_eq!(r.start, next, "max {max} p {p} subtask {i}");
                    assert!(!r.is_empty());
                    for g in r.start..=r.end {
                        assert_eq!(operator_index_for_key_group(max, p, g), i);
                    }
                    next = r.end + 1;
                }
                assert_eq!(next, max);
            }
        }
    }

    #[test]
    fn example_ranges_for_128_groups() {
        assert_eq!(
            key_group_range(128, 3, 0),
            KeyGroupRange { start: 0, end: 42 }
        );
        assert_eq!(
            key_group_range(128, 3, 1),
            KeyGroupRange { start: 43, end: 85 }
        );
        assert_eq!(
            key_group_range(128, 3, 2),
            KeyGroupRange {
                start: 86,
                end: 127
            }
        );
    }

    proptest! {
        #[test]
        fn same_key_same_subtask_and_in_its_range(key in ".*", max in 1usize..4096, p in 1usize..64) {
            let p = p.min(max);
            let group = assign_to_key_group(key.as_str(), max);
            prop_assert!(group < max);
            let owner = subtask_for_key(key.as_str(), max, p);
            prop_assert_eq!(owner, subtask_for_key(key.as_str(), max, p));
            prop_assert!(key_group_range(max, p, owner).contains(group));
        }

        #[test]
        fn murmur_is_never_negative(code in any::<i32>()) {
            prop_assert!(murmur_hash(code) >= 0);
        }
    }
}
