//! How Meta's error answers, `Retry-After` and network failures map to `TransportError`.

mod transport_support;

use std::time::Duration;

use serde_json::json;
use transport_support::{channel, meta_error, transport};
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::transport::Transport;
use wagw_core::{ErrorCode, Retry, TransportError, TransportErrorKind as K};
use wagw_meta::MetaTransport;
use wagw_meta::transport::{classify, pair_limit_backoff};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn text() -> OutboundMessage {
    OutboundMessage::new("628123456789", MessageContent::text("Halo"))
}

async fn send_against(response: ResponseTemplate) -> TransportError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(&server)
        .await;
    transport(&server.uri())
        .send(&channel(None), &text())
        .await
        .expect_err("Meta refused")
}

/// (code, HTTP status Meta uses, expected kind, words the message must contain)
const TABLE: &[(i64, u16, K, &str)] = &[
    (130429, 400, K::ThrottledNumber, "throughput"),
    (130429, 429, K::ThrottledNumber, "throughput"),
    (131056, 400, K::ThrottledRecipient, "recipient"),
    (4, 400, K::Throttled, "rate limit"),
    (80007, 429, K::Throttled, "rate limit"),
    (131048, 400, K::Permanent, "spam"),
    (131048, 429, K::Permanent, "do not resend"),
    (1, 400, K::Permanent, "invalid request"),
    (1, 500, K::Retryable, "server error"),
    (131000, 500, K::Retryable, "unknown error"),
    (131016, 503, K::Retryable, "unavailable"),
    (131057, 500, K::Retryable, "maintenance"),
    (190, 401, K::Auth, "token"),
    (0, 401, K::Auth, "token"),
    (131026, 400, K::Permanent, "not on WhatsApp"),
    (131047, 400, K::Permanent, "24-hour window, send a template"),
    (131049, 400, K::Permanent, "marketing"),
    (131050, 400, K::Permanent, "stopped marketing"),
    (132000, 400, K::Permanent, "parameter count"),
    (
        132001,
        404,
        K::Permanent,
        "does not exist or is not approved",
    ),
    (132015, 400, K::Permanent, "paused"),
    (100, 400, K::Permanent, "invalid parameter"),
    (131008, 400, K::Permanent, "required parameter"),
    (131009, 400, K::Permanent, "not valid"),
    (10, 403, K::Permanent, "permission"),
    (999_999, 400, K::Permanent, "request refused"),
    (999_999, 500, K::Retryable, "temporary"),
];

#[tokio::test]
async fn meta_codes_map_to_kinds() {
    for &(code, status, kind, words) in TABLE {
        let body = meta_error(json!(code), &format!("(#{code}) Title"));
        let error = send_against(ResponseTemplate::new(status).set_body_json(body)).await;
        assert_eq!(error.kind, kind, "code {code} HTTP {status}: {error}");
        assert_eq!(error.code, Some(code), "code kept");
        assert!(
            error.message.contains(words),
            "code {code}: {:?} lacks {words:?}",
            error.message
        );
        assert!(
            error.message.contains("AbCdEfGh"),
            "fbtrace_id in {:?}",
            error.message
        );
        assert!(
            error.message.contains("details here"),
            "details in {:?}",
            error.message
        );
        let retry = error.retry();
        match kind {
            K::Permanent | K::Auth => assert_eq!(retry, Retry::Never, "code {code}"),
            _ => assert_ne!(retry, Retry::Never, "code {code}"),
        }
    }
}

#[test]
fn classification_keys_on_code_not_status() {
    // 130429 is throttling whatever the status; 131047 is permanent even on a 500.
    let body = |code: i64| serde_json::to_vec(&meta_error(json!(code), "x")).unwrap();
    assert_eq!(classify(200, None, &body(130429)).kind, K::ThrottledNumber);
    assert_eq!(classify(500, None, &body(131047)).kind, K::Permanent);
    assert_eq!(classify(400, None, &body(131000)).kind, K::Retryable);
    assert_eq!(
        classify(400, None, &body(190)).code(),
        ErrorCode::Unauthorized
    );
    // Unknown code: Meta's is_transient flag and the status decide.
    let transient = json!({"error": {"code": 12345, "is_transient": true, "message": "x"}});
    assert_eq!(
        classify(400, None, &serde_json::to_vec(&transient).unwrap()).kind,
        K::Retryable
    );
    // No JSON at all: status decides.
    assert_eq!(
        classify(502, None, b"<html>Bad gateway</html>").kind,
        K::Retryable
    );
    assert_eq!(classify(429, None, b"").kind, K::Throttled);
    assert_eq!(classify(401, None, b"").kind, K::Auth);
    assert_eq!(classify(400, None, b"oops").kind, K::Permanent);
    assert_eq!(classify(400, None, b"oops").code, None);
}

