//! # wagw-core
//!
//! The heart of wagw, a library for WhatsApp gateways: the domain model, the traits every
//! backend implements, and (behind the `testkit` feature) the conformance suites that prove a
//! backend right.
//!
//! | trait | what it does | backends |
//! |---|---|---|
//! | [`Transport`] | sends messages, manages media, templates and registration | `wagw-meta` (Cloud API), [`testkit::StubTransport`] |
//! | [`Store`] | persists the model, scoped by tenant | `wagw-store-memory`, `wagw-store-sqlx` |
//! | [`Queue`] | durable jobs with priorities, delays, leases and dead letters | `wagw-store-memory`, `wagw-store-sqlx` |
//! | [`FlowEngine`] | decides chatbot replies | [`flow::Engine`] (GVINUM ChatFlow and richer documents) |
//!
//! Engines over the traits: `dispatch`, `campaign`, `scheduler`, [`flow`] (chatbot flows:
//! loading, validation, the engine) and, with feature `http`, `outbox` (webhook-out delivery)
//! over `net` (the SSRF-guarded HTTP client shared by webhooks and flow HTTP nodes).
//!
//! Every fallible call returns [`Error`], whose [`code`](Error::code) is machine-readable and
//! whose [`retry`](Error::retry) says whether and when to try again.
//!
//! ## Example
//!
//! Normalise an Indonesian number, build a message, check it against Meta's limits:
//!
//! ```
//! use wagw_core::content::{MessageContent, OutboundMessage};
//! use wagw_core::phone::{normalize, Region};
//! use wagw_core::ErrorCode;
//!
//! let to = normalize("0812-3456-789", Region::ID)?;
//! assert_eq!(to.as_str(), "628123456789");
//!
//! let message = OutboundMessage::new(to.as_str(), MessageContent::text("Halo Budi!"));
//! message.validate()?;
//!
//! let too_long = OutboundMessage::new(to.as_str(), MessageContent::text("x".repeat(4097)));
//! assert_eq!(too_long.validate().unwrap_err().code(), ErrorCode::InvalidContent);
//! # Ok::<(), wagw_core::Error>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod analytics;
pub mod campaign;
pub mod content;
pub mod conversation;
pub mod dispatch;
pub mod error;
pub mod event;
pub mod flow;
pub mod flow_engine;
pub mod ids;
pub mod ingest;
pub mod metrics;
pub mod model;
#[cfg(feature = "http")]
pub mod net;
#[cfg(feature = "http")]
pub mod outbox;
pub mod phone;
pub mod queue;
pub mod runtime;
pub mod scheduler;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transport;

pub use error::{Error, ErrorCode, Result, Retry};
pub use flow_engine::{FlowEngine, FlowOutcome};
pub use queue::Queue;
pub use store::Store;
pub use transport::{Transport, TransportError, TransportErrorKind};
