//! Transport plumbing: the per-call timeout does not cut media downloads (they stream),
//! media lookups carry no `phone_number_id`, base URL / version validation, phone-number
//! paging to the end, and HTTP/2 (h2c) against the emulator.

mod transport_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use transport_support::*;
use wagw_core::TransportErrorKind;
use wagw_core::transport::Transport;
use wagw_meta::MetaTransport;
use wiremock::matchers::{method, path, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const MEDIA: &str = "1013859600285441";
const CHUNKS: usize = 12;
const CHUNK: usize = 4096;

/// A one-route HTTP/1.1 server that answers every request with `CHUNKS` chunks of `CHUNK`
/// bytes, `gap` apart; returns its URL.
async fn slow_file_server(gap: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/file", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let header = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/pdf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    CHUNKS * CHUNK
                );
                if socket.write_all(header.as_bytes()).await.is_err() {
                    return;
                }
                for i in 0..CHUNKS {
                    tokio::time::sleep(gap).await;
                    if socket.write_all(&[b'a' + i as u8; CHUNK]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

async fn media_server(download_url: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{MEDIA}")))
        // Media a user sent in does not belong to the business number: asking with
        // `phone_number_id` would make Meta refuse the lookup.
        .and(query_param_is_missing("phone_number_id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "url": download_url, "mime_type": "application/pdf",
            "sha256": "00", "file_size": (CHUNKS * CHUNK).to_string(), "id": MEDIA})))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_download_outlasting_the_call_timeout_streams_to_the_end() {
    // The whole body takes at least 12 × 100 ms = 1.2 s; a call may take 300 ms.
    let file = slow_file_server(Duration::from_millis(100)).await;
    let server = media_server(&file).await;
    let meta = MetaTransport::builder()
        .base_url(server.uri())
        .access_token("t")
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let ch = channel(None);

    let mut download = meta.media_download(&ch, MEDIA).await.unwrap();
    assert_eq!(download.info().mime_type, "application/pdf");
    let mut chunks = 0;
    let mut total = 0;
    while let Some(chunk) = download.chunk().await.unwrap() {
        chunks += 1;
        total += chunk.len();
    }
    assert_eq!(total, CHUNKS * CHUNK);
    assert!(chunks > 1, "the body arrives in pieces, not buffered whole");
    assert_eq!(download.received(), (CHUNKS * CHUNK) as u64);

    let bytes = meta.download_media(&ch, MEDIA).await.unwrap();
    assert_eq!(bytes.len(), CHUNKS * CHUNK);
    assert_eq!(bytes[0], b'a');
    assert_eq!(bytes[bytes.len() - 1], b'a' + (CHUNKS - 1) as u8);
}

#[tokio::test]
async fn download_timeout_and_read_timeout_bound_a_download() {
    let file = slow_file_server(Duration::from_millis(150)).await;
    let server = media_server(&file).await;
    let ch = channel(None);
    let capped = MetaTransport::builder()
        .base_url(server.uri())
        .access_token("t")
        .download_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = capped.download_media(&ch, MEDIA).await.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Retryable, "{error}");

    let stalled = MetaTransport::builder()
        .base_url(server.uri())
        .access_token("t")
        .read_timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let error = stalled.download_media(&ch, MEDIA).await.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Retryable, "{error}");
}

#[tokio::test]
async fn a_send_still_times_out_as_outcome_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messages": [{"id": "wamid.X"}]}))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let meta = MetaTransport::builder()
        .base_url(server.uri())
        .access_token("t")
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let message = wagw_core::content::OutboundMessage::new(
        "628123456789",
        wagw_core::content::MessageContent::text("Halo"),
    );
    let error = meta.send(&channel(None), &message).await.unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::OutcomeUnknown, "{error}");
}

#[test]
fn a_base_url_holding_a_version_and_malformed_versions_are_refused() {
    for base in [
        "https://graph.facebook.com/v23.0",
        "https://graph.facebook.com/v23.0/",
        "http://proxy.local/graph/v21.0",
    ] {
        let error = MetaTransport::builder().base_url(base).build().unwrap_err();
        assert_eq!(error.code(), "INVALID_CONFIG", "{base}");
        assert!(error.to_string().contains("api_version"), "{error}");
    }
    for version in [
        "23.0", "v23", "latest", "v23.0.1", "V23.0", "v.0", "v23.x", "",
    ] {
        let error = MetaTransport::builder()
            .api_version(version)
            .build()
            .unwrap_err();
        assert_eq!(error.code(), "INVALID_CONFIG", "{version:?}");
    }
    for version in ["v23.0", "v9.0", "v26.1", " v24.0 "] {
        assert!(
            MetaTransport::builder()
                .api_version(version)
                .build()
                .is_ok(),
            "{version:?}"
        );
    }
    // A path prefix without a version is still fine.
    assert!(
        MetaTransport::builder()
            .base_url("http://proxy.local/graph")
            .build()
            .is_ok()
    );
}

/// Serves `pages` pages of one number each; the cursor of page i is `c{i}`.
struct Pages {
    pages: usize,
    served: Arc<AtomicUsize>,
    repeat_cursor: bool,
}

impl Respond for Pages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.served.fetch_add(1, Ordering::SeqCst);
        let page = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "after")
            .and_then(|(_, v)| v.strip_prefix('c')?.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = json!({"data": [{"id": format!("pn{page}")}]});
        if page + 1 < self.pages {
            let next = if self.repeat_cursor { 1 } else { page + 1 };
            body["paging"] = json!({"cursors": {"after": format!("c{next}")},
                "next": format!("https://graph.facebook.com/next?after=c{next}")});
        } else {
            body["paging"] = json!({"cursors": {"after": "last"}});
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

#[tokio::test]
async fn phone_numbers_are_listed_to_the_last_page() {
    let server = MockServer::start().await;
    let served = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{WABA}/phone_numbers")))
        .respond_with(Pages {
            pages: 130,
            served: Arc::clone(&served),
            repeat_cursor: false,
        })
        .mount(&server)
        .await;
    let numbers = transport(&server.uri())
        .list_phone_numbers(WABA, None)
        .await
        .unwrap();
    assert_eq!(numbers.len(), 130);
    assert_eq!(numbers[129].id, "pn129");
    assert_eq!(served.load(Ordering::SeqCst), 130);
}

#[tokio::test]
async fn a_repeated_paging_cursor_is_an_error_not_a_loop() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v23.0/{WABA}/phone_numbers")))
        .respond_with(Pages {
            pages: 10,
            served: Arc::new(AtomicUsize::new(0)),
            repeat_cursor: true,
        })
        .mount(&server)
        .await;
    let error = transport(&server.uri())
        .list_phone_numbers(WABA, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Permanent);
    assert!(error.message.contains("repeated"), "{error}");
}