#[tokio::test]
async fn code_as_string_and_error_data_as_string() {
    let body = json!({"error": {"message": "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        "type": "OAuthException", "code": "131056", "error_subcode": "2494055",
        "error_data": "Message failed to send because there were too many messages",
        "fbtrace_id": "Az8or2yhqkZfEZ"}});
    let error = send_against(ResponseTemplate::new(400).set_body_json(body)).await;
    assert_eq!(error.kind, K::ThrottledRecipient);
    assert_eq!(error.code, Some(131056));
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));
    assert!(error.message.contains("too many messages"));
    assert!(error.message.contains("2494055"));
    assert!(error.message.contains("Az8or2yhqkZfEZ"));
}

#[test]
fn pair_limit_backoff_grows_by_four() {
    let steps: Vec<u64> = (0..5).map(|n| pair_limit_backoff(n).as_secs()).collect();
    assert_eq!(steps, [1, 4, 16, 64, 256]);
    assert_eq!(pair_limit_backoff(50), pair_limit_backoff(6));
}

#[tokio::test]
async fn retry_after_header_is_honoured() {
    let throttled = ResponseTemplate::new(429)
        .insert_header("retry-after", "17")
        .set_body_json(meta_error(json!(130429), "(#130429) Rate limit hit"));
    let error = send_against(throttled).await;
    assert_eq!(error.kind, K::ThrottledNumber);
    assert_eq!(error.retry_after, Some(Duration::from_secs(17)));
    assert_eq!(error.retry(), Retry::After(Duration::from_secs(17)));

    // The header also wins over the 131056 default hint and applies to 5xx without a body.
    let pair = ResponseTemplate::new(400)
        .insert_header("retry-after", "30")
        .set_body_json(meta_error(json!(131056), "pair"));
    assert_eq!(
        send_against(pair).await.retry_after,
        Some(Duration::from_secs(30))
    );
    let unavailable = ResponseTemplate::new(503).insert_header("retry-after", "5");
    let error = send_against(unavailable).await;
    assert_eq!(
        (error.kind, error.retry_after),
        (K::Retryable, Some(Duration::from_secs(5)))
    );

    // Maintenance mode without a header: about a minute.
    let maintenance = ResponseTemplate::new(500).set_body_json(meta_error(json!(131057), "m"));
    assert_eq!(
        send_against(maintenance).await.retry_after,
        Some(Duration::from_secs(60))
    );
}

#[tokio::test]
async fn network_error_is_retryable() {
    // Bind, learn the port, close: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let meta = transport(&format!("http://127.0.0.1:{port}"));
    let error = meta.send(&channel(None), &text()).await.unwrap_err();
    assert_eq!(error.kind, K::Retryable, "{error}");
    assert_eq!(error.code, None);
    assert_eq!(error.retry(), Retry::Backoff);
}

#[tokio::test]
async fn send_timeout_is_outcome_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let meta = MetaTransport::builder()
        .base_url(server.uri())
        .access_token("t")
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = meta.send(&channel(None), &text()).await.unwrap_err();
    // The request was written: Meta may have sent the message (see transport_outcome.rs).
    assert_eq!(error.kind, K::OutcomeUnknown);
    assert!(error.message.contains("timed out"), "{}", error.message);
}

#[tokio::test]
async fn errors_on_other_calls_are_classified_too() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(meta_error(json!(100), "(#100) Unsupported get request")),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(401).set_body_json(meta_error(json!(190), "expired")))
        .mount(&server)
        .await;
    let meta = transport(&server.uri());
    let ch = channel(None);
    let error = meta.get_media(&ch, "123").await.unwrap_err();
    assert_eq!((error.kind, error.code), (K::Permanent, Some(100)));
    let error = meta.delete_template(&ch, "x").await.unwrap_err();
    assert_eq!((error.kind, error.code), (K::Auth, Some(190)));
    let error = meta.list_templates(&ch, None).await.unwrap_err();
    assert_eq!(error.kind, K::Permanent);
}
