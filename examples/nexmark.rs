//! `nexmark --query q0|q1|q2|q3|q4|q5|q7|q8 --events N [--rate R] [--seed S] [--output FILE]`:
//! Nexmark's core queries written with the DataStream API, over the events of the same
//! deterministic generator as the `nexmark` SQL connector (so the two layers can be compared on
//! the same events: `rill bench nexmark --api datastream`). Event time is each event's
//! `dateTime`, the watermark 4 s behind (as the benchmark's DDL). Without `--output` the
//! results are discarded (the benchmark's blackhole sink); with it, written as sorted lines of
//! comma-separated values, times as epoch milliseconds:
//!
//! | query | line | what |
//! |---|---|---|
//! | q0 | `auction,bidder,price,dateTime,extra` | every bid |
//! | q1 | `auction,bidder,price_eur,dateTime,extra` | bids in euros (`0.908 × price`, three decimals) |
//! | q2 | `auction,price` | bids on every 123rd auction |
//! | q3 | `name,city,state,auction` | auctions of category 10 by sellers from OR, ID or CA |
//! | q4 | `category,auctions,average` | each closed auction's winning bid (the highest bid between its start and its end), averaged per category (an integer, as SQL's `AVG` of `BIGINT`): one line per update, the one with the most auctions is the final average |
//! | q5 | `window_start,auction,bids` | per 10 s window sliding by 2 s, the auctions with the most bids |
//! | q7 | `auction,price,bidder,dateTime,extra` | per 10 s window, the bids at its highest price (a bid at the window's end counts for it too, as SQL's `BETWEEN`) |
//! | q8 | `id,name,window_start` | people who opened an auction in the 10 s window they registered in |

use std::path::PathBuf;
use std::time::Duration;

use crate::api::{Collector, DataStream, KeyedContext, KeyedProcessFunction, StreamEnv};
use crate::connectors::nexmark::generator::{Event, Generator, NexmarkConfig};
use crate::eventtime::{Timestamp, WatermarkStrategy};
use crate::jobs::windowed_count::SortedLinesSink;
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::sinks::DiscardSink;
use crate::operators::sources::Generated;
use crate::operators::UserError;
use crate::sql::types::Text;
use crate::state::{ListStateDescriptor, ValueStateDescriptor};
use crate::windowing::assigners::TimeWindows;
use crate::windowing::functions::{AggregateFunction, WindowContext};
use crate::windowing::TimeWindow;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "nexmark",
        description: "Nexmark's core queries (q0-q5, q7, q8) in the DataStream API over the nexmark generator's events",
        usage: "--query q0|q1|q2|q3|q4|q5|q7|q8 --events N [--rate EVENTS_PER_S] [--seed S] [--output FILE]",
        arguments: &["query", "events", "rate", "seed", "output"],
        build,
    }
}

/// The queries this job runs.
pub const QUERIES: [&str; 8] = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"];

/// How many consecutive events a source subtask makes before the next one's turn (as the SQL
/// connector's source).
const BLOCK: u64 = 1 << 16;

/// Ten seconds, the queries' window, in ms.
const TEN_S: i64 = 10_000;

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let query = args.required("query")?.to_string();
    let events: u64 = args.parse_or("events", 1_000_000)?;
    let defaults = NexmarkConfig::default();
    let config = NexmarkConfig {
        rate: args.parse_or("rate", defaults.rate)?,
        seed: args.parse_or("seed", defaults.seed)?,
        ..defaults
    };
    config.check().map_err(|e| JobError::BadValue {
        job: "nexmark".into(),
        arg: "rate".into(),
        value: config.rate.to_string(),
        reason: e.to_string(),
    })?;
    let output = args.get("output").map(PathBuf::from);
    let g = Generator::new(config);
    let events = env
        .add_source(
            "Source: nexmark",
            Generated::dealt(events, BLOCK, move |i| g.event(i)),
        )
        .assign_timestamps_and_watermarks(
            WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(4))
                .with_timestamp_assigner(|e: &Event, _| e.date_time()),
        );
    match query.as_str() {
        "q0" => finish(bids(&events), output, |b: &Bid| {
            format!("{},{},{},{},{}", b.0, b.1, b.2, b.3, b.4)
        }),
        "q1" => finish(bids(&events), output, |b: &Bid| {
            let eur = b.2 * 908;
            format!(
                "{},{},{}.{:03},{},{}",
                b.0,
                b.1,
                eur / 1000,
                eur % 1000,
                b.3,
                b.4
            )
        }),
        "q2" => finish(q2(&events), output, |r: &(i64, i64)| {
            format!("{},{}", r.0, r.1)
        }),
        "q3" => finish(q3(&events), output, |r: &(String, String, String, i64)| {
            format!("{},{},{},{}", r.0, r.1, r.2, r.3)
        }),
        "q4" => finish(q4(&events), output, |r: &(i64, u64, i64)| {
            format!("{},{},{}", r.0, r.1, r.2)
        }),
        "q5" => finish(q5(&events), output, |r: &(i64, i64, u64)| {
            format!("{},{},{}", r.0, r.1, r.2)
        }),
        "q7" => finish(q7(&events), output, |b: &Bid| {
            format!("{},{},{},{},{}", b.0, b.2, b.1, b.3, b.4)
        }),
        "q8" => finish(q8(&events), output, |r: &(i64, String, i64)| {
            format!("{},{},{}", r.0, r.1, r.2)
        }),
        other => {
            return Err(JobError::BadValue {
                job: "nexmark".into(),
                arg: "query".into(),
                value: other.into(),
                reason: format!("expected one of {}", QUERIES.join(", ")),
            })
        }
    }
    Ok(())
}

