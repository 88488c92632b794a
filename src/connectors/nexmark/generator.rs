//! The Nexmark events (people, auctions, bids) after the reference generator's model, but
//! deterministic: every field of event `n` comes from a PRNG seeded by `(seed, n)` alone, and
//! its time from `n` and the rate, so any split of `0..N` across subtasks (or files) yields
//! the same events, with no duplicate and no gap.
//!
//! The model (nexmark's `generator/model/*.java`, Beam's Nexmark):
//! - **Kind** by `n % total` of the proportions (1 : 3 : 46): a person, then auctions, then bids.
//! - **Ids** from `n`: the last person id is `epoch·persons + offset` (offset capped to the
//!   persons of the epoch), the last auction id likewise; both start at 1000.
//! - **Hot keys**: a bid's auction is, with probability `1 - 1/hot-ratio.auctions` (½), the first
//!   of the last 100 auctions, else uniform over the last 100 auctions and 10 ahead; its
//!   bidder, with `1 - 1/hot-ratio.bidders` (¾), the second of the last 100 people, else uniform
//!   over the last 1000 people and 10 ahead; an auction's seller, with `1 - 1/hot-ratio.sellers`
//!   (¾), the first of the last 100 people, else the same uniform choice.
//! - **Fields**: names, cities and states from short lists, random strings (3 to n letters
//!   with spaces), prices `round(10^(6u)·100)`, an `expires` of `ts + 1 + rand(2·horizon)`
//!   where the horizon is the time 100 auctions take, channels (half of them one of four hot
//!   ones, else one of 10,000, whose URLs carry `channel_id=` nine times in ten), and `extra`
//!   padding each kind to its average size.
//! - **Time**: event `n` happens at `base-time + n·1000/rate` ms, one timeline for the whole
//!   sequence (the reference restarts it in each split, which makes splits differ).
//!
//! Where Rill differs from the reference: it is seeded (the reference is not reproducible), a
//! bidder's id gets the first person id added once (the reference adds it twice,
//! nexmark/nexmark#30), and the hot channels' URLs come from the seed.

use std::sync::Arc;

use super::rng::{Letters, Rng, BUF};
pub use super::settings::{ConfigError, NexmarkConfig};
use crate::sql::types::Text;

/// The first person's id.
pub const FIRST_PERSON_ID: i64 = 1000;
/// The first auction's id.
pub const FIRST_AUCTION_ID: i64 = 1000;
/// The first category.
pub const FIRST_CATEGORY_ID: i64 = 10;
/// The default start of event time: 2015-07-15 00:00:00 UTC (Beam's Nexmark base time).
pub const DEFAULT_BASE_TIME: i64 = 1_436_918_400_000;

const NUM_CATEGORIES: u64 = 5;
const PERSON_ID_LEAD: u64 = 10;
const AUCTION_ID_LEAD: u64 = 10;
const HOT_GROUP: i64 = 100;
const NUM_ACTIVE_PEOPLE: u64 = 1000;
const NUM_IN_FLIGHT_AUCTIONS: u64 = 100;
const CHANNELS: u64 = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// A person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    /// Its id.
    pub id: i64,
    /// `First Last`.
    pub name: Text,
    /// An address.
    pub email_address: Text,
    /// Four groups of four digits.
    pub credit_card: Text,
    /// A city.
    pub city: Text,
    /// A state.
    pub state: Text,
    /// When it registered, epoch ms.
    pub date_time: i64,
    /// Padding.
    pub extra: Text,
}

/// An auction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Auction {
    /// Its id.
    pub id: i64,
    /// The item's name.
    pub item_name: Text,
    /// The item's description.
    pub description: Text,
    /// The first price.
    pub initial_bid: i64,
    /// The lowest price it sells at.
    pub reserve: i64,
    /// When it opened, epoch ms.
    pub date_time: i64,
    /// When it closes, epoch ms.
    pub expires: i64,
    /// The seller (a person's id).
    pub seller: i64,
    /// Its category.
    pub category: i64,
    /// Padding.
    pub extra: Text,
}

/// A bid.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bid {
    /// The auction's id.
    pub auction: i64,
    /// The bidder (a person's id).
    pub bidder: i64,
    /// The price.
    pub price: i64,
    /// Where the bid came from.
    pub channel: Text,
    /// The page it was made on.
    pub url: Text,
    /// When, epoch ms.
    pub date_time: i64,
    /// Padding.
    pub extra: Text,
}

/// One Nexmark event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl Event {
    /// 0 for a person, 1 for an auction, 2 for a bid (the table's `event_type`).
    pub fn kind(&self) -> i64 {
        match self {
            Event::Person(_) => 0,
            Event::Auction(_) => 1,
            Event::Bid(_) => 2,
        }
    }

    /// When it happened, epoch ms.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }
}

