//! A buffer of records of one type, type-erased so that the runtime is not generic over user
//! types. Downcasting happens once per buffer, never per record.

use std::any::Any;
use std::fmt;

use crate::api::Data;
use crate::operators::OperatorError;

trait ErasedVec: Send {
    fn len(&self) -> usize;
    fn clone_box(&self) -> Box<dyn ErasedVec>;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    fn type_name(&self) -> &'static str;
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), rmp_serde::encode::Error>;
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
}

/// A buffer of records: a `Vec<T>` behind a type-erased box.
pub struct Batch {
    data: Box<dyn ErasedVec>,
}

impl Batch {
    /// Wraps a vector of records.
    pub fn new<T: Data>(records: Vec<T>) -> Self {
        Self {
            data: Box::new(records),
        }
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

    /// The records, if they are of type `T`. A mismatch is a wiring bug, reported as an error
    /// rather than a panic so that it fails the job, not the process.
    pub fn downcast<T: Data>(self) -> Result<Vec<T>, OperatorError> {
        let found = self.data.type_name();
        self.data
            .into_any()
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
        }
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Batch<{}>[{}]", self.type_name(), self.len())
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
}
