//! Meta's error object and its mapping to [`TransportError`].
//!
//! Classification keys on `error.code` (never on the HTTP status alone; Meta documents
//! that statuses vary, e.g. 130429 arrives as 400 or 429). The HTTP status only decides
//! when the body carries no error object or an unknown code.
//!
//! | Meta code | Kind | Retry hint |
//! |---|---|---|
//! | 130429 | [`ThrottledNumber`](TransportErrorKind::ThrottledNumber) | `Retry-After` if sent |
//! | 131056 | [`ThrottledRecipient`](TransportErrorKind::ThrottledRecipient) | `Retry-After`, else 1 s (see [`pair_limit_backoff`]) |
//! | 4, 80007, 133016 | [`Throttled`](TransportErrorKind::Throttled) | `Retry-After` if sent |
//! | 2, 131000, 131016, 133004, HTTP 5xx | [`Retryable`](TransportErrorKind::Retryable) | `Retry-After` if sent |
//! | 1 with HTTP 5xx or `is_transient` (a server error) | [`Retryable`](TransportErrorKind::Retryable) | `Retry-After` if sent |
//! | 1 with HTTP 4xx ("invalid request": repeating it fails the same way) | [`Permanent`](TransportErrorKind::Permanent) | never |
//! | 131048 (spam rate limit: the number's quality is low; Meta advises no blind retry) | [`Permanent`](TransportErrorKind::Permanent) | never |
//! | 131057 | [`Retryable`](TransportErrorKind::Retryable) | `Retry-After`, else 60 s (maintenance / throughput upgrade) |
//! | 0, 190 | [`Auth`](TransportErrorKind::Auth) | never |
//! | everything else (100, 131008, 131009, 131026, 131047, 131049, 131050, 132xxx ...) | [`Permanent`](TransportErrorKind::Permanent) | never |
//!
//! An unknown code is [`Retryable`](TransportErrorKind::Retryable) when the HTTP status is
//! 5xx or Meta marks it `is_transient`, [`Throttled`](TransportErrorKind::Throttled) on 429,
//! [`Auth`](TransportErrorKind::Auth) on 401, otherwise permanent.
//!
//! Failures without an HTTP answer are classified by what may have reached Meta:
//!
//! | Failure | Kind |
//! |---|---|
//! | connect error (refused, DNS, TLS, connect timeout): nothing was written | [`Retryable`](TransportErrorKind::Retryable) |
//! | after connecting (response timeout, connection closed or reset, body read error), `POST` | [`OutcomeUnknown`](TransportErrorKind::OutcomeUnknown) |
//! | after connecting, idempotent method (`GET`, `DELETE`) | [`Retryable`](TransportErrorKind::Retryable) |
//! | 2xx whose body is not the expected answer, `POST` (a send without `messages[0].id` ...) | [`OutcomeUnknown`](TransportErrorKind::OutcomeUnknown) |
//! | 2xx whose body is not the expected answer, `GET` | [`Permanent`](TransportErrorKind::Permanent) (repeating it returns the same body) |
//! | non-2xx answer whose body cannot be read (a refusal without its reason) | [`Retryable`](TransportErrorKind::Retryable) |

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use wagw_core::{TransportError, TransportErrorKind};

/// Meta's synchronous error object (the `error` member of an error response).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct MetaError {
    /// `"(#131009) Parameter value is not valid"`.
    #[serde(default)]
    pub message: Option<String>,
    /// `OAuthException`, `GraphMethodException` ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Meta's error code; accepted as a number or a numeric string.
    #[serde(default, deserialize_with = "code_or_string")]
    pub code: Option<i64>,
    /// Deprecated sub-code (still seen, e.g. 2494055 with 130429).
    #[serde(default, deserialize_with = "code_or_string")]
    pub error_subcode: Option<i64>,
    /// `{"messaging_product": "whatsapp", "details": "..."}`, or a plain string.
    #[serde(default)]
    pub error_data: Option<Value>,
    /// Meta's trace id, for support requests.
    #[serde(default)]
    pub fbtrace_id: Option<String>,
    /// Generic Graph flag: the error is temporary.
    #[serde(default)]
    pub is_transient: Option<bool>,
    /// Generic Graph user-facing title.
    #[serde(default)]
    pub error_user_title: Option<String>,
    /// Generic Graph user-facing message.
    #[serde(default)]
    pub error_user_msg: Option<String>,
}

