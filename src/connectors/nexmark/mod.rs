//! The `nexmark` connector: Nexmark's events as the published benchmark's one table of three
//! `ROW`s (`ddl_gen.sql`: `event_type`, `person`, `auction`, `bid`), made by Rill's
//! deterministic [`generator`]; and the same events written as files of JSON lines that Flink
//! (or anything else) reads (`rill nexmark generate`).
//!
//! Options, as the reference connector's: `events.num` (0 or absent: unbounded),
//! `first-event.rate` (events per second of event time; `next-event.rate` must be the same),
//! `person.proportion`, `auction.proportion`, `bid.proportion`, `bid.hot-ratio.auctions`,
//! `bid.hot-ratio.bidders`, `auction.hot-ratio.sellers`, `person.avg-size`,
//! `auction.avg-size`, `bid.avg-size` (`200b`); Rill's `seed` (default 0) and `base-time`
//! (epoch ms of event 0). `rate.limited` = `true` paces the source at the rate in processing
//! time as well; by default it runs as fast as it can, as the benchmark's source does.
//!
//! The source deals the sequence to its subtasks in blocks of 65,536 events (as the reference
//! generator interleaves its splits), so that they move through event time side by side, and
//! checkpoints how far each got, so a restored job makes the same events.

pub mod files;
pub mod generator;
mod rng;
mod settings;

use std::sync::Arc;

use crate::api::{DataStream, StreamEnv};
use crate::connectors::{parsed, RowLayout};
use crate::operators::sources::{Generated, Sparse};
use crate::sql::catalog::TableDef;
use crate::sql::expr::Expr;
use crate::sql::types::{DataType, Row, Value};
use crate::sql::SqlError;
use generator::{Event, Fields, Generator, NexmarkConfig};

/// How many consecutive events a source subtask makes before the next subtask's turn: at the
/// default rate, 6.5 ms of event time.
pub(crate) const BLOCK: u64 = 1 << 16;

/// The contiguous range of events `split` of `splits` holds, of `0..n`: one cut of the
/// sequence, for the tests that any cut makes the same events (the source and the files deal
/// blocks instead, see [`BLOCK`]).
#[cfg(test)]
pub(crate) fn split_range(n: u64, splits: usize, split: usize) -> std::ops::Range<u64> {
    let k = splits.max(1) as u128;
    let at = |i: usize| (u128::from(n) * i as u128 / k) as u64;
    at(split)..at(split + 1)
}

/// A `200b`-style size (bytes; `b` or `bytes` may follow).
fn size(table: &TableDef, key: &str, default: usize) -> Result<usize, SqlError> {
    let Some(v) = table.option(key) else {
        return Ok(default);
    };
    let t = v.trim().to_ascii_lowercase();
    let digits = t.trim_end_matches("bytes").trim_end_matches('b').trim();
    digits.parse().map_err(|_| SqlError::Connector {
        table: table.name.clone(),
        message: format!("the option '{key}' = '{v}' is not a size in bytes (e.g. '200b')"),
    })
}

/// The generator's settings from `table`'s options.
pub fn config(table: &TableDef) -> Result<NexmarkConfig, SqlError> {
    let d = NexmarkConfig::default();
    let bad = |message: String| SqlError::Connector {
        table: table.name.clone(),
        message,
    };
    let rate: u64 = parsed(table, "first-event.rate", d.rate)?;
    let next: u64 = parsed(table, "next-event.rate", rate)?;
    if next != rate {
        return Err(bad(format!(
            "not supported: a 'next-event.rate' ({next}) other than 'first-event.rate' ({rate}); the rate is constant"
        )));
    }
    if let Some(shape) = table.option("rate.shape") {
        if !shape.eq_ignore_ascii_case("square") {
            return Err(bad(format!(
                "not supported: 'rate.shape' = '{shape}'; the rate is constant"
            )));
        }
    }
    let c = NexmarkConfig {
        seed: parsed(table, "seed", d.seed)?,
        rate,
        base_time: parsed(table, "base-time", d.base_time)?,
        person_proportion: parsed(table, "person.proportion", d.person_proportion)?,
        auction_proportion: parsed(table, "auction.proportion", d.auction_proportion)?,
        bid_proportion: parsed(table, "bid.proportion", d.bid_proportion)?,
        hot_auction_ratio: parsed(table, "bid.hot-ratio.auctions", d.hot_auction_ratio)?,
        hot_bidders_ratio: parsed(table, "bid.hot-ratio.bidders", d.hot_bidders_ratio)?,
        hot_sellers_ratio: parsed(table, "auction.hot-ratio.sellers", d.hot_sellers_ratio)?,
        avg_person_bytes: size(table, "person.avg-size", d.avg_person_bytes)?,
        avg_auction_bytes: size(table, "auction.avg-size", d.avg_auction_bytes)?,
        avg_bid_bytes: size(table, "bid.avg-size", d.avg_bid_bytes)?,
    };
    c.check().map_err(|e| bad(e.to_string()))?;
    Ok(c)
}

