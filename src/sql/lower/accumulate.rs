//! Accumulators of SQL's aggregate functions over rows: created, added to, merged (session
//! windows merge) and read, as the window operator's incremental aggregate and as the value
//! state of an unbounded `GROUP BY`. They serialize, so they are checkpointed with the window
//! or key they belong to.
//!
//! Sums wrap on overflow as Flink's (Java's) arithmetic does; `SUM` of no non-null value is
//! `NULL`; `AVG` of an integer type divides in that type (Flink's `AVG(BIGINT)` is a
//! `BIGINT`); `DISTINCT` keeps the distinct values and aggregates them when read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::sql::plan::{AggCall, AggFunc};
use crate::sql::types::{DataType, Row, Value};
use crate::windowing::functions::AggregateFunction;

/// One aggregate's running state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Acc {
    /// `COUNT`.
    Count(i64),
    /// An integer or decimal sum (`None`: no value yet).
    SumInt(Option<i128>),
    /// A floating-point sum.
    SumDouble(Option<f64>),
    /// `MIN` / `MAX`.
    Extreme(Option<Value>),
    /// An integer or decimal average: sum and count.
    AvgInt(i128, i64),
    /// A floating-point average.
    AvgDouble(f64, i64),
    /// `DISTINCT`: the values seen.
    Distinct(BTreeSet<Value>),
    /// A retractable integer or decimal sum, and how many values it holds.
    SumIntRetract(i128, i64),
    /// A retractable floating-point sum, and how many values it holds.
    SumDoubleRetract(f64, i64),
    /// A retractable `MIN` / `MAX` or `DISTINCT`: each value and how many times it is there.
    Counted(BTreeMap<Value, i64>),
}

/// The aggregates of one node: makes, updates and reads their accumulators.
#[derive(Debug, Clone)]
pub struct Accumulators {
    calls: Arc<Vec<AggCall>>,
    /// Whether rows can be retracted: the accumulators are retractable, and one more, the
    /// group's row count, follows the calls'.
    retracting: bool,
}

impl Accumulators {
    /// Accumulators for `calls` over an append-only input.
    pub fn new(calls: Vec<AggCall>) -> Self {
        Self {
            calls: Arc::new(calls),
            retracting: false,
        }
    }

    /// Accumulators for `calls` over an updating input.
    pub fn retracting(calls: Vec<AggCall>) -> Self {
        Self {
            calls: Arc::new(calls),
            retracting: true,
        }
    }

    /// Fresh accumulators, one per call (and the row count when retracting).
    pub fn create(&self) -> Vec<Acc> {
        let mut accs: Vec<Acc> = self
            .calls
            .iter()
            .map(|c| fresh(c, self.retracting))
            .collect();
        if self.retracting {
            accs.push(Acc::Count(0));
        }
        accs
    }

    /// Adds a row.
    #[inline]
    pub fn add(&self, row: &[Value], accs: &mut [Acc]) {
        self.apply(row, accs, 1);
    }

    /// Takes a row back (a `-U` or `-D` of the input).
    pub fn retract(&self, row: &[Value], accs: &mut [Acc]) {
        self.apply(row, accs, -1);
    }

    /// Whether a retracting group holds no row any more (its result is to be deleted).
    pub fn is_empty_group(&self, accs: &[Acc]) -> bool {
        self.retracting && matches!(accs.get(self.calls.len()), Some(Acc::Count(n)) if *n <= 0)
    }

    #[inline]
    fn apply(&self, row: &[Value], accs: &mut [Acc], sign: i64) {
        if self.retracting {
            if let Some(Acc::Count(n)) = accs.get_mut(self.calls.len()) {
                *n += sign;
            }
        }
        for (call, acc) in self.calls.iter().zip(accs.iter_mut()) {
            if let Some(f) = call.filter {
                if !matches!(row.get(f), Some(Value::Bool(true))) {
                    continue;
                }
            }
            let v = match call.arg {
                None => {
                    if let Acc::Count(n) = acc {
                        *n += sign;
                    }
                    continue;
                }
                Some(i) => match row.get(i) {
                    Some(v) if !v.is_null() => v,
                    _ => continue,
                },
            };
            if sign > 0 {
                add_value(call, acc, v);
            } else {
                retract_value(acc, v);
            }
        }
    }

    /// Merges `other` into `accs`.
    pub fn merge(&self, accs: &mut [Acc], other: Vec<Acc>) {
        for ((call, acc), o) in self.calls.iter().zip(accs.iter_mut()).zip(other) {
            merge(call, acc, o);
        }
    }