impl MetaError {
    /// `error_data.details`, or `error_data` itself when it is a string.
    pub fn details(&self) -> Option<&str> {
        match self.error_data.as_ref()? {
            Value::String(s) => Some(s),
            other => other.get("details")?.as_str(),
        }
    }

    /// Parses `{"error": {...}}`; `None` when the body is not an error response.
    pub fn from_body(body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        struct Envelope {
            error: MetaError,
        }
        serde_json::from_slice::<Envelope>(body)
            .ok()
            .map(|e| e.error)
    }
}

fn code_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Float(f64),
        Str(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Int(n)) => Some(n),
        #[allow(clippy::cast_possible_truncation)]
        Some(Raw::Float(f)) if f.fract() == 0.0 => Some(f as i64),
        Some(Raw::Str(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Suggested delay before the `attempt`-th retry (0-based) after a 131056 pair-rate-limit
/// error: Meta recommends waiting 4^attempt seconds (1 s, 4 s, 16 s, 64 s ...), capped at
/// 4^6 s (about 68 minutes).
///
/// The transport cannot know how often a pair was refused, so a 131056 error carries
/// `retry_after = 1 s` (the first step); the dispatcher, which counts attempts, grows it
/// with this function.
///
/// ```
/// use std::time::Duration;
/// use wagw_meta::transport::pair_limit_backoff;
/// assert_eq!(pair_limit_backoff(0), Duration::from_secs(1));
/// assert_eq!(pair_limit_backoff(2), Duration::from_secs(16));
/// ```
pub fn pair_limit_backoff(attempt: u32) -> Duration {
    Duration::from_secs(4u64.pow(attempt.min(6)))
}

/// What a person can do about a known code, used as the start of the error message.
fn reason(code: i64) -> Option<&'static str> {
    Some(match code {
        0 | 190 => "the access token is invalid or expired; refresh the channel's token",
        1 => "unknown Graph API error (invalid request or a server error); check the request",
        2 => "Graph API service temporarily unavailable",
        3 => "the app lacks the capability or permission for this call",
        4 => "app-level rate limit reached; slow down",
        10 | 200..=299 => {
            "permission denied; grant the app the WhatsApp permissions for this asset"
        }
        33 => "the business phone number does not exist or was deleted",
        100 => "invalid parameter; check the request fields",
        368 => "temporarily blocked for policy violations",
        80007 => "WhatsApp Business Account rate limit reached; slow down",
        130429 => "the sending number's throughput limit was reached; pace sends",
        130472 => "the recipient is part of a Meta experiment and cannot receive this message",
        130497 => "the business account may not message users in this country",
        131000 => "Meta reported an unknown error; retry later",
        131005 => "access denied; check the token's permissions",
        131008 => "a required parameter is missing",
        131009 => "a parameter value is not valid",
        131016 => "WhatsApp service temporarily unavailable",
        131021 => "the recipient cannot be the sender",
        131026 => "the number is not on WhatsApp or cannot receive messages",
        131030 => "the recipient is not in the test number's allowed list",
        131031 => "the business account is locked",
        131037 => "the number's display name is not approved",
        131042 => "business eligibility or payment issue; check the account's payment method",
        131045 => "the number's certificate is invalid; register it again",
        131047 => "outside the 24-hour window, send a template",
        131048 => {
            "spam rate limit reached: the number's message quality is low; do not resend, \
             review the content and audience"
        }
        131049 => "Meta limited marketing messages to this user; do not retry soon",
        131050 => "the user stopped marketing messages from this business",
        131051 => "unsupported message type",
        131052 => "media download error",
        131053 => "media upload error; check the file's type and size",
        131056 => "too many messages to this recipient; wait before sending to them again",
        131057 => "the business account is in maintenance mode; retry in about a minute",
        131062..=131064 => "the message is not allowed for this recipient or account",
        132000 => "template parameter count does not match the template",
        132001 => "template does not exist or is not approved",
        132005 => "template text is too long after filling in the parameters",
        132007 => "template content violates a formatting policy",
        132008 | 132012 => "a template parameter is formatted incorrectly",
        132015 => "template is paused for low quality",
        132016 => "template is disabled after repeated pauses",
        132068 => "the flow is blocked",
        132069 => "the flow is throttled",
        132002..=132999 => "the template message was refused",
        133000 => "deregistration was incomplete; deregister again",
        133004 => "registration server temporarily unavailable",
        133005 => "two-step verification PIN mismatch",
        133006..=133009 | 133015 => "registration needs a pause or re-verification",
        133010 => "the number is not registered on the Cloud API; register it",
        133016 => "too many register/deregister calls for this number (10 per 72 h)",
        135000 => "generic user error",
        136024 => "the verification code could not be requested",
        137000 => "the recipient's identity key hash does not match",
        _ => return None,
    })
}

fn kind_for(code: Option<i64>, status: u16, transient: bool) -> TransportErrorKind {
    use TransportErrorKind as K;
    match code {
        Some(130429) => K::ThrottledNumber,
        Some(131056) => K::ThrottledRecipient,
        Some(4 | 80007 | 133016) => K::Throttled,
        // Code 1 is "invalid request or possible server error": only the server-error half
        // is worth repeating.
        Some(1) if status >= 500 || transient => K::Retryable,
        Some(2 | 131000 | 131016 | 131057 | 133004) => K::Retryable,
        // 131048 (spam rate limit) is a quality restriction, not a rate: retrying the same
        // sends deepens it (reference §6.2, §8 "never auto-retry ... 131048").
        Some(0 | 190) => K::Auth,
        Some(code) if reason(code).is_some() => K::Permanent,
        _ if status >= 500 || transient || status == 408 => K::Retryable,
        _ if status == 429 => K::Throttled,
        _ if status == 401 => K::Auth,
        _ => K::Permanent,
    }
}

/// Maps a non-success HTTP answer from the Graph API to a classified [`TransportError`].
///
/// `retry_after` is the parsed `Retry-After` header, which wins over the built-in hints.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> TransportError {
    let parsed = MetaError::from_body(body);
    let code = parsed.as_ref().and_then(|e| e.code);
    let transient = parsed.as_ref().and_then(|e| e.is_transient) == Some(true);
    let kind = kind_for(code, status, transient);

    let mut message = String::new();
    match code.and_then(reason) {
        Some(reason) => message.push_str(reason),
        None => message.push_str(match kind {
            TransportErrorKind::Retryable => "temporary failure",
            TransportErrorKind::Throttled => "rate limited",
            TransportErrorKind::Auth => "not authorised",
            _ => "request refused",
        }),
    }
    match &parsed {
        Some(e) => {
            if let Some(m) = &e.message {
                message.push_str(": ");
                message.push_str(m);
            }
            if let Some(d) = e.details() {
                message.push_str(" (");
                message.push_str(d);
                message.push(')');
            }
            if let Some(sub) = e.error_subcode {
                message.push_str(&format!(" [subcode {sub}]"));
            }
            message.push_str(&format!(" [HTTP {status}]"));
            if let Some(trace) = &e.fbtrace_id {
                message.push_str(" [fbtrace_id ");
                message.push_str(trace);
                message.push(']');
            }
        }
        None => {
            message.push_str(&format!(" [HTTP {status}]"));
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if !text.is_empty() {
                message.push_str(": ");
                message.extend(text.chars().take(200));
            }
        }
    }

    let default_delay = match (kind, code) {
        (TransportErrorKind::ThrottledRecipient, _) => Some(pair_limit_backoff(0)),
        (_, Some(131057)) => Some(Duration::from_secs(60)),
        _ => None,
    };
    let mut error = TransportError::new(kind, message);
    if let Some(code) = code {
        error = error.with_code(code);
    }
    if let Some(delay) = retry_after.or(default_delay) {
        error = error.with_retry_after(delay);
    }
    error
}

