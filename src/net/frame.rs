//! Length-prefixed frames on QUIC streams: a 4-byte big-endian length, then that many bytes of
//! rmp-serde. A length above the limit, a stream that ends inside a frame, or bytes that do not
//! decode as the expected message are errors that close the stream (and the caller closes the
//! connection); none of them can panic or make the reader allocate more than the limit.

use quinn::{ReadExactError, RecvStream, SendStream};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame above the limit.
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// The stream failed.
    #[error("stream: {0}")]
    Stream(String),
    /// The bytes are not a valid message.
    #[error("undecodable message: {0}")]
    Decode(String),
    /// A message could not be encoded.
    #[error("unencodable message: {0}")]
    Encode(String),
}

/// Writes one frame holding `payload`.
pub async fn write_frame(send: &mut SendStream, payload: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        len: payload.len(),
        limit: u32::MAX as usize,
    })?;
    send.write_all(&len.to_be_bytes())
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))?;
    send.write_all(payload)
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))
}

/// Encodes `msg` and writes it as one frame.
pub async fn write_message<M: Serialize>(send: &mut SendStream, msg: &M) -> Result<(), FrameError> {
    let bytes = encode(msg)?;
    write_frame(send, &bytes).await
}

/// Encodes a message (structs as maps, so fields can be added compatibly).
pub fn encode<M: Serialize>(msg: &M) -> Result<Vec<u8>, FrameError> {
    rmp_serde::to_vec_named(msg).map_err(|e| FrameError::Encode(e.to_string()))
}

/// Decodes a message.
pub fn decode<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, FrameError> {
    rmp_serde::from_slice(bytes).map_err(|e| FrameError::Decode(e.to_string()))
}

/// Reads one frame; `None` when the stream ended cleanly between frames.
pub async fn read_frame(
    recv: &mut RecvStream,
    limit: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(ReadExactError::FinishedEarly(_)) => return Err(FrameError::Truncated),
        Err(ReadExactError::ReadError(e)) => return Err(FrameError::Stream(e.to_string())),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    let mut buf = vec![0u8; len];
    match recv.read_exact(&mut buf).await {
        Ok(()) => Ok(Some(buf)),
        Err(ReadExactError::FinishedEarly(_)) => Err(FrameError::Truncated),
        Err(ReadExactError::ReadError(e)) => Err(FrameError::Stream(e.to_string())),
    }
}

/// Reads and decodes one message; `None` at a clean end of stream.
pub async fn read_message<M: DeserializeOwned>(
    recv: &mut RecvStream,
    limit: usize,
) -> Result<Option<M>, FrameError> {
    match read_frame(recv, limit).await? {
        Some(bytes) => decode(&bytes).map(Some),
        None => Ok(None),
    }
}
