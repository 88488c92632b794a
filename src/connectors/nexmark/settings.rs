//! The generator's settings: the reference connector's options, Rill's seed and base time,
//! and the limits they are checked against.

use super::generator::DEFAULT_BASE_TIME;

/// The generator's settings (the reference connector's options, and Rill's seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexmarkConfig {
    /// Seeds every field.
    pub seed: u64,
    /// Events per second of event time (`first-event.rate`).
    pub rate: u64,
    /// When event 0 happens, epoch milliseconds.
    pub base_time: i64,
    /// `person.proportion`.
    pub person_proportion: u64,
    /// `auction.proportion`.
    pub auction_proportion: u64,
    /// `bid.proportion`.
    pub bid_proportion: u64,
    /// `bid.hot-ratio.auctions`.
    pub hot_auction_ratio: u64,
    /// `bid.hot-ratio.bidders`.
    pub hot_bidders_ratio: u64,
    /// `auction.hot-ratio.sellers`.
    pub hot_sellers_ratio: u64,
    /// `person.avg-size`, bytes.
    pub avg_person_bytes: usize,
    /// `auction.avg-size`, bytes.
    pub avg_auction_bytes: usize,
    /// `bid.avg-size`, bytes.
    pub avg_bid_bytes: usize,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            rate: 10_000,
            base_time: DEFAULT_BASE_TIME,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            hot_auction_ratio: 2,
            hot_bidders_ratio: 4,
            hot_sellers_ratio: 4,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
        }
    }
}

/// The largest proportion, hot ratio or average size (bytes) the generator takes.
const LIMIT: u64 = 1 << 20;

/// Settings the generator cannot follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No events per second.
    #[error("the event rate must be at least 1 event per second")]
    ZeroRate,
    /// No people or no auctions.
    #[error("the person and auction proportions must be at least 1")]
    ZeroProportion,
    /// A hot ratio of 0.
    #[error("the hot ratios must be at least 1")]
    ZeroRatio,
    /// A proportion, ratio or size past 2^20.
    #[error("the proportions, hot ratios and average sizes (bytes) must be at most {LIMIT}")]
    TooLarge,
}

impl NexmarkConfig {
    /// Refuses settings the generator cannot follow.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.rate == 0 {
            return Err(ConfigError::ZeroRate);
        }
        if self.person_proportion == 0 || self.auction_proportion == 0 {
            return Err(ConfigError::ZeroProportion);
        }
        let ratios = [
            self.hot_auction_ratio,
            self.hot_bidders_ratio,
            self.hot_sellers_ratio,
        ];
        if ratios.contains(&0) {
            return Err(ConfigError::ZeroRatio);
        }
        let proportions = [
            self.person_proportion,
            self.auction_proportion,
            self.bid_proportion,
        ];
        let sizes = [
            self.avg_person_bytes,
            self.avg_auction_bytes,
            self.avg_bid_bytes,
        ]
        .map(|b| b as u64);
        if proportions
            .iter()
            .chain(&ratios)
            .chain(&sizes)
            .any(|v| *v > LIMIT)
        {
            return Err(ConfigError::TooLarge);
        }
        Ok(())
    }
}
