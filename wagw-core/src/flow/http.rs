//! The client behind `http` nodes: a trait, so tests and embedders can stand in for it, and
//! (feature `http`) the implementation through the SSRF guard.

use std::time::Duration;

use async_trait::async_trait;

/// A request an `http` node makes, with its templates already filled.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowHttpRequest {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers (an `Idempotency-Key` derived from the inbound message is among them).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// Total timeout.
    pub timeout: Duration,
}

/// The response (any status) or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowHttpResponse {
    /// HTTP status.
    pub status: u16,
    /// The body (within the size cap).
    pub body: Vec<u8>,
}

/// Makes the calls of `http` nodes. Failures are `(kind, detail)` with kind one of `timeout`,
/// `denied`, `too_large`, `invalid_request`, `connect`: the node stores it in `http.error` and
/// takes its `on_error` edge.
#[async_trait]
pub trait FlowHttp: Send + Sync {
    /// Performs one request.
    async fn call(
        &self,
        request: FlowHttpRequest,
    ) -> Result<FlowHttpResponse, (&'static str, String)>;
}

/// [`FlowHttp`] through the SSRF guard ([`GuardedClient`](crate::net::GuardedClient)).
#[cfg(feature = "http")]
#[derive(Debug, Clone)]
pub struct GuardedFlowHttp {
    client: crate::net::GuardedClient,
}

#[cfg(feature = "http")]
impl GuardedFlowHttp {
    /// A client enforcing `policy`.
    ///
    /// # Errors
    ///
    /// As [`GuardedClient::new`](crate::net::GuardedClient::new).
    pub fn new(policy: crate::net::NetPolicy) -> crate::Result<Self> {
        Ok(Self {
            client: crate::net::GuardedClient::new(policy)?,
        })
    }
}

#[cfg(feature = "http")]
#[async_trait]
impl FlowHttp for GuardedFlowHttp {
    async fn call(
        &self,
        request: FlowHttpRequest,
    ) -> Result<FlowHttpResponse, (&'static str, String)> {
        let mut outbound = crate::net::HttpRequest::new(request.method, request.url);
        outbound.headers = request.headers;
        outbound.timeout = Some(request.timeout);
        if let Some(body) = request.body {
            outbound = outbound.header("Content-Type", "application/json");
            outbound.body = Some(body.to_string().into_bytes());
        }
        match self.client.send(outbound).await {
            Ok(response) => Ok(FlowHttpResponse {
                status: response.status,
                body: response.body,
            }),
            Err(failure) => Err((failure.kind(), failure.to_string())),
        }
    }
}