/// The arity of the `ROW` each physical column must be (`event_type` is an integer).
const COLUMNS: [(&str, usize); 4] = [
    ("event_type", 0),
    ("person", 8),
    ("auction", 10),
    ("bid", 7),
];

/// Checks that `table` is the benchmark's table: `event_type INT`, then `person`, `auction`
/// and `bid` rows of the published fields (computed columns and a watermark may follow).
fn check_columns(table: &TableDef) -> Result<(), SqlError> {
    let schema = table.physical_schema();
    let fits = schema.len() == COLUMNS.len()
        && schema.fields.iter().zip(COLUMNS).all(|(f, (name, arity))| {
            f.name.eq_ignore_ascii_case(name)
                && match &f.data_type {
                    DataType::Row(fields) => fields.len() == arity,
                    t => arity == 0 && t.is_integer(),
                }
        });
    if fits {
        return Ok(());
    }
    Err(SqlError::Connector {
        table: table.name.clone(),
        message: format!(
            "the 'nexmark' connector makes the columns event_type INT, person ROW<8 fields>, auction ROW<10 fields>, bid ROW<7 fields> (Nexmark's ddl_gen.sql); the table has {}",
            schema.names()
        ),
    })
}

/// Event `e` as the table's four physical values.
pub fn values(mut e: Event) -> [Value; 4] {
    let kind = e.kind();
    let mut out = [Value::Int(kind), Value::Null, Value::Null, Value::Null];
    // The kind is 0, 1 or 2: its column is 1, 2 or 3.
    let column = kind as usize + 1;
    if let Some(slot) = out.get_mut(column) {
        *slot = whole(&mut e, column);
    }
    out
}

/// Physical column `column` of event `e` (its fields moved out of it).
fn whole(e: &mut Event, column: usize) -> Value {
    fn row<const N: usize>(e: &mut Event, column: usize) -> Value {
        Value::Row(Arc::new(std::array::from_fn::<_, N, _>(|f| {
            field(e, column, f)
        })))
    }
    match (e.kind(), column) {
        (kind, 0) => Value::Int(kind),
        (0, 1) => row::<8>(e, 1),
        (1, 2) => row::<10>(e, 2),
        (2, 3) => row::<7>(e, 3),
        _ => Value::Null,
    }
}

