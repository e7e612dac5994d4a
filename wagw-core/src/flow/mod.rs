//! The flow engine: loads, validates and runs chatbot flows.
//!
//! - [`load_document`]: reads a flow document — the envelope `{version: 1, start, vars,
//!   settings, nodes}` or GVINUM's ChatFlow map of state → node, unchanged (`start` = `root`).
//! - [`validate()`]: every problem of a document with its JSON Pointer location; [`activate`]
//!   refuses a document with errors.
//! - [`Engine`]: the [`FlowEngine`](crate::FlowEngine) over a [`Store`](crate::Store) and an
//!   HTTP client for `http` nodes ([`FlowHttp`]; [`GuardedFlowHttp`] with feature `http`).
//!
//! ```
//! use wagw_core::flow::{load_document, validate, Severity};
//!
//! let gvinum = r#"{
//!   "root": {"type": "text", "state": "root",
//!            "content": "Selamat datang! Pilih layanan:\n1. Produk\n2. Bantuan",
//!            "options": {"1": "produk", "2": "bantuan"}},
//!   "produk": {"type": "text", "state": "produk", "content": "Katalog: ..."},
//!   "bantuan": {"type": "text", "state": "bantuan", "content": "Hubungi 08123456789"}
//! }"#;
//! let document = load_document(gvinum)?;
//! assert_eq!(document.start, "root");
//! assert!(validate(&document).iter().all(|issue| issue.severity != Severity::Error));
//! # Ok::<(), wagw_core::Error>(())
//! ```

mod engine;
mod gvinum;
mod http;
mod input;
mod template;
mod validate;

pub use engine::{Engine, TurnLimits};
pub use gvinum::{interactive_content, load_document};
#[cfg(feature = "http")]
pub use http::GuardedFlowHttp;
pub use http::{FlowHttp, FlowHttpRequest, FlowHttpResponse};
pub use template::{fold, render};
pub use validate::{Issue, IssueKind, Severity, activate, parse_duration, validate};
