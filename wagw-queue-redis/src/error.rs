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
    /// The TLS handshake failed: the server's certificate is not signed by a trusted root,
    /// names another host or has expired, or the server refused the client's certificate.
    /// Trying again does not help until the configuration changes.
    #[error("TLS with Redis failed: {0}")]
    Tls(redis::RedisError),
}

impl RedisQueueError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Redis(_) => "REDIS_ERROR",
            Self::Lost => "REDIS_DATA_LOST",
            Self::UnexpectedReply(_) => "REDIS_UNEXPECTED_REPLY",
            Self::Tls(_) => "REDIS_TLS",
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
            Self::UnexpectedReply(_) | Self::Tls(_) => false,
        }
    }
}

impl From<RedisQueueError> for Error {
    fn from(e: RedisQueueError) -> Self {
        let transient = e.is_transient();
        Error::backend(format!("redis queue ({})", e.code()), transient, e)
    }
}

impl RedisQueueError {
    /// Sorts a Redis client error: a TLS handshake failure becomes [`Tls`](Self::Tls) (not
    /// transient), anything else [`Redis`](Self::Redis).
    pub(crate) fn from_redis(e: redis::RedisError) -> Self {
        if is_tls_failure(&e) {
            Self::Tls(e)
        } else {
            Self::Redis(e)
        }
    }
}

/// Whether rustls refused the handshake. tokio-rustls reports it as an I/O error wrapping a
/// `rustls::Error`, which the redis crate keeps behind an `Arc`; `io::Error::source` skips
/// the wrapped error, hence `get_ref`.
#[cfg(feature = "tls")]
fn is_tls_failure(e: &redis::RedisError) -> bool {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let err = match err.downcast_ref::<Shared>() {
            Some(shared) => &**shared as &(dyn std::error::Error + 'static),
            None => err,
        };
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(not(feature = "tls"))]
fn is_tls_failure(_: &redis::RedisError) -> bool {
    false
}

/// Shorthand for a reply that does not have the expected shape.
pub(crate) fn unexpected(what: impl Into<String>) -> Error {
    RedisQueueError::UnexpectedReply(what.into()).into()
}
