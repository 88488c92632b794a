//! Joins bounded in time, as keyed process functions over both sides tagged and united (as
//! the regular join is), whose state ends with the watermark.
//!
//! - [`WindowJoin`] (Flink's `WindowJoinOperator`): the key holds both sides' `window_start`
//!   and `window_end`, so a key is one window. Its rows wait in list state until the watermark
//!   reaches the window's last millisecond (`window_end - 1`); then they are paired, the rows
//!   of a preserved side without a match are emitted padded with `NULL`s, and the state is
//!   cleared. A row whose window has already fired is late and dropped, as in Flink.
//! - [`IntervalJoin`] (Flink's `RowTimeIntervalJoin`): a pair joins when
//!   `lower <= left.time - right.time <= upper`. A row is paired at once with the other side's
//!   rows in its range, and kept (in map state by its time) until the watermark passes the
//!   last time a partner could have: `time - lower` for a left row, `time + upper` for a right
//!   one. Then it is dropped, and emitted padded if its side is preserved and it never matched.
//!
//! Both emit only `+I`: an outer row is padded once it can no longer match, never retracted.
//! A row whose key or time is `NULL` matches nothing.

use crate::api::{Collector, KeyedContext, KeyedProcessFunction};
use crate::data::UserError;
use crate::eventtime::Timestamp;
use crate::sql::lower::aggregate::GroupKey;
use crate::sql::lower::join::{Pairing, Sided};
use crate::sql::types::{Row, Value};
use crate::state::{ListStateDescriptor, MapStateDescriptor};

/// A window join: a window's rows paired when the watermark passes its end.
#[derive(Clone)]
pub struct WindowJoin {
    pair: Pairing,
    /// Each side's `window_end` column.
    ends: [usize; 2],
    sides: [ListStateDescriptor<Vec<Value>>; 2],
}

impl WindowJoin {
    /// Pairs rows as `pair` does; `ends` are the sides' `window_end` columns.
    pub(super) fn new(pair: Pairing, ends: [usize; 2]) -> Self {
        Self {
            pair,
            ends,
            sides: [
                ListStateDescriptor::new("sql-window-join-left"),
                ListStateDescriptor::new("sql-window-join-right"),
            ],
        }
    }
}

impl<K: GroupKey> KeyedProcessFunction<K, Sided, Row> for WindowJoin {
    fn process_element(
        &mut self,
        input: Sided,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        let (side, null_key) = (input.index(), input.null_key());
        let mine = input.row.values;
        let end = mine.get(self.ends[side]).and_then(Value::as_i64);
        let fire = match end {
            Some(end) if !null_key => end.saturating_sub(1),
            _ => {
                self.pair.pad(side, &mine, out);
                return Ok(());
            }
        };
        if fire <= ctx.current_watermark() {
            return Ok(());
        }
        ctx.list_state(&self.sides[side])?.add(mine)?;
        ctx.register_event_time_timer(fire);
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        let mut rows = [Vec::new(), Vec::new()];
        for (side, rows) in rows.iter_mut().enumerate() {
            let mut state = ctx.list_state(&self.sides[side])?;
            *rows = state.get()?;
            state.clear()?;
        }
        let [left, right] = rows;
        let mut right_matched = vec![false; right.len()];
        for l in &left {
            let mut matched = false;
            for (r, m) in right.iter().zip(right_matched.iter_mut()) {
                if let Some(joined) = self.pair.joined(0, l, r)? {
                    out.collect(Row::insert(joined));
                    matched = true;
                    *m = true;
                }
            }
            if !matched {
                self.pair.pad(0, l, out);
            }
        }
        for (r, _) in right.iter().zip(&right_matched).filter(|(_, m)| !**m) {
            self.pair.pad(1, r, out);
        }
        Ok(())
    }
}

/// Rows of one side at one time, each with whether it has matched.
type TimedRows = Vec<(Vec<Value>, bool)>;

/// An interval join on rowtimes.
#[derive(Clone)]
pub struct IntervalJoin {
    pair: Pairing,
    /// Each side's rowtime column.
    times: [usize; 2],
    /// The least `left.time - right.time`.
    lower: i64,
    /// The greatest.
    upper: i64,
    sides: [MapStateDescriptor<i64, TimedRows>; 2],
}

impl IntervalJoin {
    /// Pairs rows as `pair` does when `lower <= left.time - right.time <= upper`.
    pub(super) fn new(pair: Pairing, times: [usize; 2], (lower, upper): (i64, i64)) -> Self {
        Self {
            pair,
            times,
            lower,
            upper,
            sides: [
                MapStateDescriptor::new("sql-interval-join-left"),
                MapStateDescriptor::new("sql-interval-join-right"),
            ],
        }
    }

    /// The last time of the other side a row of `side` at `time` can meet.
    fn expiry(&self, side: usize, time: i64) -> Timestamp {
        if side == 0 {
            time.saturating_sub(self.lower)
        } else {
            time.saturating_add(self.upper)
        }
    }

    /// The other side's times a row of `side` at `time` meets.
    fn range(&self, side: usize, time: i64) -> std::ops::RangeInclusive<i64> {
        if side == 0 {
            time.saturating_sub(self.upper)..=time.saturating_sub(self.lower)
        } else {
            time.saturating_add(self.lower)..=time.saturating_add(self.upper)
        }
    }
}

impl<K: GroupKey> KeyedProcessFunction<K, Sided, Row> for IntervalJoin {
    fn process_element(
        &mut self,
        input: Sided,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        let (side, null_key) = (input.index(), input.null_key());
        let mine = input.row.values;
        let time = match mine.get(self.times[side]).and_then(Value::as_i64) {
            Some(t) if !null_key => t,
            _ => {
                self.pair.pad(side, &mine, out);
                return Ok(());
            }
        };
        let range = self.range(side, time);
        let mut matched = false;
        let mut others = ctx.map_state(&self.sides[1 - side])?;
        for (at, mut rows) in others.entries()? {
            if !range.contains(&at) {
                continue;
            }
            let mut changed = false;
            for (other, seen) in rows.iter_mut() {
                if let Some(joined) = self.pair.joined(side, &mine, other)? {
                    out.collect(Row::insert(joined));
                    matched = true;
                    changed |= !*seen;
                    *seen = true;
                }
            }
            if changed {
                others.put(at, rows)?;
            }
        }
        let expiry = self.expiry(side, time);
        if expiry <= ctx.current_watermark() {
            // No row of the other side still to come can meet it.
            if !matched {
                self.pair.pad(side, &mine, out);
            }
            return Ok(());
        }
        let mut own = ctx.map_state(&self.sides[side])?;
        let mut rows = own.get(&time)?.unwrap_or_default();
        rows.push((mine, matched));
        own.put(time, rows)?;
        ctx.register_event_time_timer(expiry);
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        for side in 0..2 {
            let mut state = ctx.map_state(&self.sides[side])?;
            for (at, rows) in state.entries()? {
                if self.expiry(side, at) > timestamp {
                    continue;
                }
                state.remove(&at)?;
                for (row, _) in rows.iter().filter(|(_, seen)| !seen) {
                    self.pair.pad(side, row, out);
                }
            }
        }
        Ok(())
    }
}
