use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::content::OutboundMessage;
use crate::ids::ChannelId;
use crate::model::channel::Channel;
use crate::model::template::{TemplateDraft, TemplateStatus};
use crate::transport::{
    Capabilities, CodeMethod, MediaInfo, MediaUpload, RemoteTemplate, SendReceipt, TemplatePage,
    Transport, TransportError, TransportErrorKind,
};

/// A message the [`StubTransport`] was asked to send.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The sending channel.
    pub channel_id: ChannelId,
    /// The message.
    pub message: OutboundMessage,
    /// The wamid returned, or `None` when the scripted outcome was an error.
    pub wamid: Option<String>,
    /// When it was sent.
    pub at: DateTime<Utc>,
}

/// A transport that records what it is asked to do and answers from a script.
///
/// Sends succeed with fresh wamids unless an outcome is scripted with
/// [`push_outcomes`](Self::push_outcomes) or a default error is set with
/// [`new_error`](Self::new_error). Media and templates are kept in memory, so the whole
/// [`Transport`] surface behaves consistently. Clones share their state.
///
/// ```
/// use wagw_core::testkit::StubTransport;
/// use wagw_core::{TransportError, TransportErrorKind};
///
/// let stub = StubTransport::new_ok();
/// stub.push_outcomes([Err(TransportError::new(TransportErrorKind::ThrottledNumber, "130429"))]);
/// assert!(stub.sent().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StubTransport {
    state: Arc<Mutex<StubState>>,
}

#[derive(Debug, Default)]
struct StubState {
    sent: Vec<SentMessage>,
    script: VecDeque<Result<(), TransportError>>,
    default_error: Option<TransportError>,
    next_id: u64,
    media: HashMap<String, (MediaUpload, String)>,
    templates: Vec<RemoteTemplate>,
    read_marks: Vec<(ChannelId, String, bool)>,
    verified: HashMap<ChannelId, bool>,
    registered: HashMap<ChannelId, String>,
}

impl StubState {
    fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:020}", self.next_id)
    }
}

impl StubTransport {
    /// A stub whose sends succeed.
    pub fn new_ok() -> Self {
        Self::default()
    }

    /// A stub whose sends fail with `error` unless a script says otherwise.
    pub fn new_error(error: TransportError) -> Self {
        let stub = Self::default();
        stub.lock().default_error = Some(error);
        stub
    }

    /// Queues outcomes for the next sends, in order; after them the default applies.
    pub fn push_outcomes(&self, outcomes: impl IntoIterator<Item = Result<(), TransportError>>) {
        self.lock().script.extend(outcomes);
    }

    /// Everything sent so far, failures included, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// The messages marked as read: (channel, wamid, typing indicator shown).
    pub fn read_marks(&self) -> Vec<(ChannelId, String, bool)> {
        self.lock().read_marks.clone()
    }

    /// Forgets what was sent.
    pub fn clear(&self) {
        self.lock().sent.clear();
    }

    /// Sets a template's status, as Meta's review would.
    pub fn set_template_status(&self, name: &str, status: TemplateStatus) {
        for t in self.lock().templates.iter_mut().filter(|t| t.name == name) {
            t.status = status;
        }
    }

    fn lock(&self) -> MutexGuard<'_, StubState> {
        // A panicking test thread must not hide what was recorded from the others.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(what: &str, id: &str) -> TransportError {
    TransportError::new(
        TransportErrorKind::Permanent,
        format!("{what} {id} does not exist"),
    )
    .with_code(100)
}

