//! Numeric functions. `ROUND` rounds `HALF_UP` on the decimal digits of the value, as Flink's
//! `BigDecimal`-based `sround` does (so `ROUND(2.675, 2)` on a `DOUBLE` is 2.68, not the
//! binary 2.67); the transcendental functions are Java's `Math` (IEEE, `NaN` for bad domains).

use crate::sql::functions::arith::{arithmetic, arithmetic_type, ArithOp};
use crate::sql::functions::cast::{decimal_to_f64, wrap_integer};
use crate::sql::functions::decimal::{self, MAX_PRECISION};
use crate::sql::functions::registry::{function, is_int, is_num, strict, Call, Resolver};
use crate::sql::functions::text::java_double;
use crate::sql::functions::{EvalError, FunctionError, ScalarFunction};
use crate::sql::types::{DataType, Value};

pub(crate) const FUNCTIONS: &[(&str, Resolver)] = &[
    ("ABS", abs),
    ("MOD", modulo),
    ("ROUND", round),
    ("FLOOR", floor_ceil),
    ("CEIL", floor_ceil),
    ("CEILING", floor_ceil),
    ("SIGN", sign),
    ("POWER", binary_double),
    ("ATAN2", binary_double),
    ("LOG", log),
    ("SQRT", unary_double),
    ("LN", unary_double),
    ("LOG10", unary_double),
    ("LOG2", unary_double),
    ("EXP", unary_double),
    ("SIN", unary_double),
    ("COS", unary_double),
    ("TAN", unary_double),
    ("COT", unary_double),
    ("ASIN", unary_double),
    ("ACOS", unary_double),
    ("ATAN", unary_double),
    ("SINH", unary_double),
    ("COSH", unary_double),
    ("TANH", unary_double),
    ("DEGREES", unary_double),
    ("RADIANS", unary_double),
    ("PI", constant),
    ("E", constant),
];

type R = Result<ScalarFunction, FunctionError>;

fn scale_of(t: &DataType) -> u8 {
    match t {
        DataType::Decimal { scale, .. } => *scale,
        _ => 0,
    }
}

/// A numeric value as `f64`, given its type's scale.
fn as_f64(v: Option<&Value>, scale: u8) -> Option<f64> {
    match v? {
        Value::Int(i) => Some(*i as f64),
        Value::Double(d) => Some(*d),
        Value::Decimal(d) => Some(decimal_to_f64(*d, scale)),
        _ => None,
    }
}

fn wrong(function: &str) -> EvalError {
    EvalError::Argument {
        function: function.to_string(),
        reason: "argument is not a number".to_string(),
    }
}

fn abs(call: &Call<'_>) -> R {
    call.check(1, 1, &[is_num], "ABS(NUMERIC)")?;
    let t = call.arg(0).clone();
    Ok(strict("ABS", t.clone(), move |a| match a.first() {
        Some(Value::Int(i)) => Ok(Value::Int(wrap_integer(i.wrapping_abs(), &t))),
        Some(Value::Double(d)) => Ok(Value::Double(d.abs())),
        Some(Value::Decimal(d)) => Ok(Value::Decimal(d.abs())),
        _ => Err(wrong("ABS")),
    }))
}

fn modulo(call: &Call<'_>) -> R {
    call.check(2, 2, &[is_num], "MOD(NUMERIC, NUMERIC)")?;
    let (lt, rt) = (call.arg(0).clone(), call.arg(1).clone());
    let out = arithmetic_type(ArithOp::Mod, &lt, &rt)?;
    let result = out.clone();
    Ok(strict("MOD", out, move |a| match (a.first(), a.get(1)) {
        (Some(l), Some(r)) => arithmetic(ArithOp::Mod, l, &lt, r, &rt, &result),
        _ => Err(wrong("MOD")),
    }))
}

/// Flink's `findRoundDecimalType`: rounding may add a digit, so keep one more.
fn round_decimal_type(precision: u8, scale: u8, digits: i64) -> DataType {
    let (p, s) = (i64::from(precision), i64::from(scale));
    let (p, s) = if digits >= s {
        (p, s)
    } else if digits < 0 {
        ((1 + p - s).min(i64::from(MAX_PRECISION)), 0)
    } else {
        (1 + p - s + digits, digits)
    };
    DataType::Decimal {
        precision: u8::try_from(p.clamp(1, 38)).unwrap_or(MAX_PRECISION),
        scale: u8::try_from(s.clamp(0, 38)).unwrap_or(0),
    }
}

