//! Issue 21's DataStream versions of Nexmark's core queries (the bundled `nexmark` job): each
//! query's output at parallelism 2, over 20,000 events at 1,000 a second (20 s of event time:
//! several windows), against the same query computed here directly from the generator's events.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rill::connectors::nexmark::generator::{Event, Generator, NexmarkConfig};
use rill::graph::JobStatus;

const EVENTS: u64 = 20_000;
const RATE: u64 = 1_000;
const TEN_S: i64 = 10_000;

fn events() -> Vec<Event> {
    let g = Generator::new(NexmarkConfig {
        rate: RATE,
        ..NexmarkConfig::default()
    });
    (0..EVENTS).map(|i| g.event(i)).collect()
}

/// The job's sorted output lines for `query`.
fn run(query: &str) -> Vec<String> {
    let dir = common::temp_dir(&format!("nexmark-{query}"));
    let out = dir.join("out.txt");
    let (events, rate) = (EVENTS.to_string(), RATE.to_string());
    let args = [
        "--query",
        query,
        "--events",
        &events,
        "--rate",
        &rate,
        "--output",
        out.to_str().expect("utf8"),
    ];
    let result = common::run_registered(
        common::cluster(1, 4),
        Duration::from_secs(120),
        "nexmark",
        &args,
        2,
    );
    assert_eq!(
        result.status,
        JobStatus::Finished,
        "{query}: {:?}",
        result.failure
    );
    let text = std::fs::read_to_string(&out).expect("output written");
    std::fs::remove_dir_all(&dir).ok();
    text.lines().map(String::from).collect()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

fn bids(events: &[Event]) -> impl Iterator<Item = &rill::connectors::nexmark::generator::Bid> {
    events.iter().filter_map(|e| match e {
        Event::Bid(b) => Some(b),
        _ => None,
    })
}

fn check(query: &str, expected: Vec<String>) {
    let expected = sorted(expected);
    assert!(!expected.is_empty(), "{query}: the input makes no result");
    let got = run(query);
    assert_eq!(got.len(), expected.len(), "{query}: line count");
    assert!(
        got == expected,
        "{query}: first difference at line {:?}",
        got.iter().zip(&expected).position(|(a, b)| a != b)
    );
}

#[test]
fn stateless_queries_match_a_direct_computation() {
    let events = events();
    let q0 = bids(&events)
        .map(|b| {
            format!(
                "{},{},{},{},{}",
                b.auction, b.bidder, b.price, b.date_time, b.extra
            )
        })
        .collect();
    check("q0", q0);
    let q1 = bids(&events)
        .map(|b| {
            let cents = b.price * 908;
            let eur = format!("{}.{:03}", cents / 1000, cents % 1000);
            format!(
                "{},{},{eur},{},{}",
                b.auction, b.bidder, b.date_time, b.extra
            )
        })
        .collect();
    check("q1", q1);
    let q2 = bids(&events)
        .filter(|b| b.auction % 123 == 0)
        .map(|b| format!("{},{}", b.auction, b.price))
        .collect();
    check("q2", q2);
}

#[test]
fn join_queries_match_a_direct_computation() {
    let events = events();
    // q3: sellers from OR, ID, CA and their auctions of category 10.
    let people: HashMap<i64, String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Person(p) if ["OR", "ID", "CA"].contains(&p.state.as_str()) => {
                Some((p.id, format!("{},{},{}", p.name, p.city, p.state)))
            }
            _ => None,
        })
        .collect();
    let q3 = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) if a.category == 10 => {
                people.get(&a.seller).map(|p| format!("{p},{}", a.id))
            }
            _ => None,
        })
        .collect();
    check("q3", q3);

    // q4: every auction's highest bid between its start and end; per category, the number of
    // such auctions and the average (integer) of their highest bids.
    let mut finals: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for e in &events {
        if let Event::Auction(a) = e {
            let best = bids(&events)
                .filter(|b| {
                    b.auction == a.id && b.date_time >= a.date_time && b.date_time <= a.expires
                })
                .map(|b| b.price)
                .max();
            if let Some(best) = best {
                finals.entry(a.category).or_default().push(best);
            }
        }
    }
    let q4: Vec<String> = finals
        .iter()
        .map(|(c, v)| format!("{c},{},{}", v.len(), v.iter().sum::<i64>() / v.len() as i64))
        .collect();
    // The job emits the running average at each auction's close; the last line of each
    // category (the most auctions) is the final one.
    let mut last: BTreeMap<i64, (u64, String)> = BTreeMap::new();
    for line in run("q4") {
        let mut f = line.split(',');
        let category: i64 = f.next().and_then(|x| x.parse().ok()).expect("category");
        let n: u64 = f.next().and_then(|x| x.parse().ok()).expect("count");
        if last.get(&category).is_none_or(|(m, _)| n > *m) {
            last.insert(category, (n, line));
        }
    }
    let got: Vec<String> = last.into_values().map(|(_, l)| l).collect();
    assert!(!q4.is_empty());
    assert_eq!(got, q4, "q4's final averages");

    // q8: people who opened an auction in the 10 s window they registered in.
    let window = |t: i64| t - t.rem_euclid(TEN_S);
    let sellers: BTreeSet<(i64, i64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => Some((a.seller, window(a.date_time))),
            _ => None,
        })
        .collect();
    let q8 = events
        .iter()
        .filter_map(|e| match e {
            Event::Person(p) if sellers.contains(&(p.id, window(p.date_time))) => {
                Some(format!("{},{},{}", p.id, p.name, window(p.date_time)))
            }
            _ => None,
        })
        .collect();
    check("q8", q8);
}

#[test]
fn window_queries_match_a_direct_computation() {
    let events = events();
    // q5: bids per auction per window of 10 s sliding by 2 s; per window, those at the most.
    let mut counts: BTreeMap<i64, BTreeMap<i64, u64>> = BTreeMap::new();
    for b in bids(&events) {
        let mut start = b.date_time - b.date_time.rem_euclid(2_000);
        while start > b.date_time - TEN_S {
            *counts
                .entry(start)
                .or_default()
                .entry(b.auction)
                .or_default() += 1;
            start -= 2_000;
        }
    }
    let mut q5 = Vec::new();
    for (start, per_auction) in &counts {
        let max = per_auction.values().max().copied().unwrap_or(0);
        for (auction, n) in per_auction.iter().filter(|(_, n)| **n == max) {
            q5.push(format!("{start},{auction},{n}"));
        }
    }
    check("q5", q5);

    // q7: per 10 s window [s, s + 10 s), its highest price; the bids at that price from s to
    // s + 10 s, both included.
    let mut max: BTreeMap<i64, i64> = BTreeMap::new();
    for b in bids(&events) {
        let s = b.date_time - b.date_time.rem_euclid(TEN_S);
        let m = max.entry(s).or_insert(b.price);
        *m = (*m).max(b.price);
    }
    let mut q7 = Vec::new();
    for (s, m) in &max {
        for b in bids(&events) {
            if b.price == *m && b.date_time >= *s && b.date_time <= s + TEN_S {
                q7.push(format!(
                    "{},{},{},{},{}",
                    b.auction, b.price, b.bidder, b.date_time, b.extra
                ));
            }
        }
    }
    check("q7", q7);
}
