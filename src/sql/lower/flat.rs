//! Nested projection and filter pushdown (Flink's `SupportsProjectionPushDown` with nested
//! fields, and `SupportsFilterPushDown`): a calc straight over the scan of a source that reads
//! fields of its `ROW` columns ([`connectors::reads_fields`]) gets a flat row of just the
//! columns, fields and computed columns it reads; the filters below its first projection go
//! to the source too, which may skip the rows they drop.
//!
//! `SELECT bid.price, `dateTime` FROM datagen WHERE event_type = 2` then reads
//! `[event_type, bid.price, dateTime]` with no `ROW` made, and the `nexmark` source makes no
//! person or auction at all.

use crate::connectors::{self, FieldSlot, FlatScan};
use crate::sql::catalog::TableDef;
use crate::sql::expr::{field_path, CmpOp, Expr};
use crate::sql::plan::{Node, Plan};
use crate::sql::statement::ColumnKind;
use crate::sql::types::{DataType, Value};

/// A filter or projection of a calc, before it is compiled.
pub(super) enum Planned {
    Filter(Expr),
    Project(Vec<Expr>),
}

/// The filters and projections from `plan` down to the first other node, bottom up, with
/// their names for the operator, and that node.
pub(super) fn steps_of(plan: &Plan) -> (Vec<Planned>, Vec<String>, &Plan) {
    let mut planned = Vec::new();
    let mut names = Vec::new();
    let mut below = plan;
    loop {
        match &below.node {
            Node::Filter { input, predicate } => {
                names.push(format!("where=[{predicate}]"));
                planned.push(Planned::Filter(predicate.clone()));
                below = input;
            }
            Node::Project { input, exprs } => {
                let exprs_text: Vec<String> = exprs.iter().map(|e| e.to_string()).collect();
                names.push(format!("select=[{}]", exprs_text.join(", ")));
                planned.push(Planned::Project(exprs.clone()));
                below = input;
            }
            _ => break,
        }
    }
    planned.reverse();
    names.reverse();
    (planned, names, below)
}

/// A column of the flat row, by the table's column indexes.
#[derive(PartialEq)]
enum Slot {
    Column(usize),
    Field(usize, Vec<usize>),
    Computed(usize),
}

struct Flattener<'a> {
    table: &'a TableDef,
    computed: &'a [Option<Expr>],
    slots: Vec<Slot>,
    /// Columns of the table known to hold a constant (a filter the source applies exactly).
    constants: Vec<(usize, Expr)>,
    /// Cleared where the row cannot be flattened (a metadata column, a field of a computed
    /// column).
    ok: bool,
}

