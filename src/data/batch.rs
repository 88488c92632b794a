//! A buffer of records of one type, type-erased so that the runtime is not generic over user
//! types. Downcasting happens once per buffer, never per record.
//!
//! ## Size
//! A buffer is bounded twice ([`BufferBound`]): at `buffer_size` records and at about
//! `buffer_bytes` serialized bytes, whichever comes first. Records are not serialized to be
//! measured: [`Batch::estimate_record_bytes`] serializes a few records spread over a buffer
//! ([`SAMPLED_RECORDS`]) into a byte counter, once per buffer, and the routers cut their buffers
//! at the record count that estimate allows. A buffer of records of very uneven size can so
//! come out larger than the bound; what must hold exactly (the data frame limit) is checked
//! where a buffer is serialized.
//!
//! ## Timestamps
//! Records may carry event-time timestamps, as a column beside the records (`timestamps[i]` is
//! record `i`'s). A buffer without the column is the common, untimed case and costs nothing
//! extra. Where timed and untimed records meet in one buffer, the untimed ones get
//! [`NO_TIMESTAMP`] (Flink's `Long.MIN_VALUE` marker).

use std::any::Any;
use std::fmt;

use crate::data::Data;
use crate::data::OperatorError;

trait ErasedVec: Send {
    fn len(&self) -> usize;
    fn clone_box(&self) -> Box<dyn ErasedVec>;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    fn type_name(&self) -> &'static str;
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error>;
    fn sampled_bytes(&self, samples: usize) -> usize;
    fn split_off(&mut self, at: usize) -> Box<dyn ErasedVec>;
}

/// Counts the bytes written to it and keeps none.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<T: Data> ErasedVec for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn clone_box(&self) -> Box<dyn ErasedVec> {
        Box::new(self.clone())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error> {
        rmp_serde::encode::write(out, self)
    }
    fn sampled_bytes(&self, samples: usize) -> usize {
        let (n, k) = (self.len(), samples.min(self.len()));
        let mut count = ByteCount(0);
        for i in 0..k {
            // A record that does not serialize counts what it wrote; sending it fails later,
            // with the codec's error.
            let _ = rmp_serde::encode::write(&mut count, &self[i * n / k]);
        }
        count.0.checked_div(k).unwrap_or(0)
    }
    fn split_off(&mut self, at: usize) -> Box<dyn ErasedVec> {
        Box::new(Vec::split_off(self, at.min(self.len())))
    }
}

/// Records [`Batch::estimate_record_bytes`] serializes to estimate a buffer's size.
pub const SAMPLED_RECORDS: usize = 4;

/// How large a buffer may grow: `records` records or about `bytes` serialized bytes, whichever
/// comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferBound {
    /// The most records in a buffer.
    pub records: usize,
    /// About the most serialized bytes in a buffer (a single larger record still makes one).
    pub bytes: usize,
}

impl BufferBound {
    /// A bound of `records` records and `bytes` bytes (each at least 1).
    pub fn new(records: usize, bytes: usize) -> Self {
        Self {
            records: records.max(1),
            bytes: bytes.max(1),
        }
    }

    /// How many records of about `record_bytes` serialized bytes each fill a buffer: at least
    /// one, at most `records`.
    #[inline]
    pub fn records_for(&self, record_bytes: usize) -> usize {
        (self.bytes / record_bytes.max(1)).clamp(1, self.records)
    }
}

/// The timestamp of a record that has none.
pub const NO_TIMESTAMP: i64 = i64::MIN;

/// A buffer of records: a `Vec<T>` behind a type-erased box, with an optional timestamp column.
pub struct Batch {
    data: Box<dyn ErasedVec>,
    timestamps: Option<Vec<i64>>,
}

impl Batch {
    /// Wraps a vector of records without timestamps.
    pub fn new<T: Data>(records: Vec<T>) -> Self {
        Self {
            data: Box::new(records),
            timestamps: None,
        }
    }

    /// Wraps records and their timestamps (`timestamps[i]` is record `i`'s). A column of the
    /// wrong length is cut or padded with [`NO_TIMESTAMP`].
    pub fn timed<T: Data>(records: Vec<T>, mut timestamps: Vec<i64>) -> Self {
        timestamps.resize(records.len(), NO_TIMESTAMP);
        Self {
            data: Box::new(records),
            timestamps: Some(timestamps),
        }
    }

