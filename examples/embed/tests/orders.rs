//! Runs the shop of `embed` against the sandbox: an order confirmation goes out through the
//! dispatcher and the emulator, and the emulator's signed status webhooks update the shop's
//! own orders table, forward only; a number not on WhatsApp ends `failed` with Meta's reason.

use std::net::SocketAddr;
use std::time::Duration;

use embed::{Settings, WhatsApp, app};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A minimal HTTP/1.1 exchange: the status and the JSON body.
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    http_with(addr, method, path, "", body).await
}

/// [`http`] with extra header lines (each ending in `\r\n`).
async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response[9..12].parse().expect("status");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.into())),
    )
}

async fn wait_for(
    addr: SocketAddr,
    id: u64,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, order) = http(addr, "GET", &format!("/orders/{id}"), "").await;
        if done(&order) {
            return order;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {order}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_confirmation_is_sent_and_its_statuses_update_the_shop_table() {
    let dir = std::env::temp_dir().join(format!("wagw-embed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let settings = Settings {
        db: format!("sqlite://{}", dir.join("wagw.db").display()),
        sandbox_unreachable: vec!["0812-9999-0000".into()],
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (whatsapp, running) = WhatsApp::open(&settings, addr).await.expect("open");
    let server = tokio::spawn(async move { axum::serve(listener, app(whatsapp)).await });

    let (status, order) = http(
        addr,
        "POST",
        "/orders",
        r#"{"customer":"Budi","phone":"0812-3456-7890","total":"Rp 150.000"}"#,
    )
    .await;
    assert_eq!(status, 200, "{order}");
    let id = order["id"].as_u64().expect("id");
    assert!(order["whatsapp"].is_null());

    let (status, confirmed) = http(addr, "POST", &format!("/orders/{id}/confirm"), "").await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["whatsapp"], "queued");
    let order = wait_for(addr, id, |o| {
        matches!(o["whatsapp"].as_str(), Some("delivered" | "read"))
    })
    .await;
    assert!(order["whatsapp_error"].is_null(), "{order}");
    // A second click returns the same message: the emulator accepted one.
    let (status, _) = http(addr, "POST", &format!("/orders/{id}/confirm"), "").await;
    assert_eq!(status, 200);

    let (_, lost) = http(
        addr,
        "POST",
        "/orders",
        r#"{"customer":"Siti","phone":"0812-9999-0000","total":"Rp 75.000"}"#,
    )
    .await;
    let lost_id = lost["id"].as_u64().expect("id");
    http(addr, "POST", &format!("/orders/{lost_id}/confirm"), "").await;
    let lost = wait_for(addr, lost_id, |o| o["whatsapp"] == "failed").await;
    assert!(
        lost["whatsapp_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("131026")),
        "{lost}"
    );

    let (_, bad) = http(
        addr,
        "POST",
        "/orders",
        r#"{"customer":"X","phone":"12ab","total":"Rp 1"}"#,
    )
    .await;
    let (status, _) = http(addr, "POST", &format!("/orders/{}/confirm", bad["id"]), "").await;
    assert_eq!(
        status, 422,
        "an invalid number is refused before anything is stored"
    );

    let emulator = running.emulator().expect("sandbox");
    assert!(emulator.webhooks_idle(Duration::from_secs(20)).await);
    let counters = emulator.counters("106540352242923").expect("counters");
    assert_eq!(
        counters.accepted, 2,
        "one confirmation per order, the repeat click sent nothing: {counters:?}"
    );
    let (_, order) = http(addr, "GET", &format!("/orders/{id}"), "").await;
    let final_status = order["whatsapp"].clone();
    assert!(
        matches!(final_status.as_str(), Some("delivered" | "read")),
        "{order}"
    );

    // A late, redelivered `sent` for the order (Meta delivers out of order) cannot move the
    // shop's table back; an unsigned one is refused.
    let late = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281110003000", "phone_number_id": "106540352242923"},
        "statuses": [{"id": "wamid.late", "status": "sent", "timestamp": "1764370000", "recipient_id": "6281234567890", "biz_opaque_callback_data": format!("order:{id}")}]
    }}]}]})
    .to_string();
    let signature = wagw::meta::webhook::sign(b"sandbox-app-secret", late.as_bytes());
    let (status, _) = http_with(addr, "POST", "/whatsapp/webhook", "", &late).await;
    assert_eq!(status, 401, "unsigned");
    let header = format!("{}: {signature}\r\n", wagw::meta::webhook::SIGNATURE_HEADER);
    let (status, _) = http_with(addr, "POST", "/whatsapp/webhook", &header, &late).await;
    assert_eq!(status, 200);
    let (_, order) = http(addr, "GET", &format!("/orders/{id}"), "").await;
    assert_eq!(order["whatsapp"], final_status, "never moved back: {order}");

    server.abort();
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