impl Flattener<'_> {
    fn slot(&mut self, slot: Slot) -> usize {
        match self.slots.iter().position(|s| *s == slot) {
            Some(i) => i,
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    /// The slot of the table's column `c` read whole. A computed column that comes down to
    /// a physical column or a field of one (what `dateTime` is once `event_type` is known) is
    /// read as that.
    fn column(&mut self, c: usize) -> Option<usize> {
        if let Some(Some(e)) = self.computed.get(c) {
            let same = field_path(&self.folded(e)).filter(|(p, _)| self.is_physical(*p));
            return Some(self.slot(match same {
                Some((p, path)) if path.is_empty() => Slot::Column(p),
                Some((p, path)) => Slot::Field(p, path),
                None => Slot::Computed(c),
            }));
        }
        self.is_physical(c).then(|| self.slot(Slot::Column(c)))
    }

    fn is_physical(&self, c: usize) -> bool {
        matches!(
            self.table.columns.get(c).map(|c| &c.kind),
            Some(ColumnKind::Physical { .. })
        )
    }

    /// `e` with the known constants folded in.
    fn folded(&self, e: &Expr) -> Expr {
        fold(e.map_columns(&|x| {
            match x {
                Expr::Column { index, .. } => self
                    .constants
                    .iter()
                    .find(|(c, _)| c == index)
                    .map_or_else(|| x.clone(), |(_, v)| v.clone()),
                other => other.clone(),
            }
        }))
    }

    /// `e` over the flat row, with the known constants folded in.
    fn expr(&mut self, e: &Expr) -> Expr {
        // Constants first, so that what they fold away reads no slot.
        let e = self.folded(e);
        e.rewrite(&mut |x| {
            let (c, path) = field_path(x)?;
            let index = if path.is_empty() {
                self.column(c)
            } else if self.is_physical(c) {
                Some(self.slot(Slot::Field(c, path)))
            } else {
                // A field of a computed column: its column is read whole below.
                return None;
            };
            let Some(index) = index else {
                self.ok = false;
                return None;
            };
            Some(Expr::Column {
                index,
                name: x.to_string(),
                data_type: x.data_type(),
            })
        })
    }
}

/// The flat scan of `table` under `steps` (bottom up) and the steps over its row; `None`
/// where flattening gains nothing (no field of a `ROW` is read) or cannot be done.
pub(super) fn flatten(
    table: &TableDef,
    computed: &[Option<Expr>],
    watermark: Option<&(usize, Expr)>,
    steps: &[Planned],
) -> Option<(FlatScan, Vec<Planned>)> {
    if !connectors::reads_fields(table) {
        return None;
    }
    // The steps that read the scan's row: its filters, up to and including the first
    // projection.
    let first = steps
        .iter()
        .position(|s| matches!(s, Planned::Project(_)))?;
    let mut f = Flattener {
        table,
        computed,
        slots: Vec::new(),
        constants: Vec::new(),
        ok: true,
    };
    let mut out = Vec::with_capacity(steps.len());
    let mut filters = Vec::new();
    let ordinals = connectors::physical_ordinals(table);
    // Conjuncts the source applies exactly are dropped from the filters; one that says
    // `column = constant` makes the column that constant in everything above it.
    let mut rest: Vec<Vec<&Expr>> = Vec::new();
    for step in &steps[..first] {
        let Planned::Filter(p) = step else { continue };
        let mut kept = Vec::new();
        for c in conjuncts(p) {
            match by_ordinal(&ordinals, c) {
                Some(pushed) if connectors::filters_exactly(table, &pushed) => {
                    if let Some((column, value)) = column_constant(c) {
                        f.constants.push((column, value));
                    }
                    filters.push(pushed);
                }
                Some(pushed) => {
                    filters.push(pushed);
                    kept.push(c);
                }
                None => kept.push(c),
            }
        }
        rest.push(kept);
    }
    for kept in rest {
        match kept.as_slice() {
            [] => {}
            [one] => out.push(Planned::Filter(f.expr(one))),
            many => out.push(Planned::Filter(Expr::And(
                many.iter().map(|c| f.expr(c)).collect(),
            ))),
        }
    }
    if let Planned::Project(es) = &steps[first] {
        out.push(Planned::Project(es.iter().map(|e| f.expr(e)).collect()));
    }
    out.extend(steps[first + 1..].iter().map(|s| match s {
        Planned::Filter(p) => Planned::Filter(p.clone()),
        Planned::Project(es) => Planned::Project(es.clone()),
    }));
    let watermark = match watermark {
        Some((c, e)) => Some((f.column(*c)?, f.expr(e))),
        None => None,
    };
    // Computed columns read physical ones (and perhaps computed ones before them); each is
    // rewritten once, in the table's order.
    let mut done: Vec<(usize, usize, Expr)> = Vec::new();
    loop {
        let next = f.slots.iter().enumerate().find_map(|(pos, s)| match s {
            Slot::Computed(c) if !done.iter().any(|d| d.1 == *c) => Some((pos, *c)),
            _ => None,
        });
        let Some((pos, c)) = next else { break };
        let e = computed.get(c).cloned().flatten()?;
        let e = f.expr(&e);
        done.push((pos, c, e));
    }
    done.sort_by_key(|d| d.1);
    let read_whole = |c: &usize| f.slots.contains(&Slot::Column(*c));
    let has_fields = f.slots.iter().any(|s| matches!(s, Slot::Field(..)));
    let mixed = f
        .slots
        .iter()
        .any(|s| matches!(s, Slot::Field(c, _) if read_whole(c)));
    if !f.ok || !has_fields || mixed {
        return None;
    }
    let mut scan = FlatScan {
        width: f.slots.len(),
        computed: done.into_iter().map(|(pos, _, e)| (pos, e)).collect(),
        watermark,
        filters,
        ..FlatScan::default()
    };
    for (pos, s) in f.slots.iter().enumerate() {
        match s {
            Slot::Column(c) => scan.columns.push((*c, pos)),
            Slot::Field(c, path) => scan.fields.push(FieldSlot {
                column: ordinals.get(*c).copied().flatten()?,
                path: path.clone(),
                pos,
            }),
            Slot::Computed(_) => {}
        }
    }
    Some((scan, out))
}

/// `column = constant` (either way round).
fn column_constant(e: &Expr) -> Option<(usize, Expr)> {
    let Expr::Compare(CmpOp::Eq, a, b) = e else {
        return None;
    };
    match (&**a, &**b) {
        (
            Expr::Column {
                index, data_type, ..
            },
            k @ Expr::Literal(_, t),
        )
        | (
            k @ Expr::Literal(_, t),
            Expr::Column {
                index, data_type, ..
            },
        ) if t == data_type => Some((*index, k.clone())),
        _ => None,
    }
}

/// `e` with comparisons of integer constants and the `CASE` arms they decide folded (what a
/// constant column leaves of a computed column: `CASE WHEN event_type = 0 THEN …`).
fn fold(e: Expr) -> Expr {
    match e {
        Expr::Compare(op, a, b) => match (fold(*a), fold(*b)) {
            (Expr::Literal(Value::Int(x), _), Expr::Literal(Value::Int(y), _)) => {
                Expr::Literal(Value::Bool(op.holds(x.cmp(&y))), DataType::Boolean)
            }
            (a, b) => Expr::Compare(op, Box::new(a), Box::new(b)),
        },
        Expr::Case(arms, otherwise, t) => {
            let typed = |v: Expr| {
                if v.data_type() == t {
                    v
                } else {
                    Expr::Cast(Box::new(v), t.clone())
                }
            };
            let mut kept = Vec::new();
            for (c, v) in arms {
                match fold(c) {
                    Expr::Literal(Value::Bool(false) | Value::Null, _) => {}
                    Expr::Literal(Value::Bool(true), _) if kept.is_empty() => {
                        return typed(fold(v));
                    }
                    c => kept.push((c, fold(v))),
                }
            }
            let otherwise = fold(*otherwise);
            if kept.is_empty() {
                return typed(otherwise);
            }
            Expr::Case(kept, Box::new(otherwise), t)
        }
        e => e,
    }
}

fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::And(es) => es.iter().flat_map(conjuncts).collect(),
        e => vec![e],
    }
}