/// Parses a `Retry-After` header: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Maps a failure to reach the Graph API, or to read its answer, to a [`TransportError`].
///
/// * A connect error (refused, DNS, TLS handshake, connect timeout) and a request that could
///   not be built are [`Retryable`](TransportErrorKind::Retryable): nothing was written.
/// * Any other failure (a timeout after connecting, a connection closed or reset while the
///   request or its answer was in flight, a body that could not be read) cannot prove the far
///   side did nothing. For a request whose method is idempotent (`GET`, `DELETE` ...),
///   repeating it is harmless, so it is [`Retryable`](TransportErrorKind::Retryable); for a
///   `POST` (a send, a template creation, a code request ...) it is
///   [`OutcomeUnknown`](TransportErrorKind::OutcomeUnknown).
pub(crate) fn network(error: &reqwest::Error, idempotent: bool) -> TransportError {
    let nothing_written = error.is_connect() || error.is_builder();
    let kind = if nothing_written || idempotent {
        TransportErrorKind::Retryable
    } else {
        TransportErrorKind::OutcomeUnknown
    };
    let what = match (error.is_connect(), error.is_timeout()) {
        (true, _) => "could not connect to the Graph API",
        (false, true) => "request timed out",
        (false, false) if error.is_body() || error.is_decode() => "answer could not be read",
        (false, false) => "network error",
    };
    // `{:#}`-like chain without the URL (which holds no secret, but is noisy).
    let mut message = format!("{what}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if kind == TransportErrorKind::OutcomeUnknown {
        message.push_str(" (the request was written; the far side may have acted on it)");
    }
    TransportError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_as_string_and_error_data_string() {
        let body = br#"{"error":{"message":"x","code":"131056","error_data":"too fast","fbtrace_id":"T"}}"#;
        let e = classify(400, None, body);
        assert_eq!(e.kind, TransportErrorKind::ThrottledRecipient);
        assert_eq!(e.code, Some(131056));
        assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
        assert!(e.message.contains("too fast") && e.message.contains("fbtrace_id T"));
    }

    #[test]
    fn code_1_and_131048_follow_the_reference() {
        let body = |code: i64| format!(r#"{{"error":{{"message":"x","code":{code}}}}}"#);
        assert_eq!(
            classify(400, None, body(1).as_bytes()).kind,
            TransportErrorKind::Permanent
        );
        assert_eq!(
            classify(500, None, body(1).as_bytes()).kind,
            TransportErrorKind::Retryable
        );
        let transient = br#"{"error":{"message":"x","code":1,"is_transient":true}}"#;
        assert_eq!(
            classify(400, None, transient).kind,
            TransportErrorKind::Retryable
        );
        for status in [400, 429] {
            let e = classify(status, None, body(131048).as_bytes());
            assert_eq!(e.kind, TransportErrorKind::Permanent, "HTTP {status}");
            assert_eq!(e.retry_after, None);
        }
    }

    #[test]
    fn no_body() {
        assert_eq!(classify(503, None, b"").kind, TransportErrorKind::Retryable);
        assert_eq!(
            classify(404, None, b"nope").kind,
            TransportErrorKind::Permanent
        );
        assert_eq!(classify(429, None, b"").kind, TransportErrorKind::Throttled);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