/// Makes event `n` of a configuration.
#[derive(Debug)]
pub struct Generator {
    config: NexmarkConfig,
    total: u64,
    hot_urls: Arc<[Text]>,
    /// Each cold channel's name and URL.
    channels: Arc<[(Text, Text)]>,
    letters: Letters,
}

/// A clone has its own copies of URLs that are counted references (those of seeds past
/// [`INTERNED_SEEDS`]), so that subtasks on other cores, which each clone it, do not count
/// references to the same strings (a cache line that would go back and forth between the
/// cores on every bid).
impl Clone for Generator {
    fn clone(&self) -> Self {
        let own = |t: &Text| {
            if t.is_heap_allocated() {
                Text::new(t.as_str())
            } else {
                t.clone()
            }
        };
        Self {
            config: self.config.clone(),
            total: self.total,
            hot_urls: self.hot_urls.iter().map(own).collect(),
            channels: self
                .channels
                .iter()
                .map(|(c, u)| (own(c), own(u)))
                .collect(),
            letters: self.letters.clone(),
        }
    }
}

/// The hot channels' URLs and each cold channel's name and URL, drawn from a seed.
struct Urls {
    hot_urls: Vec<String>,
    channels: Vec<(String, String)>,
}

impl Urls {
    fn of(seed: u64) -> Self {
        let base_url = |rng: &mut Rng| {
            format!(
                "https://www.nexmark.com/{}/{}/{}/item.htm?query=1",
                rng.string(5, b'_'),
                rng.string(5, b'_'),
                rng.string(5, b'_')
            )
        };
        let hot_urls = (0..HOT_CHANNELS.len() as u64)
            .map(|i| base_url(&mut Rng::new(seed, HOT_URL_STREAM, i)))
            .collect();
        let channels = (0..CHANNELS)
            .map(|c| {
                let mut rng = Rng::new(seed, CHANNEL_STREAM, c);
                let mut url = base_url(&mut rng);
                if rng.below(10) > 0 {
                    let id = (c as i32).reverse_bits().wrapping_abs();
                    url.push_str(&format!("&channel_id={id}"));
                }
                (format!("channel-{c}"), url)
            })
            .collect();
        Self { hot_urls, channels }
    }
}

/// How many seeds' URLs a process keeps for good (about 0.7 MB each).
pub const INTERNED_SEEDS: usize = 8;

/// The URLs of `seed`, made once per process and kept, so that the bids' strings are static:
/// copied, not counted, on every bid. `None` past [`INTERNED_SEEDS`] seeds (their generators
/// own their strings).
fn interned(seed: u64) -> Option<&'static Urls> {
    static KEPT: std::sync::Mutex<Vec<(u64, &'static Urls)>> = std::sync::Mutex::new(Vec::new());
    let mut kept = KEPT.lock().ok()?;
    if let Some((_, urls)) = kept.iter().find(|(s, _)| *s == seed) {
        return Some(urls);
    }
    if kept.len() >= INTERNED_SEEDS {
        return None;
    }
    let urls: &'static Urls = Box::leak(Box::new(Urls::of(seed)));
    kept.push((seed, urls));
    Some(urls)
}

/// Streams of draws, so a field's draws never repeat another's.
const EVENT_STREAM: u64 = 1;
const HOT_URL_STREAM: u64 = 2;
const CHANNEL_STREAM: u64 = 3;
const LETTER_STREAM: u64 = 4;

