//! What a dispatch job carries: a reference to a stored message, never the message itself,
//! so the store stays the one source of truth and a job is a few dozen bytes.

use bytes::Bytes;

use crate::Result;
use crate::ids::{MessageId, TenantId};
use crate::model::message::MessageRecord;
use crate::queue::NewJob;

/// Bytes of an encoded job: two UUIDs.
const LEN: usize = 32;

/// A reference to the message a job sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchJob {
    /// The message's tenant.
    pub tenant: TenantId,
    /// The message.
    pub message: MessageId,
}

impl DispatchJob {
    /// The queue job that sends the stored message `id`, described by `message`: grouped by
    /// its channel, at its priority, deduplicated by the id so that a message is queued once.
    pub fn new_job(message: &MessageRecord, id: MessageId, max_attempts: u32) -> NewJob {
        let job = Self {
            tenant: message.tenant_id,
            message: id,
        };
        NewJob::new(message.channel_id.to_string(), job.encode())
            .priority(message.priority.as_u8())
            .dedup_key(id.to_string())
            .max_attempts(max_attempts)
    }

    /// The payload bytes.
    pub fn encode(&self) -> Bytes {
        let mut bytes = Vec::with_capacity(LEN);
        bytes.extend_from_slice(self.tenant.as_uuid().as_bytes());
        bytes.extend_from_slice(self.message.as_uuid().as_bytes());
        Bytes::from(bytes)
    }

    /// Reads a payload written by [`encode`](Self::encode).
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let bad = || crate::Error::invalid_input("job payload", "is not a dispatch job");
        if payload.len() != LEN {
            return Err(bad());
        }
        let uuid = |range: std::ops::Range<usize>| {
            uuid::Uuid::from_slice(&payload[range]).map_err(|_| bad())
        };
        Ok(Self {
            tenant: uuid(0..16)?.into(),
            message: uuid(16..32)?.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let job = DispatchJob {
            tenant: TenantId::new(),
            message: MessageId::new(),
        };
        assert_eq!(DispatchJob::decode(&job.encode()).expect("decode"), job);
        assert!(DispatchJob::decode(b"not a job").is_err());
    }
}
