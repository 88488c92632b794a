//! Regular joins on the DataStream API: both inputs tagged with their side and key, united,
//! keyed by the join key, and joined by a keyed function whose map state holds each side's
//! rows of the key (see `SideRows`).
//!
//! ## Changelog
//! An inner join of append-only inputs emits `+I` per match. An
//! outer join emits a row of the preserved side padded with `NULL`s while it has no match, and
//! retracts it (`-D`) when its first match comes, as Flink's `StreamingJoinOperator` does. A
//! key holding `NULL` never matches. A side's `-U`/`-D` retracts its joined rows (see
//! `JoinFunction::retract`).

use serde::{Deserialize, Serialize};

use crate::api::{Collector, DataStream, KeyedContext, KeyedProcessFunction, StreamEnv};
use crate::data::UserError;
use crate::sql::expr::{compile_predicate, Predicate};
use crate::sql::lower::aggregate::GroupKey;
use crate::sql::lower::lower;
use crate::sql::lower::time_join::{IntervalJoin, WindowJoin};
use crate::sql::plan::{JoinKind, JoinTime, Node, Plan};
use crate::sql::types::{Row, RowKind, Value};
use crate::sql::SqlError;
use crate::state::MapStateDescriptor;

/// A row of one side of a join, with its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sided {
    /// 0 for the left input, 1 for the right.
    pub side: u8,
    /// The join key's values.
    pub key: Vec<Value>,
    /// The row.
    pub row: Row,
}

impl Sided {
    /// The side as an index: 0 for the left, 1 for the right.
    pub(super) fn index(&self) -> usize {
        usize::from(self.side.min(1))
    }

    /// Whether the key holds a `NULL`, which matches nothing.
    pub(super) fn null_key(&self) -> bool {
        self.key.iter().any(Value::is_null)
    }
}

/// Lowers a join: a regular one, or a window or interval join (see [`super::time_join`]).
pub fn lower_join(plan: &Plan, env: &StreamEnv) -> Result<DataStream<Row>, SqlError> {
    let Node::Join {
        left,
        right,
        kind,
        left_keys,
        right_keys,
        state_ttl_ms,
        time,
        ..
    } = &plan.node
    else {
        return Err(SqlError::Validation("not a join".into()));
    };
    let tag = |side: u8, keys: &[usize]| {
        let keys = keys.to_vec();
        move |row: Row| Sided {
            side,
            key: keys
                .iter()
                .map(|k| row.values.get(*k).cloned().unwrap_or(Value::Null))
                .collect(),
            row,
        }
    };
    let l = lower(left, env)?.map(tag(0, left_keys));
    let r = lower(right, env)?.map(tag(1, right_keys));
    let both = l.union(&r);
    let pair = Pairing::of(plan)?;
    let single = left_keys.len() == 1;
    let joined = match time {
        None => keyed(
            both,
            single,
            JoinFunction {
                pair,
                sides: [
                    side_rows("sql-join-left-rows", *state_ttl_ms),
                    side_rows("sql-join-right-rows", *state_ttl_ms),
                ],
            },
        ),
        Some(JoinTime::Window {
            left_end,
            right_end,
        }) => keyed(both, single, WindowJoin::new(pair, [*left_end, *right_end])),
        Some(JoinTime::Interval {
            left_time,
            right_time,
            lower,
            upper,
        }) => keyed(
            both,
            single,
            IntervalJoin::new(pair, [*left_time, *right_time], (*lower, *upper)),
        ),
    };
    let name = match time {
        None => "Join",
        Some(JoinTime::Window { .. }) => "WindowJoin",
        Some(JoinTime::Interval { .. }) => "IntervalJoin",
    };
    Ok(joined.name(&format!("{name}(joinType=[{kind:?}])")))
}

/// `both` keyed by its join key (one value, or several) and joined by `f`.
fn keyed<F>(both: DataStream<Sided>, single: bool, f: F) -> DataStream<Row>
where
    F: KeyedProcessFunction<Value, Sided, Row>
        + KeyedProcessFunction<Vec<Value>, Sided, Row>
        + Clone
        + Sync,
{
    if single {
        both.key_by(|s: &Sided| Value::of_values(&s.key))
            .process_keyed(f)
    } else {
        both.key_by(|s: &Sided| Vec::<Value>::of_values(&s.key))
            .process_keyed(f)
    }
}