    /// The aggregates' values.
    pub fn results(&self, accs: &[Acc]) -> Vec<Value> {
        self.calls
            .iter()
            .zip(accs)
            .map(|(call, acc)| result(call, acc))
            .collect()
    }
}

fn fresh(call: &AggCall, retracting: bool) -> Acc {
    let float = matches!(call.arg_type, DataType::Double | DataType::Float);
    if retracting {
        match call.func {
            _ if call.distinct => return Acc::Counted(BTreeMap::new()),
            AggFunc::Sum if float => return Acc::SumDoubleRetract(0.0, 0),
            AggFunc::Sum => return Acc::SumIntRetract(0, 0),
            AggFunc::Min | AggFunc::Max => return Acc::Counted(BTreeMap::new()),
            // Counts and averages retract as they are.
            _ => {}
        }
    }
    if call.distinct {
        return Acc::Distinct(BTreeSet::new());
    }
    match call.func {
        AggFunc::CountStar | AggFunc::Count => Acc::Count(0),
        AggFunc::Sum if float => Acc::SumDouble(None),
        AggFunc::Sum => Acc::SumInt(None),
        AggFunc::Min | AggFunc::Max => Acc::Extreme(None),
        AggFunc::Avg if float => Acc::AvgDouble(0.0, 0),
        AggFunc::Avg => Acc::AvgInt(0, 0),
    }
}

#[inline]
fn add_value(call: &AggCall, acc: &mut Acc, v: &Value) {
    match acc {
        Acc::Count(n) => *n += 1,
        Acc::SumInt(s) => {
            let x = exact(v);
            *s = Some(s.unwrap_or(0).wrapping_add(x));
        }
        Acc::SumDouble(s) => {
            let x = float(v);
            *s = Some(s.unwrap_or(0.0) + x);
        }
        Acc::Extreme(cur) => {
            let replace = match cur {
                None => true,
                Some(c) => match call.func {
                    AggFunc::Min => v < c,
                    _ => v > c,
                },
            };
            if replace {
                *cur = Some(v.clone());
            }
        }
        Acc::AvgInt(s, n) => {
            *s = s.wrapping_add(exact(v));
            *n += 1;
        }
        Acc::AvgDouble(s, n) => {
            *s += float(v);
            *n += 1;
        }
        Acc::Distinct(set) => {
            if !set.contains(v) {
                set.insert(v.clone());
            }
        }
        Acc::SumIntRetract(s, n) => {
            *s = s.wrapping_add(exact(v));
            *n += 1;
        }
        Acc::SumDoubleRetract(s, n) => {
            *s += float(v);
            *n += 1;
        }
        Acc::Counted(values) => match values.get_mut(v) {
            Some(n) => *n += 1,
            None => {
                values.insert(v.clone(), 1);
            }
        },
    }
}

/// Takes back a value `add_value` added (only retractable accumulators are built when
/// retractions can come).
fn retract_value(acc: &mut Acc, v: &Value) {
    match acc {
        Acc::Count(n) => *n -= 1,
        Acc::SumIntRetract(s, n) | Acc::AvgInt(s, n) => {
            *s = s.wrapping_sub(exact(v));
            *n -= 1;
        }
        Acc::SumDoubleRetract(s, n) | Acc::AvgDouble(s, n) => {
            *s -= float(v);
            *n -= 1;
        }
        Acc::Counted(values) => {
            if let Some(n) = values.get_mut(v) {
                *n -= 1;
                if *n <= 0 {
                    values.remove(v);
                }
            }
        }
        Acc::SumInt(_) | Acc::SumDouble(_) | Acc::Extreme(_) | Acc::Distinct(_) => {}
    }
}

