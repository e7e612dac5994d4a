//! What can go wrong talking to Redis, and how it maps onto [`wagw_core::Error`].

use wagw_core::Error;

/// Failures of the Redis queue. Every public method returns [`wagw_core::Error`]; these are
/// its [`Backend`](wagw_core::Error::Backend) sources, with machine-readable codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisQueueError {
    /// Redis answered with an error or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The queue's data was lost (Redis restarted without persistence, or the keys were
    /// deleted) and the call could not be carried out on the fresh queue.
    #[error("the queue's data in Redis was lost")]
    Lost,
    /// A script answered something this version does not understand.
    #[error("unexpected reply from Redis: {0}")]
    UnexpectedReply(String),
}

impl RedisQueueError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Redis(_) => "REDIS_ERROR",
            Self::Lost => "REDIS_DATA_LOST",
            Self::UnexpectedReply(_) => "REDIS_UNEXPECTED_REPLY",
        }
    }

    /// Whether the same call may succeed if tried again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
            }
            Self::Lost => true,
            Self::UnexpectedReply(_) => false,
        }
    }
}

impl From<RedisQueueError> for Error {
    fn from(e: RedisQueueError) -> Self {
        let transient = e.is_transient();
        Error::backend(format!("redis queue ({})", e.code()), transient, e)
    }
}

/// Shorthand for a reply that does not have the expected shape.
pub(crate) fn unexpected(what: impl Into<String>) -> Error {
    RedisQueueError::UnexpectedReply(what.into()).into()
}
