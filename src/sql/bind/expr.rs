//! Binding expressions: `sqlparser`'s tree → typed [`Expr`] over a [`Scope`], with names
//! resolved (case-insensitively), types checked and constants typed as Flink types them.

use sqlparser::ast::{self, BinaryOperator, UnaryOperator};

use crate::sql::bind::aggregate::AggContext;
use crate::sql::bind::literal::{interval_millis, literal, time_unit};
use crate::sql::expr::{CmpOp, Expr};
use crate::sql::functions::{self, ArithOp};
use crate::sql::parser::convert_data_type;
use crate::sql::types::{DataType, Field, Value};
use crate::sql::SqlError;

/// A column a query can name: its table's alias (if any), its name and type.
#[derive(Debug, Clone)]
pub struct ScopeColumn {
    /// The table or alias it comes from.
    pub qualifier: Option<String>,
    /// Its field.
    pub field: Field,
}

/// The columns a query can name, in the order of the input row.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The columns.
    pub columns: Vec<ScopeColumn>,
}

impl Scope {
    /// A scope of `fields` from `qualifier`.
    pub fn of(fields: &[Field], qualifier: Option<&str>) -> Self {
        Self {
            columns: fields
                .iter()
                .map(|f| ScopeColumn {
                    qualifier: qualifier.map(str::to_string),
                    field: f.clone(),
                })
                .collect(),
        }
    }

    /// The fields, in order.
    pub fn fields(&self) -> Vec<Field> {
        self.columns.iter().map(|c| c.field.clone()).collect()
    }

    /// The columns' names, comma-separated.
    pub fn names(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.field.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The position of the column `parts` names (`col` or `alias.col`).
    pub fn resolve(&self, parts: &[ast::Ident]) -> Result<usize, SqlError> {
        let (qualifier, name) = match parts {
            [name] => (None, name),
            [.., q, name] => (Some(q.value.as_str()), name),
            [] => return Err(SqlError::Validation("an empty column name".into())),
        };
        let mut found = None;
        for (i, c) in self.columns.iter().enumerate() {
            let q_ok = match qualifier {
                None => true,
                Some(q) => c
                    .qualifier
                    .as_deref()
                    .is_some_and(|cq| cq.eq_ignore_ascii_case(q)),
            };
            if q_ok && c.field.name.eq_ignore_ascii_case(&name.value) {
                if found.is_some() {
                    return Err(SqlError::AmbiguousColumn(name.value.clone()));
                }
                found = Some(i);
            }
        }
        found.ok_or_else(|| SqlError::UnknownColumn {
            name: parts
                .iter()
                .map(|p| p.value.as_str())
                .collect::<Vec<_>>()
                .join("."),
            known: self.names(),
        })
    }

    /// A column reference to position `i`.
    pub fn column(&self, i: usize) -> Expr {
        let f = &self.columns[i].field;
        Expr::column(i, &f.name, f.data_type.clone())
    }
}

/// Binds expressions over one scope, optionally in an aggregate's output (where only grouped
/// expressions and aggregate calls may be named).
pub struct ExprBinder<'a> {
    /// The input's columns.
    pub scope: &'a Scope,
    /// Set when binding a `SELECT` list or `HAVING` of an aggregate.
    pub agg: Option<&'a AggContext>,
}

/// The text of an expression as a key for matching `GROUP BY` items and aggregate calls: case
/// and quotes do not matter.
pub fn normalized(e: &ast::Expr) -> String {
    e.to_string().replace(['`', '"'], "").to_lowercase()
}

