//! Evictors: remove elements from a window's contents before or after its function runs
//! (Flink's `Evictor` with its count, time and delta evictors). A window with an evictor keeps
//! every element (an incremental function then folds them when the window fires).

use std::sync::Arc;

use crate::data::batch::NO_TIMESTAMP;
use crate::eventtime::Timestamp;
use crate::windowing::Window;

/// An element of a window's contents with its timestamp ([`NO_TIMESTAMP`] if it has none).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimestampedValue<T> {
    /// The element.
    pub value: T,
    /// Its timestamp.
    pub timestamp: Timestamp,
}

impl<T> TimestampedValue<T> {
    /// Whether the element has a timestamp.
    pub fn has_timestamp(&self) -> bool {
        self.timestamp != NO_TIMESTAMP
    }
}

/// What an evictor may read.
#[derive(Debug, Clone, Copy)]
pub struct EvictorContext {
    /// The operator's current watermark.
    pub watermark: Timestamp,
    /// The current processing time.
    pub processing_time: Timestamp,
}

/// Removes elements of a window before and/or after its function runs.
pub trait Evictor<T, W: Window>: Send + Sync + 'static {
    /// Before the window function: what is removed here is not seen by it.
    fn evict_before(
        &self,
        _elements: &mut Vec<TimestampedValue<T>>,
        _window: &W,
        _ctx: &EvictorContext,
    ) {
    }

    /// After the window function: what is removed here is gone for later firings.
    fn evict_after(
        &self,
        _elements: &mut Vec<TimestampedValue<T>>,
        _window: &W,
        _ctx: &EvictorContext,
    ) {
    }
}

/// The built-in evictors prune in one place, before or after the function as they are set.
macro_rules! evict_before_or_after {
    ($t:ty) => {
        impl<T: Send + Sync + 'static, W: Window> Evictor<T, W> for $t {
            fn evict_before(&self, e: &mut Vec<TimestampedValue<T>>, _: &W, _: &EvictorContext) {
                if !self.after {
                    self.evict(e);
                }
            }
            fn evict_after(&self, e: &mut Vec<TimestampedValue<T>>, _: &W, _: &EvictorContext) {
                if self.after {
                    self.evict(e);
                }
            }
        }
    };
}

/// Keeps at most `max` elements, dropping the oldest (first added).
#[derive(Debug, Clone, Copy)]
pub struct CountEvictor {
    max: usize,
    after: bool,
}

impl CountEvictor {
    /// Keeps the last `max` elements, evicting before the function.
    pub fn of(max: usize) -> Self {
        Self { max, after: false }
    }

    /// Keeps the last `max` elements, evicting after the function when `after`.
    pub fn of_after(max: usize, after: bool) -> Self {
        Self { max, after }
    }

    fn evict<T>(&self, elements: &mut Vec<TimestampedValue<T>>) {
        if elements.len() > self.max {
            let excess = elements.len() - self.max;
            elements.drain(..excess);
        }
    }
}

evict_before_or_after!(CountEvictor);

/// Keeps the elements within `size` of the newest timestamp in the window: those with a
/// timestamp `<= max_timestamp - size` are dropped. Windows without timestamps are left alone.
#[derive(Debug, Clone, Copy)]
pub struct TimeEvictor {
    size: i64,
    after: bool,
}

impl TimeEvictor {
    /// Keeps `size` of time, evicting before the function.
    pub fn of(size: std::time::Duration) -> Self {
        Self::of_after(size, false)
    }

    /// Keeps `size` of time, evicting after the function when `after`.
    pub fn of_after(size: std::time::Duration, after: bool) -> Self {
        Self {
            size: size.as_millis() as i64,
            after,
        }
    }

    fn evict<T>(&self, elements: &mut Vec<TimestampedValue<T>>) {
        let Some(newest) = elements
            .iter()
            .filter(|e| e.has_timestamp())
            .map(|e| e.timestamp)
            .max()
        else {
            return;
        };
        let cutoff = newest.saturating_sub(self.size);
        elements.retain(|e| e.timestamp > cutoff);
    }
}

