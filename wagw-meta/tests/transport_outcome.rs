//! A send whose answer is lost after the request was written is `OutcomeUnknown`, never
//! `Retryable`: Meta may have sent the message. Each test runs a small raw TCP server that
//! reads the whole request and then misbehaves in one way; the server counts the requests it
//! read in full, so every test also proves the request reached the far side (or, for the
//! connect error, that nothing did).

mod transport_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_support::{channel, meta_error};
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::transport::Transport;
use wagw_core::{ErrorCode, Retry, TransportError, TransportErrorKind as K};
use wagw_meta::MetaTransport;

/// What the server does once it has read a request.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Keeps the connection open and never answers.
    Silent,
    /// Answers this status with `Content-Length: 500` and closes after a few bytes.
    Truncated(u16),
    /// Answers 200 with this complete body.
    Complete(u16, &'static str),
    /// Closes the connection without answering.
    Close,
    /// Resets the connection (`SO_LINGER` 0) without answering.
    Reset,
}

struct Server {
    base: String,
    /// Requests read in full (headers and body).
    requests: Arc<AtomicUsize>,
}

async fn serve(behaviour: Behaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(handle(stream, behaviour, counter));
        }
    });
    Server { base, requests }
}

/// Reads one HTTP/1.1 request (headers, then `Content-Length` bytes of body).
async fn read_request(stream: &mut TcpStream) -> bool {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while data.len() < header_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    true
}

