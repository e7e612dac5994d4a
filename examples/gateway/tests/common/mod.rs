//! A sandbox gateway per test: a fresh SQLite file, the emulator, the router served on a
//! loopback port (for the emulator's webhooks) and called in-process with `oneshot`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use gateway::app::app;
use gateway::{Config, Gateway};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wagw_core::runtime::Runtime;

/// A running test gateway.
pub struct TestGateway {
    pub router: Router,
    pub gateway: Gateway,
    pub key: String,
    pub platform: String,
    pub channel: String,
    pub dir: PathBuf,
    pub addr: std::net::SocketAddr,
    runtime: Option<Runtime>,
    server: tokio::task::JoinHandle<()>,
}

/// An answer: status, headers and JSON (or text as a JSON string).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl TestGateway {
    /// Starts a sandbox gateway; with `workers`, the background loops run too.
    pub async fn start(workers: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("wagw-gateway-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let gateway = Gateway::build(&config, addr, None).await.expect("gateway");
        gateway
            .state
            .ready
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let router = app(gateway.state.clone());
        let served = router.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, served).await;
        });
        let runtime = workers.then(|| gateway.runtime().expect("runtime").start());
        let seeded = gateway.seeded.clone().expect("sandbox seeded");
        Self {
            router,
            key: seeded.api_key,
            platform: gateway.platform_token.clone().expect("platform token"),
            channel: seeded.channels[0].to_string(),
            gateway,
            dir,
            addr,
            runtime,
            server,
        }
    }

    /// Sends a request with an optional credential (`x-api-key`) and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header("x-api-key", key);
        }
        let request = match body {
            Some(b) => builder
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => builder.body(Body::empty()),
        }
        .expect("request");
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::String(text.clone()));
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    /// As the sandbox tenant's admin key.
    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, Some(&self.key.clone()), None).await
    }

    /// As the sandbox tenant's admin key.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(&self.key.clone()), Some(body))
            .await
    }

    /// Creates another tenant through the platform API and returns its admin key.
    pub async fn other_tenant(&self, plan: &str) -> (String, String) {
        let platform = self.platform.clone();
        let created = self
            .send(
                Request::post("/platform/v1/tenants")
                    .header("authorization", format!("Bearer {platform}"))
                    .header("content-type", "application/json")
                    .body(Body::from(
                        json!({ "name": "Tenant B", "plan": plan }).to_string(),
                    ))
                    .expect("request"),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let tenant = created.json["data"]["id"].as_str().expect("id").to_owned();
        let key = self
            .send(
                Request::post(format!("/platform/v1/tenants/{tenant}/api-keys"))
                    .header("authorization", format!("Bearer {platform}"))
                    .header("content-type", "application/json")
                    .body(Body::from(
                        json!({ "name": "b-admin", "scopes": ["admin"] }).to_string(),
                    ))
                    .expect("request"),
            )
            .await;
        assert_eq!(key.status, StatusCode::CREATED, "{}", key.text);
        (
            tenant,
            key.json["data"]["secret"]
                .as_str()
                .expect("secret")
                .to_owned(),
        )
    }

    /// Polls `done` until it holds (generous deadline for a loaded machine).
    pub async fn wait_for(&self, what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the loops and the server, removes the data.
    pub async fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown().await;
        }
        self.server.abort();
        let dir = self.dir.clone();
        self.gateway.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Asserts the one error shape and returns the code.
pub fn error_code(answer: &Answer) -> String {
    let j = &answer.json;
    assert_eq!(j["success"], json!(false), "error shape: {}", answer.text);
    assert!(j["error"].is_string(), "error shape: {}", answer.text);
    assert!(j.get("details").is_some(), "error shape: {}", answer.text);
    assert!(
        j["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "error shape: {}",
        answer.text
    );
    j["code"].as_str().expect("code").to_owned()
}
