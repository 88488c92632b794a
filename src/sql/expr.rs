//! Resolved, typed expressions over a row ([`Expr`]) and their compiled form ([`Compiled`]):
//! each node becomes a closure once, when the job is built, so that a row is evaluated by
//! calling closures, never by walking a tree and matching on it per row.
//!
//! ## Nulls
//! SQL's three-valued logic: `NULL AND FALSE` is `FALSE`, `NULL OR TRUE` is `TRUE`, a
//! comparison with `NULL` is `NULL`, and a filter keeps a row only when its predicate is
//! `TRUE`. `CASE`, `COALESCE`, `AND` and `OR` evaluate lazily, left to right.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::sql::functions::{self, ArithOp, EvalError, ScalarFunction};
use crate::sql::types::{DataType, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl CmpOp {
    pub(crate) fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::NotEq => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::LtEq => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::GtEq => o != Ordering::Less,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::NotEq => "<>",
            CmpOp::Lt => "<",
            CmpOp::LtEq => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtEq => ">=",
        }
    }
}

/// A typed expression over the columns of one input row.
#[derive(Clone)]
pub enum Expr {
    /// The input's column `index`.
    Column {
        /// Its position in the input row.
        index: usize,
        /// Its name (for plans and messages).
        name: String,
        /// Its type.
        data_type: DataType,
    },
    /// A constant.
    Literal(Value, DataType),
    /// `CAST(expr AS type)`.
    Cast(Box<Expr>, DataType),
    /// Arithmetic.
    Arith(ArithOp, Box<Expr>, Box<Expr>, DataType),
    /// A comparison.
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// `a AND b AND …`.
    And(Vec<Expr>),
    /// `a OR b OR …`.
    Or(Vec<Expr>),
    /// `NOT a`.
    Not(Box<Expr>),
    /// `-a`.
    Negate(Box<Expr>),
    /// `a IS [NOT] NULL`.
    IsNull(Box<Expr>, bool),
    /// `CASE WHEN c THEN v … ELSE e END`.
    Case(Vec<(Expr, Expr)>, Box<Expr>, DataType),
    /// `COALESCE(a, b, …)`.
    Coalesce(Vec<Expr>, DataType),
    /// `a [NOT] IN (v, …)`.
    InList(Box<Expr>, Vec<Expr>, bool),
    /// `a [NOT] LIKE 'pattern'`.
    Like(Box<Expr>, Box<Expr>, bool),
    /// A scalar function call.
    Call(Arc<ScalarFunction>, Vec<Expr>),
    /// `EXTRACT(unit FROM a)`.
    Extract(functions::TimeUnit, Box<Expr>),
}

impl Expr {
    /// The expression's type.
    pub fn data_type(&self) -> DataType {
        match self {
            Expr::Column { data_type, .. } | Expr::Literal(_, data_type) => data_type.clone(),
            Expr::Cast(_, t)
            | Expr::Arith(_, _, _, t)
            | Expr::Case(_, _, t)
            | Expr::Coalesce(_, t) => t.clone(),
            Expr::Compare(..)
            | Expr::And(_)
            | Expr::Or(_)
            | Expr::Not(_)
            | Expr::IsNull(..)
            | Expr::InList(..)
            | Expr::Like(..) => DataType::Boolean,
            Expr::Negate(e) => e.data_type(),
            Expr::Call(f, _) => f.return_type.clone(),
            Expr::Extract(..) => DataType::BigInt,
        }
    }

    /// A column reference.
    pub fn column(index: usize, name: &str, data_type: DataType) -> Self {
        Expr::Column {
            index,
            name: name.to_string(),
            data_type,
        }
    }