fn merge(call: &AggCall, acc: &mut Acc, other: Acc) {
    match (acc, other) {
        (Acc::Count(a), Acc::Count(b)) => *a += b,
        (Acc::SumInt(a), Acc::SumInt(Some(b))) => *a = Some(a.unwrap_or(0).wrapping_add(b)),
        (Acc::SumDouble(a), Acc::SumDouble(Some(b))) => *a = Some(a.unwrap_or(0.0) + b),
        (acc @ Acc::Extreme(_), Acc::Extreme(Some(b))) => add_value(call, acc, &b),
        (Acc::AvgInt(s, n), Acc::AvgInt(s2, n2)) => {
            *s = s.wrapping_add(s2);
            *n += n2;
        }
        (Acc::AvgDouble(s, n), Acc::AvgDouble(s2, n2)) => {
            *s += s2;
            *n += n2;
        }
        (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b),
        (Acc::SumIntRetract(s, n), Acc::SumIntRetract(s2, n2)) => {
            *s = s.wrapping_add(s2);
            *n += n2;
        }
        (Acc::SumDoubleRetract(s, n), Acc::SumDoubleRetract(s2, n2)) => {
            *s += s2;
            *n += n2;
        }
        (Acc::Counted(a), Acc::Counted(b)) => {
            for (v, n) in b {
                *a.entry(v).or_insert(0) += n;
            }
        }
        _ => {}
    }
}

fn result(call: &AggCall, acc: &Acc) -> Value {
    match acc {
        Acc::Count(n) => Value::Int(*n),
        Acc::SumInt(None) | Acc::SumDouble(None) | Acc::Extreme(None) => Value::Null,
        Acc::SumInt(Some(s)) => exact_value(*s, &call.data_type),
        Acc::SumDouble(Some(s)) => Value::Double(*s),
        Acc::Extreme(Some(v)) => v.clone(),
        Acc::AvgInt(_, 0) | Acc::AvgDouble(_, 0) => Value::Null,
        Acc::AvgInt(s, n) => match (&call.arg_type, &call.data_type) {
            (DataType::Decimal { scale: from, .. }, DataType::Decimal { scale: to, .. }) => {
                let up = 10i128.saturating_pow(u32::from(to.saturating_sub(*from)));
                let num = s.saturating_mul(up);
                let d = i128::from(*n);
                // HALF_UP, as BigDecimal's division Flink uses.
                let q = num / d;
                let r = num % d;
                let q = if r.unsigned_abs() * 2 >= d.unsigned_abs() {
                    q + num.signum()
                } else {
                    q
                };
                Value::Decimal(q)
            }
            _ => exact_value(s / i128::from(*n), &call.data_type),
        },
        Acc::AvgDouble(s, n) => Value::Double(*s / *n as f64),
        Acc::SumIntRetract(_, n) | Acc::SumDoubleRetract(_, n) if *n <= 0 => Value::Null,
        Acc::SumIntRetract(s, _) => exact_value(*s, &call.data_type),
        Acc::SumDoubleRetract(s, _) => Value::Double(*s),
        Acc::Counted(values) if !call.distinct => match call.func {
            AggFunc::Min => values.keys().next().cloned().unwrap_or(Value::Null),
            _ => values.keys().next_back().cloned().unwrap_or(Value::Null),
        },
        // NULLs are never added: a COUNT of distinct values is their number.
        Acc::Counted(values) if matches!(call.func, AggFunc::Count | AggFunc::CountStar) => {
            Value::Int(values.len() as i64)
        }
        Acc::Distinct(set) if matches!(call.func, AggFunc::Count | AggFunc::CountStar) => {
            Value::Int(set.len() as i64)
        }
        Acc::Counted(values) => distinct_result(call, values.keys()),
        Acc::Distinct(set) => distinct_result(call, set.iter()),
    }
}

/// A `DISTINCT` aggregate's value over its distinct values.
fn distinct_result<'a>(call: &AggCall, values: impl Iterator<Item = &'a Value>) -> Value {
    let mut inner = AggCall {
        distinct: false,
        filter: None,
        arg: Some(0),
        ..call.clone()
    };
    if inner.func == AggFunc::CountStar {
        inner.func = AggFunc::Count;
    }
    let mut a = fresh(&inner, false);
    for v in values {
        add_value(&inner, &mut a, v);
    }
    result(&inner, &a)
}

/// An exact number as `i128`: an integer, or a decimal's unscaled value.
#[inline]
fn exact(v: &Value) -> i128 {
    match v {
        Value::Int(i) => i128::from(*i),
        Value::Decimal(d) => *d,
        _ => 0,
    }
}

#[inline]
fn float(v: &Value) -> f64 {
    match v {
        Value::Double(d) => *d,
        Value::Int(i) => *i as f64,
        _ => 0.0,
    }
}

/// An exact sum as a value of `t`, wrapped to the integer type's width as Java's arithmetic.
fn exact_value(s: i128, t: &DataType) -> Value {
    match t {
        DataType::Decimal { .. } => Value::Decimal(s),
        DataType::TinyInt => Value::Int(i64::from(s as i8)),
        DataType::SmallInt => Value::Int(i64::from(s as i16)),
        DataType::Int => Value::Int(i64::from(s as i32)),
        _ => Value::Int(s as i64),
    }
}

