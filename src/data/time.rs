//! Event time as every layer sees it: timestamps, the watermark bounds and a stream's
//! watermark status. Generating and combining watermarks is [`crate::eventtime`]'s.

/// Milliseconds since the epoch (event time) — Flink's `long` timestamps.
pub type Timestamp = i64;

/// The watermark before any was emitted.
pub const MIN_WATERMARK: Timestamp = i64::MIN;

/// The watermark a bounded input ends with: every event-time window and timer fires.
pub const MAX_WATERMARK: Timestamp = i64::MAX;

/// Whether a stream may hold back event time (Flink's `WatermarkStatus`): an idle stream's
/// watermark is left out of the minimum downstream until it is active again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkStatus {
    /// The stream has records and its watermark counts.
    Active,
    /// The stream has no records for now; its watermark does not hold others back.
    Idle,
}
