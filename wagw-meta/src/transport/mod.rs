//! [`MetaTransport`]: wagw's [`Transport`] over Meta's WhatsApp Cloud API (Graph API).
//!
//! One transport serves every channel of every tenant: each call names the [`Channel`], whose
//! `phone_number_id` and `waba_id` pick the Graph objects and whose `access_token` (when set)
//! wins over the transport's default token. All calls share one connection pool.
//!
//! Failures come back as [`TransportError`]s classified from Meta's `error.code`; see
//! [`classify`] for the table. `POST /messages` is not idempotent: a timeout after the
//! request left may still have sent the message, so such a failure (and a lost, cut or
//! unparsable answer) is [`TransportErrorKind::OutcomeUnknown`], never
//! [`TransportErrorKind::Retryable`]; the dispatcher then applies its unknown-outcome
//! policy instead of resending silently (attach `biz_opaque_callback_data` to correlate
//! status webhooks). Only a connect error, where nothing was written, is retryable.

mod meta_error;
mod recipient;
mod types;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wagw_core::content::{MarkRead, OutboundMessage};
use wagw_core::model::Secret;
use wagw_core::model::channel::Channel;
use wagw_core::model::template::{TemplateDraft, TemplateStatus};
use wagw_core::transport::{
    Capabilities, CodeMethod, MediaInfo, MediaUpload, RemoteTemplate, SendReceipt, TemplatePage,
    Transport,
};
use wagw_core::{TransportError, TransportErrorKind};

pub use meta_error::{MetaError, classify, pair_limit_backoff, parse_retry_after};
pub use recipient::is_business_scoped_user_id;
pub use types::{Page, PhoneNumberInfo};

use crate::error::Error;
use types::ListEnvelope;

/// Meta's production Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version used unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "v23.0";
/// Largest media download accepted by default (Meta's largest media, documents, is 100 MB).
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// Idle connections kept per host by default (see
/// [`MetaTransportBuilder::pool_max_idle_per_host`]).
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 64;

/// Whether `segment` is a Graph API version such as `v23.0`.
fn is_api_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

const TEMPLATE_FIELDS: &str = "id,name,language,status,category,components";
const PHONE_FIELDS: &str = "id,display_phone_number,verified_name,quality_rating,\
code_verification_status,platform_type,throughput,name_status,status";
const TEMPLATE_PAGE_SIZE: &str = "100";

/// Which HTTP versions the transport speaks; see [`MetaTransportBuilder::http_version`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/2 when the server offers it through TLS ALPN (Meta's Graph API does), HTTP/1.1
    /// otherwise (and always over plain `http://`). The default.
    #[default]
    Negotiate,
    /// HTTP/1.1 only: one request in flight per connection.
    Http1Only,
    /// HTTP/2 without negotiation ("prior knowledge"), also over plain `http://` (h2c); for
    /// servers known to speak it, such as the emulator.
    Http2PriorKnowledge,
}

/// Configures a [`MetaTransport`]; start with [`MetaTransport::builder`].
#[derive(Clone)]
pub struct MetaTransportBuilder {
    base_url: String,
    version: String,
    access_token: Option<Secret>,
    timeout: Duration,
    connect_timeout: Duration,
    read_timeout: Duration,
    download_timeout: Option<Duration>,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    http_version: HttpVersion,
    max_download_bytes: u64,
    user_agent: String,
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for MetaTransportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaTransportBuilder")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .field("access_token", &self.access_token)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("download_timeout", &self.download_timeout)
            .field("http_version", &self.http_version)
            .finish_non_exhaustive()
    }
}

impl Default for MetaTransportBuilder {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            version: DEFAULT_API_VERSION.to_owned(),
            access_token: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            download_timeout: None,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
            http_version: HttpVersion::Negotiate,
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            user_agent: concat!("wagw-meta/", env!("CARGO_PKG_VERSION")).to_owned(),
            client: None,
        }
    }
}