/// The rows of one side of a key: each distinct row with how many times it is there and, on a
/// side the join preserves, how many rows of the other side it matches (0 elsewhere: Flink's
/// `OuterJoinRecordStateView` and `JoinRecordStateView`). A map, so that in RocksDB a row added
/// or retracted is one entry written, not the key's whole side, and an inner join writes
/// nothing to the side it reads.
type SideRows = MapStateDescriptor<SideRow, (u64, u64)>;

/// A side's row as its map's key. Its hash is computed once, when the row arrives: a row of
/// long strings is hashed once, not again each time a growing map rehashes. It is written as
/// the bare row, so savepoints and RocksDB hold the row's values alone.
#[derive(Debug, Clone)]
struct SideRow {
    hash: u64,
    values: Vec<Value>,
}

impl SideRow {
    fn new(values: Vec<Value>) -> Self {
        use std::hash::BuildHasher;
        let hash = foldhash::fast::FixedState::with_seed(0).hash_one(&values);
        Self { hash, values }
    }
}

impl PartialEq for SideRow {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.values == other.values
    }
}

impl Eq for SideRow {}

impl std::hash::Hash for SideRow {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Serialize for SideRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.values.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SideRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Value>::deserialize(d).map(Self::new)
    }
}

fn side_rows(name: &str, ttl_ms: Option<u64>) -> SideRows {
    let d = MapStateDescriptor::new(name);
    match ttl_ms {
        Some(ms) => d.with_ttl(crate::state::StateTtlConfig::new(
            std::time::Duration::from_millis(ms),
        )),
        None => d,
    }
}

/// `row`, `n` times.
fn repeat(out: &mut Collector<'_, Row>, n: u64, kind: RowKind, values: Vec<Value>) {
    for _ in 1..n {
        out.collect(Row {
            kind,
            values: values.clone(),
        });
    }
    if n > 0 {
        out.collect(Row { kind, values });
    }
}

#[derive(Clone)]
struct JoinFunction {
    pair: Pairing,
    sides: [SideRows; 2],
}

/// How a join pairs rows: its kind, the widths of its sides and the rest of its condition.
#[derive(Clone)]
pub(super) struct Pairing {
    kind: JoinKind,
    /// Columns of the left and right rows.
    widths: [usize; 2],
    condition: Option<Predicate>,
}

impl Pairing {
    /// The pairing of `plan`'s join.
    pub(super) fn of(plan: &Plan) -> Result<Self, SqlError> {
        let Node::Join {
            left,
            right,
            kind,
            condition,
            ..
        } = &plan.node
        else {
            return Err(SqlError::Validation("not a join".into()));
        };
        Ok(Self {
            kind: *kind,
            widths: [left.schema.len(), right.schema.len()],
            condition: condition.as_ref().map(compile_predicate),
        })
    }

    /// Whether `side`'s rows survive without a match.
    pub(super) fn preserves(&self, side: usize) -> bool {
        matches!(
            (self.kind, side),
            (JoinKind::Left, 0) | (JoinKind::Right, 1) | (JoinKind::Full, _)
        )
    }

    /// `mine` of `side` joined with `other`, when the join's condition holds.
    pub(super) fn joined(
        &self,
        side: usize,
        mine: &[Value],
        other: &[Value],
    ) -> Result<Option<Vec<Value>>, UserError> {
        let joined = if side == 0 {
            [mine, other].concat()
        } else {
            [other, mine].concat()
        };
        match &self.condition {
            Some(c) if !c(&joined)? => Ok(None),
            _ => Ok(Some(joined)),
        }
    }

    /// Emits `row` of `side` padded, if `side` is preserved (an insert).
    pub(super) fn pad(&self, side: usize, row: &[Value], out: &mut Collector<'_, Row>) {
        if self.preserves(side) {
            out.collect(Row::insert(self.padded(side, row)));
        }
    }