/// Conjunct `e` over the table's physical columns by ordinal, if it reads only those.
fn by_ordinal(ordinals: &[Option<usize>], e: &Expr) -> Option<Expr> {
    let mut columns = Vec::new();
    e.columns(&mut columns);
    if columns
        .iter()
        .any(|c| !matches!(ordinals.get(*c), Some(Some(_))))
    {
        return None;
    }
    Some(e.remap(&|c| ordinals.get(c).copied().flatten().unwrap_or(c)))
}

/// The same steps with each projection merged into the projection after it, and each filter
/// between two projections moved below the first (Flink's `CalcMergeRule`), where that
/// computes nothing twice: an expression other than a column, a field or a constant is read at
/// most once by what it merges into. A scan below then reads only what the last projection
/// needs.
pub(super) fn merge_projections(steps: Vec<Planned>) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::with_capacity(steps.len());
    for step in steps {
        // Only a step right after a projection merges into it.
        let last = out.len().checked_sub(1);
        let Some(Planned::Project(below)) = last.and_then(|l| out.get(l)) else {
            out.push(step);
            continue;
        };
        let last = out.len() - 1;
        let merged = match &step {
            Planned::Project(es) => substitute(below, es).map(Planned::Project),
            Planned::Filter(p) => substitute(below, std::slice::from_ref(p))
                .and_then(|mut p| p.pop())
                .map(Planned::Filter),
        };
        match merged {
            Some(Planned::Project(es)) => out[last] = Planned::Project(es),
            // Below the projection, after the filters already there.
            Some(filter) => out.insert(last, filter),
            None => out.push(step),
        }
    }
    out
}