impl ExprBinder<'_> {
    /// Binds over `scope` alone.
    pub fn new(scope: &Scope) -> ExprBinder<'_> {
        ExprBinder { scope, agg: None }
    }

    /// Binds `e`.
    pub fn bind(&self, e: &ast::Expr) -> Result<Expr, SqlError> {
        if let Some(agg) = self.agg {
            if let Some(x) = agg.lookup(e, self.scope)? {
                return Ok(x);
            }
        }
        match e {
            ast::Expr::Identifier(id) => self.column(std::slice::from_ref(id)),
            ast::Expr::CompoundIdentifier(ids) => self.column(ids),
            ast::Expr::Value(v) => literal(&v.value),
            ast::Expr::Nested(inner) => self.bind(inner),
            ast::Expr::Interval(i) => Ok(Expr::Literal(
                Value::Interval(interval_millis(i)?),
                DataType::Interval,
            )),
            ast::Expr::TypedString(ts) => {
                let t = convert_data_type(&ts.data_type)?;
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s,
                    other => {
                        return Err(SqlError::Type(format!(
                            "{t} literal {other} is not a string"
                        )))
                    }
                };
                let v = functions::parse_text(text, &t)
                    .map_err(|e| SqlError::Type(format!("bad {t} literal '{text}': {e}")))?;
                Ok(Expr::Literal(v, t))
            }
            ast::Expr::BinaryOp { left, op, right } => self.binary(left, op, right),
            ast::Expr::UnaryOp { op, expr } => {
                let x = self.bind(expr)?;
                match op {
                    UnaryOperator::Not => Ok(Expr::Not(Box::new(boolean(x, "NOT")?))),
                    UnaryOperator::Minus => match x {
                        Expr::Literal(Value::Int(v), t) => Ok(Expr::Literal(Value::Int(-v), t)),
                        Expr::Literal(Value::Double(v), t) => {
                            Ok(Expr::Literal(Value::Double(-v), t))
                        }
                        Expr::Literal(Value::Decimal(v), t) => {
                            Ok(Expr::Literal(Value::Decimal(-v), t))
                        }
                        x if x.data_type().is_numeric() || x.data_type() == DataType::Interval => {
                            Ok(Expr::Negate(Box::new(x)))
                        }
                        x => Err(SqlError::Type(format!(
                            "cannot negate {x} of type {}",
                            x.data_type()
                        ))),
                    },
                    UnaryOperator::Plus => Ok(x),
                    other => Err(SqlError::NotSupported(format!("unary operator {other}"))),
                }
            }
            ast::Expr::IsNull(x) => Ok(Expr::IsNull(Box::new(self.bind(x)?), false)),
            ast::Expr::IsNotNull(x) => Ok(Expr::IsNull(Box::new(self.bind(x)?), true)),
            ast::Expr::IsTrue(x) => self.is_bool(x, true, false),
            ast::Expr::IsFalse(x) => self.is_bool(x, false, false),
            ast::Expr::IsNotTrue(x) => self.is_bool(x, true, true),
            ast::Expr::IsNotFalse(x) => self.is_bool(x, false, true),
            ast::Expr::Cast {
                expr, data_type, ..
            } => {
                let x = self.bind(expr)?;
                let to = convert_data_type(data_type)?;
                let from = x.data_type();
                if !functions::can_cast(&from, &to) {
                    return Err(SqlError::Type(format!("cannot cast {from} to {to}")));
                }
                Ok(Expr::Cast(Box::new(x), to))
            }
            ast::Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => {
                let x = self.bind(expr)?;
                let items = list
                    .iter()
                    .map(|i| {
                        let i = self.bind(i)?;
                        comparable(&x, &i, "IN")?;
                        Ok(i)
                    })
                    .collect::<Result<Vec<_>, SqlError>>()?;
                Ok(Expr::InList(Box::new(x), items, *negated))
            }
            ast::Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.bind(expr)?;
                let (lo, hi) = (self.bind(low)?, self.bind(high)?);
                let ge = compare(CmpOp::GtEq, x.clone(), lo)?;
                let le = compare(CmpOp::LtEq, x, hi)?;
                let both = Expr::And(vec![ge, le]);
                Ok(if *negated {
                    Expr::Not(Box::new(both))
                } else {
                    both
                })
            }
            ast::Expr::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any,
            } => {
                if *any || escape_char.is_some() {
                    return Err(SqlError::NotSupported("LIKE ANY / LIKE … ESCAPE".into()));
                }
                let (s, p) = (self.bind(expr)?, self.bind(pattern)?);
                for x in [&s, &p] {
                    let t = x.data_type();
                    if t != DataType::String && t != DataType::Null {
                        return Err(SqlError::Type(format!(
                            "LIKE needs strings, got {t} in {x}"
                        )));
                    }
                }
                Ok(Expr::Like(Box::new(s), Box::new(p), *negated))
            }
            ast::Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref()),
            ast::Expr::Extract { field, expr, .. } => {
                let x = self.bind(expr)?;
                let unit = time_unit(field)?;
                if !x.data_type().is_timestamp() && x.data_type() != DataType::Date {
                    return Err(SqlError::Type(format!(
                        "EXTRACT needs a DATE or TIMESTAMP, got {} in {x}",
                        x.data_type()
                    )));
                }
                Ok(Expr::Extract(unit, Box::new(x)))
            }
            ast::Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.bind(expr)?];
                if let Some(f) = substring_from {
                    args.push(self.bind(f)?);
                }
                if let Some(f) = substring_for {
                    args.push(self.bind(f)?);
                }
                call("SUBSTRING", args)
            }
            ast::Expr::Trim {
                expr,
                trim_where,
                trim_what,
                ..
            } => {
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "LTRIM",
                    Some(ast::TrimWhereField::Trailing) => "RTRIM",
                    _ => "TRIM",
                };
                if trim_what.is_some() {
                    return Err(SqlError::NotSupported(
                        "TRIM(… FROM …) with characters".into(),
                    ));
                }
                call(name, vec![self.bind(expr)?])
            }
            ast::Expr::Position { expr, r#in } => {
                call("POSITION", vec![self.bind(expr)?, self.bind(r#in)?])
            }
            ast::Expr::Function(f) => self.function(f),
            other => Err(SqlError::NotSupported(format!("the expression {other}"))),
        }
    }

    fn column(&self, parts: &[ast::Ident]) -> Result<Expr, SqlError> {
        let unknown = match self.scope.resolve(parts) {
            Ok(i) => return Ok(self.scope.column(i)),
            Err(e @ SqlError::UnknownColumn { .. }) => e,
            Err(e) => return Err(e),
        };
        // `row_column.field[.field…]` (or `t.row_column.field`): fields of a ROW column.
        for k in (1..parts.len()).rev() {
            if let Ok(i) = self.scope.resolve(&parts[..k]) {
                let mut e = self.scope.column(i);
                for f in &parts[k..] {
                    e = field_access(e, &f.value)?;
                }
                return Ok(e);
            }
        }
        Err(unknown)
    }

    fn is_bool(&self, x: &ast::Expr, value: bool, negated: bool) -> Result<Expr, SqlError> {
        let x = boolean(self.bind(x)?, "IS TRUE/FALSE")?;
        // `x IS TRUE` is never NULL: NULL IS TRUE is FALSE.
        let cmp = Expr::Coalesce(
            vec![
                Expr::Compare(
                    CmpOp::Eq,
                    Box::new(x),
                    Box::new(Expr::Literal(Value::Bool(value), DataType::Boolean)),
                ),
                Expr::Literal(Value::Bool(false), DataType::Boolean),
            ],
            DataType::Boolean,
        );
        Ok(if negated {
            Expr::Not(Box::new(cmp))
        } else {
            cmp
        })
    }

    fn binary(
        &self,
        left: &ast::Expr,
        op: &BinaryOperator,
        right: &ast::Expr,
    ) -> Result<Expr, SqlError> {
        let (l, r) = (self.bind(left)?, self.bind(right)?);
        let arith = |op: ArithOp| arithmetic(op, l.clone(), r.clone());
        match op {
            BinaryOperator::Plus => arith(ArithOp::Add),
            BinaryOperator::Minus => arith(ArithOp::Sub),
            BinaryOperator::Multiply => arith(ArithOp::Mul),
            BinaryOperator::Divide => arith(ArithOp::Div),
            BinaryOperator::Modulo => arith(ArithOp::Mod),
            BinaryOperator::Eq => compare(CmpOp::Eq, l, r),
            BinaryOperator::NotEq => compare(CmpOp::NotEq, l, r),
            BinaryOperator::Lt => compare(CmpOp::Lt, l, r),
            BinaryOperator::LtEq => compare(CmpOp::LtEq, l, r),
            BinaryOperator::Gt => compare(CmpOp::Gt, l, r),
            BinaryOperator::GtEq => compare(CmpOp::GtEq, l, r),
            BinaryOperator::And => Ok(Expr::And(vec![boolean(l, "AND")?, boolean(r, "AND")?])),
            BinaryOperator::Or => Ok(Expr::Or(vec![boolean(l, "OR")?, boolean(r, "OR")?])),
            BinaryOperator::StringConcat => call("CONCAT", vec![l, r]),
            other => Err(SqlError::NotSupported(format!("the operator {other}"))),
        }
    }

    fn case(
        &self,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        otherwise: Option<&ast::Expr>,
    ) -> Result<Expr, SqlError> {
        let operand = operand.map(|o| self.bind(o)).transpose()?;
        let mut arms = Vec::with_capacity(conditions.len());
        let mut t = DataType::Null;
        for w in conditions {
            let c = self.bind(&w.condition)?;
            let c = match &operand {
                Some(o) => compare(CmpOp::Eq, o.clone(), c)?,
                None => boolean(c, "CASE WHEN")?,
            };
            let v = self.bind(&w.result)?;
            t = unify(&t, &v.data_type(), "CASE")?;
            arms.push((c, v));
        }
        let e = match otherwise {
            Some(e) => self.bind(e)?,
            None => Expr::Literal(Value::Null, DataType::Null),
        };
        t = unify(&t, &e.data_type(), "CASE")?;
        Ok(Expr::Case(arms, Box::new(e), t))
    }

    fn function(&self, f: &ast::Function) -> Result<Expr, SqlError> {
        let name = f.name.to_string().replace(['`', '"'], "").to_uppercase();
        if f.over.is_some() {
            return Err(SqlError::NotSupported(format!(
                "the window function {name}(…) OVER (…) here (ROW_NUMBER is supported only for Top-N and deduplication)"
            )));
        }
        if crate::sql::bind::aggregate::is_aggregate(&name) {
            return Err(SqlError::Validation(format!(
                "the aggregate {} is not allowed here (only in the SELECT list or HAVING of a query)",
                f
            )));
        }
        let args = match &f.args {
            ast::FunctionArguments::None => vec![],
            ast::FunctionArguments::List(list) => list
                .args
                .iter()
                .map(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => self.bind(e),
                    other => Err(SqlError::NotSupported(format!(
                        "the argument {other} of {name}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            ast::FunctionArguments::Subquery(_) => {
                return Err(SqlError::NotSupported(format!(
                    "a subquery as the argument of {name}"
                )))
            }
        };
        match name.as_str() {
            "COALESCE" => {
                let mut t = DataType::Null;
                for a in &args {
                    t = unify(&t, &a.data_type(), "COALESCE")?;
                }
                Ok(Expr::Coalesce(args, t))
            }
            _ => call(&name, args),
        }
    }
}

/// A call of the scalar function `name`.
pub fn call(name: &str, args: Vec<Expr>) -> Result<Expr, SqlError> {
    let types: Vec<DataType> = args.iter().map(Expr::data_type).collect();
    let literals: Vec<Option<Value>> = args
        .iter()
        .map(|a| match a {
            Expr::Literal(v, _) => Some(v.clone()),
            _ => None,
        })
        .collect();
    let f = functions::resolve(name, &types, &literals)?;
    Ok(Expr::Call(std::sync::Arc::new(f), args))
}

fn boolean(e: Expr, context: &str) -> Result<Expr, SqlError> {
    match e.data_type() {
        DataType::Boolean | DataType::Null => Ok(e),
        t => Err(SqlError::Type(format!(
            "{context} needs BOOLEAN operands, got {t} in {e}"
        ))),
    }
}

fn unify(a: &DataType, b: &DataType, context: &str) -> Result<DataType, SqlError> {
    match (a, b) {
        (DataType::Null, t) | (t, DataType::Null) => Ok(t.clone()),
        _ => functions::common_type(a, b)
            .ok_or_else(|| SqlError::Type(format!("{context} mixes {a} and {b}"))),
    }
}

/// A literal of an integer type given the type of what it meets, so that `bigint_col * 2`
/// computes in BIGINT without a cast per row.
fn align_literal(lit: Expr, other: &DataType) -> Expr {
    match (&lit, other) {
        (Expr::Literal(Value::Int(_), t), o) if t.is_integer() && o.is_integer() && t != o => {
            let v = match &lit {
                Expr::Literal(v, _) => v.clone(),
                _ => Value::Null,
            };
            Expr::Literal(v, o.clone())
        }
        _ => lit,
    }
}

fn arithmetic(op: ArithOp, l: Expr, r: Expr) -> Result<Expr, SqlError> {
    let (lt, rt) = (l.data_type(), r.data_type());
    let r = align_literal(r, &lt);
    let l = align_literal(l, &rt);
    let out = functions::arithmetic_type(op, &l.data_type(), &r.data_type())?;
    Ok(Expr::Arith(op, Box::new(l), Box::new(r), out))
}

fn comparable(l: &Expr, r: &Expr, context: &str) -> Result<(), SqlError> {
    let (lt, rt) = (l.data_type(), r.data_type());
    if lt == DataType::Null || rt == DataType::Null || functions::comparable(&lt, &rt) {
        Ok(())
    } else {
        Err(SqlError::Type(format!(
            "{context} cannot compare {lt} with {rt} ({l} {context} {r})"
        )))
    }
}

fn compare(op: CmpOp, l: Expr, r: Expr) -> Result<Expr, SqlError> {
    let r = align_literal(r, &l.data_type());
    let l = align_literal(l, &r.data_type());
    comparable(&l, &r, "comparison")?;
    Ok(Expr::Compare(op, Box::new(l), Box::new(r)))
}

/// Whether `e` is `PROCTIME()`, which makes a processing-time attribute.
pub fn is_proctime(e: &Expr) -> bool {
    matches!(e, Expr::Call(f, args) if f.name == "PROCTIME" && args.is_empty())
}

/// `e.name`: the field of a `ROW` value (`NULL` when the row is).
fn field_access(e: Expr, name: &str) -> Result<Expr, SqlError> {
    let DataType::Row(fields) = e.data_type() else {
        return Err(SqlError::Type(format!(
            "'{e}.{name}': {e} is a {}, not a ROW",
            e.data_type()
        )));
    };
    let Some(index) = fields
        .iter()
        .position(|f| f.name.eq_ignore_ascii_case(name))
    else {
        return Err(SqlError::UnknownColumn {
            name: format!("{e}.{name}"),
            known: fields
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let function = crate::sql::functions::ScalarFunction {
        name: "FIELD",
        return_type: fields[index].data_type.clone(),
        deterministic: true,
        eval: std::sync::Arc::new(move |args: &[Value]| {
            Ok(match args.first() {
                Some(Value::Row(values)) => values.get(index).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            })
        }),
    };
    Ok(Expr::Call(
        std::sync::Arc::new(function),
        vec![e, Expr::Literal(Value::str(name), DataType::String)],
    ))
}
