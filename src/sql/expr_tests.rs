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