impl MetaTransportBuilder {
    /// The Graph API root, default [`DEFAULT_BASE_URL`]; point it at an emulator or a mock
    /// server in tests. A path prefix is kept (`http://host/prefix` → `/prefix/v23.0/...`),
    /// but a prefix that holds an API version (`https://graph.facebook.com/v23.0`) is refused
    /// at [`build`](Self::build): the version belongs in [`api_version`](Self::api_version),
    /// and keeping both would call `/v23.0/v23.0/...`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The Graph API version path segment, default [`DEFAULT_API_VERSION`]; it must look
    /// like `v23.0` (`v`, digits, a dot, digits), or [`build`](Self::build) refuses it.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The token used for channels without their own `access_token` and for calls that
    /// name no channel.
    pub fn access_token(mut self, token: impl Into<String>) -> Self {
        self.access_token = Some(Secret::new(token));
        self
    }

    /// Total time allowed per Graph API call (a send, a template or media lookup ...), from
    /// connecting to the last byte of the answer, default 30 s. A send that runs out of it
    /// after connecting fails with [`TransportErrorKind::OutcomeUnknown`] (Meta may have
    /// accepted it); keep it longer than [`connect_timeout`](Self::connect_timeout) so that
    /// an unreachable host is reported as the retryable connect error it is.
    ///
    /// Media downloads do not use it: a 100 MB document streams for as long as bytes keep
    /// coming (see [`read_timeout`](Self::read_timeout) and
    /// [`download_timeout`](Self::download_timeout)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to open a connection (TCP and TLS), default 10 s. Running out of it is
    /// [`TransportErrorKind::Retryable`]: nothing was written.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest silence allowed while reading an answer (between two reads), default 60 s.
    /// It applies to every call, downloads included, and catches a stalled connection that
    /// the per-call [`timeout`](Self::timeout) does not cover for downloads.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Total time allowed for one media download, default none: a download runs as long as
    /// bytes keep arriving within [`read_timeout`](Self::read_timeout).
    pub fn download_timeout(mut self, timeout: Duration) -> Self {
        self.download_timeout = Some(timeout);
        self
    }

    /// How long idle pooled connections are kept, default 90 s.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Most idle connections kept per host, default [`DEFAULT_POOL_MAX_IDLE_PER_HOST`].
    ///
    /// Over HTTP/2 (the default against Meta) all calls share one connection, so this only
    /// matters over HTTP/1.1, where each call in flight holds a connection of its own: a
    /// number sending at 80 messages/s with 250 ms answers keeps about 20 in flight, so 64
    /// covers a few busy numbers without re-handshaking TLS, and the rest are closed.
    pub fn pool_max_idle_per_host(mut self, connections: usize) -> Self {
        self.pool_max_idle_per_host = connections;
        self
    }

    /// Which HTTP versions to speak, default [`HttpVersion::Negotiate`] (HTTP/2 when the
    /// server offers it through TLS ALPN, which Meta's Graph API does: every call of the
    /// process then shares one multiplexed connection per host instead of one connection
    /// per call in flight). [`HttpVersion::Http2PriorKnowledge`] speaks HTTP/2 over plain
    /// `http://` to the emulator; `BENCHMARKS.md` compares the versions against it.
    pub fn http_version(mut self, version: HttpVersion) -> Self {
        self.http_version = version;
        self
    }

    /// Largest media download accepted, default [`DEFAULT_MAX_DOWNLOAD_BYTES`].
    pub fn max_download_bytes(mut self, bytes: u64) -> Self {
        self.max_download_bytes = bytes;
        self
    }

