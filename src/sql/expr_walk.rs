//! Walking an expression tree: the columns it reads, and copies with columns or whole
//! subexpressions replaced.

use super::Expr;

impl Expr {
    /// The columns the expression reads.
    pub fn columns(&self, out: &mut Vec<usize>) {
        self.visit(&mut |e| {
            if let Expr::Column { index, .. } = e {
                out.push(*index);
            }
        });
    }

    /// The same expression with each column index mapped through `map` (after columns were
    /// pruned or reordered below it).
    pub fn remap(&self, map: &dyn Fn(usize) -> usize) -> Expr {
        self.map_columns(&|c| match c {
            Expr::Column {
                index,
                name,
                data_type,
            } => Expr::Column {
                index: map(*index),
                name: name.clone(),
                data_type: data_type.clone(),
            },
            other => other.clone(),
        })
    }

    /// The same expression with each column reference replaced by `f(column)` (a filter
    /// pushed below a projection reads the projected expressions).
    pub fn map_columns(&self, f: &dyn Fn(&Expr) -> Expr) -> Expr {
        self.rewrite(&mut |e| matches!(e, Expr::Column { .. }).then(|| f(e)))
    }

    /// The same expression with each subexpression for which `f` gives a replacement
    /// replaced, from the top down (a replaced subexpression is not looked into).
    pub fn rewrite(&self, f: &mut dyn FnMut(&Expr) -> Option<Expr>) -> Expr {
        if let Some(e) = f(self) {
            return e;
        }
        let mut r = |e: &Expr| Box::new(e.rewrite(f));
        match self {
            Expr::Column { .. } | Expr::Literal(..) => self.clone(),
            Expr::Cast(e, t) => Expr::Cast(r(e), t.clone()),
            Expr::Arith(op, a, b, t) => Expr::Arith(*op, r(a), r(b), t.clone()),
            Expr::Compare(op, a, b) => Expr::Compare(*op, r(a), r(b)),
            Expr::And(es) => Expr::And(rewrite_all(es, f)),
            Expr::Or(es) => Expr::Or(rewrite_all(es, f)),
            Expr::Not(e) => Expr::Not(r(e)),
            Expr::Negate(e) => Expr::Negate(r(e)),
            Expr::IsNull(e, n) => Expr::IsNull(r(e), *n),
            Expr::Case(arms, e, t) => {
                let arms = arms
                    .iter()
                    .map(|(c, v)| (c.rewrite(f), v.rewrite(f)))
                    .collect();
                Expr::Case(arms, Box::new(e.rewrite(f)), t.clone())
            }
            Expr::Coalesce(es, t) => Expr::Coalesce(rewrite_all(es, f), t.clone()),
            Expr::InList(e, list, n) => {
                let e = r(e);
                Expr::InList(e, rewrite_all(list, f), *n)
            }
            Expr::Like(a, b, n) => Expr::Like(r(a), r(b), *n),
            Expr::Call(func, es) => Expr::Call(func.clone(), rewrite_all(es, f)),
            Expr::Extract(u, e) => Expr::Extract(*u, r(e)),
        }
    }

    /// Whether the expression gives the same value for the same row every time (no clock, no
    /// randomness).
    pub fn is_deterministic(&self) -> bool {
        let mut ok = true;
        self.visit(&mut |e| {
            if let Expr::Call(f, _) = e {
                ok &= f.deterministic;
            }
        });
        ok
    }

    fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Column { .. } | Expr::Literal(..) => {}
            Expr::Cast(e, _)
            | Expr::Not(e)
            | Expr::Negate(e)
            | Expr::IsNull(e, _)
            | Expr::Extract(_, e) => e.visit(f),
            Expr::Arith(_, a, b, _) | Expr::Compare(_, a, b) | Expr::Like(a, b, _) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::And(es) | Expr::Or(es) | Expr::Coalesce(es, _) | Expr::Call(_, es) => {
                es.iter().for_each(|e| e.visit(f))
            }
            Expr::Case(arms, e, _) => {
                for (c, v) in arms {
                    c.visit(f);
                    v.visit(f);
                }
                e.visit(f);
            }
            Expr::InList(e, list, _) => {
                e.visit(f);
                list.iter().for_each(|x| x.visit(f));
            }
        }
    }
}

fn rewrite_all(es: &[Expr], f: &mut dyn FnMut(&Expr) -> Option<Expr>) -> Vec<Expr> {
    es.iter().map(|e| e.rewrite(f)).collect()
}