    /// Wraps records with a timestamp column if there is one.
    pub fn with_timestamps<T: Data>(records: Vec<T>, timestamps: Option<Vec<i64>>) -> Self {
        match timestamps {
            Some(ts) => Self::timed(records, ts),
            None => Self::new(records),
        }
    }

    /// The records' timestamps, if they carry any.
    pub fn timestamps(&self) -> Option<&[i64]> {
        self.timestamps.as_deref()
    }

    /// Replaces the timestamp column (a column of the wrong length is cut or padded).
    pub fn set_timestamps(&mut self, timestamps: Option<Vec<i64>>) {
        self.timestamps = timestamps.map(|mut ts| {
            ts.resize(self.len(), NO_TIMESTAMP);
            ts
        });
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the buffer holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of the record type, for error messages.
    pub fn type_name(&self) -> &'static str {
        self.data.type_name()
    }

    /// About how many bytes one record takes serialized, timestamp included (at least 1):
    /// the mean of [`SAMPLED_RECORDS`] records spread over the buffer, counted without being
    /// kept. 0 for an empty buffer.
    pub fn estimate_record_bytes(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        let timestamp = if self.timestamps.is_some() { 8 } else { 0 };
        (self.data.sampled_bytes(SAMPLED_RECORDS) + timestamp).max(1)
    }

    /// Cuts the buffer into buffers of at most `records` records each, in order (the last may
    /// be shorter). Each record moves once.
    pub fn split_into(mut self, records: usize) -> Vec<Batch> {
        let records = records.max(1);
        let mut tails = Vec::with_capacity(self.len().div_ceil(records));
        while self.len() > records {
            let at = (self.len() - 1) / records * records;
            let timestamps = self.timestamps.as_mut().map(|ts| ts.split_off(at));
            tails.push(Batch {
                data: self.data.split_off(at),
                timestamps,
            });
        }
        tails.push(self);
        tails.reverse();
        tails
    }

    /// Appends the records' serialized form (rmp-serde) to `out`, for a channel that crosses
    /// processes.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), OperatorError> {
        self.data
            .encode(out)
            .map_err(|e| OperatorError::Codec(format!("{}: {e}", self.type_name())))
    }

    /// Decodes records of type `T` written by [`Batch::encode_into`].
    pub fn decode<T: Data>(bytes: &[u8]) -> Result<Batch, OperatorError> {
        rmp_serde::from_slice::<Vec<T>>(bytes)
            .map(Batch::new)
            .map_err(|e| OperatorError::Codec(format!("{}: {e}", std::any::type_name::<T>())))
    }

    /// The records and their timestamp column, if they are of type `T`.
    pub fn into_parts<T: Data>(self) -> Result<(Vec<T>, Option<Vec<i64>>), OperatorError> {
        let Batch { data, timestamps } = self;
        Ok((Batch::downcast_data(data)?, timestamps))
    }

    /// The records, if they are of type `T` (their timestamps are dropped). A mismatch is a
    /// wiring bug, reported as an error rather than a panic so that it fails the job, not the
    /// process.
    pub fn downcast<T: Data>(self) -> Result<Vec<T>, OperatorError> {
        Batch::downcast_data(self.data)
    }

    fn downcast_data<T: Data>(data: Box<dyn ErasedVec>) -> Result<Vec<T>, OperatorError> {
        let found = data.type_name();
        data.into_any()
            .downcast::<Vec<T>>()
            .map(|v| *v)
            .map_err(|_| OperatorError::TypeMismatch {
                expected: std::any::type_name::<T>().to_string(),
                found: found.to_string(),
            })
    }
}

impl Clone for Batch {
    fn clone(&self) -> Self {
        Self {
            data: self.data.clone_box(),
            timestamps: self.timestamps.clone(),
        }
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timed = if self.timestamps.is_some() {
            ", timed"
        } else {
            ""
        };
        write!(f, "Batch<{}>[{}{timed}]", self.type_name(), self.len())
    }
}

/// Gathers records into a buffer, with a timestamp column once any record has a timestamp.
pub struct BatchBuilder<T> {
    records: Vec<T>,
    /// Empty while no gathered record has a timestamp, else one per record.
    timestamps: Vec<i64>,
}