/// `exprs` over the input of the projection `below` (each column replaced by its expression),
/// if no expression of `below` but a column, field or constant is read more than once.
fn substitute(below: &[Expr], exprs: &[Expr]) -> Option<Vec<Expr>> {
    let mut reads = vec![0usize; below.len()];
    for e in exprs {
        let mut columns = Vec::new();
        e.columns(&mut columns);
        for c in columns {
            *reads.get_mut(c)? += 1;
        }
    }
    let cheap = |e: &Expr| matches!(e, Expr::Literal(..)) || field_path(e).is_some();
    if below.iter().zip(&reads).any(|(e, n)| *n > 1 && !cheap(e)) {
        return None;
    }
    Some(
        exprs
            .iter()
            .map(|e| {
                e.map_columns(&|c| match c {
                    Expr::Column { index, .. } => below.get(*index).cloned().unwrap_or(c.clone()),
                    other => other.clone(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parser::parse_script;
    use crate::sql::session::Session;

    const DDL: &str = "CREATE TABLE datagen (
            event_type INT,
            person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR,
                city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT,
                reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT,
                category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
                `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime`
                WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
        ) WITH ('connector' = 'nexmark', 'events.num' = '100');
        CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url,
            `dateTime`, bid.extra FROM datagen WHERE event_type = 2;
        CREATE TABLE out1 (a BIGINT, p BIGINT, t TIMESTAMP(3)) WITH ('connector' = 'blackhole');
        CREATE TABLE out2 (b ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR,
            url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>, p BIGINT)
            WITH ('connector' = 'blackhole');";

    /// The calc under `insert`'s sink, its steps merged, and its flat scan if any.
    fn flat(insert: &str) -> (Vec<Planned>, Option<(FlatScan, Vec<Planned>)>) {
        flat_over(DDL, insert)
    }

    fn flat_over(ddl: &str, insert: &str) -> (Vec<Planned>, Option<(FlatScan, Vec<Planned>)>) {
        let mut session = Session::new();
        session.execute_script(ddl).expect("the tables");
        let statements = parse_script(insert).expect("parses");
        let plan = session.plan(&statements[0].statement).expect("plans");
        let Node::Sink { input, .. } = &plan.node else {
            panic!("a sink");
        };
        let (steps, _, below) = steps_of(input);
        let steps = merge_projections(steps);
        let Node::Scan {
            table,
            computed,
            watermark,
        } = &below.node
        else {
            panic!("a calc over the scan: {:?}", below.node);
        };
        let flat = flatten(table, computed, watermark.as_ref(), &steps);
        (steps, flat)
    }

    fn texts(steps: &[Planned]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Planned::Filter(p) => format!("where {p}"),
                Planned::Project(es) => {
                    let es: Vec<String> = es.iter().map(|e| e.to_string()).collect();
                    format!("select {}", es.join(", "))
                }
            })
            .collect()
    }

    #[test]
    fn a_view_over_the_generator_reads_only_its_fields_and_drops_the_filter_the_source_applies() {
        let (steps, flat) = flat(
            "INSERT INTO out1 SELECT auction, price, `dateTime` FROM bid WHERE MOD(auction, 7) = 0",
        );
        // The view's projection and the query's are one, under the two filters.
        assert_eq!(
            texts(&steps),
            [
                "where AND((event_type = 2), (MOD(bid.auction, 7) = 0))",
                "select bid.auction, bid.price, dateTime"
            ]
        );
        let (scan, over) = flat.expect("flattened");
        // bid.auction, bid.price, and dateTime read as the bid's own time (the CASE folded to
        // its bid arm, as the source keeps only bids); no event_type, no person or auction
        // field.
        let fields: Vec<(usize, Vec<usize>)> = scan
            .fields
            .iter()
            .map(|f| (f.column, f.path.clone()))
            .collect();
        assert_eq!(
            fields,
            [(3, vec![0]), (3, vec![2]), (3, vec![5])],
            "{:?}",
            scan.computed
        );
        assert!(scan.columns.is_empty(), "{:?}", scan.columns);
        assert!(scan.computed.is_empty(), "{:?}", scan.computed);
        assert_eq!(scan.width, 3);
        assert!(matches!(scan.watermark, Some((2, Expr::Arith(..)))));
        // Both conjuncts read physical columns only, so both go to the source; it applies the
        // first (exactly) and ignores the second, which still runs above it.
        let filters: Vec<String> = scan.filters.iter().map(|f| f.to_string()).collect();
        assert_eq!(filters, ["(event_type = 2)", "(MOD(bid.auction, 7) = 0)"]);
        let over = texts(&over);
        assert_eq!(over.len(), 2, "{over:?}");
        assert!(
            over[0].starts_with("where") && over[0].contains("MOD"),
            "{over:?}"
        );
        assert!(!over[0].contains("event_type"), "{over:?}");
    }

    #[test]
    fn a_paced_source_makes_every_event_and_the_filter_stays() {
        let paced = DDL.replace(
            "'events.num' = '100'",
            "'events.num' = '100', 'rate.limited' = 'true'",
        );
        let (_, flat) = flat_over(
            &paced,
            "INSERT INTO out1 SELECT auction, price, `dateTime` FROM bid",
        );
        let (scan, over) = flat.expect("flattened");
        assert_eq!(texts(&over)[0], "where (event_type = 2)");
        // event_type is read, and the CASE reads each kind's time.
        assert_eq!(scan.columns, [(0, 0)]);
        assert_eq!(scan.computed.len(), 1);
    }

    #[test]
    fn a_whole_row_and_its_fields_are_not_flattened() {
        let (_, mixed) = flat("INSERT INTO out2 SELECT bid, bid.price FROM datagen");
        assert!(mixed.is_none(), "a ROW read whole and by field");
        let (_, whole) = flat("INSERT INTO out2 SELECT bid, 1 FROM datagen");
        assert!(whole.is_none(), "no field read: nothing to gain");
    }

    fn col(i: usize) -> Expr {
        Expr::column(i, &format!("c{i}"), DataType::BigInt)
    }

    fn add(a: Expr, b: Expr) -> Expr {
        Expr::Arith(
            crate::sql::functions::ArithOp::Add,
            Box::new(a),
            Box::new(b),
            DataType::BigInt,
        )
    }

    #[test]
    fn projections_merge_unless_an_expression_would_be_computed_twice() {
        let below = Planned::Project(vec![add(col(0), col(1)), col(2)]);
        // Reads the sum once and c2 twice: merged.
        let once = Planned::Project(vec![col(0), add(col(1), col(1))]);
        let merged = merge_projections(vec![
            Planned::Project(vec![add(col(0), col(1)), col(2)]),
            once,
        ]);
        assert_eq!(texts(&merged), ["select (c0 + c1), (c2 + c2)"]);
        // Reads the sum twice: kept apart.
        let twice = Planned::Project(vec![add(col(0), col(0))]);
        assert_eq!(merge_projections(vec![below, twice]).len(), 2);
        // A filter between two projections goes below the first.
        let steps = merge_projections(vec![
            Planned::Project(vec![col(2), col(0)]),
            Planned::Filter(Expr::Compare(
                CmpOp::Gt,
                Box::new(col(1)),
                Box::new(Expr::Literal(Value::Int(3), DataType::BigInt)),
            )),
            Planned::Project(vec![col(0)]),
        ]);
        assert_eq!(texts(&steps), ["where (c0 > 3)", "select c2"]);
    }
}
