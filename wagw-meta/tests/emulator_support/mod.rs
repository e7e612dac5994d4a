//! Helpers shared by the emulator tests: a webhook sink and a small Graph client.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::Value;
use wagw_meta::emulator::{Emulator, EmulatorBuilder, PhoneNumberSpec};

pub const PNID: &str = "106540352242922";
pub const DISPLAY: &str = "15550783881";
pub const WABA: &str = "419561257915477";
pub const SECRET: &str = "app-secret";
pub const TOKEN: &str = "test-token";
pub const USER: &str = "16505551234";

/// One webhook POST received.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: Option<String>,
    pub body: Bytes,
    pub json: Value,
}

#[derive(Debug, Default)]
struct SinkState {
    received: Mutex<Vec<Received>>,
    refusals: AtomicUsize,
    attempts: AtomicUsize,
}

/// A webhook receiver: records every POST; refuses the first `refusals` with 500.
#[derive(Debug, Clone)]
pub struct Sink {
    url: String,
    state: Arc<SinkState>,
}

async fn receive(
    State(state): State<Arc<SinkState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.attempts.fetch_add(1, Ordering::SeqCst);
    let refuse = state
        .refusals
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let json = serde_json::from_slice(&body).expect("webhook body is JSON");
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state.received.lock().push(Received {
        signature,
        body,
        json,
    });
    StatusCode::OK
}

impl Sink {
    pub async fn start() -> Self {
        Self::refusing(0).await
    }

    /// A sink answering 500 to the first `refusals` POSTs.
    pub async fn refusing(refusals: usize) -> Self {
        let state = Arc::new(SinkState::default());
        state.refusals.store(refusals, Ordering::SeqCst);
        let app = Router::new()
            .route("/webhook", post(receive))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, state }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().clone()
    }

    /// Waits until `pred` holds on what was received, or panics after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if pred(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {:#?}",
                received.iter().map(|r| &r.json).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// All status items received, in arrival order: (wamid, status, item).
    pub fn statuses(&self) -> Vec<(String, String, Value)> {
        statuses_of(&self.received())
    }

    /// Waits for `n` status items.
    pub async fn wait_statuses(&self, n: usize) -> Vec<(String, String, Value)> {
        let received = self
            .wait_until(Duration::from_secs(10), &format!("{n} statuses"), |r| {
                statuses_of(r).len() >= n
            })
            .await;
        statuses_of(&received)
    }
}

pub fn statuses_of(received: &[Received]) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for r in received {
        for entry in r.json["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                for status in change["value"]["statuses"].as_array().into_iter().flatten() {
                    out.push((
                        status["id"].as_str().unwrap_or_default().to_owned(),
                        status["status"].as_str().unwrap_or_default().to_owned(),
                        status.clone(),
                    ));
                }
            }
        }
    }
    out
}

/// The default test number.
pub fn number() -> PhoneNumberSpec {
    PhoneNumberSpec::new(PNID, DISPLAY, WABA)
}

/// A builder with the test number and a webhook to `sink`.
pub fn builder(sink: Option<&Sink>) -> EmulatorBuilder {
    let builder = Emulator::builder().seed(42).number(number());
    match sink {
        Some(sink) => builder.webhook(sink.url(), SECRET),
        None => builder,
    }
}

/// A Graph client for the emulator.
pub struct Graph {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Graph {
    pub fn new(emulator: &Emulator) -> Self {
        Self {
            base: format!("{}/v23.0", emulator.base_url()),
            http: reqwest::Client::new(),
            token: Some(emulator.access_token().to_owned()),
        }
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn finish(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("emulator answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(
            self.auth(
                self.http
                    .post(format!("{}{path}", self.base))
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(body).unwrap()),
            ),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::finish(self.auth(self.http.get(format!("{}{path}", self.base)))).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        Self::finish(self.auth(self.http.delete(format!("{}{path}", self.base)))).await
    }

    pub async fn send(&self, body: &Value) -> (u16, Value) {
        self.post(&format!("/{PNID}/messages"), body).await
    }
}

/// A text message to `to`.
pub fn text(to: &str, body: &str) -> Value {
    serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    })
}

/// The error code of an error body.
pub fn code(body: &Value) -> i64 {
    body["error"]["code"].as_i64().unwrap_or(0)
}

/// The details of an error body.
pub fn details(body: &Value) -> String {
    body["error"]["error_data"]["details"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
