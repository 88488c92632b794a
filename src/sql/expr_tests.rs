//! Tests of compiled expressions: three-valued logic and the fast paths.

use super::*;

fn col(i: usize, t: DataType) -> Expr {
    Expr::column(i, &format!("c{i}"), t)
}

#[test]
fn three_valued_logic() {
    let null = Expr::Literal(Value::Null, DataType::Boolean);
    let f = Expr::Literal(Value::Bool(false), DataType::Boolean);
    let t = Expr::Literal(Value::Bool(true), DataType::Boolean);
    let and = compile(&Expr::And(vec![null.clone(), f]));
    assert_eq!(and(&[]).ok(), Some(Value::Bool(false)));
    let or = compile(&Expr::Or(vec![null.clone(), t]));
    assert_eq!(or(&[]).ok(), Some(Value::Bool(true)));
    let not = compile(&Expr::Not(Box::new(null)));
    assert_eq!(not(&[]).ok(), Some(Value::Null));
}

#[test]
fn the_constant_fast_path_agrees_with_the_general_one() {
    let e = Expr::Arith(
        ArithOp::Mod,
        Box::new(col(0, DataType::BigInt)),
        Box::new(Expr::Literal(Value::Int(3), DataType::BigInt)),
        DataType::BigInt,
    );
    let c = compile(&e);
    assert_eq!(c(&[Value::Int(-7)]).ok(), Some(Value::Int(-1)));
    assert_eq!(c(&[Value::Null]).ok(), Some(Value::Null));
    let cmp = compile(&Expr::Compare(
        CmpOp::Eq,
        Box::new(e),
        Box::new(Expr::Literal(Value::Int(0), DataType::BigInt)),
    ));
    assert_eq!(cmp(&[Value::Int(9)]).ok(), Some(Value::Bool(true)));
}

#[test]
fn a_decimal_constant_times_an_integer_column_is_the_general_product() {
    let dec = |p, s| DataType::Decimal {
        precision: p,
        scale: s,
    };
    for (out, k) in [(dec(23, 3), 908), (dec(5, 3), -908), (dec(10, 2), 7)] {
        let DataType::Decimal { scale, .. } = out else {
            unreachable!()
        };
        let constant = Expr::Literal(Value::Decimal(k), dec(4, scale));
        for (l, r) in [
            (constant.clone(), col(0, DataType::BigInt)),
            (col(0, DataType::Int), constant.clone()),
        ] {
            let (lt, rt) = (l.data_type(), r.data_type());
            let e = Expr::Arith(ArithOp::Mul, Box::new(l), Box::new(r), out.clone());
            let fast = compile(&e);
            for x in [
                Value::Int(0),
                Value::Int(123),
                Value::Int(-99),
                Value::Int(1_000_000),
                Value::Int(i64::MAX),
                Value::Null,
            ] {
                let (a, b) = if matches!(lt, DataType::Decimal { .. }) {
                    (Value::Decimal(k), x.clone())
                } else {
                    (x.clone(), Value::Decimal(k))
                };
                let general = functions::arithmetic(ArithOp::Mul, &a, &lt, &b, &rt, &out);
                assert_eq!(
                    fast(std::slice::from_ref(&x)).ok(),
                    general.ok(),
                    "{k} * {x:?} as {out}"
                );
            }
        }
    }
}
