//! Joins of two streams by key in event time (Flink's `join(..).where(..).equalTo(..).window(..)`
//! and `intervalJoin(..).between(..)`).
//!
//! - A *window join* pairs every element of one stream with every element of the other that
//!   has the same key and falls in the same window; each pair is emitted once, when the window
//!   fires, with the window's last timestamp. Built as Flink builds it: both sides tagged,
//!   unioned, keyed and windowed, the pairs made by the window function.
//! - An *interval join* pairs an element `a` (at `ta`) with every element `b` of the same key
//!   whose timestamp is in `[ta + lower, ta + upper]`, as soon as both have arrived; the pair
//!   gets the larger of the two timestamps (see [`crate::operators::interval_join`]).

use std::marker::PhantomData;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api::{Collector, Data, DataStream, Key, KeyedStream};
use crate::graph::partitioner::RecordType;
use crate::operators::interval_join::IntervalJoinOperator;
use crate::operators::keyed::KeyFn;
use crate::windowing::assigners::Assigner;
use crate::windowing::functions::WindowContext;
use crate::windowing::Window;

/// An element of a window join's input: from the first stream or the second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JoinSide<A, B> {
    /// From the first stream.
    Left(A),
    /// From the second stream.
    Right(B),
}

/// Two streams to be joined; name the keys next.
pub struct JoinedStreams<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
}

/// A window join with its keys; choose the windows next.
pub struct JoinWhere<K, A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
    key_a: KeyFn<K, A>,
    key_b: KeyFn<K, B>,
}

/// A window join with its keys and windows; give the join function next.
pub struct WindowJoin<K, A, B, W, S> {
    on: JoinWhere<K, A, B>,
    assigner: S,
    _w: PhantomData<fn() -> W>,
}

impl<A: Data> DataStream<A> {
    /// Joins with `other` by key within windows.
    pub fn join<B: Data>(&self, other: &DataStream<B>) -> JoinedStreams<A, B> {
        JoinedStreams {
            first: self.clone(),
            second: other.clone(),
        }
    }
}

impl<A: Data, B: Data> JoinedStreams<A, B> {
    /// The keys: `key_a` of the first stream's elements must equal `key_b` of the second's.
    pub fn where_equal_to<K: Key>(
        self,
        key_a: impl Fn(&A) -> K + Send + Sync + 'static,
        key_b: impl Fn(&B) -> K + Send + Sync + 'static,
    ) -> JoinWhere<K, A, B> {
        JoinWhere {
            first: self.first,
            second: self.second,
            key_a: Arc::new(key_a),
            key_b: Arc::new(key_b),
        }
    }
}

impl<K: Key, A: Data, B: Data> JoinWhere<K, A, B> {
    /// The windows the pairs must share.
    pub fn window<W: Window, S: Assigner<JoinSide<A, B>, W> + Clone>(
        self,
        assigner: S,
    ) -> WindowJoin<K, A, B, W, S> {
        WindowJoin {
            on: self,
            assigner,
            _w: PhantomData,
        }
    }
}

impl<K, A, B, W, S> WindowJoin<K, A, B, W, S>
where
    K: Key,
    A: Data,
    B: Data,
    W: Window,
    S: Assigner<JoinSide<A, B>, W> + Clone,
{
    /// Emits `f(a, b)` for every pair of one key and window.
    pub fn apply<O: Data>(self, f: impl Fn(&A, &B) -> O + Send + Sync + 'static) -> DataStream<O> {
        let f = Arc::new(f);
        let (ka, kb) = (self.on.key_a.clone(), self.on.key_b.clone());
        let left = self.on.first.map(JoinSide::<A, B>::Left);
        let right = self.on.second.map(JoinSide::<A, B>::Right);
        left.union(&right)
            .key_by(move |e: &JoinSide<A, B>| match e {
                JoinSide::Left(a) => ka(a),
                JoinSide::Right(b) => kb(b),
            })
            .window(self.assigner)
            .process(
                move |_key: &K,
                      _ctx: &mut WindowContext<'_, W>,
                      elements: &[JoinSide<A, B>],
                      out: &mut Collector<'_, O>| {
                    for l in elements {
                        let JoinSide::Left(a) = l else { continue };
                        for r in elements {
                            if let JoinSide::Right(b) = r {
                                out.collect(f(a, b));
                            }
                        }
                    }
                    Ok(())
                },
            )
    }
}

/// Two keyed streams to be joined by time interval; give the bounds next.
pub struct IntervalJoin<K, A, B> {
    first: KeyedStream<K, A>,
    second: KeyedStream<K, B>,
}

/// An interval join with its bounds; give the join function next.
pub struct IntervalJoined<K, A, B> {
    join: IntervalJoin<K, A, B>,
    lower: i64,
    upper: i64,
}

impl<K: Key, A: Data> KeyedStream<K, A> {
    /// Joins with `other` on equal keys and timestamps within bounds of each other.
    pub fn interval_join<B: Data>(&self, other: &KeyedStream<K, B>) -> IntervalJoin<K, A, B> {
        IntervalJoin {
            first: KeyedStream::new(self.as_stream(), self.key_fn()),
            second: KeyedStream::new(other.as_stream(), other.key_fn()),
        }
    }
}

impl<K: Key, A: Data, B: Data> IntervalJoin<K, A, B> {
    /// `b` joins `a` when `ta + lower <= tb <= ta + upper` (milliseconds; bounds inclusive,
    /// `lower <= upper`).
    pub fn between(self, lower: i64, upper: i64) -> IntervalJoined<K, A, B> {
        IntervalJoined {
            join: self,
            lower,
            upper,
        }
    }
}

impl<K: Key, A: Data, B: Data> IntervalJoined<K, A, B> {
    /// Leaves out pairs at the lower bound (`ta + lower < tb`).
    pub fn lower_bound_exclusive(mut self) -> Self {
        self.lower = self.lower.saturating_add(1);
        self
    }

    /// Leaves out pairs at the upper bound (`tb < ta + upper`).
    pub fn upper_bound_exclusive(mut self) -> Self {
        self.upper = self.upper.saturating_sub(1);
        self
    }

    /// Emits what `f` collects for every joined pair.
    pub fn process<O: Data>(
        self,
        f: impl Fn(&A, &B, &mut Collector<'_, O>) + Send + Sync + 'static,
    ) -> DataStream<O> {
        let env = self.join.first.as_stream().env.clone();
        if self.lower > self.upper {
            env.record_error(crate::graph::GraphError::InvalidWindow(format!(
                "an interval join needs lower <= upper, got [{}, {}]",
                self.lower, self.upper
            )));
        }
        let (ka, kb) = (self.join.first.key_fn(), self.join.second.key_fn());
        let (lower, upper, f) = (self.lower, self.upper, Arc::new(f));
        let (a, b) = (self.join.first.as_stream(), self.join.second.as_stream());
        let id = env.add_operator(
            "IntervalJoin",
            &[(&a.inputs, 0), (&b.inputs, 1)],
            move |ctx| {
                Box::new(IntervalJoinOperator::new(
                    &ctx.operator_name,
                    ka.clone(),
                    kb.clone(),
                    lower,
                    upper,
                    f.clone(),
                ))
            },
        );
        DataStream::from_node(env, id, RecordType::of::<O>())
    }
}