/// `v` (at `scale`) rounded `HALF_UP` to `digits` places (negative: to tens, hundreds, …),
/// at scale `digits.clamp(0, scale)`.
fn round_unscaled(v: i128, scale: u8, digits: i64) -> Option<i128> {
    if digits >= i64::from(scale) {
        return Some(v);
    }
    if let Ok(d) = u8::try_from(digits) {
        return decimal::rescale(v, scale, d);
    }
    let step = decimal::pow10(u32::try_from(-digits).ok()?)?;
    let divisor = step.checked_mul(decimal::pow10(u32::from(scale))?)?;
    decimal::div_half_up(v, divisor)?.checked_mul(step)
}

/// `ROUND(x[, d])`: `HALF_UP` to `d` decimal places (default 0; negative rounds left of the
/// point). For a `DECIMAL`, `d` must be a constant, as it decides the result type.
fn round(call: &Call<'_>) -> R {
    call.check(1, 2, &[is_num, is_int], "ROUND(NUMERIC[, INT])")?;
    let t = call.arg(0).clone();
    let fixed = if call.args.len() > 1 {
        call.literal_int(1)
    } else {
        Some(0)
    };
    let out = match (&t, fixed) {
        (DataType::Decimal { precision, scale }, Some(d)) => {
            round_decimal_type(*precision, *scale, d)
        }
        (DataType::Decimal { .. }, None) => {
            return Err(call.mismatch("ROUND(DECIMAL, constant INT)"))
        }
        _ => t.clone(),
    };
    let result = out.clone();
    Ok(strict("ROUND", out, move |a| {
        let digits = match a.get(1) {
            Some(Value::Int(d)) => *d,
            _ => 0,
        };
        match a.first() {
            Some(Value::Int(i)) if digits >= 0 => Ok(Value::Int(*i)),
            Some(Value::Int(i)) => Ok(round_unscaled(i128::from(*i), 0, digits)
                .and_then(|v| i64::try_from(v).ok())
                .map_or(Value::Int(*i), |v| Value::Int(wrap_integer(v, &result)))),
            Some(Value::Double(x)) => Ok(Value::Double(round_double(*x, digits, &result))),
            Some(Value::Decimal(v)) => {
                let (from, to) = (scale_of(&t), scale_of(&result));
                let at = u8::try_from(digits.clamp(0, i64::from(from))).unwrap_or(0);
                let rounded =
                    round_unscaled(*v, from, digits).and_then(|r| decimal::rescale(r, at, to));
                Ok(match (rounded, &result) {
                    (Some(r), DataType::Decimal { precision, .. })
                        if decimal::fits(r, *precision) =>
                    {
                        Value::Decimal(r)
                    }
                    _ => Value::Null,
                })
            }
            _ => Err(wrong("ROUND")),
        }
    }))
}

/// Rounds on `BigDecimal.valueOf(x)`'s digits, that is on Java's `Double.toString`.
fn round_double(x: f64, digits: i64, ty: &DataType) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = u8::try_from(digits.clamp(0, 38)).unwrap_or(0);
    let Ok(exact) = decimal::parse(&java_double(x), MAX_PRECISION, scale) else {
        // Too many digits for 38: the value is far above where these places matter.
        return x;
    };
    let rounded = if digits < 0 {
        round_unscaled(exact, 0, digits)
    } else {
        Some(exact)
    };
    let out = rounded.map_or(x, |r| decimal_to_f64(r, scale));
    if matches!(ty, DataType::Float) {
        f64::from(out as f32)
    } else {
        out
    }
}

fn floor_ceil(call: &Call<'_>) -> R {
    let name = call.name;
    call.check(1, 1, &[is_num], &format!("{name}(NUMERIC)"))?;
    let t = call.arg(0).clone();
    let up = name != "FLOOR";
    let out = match &t {
        DataType::Decimal { precision, .. } => DataType::Decimal {
            precision: *precision,
            scale: 0,
        },
        other => other.clone(),
    };
    let scale = scale_of(&t);
    Ok(strict(name, out, move |a| match a.first() {
        Some(Value::Int(i)) => Ok(Value::Int(*i)),
        Some(Value::Double(d)) => Ok(Value::Double(if up { d.ceil() } else { d.floor() })),
        Some(Value::Decimal(v)) => {
            let unit = decimal::pow10(u32::from(scale)).unwrap_or(1);
            let floor = v.div_euclid(unit);
            let exact = v.rem_euclid(unit) == 0;
            Ok(Value::Decimal(if up && !exact { floor + 1 } else { floor }))
        }
        _ => Err(wrong(name)),
    }))
}