/// Discards the results, or writes them as sorted lines.
fn finish<T: crate::api::Data>(
    results: DataStream<T>,
    output: Option<PathBuf>,
    line: fn(&T) -> String,
) {
    match output {
        None => {
            results.add_sink("Sink: blackhole", DiscardSink::default());
        }
        Some(path) => {
            results
                .map(move |r: T| line(&r))
                .add_sink("Sink: sorted lines", SortedLinesSink::new(path))
                .set_parallelism(1);
        }
    }
}

/// A bid's `auction, bidder, price, dateTime, extra` (the generator's text, not copied).
type Bid = (i64, i64, i64, i64, Text);

/// q0: every bid.
fn bids(events: &DataStream<Event>) -> DataStream<Bid> {
    events.flat_map(|e: Event, out: &mut Collector<'_, Bid>| {
        if let Event::Bid(b) = e {
            out.collect((b.auction, b.bidder, b.price, b.date_time, b.extra));
        }
    })
}

/// q2: the bids on every 123rd auction.
fn q2(events: &DataStream<Event>) -> DataStream<(i64, i64)> {
    events.flat_map(|e: Event, out: &mut Collector<'_, (i64, i64)>| {
        if let Event::Bid(b) = e {
            if b.auction % 123 == 0 {
                out.collect((b.auction, b.price));
            }
        }
    })
}

/// The person an event is about: a person's id, an auction's seller.
fn person_of(e: &Event) -> i64 {
    match e {
        Event::Person(p) => p.id,
        Event::Auction(a) => a.seller,
        Event::Bid(b) => b.bidder,
    }
}

/// q3: a regular join of the sellers in three states and their auctions of category 10,
/// whichever comes first.
fn q3(events: &DataStream<Event>) -> DataStream<(String, String, String, i64)> {
    events
        .filter(|e: &Event| match e {
            Event::Person(p) => matches!(p.state.as_str(), "OR" | "ID" | "CA"),
            Event::Auction(a) => a.category == 10,
            Event::Bid(_) => false,
        })
        .key_by(person_of)
        .process_keyed(LocalItemSuggestion {
            person: ValueStateDescriptor::new("person"),
            waiting: ListStateDescriptor::new("auctions"),
        })
}

#[derive(Clone)]
struct LocalItemSuggestion {
    person: ValueStateDescriptor<(String, String, String)>,
    waiting: ListStateDescriptor<i64>,
}

impl KeyedProcessFunction<i64, Event, (String, String, String, i64)> for LocalItemSuggestion {
    fn process_element(
        &mut self,
        e: Event,
        ctx: &mut KeyedContext<'_, i64>,
        out: &mut Collector<'_, (String, String, String, i64)>,
    ) -> Result<(), UserError> {
        match e {
            Event::Person(p) => {
                let person = (p.name.to_string(), p.city.to_string(), p.state.to_string());
                for auction in ctx.list_state(&self.waiting)?.get()? {
                    out.collect((
                        person.0.clone(),
                        person.1.clone(),
                        person.2.clone(),
                        auction,
                    ));
                }
                ctx.list_state(&self.waiting)?.clear()?;
                ctx.value_state(&self.person)?.update(person)?;
            }
            Event::Auction(a) => match ctx.value_state(&self.person)?.value()? {
                Some((name, city, state)) => out.collect((name, city, state, a.id)),
                None => ctx.list_state(&self.waiting)?.add(a.id)?,
            },
            Event::Bid(_) => {}
        }
        Ok(())
    }
}

