//! Flink's split-distinct rewrite (`table.optimizer.distinct-agg.split.enabled`): an unbounded
//! aggregate with `DISTINCT` calls on a skewed key keeps every distinct value of a hot key in
//! one subtask. Split, a first aggregate groups by the keys and a bucket of the distinct
//! argument (`HASH_CODE(arg) % table.optimizer.distinct-agg.split.bucket-num`), so a hot key's
//! values spread over the buckets' subtasks; a second one groups by the keys alone and adds
//! the buckets' partial results up (distinct values of different buckets differ, so their
//! distinct counts add). The second aggregate reads an updating input and retracts.
//!
//! As Flink's: `COUNT`, `COUNT(*)` and `COUNT(DISTINCT)` partials are summed, `SUM` summed,
//! `MIN`/`MAX` taken again. Rill splits an aggregate whose `DISTINCT` calls share one argument
//! (with or without `FILTER`); one with `DISTINCT` on several columns, or with `AVG`, stays
//! whole (Flink expands rows per distinct argument for those).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::sql::expr::Expr;
use crate::sql::functions::{ArithOp, ScalarFunction};
use crate::sql::plan::{AggCall, AggFunc, ChangelogMode, Node, Plan};
use crate::sql::types::{DataType, Field, Schema, Value};

/// Flink's default bucket count.
pub const DEFAULT_BUCKETS: i64 = 1024;

/// `HASH_CODE(v)`: a non-negative hash of a value, the same in every process.
fn hash_code() -> ScalarFunction {
    ScalarFunction {
        name: "HASH_CODE",
        return_type: DataType::BigInt,
        deterministic: true,
        eval: Arc::new(|args: &[Value]| {
            let mut h = crate::util::StableHasher::default();
            if let Some(v) = args.first() {
                v.hash(&mut h);
            }
            Ok(Value::Int((h.finish() >> 1) as i64))
        }),
    }
}

/// `plan` with its aggregate split in two when it has `DISTINCT` calls on one argument
/// over an append-only input; otherwise `plan` itself.
pub fn split(plan: Plan, buckets: i64) -> Plan {
    let Node::Aggregate { input, aggs, .. } = &plan.node else {
        return plan;
    };
    // The distinct arguments, by the column they read: the pre-projection below an aggregate
    // gives each call its own column, even for the same one below.
    let computes = |i: usize| match &input.node {
        Node::Project { exprs, .. } => match exprs.get(i) {
            Some(Expr::Column { index, .. }) => format!("below {index}"),
            _ => format!("${i}"),
        },
        _ => format!("${i}"),
    };
    let mut distinct_args: Vec<(String, usize)> = aggs
        .iter()
        .filter(|a| a.distinct)
        .filter_map(|a| a.arg)
        .map(|i| (computes(i), i))
        .collect();
    distinct_args.sort();
    distinct_args.dedup_by(|a, b| a.0 == b.0);
    let [(_, arg)] = distinct_args.as_slice() else {
        return plan;
    };
    if input.mode != ChangelogMode::Append
        || buckets < 1
        || aggs.iter().any(|a| a.func == AggFunc::Avg)
    {
        return plan;
    }
    let arg = *arg;
    let Plan { node, schema, mode } = plan;
    let Node::Aggregate {
        input,
        keys,
        aggs,
        two_phase,
        state_ttl_ms,
    } = node
    else {
        return Plan { node, schema, mode };
    };
    let n = keys.len();
    // The input with the bucket of the distinct argument as one more column.
    let width = input.schema.len();
    let column =
        |i: usize, s: &Schema| Expr::column(i, &s.fields[i].name, s.fields[i].data_type.clone());
    let bucket = |of: Expr| {
        Expr::Arith(
            ArithOp::Mod,
            Box::new(Expr::Call(Arc::new(hash_code()), vec![of])),
            Box::new(Expr::Literal(Value::Int(buckets), DataType::BigInt)),
            DataType::BigInt,
        )
    };
    let mut fields = input.schema.fields.clone();
    fields.push(Field::new("$bucket", DataType::BigInt));
    let schema_in = Schema::new(fields);
    // The pre-projection below computes the bucket too (one Calc, not two).
    let node = match input.node {
        Node::Project {
            input: below,
            mut exprs,
        } if exprs.len() == width => {
            let of = exprs[arg].clone();
            exprs.push(bucket(of));
            Node::Project {
                input: below,
                exprs,
            }
        }
        node => {
            let input = Box::new(Plan {
                node,
                schema: input.schema.clone(),
                mode: input.mode,
            });
            let mut exprs: Vec<Expr> = (0..width).map(|i| column(i, &input.schema)).collect();
            exprs.push(bucket(column(arg, &input.schema)));
            Node::Project { input, exprs }
        }
    };
    let bucketed = Plan {
        node,
        schema: schema_in,
        mode: ChangelogMode::Append,
    };
    // The partial aggregate: by the keys and the bucket.
    let mut partial_fields: Vec<Field> = keys
        .iter()
        .map(|k| bucketed.schema.fields[*k].clone())
        .collect();
    partial_fields.push(Field::new("$bucket", DataType::BigInt));
    partial_fields.extend(schema.fields[n..].iter().cloned());
    let mut partial_keys = keys;
    partial_keys.push(width);
    let partial = Plan {
        node: Node::Aggregate {
            input: Box::new(bucketed),
            keys: partial_keys,
            aggs: aggs.clone(),
            two_phase: false,
            state_ttl_ms,
        },
        schema: Schema::new(partial_fields),
        mode: ChangelogMode::Updating,
    };
    // The final aggregate: by the keys, over the partial results.
    let finals = aggs
        .iter()
        .enumerate()
        .map(|(i, a)| AggCall {
            func: match a.func {
                AggFunc::CountStar | AggFunc::Count | AggFunc::Sum => AggFunc::Sum,
                other => other,
            },
            arg: Some(n + 1 + i),
            arg_type: a.data_type.clone(),
            distinct: false,
            filter: None,
            data_type: a.data_type.clone(),
        })
        .collect();
    Plan {
        node: Node::Aggregate {
            input: Box::new(partial),
            keys: (0..n).collect(),
            aggs: finals,
            two_phase,
            state_ttl_ms,
        },
        schema,
        mode,
    }
}