    /// The `User-Agent` header, default `wagw-meta/<version>`.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// Uses a caller-built client (proxy, custom roots ...); the connect, read, pool, HTTP
    /// version and user-agent settings of this builder are then ignored, while the per-call
    /// [`timeout`](Self::timeout) and [`download_timeout`](Self::download_timeout) still apply
    /// (they are set on each request). Do not give the client a total timeout of its own: it
    /// would cut long media downloads.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the transport.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the base URL does not parse, cannot carry a path or already
    /// holds an API version, the version is not like `v23.0`, or the HTTP client cannot be
    /// built.
    pub fn build(self) -> Result<MetaTransport, Error> {
        let base = Url::parse(self.base_url.trim_end_matches('/'))
            .map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "base URL {:?} must be an http(s) URL",
                self.base_url
            )));
        }
        if let Some(segment) = base
            .path_segments()
            .into_iter()
            .flatten()
            .find(|segment| is_api_version(segment))
        {
            return Err(Error::Config(format!(
                "base URL {:?} already holds the API version {segment:?}; give the host \
                 (e.g. https://graph.facebook.com) and set api_version instead",
                self.base_url
            )));
        }
        let version = self.version.trim().to_owned();
        if !is_api_version(&version) {
            return Err(Error::Config(format!(
                "API version {:?} must look like v23.0",
                self.version
            )));
        }
        let client = match self.client {
            Some(client) => client,
            None => {
                // No client-wide total timeout: it would also cut media downloads. Calls get
                // theirs per request (`timeout`), downloads run while bytes keep coming.
                let builder = reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .read_timeout(self.read_timeout)
                    .pool_idle_timeout(self.pool_idle_timeout)
                    .pool_max_idle_per_host(self.pool_max_idle_per_host)
                    .tcp_nodelay(true)
                    .user_agent(self.user_agent);
                let builder = match self.http_version {
                    HttpVersion::Negotiate => builder,
                    HttpVersion::Http1Only => builder.http1_only(),
                    HttpVersion::Http2PriorKnowledge => builder.http2_prior_knowledge(),
                };
                builder
                    .build()
                    .map_err(|e| Error::Config(format!("HTTP client: {e}")))?
            }
        };
        Ok(MetaTransport {
            client,
            base,
            version,
            access_token: self.access_token,
            timeout: self.timeout,
            download_timeout: self.download_timeout,
            max_download_bytes: self.max_download_bytes,
        })
    }
}

/// wagw's [`Transport`] over Meta's WhatsApp Cloud API.
///
/// Cheap to clone (the connection pool is shared). See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct MetaTransport {
    client: reqwest::Client,
    base: Url,
    version: String,
    access_token: Option<Secret>,
    timeout: Duration,
    download_timeout: Option<Duration>,
    max_download_bytes: u64,
}

impl std::fmt::Debug for MetaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaTransport")
            .field("base", &self.base.as_str())
            .field("version", &self.version)
            .field("access_token", &self.access_token)
            .finish_non_exhaustive()
    }
}

/// `{"success": true}`.
#[derive(Deserialize)]
struct Success {
    #[serde(default)]
    success: bool,
}

/// `{"id": "..."}` plus whatever else.
#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct SendResponse {
    #[serde(default)]
    contacts: Vec<SendContact>,
    #[serde(default)]
    messages: Vec<SendMessage>,
}

#[derive(Deserialize)]
struct SendContact {
    #[serde(default)]
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct SendMessage {
    id: String,
    #[serde(default)]
    message_status: Option<String>,
}

#[derive(Deserialize)]
struct MediaResponse {
    #[serde(default)]
    id: Option<String>,
    url: String,
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    sha256: String,
    #[serde(default, deserialize_with = "u64_or_string")]
    file_size: u64,
}

#[derive(Deserialize)]
struct CreatedTemplate {
    id: String,
    #[serde(default)]
    status: Option<TemplateStatus>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
struct RawTemplate {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    status: Option<TemplateStatus>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    components: Option<Value>,
}

impl From<RawTemplate> for RemoteTemplate {
    fn from(raw: RawTemplate) -> Self {
        Self {
            id: raw.id,
            name: raw.name,
            language: raw.language,
            status: raw.status.unwrap_or(TemplateStatus::Unknown),
            category: raw.category,
            components: raw.components.unwrap_or_else(|| Value::Array(Vec::new())),
        }
    }
}

fn u64_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn permanent(message: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorKind::Permanent, message)
}

fn json_body(value: &impl serde::Serialize) -> Result<Vec<u8>, TransportError> {
    serde_json::to_vec(value).map_err(|e| permanent(format!("cannot serialise request: {e}")))
}

impl MetaTransport {
    /// A builder with Meta's defaults.
    pub fn builder() -> MetaTransportBuilder {
        MetaTransportBuilder::default()
    }

