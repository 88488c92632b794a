use super::*;

fn generator() -> Generator {
    Generator::new(NexmarkConfig::default())
}

fn events(g: &Generator, n: u64) -> Vec<Event> {
    (0..n).map(|i| g.event(i)).collect()
}

/// The contiguous range of split `i` of `k` over `0..n` (one cut of the sequence; the sources
/// and the file writer deal it in blocks, which are such ranges too).
fn range(n: u64, k: u64, i: u64) -> std::ops::Range<u64> {
    super::super::split_range(n, k as usize, i as usize)
}

#[test]
fn kinds_follow_the_proportions_one_three_forty_six() {
    let g = generator();
    let mut counts = [0u64; 3];
    for e in events(&g, 50_000) {
        counts[e.kind() as usize] += 1;
    }
    assert_eq!(counts, [1000, 3000, 46_000]);
    assert!(matches!(g.event(0), Event::Person(_)));
    assert!(matches!(g.event(3), Event::Auction(_)));
    assert!(matches!(g.event(4), Event::Bid(_)));
    assert!(matches!(g.event(50), Event::Person(_)));
}

#[test]
fn a_seed_makes_the_same_events_and_another_seed_others() {
    let a = events(&generator(), 2000);
    assert_eq!(a, events(&generator(), 2000), "same seed, same events");
    let other = Generator::new(NexmarkConfig {
        seed: 7,
        ..NexmarkConfig::default()
    });
    let b = events(&other, 2000);
    assert_ne!(a, b);
    // Ids and times do not depend on the seed; the drawn fields do.
    assert_eq!(a[0].date_time(), b[0].date_time());
}

#[test]
fn any_split_of_the_sequence_makes_the_same_events_without_gaps_or_duplicates() {
    let n = 5_003;
    let whole = events(&generator(), n);
    for k in [1, 2, 3, 7] {
        let mut joined = Vec::new();
        let mut next = 0;
        for i in 0..k {
            let r = range(n, k, i);
            assert_eq!(
                r.start, next,
                "split {i} of {k} starts where the last ended"
            );
            next = r.end;
            // Each split builds its own generator, as each subtask does.
            let g = generator();
            joined.extend(r.map(|e| g.event(e)));
        }
        assert_eq!(next, n, "the splits cover the sequence");
        assert!(joined == whole, "splits of {k}: the same events");
    }
}

#[test]
fn ids_times_and_hot_keys_follow_the_model() {
    let g = generator();
    let n = 200_000;
    let (mut person, mut auction) = (FIRST_PERSON_ID, FIRST_AUCTION_ID);
    let (mut bids, mut hot_auction, mut hot_bidder) = (0u64, 0u64, 0u64);
    let (mut auctions, mut hot_seller) = (0u64, 0u64);
    let (mut hot_channel, mut channel_id, mut cold) = (0u64, 0u64, 0u64);
    let mut sizes = [(0usize, 0usize); 3];
    for i in 0..n {
        let e = g.event(i);
        assert_eq!(
            e.date_time(),
            DEFAULT_BASE_TIME + (i * 1000 / 10_000) as i64
        );
        let last_person = person - 1;
        let last_auction = auction - 1;
        match &e {
            Event::Person(p) => {
                assert_eq!(p.id, person, "people are numbered in order");
                person += 1;
                let size = 8
                    + p.name.len()
                    + p.email_address.len()
                    + p.credit_card.len()
                    + p.city.len()
                    + p.state.len()
                    + p.extra.len();
                sizes[0] = (sizes[0].0 + size, sizes[0].1 + 1);
                assert!(STATES.contains(&p.state.as_str()) && CITIES.contains(&p.city.as_str()));
                assert_eq!(p.credit_card.len(), 19, "{}", p.credit_card);
            }
            Event::Auction(a) => {
                assert_eq!(a.id, auction, "auctions are numbered in order");
                auction += 1;
                auctions += 1;
                assert!((10..15).contains(&a.category));
                assert!(a.expires > a.date_time && a.reserve >= a.initial_bid);
                let hot = (last_person - FIRST_PERSON_ID) / 100 * 100 + FIRST_PERSON_ID;
                if a.seller == hot {
                    hot_seller += 1;
                } else {
                    assert!(a.seller <= last_person + 10 && a.seller >= last_person - 1000);
                }
                let size = 8 + a.item_name.len() + a.description.len() + 40 + a.extra.len();
                sizes[1] = (sizes[1].0 + size, sizes[1].1 + 1);
            }
            Event::Bid(b) => {
                bids += 1;
                let hot = (last_auction - FIRST_AUCTION_ID) / 100 * 100 + FIRST_AUCTION_ID;
                if b.auction == hot {
                    hot_auction += 1;
                } else {
                    assert!(b.auction <= last_auction + 10 && b.auction >= last_auction - 100);
                }
                let hot = (last_person - FIRST_PERSON_ID) / 100 * 100 + FIRST_PERSON_ID + 1;
                if b.bidder == hot {
                    hot_bidder += 1;
                } else {
                    assert!(b.bidder <= last_person + 10 && b.bidder >= last_person - 1000);
                }
                if HOT_CHANNELS.contains(&b.channel.as_str()) {
                    hot_channel += 1;
                } else {
                    cold += 1;
                    assert!(b.channel.starts_with("channel-"), "{}", b.channel);
                    channel_id += u64::from(b.url.contains("&channel_id="));
                }
                assert!(b.url.starts_with("https://www.nexmark.com/"), "{}", b.url);
                assert!(b.price >= 100 && b.price <= 100_000_000, "{}", b.price);
                sizes[2] = (sizes[2].0 + 32 + b.extra.len(), sizes[2].1 + 1);
            }
        }
    }
    let share = |k: u64, of: u64| k as f64 / of as f64;
    // Hot choices: the hot key, plus the uniform choices that land on it by chance.
    assert!(
        (0.49..0.53).contains(&share(hot_auction, bids)),
        "{hot_auction}/{bids}"
    );
    assert!(
        (0.74..0.77).contains(&share(hot_bidder, bids)),
        "{hot_bidder}/{bids}"
    );
    assert!(
        (0.72..0.78).contains(&share(hot_seller, auctions)),
        "{hot_seller}/{auctions}"
    );
    assert!(
        (0.49..0.51).contains(&share(hot_channel, bids)),
        "{hot_channel}/{bids}"
    );
    assert!(
        (0.85..0.95).contains(&share(channel_id, cold)),
        "{channel_id}/{cold}"
    );
    for ((total, count), want) in sizes.into_iter().zip([200.0, 500.0, 100.0]) {
        let avg = total as f64 / count as f64;
        assert!(
            (avg - want).abs() < want * 0.1,
            "average size {avg}, want {want}"
        );
    }
}

#[test]
fn settings_that_cannot_work_are_refused() {
    assert!(NexmarkConfig::default().check().is_ok());
    let zero_rate = NexmarkConfig {
        rate: 0,
        ..NexmarkConfig::default()
    };
    assert!(zero_rate.check().is_err());
    let no_auctions = NexmarkConfig {
        auction_proportion: 0,
        ..NexmarkConfig::default()
    };
    assert!(no_auctions.check().is_err());
    let huge = NexmarkConfig {
        bid_proportion: u64::MAX,
        ..NexmarkConfig::default()
    };
    assert!(
        huge.check().is_err(),
        "a sum of proportions that would overflow"
    );
}
