//! Accumulators of SQL's aggregate functions over rows: created, added to, merged (session
//! windows merge) and read, as the window operator's incremental aggregate and as the value
//! state of an unbounded `GROUP BY`. They serialize, so they are checkpointed with the window
//! or key they belong to.
//!
//! Sums wrap on overflow as Flink's (Java's) arithmetic does; `SUM` of no non-null value is
//! `NULL`; `AVG` of an integer type divides in that type (Flink's `AVG(BIGINT)` is a
//! `BIGINT`); `DISTINCT` keeps the distinct values and aggregates them when read.

use std::collections::BTreeSet;
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
}

/// The aggregates of one node: makes, updates and reads their accumulators.
#[derive(Debug, Clone)]
pub struct Accumulators {
    calls: Arc<Vec<AggCall>>,
}

impl Accumulators {
    /// Accumulators for `calls`.
    pub fn new(calls: Vec<AggCall>) -> Self {
        Self {
            calls: Arc::new(calls),
        }
    }

    /// Fresh accumulators, one per call.
    pub fn create(&self) -> Vec<Acc> {
        self.calls.iter().map(fresh).collect()
    }

    /// Adds a row.
    #[inline]
    pub fn add(&self, row: &[Value], accs: &mut [Acc]) {
        for (call, acc) in self.calls.iter().zip(accs.iter_mut()) {
            if let Some(f) = call.filter {
                if !matches!(row.get(f), Some(Value::Bool(true))) {
                    continue;
                }
            }
            let v = match call.arg {
                None => {
                    if let Acc::Count(n) = acc {
                        *n += 1;
                    }
                    continue;
                }
                Some(i) => match row.get(i) {
                    Some(v) if !v.is_null() => v,
                    _ => continue,
                },
            };
            add_value(call, acc, v);
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

fn fresh(call: &AggCall) -> Acc {
    if call.distinct {
        return Acc::Distinct(BTreeSet::new());
    }
    let float = matches!(call.arg_type, DataType::Double | DataType::Float);
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
        Acc::Distinct(set) => {
            let mut inner = AggCall {
                distinct: false,
                filter: None,
                arg: Some(0),
                ..call.clone()
            };
            if inner.func == AggFunc::CountStar {
                inner.func = AggFunc::Count;
            }
            let mut a = fresh(&inner);
            for v in set {
                add_value(&inner, &mut a, v);
            }
            result(&inner, &a)
        }
    }
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
}