    /// A transport for Meta's production API with a default access token.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the HTTP client cannot be built.
    pub fn new(access_token: impl Into<String>) -> Result<Self, Error> {
        Self::builder().access_token(access_token).build()
    }

    /// The Graph API version in use.
    pub fn api_version(&self) -> &str {
        &self.version
    }

    /// `{base}/{version}/{segments...}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push(&self.version).extend(segments);
        }
        url
    }

    fn token<'a>(&'a self, explicit: Option<&'a Secret>) -> Result<&'a str, TransportError> {
        explicit
            .or(self.access_token.as_ref())
            .map(Secret::expose)
            .ok_or_else(|| {
                TransportError::new(
                    TransportErrorKind::Auth,
                    "no access token: set the channel's access_token or a default token",
                )
            })
    }

    fn bearer(token: &str) -> Result<HeaderValue, TransportError> {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            TransportError::new(
                TransportErrorKind::Auth,
                "the access token contains characters not allowed in a header",
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    fn request(
        &self,
        method: Method,
        url: Url,
        token: &str,
        json: Option<Vec<u8>>,
    ) -> Result<reqwest::RequestBuilder, TransportError> {
        let mut builder = self
            .client
            .request(method, url)
            .timeout(self.timeout)
            .header(AUTHORIZATION, Self::bearer(token)?);
        if let Some(body) = json {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body);
        }
        Ok(builder)
    }

    /// Builds, without sending, the `POST /{version}/{phone_number_id}/messages` request
    /// for `message`: the content is validated first, then serialised. A `to` holding a
    /// business-scoped user id ([`is_business_scoped_user_id`]) is written as `recipient`,
    /// the field Meta reads such ids from.
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Permanent`] when the content breaks Meta's rules;
    /// [`TransportErrorKind::Auth`] when there is no token.
    pub fn send_request(
        &self,
        channel: &Channel,
        message: &OutboundMessage,
    ) -> Result<reqwest::Request, TransportError> {
        message
            .validate()
            .map_err(|e| permanent(format!("invalid content: {e}")))?;
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id, "messages"]);
        let body = if is_business_scoped_user_id(&message.to) {
            let mut value = serde_json::to_value(message)
                .map_err(|e| permanent(format!("cannot serialise request: {e}")))?;
            recipient::address_by_user_id(&mut value);
            json_body(&value)?
        } else {
            json_body(message)?
        };
        self.request(Method::POST, url, token, Some(body))?
            .build()
            .map_err(|e| permanent(format!("cannot build request: {e}")))
    }

    /// Sends a built request; returns the body of a 2xx answer, a classified error otherwise.
    ///
    /// A failure after connecting is [`TransportErrorKind::OutcomeUnknown`] for a
    /// non-idempotent method (see `meta_error::network`).
    async fn execute(
        &self,
        op: &'static str,
        request: reqwest::Request,
    ) -> Result<Bytes, TransportError> {
        let started = Instant::now();
        let method = request.method().clone();
        let idempotent = method.is_idempotent();
        let failed = |e: reqwest::Error| {
            let error = meta_error::network(&e, idempotent);
            tracing::warn!(
                op,
                %method,
                kind = ?error.kind,
                error = %error.message,
                "Graph API request failed"
            );
            error
        };
        let response = self.client.execute(request).await.map_err(failed)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = match response.bytes().await {
            Ok(body) => body,
            // A 2xx whose body is cut off was processed: the status line already said so.
            Err(e) if status.is_success() => return Err(failed(e)),
            // A refusal whose reason was cut off: nothing was accepted, the reason is unknown.
            Err(e) => {
                let mut error = TransportError::new(
                    TransportErrorKind::Retryable,
                    format!("HTTP {status} whose body could not be read: {e}"),
                );
                if let Some(delay) = retry_after {
                    error = error.with_retry_after(delay);
                }
                tracing::warn!(op, %method, error = %error.message, "Graph API request failed");
                return Err(error);
            }
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if status.is_success() {
            tracing::debug!(op, %method, status = status.as_u16(), elapsed_ms, "Graph API call");
            return Ok(body);
        }
        let error = classify(status.as_u16(), retry_after, &body);
        tracing::debug!(
            op,
            %method,
            status = status.as_u16(),
            elapsed_ms,
            code = error.code,
            kind = ?error.kind,
            error = %error.message,
            "Graph API error"
        );
        Err(error)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        builder: reqwest::RequestBuilder,
    ) -> Result<T, TransportError> {
        let request = builder
            .build()
            .map_err(|e| permanent(format!("cannot build request: {e}")))?;
        let idempotent = request.method().is_idempotent();
        let body = self.execute(op, request).await?;
        serde_json::from_slice(&body).map_err(|e| {
            let message = format!(
                "unexpected {op} response from the Graph API: {e}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
            // A 2xx to a POST means Meta acted on it; only its answer is unusable.
            if idempotent {
                permanent(message)
            } else {
                TransportError::new(TransportErrorKind::OutcomeUnknown, message)
            }
        })
    }

    async fn call_success(
        &self,
        op: &'static str,
        builder: reqwest::RequestBuilder,
    ) -> Result<(), TransportError> {
        let answer: Success = self.call(op, builder).await?;
        if answer.success {
            Ok(())
        } else {
            Err(permanent(format!(
                "the Graph API answered {op} with success=false"
            )))
        }
    }

    /// Lists the phone numbers of a WhatsApp Business Account (`GET /{waba-id}/phone_numbers`),
    /// following pages to the last one. `access_token` overrides the default token.
    ///
    /// # Errors
    ///
    /// A classified [`TransportError`]; [`TransportErrorKind::Permanent`] when the Graph API
    /// hands back a cursor it already gave (a paging loop would never end).
    pub async fn list_phone_numbers(
        &self,
        waba_id: &str,
        access_token: Option<&Secret>,
    ) -> Result<Vec<PhoneNumberInfo>, TransportError> {
        let token = self.token(access_token)?;
        let mut numbers = Vec::new();
        let mut after: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut url = self.url(&[waba_id, "phone_numbers"]);
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("fields", PHONE_FIELDS);
                if let Some(cursor) = &after {
                    query.append_pair("after", cursor);
                }
            }
            let page: ListEnvelope<PhoneNumberInfo> = self
                .call(
                    "list_phone_numbers",
                    self.request(Method::GET, url, token, None)?,
                )
                .await?;
            let page = page.into_page();
            numbers.extend(page.data);
            match page.after {
                Some(cursor) if !seen.insert(cursor.clone()) => {
                    return Err(permanent(format!(
                        "list_phone_numbers: the Graph API repeated the paging cursor {cursor:?}"
                    )));
                }
                Some(cursor) => after = Some(cursor),
                None => return Ok(numbers),
            }
        }
    }

    /// Fetches the channel's phone number (`GET /{phone-number-id}`).
    ///
    /// # Errors
    ///
    /// A classified [`TransportError`].
    pub async fn get_phone_number(
        &self,
        channel: &Channel,
    ) -> Result<PhoneNumberInfo, TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let mut url = self.url(&[&channel.phone_number_id]);
        url.query_pairs_mut().append_pair("fields", PHONE_FIELDS);
        self.call(
            "get_phone_number",
            self.request(Method::GET, url, token, None)?,
        )
        .await
    }

    /// Removes the number from the Cloud API (`POST /{phone-number-id}/deregister`).
    ///
    /// # Errors
    ///
    /// A classified [`TransportError`]; 133016 when register/deregister ran too often.
    pub async fn deregister(&self, channel: &Channel) -> Result<(), TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id, "deregister"]);
        self.call_success("deregister", self.request(Method::POST, url, token, None)?)
            .await
    }

    /// Sets or changes the number's two-step verification PIN (`POST /{phone-number-id}`).
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Permanent`] when `pin` is not six digits; otherwise a
    /// classified [`TransportError`].
    pub async fn set_two_step_pin(
        &self,
        channel: &Channel,
        pin: &str,
    ) -> Result<(), TransportError> {
        check_pin(pin)?;
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id]);
        let body = json_body(&json!({ "pin": pin }))?;
        self.call_success(
            "set_two_step_pin",
            self.request(Method::POST, url, token, Some(body))?,
        )
        .await
    }

    /// Lists one page of templates with an explicit page size (`limit`), for callers that
    /// want smaller pages than [`Transport::list_templates`] (100).
    ///
    /// # Errors
    ///
    /// A classified [`TransportError`].
    pub async fn list_templates_page(
        &self,
        channel: &Channel,
        after: Option<&str>,
        limit: u32,
    ) -> Result<TemplatePage, TransportError> {
        self.templates_page(channel, after, &limit.to_string())
            .await
    }

    async fn templates_page(
        &self,
        channel: &Channel,
        after: Option<&str>,
        limit: &str,
    ) -> Result<TemplatePage, TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let mut url = self.url(&[&channel.waba_id, "message_templates"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("fields", TEMPLATE_FIELDS);
            query.append_pair("limit", limit);
            if let Some(cursor) = after {
                query.append_pair("after", cursor);
            }
        }
        let page: ListEnvelope<RawTemplate> = self
            .call(
                "list_templates",
                self.request(Method::GET, url, token, None)?,
            )
            .await?;
        let page = page.into_page();
        Ok(TemplatePage {
            templates: page.data.into_iter().map(RemoteTemplate::from).collect(),
            after: page.after,
        })
    }
}