fn sign(call: &Call<'_>) -> R {
    call.check(1, 1, &[is_num], "SIGN(NUMERIC)")?;
    let t = call.arg(0).clone();
    let unit = decimal::pow10(u32::from(scale_of(&t))).unwrap_or(1);
    Ok(strict("SIGN", t, move |a| match a.first() {
        Some(Value::Int(i)) => Ok(Value::Int(i.signum())),
        Some(Value::Double(d)) if *d == 0.0 || d.is_nan() => Ok(Value::Double(*d)),
        Some(Value::Double(d)) => Ok(Value::Double(d.signum())),
        Some(Value::Decimal(v)) => Ok(Value::Decimal(v.signum() * unit)),
        _ => Err(wrong("SIGN")),
    }))
}

fn unary_double(call: &Call<'_>) -> R {
    let name = call.name;
    call.check(1, 1, &[is_num], &format!("{name}(NUMERIC)"))?;
    let f: fn(f64) -> f64 = match name {
        "SQRT" => f64::sqrt,
        "LN" => f64::ln,
        "LOG10" => f64::log10,
        "LOG2" => f64::log2,
        "EXP" => f64::exp,
        "SIN" => f64::sin,
        "COS" => f64::cos,
        "TAN" => f64::tan,
        "COT" => |x| 1.0 / x.tan(),
        "ASIN" => f64::asin,
        "ACOS" => f64::acos,
        "ATAN" => f64::atan,
        "SINH" => f64::sinh,
        "COSH" => f64::cosh,
        "TANH" => f64::tanh,
        "DEGREES" => f64::to_degrees,
        _ => f64::to_radians,
    };
    let scale = scale_of(call.arg(0));
    Ok(strict(name, DataType::Double, move |a| {
        as_f64(a.first(), scale)
            .map(|x| Value::Double(f(x)))
            .ok_or_else(|| wrong(name))
    }))
}

fn binary_double(call: &Call<'_>) -> R {
    let name = call.name;
    call.check(2, 2, &[is_num], &format!("{name}(NUMERIC, NUMERIC)"))?;
    let f: fn(f64, f64) -> f64 = if name == "POWER" {
        f64::powf
    } else {
        f64::atan2
    };
    let (s0, s1) = (scale_of(call.arg(0)), scale_of(call.arg(1)));
    Ok(strict(name, DataType::Double, move |a| {
        match (as_f64(a.first(), s0), as_f64(a.get(1), s1)) {
            (Some(x), Some(y)) => Ok(Value::Double(f(x, y))),
            _ => Err(wrong(name)),
        }
    }))
}

/// `LOG(x)` is the natural logarithm; `LOG(base, x)` is `ln(x) / ln(base)`.
fn log(call: &Call<'_>) -> R {
    call.check(
        1,
        2,
        &[is_num],
        "LOG(NUMERIC) or LOG(NUMERIC base, NUMERIC)",
    )?;
    let scales: Vec<u8> = call.args.iter().map(scale_of).collect();
    Ok(strict("LOG", DataType::Double, move |a| {
        let x =
            as_f64(a.last(), scales.last().copied().unwrap_or(0)).ok_or_else(|| wrong("LOG"))?;
        if a.len() == 2 {
            let base = as_f64(a.first(), scales.first().copied().unwrap_or(0))
                .ok_or_else(|| wrong("LOG"))?;
            Ok(Value::Double(x.ln() / base.ln()))
        } else {
            Ok(Value::Double(x.ln()))
        }
    }))
}

fn constant(call: &Call<'_>) -> R {
    call.check(0, 0, &[], &format!("{}()", call.name))?;
    let v = if call.name == "PI" {
        std::f64::consts::PI
    } else {
        std::f64::consts::E
    };
    Ok(function(call.name, DataType::Double, move |_| {
        Ok(Value::Double(v))
    }))
}

#[cfg(test)]
mod tests {
    use crate::sql::functions::resolve;
    use crate::sql::types::{DataType, Value};

    fn run(name: &str, args: &[(Value, DataType)]) -> (DataType, Value) {
        let types: Vec<DataType> = args.iter().map(|(_, t)| t.clone()).collect();
        let values: Vec<Value> = args.iter().map(|(v, _)| v.clone()).collect();
        let literals: Vec<Option<Value>> = values.iter().cloned().map(Some).collect();
        let f = resolve(name, &types, &literals).expect("resolves");
        let v = (f.eval)(&values).expect("evaluates");
        (f.return_type, v)
    }

