//! Conditional functions that are plain calls: `IF`, `IFNULL`, `NULLIF`, `GREATEST`, `LEAST`.
//! (`CASE`, `COALESCE`, `AND`/`OR`, `IN` and `BETWEEN` evaluate lazily, so the planner owns
//! them.) Arguments convert to their least restrictive common type.

use std::cmp::Ordering;

use crate::sql::functions::cast::cast;
use crate::sql::functions::compare::{common_type, comparable, compare};
use crate::sql::functions::registry::{any, function, strict, Call, Resolver};
use crate::sql::functions::{EvalError, FunctionError, ScalarFunction};
use crate::sql::types::{DataType, Value};

pub(crate) const FUNCTIONS: &[(&str, Resolver)] = &[
    ("IF", if_),
    ("IFNULL", ifnull),
    ("NULLIF", nullif),
    ("GREATEST", extreme),
    ("LEAST", extreme),
];

type R = Result<ScalarFunction, FunctionError>;

/// Converts argument values to a common type, skipping arguments already of it.
#[derive(Clone)]
struct Coerce {
    from: Vec<DataType>,
    to: DataType,
}

impl Coerce {
    fn new(call: &Call<'_>, args: &[DataType], expected: &str) -> Result<Self, FunctionError> {
        let mut to = DataType::Null;
        for t in args {
            to = common_type(&to, t).ok_or_else(|| call.mismatch(expected))?;
        }
        Ok(Coerce {
            from: args.to_vec(),
            to,
        })
    }

    fn apply(&self, i: usize, v: &Value) -> Result<Value, EvalError> {
        match self.from.get(i) {
            Some(from) if *from != self.to => cast(v, from, &self.to),
            _ => Ok(v.clone()),
        }
    }
}

/// `IF(condition, a, b)`: `a` when the condition is true, else `b` (a `NULL` condition too).
fn if_(call: &Call<'_>) -> R {
    let expected = "IF(BOOLEAN, T, T)";
    call.check(
        3,
        3,
        &[
            |t| matches!(t, DataType::Boolean | DataType::Null),
            any,
            any,
        ],
        expected,
    )?;
    let coerce = Coerce::new(call, &[call.arg(1).clone(), call.arg(2).clone()], expected)?;
    Ok(function("IF", coerce.to.clone(), move |a| {
        let chosen = if matches!(a.first(), Some(Value::Bool(true))) {
            0
        } else {
            1
        };
        coerce.apply(chosen, a.get(chosen + 1).unwrap_or(&Value::Null))
    }))
}

/// `IFNULL(a, b)`: `a` unless it is `NULL`, then `b`.
fn ifnull(call: &Call<'_>) -> R {
    let expected = "IFNULL(T, T)";
    call.check(2, 2, &[any], expected)?;
    let coerce = Coerce::new(call, call.args, expected)?;
    Ok(function("IFNULL", coerce.to.clone(), move |a| {
        match a.first() {
            Some(v) if !v.is_null() => coerce.apply(0, v),
            _ => coerce.apply(1, a.get(1).unwrap_or(&Value::Null)),
        }
    }))
}

/// `NULLIF(a, b)`: `NULL` when `a` equals `b`, else `a`.
fn nullif(call: &Call<'_>) -> R {
    call.check(2, 2, &[any], "NULLIF(T, T)")?;
    let (at, bt) = (call.arg(0).clone(), call.arg(1).clone());
    if !comparable(&at, &bt) {
        return Err(call.mismatch("NULLIF(T, T) of comparable types"));
    }
    Ok(function("NULLIF", at.clone(), move |a| {
        let (x, y) = (
            a.first().unwrap_or(&Value::Null),
            a.get(1).unwrap_or(&Value::Null),
        );
        Ok(match compare(x, &at, y, &bt) {
            Some(Ordering::Equal) => Value::Null,
            _ => x.clone(),
        })
    }))
}

/// `GREATEST(a, …)` and `LEAST(a, …)`: `NULL` if any argument is `NULL`.
fn extreme(call: &Call<'_>) -> R {
    let name = call.name;
    let expected = format!("{name}(T, …) of comparable types");
    call.check(1, usize::MAX, &[any], &expected)?;
    let coerce = Coerce::new(call, call.args, &expected)?;
    if !comparable(&coerce.to, &coerce.to) {
        return Err(call.mismatch(&expected));
    }
    let want = if name == "GREATEST" {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    Ok(strict(name, coerce.to.clone(), move |a| {
        let mut best: Option<Value> = None;
        for (i, v) in a.iter().enumerate() {
            let v = coerce.apply(i, v)?;
            best = match best {
                Some(b) if compare(&v, &coerce.to, &b, &coerce.to) != Some(want) => Some(b),
                _ => Some(v),
            };
        }
        Ok(best.unwrap_or(Value::Null))
    }))
}

#[cfg(test)]
mod tests {
    use crate::sql::functions::resolve;
    use crate::sql::types::{DataType, Value};

    fn run(name: &str, args: &[(Value, DataType)]) -> (DataType, Value) {
        let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
        let values: Vec<Value> = args.iter().map(|(v, _)| v.clone()).collect();
        let f = resolve(name, &types, &vec![None; args.len()]).expect("resolves");
        let v = (f.eval)(&values).expect("evaluates");
        (f.return_type, v)
    }

    #[test]
    fn conditionals() {
        use DataType::*;
        let dec = Decimal {
            precision: 5,
            scale: 2,
        };
        assert_eq!(
            run(
                "IF",
                &[
                    (Value::Bool(true), Boolean),
                    (Value::Int(1), Int),
                    (Value::Decimal(250), dec.clone())
                ]
            ),
            (
                Decimal {
                    precision: 12,
                    scale: 2
                },
                Value::Decimal(100)
            )
        );
        assert_eq!(
            run(
                "IF",
                &[
                    (Value::Null, Boolean),
                    (Value::Int(1), Int),
                    (Value::Int(2), BigInt)
                ]
            ),
            (BigInt, Value::Int(2))
        );
        assert_eq!(
            run("IFNULL", &[(Value::Null, Int), (Value::Int(7), Int)]).1,
            Value::Int(7)
        );
        assert_eq!(
            run("IFNULL", &[(Value::Int(3), Int), (Value::Int(7), Int)]).1,
            Value::Int(3)
        );
        assert_eq!(
            run("NULLIF", &[(Value::Int(3), Int), (Value::Int(3), BigInt)]).1,
            Value::Null
        );
        assert_eq!(
            run("NULLIF", &[(Value::Int(3), Int), (Value::Int(4), Int)]).1,
            Value::Int(3)
        );
        assert_eq!(
            run("NULLIF", &[(Value::Null, Int), (Value::Int(4), Int)]).1,
            Value::Null
        );
        assert_eq!(
            run(
                "GREATEST",
                &[
                    (Value::Int(3), Int),
                    (Value::Double(4.5), Double),
                    (Value::Int(1), Int)
                ]
            ),
            (Double, Value::Double(4.5))
        );
        assert_eq!(
            run(
                "LEAST",
                &[(Value::str("b"), String), (Value::str("a"), String)]
            )
            .1,
            Value::str("a")
        );
        assert_eq!(
            run("GREATEST", &[(Value::Int(3), Int), (Value::Null, Int)]).1,
            Value::Null
        );
        assert!(resolve("IF", &[Boolean, String, Int], &[None, None, None]).is_err());
    }
}
