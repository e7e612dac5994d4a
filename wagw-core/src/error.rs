//! The one error type of wagw-core, its machine-readable codes and its retry classification.

use std::time::Duration;

use crate::transport::TransportError;

/// Result alias used across wagw-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in wagw-core and the backends that implement its traits.
///
/// Every variant maps to a stable, machine-readable [`ErrorCode`] (for API responses and
/// metrics) and to a [`Retry`] classification (for queues and dispatchers).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A phone number could not be normalised to E.164.
    #[error("invalid phone number {input:?}: {reason}")]
    InvalidNumber {
        /// What the caller gave.
        input: String,
        /// Why it was rejected, in words a person can act on.
        reason: String,
    },
    /// Outbound content breaks one of Meta's rules (size limits, required fields, counts).
    #[error("invalid content at {field}: {reason}")]
    InvalidContent {
        /// Path of the offending field, for example `interactive.action.buttons[3].reply.title`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other input that fails validation (names, schedules, filters, CSV rows...).
    #[error("invalid input at {field}: {reason}")]
    InvalidInput {
        /// The offending field or location (a CSV line is named `line 12`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A template's parameters do not match what the template expects.
    #[error("template {template:?}: expected {expected} parameters in {component}, got {actual}")]
    TemplateParamMismatch {
        /// Template name.
        template: String,
        /// Component (`header`, `body`, `button 0` ...).
        component: String,
        /// Parameters the template declares.
        expected: usize,
        /// Parameters supplied.
        actual: usize,
    },
    /// An upload is larger than the limit for its media type.
    #[error("file of {size} bytes exceeds the {limit}-byte limit for {media_type}")]
    FileTooLarge {
        /// Size of the file in bytes.
        size: u64,
        /// Maximum allowed in bytes.
        limit: u64,
        /// MIME type of the file.
        media_type: String,
    },
    /// The entity does not exist for this tenant (also returned for other tenants' entities).
    #[error("{entity} {id} not found")]
    NotFound {
        /// Kind of entity (`channel`, `message`, `campaign` ...).
        entity: &'static str,
        /// Identifier the caller used.
        id: String,
    },
    /// A uniqueness rule or an optimistic-concurrency version check failed.
    #[error("conflict on {entity}: {reason}")]
    Conflict {
        /// Kind of entity.
        entity: &'static str,
        /// What conflicted.
        reason: String,
    },
    /// The operation is not allowed in the entity's current state.
    #[error("{entity} is {state}: cannot {action}")]
    InvalidState {
        /// Kind of entity.
        entity: &'static str,
        /// Its current state.
        state: String,
        /// What was attempted.
        action: &'static str,
    },
    /// A campaign is running and the change requires it to be stopped first.
    #[error("campaign {id} is in progress")]
    CampaignInProgress {
        /// The campaign's id.
        id: String,
    },
    /// The channel (WhatsApp number) cannot send right now.
    #[error("channel {id} is not connected: {reason}")]
    NotConnected {
        /// The channel's id.
        id: String,
        /// Why (pending registration, banned, disconnected ...).
        reason: String,
    },
    /// A plan quota would be exceeded.
    #[error("quota exceeded for {resource}: limit {limit}")]
    QuotaExceeded {
        /// The counted resource (`messages_per_month`, `channels` ...).
        resource: String,
        /// The plan's limit.
        limit: u64,
    },
    /// A local rate limit refused the operation.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// When a retry may succeed.
        retry_after: Duration,
    },
    /// The caller is not authenticated or the credential is invalid, expired or revoked.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller is authenticated but lacks the role or scope.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The transport (Meta's Cloud API or a stand-in) failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A storage or queue backend failed.
    #[error("backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// Whether retrying the same call may succeed (connection lost, lock timeout ...).
        transient: bool,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// Machine-readable error codes, stable across releases, rendered in `SCREAMING_SNAKE_CASE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// See [`Error::InvalidNumber`].
    InvalidNumber,
    /// See [`Error::InvalidContent`].
    InvalidContent,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::TemplateParamMismatch`].
    TemplateParamMismatch,
    /// See [`Error::FileTooLarge`].
    FileTooLarge,
    /// See [`Error::NotFound`].
    NotFound,
    /// [`Error::NotFound`] for a channel.
    ChannelNotFound,
    /// [`Error::NotFound`] for a template.
    TemplateNotFound,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::InvalidState`].
    InvalidState,
    /// See [`Error::CampaignInProgress`].
    CampaignInProgress,
    /// See [`Error::NotConnected`].
    NotConnected,
    /// See [`Error::QuotaExceeded`].
    QuotaExceeded,
    /// See [`Error::RateLimited`], and transport throttling.
    RateLimited,
    /// See [`Error::Unauthorized`], and transport auth failures.
    Unauthorized,
    /// See [`Error::Forbidden`].
    Forbidden,
    /// A transport failure that may succeed later.
    TransportUnavailable,
    /// A transport failure that will not succeed as is.
    TransportRejected,
    /// See [`Error::Backend`].
    BackendError,
}

