//! Partitioners as the graphs see them: a kind, its distribution pattern, and which producer
//! connects to which consumers.
//!
//! ## Pointwise connections (forward, rescale), as Flink's
//! - equal parallelism: producer `i` to consumer `i`;
//! - more producers than consumers (`S > T`): consumer `t` reads producers
//!   `[t*S/T, (t+1)*S/T)`;
//! - fewer producers than consumers (`S < T`): producer `i` writes to consumers
//!   `[ceil(i*T/S), ceil((i+1)*T/S))`.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::Data;
use crate::net::router::{
    BroadcastRouter, ChannelRouter, RoundRobin, RouterContext, SelectingRouter, Shuffle,
    SingleChannelRouter,
};
use crate::util::FastRng;

/// How records of an edge are distributed over the consumer's subtasks.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PartitionerKind {
    /// One-to-one, same parallelism.
    Forward,
    /// Round robin over all consumers.
    Rebalance,
    /// Round robin over a local subset of consumers.
    Rescale,
    /// Uniformly random consumer.
    Shuffle,
    /// Every consumer.
    Broadcast,
    /// Consumer 0.
    Global,
    /// By key group of the record's key.
    Hash,
    /// By a user function of the key.
    Custom,
}

impl PartitionerKind {
    /// The name Flink shows as the ship strategy.
    pub fn name(self) -> &'static str {
        match self {
            Self::Forward => "FORWARD",
            Self::Rebalance => "REBALANCE",
            Self::Rescale => "RESCALE",
            Self::Shuffle => "SHUFFLE",
            Self::Broadcast => "BROADCAST",
            Self::Global => "GLOBAL",
            Self::Hash => "HASH",
            Self::Custom => "CUSTOM",
        }
    }

    /// How producers connect to consumers.
    pub fn distribution(self) -> DistributionPattern {
        match self {
            Self::Forward | Self::Rescale => DistributionPattern::Pointwise,
            _ => DistributionPattern::AllToAll,
        }
    }
}

/// Which producer subtasks connect to which consumer subtasks.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DistributionPattern {
    /// Every producer to every consumer.
    AllToAll,
    /// Each producer to a contiguous subset (see the module rules).
    Pointwise,
}

/// The consumers producer `i` of `producers` writes to, for `pattern`.
pub fn connected_consumers(
    pattern: DistributionPattern,
    producers: usize,
    consumers: usize,
    i: usize,
) -> Range<usize> {
    let (s, t) = (producers, consumers);
    match pattern {
        DistributionPattern::AllToAll => 0..t,
        DistributionPattern::Pointwise if s == t => i..i + 1,
        DistributionPattern::Pointwise if s > t => {
            let c = (0..t)
                .find(|&c| c * s / t <= i && i < (c + 1) * s / t)
                .unwrap_or(0);
            c..c + 1
        }
        DistributionPattern::Pointwise => (i * t).div_ceil(s)..((i + 1) * t).div_ceil(s),
    }
}

/// The producers consumer `c` of `consumers` reads from, for `pattern`.
pub fn connected_producers(
    pattern: DistributionPattern,
    producers: usize,
    consumers: usize,
    c: usize,
) -> Range<usize> {
    let (s, t) = (producers, consumers);
    match pattern {
        DistributionPattern::AllToAll => 0..s,
        DistributionPattern::Pointwise if s == t => c..c + 1,
        DistributionPattern::Pointwise if s > t => c * s / t..(c + 1) * s / t,
        DistributionPattern::Pointwise => {
            let p = (0..s)
                .find(|&p| connected_consumers(pattern, s, t, p).contains(&c))
                .unwrap_or(0);
            p..p + 1
        }
    }
}

/// Makes the channel router of a partitioner that needs nothing but the record type.
#[derive(Clone, Copy)]
pub struct RecordType {
    /// The record type's name.
    pub name: &'static str,
    make_router: fn(PartitionerKind, &RouterContext) -> Box<dyn ChannelRouter>,
    decode: BatchDecoder,
}