/// The auction an event is about (a person's is never asked for).
fn auction_of(e: &Event) -> i64 {
    match e {
        Event::Person(p) => p.id,
        Event::Auction(a) => a.id,
        Event::Bid(b) => b.auction,
    }
}

/// q4: each auction's winning bid once it closed (the watermark passed its end), then the
/// running average per category.
fn q4(events: &DataStream<Event>) -> DataStream<(i64, u64, i64)> {
    events
        .filter(|e: &Event| !matches!(e, Event::Person(_)))
        .key_by(auction_of)
        .process_keyed(WinningBids {
            auction: ValueStateDescriptor::new("auction"),
            best: ValueStateDescriptor::new("best"),
            early: ListStateDescriptor::new("early bids"),
        })
        .key_by(|w: &(i64, i64)| w.0)
        .process_keyed(AveragePrice {
            sum: ValueStateDescriptor::new("sum"),
        })
}

#[derive(Clone)]
struct WinningBids {
    /// `category, dateTime, expires`.
    auction: ValueStateDescriptor<(i64, i64, i64)>,
    best: ValueStateDescriptor<i64>,
    /// Bids that came before their auction: `price, dateTime`.
    early: ListStateDescriptor<(i64, i64)>,
}

impl WinningBids {
    fn offer(
        &self,
        ctx: &mut KeyedContext<'_, i64>,
        price: i64,
        at: i64,
        auction: (i64, i64, i64),
    ) -> Result<(), UserError> {
        if at >= auction.1 && at <= auction.2 {
            let mut best = ctx.value_state(&self.best)?;
            if best.value()?.is_none_or(|b| price > b) {
                best.update(price)?;
            }
        }
        Ok(())
    }
}

