//! The plan's upload budget: 5 uploads per minute per key on the basic plan (media uploads,
//! URL→media fetches and CSV imports share it), answering 429 with `Retry-After`.

mod common;

use axum::http::StatusCode;
use common::{TestGateway, error_code};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sixth_upload_in_a_minute_is_refused_with_retry_after() {
    let gw = TestGateway::start(false).await;
    let (_, basic) = gw.other_tenant("basic").await;
    // The handlers refuse these bodies, but every attempt is charged before the handler.
    let uploads = [
        ("/v1/media", json!({ "file": "x" })),
        ("/v1/media", json!({ "file": "x" })),
        ("/v1/media/from-url", json!({})),
        ("/v1/media/from-url", json!({})),
        ("/v1/contacts/import", json!({})),
    ];
    for (path, body) in uploads {
        let a = gw.call("POST", path, Some(&basic), Some(body)).await;
        assert_ne!(
            a.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            a.text
        );
    }
    let limited = gw
        .call(
            "POST",
            "/v1/media",
            Some(&basic),
            Some(json!({ "file": "x" })),
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "retry after {retry} s");
    // The import route shares the budget.
    let import = gw
        .call(
            "POST",
            "/v1/lists/00000000-0000-0000-0000-000000000000/import",
            Some(&basic),
            Some(json!({})),
        )
        .await;
    assert_eq!(import.status, StatusCode::TOO_MANY_REQUESTS);
    // Other requests of the same key are not uploads and still pass.
    let contact = gw
        .call(
            "POST",
            "/v1/contacts",
            Some(&basic),
            Some(json!({ "phone": "08123456789" })),
        )
        .await;
    assert_ne!(
        contact.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        contact.text
    );
    assert_eq!(
        gw.call("GET", "/v1/channels", Some(&basic), None)
            .await
            .status,
        StatusCode::OK
    );
    gw.stop().await;
}
