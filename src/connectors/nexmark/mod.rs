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

use std::sync::Arc;

use crate::api::{DataStream, StreamEnv};
use crate::connectors::{parsed, RowLayout};
use crate::operators::sources::Generated;
use crate::sql::catalog::TableDef;
use crate::sql::types::{DataType, Row, Value};
use crate::sql::SqlError;
use generator::{Event, Generator, NexmarkConfig};

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
pub fn values(e: Event) -> [Value; 4] {
    let mut out = [Value::Int(e.kind()), Value::Null, Value::Null, Value::Null];
    match e {
        Event::Person(p) => {
            out[1] = Value::Row(Arc::new([
                Value::Int(p.id),
                Value::Str(p.name),
                Value::Str(p.email_address),
                Value::Str(p.credit_card),
                Value::Str(p.city),
                Value::Str(p.state),
                Value::Timestamp(p.date_time),
                Value::Str(p.extra),
            ]));
        }
        Event::Auction(a) => {
            out[2] = Value::Row(Arc::new([
                Value::Int(a.id),
                Value::Str(a.item_name),
                Value::Str(a.description),
                Value::Int(a.initial_bid),
                Value::Int(a.reserve),
                Value::Timestamp(a.date_time),
                Value::Timestamp(a.expires),
                Value::Int(a.seller),
                Value::Int(a.category),
                Value::Str(a.extra),
            ]));
        }
        Event::Bid(b) => {
            out[3] = Value::Row(Arc::new([
                Value::Int(b.auction),
                Value::Int(b.bidder),
                Value::Int(b.price),
                Value::Str(b.channel),
                Value::Str(b.url),
                Value::Timestamp(b.date_time),
                Value::Str(b.extra),
            ]));
        }
    }
    out
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
    let make = move |i: u64| -> Row {
        let mut values = vec![Value::Null; layout.width];
        for (v, (pos, needed)) in values_of(&generator, i).into_iter().zip(&layout.physical) {
            if *needed {
                if let Some(slot) = values.get_mut(*pos) {
                    *slot = v;
                }
            }
        }
        // The computed columns of generated rows cannot fail on types the planner checked;
        // a failure leaves the column NULL.
        let _ = (layout.finish)(&mut values);
        Row::insert(values)
    };
    let stream = env.add_source(
        &format!("{}[nexmark]", table.name),
        Generated::dealt(count, BLOCK, make),
    );
    Ok(if limited {
        stream.rate_limit(rate as f64)
    } else {
        stream
    })
}

fn values_of(g: &Generator, i: u64) -> [Value; 4] {
    values(g.event(i))
}

#[cfg(test)]
mod tests {
    use super::*;

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
