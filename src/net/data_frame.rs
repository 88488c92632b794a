//! The data frames of a channel between processes: `[kind u8][backlog u32 BE][payload]`
//! (the kinds are listed in [`crate::net::remote`]), and how the consumer decodes one into its
//! element.

use thiserror::Error;

use crate::data::{OperatorError, StreamElement, WatermarkStatus};
use crate::graph::partitioner::BatchDecoder;
use crate::net::frame::FrameError;

pub(crate) const KIND_RECORDS: u8 = 0;
pub(crate) const KIND_END: u8 = 1;
pub(crate) const KIND_WATERMARK: u8 = 2;
/// A record buffer with timestamps: `u32` count, that many `i64` (big endian), the records.
pub(crate) const KIND_TIMED_RECORDS: u8 = 3;
/// A watermark status: one byte, 0 active, 1 idle.
pub(crate) const KIND_STATUS: u8 = 4;
/// A checkpoint barrier (rmp-serde).
pub(crate) const KIND_BARRIER: u8 = 5;
/// The producer failed: its cause (UTF-8), the stream's last frame. Its backlog field says
/// whether a restart can cure the cause ([`CAUSE_NOT_RECOVERABLE`] set when not).
pub(crate) const KIND_PRODUCER_FAILED: u8 = 6;
/// In a [`KIND_PRODUCER_FAILED`] frame's backlog field: no restart can cure the cause.
pub(crate) const CAUSE_NOT_RECOVERABLE: u32 = 1;
/// The most bytes of a producer's failure cause sent to its consumers.
pub(crate) const FAILURE_CAUSE_BYTES: usize = 16 * 1024;
/// Why a data frame does not decode (the channel then fails with it).
#[derive(Debug, Error)]
pub enum DataFrameError {
    /// Shorter than its header.
    #[error("a data frame of {0} bytes is too short")]
    TooShort(usize),
    /// A kind no producer sends.
    #[error("unknown data frame kind {0}")]
    UnknownKind(u8),
    /// A timed buffer's timestamps are cut short.
    #[error("a timed buffer of {0} bytes is cut short")]
    TimestampsCut(usize),
    /// A timed buffer's records and timestamps differ in number.
    #[error("a timed buffer of {records} records carries {timestamps} timestamps")]
    TimestampCount {
        /// Records decoded.
        records: usize,
        /// Timestamps carried.
        timestamps: usize,
    },
    /// A watermark frame of the wrong size.
    #[error("a watermark frame carries {0} bytes, not 8")]
    Watermark(usize),
    /// A watermark status frame that is not one byte, 0 or 1.
    #[error("a watermark status frame must carry one byte, 0 or 1")]
    Status,
    /// A barrier that does not decode.
    #[error("a barrier frame does not decode: {0}")]
    Barrier(FrameError),
    /// Records that do not decode.
    #[error("{0}")]
    Records(#[from] OperatorError),
}

/// Decodes one data frame into its element and the producer's backlog.
pub fn decode_frame(
    frame: &[u8],
    decode: BatchDecoder,
) -> Result<(StreamElement, u32), DataFrameError> {
    let (kind, backlog, payload) = match frame {
        [kind, b0, b1, b2, b3, payload @ ..] => {
            (*kind, u32::from_be_bytes([*b0, *b1, *b2, *b3]), payload)
        }
        _ => return Err(DataFrameError::TooShort(frame.len())),
    };
    let element = match kind {
        KIND_RECORDS => StreamElement::Records(decode(payload)?),
        KIND_TIMED_RECORDS => {
            let (ts, records) = split_timestamps(payload)?;
            let mut batch = decode(records)?;
            if batch.len() != ts.len() {
                return Err(DataFrameError::TimestampCount {
                    records: batch.len(),
                    timestamps: ts.len(),
                });
            }
            batch.set_timestamps(Some(ts));
            StreamElement::Records(batch)
        }
        KIND_END => StreamElement::EndOfPartition,
        KIND_WATERMARK => match <[u8; 8]>::try_from(payload) {
            Ok(b) => StreamElement::Watermark(i64::from_be_bytes(b)),
            Err(_) => return Err(DataFrameError::Watermark(payload.len())),
        },
        KIND_STATUS => match payload {
            [0] => StreamElement::Status(WatermarkStatus::Active),
            [1] => StreamElement::Status(WatermarkStatus::Idle),
            _ => return Err(DataFrameError::Status),
        },
        KIND_BARRIER => StreamElement::Barrier(
            crate::net::frame::decode(payload).map_err(DataFrameError::Barrier)?,
        ),
        other => return Err(DataFrameError::UnknownKind(other)),
    };
    Ok((element, backlog))
}

/// Splits a timed buffer's payload into its timestamps and the serialized records.
fn split_timestamps(payload: &[u8]) -> Result<(Vec<i64>, &[u8]), DataFrameError> {
    let bad = || DataFrameError::TimestampsCut(payload.len());
    let (count, rest) = payload.split_first_chunk::<4>().ok_or_else(bad)?;
    let n = u32::from_be_bytes(*count) as usize;
    let bytes = n
        .checked_mul(8)
        .filter(|b| *b <= rest.len())
        .ok_or_else(bad)?;
    let (ts, records) = rest.split_at(bytes);
    let ts = ts
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            i64::from_be_bytes(b)
        })
        .collect();
    Ok((ts, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_payload_splits_and_short_ones_are_refused() {
        let mut p = 2u32.to_be_bytes().to_vec();
        p.extend_from_slice(&(-5i64).to_be_bytes());
        p.extend_from_slice(&7i64.to_be_bytes());
        p.extend_from_slice(b"rest");
        let (ts, rest) = split_timestamps(&p).expect("well formed");
        assert_eq!((ts, rest), (vec![-5, 7], &b"rest"[..]));
        assert!(split_timestamps(&p[..10]).is_err());
        assert!(split_timestamps(&[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(split_timestamps(&[1]).is_err());
    }
}