    fn dec(precision: u8, scale: u8) -> DataType {
        DataType::Decimal { precision, scale }
    }

    #[test]
    fn round_is_half_up_on_decimal_digits() {
        use DataType::*;
        assert_eq!(
            run(
                "ROUND",
                &[(Value::Double(2.675), Double), (Value::Int(2), Int)]
            )
            .1,
            Value::Double(2.68)
        );
        assert_eq!(
            run("ROUND", &[(Value::Double(-2.5), Double)]).1,
            Value::Double(-3.0)
        );
        assert_eq!(
            run(
                "ROUND",
                &[(Value::Double(1234.5), Double), (Value::Int(-2), Int)]
            )
            .1,
            Value::Double(1200.0)
        );
        assert_eq!(
            run("ROUND", &[(Value::Int(1250), Int), (Value::Int(-2), Int)]).1,
            Value::Int(1300)
        );
        assert_eq!(
            run("ROUND", &[(Value::Int(-1250), Int), (Value::Int(-2), Int)]).1,
            Value::Int(-1300)
        );
        assert_eq!(
            run(
                "ROUND",
                &[(Value::Decimal(12345), dec(7, 3)), (Value::Int(2), Int)]
            ),
            (dec(7, 2), Value::Decimal(1235))
        );
        assert_eq!(
            run(
                "ROUND",
                &[(Value::Decimal(99_995), dec(5, 3)), (Value::Int(1), Int)]
            ),
            (dec(4, 1), Value::Decimal(1000))
        );
        assert_eq!(
            run(
                "ROUND",
                &[(Value::Decimal(15_500), dec(5, 3)), (Value::Int(-1), Int)]
            ),
            (dec(3, 0), Value::Decimal(20))
        );
        assert_eq!(
            run("ROUND", &[(Value::Null, Double), (Value::Int(1), Int)]).1,
            Value::Null
        );
    }

    #[test]
    fn basic_math() {
        use DataType::*;
        assert_eq!(run("ABS", &[(Value::Int(-3), Int)]).1, Value::Int(3));
        assert_eq!(
            run("ABS", &[(Value::Int(i64::from(i32::MIN)), Int)]).1,
            Value::Int(i64::from(i32::MIN))
        );
        assert_eq!(
            run("ABS", &[(Value::Int(i64::MIN), BigInt)]).1,
            Value::Int(i64::MIN)
        );
        assert_eq!(run("ABS", &[(Value::Null, Int)]).1, Value::Null);
        assert_eq!(
            run("MOD", &[(Value::Int(-7), Int), (Value::Int(3), Int)]).1,
            Value::Int(-1)
        );
        assert_eq!(
            run("FLOOR", &[(Value::Double(-1.5), Double)]).1,
            Value::Double(-2.0)
        );
        assert_eq!(
            run("CEIL", &[(Value::Decimal(-150), dec(5, 2))]),
            (dec(5, 0), Value::Decimal(-1))
        );
        assert_eq!(
            run("CEIL", &[(Value::Decimal(101), dec(5, 2))]).1,
            Value::Decimal(2)
        );
        assert_eq!(
            run("FLOOR", &[(Value::Decimal(-101), dec(5, 2))]).1,
            Value::Decimal(-2)
        );
        assert_eq!(
            run("POWER", &[(Value::Int(2), Int), (Value::Int(10), Int)]).1,
            Value::Double(1024.0)
        );
        assert_eq!(
            run("SQRT", &[(Value::Decimal(400), dec(5, 2))]).1,
            Value::Double(2.0)
        );
        assert_eq!(
            run("LN", &[(Value::Double(1.0), Double)]).1,
            Value::Double(0.0)
        );
        assert_eq!(
            run("LOG10", &[(Value::Int(1000), Int)]).1,
            Value::Double(3.0)
        );
        assert_eq!(run("LOG2", &[(Value::Int(8), Int)]).1, Value::Double(3.0));
        assert_eq!(
            run("LOG", &[(Value::Int(2), Int), (Value::Int(8), Int)]).1,
            Value::Double(3.0)
        );
        assert_eq!(run("EXP", &[(Value::Int(0), Int)]).1, Value::Double(1.0));
        assert_eq!(
            run("SIGN", &[(Value::Decimal(-250), dec(5, 2))]).1,
            Value::Decimal(-100)
        );
        assert_eq!(
            run("SIGN", &[(Value::Double(3.5), Double)]).1,
            Value::Double(1.0)
        );
        assert_eq!(run("SQRT", &[(Value::Null, Double)]).1, Value::Null);
    }
}