impl KeyedProcessFunction<i64, Event, (i64, i64)> for WinningBids {
    fn process_element(
        &mut self,
        e: Event,
        ctx: &mut KeyedContext<'_, i64>,
        _out: &mut Collector<'_, (i64, i64)>,
    ) -> Result<(), UserError> {
        match e {
            Event::Auction(a) => {
                let auction = (a.category, a.date_time, a.expires);
                ctx.value_state(&self.auction)?.update(auction)?;
                for (price, at) in ctx.list_state(&self.early)?.get()? {
                    self.offer(ctx, price, at, auction)?;
                }
                ctx.list_state(&self.early)?.clear()?;
                ctx.register_event_time_timer(a.expires);
            }
            Event::Bid(b) => match ctx.value_state(&self.auction)?.value()? {
                Some(auction) => self.offer(ctx, b.price, b.date_time, auction)?,
                None => {
                    // Its auction, if it is to count, started no later: once the watermark
                    // passed the bid, an auction still unknown closed already or never
                    // existed, and the bid goes.
                    ctx.list_state(&self.early)?.add((b.price, b.date_time))?;
                    ctx.register_event_time_timer(b.date_time);
                }
            },
            Event::Person(_) => {}
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, i64>,
        out: &mut Collector<'_, (i64, i64)>,
    ) -> Result<(), UserError> {
        let Some((category, _, expires)) = ctx.value_state(&self.auction)?.value()? else {
            ctx.list_state(&self.early)?.clear()?;
            return Ok(());
        };
        if timestamp == expires {
            if let Some(best) = ctx.value_state(&self.best)?.take()? {
                out.collect((category, best));
            }
            ctx.value_state(&self.auction)?.clear()?;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct AveragePrice {
    /// `auctions, sum of their winning bids`.
    sum: ValueStateDescriptor<(u64, i64)>,
}

impl KeyedProcessFunction<i64, (i64, i64), (i64, u64, i64)> for AveragePrice {
    fn process_element(
        &mut self,
        (category, price): (i64, i64),
        ctx: &mut KeyedContext<'_, i64>,
        out: &mut Collector<'_, (i64, u64, i64)>,
    ) -> Result<(), UserError> {
        let mut sum = ctx.value_state(&self.sum)?;
        let (n, total) = sum.value()?.unwrap_or((0, 0));
        let (n, total) = (n + 1, total.saturating_add(price));
        sum.update((n, total))?;
        out.collect((category, n, total / n as i64));
        Ok(())
    }
}

/// Counts a window's elements.
#[derive(Clone, Copy)]
struct Count;

impl<T> AggregateFunction<T> for Count {
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, _value: &T, acc: &mut u64) {
        *acc += 1;
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
}

/// q5: bids per auction in windows of 10 s sliding by 2 s, then per window the auctions with
/// the most.
fn q5(events: &DataStream<Event>) -> DataStream<(i64, i64, u64)> {
    bids(events)
        .key_by(|b: &Bid| b.0)
        .window(TimeWindows::sliding_event_time(
            Duration::from_secs(10),
            Duration::from_secs(2),
        ))
        .aggregate_with(
            Count,
            |auction: &i64,
             ctx: &mut WindowContext<'_, TimeWindow>,
             counts: &[u64],
             out: &mut Collector<'_, (i64, i64, u64)>| {
                for n in counts {
                    out.collect((ctx.window().start, *auction, *n));
                }
                Ok(())
            },
        )
        .key_by(|c: &(i64, i64, u64)| c.0)
        .process_keyed(HottestPerWindow {
            counts: ListStateDescriptor::new("counts"),
        })
}

/// Gathers a window's results (each carries the window's last timestamp) and, once the
/// watermark passed it, emits those at the window's maximum.
#[derive(Clone)]
struct HottestPerWindow {
    /// `window start, auction, bids`.
    counts: ListStateDescriptor<(i64, i64, u64)>,
}

impl KeyedProcessFunction<i64, (i64, i64, u64), (i64, i64, u64)> for HottestPerWindow {
    fn process_element(
        &mut self,
        c: (i64, i64, u64),
        ctx: &mut KeyedContext<'_, i64>,
        _out: &mut Collector<'_, (i64, i64, u64)>,
    ) -> Result<(), UserError> {
        ctx.list_state(&self.counts)?.add(c)?;
        if let Some(t) = ctx.timestamp() {
            ctx.register_event_time_timer(t);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, i64>,
        out: &mut Collector<'_, (i64, i64, u64)>,
    ) -> Result<(), UserError> {
        let counts = ctx.list_state(&self.counts)?.get()?;
        let max = counts.iter().map(|c| c.2).max().unwrap_or(0);
        for c in counts.into_iter().filter(|c| c.2 == max) {
            out.collect(c);
        }
        ctx.list_state(&self.counts)?.clear()?;
        Ok(())
    }
}

/// q7: per 10 s window, the bids at its highest price. A bid is the candidate of the window it
/// falls in; one at a window's first millisecond is also a candidate of the window before
/// (whose `BETWEEN` includes its end) without counting towards that one's maximum.
fn q7(events: &DataStream<Event>) -> DataStream<Bid> {
    bids(events)
        .flat_map(|b: Bid, out: &mut Collector<'_, (i64, bool, Bid)>| {
            let start = b.3 - b.3.rem_euclid(TEN_S);
            if b.3 == start {
                out.collect((start - TEN_S, false, b.clone()));
            }
            out.collect((start, true, b));
        })
        .key_by(|c: &(i64, bool, Bid)| c.0)
        .process_keyed(HighestBids {
            bids: ListStateDescriptor::new("bids"),
        })
}

#[derive(Clone)]
struct HighestBids {
    /// `counts towards the maximum, bid`.
    bids: ListStateDescriptor<(bool, Bid)>,
}

impl KeyedProcessFunction<i64, (i64, bool, Bid), Bid> for HighestBids {
    fn process_element(
        &mut self,
        (start, counts, bid): (i64, bool, Bid),
        ctx: &mut KeyedContext<'_, i64>,
        _out: &mut Collector<'_, Bid>,
    ) -> Result<(), UserError> {
        ctx.list_state(&self.bids)?.add((counts, bid))?;
        // The window's end: every bid up to it (and at it) has come once the watermark is there.
        ctx.register_event_time_timer(start + TEN_S);
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, i64>,
        out: &mut Collector<'_, Bid>,
    ) -> Result<(), UserError> {
        let bids = ctx.list_state(&self.bids)?.get()?;
        if let Some(max) = bids.iter().filter(|b| b.0).map(|b| b.1 .2).max() {
            for (_, b) in bids.into_iter().filter(|b| b.1 .2 == max) {
                out.collect(b);
            }
        }
        ctx.list_state(&self.bids)?.clear()?;
        Ok(())
    }
}

/// q8: per 10 s tumbling window, the people who registered and opened an auction in it.
fn q8(events: &DataStream<Event>) -> DataStream<(i64, String, i64)> {
    events
        .filter(|e: &Event| !matches!(e, Event::Bid(_)))
        .key_by(person_of)
        .window(TimeWindows::tumbling_event_time(Duration::from_secs(10)))
        .process(
            |id: &i64,
             ctx: &mut WindowContext<'_, TimeWindow>,
             events: &[Event],
             out: &mut Collector<'_, (i64, String, i64)>| {
                let opened = events.iter().any(|e| matches!(e, Event::Auction(_)));
                for e in events {
                    if let (Event::Person(p), true) = (e, opened) {
                        out.collect((*id, p.name.to_string(), ctx.window().start));
                    }
                }
                Ok(())
            },
        )
}
