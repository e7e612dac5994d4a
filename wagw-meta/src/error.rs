//! The error type of wagw-meta for webhooks, configuration and I/O.
//!
//! Calls made through [`Transport`](wagw_core::Transport) return
//! [`TransportError`](wagw_core::TransportError) instead, already classified for the
//! dispatcher; this type covers everything around it.

/// Boxed error source.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything outside a transport call that can go wrong in wagw-meta.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `X-Hub-Signature-256` header does not match the body (tampered body, wrong app
    /// secret, or a header without the `sha256=` prefix).
    #[error("invalid webhook signature")]
    InvalidSignature,
    /// Webhook verification was asked to use an empty (or blank) app secret: anyone can
    /// sign with an empty key, so nothing would be verified. A configuration error.
    #[error("the webhook app secret is empty; set the app's secret")]
    EmptyAppSecret,
    /// The request carries no `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    MissingSignature,
    /// The subscription handshake named the wrong verify token or mode.
    #[error("webhook verify token or mode does not match")]
    VerifyTokenMismatch,
    /// A webhook body (or another payload) is not what Meta sends.
    #[error("invalid payload: {reason}")]
    InvalidPayload {
        /// What is wrong with it.
        reason: String,
        /// The parse error, if any.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// A configuration value is invalid (base URL, version, timeout ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An HTTP client or server failed outside a transport call.
    #[error("http error: {message}")]
    Http {
        /// What failed.
        message: String,
        /// Whether retrying may succeed (connection refused, timeout ...).
        transient: bool,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// An I/O operation failed (binding a listener, reading a file ...).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A stable machine-readable code, e.g. `INVALID_SIGNATURE`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSignature => "INVALID_SIGNATURE",
            Self::MissingSignature => "MISSING_SIGNATURE",
            Self::EmptyAppSecret => "EMPTY_APP_SECRET",
            Self::VerifyTokenMismatch => "VERIFY_TOKEN_MISMATCH",
            Self::InvalidPayload { .. } => "INVALID_PAYLOAD",
            Self::Config(_) => "INVALID_CONFIG",
            Self::Http { .. } => "HTTP_ERROR",
            Self::Io(_) => "IO_ERROR",
        }
    }

    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http { transient, .. } => *transient,
            Self::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrInUse
            ),
            _ => false,
        }
    }

    /// Builds [`Error::InvalidPayload`] without a source.
    pub fn invalid_payload(reason: impl Into<String>) -> Self {
        Self::InvalidPayload {
            reason: reason.into(),
            source: None,
        }
    }

    /// Builds [`Error::Http`] from a message and an optional source.
    pub fn http(
        message: impl Into<String>,
        transient: bool,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Http {
            message: message.into(),
            transient,
            source,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::InvalidPayload {
            reason: e.to_string(),
            source: Some(e),
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        let transient = e.is_timeout() || e.is_connect() || e.is_request();
        Self::Http {
            message: e.to_string(),
            transient,
            source: Some(Box::new(e)),
        }
    }
}

impl From<Error> for wagw_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidSignature | Error::MissingSignature | Error::VerifyTokenMismatch => {
                wagw_core::Error::Unauthorized(e.to_string())
            }
            Error::InvalidPayload { reason, .. } => {
                wagw_core::Error::invalid_input("payload", reason)
            }
            Error::Config(reason) => wagw_core::Error::invalid_input("config", reason),
            Error::EmptyAppSecret => wagw_core::Error::invalid_input("app_secret", e.to_string()),
            other => {
                let transient = other.is_retryable();
                wagw_core::Error::backend(other.to_string(), transient, other)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_retry() {
        assert_eq!(Error::InvalidSignature.code(), "INVALID_SIGNATURE");
        assert!(!Error::MissingSignature.is_retryable());
        assert!(Error::http("down", true, None).is_retryable());
        let io = Error::from(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        assert_eq!(io.code(), "IO_ERROR");
        let core: wagw_core::Error = Error::VerifyTokenMismatch.into();
        assert_eq!(core.code(), wagw_core::ErrorCode::Unauthorized);
    }
}