impl AggregateFunction<Row> for Accumulators {
    type Acc = Vec<Acc>;
    type Out = Vec<Value>;

    fn create_accumulator(&self) -> Vec<Acc> {
        self.create()
    }

    #[inline]
    fn add(&self, value: &Row, acc: &mut Vec<Acc>) {
        Accumulators::add(self, &value.values, acc)
    }

    fn get_result(&self, acc: &Vec<Acc>) -> Vec<Value> {
        self.results(acc)
    }

    fn merge(&self, acc: &mut Vec<Acc>, other: Vec<Acc>) {
        Accumulators::merge(self, acc, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(func: AggFunc, arg: Option<usize>, t: DataType, distinct: bool) -> AggCall {
        AggCall {
            func,
            arg,
            arg_type: t.clone(),
            distinct,
            filter: None,
            data_type: crate::sql::bind::aggregate::result_type(func, &t),
        }
    }

    #[test]
    fn counts_sums_and_distinct_over_rows_with_nulls() {
        let accs = Accumulators::new(vec![
            call(AggFunc::CountStar, None, DataType::BigInt, false),
            call(AggFunc::Count, Some(0), DataType::BigInt, false),
            call(AggFunc::Sum, Some(0), DataType::BigInt, false),
            call(AggFunc::Count, Some(0), DataType::BigInt, true),
            call(AggFunc::Avg, Some(0), DataType::BigInt, false),
            call(AggFunc::Max, Some(0), DataType::BigInt, false),
        ]);
        let mut a = accs.create();
        for v in [Value::Int(3), Value::Null, Value::Int(3), Value::Int(4)] {
            accs.add(&[v], &mut a);
        }
        assert_eq!(
            accs.results(&a),
            vec![
                Value::Int(4),
                Value::Int(3),
                Value::Int(10),
                Value::Int(2),
                Value::Int(3),
                Value::Int(4)
            ]
        );
        let empty = accs.create();
        assert_eq!(accs.results(&empty)[2], Value::Null);
    }

    #[test]
    fn retractions_take_back_what_was_added_down_to_an_empty_group() {
        let accs = Accumulators::retracting(vec![
            call(AggFunc::CountStar, None, DataType::BigInt, false),
            call(AggFunc::Sum, Some(0), DataType::BigInt, false),
            call(AggFunc::Min, Some(0), DataType::BigInt, false),
            call(AggFunc::Max, Some(0), DataType::BigInt, false),
            call(AggFunc::Avg, Some(0), DataType::BigInt, false),
            call(AggFunc::Count, Some(0), DataType::BigInt, true),
            call(AggFunc::Sum, Some(0), DataType::Double, false),
        ]);
        let int = |v: i64| [Value::Int(v)];
        let mut a = accs.create();
        for v in [5, 9, 9, 2] {
            accs.add(&int(v), &mut a);
        }
        accs.add(&[Value::Null], &mut a);
        accs.retract(&int(2), &mut a);
        accs.retract(&int(9), &mut a);
        // Rows: 5, 9, NULL.
        assert_eq!(
            accs.results(&a)[..6],
            [
                Value::Int(3),
                Value::Int(14),
                Value::Int(5),
                Value::Int(9),
                Value::Int(7),
                Value::Int(2)
            ]
        );
        assert!(!accs.is_empty_group(&a));
        accs.retract(&int(9), &mut a);
        accs.retract(&int(5), &mut a);
        // Only the NULL row: the sums are NULL again, as the extremes.
        let r = accs.results(&a);
        assert_eq!(r[0], Value::Int(1));
        assert!(r[1].is_null() && r[2].is_null() && r[3].is_null() && r[4].is_null());
        assert_eq!(r[5], Value::Int(0));
        assert!(!accs.is_empty_group(&a));
        accs.retract(&[Value::Null], &mut a);
        assert!(accs.is_empty_group(&a));
        // Append-only accumulators have no row count and are never an empty group.
        let plain = Accumulators::new(vec![call(
            AggFunc::CountStar,
            None,
            DataType::BigInt,
            false,
        )]);
        let p = plain.create();
        assert_eq!(p.len(), 1);
        assert!(!plain.is_empty_group(&p));
    }
}
