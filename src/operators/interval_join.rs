//! The interval join of two keyed streams (Flink's `IntervalJoinOperator`).
//!
//! ## Rules
//! - Every element needs a timestamp; one behind the watermark is late and dropped.
//! - An element is buffered per key and timestamp, then joined with the other side's buffered
//!   elements of its key in range: for `a` at `ta`, the `b` with `tb` in
//!   `[ta + lower, ta + upper]`; for `b` at `tb`, the `a` with `ta` in `[tb - upper, tb - lower]`.
//!   Each pair is emitted once, by whichever of the two arrived second, with timestamp
//!   `max(ta, tb)`.
//! - Once the watermark passes the last time a partner could arrive (`ta + upper` for `a`,
//!   `tb - lower` for `b`), the element is dropped from the buffer.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::{Collector, Data, Key};
use crate::data::batch::{BatchBuilder, NO_TIMESTAMP};
use crate::eventtime::{Timestamp, MIN_WATERMARK};
use crate::operators::keyed::KeyFn;
use crate::operators::{Batch, Operator, OperatorError, Output};
use crate::util::FastMap;

type Buffer<T> = BTreeMap<Timestamp, Vec<T>>;
type JoinFn<A, B, O> = Arc<dyn Fn(&A, &B, &mut Collector<'_, O>) + Send + Sync>;

/// Joins two keyed inputs by time interval.
pub struct IntervalJoinOperator<K, A, B, O> {
    name: String,
    key_a: KeyFn<K, A>,
    key_b: KeyFn<K, B>,
    lower: i64,
    upper: i64,
    f: JoinFn<A, B, O>,
    left: FastMap<K, Buffer<A>>,
    right: FastMap<K, Buffer<B>>,
    watermark: Timestamp,
}

impl<K: Key, A: Data, B: Data, O: Data> IntervalJoinOperator<K, A, B, O> {
    /// Joins `b` to `a` when `ta + lower <= tb <= ta + upper`.
    pub fn new(
        name: &str,
        key_a: KeyFn<K, A>,
        key_b: KeyFn<K, B>,
        lower: i64,
        upper: i64,
        f: Arc<impl Fn(&A, &B, &mut Collector<'_, O>) + Send + Sync + 'static>,
    ) -> Self {
        Self {
            name: name.to_string(),
            key_a,
            key_b,
            lower,
            upper,
            f,
            left: FastMap::default(),
            right: FastMap::default(),
            watermark: MIN_WATERMARK,
        }
    }

    fn missing_timestamp(&self) -> OperatorError {
        OperatorError::Failed {
            operator: self.name.clone(),
            message: "a record has no timestamp: an interval join needs event-time timestamps"
                .into(),
        }
    }
}

/// Drops buffered elements whose timestamps are below `keep_from`, and keys left empty.
fn expire<K: Key, T>(buffers: &mut FastMap<K, Buffer<T>>, keep_from: Timestamp) {
    buffers.retain(|_, b| {
        let kept = b.split_off(&keep_from);
        *b = kept;
        !b.is_empty()
    });
}

impl<K: Key, A: Data, B: Data, O: Data> Operator for IntervalJoinOperator<K, A, B, O> {
    fn process_batch(
        &mut self,
        input: usize,
        batch: Batch,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let mut built = BatchBuilder::<O>::new();
        let mut buf = Vec::new();
        let (lower, upper) = (self.lower, self.upper);
        if input == 0 {
            let (records, ts) = batch.into_parts::<A>()?;
            let ts = ts.ok_or_else(|| self.missing_timestamp())?;
            for (a, ta) in records.into_iter().zip(ts) {
                if ta == NO_TIMESTAMP {
                    return Err(self.missing_timestamp());
                }
                if ta < self.watermark {
                    continue;
                }
                let k = (self.key_a)(&a);
                if let Some(others) = self.right.get(&k) {
                    let range = ta.saturating_add(lower)..=ta.saturating_add(upper);
                    for (tb, bs) in others.range(range) {
                        for b in bs {
                            (self.f)(&a, b, &mut Collector::new(&mut buf));
                            for o in buf.drain(..) {
                                built.push(o, Some(ta.max(*tb)));
                            }
                        }
                    }
                }
                self.left
                    .entry(k)
                    .or_default()
                    .entry(ta)
                    .or_default()
                    .push(a);
            }
        } else {
            let (records, ts) = batch.into_parts::<B>()?;
            let ts = ts.ok_or_else(|| self.missing_timestamp())?;
            for (b, tb) in records.into_iter().zip(ts) {
                if tb == NO_TIMESTAMP {
                    return Err(self.missing_timestamp());
                }
                if tb < self.watermark {
                    continue;
                }
                let k = (self.key_b)(&b);
                if let Some(others) = self.left.get(&k) {
                    let range = tb.saturating_sub(upper)..=tb.saturating_sub(lower);
                    for (ta, as_) in others.range(range) {
                        for a in as_ {
                            (self.f)(a, &b, &mut Collector::new(&mut buf));
                            for o in buf.drain(..) {
                                built.push(o, Some(tb.max(*ta)));
                            }
                        }
                    }
                }
                self.right
                    .entry(k)
                    .or_default()
                    .entry(tb)
                    .or_default()
                    .push(b);
            }
        }
        if built.is_empty() {
            Ok(())
        } else {
            out.emit(built.take(0))
        }
    }

    fn process_watermark(
        &mut self,
        watermark: Timestamp,
        out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        if watermark > self.watermark {
            self.watermark = watermark;
            // `a` may still meet a `b` at `tb >= watermark` while `ta + upper >= watermark`.
            expire(&mut self.left, watermark.saturating_sub(self.upper));
            expire(&mut self.right, watermark.saturating_add(self.lower));
        }
        out.emit_watermark(watermark)
    }
}