/// Decodes a serialized buffer of one record type (see [`RecordType::decoder`]).
pub type BatchDecoder = fn(&[u8]) -> Result<crate::data::Batch, crate::data::OperatorError>;

impl std::fmt::Debug for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl RecordType {
    /// The record type `T`.
    pub fn of<T: Data>() -> Self {
        Self {
            name: std::any::type_name::<T>(),
            make_router: make_router::<T>,
            decode: crate::data::Batch::decode::<T>,
        }
    }

    /// The decoder of this type's serialized buffers, for channels that cross processes.
    pub fn decoder(&self) -> BatchDecoder {
        self.decode
    }

    /// A router for `kind` (hash and custom edges carry their own, keyed ones).
    pub fn router(&self, kind: PartitionerKind, ctx: &RouterContext) -> Box<dyn ChannelRouter> {
        (self.make_router)(kind, ctx)
    }
}

fn make_router<T: Data>(kind: PartitionerKind, ctx: &RouterContext) -> Box<dyn ChannelRouter> {
    let n = ctx.num_channels.max(1);
    let bs = ctx.buffer;
    match kind {
        PartitionerKind::Forward | PartitionerKind::Global => {
            Box::new(SingleChannelRouter::<T>::new(0, bs))
        }
        PartitionerKind::Rescale => Box::new(SelectingRouter::<T, _>::new(
            "rescale",
            RoundRobin::new(0, n),
            n,
            bs,
        )),
        PartitionerKind::Shuffle => Box::new(SelectingRouter::<T, _>::new(
            "shuffle",
            Shuffle::new(ctx.seed, n),
            n,
            bs,
        )),
        PartitionerKind::Broadcast => Box::new(BroadcastRouter::<T>::new(n, bs)),
        // Flink's rebalance starts at a random channel so that producers do not all hit
        // consumer 0 first; hash and custom never get here (their edges carry a keyed router).
        PartitionerKind::Rebalance | PartitionerKind::Hash | PartitionerKind::Custom => {
            let start = FastRng::new(ctx.seed).below(n);
            Box::new(SelectingRouter::<T, _>::new(
                "rebalance",
                RoundRobin::new(start, n),
                n,
                bs,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DistributionPattern::*;

    #[test]
    fn rescale_two_to_four() {
        assert_eq!(connected_consumers(Pointwise, 2, 4, 0), 0..2);
        assert_eq!(connected_consumers(Pointwise, 2, 4, 1), 2..4);
        for c in 0..4 {
            assert_eq!(connected_producers(Pointwise, 2, 4, c), c / 2..c / 2 + 1);
        }
    }

    #[test]
    fn rescale_four_to_two() {
        for p in 0..4 {
            assert_eq!(connected_consumers(Pointwise, 4, 2, p), p / 2..p / 2 + 1);
        }
        assert_eq!(connected_producers(Pointwise, 4, 2, 0), 0..2);
        assert_eq!(connected_producers(Pointwise, 4, 2, 1), 2..4);
    }

    #[test]
    fn uneven_pointwise_covers_everyone_once() {
        for s in 1..9 {
            for t in 1..9 {
                let mut seen = vec![0; t];
                for p in 0..s {
                    for c in connected_consumers(Pointwise, s, t, p) {
                        seen[c] += 1;
                        assert!(
                            connected_producers(Pointwise, s, t, c).contains(&p),
                            "{s}->{t}: {p}->{c}"
                        );
                    }
                }
                if s >= t {
                    assert!(seen.iter().all(|&n| n >= 1), "{s}->{t}: {seen:?}");
                } else {
                    assert!(seen.iter().all(|&n| n == 1), "{s}->{t}: {seen:?}");
                }
            }
        }
    }

    #[test]
    fn three_to_five_follows_flink() {
        assert_eq!(connected_consumers(Pointwise, 3, 5, 0), 0..2);
        assert_eq!(connected_consumers(Pointwise, 3, 5, 1), 2..4);
        assert_eq!(connected_consumers(Pointwise, 3, 5, 2), 4..5);
    }
}