impl MetaTransport {
    /// Starts downloading a media object (`GET /{media-id}`, then its URL) and hands back the
    /// answer as a stream of chunks, so a 100 MB document never sits in memory whole and is
    /// not bound by the per-call [`timeout`](MetaTransportBuilder::timeout): it runs while
    /// bytes keep arriving (see [`read_timeout`](MetaTransportBuilder::read_timeout) and
    /// [`download_timeout`](MetaTransportBuilder::download_timeout)). Works for media users
    /// sent in as well as for the business's own uploads.
    ///
    /// ```no_run
    /// # async fn run(meta: wagw_meta::MetaTransport, channel: wagw_core::model::channel::Channel)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// let mut download = meta.media_download(&channel, "1013859600285441").await?;
    /// println!("{} bytes of {}", download.info().file_size, download.info().mime_type);
    /// while let Some(chunk) = download.chunk().await? {
    ///     // write `chunk` to a file or an object store
    ///     # let _ = chunk;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A classified [`TransportError`]; [`TransportErrorKind::Permanent`] when the announced
    /// size exceeds [`max_download_bytes`](MetaTransportBuilder::max_download_bytes).
    pub async fn media_download(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> Result<MediaDownload, TransportError> {
        let info = self.get_media(channel, media_id).await?;
        let token = self.token(channel.access_token.as_ref())?;
        let url = Url::parse(&info.url)
            .map_err(|e| permanent(format!("media URL {:?} does not parse: {e}", info.url)))?;
        if info.file_size > self.max_download_bytes {
            return Err(permanent(format!(
                "media of {} bytes exceeds the {}-byte download limit",
                info.file_size, self.max_download_bytes
            )));
        }
        let mut builder = self
            .client
            .get(url)
            .header(AUTHORIZATION, Self::bearer(token)?);
        if let Some(limit) = self.download_timeout {
            builder = builder.timeout(limit);
        }
        let request = builder
            .build()
            .map_err(|e| permanent(format!("cannot build request: {e}")))?;
        let response = self
            .client
            .execute(request)
            .await
            // A GET: repeating it is harmless, so a lost answer is merely retryable.
            .map_err(|e| meta_error::network(&e, true))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = response.bytes().await.unwrap_or_default();
            return Err(classify(status.as_u16(), retry_after, &body));
        }
        Ok(MediaDownload {
            info,
            response,
            received: 0,
            limit: self.max_download_bytes,
            started: Instant::now(),
        })
    }
}