async fn handle(mut stream: TcpStream, behaviour: Behaviour, requests: Arc<AtomicUsize>) {
    if !read_request(&mut stream).await {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    match behaviour {
        Behaviour::Silent => {
            // Hold the connection open well past the client's timeout.
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Behaviour::Truncated(status) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                 Content-Length: 500\r\n\r\n{{\"messaging_product\":\"wha"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Behaviour::Complete(status, body) => {
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
        }
        Behaviour::Close => {}
        Behaviour::Reset => {
            stream.set_zero_linger().unwrap();
        }
    }
    drop(stream);
}

fn text() -> OutboundMessage {
    OutboundMessage::new("628123456789", MessageContent::text("Halo"))
}

fn transport(base: &str) -> MetaTransport {
    MetaTransport::builder()
        .base_url(base)
        .access_token("t")
        .connect_timeout(Duration::from_millis(200))
        .timeout(Duration::from_millis(400))
        .build()
        .unwrap()
}

/// Sends one message to a server behaving as told; returns the error and how many requests
/// the server read in full.
async fn send_to(behaviour: Behaviour) -> (TransportError, usize) {
    let server = serve(behaviour).await;
    let error = transport(&server.base)
        .send(&channel(None), &text())
        .await
        .expect_err("the send fails");
    (error, server.requests.load(Ordering::SeqCst))
}

fn assert_unknown(error: &TransportError, requests: usize) {
    assert_eq!(error.kind, K::OutcomeUnknown, "{error}");
    assert_eq!(requests, 1, "the request reached the server exactly once");
    assert_eq!(error.code(), ErrorCode::TransportUnavailable);
    assert_eq!(error.retry(), Retry::Never, "never retried blindly");
    assert!(
        error.message.contains("may have"),
        "the reason says the message may have been sent: {}",
        error.message
    );
}

#[tokio::test]
async fn no_answer_before_the_timeout_is_outcome_unknown() {
    let (error, requests) = send_to(Behaviour::Silent).await;
    assert_unknown(&error, requests);
    assert!(error.message.contains("timed out"), "{}", error.message);
}

#[tokio::test]
async fn a_cut_off_success_body_is_outcome_unknown() {
    let (error, requests) = send_to(Behaviour::Truncated(200)).await;
    assert_unknown(&error, requests);
}

/// A refusal was not an acceptance, even when its reason is cut off: nothing was sent.
#[tokio::test]
async fn a_cut_off_refusal_is_retryable() {
    let (error, requests) = send_to(Behaviour::Truncated(400)).await;
    assert_eq!(requests, 1);
    assert_eq!(error.kind, K::Retryable, "{error}");
    assert!(error.message.contains("400"), "{}", error.message);
}

#[tokio::test]
async fn an_unparsable_success_answer_is_outcome_unknown() {
    for body in [
        "<html>Service OK</html>",
        r#"{"messaging_product":"whatsapp","messages":[]}"#,
        r#"{"messages":[{"wamid":"x"}]}"#,
    ] {
        let (error, requests) = send_to(Behaviour::Complete(200, body)).await;
        assert_unknown(&error, requests);
    }
}

#[tokio::test]
async fn a_connection_closed_after_the_request_is_outcome_unknown() {
    let (error, requests) = send_to(Behaviour::Close).await;
    assert_unknown(&error, requests);
}

#[tokio::test]
async fn a_connection_reset_after_the_request_is_outcome_unknown() {
    let (error, requests) = send_to(Behaviour::Reset).await;
    assert_unknown(&error, requests);
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    // Bind, learn the port, close: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = transport(&format!("http://127.0.0.1:{port}"))
        .send(&channel(None), &text())
        .await
        .unwrap_err();
    assert_eq!(error.kind, K::Retryable, "{error}");
    assert!(error.message.contains("connect"), "{}", error.message);
    assert_eq!(error.retry(), Retry::Backoff);
}

#[tokio::test]
async fn a_meta_error_answer_is_still_classified_by_its_code() {
    let body = meta_error(json!(131056), "(#131056) Pair rate limit hit").to_string();
    let body: &'static str = Box::leak(body.into_boxed_str());
    let (error, requests) = send_to(Behaviour::Complete(400, body)).await;
    assert_eq!(requests, 1);
    assert_eq!(error.kind, K::ThrottledRecipient, "{error}");
    assert_eq!(error.code, Some(131056));
    assert_eq!(error.retry_after, Some(Duration::from_secs(1)));

    let body = meta_error(json!(131026), "Message undeliverable").to_string();
    let body: &'static str = Box::leak(body.into_boxed_str());
    let (error, _) = send_to(Behaviour::Complete(400, body)).await;
    assert_eq!((error.kind, error.code), (K::Permanent, Some(131026)));
}

/// Decision: a lost answer to an idempotent `GET` is retryable (asking again is harmless),
/// and a `GET` answer that does not parse stays permanent (asking again returns it again).
#[tokio::test]
async fn a_lost_answer_to_a_get_is_retryable() {
    for behaviour in [
        Behaviour::Silent,
        Behaviour::Close,
        Behaviour::Truncated(200),
    ] {
        let server = serve(behaviour).await;
        let error = transport(&server.base)
            .get_media(&channel(None), "123")
            .await
            .unwrap_err();
        assert_eq!(error.kind, K::Retryable, "{error}");
        assert!(server.requests.load(Ordering::SeqCst) >= 1);
    }
    let server = serve(Behaviour::Complete(200, "not json")).await;
    let error = transport(&server.base)
        .get_media(&channel(None), "123")
        .await
        .unwrap_err();
    assert_eq!(error.kind, K::Permanent, "{error}");
}

/// Other `POST`s may have acted too (a template created, a code sent by SMS): the same rule.
#[tokio::test]
async fn a_lost_answer_to_another_post_is_outcome_unknown() {
    let server = serve(Behaviour::Close).await;
    let error = transport(&server.base)
        .request_code(
            &channel(None),
            wagw_core::transport::CodeMethod::Sms,
            "en_US",
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, K::OutcomeUnknown, "{error}");
    let server = serve(Behaviour::Complete(200, "{}oops")).await;
    let error = transport(&server.base)
        .request_code(
            &channel(None),
            wagw_core::transport::CodeMethod::Sms,
            "en_US",
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, K::OutcomeUnknown, "{error}");
}