    /// `column = integer` (either way round): the column's index and the integer.
    pub fn int_equality(&self) -> Option<(usize, i64)> {
        let Expr::Compare(CmpOp::Eq, a, b) = self else {
            return None;
        };
        match (&**a, &**b) {
            (Expr::Column { index, .. }, Expr::Literal(Value::Int(k), _))
            | (Expr::Literal(Value::Int(k), _), Expr::Column { index, .. }) => Some((*index, *k)),
            _ => None,
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, es: &[Expr], sep: &str| -> fmt::Result {
            for (i, e) in es.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{e}")?;
            }
            Ok(())
        };
        match self {
            Expr::Column { name, .. } => write!(f, "{name}"),
            Expr::Literal(v, t) => f.write_str(&functions::to_text(v, t)),
            Expr::Cast(e, t) => write!(f, "CAST({e} AS {t})"),
            Expr::Arith(op, a, b, _) => {
                let s = match op {
                    ArithOp::Add => "+",
                    ArithOp::Sub => "-",
                    ArithOp::Mul => "*",
                    ArithOp::Div => "/",
                    ArithOp::Mod => "%",
                };
                write!(f, "({a} {s} {b})")
            }
            Expr::Compare(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::And(es) => {
                f.write_str("AND(")?;
                list(f, es, ", ")?;
                f.write_str(")")
            }
            Expr::Or(es) => {
                f.write_str("OR(")?;
                list(f, es, ", ")?;
                f.write_str(")")
            }
            Expr::Not(e) => write!(f, "NOT({e})"),
            Expr::Negate(e) => write!(f, "-({e})"),
            Expr::IsNull(e, false) => write!(f, "IS NULL({e})"),
            Expr::IsNull(e, true) => write!(f, "IS NOT NULL({e})"),
            Expr::Case(arms, e, _) => {
                f.write_str("CASE(")?;
                for (c, v) in arms {
                    write!(f, "{c}, {v}, ")?;
                }
                write!(f, "{e})")
            }
            Expr::Coalesce(es, _) => {
                f.write_str("COALESCE(")?;
                list(f, es, ", ")?;
                f.write_str(")")
            }
            Expr::InList(e, l, n) => {
                write!(f, "{}({e}, ", if *n { "NOT IN" } else { "IN" })?;
                list(f, l, ", ")?;
                f.write_str(")")
            }
            Expr::Like(a, b, n) => write!(f, "{}({a}, {b})", if *n { "NOT LIKE" } else { "LIKE" }),
            // A ROW field (see `bind::expr`): `row.field`, as Flink prints it.
            Expr::Call(func, es) if func.name == "FIELD" && es.len() == 2 => match &es[1] {
                Expr::Literal(Value::Str(name), _) => write!(f, "{}.{name}", es[0]),
                other => write!(f, "{}.{other}", es[0]),
            },
            Expr::Call(func, es) => {
                write!(f, "{}(", func.name)?;
                list(f, es, ", ")?;
                f.write_str(")")
            }
            Expr::Extract(u, e) => write!(f, "EXTRACT({u:?} FROM {e})"),
        }
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A compiled expression: evaluates against a row's values.
pub type Compiled = Arc<dyn Fn(&[Value]) -> Result<Value, EvalError> + Send + Sync>;

/// A compiled predicate: whether a row's values make it `TRUE` (`NULL` and `FALSE` drop it).
pub type Predicate = Arc<dyn Fn(&[Value]) -> Result<bool, EvalError> + Send + Sync>;

/// Compiles a predicate.
pub fn compile_predicate(e: &Expr) -> Predicate {
    let c = compile(e);
    Arc::new(move |row| Ok(matches!(c(row)?, Value::Bool(true))))
}

/// Whether every value of `from` is the same value of `to`: a `DECIMAL` into one of the same
/// scale and no smaller precision, an integer into a wider integer type.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType as T;
    let rank = |t: &DataType| match t {
        T::TinyInt => Some(1),
        T::SmallInt => Some(2),
        T::Int => Some(3),
        T::BigInt => Some(4),
        _ => None,
    };
    match (from, to) {
        (
            T::Decimal {
                precision: p,
                scale: s,
            },
            T::Decimal {
                precision: q,
                scale: t,
            },
        ) => s == t && q >= p,
        _ => matches!((rank(from), rank(to)), (Some(a), Some(b)) if a <= b),
    }
}

/// Compiles an expression into closures, once.
pub fn compile(e: &Expr) -> Compiled {
    match e {
        Expr::Column { index, .. } => {
            let i = *index;
            Arc::new(move |row| Ok(row.get(i).cloned().unwrap_or(Value::Null)))
        }
        Expr::Literal(v, _) => {
            let v = v.clone();
            Arc::new(move |_| Ok(v.clone()))
        }
        Expr::Cast(inner, to) => {
            let from = inner.data_type();
            if &from == to || widens(&from, to) {
                return compile(inner);
            }
            let (c, to) = (compile(inner), to.clone());
            Arc::new(move |row| functions::cast(&c(row)?, &from, &to))
        }
        Expr::Arith(op, a, b, out) => compile_arith(*op, a, b, out),
        Expr::Compare(op, a, b) => compile_compare(*op, a, b),
        Expr::And(es) => {
            let cs: Vec<Compiled> = es.iter().map(compile).collect();
            Arc::new(move |row| {
                let mut null = false;
                for c in &cs {
                    match c(row)? {
                        Value::Bool(false) => return Ok(Value::Bool(false)),
                        Value::Bool(true) => {}
                        _ => null = true,
                    }
                }
                Ok(if null { Value::Null } else { Value::Bool(true) })
            })
        }
        Expr::Or(es) => {
            let cs: Vec<Compiled> = es.iter().map(compile).collect();
            Arc::new(move |row| {
                let mut null = false;
                for c in &cs {
                    match c(row)? {
                        Value::Bool(true) => return Ok(Value::Bool(true)),
                        Value::Bool(false) => {}
                        _ => null = true,
                    }
                }
                Ok(if null {
                    Value::Null
                } else {
                    Value::Bool(false)
                })
            })
        }
        Expr::Not(e) => {
            let c = compile(e);
            Arc::new(move |row| {
                Ok(match c(row)? {
                    Value::Bool(b) => Value::Bool(!b),
                    _ => Value::Null,
                })
            })
        }
        Expr::Negate(e) => {
            let (t, c) = (e.data_type(), compile(e));
            Arc::new(move |row| {
                let v = c(row)?;
                functions::arithmetic(ArithOp::Sub, &Value::Int(0), &DataType::Int, &v, &t, &t)
                    .or_else(|_| {
                        functions::arithmetic(
                            ArithOp::Mul,
                            &v,
                            &t,
                            &Value::Int(-1),
                            &DataType::Int,
                            &t,
                        )
                    })
            })
        }
        Expr::IsNull(e, negated) => {
            let (c, negated) = (compile(e), *negated);
            Arc::new(move |row| Ok(Value::Bool(c(row)?.is_null() != negated)))
        }
        Expr::Case(arms, otherwise, t) => {
            let arms: Vec<(Compiled, Compiled, DataType)> = arms
                .iter()
                .map(|(c, v)| (compile(c), compile(v), v.data_type()))
                .collect();
            let (otherwise, ot, t) = (compile(otherwise), otherwise.data_type(), t.clone());
            Arc::new(move |row| {
                for (c, v, vt) in &arms {
                    if matches!(c(row)?, Value::Bool(true)) {
                        return widen(v(row)?, vt, &t);
                    }
                }
                widen(otherwise(row)?, &ot, &t)
            })
        }
        Expr::Coalesce(es, t) => {
            let cs: Vec<(Compiled, DataType)> =
                es.iter().map(|e| (compile(e), e.data_type())).collect();
            let t = t.clone();
            Arc::new(move |row| {
                for (c, ct) in &cs {
                    let v = c(row)?;
                    if !v.is_null() {
                        return widen(v, ct, &t);
                    }
                }
                Ok(Value::Null)
            })
        }
        Expr::InList(e, list, negated) => {
            let (c, et, negated) = (compile(e), e.data_type(), *negated);
            let items: Vec<(Compiled, DataType)> =
                list.iter().map(|e| (compile(e), e.data_type())).collect();
            Arc::new(move |row| {
                let v = c(row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut null = false;
                for (i, it) in &items {
                    match functions::compare(&v, &et, &i(row)?, it) {
                        Some(Ordering::Equal) => return Ok(Value::Bool(!negated)),
                        Some(_) => {}
                        None => null = true,
                    }
                }
                Ok(if null {
                    Value::Null
                } else {
                    Value::Bool(negated)
                })
            })
        }
        Expr::Like(s, p, negated) => {
            let negated = *negated;
            // A constant pattern (the usual case) compiles once.
            if let Expr::Literal(Value::Str(pattern), _) = p.as_ref() {
                if let Ok(pattern) = functions::LikePattern::new(pattern, None) {
                    let s = compile(s);
                    return Arc::new(move |row| {
                        Ok(match s(row)? {
                            Value::Str(s) => Value::Bool(pattern.matches(&s) != negated),
                            _ => Value::Null,
                        })
                    });
                }
            }
            let (s, p) = (compile(s), compile(p));
            Arc::new(move |row| {
                let (s, p) = (s(row)?, p(row)?);
                Ok(match (s.as_str(), p.as_str()) {
                    (Some(s), Some(p)) => Value::Bool(functions::like(s, p, None)? != negated),
                    _ => Value::Null,
                })
            })
        }
        Expr::Call(..) if field_path(e).is_some() => ops::compile_field_path(e),
        Expr::Call(f, args) => {
            let eval = f.eval.clone();
            // Columns and constants as arguments are read in place: no closure per argument.
            let plain: Option<Vec<Plain>> = args.iter().map(Plain::of).collect();
            match plain.as_deref() {
                Some([a]) => {
                    let a = a.clone();
                    return Arc::new(move |row| eval(&[a.get(row)]));
                }
                Some([a, b]) => {
                    let (a, b) = (a.clone(), b.clone());
                    return Arc::new(move |row| eval(&[a.get(row), b.get(row)]));
                }
                _ => {}
            }
            let mut cs: Vec<Compiled> = args.iter().map(compile).collect();
            // The arguments of the usual calls live on the stack: no allocation per row.
            match (cs.pop(), cs.pop(), cs.pop(), cs.is_empty()) {
                (None, ..) => Arc::new(move |_| eval(&[])),
                (Some(a), None, ..) => Arc::new(move |row| eval(&[a(row)?])),
                (Some(b), Some(a), None, _) => Arc::new(move |row| eval(&[a(row)?, b(row)?])),
                (Some(c), Some(b), Some(a), true) => {
                    Arc::new(move |row| eval(&[a(row)?, b(row)?, c(row)?]))
                }
                (Some(c), Some(b), Some(a), false) => {
                    cs.extend([a, b, c]);
                    Arc::new(move |row| {
                        let mut vals = Vec::with_capacity(cs.len());
                        for c in &cs {
                            vals.push(c(row)?);
                        }
                        eval(&vals)
                    })
                }
            }
        }
        Expr::Extract(unit, e) => {
            let (c, t, unit) = (compile(e), e.data_type(), *unit);
            Arc::new(move |row| functions::extract(unit, &c(row)?, &t))
        }
    }
}

/// A call's argument that needs no evaluation: a column or a constant.
#[derive(Clone)]
enum Plain {
    Column(usize),
    Constant(Value),
}

impl Plain {
    fn of(e: &Expr) -> Option<Self> {
        match e {
            Expr::Column { index, .. } => Some(Plain::Column(*index)),
            Expr::Literal(v, _) => Some(Plain::Constant(v.clone())),
            _ => None,
        }
    }

    #[inline]
    fn get(&self, row: &[Value]) -> Value {
        match self {
            Plain::Column(i) => row.get(*i).cloned().unwrap_or(Value::Null),
            Plain::Constant(v) => v.clone(),
        }
    }
}

/// A value of type `from` as type `to` where a `CASE` or `COALESCE` unified them.
fn widen(v: Value, from: &DataType, to: &DataType) -> Result<Value, EvalError> {
    if from == to || v.is_null() {
        Ok(v)
    } else {
        functions::cast(&v, from, to)
    }
}

#[path = "expr_ops.rs"]
mod ops;
#[path = "expr_walk.rs"]
mod walk;
pub use ops::field_path;
use ops::{compile_arith, compile_compare};

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