/// Field `f` of physical column `column` (1 person, 2 auction, 3 bid) of event `e`, moved
/// out of it; NULL where the event is another kind (its column is NULL).
fn field(e: &mut Event, column: usize, f: usize) -> Value {
    let s = |t: &mut crate::sql::types::Text| Value::Str(std::mem::take(t));
    match (e, column) {
        (Event::Person(p), 1) => match f {
            0 => Value::Int(p.id),
            1 => s(&mut p.name),
            2 => s(&mut p.email_address),
            3 => s(&mut p.credit_card),
            4 => s(&mut p.city),
            5 => s(&mut p.state),
            6 => Value::Timestamp(p.date_time),
            7 => s(&mut p.extra),
            _ => Value::Null,
        },
        (Event::Auction(a), 2) => match f {
            0 => Value::Int(a.id),
            1 => s(&mut a.item_name),
            2 => s(&mut a.description),
            3 => Value::Int(a.initial_bid),
            4 => Value::Int(a.reserve),
            5 => Value::Timestamp(a.date_time),
            6 => Value::Timestamp(a.expires),
            7 => Value::Int(a.seller),
            8 => Value::Int(a.category),
            9 => s(&mut a.extra),
            _ => Value::Null,
        },
        (Event::Bid(b), 3) => match f {
            0 => Value::Int(b.auction),
            1 => Value::Int(b.bidder),
            2 => Value::Int(b.price),
            3 => s(&mut b.channel),
            4 => s(&mut b.url),
            5 => Value::Timestamp(b.date_time),
            6 => s(&mut b.extra),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Whether the source drops exactly the rows `filter` drops: an `event_type = k` filter, unless
/// the source is paced (`rate.limited`), where it makes every event so that its pace in rows
/// stays that of the events.
pub(super) fn skips(table: &TableDef, filter: &Expr) -> bool {
    let limited = parsed(table, "rate.limited", false).unwrap_or(true);
    !limited && only_kind(std::slice::from_ref(filter)).is_some()
}

/// The one kind of event a scan's pushed filters keep, if they name one: a conjunct
/// `event_type = k` (the published views' filters).
fn only_kind(filters: &[Expr]) -> Option<i64> {
    filters
        .iter()
        .find_map(|f| f.int_equality().filter(|(c, _)| *c == 0).map(|(_, k)| k))
}

/// The rows of `table`'s source.
pub fn source(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    layout: RowLayout,
) -> Result<DataStream<Row>, SqlError> {
    check_columns(table)?;
    let config = config(table)?;
    let rate = config.rate;
    let count = match parsed::<u64>(table, "events.num", 0)? {
        0 => u64::MAX,
        n => n,
    };
    let limited = parsed(table, "rate.limited", false)?;
    let generator = Generator::new(config);
    let stream = env.add_source(
        &format!("{}[nexmark]", table.name),
        Generated::dealt(count, BLOCK, Sparse(rows(generator, layout, limited))),
    );
    Ok(if limited {
        stream.rate_limit(rate as f64)
    } else {
        stream
    })
}

/// The rows of `layout`: its whole columns and, for a [`crate::connectors::FlatScan`], the
/// fields moved out of each event into their own columns (no `ROW` made unless a whole one is
/// read); the events a pushed filter drops are not made at all, unless the source is `paced`.
fn rows(
    generator: Generator,
    layout: RowLayout,
    paced: bool,
) -> impl Fn(u64) -> Option<Row> + Clone {
    let kind = only_kind(&layout.filters).filter(|_| !paced);
    let wanted = wanted(&layout);
    let layout = Arc::new(layout);
    move |i: u64| {
        if kind.is_some_and(|k| k != generator.kind(i)) {
            return None;
        }
        let mut event = generator.event_with(i, wanted);
        let mut row = Vec::with_capacity(layout.width);
        row.resize_with(layout.width, || Value::Null);
        for f in &layout.fields {
            // Deeper paths reach into no field of the benchmark's scalar fields.
            let v = match f.path.as_slice() {
                [only] => field(&mut event, f.column, *only),
                _ => Value::Null,
            };
            if let Some(slot) = row.get_mut(f.pos) {
                *slot = v;
            }
        }
        // Whole columns last: the fields read above are gone from the event, so a whole `ROW`
        // read besides its fields would lack them; the planner reads a column whole or by
        // fields, never both (see `sql::lower::flat`).
        for (column, (pos, needed)) in layout.physical.iter().enumerate() {
            if *needed {
                if let Some(slot) = row.get_mut(*pos) {
                    *slot = whole(&mut event, column);
                }
            }
        }
        // The computed columns of generated rows cannot fail on types the planner checked;
        // a failure leaves the column NULL.
        let _ = (layout.finish)(&mut row);
        Some(Row::insert(row))
    }
}

/// The fields of each kind of event that `layout` reads: all of a column read whole, else
/// the fields read from it.
fn wanted(layout: &RowLayout) -> Fields {
    let mut fields = Fields::NONE;
    for f in &layout.fields {
        let field = f.path.first().copied().unwrap_or(0);
        if let Some(m) = kind_mask(&mut fields, f.column) {
            *m |= 1u32.checked_shl(field as u32).unwrap_or(0);
        }
    }
    for (column, (_, needed)) in layout.physical.iter().enumerate() {
        if let Some(m) = kind_mask(&mut fields, column).filter(|_| *needed) {
            *m = u32::MAX;
        }
    }
    fields
}

/// The mask of physical column `column`'s kind of event.
fn kind_mask(fields: &mut Fields, column: usize) -> Option<&mut u32> {
    match column {
        1 => Some(&mut fields.person),
        2 => Some(&mut fields.auction),
        3 => Some(&mut fields.bid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::expr::CmpOp;

    fn values_of(g: &Generator, i: u64) -> [Value; 4] {
        values(g.event(i))
    }

    #[test]
    fn split_ranges_cover_the_sequence_in_order() {
        for (n, k) in [(10, 3), (5, 7), (0, 2), (1_000_003, 4)] {
            let mut next = 0;
            for i in 0..k {
                let r = split_range(n, k, i);
                assert_eq!(r.start, next);
                assert!(r.end >= r.start);
                next = r.end;
            }
            assert_eq!(next, n);
        }
    }

    #[test]
    fn a_flat_scan_reads_the_same_fields_and_skips_the_kinds_its_filter_drops() {
        let g = Generator::new(NexmarkConfig::default());
        let kind_filter = Expr::Compare(
            CmpOp::Eq,
            Box::new(Expr::column(0, "event_type", DataType::Int)),
            Box::new(Expr::Literal(Value::Int(1), DataType::Int)),
        );
        // auction.extra, auction.id, bid.price at 0..3, event_type whole at 3.
        let layout = RowLayout {
            width: 4,
            physical: vec![(3, true), (0, false), (0, false), (0, false)],
            fields: [(2, 9), (2, 0), (3, 2)]
                .into_iter()
                .enumerate()
                .map(|(pos, (column, f))| crate::connectors::FieldSlot {
                    column,
                    path: vec![f],
                    pos,
                })
                .collect(),
            filters: vec![kind_filter],
            finish: Arc::new(|_: &mut Vec<Value>| Ok(())),
        };
        let rows = rows(g.clone(), layout, false);
        let mut auctions = 0;
        for i in 0..500 {
            assert_eq!(g.kind(i), g.event(i).kind());
            let [kind, _, auction, _] = values_of(&g, i);
            match (rows(i), auction) {
                (None, Value::Null) => {}
                (Some(row), Value::Row(a)) => {
                    auctions += 1;
                    assert_eq!(row.values, [a[9].clone(), a[0].clone(), Value::Null, kind]);
                }
                (row, a) => panic!("event {i}: {row:?} for {a:?}"),
            }
        }
        assert_eq!(auctions, 30, "3 in 50");
    }

    #[test]
    fn an_event_made_with_some_fields_has_those_of_the_whole_event() {
        let g = Generator::new(NexmarkConfig {
            seed: 3,
            ..NexmarkConfig::default()
        });
        let mut left_out = 0;
        for i in 0..3000 {
            let whole = g.event(i);
            let column = whole.kind() as usize + 1;
            for f in 0..10 {
                let mut fields = Fields::NONE;
                if let Some(m) = kind_mask(&mut fields, column) {
                    *m = 1 << f;
                }
                let mut some = g.event_with(i, fields);
                assert_eq!(
                    field(&mut some, column, f),
                    field(&mut whole.clone(), column, f),
                    "event {i}, field {f}"
                );
                left_out += usize::from(some != whole);
                // The fields not asked for are left out, and nothing else differs.
                let mut all = whole.clone();
                for other in (0..10).filter(|o| *o != f) {
                    let (a, b) = (
                        field(&mut some, column, other),
                        field(&mut all, column, other),
                    );
                    assert!(
                        a == b
                            || matches!(a, Value::Str(ref s) if s.is_empty())
                            || a == Value::Int(0),
                        "event {i}, field {other}: {a:?} for {b:?}"
                    );
                }
            }
        }
        assert!(
            left_out > 10_000,
            "strings and prices are left out: {left_out}"
        );
    }

    #[test]
    fn events_become_the_tables_rows() {
        let g = Generator::new(NexmarkConfig::default());
        let [kind, person, auction, bid] = values_of(&g, 4);
        assert_eq!(
            (kind, person, auction),
            (Value::Int(2), Value::Null, Value::Null)
        );
        let Value::Row(bid) = bid else {
            panic!("a bid row");
        };
        assert_eq!(bid.len(), 7);
        assert_eq!(bid[5], Value::Timestamp(g.timestamp(4)));
    }
}
