//! The [`Transport`] trait: how messages leave wagw, and what the far side answered.
//!
//! Meta's Cloud API is the production transport (crate `wagw-meta`); the testkit ships a
//! recording [`StubTransport`](crate::testkit::StubTransport).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::content::OutboundMessage;
use crate::error::{ErrorCode, Retry};
use crate::model::channel::Channel;
use crate::model::template::{TemplateDraft, TemplateStatus};

/// Sends messages and manages a channel's assets (media, templates, registration).
///
/// Every call names the [`Channel`] it acts for, so one transport serves many numbers and
/// many tenants. Implementations are cheap to share (`Arc<dyn Transport>`).
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// What this transport can do.
    fn capabilities(&self) -> Capabilities;

    /// Sends one message; success means the far side *accepted* it, not that it was delivered.
    async fn send(
        &self,
        channel: &Channel,
        message: &OutboundMessage,
    ) -> Result<SendReceipt, TransportError>;

    /// Marks an inbound message as read, optionally showing a typing indicator.
    async fn mark_read(
        &self,
        channel: &Channel,
        wamid: &str,
        typing: bool,
    ) -> Result<(), TransportError>;

    /// Uploads media and returns its id.
    async fn upload_media(
        &self,
        channel: &Channel,
        media: MediaUpload,
    ) -> Result<String, TransportError>;

    /// Looks up uploaded media.
    async fn get_media(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> Result<MediaInfo, TransportError>;

    /// Downloads media bytes.
    async fn download_media(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> Result<Bytes, TransportError>;

    /// Deletes uploaded media.
    async fn delete_media(&self, channel: &Channel, media_id: &str) -> Result<(), TransportError>;

    /// Submits a template for approval; returns its remote id and initial status.
    async fn create_template(
        &self,
        channel: &Channel,
        template: &TemplateDraft,
    ) -> Result<RemoteTemplate, TransportError>;

    /// Lists templates of the channel's business account, one page at a time.
    async fn list_templates(
        &self,
        channel: &Channel,
        after: Option<&str>,
    ) -> Result<TemplatePage, TransportError>;

    /// Fetches one template by its remote id.
    async fn get_template(
        &self,
        channel: &Channel,
        remote_id: &str,
    ) -> Result<RemoteTemplate, TransportError>;

    /// Deletes a template (all languages) by name.
    async fn delete_template(&self, channel: &Channel, name: &str) -> Result<(), TransportError>;

    /// Asks for a registration code by SMS or voice.
    async fn request_code(
        &self,
        channel: &Channel,
        method: CodeMethod,
        language: &str,
    ) -> Result<(), TransportError>;

    /// Verifies the registration code received.
    async fn verify_code(&self, channel: &Channel, code: &str) -> Result<(), TransportError>;

    /// Registers the number for the Cloud API with its two-step PIN.
    async fn register(&self, channel: &Channel, pin: &str) -> Result<(), TransportError>;
}

/// What a transport supports; callers check before relying on an optional feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Template management calls are available.
    pub templates: bool,
    /// Media upload/download calls are available.
    pub media: bool,
    /// Number registration calls are available.
    pub registration: bool,
    /// Status webhooks will follow accepted sends.
    pub status_webhooks: bool,
}

impl Capabilities {
    /// Everything supported.
    pub const ALL: Self = Self {
        templates: true,
        media: true,
        registration: true,
        status_webhooks: true,
    };
}

/// The far side's answer to an accepted send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The WhatsApp message id (`wamid.…`).
    pub wamid: String,
    /// The recipient's WhatsApp id as the far side normalised it.
    pub wa_id: Option<String>,
    /// Meta's `message_status` (`accepted`, `held_for_quality_assessment` ...).
    pub accepted_status: Option<String>,
}

/// Media to upload.
#[derive(Debug, Clone)]
pub struct MediaUpload {
    /// MIME type, for example `image/jpeg`.
    pub mime_type: String,
    /// File name sent with the upload.
    pub file_name: String,
    /// The bytes.
    pub data: Bytes,
}