impl ErrorCode {
    /// The code as it appears in API responses, e.g. `INVALID_NUMBER`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidNumber => "INVALID_NUMBER",
            Self::InvalidContent => "INVALID_CONTENT",
            Self::InvalidInput => "INVALID_INPUT",
            Self::TemplateParamMismatch => "TEMPLATE_PARAM_MISMATCH",
            Self::FileTooLarge => "FILE_TOO_LARGE",
            Self::NotFound => "NOT_FOUND",
            Self::ChannelNotFound => "CHANNEL_NOT_FOUND",
            Self::TemplateNotFound => "TEMPLATE_NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::InvalidState => "INVALID_STATE",
            Self::CampaignInProgress => "CAMPAIGN_IN_PROGRESS",
            Self::NotConnected => "NOT_CONNECTED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::RateLimited => "RATE_LIMITED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::TransportUnavailable => "TRANSPORT_UNAVAILABLE",
            Self::TransportRejected => "TRANSPORT_REJECTED",
            Self::BackendError => "BACKEND_ERROR",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether and when an operation that failed should be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retry {
    /// Retrying the same request cannot succeed.
    Never,
    /// Retry with the caller's exponential backoff.
    Backoff,
    /// Retry no sooner than after this delay.
    After(Duration),
}

impl Error {
    /// The machine-readable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidNumber { .. } => ErrorCode::InvalidNumber,
            Self::InvalidContent { .. } => ErrorCode::InvalidContent,
            Self::InvalidInput { .. } => ErrorCode::InvalidInput,
            Self::TemplateParamMismatch { .. } => ErrorCode::TemplateParamMismatch,
            Self::FileTooLarge { .. } => ErrorCode::FileTooLarge,
            Self::NotFound {
                entity: "channel", ..
            } => ErrorCode::ChannelNotFound,
            Self::NotFound {
                entity: "template", ..
            } => ErrorCode::TemplateNotFound,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::InvalidState { .. } => ErrorCode::InvalidState,
            Self::CampaignInProgress { .. } => ErrorCode::CampaignInProgress,
            Self::NotConnected { .. } => ErrorCode::NotConnected,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Transport(e) => e.code(),
            Self::Backend { .. } => ErrorCode::BackendError,
        }
    }

    /// How a caller should retry after this error.
    pub fn retry(&self) -> Retry {
        match self {
            Self::RateLimited { retry_after } => Retry::After(*retry_after),
            Self::Transport(e) => e.retry(),
            Self::Backend {
                transient: true, ..
            } => Retry::Backoff,
            _ => Retry::Never,
        }
    }

    /// Shorthand for `self.retry() != Retry::Never`.
    pub fn is_retryable(&self) -> bool {
        self.retry() != Retry::Never
    }

    /// Builds [`Error::NotFound`].
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// Builds [`Error::Conflict`].
    pub fn conflict(entity: &'static str, reason: impl Into<String>) -> Self {
        Self::Conflict {
            entity,
            reason: reason.into(),
        }
    }

    /// Builds [`Error::InvalidContent`].
    pub fn invalid_content(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidContent {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds [`Error::InvalidInput`].
    pub fn invalid_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds [`Error::Backend`] from an underlying error.
    pub fn backend(
        message: impl Into<String>,
        transient: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            message: message.into(),
            transient,
            source: Some(source.into()),
        }
    }
}