evict_before_or_after!(TimeEvictor);

type DeltaFn<T> = Arc<dyn Fn(&T, &T) -> f64 + Send + Sync>;

/// Drops the elements whose delta to the last element is at or above a threshold.
pub struct DeltaEvictor<T> {
    threshold: f64,
    delta: DeltaFn<T>,
    after: bool,
}

impl<T> Clone for DeltaEvictor<T> {
    fn clone(&self) -> Self {
        Self {
            threshold: self.threshold,
            delta: self.delta.clone(),
            after: self.after,
        }
    }
}

impl<T> DeltaEvictor<T> {
    /// Evicts, before the function, elements `e` with `delta(e, last) >= threshold`.
    pub fn of(threshold: f64, delta: impl Fn(&T, &T) -> f64 + Send + Sync + 'static) -> Self {
        Self::of_after(threshold, delta, false)
    }

    /// The same, after the function when `after`.
    pub fn of_after(
        threshold: f64,
        delta: impl Fn(&T, &T) -> f64 + Send + Sync + 'static,
        after: bool,
    ) -> Self {
        Self {
            threshold,
            delta: Arc::new(delta),
            after,
        }
    }

    fn evict(&self, elements: &mut Vec<TimestampedValue<T>>) {
        let Some(last) = elements.pop() else {
            return;
        };
        elements.retain(|e| (self.delta)(&e.value, &last.value) < self.threshold);
        elements.push(last);
    }
}

evict_before_or_after!(DeltaEvictor<T>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windowing::GlobalWindow;

    fn values(v: &[(i64, Timestamp)]) -> Vec<TimestampedValue<i64>> {
        v.iter()
            .map(|&(value, timestamp)| TimestampedValue { value, timestamp })
            .collect()
    }

    const CTX: EvictorContext = EvictorContext {
        watermark: 0,
        processing_time: 0,
    };

    #[test]
    fn evictors_keep_what_flink_keeps() {
        let mut e = values(&[(1, 10), (2, 20), (3, 30), (4, 40)]);
        Evictor::<i64, GlobalWindow>::evict_before(
            &CountEvictor::of(2),
            &mut e,
            &GlobalWindow,
            &CTX,
        );
        assert_eq!(e, values(&[(3, 30), (4, 40)]));

        // newest 40, size 15: cutoff 25, so 30 and 40 stay.
        let mut e = values(&[(1, 10), (2, 20), (3, 30), (4, 40)]);
        let t = TimeEvictor::of(std::time::Duration::from_millis(15));
        Evictor::<i64, GlobalWindow>::evict_before(&t, &mut e, &GlobalWindow, &CTX);
        assert_eq!(e, values(&[(3, 30), (4, 40)]));

        // Delta to the last (10): 1 is 9 away (>= 5) and goes; 7 and 9 stay.
        let mut e = values(&[(1, 1), (7, 2), (9, 3), (10, 4)]);
        let d = DeltaEvictor::of(5.0, |a: &i64, b: &i64| (a - b).abs() as f64);
        Evictor::<i64, GlobalWindow>::evict_before(&d, &mut e, &GlobalWindow, &CTX);
        assert_eq!(e, values(&[(7, 2), (9, 3), (10, 4)]));

        // An evictor set to run after does nothing before.
        let mut e = values(&[(1, 1), (2, 2)]);
        let after = CountEvictor::of_after(1, true);
        Evictor::<i64, GlobalWindow>::evict_before(&after, &mut e, &GlobalWindow, &CTX);
        assert_eq!(e.len(), 2);
        Evictor::<i64, GlobalWindow>::evict_after(&after, &mut e, &GlobalWindow, &CTX);
        assert_eq!(e, values(&[(2, 2)]));
    }
}