/// Metadata of uploaded media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Media id.
    pub id: String,
    /// Short-lived download URL.
    pub url: String,
    /// MIME type.
    pub mime_type: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Size in bytes.
    pub file_size: u64,
}

/// A template as the far side knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteTemplate {
    /// Remote template id.
    pub id: String,
    /// Template name.
    pub name: String,
    /// Language code (`id`, `en_US` ...).
    pub language: String,
    /// Approval status.
    pub status: TemplateStatus,
    /// Category as given by the far side.
    pub category: Option<String>,
    /// Components as JSON, in Meta's shape.
    pub components: serde_json::Value,
}

/// One page of templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplatePage {
    /// Templates on this page.
    pub templates: Vec<RemoteTemplate>,
    /// Cursor for the next page, if any.
    pub after: Option<String>,
}

/// How a registration code is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CodeMethod {
    /// By SMS.
    Sms,
    /// By voice call.
    Voice,
}

/// How a transport failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Temporary failure (network, 5xx, Meta 131000/131016/131057): retry with backoff.
    Retryable,
    /// The sending number hit its throughput limit (Meta 130429): slow the number down.
    ThrottledNumber,
    /// The (number, recipient) pair hit its limit (Meta 131056): slow that pair down.
    ThrottledRecipient,
    /// Account- or app-level throttling (Meta 4, 80007): back off.
    Throttled,
    /// The request can never succeed as is (bad parameter, undeliverable, outside window).
    Permanent,
    /// The credentials are invalid or expired (Meta 190): fix the token.
    Auth,
    /// The request may have reached the far side, but its answer was lost: a response timeout
    /// after the request was written, a body that could not be read, or a success answer that
    /// could not be parsed. The message may or may not have been sent; the dispatcher applies
    /// its unknown-outcome policy, never a silent resend. (A connect error, where nothing was
    /// written, is [`Retryable`](Self::Retryable).)
    OutcomeUnknown,
}

/// A failure reported by a [`Transport`], classified for the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{kind:?} transport error{}: {message}", .code.map(|c| format!(" {c}")).unwrap_or_default())]
pub struct TransportError {
    /// The classification.
    pub kind: TransportErrorKind,
    /// The far side's numeric error code (Meta's `error.code`), if any.
    pub code: Option<i64>,
    /// A reason a person can act on.
    pub message: String,
    /// Suggested delay before retrying (from `Retry-After` or the error's rules).
    pub retry_after: Option<Duration>,
}

impl TransportError {
    /// A new error of the given kind.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: None,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Sets the far side's code.
    pub fn with_code(mut self, code: i64) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets the suggested retry delay.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// The wagw error code this maps to.
    pub fn code(&self) -> ErrorCode {
        match self.kind {
            TransportErrorKind::Retryable | TransportErrorKind::OutcomeUnknown => {
                ErrorCode::TransportUnavailable
            }
            TransportErrorKind::ThrottledNumber
            | TransportErrorKind::ThrottledRecipient
            | TransportErrorKind::Throttled => ErrorCode::RateLimited,
            TransportErrorKind::Permanent => ErrorCode::TransportRejected,
            TransportErrorKind::Auth => ErrorCode::Unauthorized,
        }
    }

    /// How to retry: never for permanent and auth failures nor when the outcome is unknown,
    /// after the suggested delay when
    /// one is known, otherwise with backoff.
    pub fn retry(&self) -> Retry {
        match (self.kind, self.retry_after) {
            // A blind retry of a send that may have gone through could deliver it twice; the
            // dispatcher's unknown-outcome policy decides instead.
            (
                TransportErrorKind::Permanent
                | TransportErrorKind::Auth
                | TransportErrorKind::OutcomeUnknown,
                _,
            ) => Retry::Never,
            (_, Some(delay)) => Retry::After(delay),
            (_, None) => Retry::Backoff,
        }
    }
}
