//! Tests of SQL arithmetic: result types, DECIMAL rules, overflow and division by zero.

use super::*;

fn dec(precision: u8, scale: u8) -> DataType {
    DataType::Decimal { precision, scale }
}

fn run(
    op: ArithOp,
    l: Value,
    lt: DataType,
    r: Value,
    rt: DataType,
) -> (DataType, Result<Value, EvalError>) {
    let out = arithmetic_type(op, &lt, &rt).expect("operator applies");
    let v = arithmetic(op, &l, &lt, &r, &rt, &out);
    (out, v)
}

#[test]
fn integer_arithmetic_is_javas() {
    use DataType::*;
    assert_eq!(
        run(ArithOp::Div, Value::Int(7), Int, Value::Int(2), Int),
        (Int, Ok(Value::Int(3)))
    );
    assert_eq!(
        run(ArithOp::Mod, Value::Int(-7), Int, Value::Int(3), BigInt),
        (BigInt, Ok(Value::Int(-1)))
    );
    assert_eq!(
        run(
            ArithOp::Add,
            Value::Int(i64::from(i32::MAX)),
            Int,
            Value::Int(1),
            Int
        )
        .1,
        Ok(Value::Int(i64::from(i32::MIN)))
    );
    assert_eq!(
        run(ArithOp::Add, Value::Int(1), Int, Value::Int(2), BigInt).0,
        BigInt
    );
    assert_eq!(
        run(ArithOp::Div, Value::Int(1), Int, Value::Int(0), Int).1,
        Err(EvalError::DivisionByZero)
    );
    assert_eq!(
        run(ArithOp::Mod, Value::Int(1), Int, Value::Int(0), Int).1,
        Err(EvalError::DivisionByZero)
    );
    assert_eq!(
        run(
            ArithOp::Div,
            Value::Int(i64::MIN),
            BigInt,
            Value::Int(-1),
            BigInt
        )
        .1,
        Ok(Value::Int(i64::MIN))
    );
    assert_eq!(
        run(
            ArithOp::Mul,
            Value::Int(i64::MAX),
            BigInt,
            Value::Int(2),
            BigInt
        )
        .1,
        Ok(Value::Int(-2))
    );
    assert_eq!(
        run(ArithOp::Add, Value::Null, Int, Value::Int(2), Int).1,
        Ok(Value::Null)
    );
}

#[test]
fn doubles_follow_ieee() {
    use DataType::*;
    assert_eq!(
        run(ArithOp::Div, Value::Double(1.0), Double, Value::Int(0), Int),
        (Double, Ok(Value::Double(f64::INFINITY)))
    );
    assert_eq!(
        run(ArithOp::Add, Value::Int(1), Int, Value::Double(0.5), Double).1,
        Ok(Value::Double(1.5))
    );
    assert_eq!(
        run(
            ArithOp::Mul,
            Value::Decimal(150),
            dec(5, 2),
            Value::Double(2.0),
            Double
        )
        .1,
        Ok(Value::Double(3.0))
    );
    assert_eq!(
        run(
            ArithOp::Add,
            Value::Double(f64::from(0.1f32)),
            Float,
            Value::Int(1),
            Int
        )
        .0,
        Float
    );
}

#[test]
fn decimal_types_and_values_follow_logical_type_merging() {
    use DataType::*;
    assert_eq!(
        arithmetic_type(ArithOp::Add, &dec(10, 2), &dec(5, 3)),
        Ok(dec(12, 3))
    );
    assert_eq!(
        arithmetic_type(ArithOp::Mul, &dec(10, 2), &dec(5, 3)),
        Ok(dec(15, 5))
    );
    assert_eq!(
        arithmetic_type(ArithOp::Div, &dec(10, 2), &dec(5, 3)),
        Ok(dec(19, 8))
    );
    assert_eq!(
        arithmetic_type(ArithOp::Add, &dec(10, 2), &Int),
        Ok(dec(13, 2))
    );
    assert_eq!(
        arithmetic_type(ArithOp::Mul, &dec(38, 10), &dec(38, 10)),
        Ok(dec(38, 6))
    );
    assert_eq!(
        arithmetic_type(ArithOp::Div, &dec(38, 0), &BigInt),
        Ok(dec(38, 6))
    );
    // 1.25 + 0.125 = 1.375
    assert_eq!(
        run(
            ArithOp::Add,
            Value::Decimal(125),
            dec(10, 2),
            Value::Decimal(125),
            dec(5, 3)
        )
        .1,
        Ok(Value::Decimal(1375))
    );
    // 1.25 × 0.125 = 0.15625
    assert_eq!(
        run(
            ArithOp::Mul,
            Value::Decimal(125),
            dec(10, 2),
            Value::Decimal(125),
            dec(5, 3)
        )
        .1,
        Ok(Value::Decimal(15625))
    );
    // 1.00 / 3 = 0.333333333333 (scale max(6, 2 + 10 + 1) = 13)
    let (t, v) = run(
        ArithOp::Div,
        Value::Decimal(100),
        dec(10, 2),
        Value::Int(3),
        Int,
    );
    assert_eq!(t, dec(21, 13));
    assert_eq!(v, Ok(Value::Decimal(3_333_333_333_333)));
    // 2 / 3 rounds HALF_UP in the last place.
    let (_, v) = run(
        ArithOp::Div,
        Value::Decimal(2),
        dec(1, 0),
        Value::Decimal(3),
        dec(1, 0),
    );
    assert_eq!(v, Ok(Value::Decimal(666_667)));
    assert_eq!(
        run(
            ArithOp::Div,
            Value::Decimal(2),
            dec(1, 0),
            Value::Decimal(0),
            dec(1, 0)
        )
        .1,
        Err(EvalError::DivisionByZero)
    );
    // The largest DECIMAL(38, 0) plus one overflows the capped result type: NULL.
    let max = 10i128.pow(38) - 1;
    assert_eq!(
        run(
            ArithOp::Add,
            Value::Decimal(max),
            dec(38, 0),
            Value::Decimal(1),
            dec(38, 0)
        )
        .1,
        Ok(Value::Null)
    );
    assert_eq!(
        run(
            ArithOp::Mod,
            Value::Decimal(75),
            dec(3, 1),
            Value::Decimal(2),
            dec(1, 0)
        )
        .1,
        Ok(Value::Decimal(15))
    );
}

#[test]
fn time_moves_by_intervals() {
    let ts = DataType::Timestamp { precision: 3 };
    let (t, v) = run(
        ArithOp::Add,
        Value::Timestamp(1000),
        ts.clone(),
        Value::Interval(500),
        DataType::Interval,
    );
    assert_eq!((t, v), (ts.clone(), Ok(Value::Timestamp(1500))));
    assert_eq!(
        run(
            ArithOp::Sub,
            Value::Timestamp(1000),
            ts,
            Value::Interval(1500),
            DataType::Interval
        )
        .1,
        Ok(Value::Timestamp(-500))
    );
    assert_eq!(
        run(
            ArithOp::Add,
            Value::Date(0),
            DataType::Date,
            Value::Interval(MILLIS_PER_DAY),
            DataType::Interval
        )
        .1,
        Ok(Value::Date(1))
    );
    assert_eq!(
        run(
            ArithOp::Mul,
            Value::Interval(1000),
            DataType::Interval,
            Value::Int(3),
            DataType::Int
        )
        .1,
        Ok(Value::Interval(3000))
    );
    assert!(arithmetic_type(ArithOp::Add, &DataType::String, &DataType::Int).is_err());
}