impl Generator {
    /// A generator of `config` (its proportions and rate must be positive: see
    /// [`NexmarkConfig::check`]).
    pub fn new(config: NexmarkConfig) -> Self {
        let seed = config.seed;
        let (hot_urls, channels) = match interned(seed) {
            Some(t) => (
                t.hot_urls.iter().map(|u| Text::new_static(u)).collect(),
                t.channels
                    .iter()
                    .map(|(c, u)| (Text::new_static(c), Text::new_static(u)))
                    .collect(),
            ),
            None => {
                let t = Urls::of(seed);
                (
                    t.hot_urls.iter().map(Text::from).collect(),
                    t.channels
                        .iter()
                        .map(|(c, u)| (Text::from(c), Text::from(u)))
                        .collect(),
                )
            }
        };
        let total = config
            .person_proportion
            .saturating_add(config.auction_proportion)
            .saturating_add(config.bid_proportion);
        Self {
            config,
            total: total.max(1),
            hot_urls,
            channels,
            letters: Letters::new(seed, LETTER_STREAM),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &NexmarkConfig {
        &self.config
    }

    /// When event `n` happens, epoch ms.
    pub fn timestamp(&self, n: u64) -> i64 {
        let offset = u128::from(n) * 1000 / u128::from(self.config.rate.max(1));
        self.config
            .base_time
            .saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    /// The last person id (base 0) as of event `n`: `n`'s own if it is a person.
    pub fn last_person(&self, n: u64) -> i64 {
        let c = &self.config;
        let (epoch, offset) = (n / self.total, n % self.total);
        let offset = offset.min(c.person_proportion.saturating_sub(1));
        // Wraps only past 2^44 events at the largest proportions.
        epoch.wrapping_mul(c.person_proportion).wrapping_add(offset) as i64
    }

    /// The last auction id (base 0) as of event `n`: `n`'s own if it is an auction (-1 before
    /// the first).
    pub fn last_auction(&self, n: u64) -> i64 {
        let c = &self.config;
        let (epoch, offset) = ((n / self.total) as i64, n % self.total);
        let (epoch, offset) = if offset < c.person_proportion {
            (epoch - 1, c.auction_proportion.saturating_sub(1))
        } else if offset >= c.person_proportion + c.auction_proportion {
            (epoch, c.auction_proportion.saturating_sub(1))
        } else {
            (epoch, offset - c.person_proportion)
        };
        epoch
            .wrapping_mul(c.auction_proportion as i64)
            .wrapping_add(offset as i64)
    }

    /// A person among the active ones and a few ahead (base 0).
    fn some_person(&self, n: u64, rng: &mut Rng) -> i64 {
        let people = self.last_person(n) + 1;
        let active = people.min(NUM_ACTIVE_PEOPLE as i64);
        people - active + rng.below(active as u64 + PERSON_ID_LEAD) as i64
    }

    /// An auction among those likely in flight and a few ahead (base 0).
    fn some_auction(&self, n: u64, rng: &mut Rng) -> i64 {
        let last = self.last_auction(n).max(0);
        let first = (last - NUM_IN_FLIGHT_AUCTIONS as i64).max(0);
        first + rng.below((last - first) as u64 + 1 + AUCTION_ID_LEAD) as i64
    }

    /// What event `n` is, without making it: 0 a person, 1 an auction, 2 a bid (as
    /// [`Event::kind`]).
    pub fn kind(&self, n: u64) -> i64 {
        let offset = n % self.total;
        let c = &self.config;
        if offset < c.person_proportion {
            0
        } else if offset < c.person_proportion + c.auction_proportion {
            1
        } else {
            2
        }
    }

    /// Event `n`.
    pub fn event(&self, n: u64) -> Event {
        self.event_with(n, Fields::ALL)
    }

    /// Event `n` with only the strings and prices `fields` names: the others are drawn but
    /// not made (empty strings, prices 0), so the fields made are [`Generator::event`]'s.
    pub fn event_with(&self, n: u64, fields: Fields) -> Event {
        let mut rng = Rng::new(self.config.seed, EVENT_STREAM, n);
        let ts = self.timestamp(n);
        match self.kind(n) {
            0 => Event::Person(self.person(n, ts, &mut rng, fields.person)),
            1 => Event::Auction(self.auction(n, ts, &mut rng, fields.auction)),
            _ => Event::Bid(self.bid(n, ts, &mut rng, fields.bid)),
        }
    }

    fn person(&self, n: u64, ts: i64, rng: &mut Rng, want: u32) -> Person {
        let (first, last) = (rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
        let name = made(want, 1, || joined(&[first, " ", last]));
        let (mut user, mut host) = ([0; BUF], [0; BUF]);
        let user = rng.letters(7, b' ', &mut user);
        let host = rng.letters(5, b' ', &mut host);
        let email_address = made(want, 2, || joined(&[user, "@", host, ".com"]));
        let email_len = user.len() + 1 + host.len() + 4;
        let mut card = [b' '; 19];
        for group in card.chunks_mut(5) {
            let mut d = rng.below(10_000);
            for c in group[..4].iter_mut().rev() {
                *c = b'0' + (d % 10) as u8;
                d /= 10;
            }
        }
        let credit_card = made(want, 3, || {
            Text::new(std::str::from_utf8(&card).unwrap_or_default())
        });
        let city = Text::new_inline(rng.pick(&CITIES));
        let state = Text::new_inline(rng.pick(&STATES));
        let size =
            8 + first.len() + 1 + last.len() + email_len + card.len() + city.len() + state.len();
        Person {
            id: self.last_person(n) + FIRST_PERSON_ID,
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: ts,
            extra: rng.extra(
                &self.letters,
                size,
                self.config.avg_person_bytes,
                wants(want, 7),
            ),
        }
    }

    fn auction(&self, n: u64, ts: i64, rng: &mut Rng, want: u32) -> Auction {
        let seller = if rng.below(self.config.hot_sellers_ratio) > 0 {
            (self.last_person(n) / HOT_GROUP) * HOT_GROUP
        } else {
            self.some_person(n, rng)
        };
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES) as i64;
        // The reserve is the initial bid and another price.
        let prices = wants(want, 3) || wants(want, 4);
        let initial_bid = if prices { rng.price() } else { skip(rng, 1) };
        // The time until the auction 100 auctions ahead opens: auctions last twice that at
        // most, one on average.
        let c = &self.config;
        let ahead = NUM_IN_FLIGHT_AUCTIONS * self.total / c.auction_proportion.max(1);
        let horizon = self.timestamp(n.saturating_add(ahead)).saturating_sub(ts);
        let expires = ts
            .saturating_add(1)
            .saturating_add(rng.below(horizon.saturating_mul(2).max(1) as u64) as i64);
        let mut buf = [0; BUF];
        let item = rng.letters(20, b' ', &mut buf);
        let item_len = item.len();
        let item_name = made(want, 1, || Text::new(item));
        let text = rng.letters(100, b' ', &mut buf);
        let text_len = text.len();
        let description = made(want, 2, || Text::new(text));
        let reserve = if prices {
            initial_bid + rng.price()
        } else {
            skip(rng, 1)
        };
        let size = 8 + item_len + text_len + 40;
        Auction {
            id: self.last_auction(n) + FIRST_AUCTION_ID,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: ts,
            expires,
            seller: seller + FIRST_PERSON_ID,
            category,
            extra: rng.extra(&self.letters, size, c.avg_auction_bytes, wants(want, 9)),
        }
    }

    fn bid(&self, n: u64, ts: i64, rng: &mut Rng, want: u32) -> Bid {
        let c = &self.config;
        let auction = if rng.below(c.hot_auction_ratio) > 0 {
            (self.last_auction(n) / HOT_GROUP) * HOT_GROUP
        } else {
            self.some_auction(n, rng)
        };
        let bidder = if rng.below(c.hot_bidders_ratio) > 0 {
            (self.last_person(n) / HOT_GROUP) * HOT_GROUP + 1
        } else {
            self.some_person(n, rng)
        };
        let price = if wants(want, 2) {
            rng.price()
        } else {
            skip(rng, 1)
        };
        let (channel, url) = if rng.below(2) > 0 {
            let i = rng.below(HOT_CHANNELS.len() as u64) as usize;
            (
                made(want, 3, || Text::new_inline(HOT_CHANNELS[i])),
                made(want, 4, || self.hot_urls[i].clone()),
            )
        } else {
            let i = rng.below(CHANNELS) as usize;
            let (channel, url) = &self.channels[i];
            (
                made(want, 3, || channel.clone()),
                made(want, 4, || url.clone()),
            )
        };
        Bid {
            auction: auction + FIRST_AUCTION_ID,
            bidder: bidder + FIRST_PERSON_ID,
            price,
            channel,
            url,
            date_time: ts,
            extra: rng.extra(&self.letters, 32, c.avg_bid_bytes, wants(want, 6)),
        }
    }
}

/// Which fields of each kind of event to make: bit `f` of a kind's mask is its `ROW`'s
/// field `f` in the benchmark's table (`ddl_gen.sql`), e.g. bit 2 of `bid` its `price`.
/// Only strings and prices are left out; numbers and times cost nothing to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    /// A person's fields.
    pub person: u32,
    /// An auction's fields.
    pub auction: u32,
    /// A bid's fields.
    pub bid: u32,
}

impl Fields {
    /// Every field.
    pub const ALL: Fields = Fields {
        person: u32::MAX,
        auction: u32::MAX,
        bid: u32::MAX,
    };
    /// No field.
    pub const NONE: Fields = Fields {
        person: 0,
        auction: 0,
        bid: 0,
    };
}

fn wants(mask: u32, field: u32) -> bool {
    mask & (1 << field) != 0
}

/// `make()` if `mask` wants `field`, else an empty string.
fn made(mask: u32, field: u32, make: impl FnOnce() -> Text) -> Text {
    if wants(mask, field) {
        make()
    } else {
        Text::default()
    }
}

/// `parts` joined, with no string on the heap where the result is short.
fn joined(parts: &[&str]) -> Text {
    let mut buf = [0u8; BUF];
    let mut len = 0;
    for p in parts {
        let Some(to) = buf.get_mut(len..len + p.len()) else {
            return Text::new(parts.concat());
        };
        to.copy_from_slice(p.as_bytes());
        len += p.len();
    }
    Text::new(std::str::from_utf8(&buf[..len]).unwrap_or_default())
}

/// Skips `draws` draws in place of a value not made (0).
fn skip(rng: &mut Rng, draws: u64) -> i64 {
    rng.skip(draws);
    0
}

#[cfg(test)]
#[path = "generator_tests.rs"]
mod tests;