#[async_trait]
impl Transport for StubTransport {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            status_webhooks: false,
            ..Capabilities::ALL
        }
    }

    async fn send(
        &self,
        channel: &Channel,
        message: &OutboundMessage,
    ) -> Result<SendReceipt, TransportError> {
        message.validate().map_err(|e| {
            TransportError::new(TransportErrorKind::Permanent, e.to_string()).with_code(100)
        })?;
        let mut state = self.lock();
        let outcome = match state.script.pop_front() {
            Some(outcome) => outcome,
            None => state.default_error.clone().map_or(Ok(()), Err),
        };
        let wamid = outcome.is_ok().then(|| state.next_id("wamid.STUB"));
        state.sent.push(SentMessage {
            channel_id: channel.id,
            message: message.clone(),
            wamid: wamid.clone(),
            at: Utc::now(),
        });
        outcome.map(|()| SendReceipt {
            wamid: wamid.unwrap_or_default(),
            wa_id: Some(message.to.clone()),
            accepted_status: Some("accepted".into()),
        })
    }

    async fn mark_read(
        &self,
        channel: &Channel,
        wamid: &str,
        typing: bool,
    ) -> Result<(), TransportError> {
        self.lock()
            .read_marks
            .push((channel.id, wamid.to_owned(), typing));
        Ok(())
    }

    async fn upload_media(
        &self,
        _channel: &Channel,
        media: MediaUpload,
    ) -> Result<String, TransportError> {
        let mut state = self.lock();
        let id = state.next_id("");
        let url = format!("https://stub.invalid/media/{id}");
        state.media.insert(id.clone(), (media, url));
        Ok(id)
    }

    async fn get_media(
        &self,
        _channel: &Channel,
        media_id: &str,
    ) -> Result<MediaInfo, TransportError> {
        let state = self.lock();
        let (media, url) = state
            .media
            .get(media_id)
            .ok_or_else(|| not_found("media", media_id))?;
        Ok(MediaInfo {
            id: media_id.to_owned(),
            url: url.clone(),
            mime_type: media.mime_type.clone(),
            sha256: String::new(),
            file_size: media.data.len() as u64,
        })
    }

    async fn download_media(
        &self,
        _channel: &Channel,
        media_id: &str,
    ) -> Result<Bytes, TransportError> {
        let state = self.lock();
        let (media, _) = state
            .media
            .get(media_id)
            .ok_or_else(|| not_found("media", media_id))?;
        Ok(media.data.clone())
    }

    async fn delete_media(&self, _channel: &Channel, media_id: &str) -> Result<(), TransportError> {
        self.lock()
            .media
            .remove(media_id)
            .map(drop)
            .ok_or_else(|| not_found("media", media_id))
    }

    async fn create_template(
        &self,
        _channel: &Channel,
        template: &TemplateDraft,
    ) -> Result<RemoteTemplate, TransportError> {
        let mut state = self.lock();
        if state
            .templates
            .iter()
            .any(|t| t.name == template.name && t.language == template.language)
        {
            return Err(TransportError::new(
                TransportErrorKind::Permanent,
                "a template with this name and language exists",
            )
            .with_code(2_388_024));
        }
        let remote = RemoteTemplate {
            id: state.next_id(""),
            name: template.name.clone(),
            language: template.language.clone(),
            status: TemplateStatus::Pending,
            category: serde_json::to_value(template.category)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            components: serde_json::Value::Array(template.components.clone()),
        };
        state.templates.push(remote.clone());
        Ok(remote)
    }

    async fn list_templates(
        &self,
        _channel: &Channel,
        _after: Option<&str>,
    ) -> Result<TemplatePage, TransportError> {
        Ok(TemplatePage {
            templates: self.lock().templates.clone(),
            after: None,
        })
    }

    async fn get_template(
        &self,
        _channel: &Channel,
        remote_id: &str,
    ) -> Result<RemoteTemplate, TransportError> {
        self.lock()
            .templates
            .iter()
            .find(|t| t.id == remote_id)
            .cloned()
            .ok_or_else(|| not_found("template", remote_id))
    }

    async fn delete_template(&self, _channel: &Channel, name: &str) -> Result<(), TransportError> {
        let mut state = self.lock();
        let before = state.templates.len();
        state.templates.retain(|t| t.name != name);
        if state.templates.len() == before {
            return Err(not_found("template", name));
        }
        Ok(())
    }

    async fn request_code(
        &self,
        channel: &Channel,
        _method: CodeMethod,
        _language: &str,
    ) -> Result<(), TransportError> {
        self.lock().verified.insert(channel.id, false);
        Ok(())
    }

    async fn verify_code(&self, channel: &Channel, code: &str) -> Result<(), TransportError> {
        let mut state = self.lock();
        let requested = state.verified.get_mut(&channel.id).ok_or_else(|| {
            TransportError::new(TransportErrorKind::Permanent, "no code was requested")
                .with_code(136_025)
        })?;
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TransportError::new(
                TransportErrorKind::Permanent,
                "the code must be 6 digits",
            )
            .with_code(136_025));
        }
        *requested = true;
        Ok(())
    }

    async fn register(&self, channel: &Channel, pin: &str) -> Result<(), TransportError> {
        let mut state = self.lock();
        if state.verified.get(&channel.id) != Some(&true) {
            return Err(TransportError::new(
                TransportErrorKind::Permanent,
                "verify the number before registering",
            )
            .with_code(133_010));
        }
        state.registered.insert(channel.id, pin.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::MessageContent;
    use crate::model::tenant::Tenant;

    crate::transport_conformance_tests!(async {
        let tenant = Tenant::new("t", crate::model::tenant::Plan::basic());
        let number = crate::testkit::fixtures::phone(9_999);
        super::super::transport_cases::TransportSetup {
            transport: Arc::new(StubTransport::new_ok()),
            channel: Channel::new(
                tenant.id,
                "stub",
                "106540352242922",
                "102290129340398",
                number,
            ),
            recipient: crate::testkit::fixtures::phone(1),
        }
    });

    #[tokio::test]
    async fn scripted_outcomes_come_first_then_the_default() {
        let tenant = Tenant::new("t", crate::model::tenant::Plan::basic());
        let channel = Channel::new(tenant.id, "c", "1", "2", crate::testkit::fixtures::phone(1));
        let stub = StubTransport::new_ok();
        let throttled = TransportError::new(TransportErrorKind::ThrottledNumber, "130429");
        stub.push_outcomes([Err(throttled.clone())]);
        let msg = OutboundMessage::new("628123456789", MessageContent::text("x"));
        assert_eq!(stub.send(&channel, &msg).await, Err(throttled));
        assert!(stub.send(&channel, &msg).await.is_ok());
        let sent = stub.sent();
        assert_eq!(sent.len(), 2);
        assert!(sent[0].wamid.is_none() && sent[1].wamid.is_some());
    }

    #[tokio::test]
    async fn registration_requires_a_verified_code() {
        let tenant = Tenant::new("t", crate::model::tenant::Plan::basic());
        let channel = Channel::new(tenant.id, "c", "1", "2", crate::testkit::fixtures::phone(1));
        let stub = StubTransport::new_ok();
        assert!(stub.register(&channel, "123456").await.is_err());
        stub.request_code(&channel, CodeMethod::Sms, "id")
            .await
            .expect("request");
        assert!(stub.verify_code(&channel, "12ab56").await.is_err());
        stub.verify_code(&channel, "123456").await.expect("verify");
        stub.register(&channel, "123456").await.expect("register");
    }
}