/// A media download in progress; see [`MetaTransport::media_download`].
#[derive(Debug)]
pub struct MediaDownload {
    info: MediaInfo,
    response: reqwest::Response,
    received: u64,
    limit: u64,
    started: Instant,
}

impl MediaDownload {
    /// What `GET /{media-id}` said about the media (type, announced size, sha256 ...).
    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next chunk of the body; `None` once it is complete.
    ///
    /// # Errors
    ///
    /// [`TransportErrorKind::Retryable`] when the connection fails or stalls (a download can
    /// be repeated), [`TransportErrorKind::Permanent`] when the body grows past the download
    /// limit.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        let Some(chunk) = self
            .response
            .chunk()
            .await
            .map_err(|e| meta_error::network(&e, true))?
        else {
            tracing::debug!(
                op = "download_media",
                bytes = self.received,
                elapsed_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "media downloaded"
            );
            return Ok(None);
        };
        self.received += chunk.len() as u64;
        if self.received > self.limit {
            return Err(permanent(format!(
                "media exceeds the {}-byte download limit",
                self.limit
            )));
        }
        Ok(Some(chunk))
    }
}

fn check_pin(pin: &str) -> Result<(), TransportError> {
    if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(permanent("the two-step verification PIN must be 6 digits"))
    }
}