impl<T: Data> Default for BatchBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Data> BatchBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            records: Vec::new(),
            timestamps: Vec::new(),
        }
    }

    /// Adds a record, with its timestamp if it has one.
    #[inline]
    pub fn push(&mut self, record: T, timestamp: Option<i64>) {
        match timestamp {
            Some(t) => {
                if self.timestamps.len() < self.records.len() {
                    self.timestamps.resize(self.records.len(), NO_TIMESTAMP);
                }
                self.timestamps.push(t);
            }
            None if !self.timestamps.is_empty() => self.timestamps.push(NO_TIMESTAMP),
            None => {}
        }
        self.records.push(record);
    }

    /// Adds records, with their timestamps if they have them.
    pub fn extend(&mut self, records: Vec<T>, timestamps: Option<Vec<i64>>) {
        match timestamps {
            Some(ts) => {
                self.timestamps.resize(self.records.len(), NO_TIMESTAMP);
                self.timestamps.extend(ts);
            }
            None if !self.timestamps.is_empty() => {
                self.timestamps
                    .resize(self.records.len() + records.len(), NO_TIMESTAMP);
            }
            None => {}
        }
        self.records.extend(records);
    }

    /// Records gathered.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is gathered.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Room for the records of the buffer being gathered.
    pub fn capacity(&self) -> usize {
        self.records.capacity()
    }

    /// Reserves room for exactly `n` more records.
    pub fn reserve_exact(&mut self, n: usize) {
        self.records.reserve_exact(n);
    }

    /// The gathered records as a buffer; the next buffer gets `capacity` reserved.
    pub fn take(&mut self, capacity: usize) -> Batch {
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(capacity));
        if self.timestamps.is_empty() {
            Batch::new(records)
        } else {
            let ts = std::mem::replace(&mut self.timestamps, Vec::with_capacity(capacity));
            Batch::timed(records, ts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downcast_round_trip() {
        let b = Batch::new(vec![(1u64, 2u64), (3, 4)]);
        assert_eq!(b.len(), 2);
        let c = b.clone();
        assert_eq!(b.downcast::<(u64, u64)>().ok(), Some(vec![(1, 2), (3, 4)]));
        assert!(c.downcast::<String>().is_err());
    }

    #[test]
    fn timestamp_column_follows_the_records() {
        let b = Batch::timed(vec![1u8, 2, 3], vec![10, 20]);
        assert_eq!(b.timestamps(), Some(&[10, 20, NO_TIMESTAMP][..]));
        let (records, ts) = b.clone().into_parts::<u8>().expect("u8");
        assert_eq!(
            (records, ts),
            (vec![1, 2, 3], Some(vec![10, 20, NO_TIMESTAMP]))
        );
        assert_eq!(Batch::new(vec![1u8]).timestamps(), None);
        assert_eq!(format!("{b:?}"), "Batch<u8>[3, timed]");
    }

    #[test]
    fn split_keeps_order_and_timestamps() {
        let b = Batch::timed((0..7u32).collect(), (0..7).map(|t| t * 10).collect());
        let parts = b.split_into(3);
        let lens: Vec<usize> = parts.iter().map(Batch::len).collect();
        assert_eq!(lens, [3, 3, 1]);
        let (mut records, mut ts) = (Vec::new(), Vec::new());
        for p in parts {
            let (r, t) = p.into_parts::<u32>().expect("u32");
            records.extend(r);
            ts.extend(t.expect("timed"));
        }
        assert_eq!(records, (0..7).collect::<Vec<u32>>());
        assert_eq!(ts, (0..7).map(|t| t * 10).collect::<Vec<i64>>());
        assert_eq!(Batch::new(vec![1u8]).split_into(0).len(), 1);
    }

    #[test]
    fn record_size_estimate_is_close_for_even_records_and_bounds_buffers() {
        let strings: Vec<String> = (0..100).map(|i| format!("{i:0>100}")).collect();
        let b = Batch::new(strings.clone());
        let mut exact = Vec::new();
        b.encode_into(&mut exact).expect("encode");
        let estimate = b.estimate_record_bytes();
        assert!(
            estimate * 100 <= exact.len() && exact.len() <= estimate * 100 + 5,
            "{estimate}"
        );
        assert_eq!(
            Batch::timed(strings, vec![1; 100]).estimate_record_bytes(),
            estimate + 8
        );
        assert_eq!(Batch::new(Vec::<u8>::new()).estimate_record_bytes(), 0);

        let bound = BufferBound::new(4096, 32 * 1024);
        assert_eq!(bound.records_for(0), 4096);
        assert_eq!(bound.records_for(4), 4096);
        assert_eq!(bound.records_for(100), 327);
        assert_eq!(bound.records_for(10 << 20), 1);
    }
}