    /// `row` of `side` beside `NULL`s for the other side.
    pub(super) fn padded(&self, side: usize, row: &[Value]) -> Vec<Value> {
        let nulls = vec![Value::Null; self.widths[1 - side]];
        if side == 0 {
            [row, &nulls].concat()
        } else {
            [&nulls, row].concat()
        }
    }
}

impl JoinFunction {
    /// A `-U`/`-D` of `side`'s row `mine` (an updating input): the row leaves the side's state
    /// and its joined rows are retracted; a preserved row of the other side that loses its
    /// last match comes back padded, and `mine`'s padded row, if it had no match, is retracted.
    /// A retraction of a row the state does not hold (expired by its TTL) is ignored, as Flink
    /// does.
    fn retract<K: GroupKey>(
        &self,
        side: usize,
        mine: SideRow,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        let mut own = ctx.map_state(&self.sides[side])?;
        let Some((n, matched)) = own.get(&mine)? else {
            return Ok(());
        };
        if n > 1 {
            own.put(mine.clone(), (n - 1, matched))?;
        } else {
            own.remove(&mine)?;
        }
        // Only a preserved side counts its rows' matches (see `SideRows`).
        if matched == 0 && self.pair.preserves(side) {
            out.collect(Row {
                kind: RowKind::Delete,
                values: self.pair.padded(side, &mine.values),
            });
            return Ok(());
        }
        let pair = &self.pair;
        let counted = pair.preserves(1 - side);
        ctx.map_state(&self.sides[1 - side])?.for_each_mut(
            |other: &SideRow, (times, count): &mut (u64, u64)| {
                let Some(joined) = pair.joined(side, &mine.values, &other.values)? else {
                    return Ok(false);
                };
                repeat(out, *times, RowKind::Delete, joined);
                if counted {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        repeat(
                            out,
                            *times,
                            RowKind::Insert,
                            pair.padded(1 - side, &other.values),
                        );
                    }
                }
                Ok::<_, UserError>(counted)
            },
        )
    }
}

impl<K: GroupKey> KeyedProcessFunction<K, Sided, Row> for JoinFunction {
    fn process_element(
        &mut self,
        input: Sided,
        ctx: &mut KeyedContext<'_, K>,
        out: &mut Collector<'_, Row>,
    ) -> Result<(), UserError> {
        let side = input.index();
        let addition = input.row.kind.is_addition();
        let null_key = input.null_key();
        let mine = input.row.values;
        if null_key {
            if self.pair.preserves(side) {
                let kind = if addition {
                    RowKind::Insert
                } else {
                    RowKind::Delete
                };
                out.collect(Row {
                    kind,
                    values: self.pair.padded(side, &mine),
                });
            }
            return Ok(());
        }
        let mine = SideRow::new(mine);
        if !addition {
            return self.retract(side, mine, ctx, out);
        }
        // The other side's rows are read in place (on the heap nothing is cloned) and only
        // those whose match count changed are written back: none in an inner join.
        let pair = &self.pair;
        let counted = pair.preserves(1 - side);
        let mut matches = 0u64;
        ctx.map_state(&self.sides[1 - side])?.for_each_mut(
            |other: &SideRow, (times, count): &mut (u64, u64)| {
                let Some(joined) = pair.joined(side, &mine.values, &other.values)? else {
                    return Ok(false);
                };
                if counted {
                    if *count == 0 {
                        repeat(
                            out,
                            *times,
                            RowKind::Delete,
                            pair.padded(1 - side, &other.values),
                        );
                    }
                    *count += 1;
                }
                matches += *times;
                repeat(out, *times, RowKind::Insert, joined);
                Ok::<_, UserError>(counted)
            },
        )?;
        let preserved = pair.preserves(side);
        if matches == 0 && preserved {
            out.collect(Row::insert(pair.padded(side, &mine.values)));
        }
        let matches = if preserved { matches } else { 0 };
        ctx.map_state(&self.sides[side])?.upsert(mine, |had| {
            (had.map_or(0, |(times, _)| *times) + 1, matches)
        })?;
        Ok(())
    }
}