#[async_trait]
impl Transport for MetaTransport {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn send(
        &self,
        channel: &Channel,
        message: &OutboundMessage,
    ) -> Result<SendReceipt, TransportError> {
        let request = self.send_request(channel, message)?;
        let body = self.execute("send", request).await?;
        // A 2xx says Meta took the message; without a wamid we cannot tell what became of it.
        let answer: SendResponse = serde_json::from_slice(&body).map_err(|e| {
            TransportError::new(
                TransportErrorKind::OutcomeUnknown,
                format!(
                    "the Graph API accepted the message but its answer did not parse: {e}; \
                     the message may have been sent"
                ),
            )
        })?;
        let Some(first) = answer.messages.into_iter().next() else {
            return Err(TransportError::new(
                TransportErrorKind::OutcomeUnknown,
                "the Graph API answered without messages[0].id; the message may have been sent",
            ));
        };
        Ok(SendReceipt {
            wamid: first.id,
            wa_id: answer.contacts.into_iter().next().and_then(|c| c.wa_id),
            accepted_status: first.message_status,
        })
    }

    async fn mark_read(
        &self,
        channel: &Channel,
        wamid: &str,
        typing: bool,
    ) -> Result<(), TransportError> {
        let mut read = MarkRead::new(wamid);
        if typing {
            read = read.with_typing_indicator();
        }
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id, "messages"]);
        self.call_success(
            "mark_read",
            self.request(Method::POST, url, token, Some(json_body(&read)?))?,
        )
        .await
    }

    async fn upload_media(
        &self,
        channel: &Channel,
        media: MediaUpload,
    ) -> Result<String, TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id, "media"]);
        let length = media.data.len() as u64;
        let part =
            reqwest::multipart::Part::stream_with_length(reqwest::Body::from(media.data), length)
                .file_name(media.file_name)
                .mime_str(&media.mime_type)
                .map_err(|e| permanent(format!("invalid MIME type {:?}: {e}", media.mime_type)))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", media.mime_type)
            .part("file", part);
        let answer: IdOnly = self
            .call(
                "upload_media",
                self.request(Method::POST, url, token, None)?
                    .multipart(form),
            )
            .await?;
        Ok(answer.id)
    }

    async fn get_media(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> Result<MediaInfo, TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        // No `phone_number_id`: with it Meta only answers for media uploaded by that number,
        // and media a user sent in was not (it is optional, and only narrows the lookup).
        let url = self.url(&[media_id]);
        let answer: MediaResponse = self
            .call("get_media", self.request(Method::GET, url, token, None)?)
            .await?;
        Ok(MediaInfo {
            id: answer.id.unwrap_or_else(|| media_id.to_owned()),
            url: answer.url,
            mime_type: answer.mime_type,
            sha256: answer.sha256,
            file_size: answer.file_size,
        })
    }

    async fn download_media(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> Result<Bytes, TransportError> {
        let mut download = self.media_download(channel, media_id).await?;
        let capacity =
            usize::try_from(download.info().file_size.min(self.max_download_bytes)).unwrap_or(0);
        let mut data = BytesMut::with_capacity(capacity);
        while let Some(chunk) = download.chunk().await? {
            data.extend_from_slice(&chunk);
        }
        Ok(data.freeze())
    }

    async fn delete_media(&self, channel: &Channel, media_id: &str) -> Result<(), TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let mut url = self.url(&[media_id]);
        url.query_pairs_mut()
            .append_pair("phone_number_id", &channel.phone_number_id);
        self.call_success(
            "delete_media",
            self.request(Method::DELETE, url, token, None)?,
        )
        .await
    }

    async fn create_template(
        &self,
        channel: &Channel,
        template: &TemplateDraft,
    ) -> Result<RemoteTemplate, TransportError> {
        template
            .validate()
            .map_err(|e| permanent(format!("invalid template: {e}")))?;
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.waba_id, "message_templates"]);
        let answer: CreatedTemplate = self
            .call(
                "create_template",
                self.request(Method::POST, url, token, Some(json_body(template)?))?,
            )
            .await?;
        let category = answer.category.or_else(|| {
            serde_json::to_value(template.category)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        });
        Ok(RemoteTemplate {
            id: answer.id,
            name: template.name.clone(),
            language: template.language.clone(),
            status: answer.status.unwrap_or(TemplateStatus::Pending),
            category,
            components: Value::Array(template.components.clone()),
        })
    }

    async fn list_templates(
        &self,
        channel: &Channel,
        after: Option<&str>,
    ) -> Result<TemplatePage, TransportError> {
        self.templates_page(channel, after, TEMPLATE_PAGE_SIZE)
            .await
    }

    async fn get_template(
        &self,
        channel: &Channel,
        remote_id: &str,
    ) -> Result<RemoteTemplate, TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let mut url = self.url(&[remote_id]);
        url.query_pairs_mut().append_pair("fields", TEMPLATE_FIELDS);
        let raw: RawTemplate = self
            .call("get_template", self.request(Method::GET, url, token, None)?)
            .await?;
        Ok(raw.into())
    }

    async fn delete_template(&self, channel: &Channel, name: &str) -> Result<(), TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let mut url = self.url(&[&channel.waba_id, "message_templates"]);
        url.query_pairs_mut().append_pair("name", name);
        self.call_success(
            "delete_template",
            self.request(Method::DELETE, url, token, None)?,
        )
        .await
    }

    async fn request_code(
        &self,
        channel: &Channel,
        method: CodeMethod,
        language: &str,
    ) -> Result<(), TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id, "request_code"]);
        let body = json_body(&json!({ "code_method": method, "language": language }))?;
        self.call_success(
            "request_code",
            self.request(Method::POST, url, token, Some(body))?,
        )
        .await
    }

    async fn verify_code(&self, channel: &Channel, code: &str) -> Result<(), TransportError> {
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id, "verify_code"]);
        let body = json_body(&json!({ "code": code }))?;
        self.call_success(
            "verify_code",
            self.request(Method::POST, url, token, Some(body))?,
        )
        .await
    }

    async fn register(&self, channel: &Channel, pin: &str) -> Result<(), TransportError> {
        check_pin(pin)?;
        let token = self.token(channel.access_token.as_ref())?;
        let url = self.url(&[&channel.phone_number_id, "register"]);
        let body = json_body(&json!({ "messaging_product": "whatsapp", "pin": pin }))?;
        self.call_success(
            "register",
            self.request(Method::POST, url, token, Some(body))?,
        )
        .await
    }
}
