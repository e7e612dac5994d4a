//! # wagw
//!
//! An embeddable library for WhatsApp gateways: multi-tenant services that own many WhatsApp
//! Business numbers, send one-off and bulk messages as fast as WhatsApp allows without
//! breaking its limits, run chatbot flows and auto-replies, and account for every message.
//!
//! This crate is the one dependency users add; it re-exports the others behind features.
//!
//! | feature | default | brings |
//! |---|---|---|
//! | `memory` | yes | [`memory`]: in-memory `Store` and `Queue` |
//! | `phonenumber` | yes | libphonenumber-grade [`phone`] normalisation |
//! | `testkit` | no | [`testkit`]: conformance suites and a recording `StubTransport` |
//! | `meta` | no | [`meta`]: Meta's Cloud API transport and webhooks |
//! | `emulator` | no | `meta::emulator`: a local Cloud API for tests and sandboxes |
//! | `sqlite`, `postgres` | no | [`sql`]: SQLite and PostgreSQL `Store` and `Queue` |
//! | `redis` | no | [`redis`]: Redis `Queue` for fleets of workers, fleet-wide rate limits |
//!
//! ## Example
//!
//! ```
//! use wagw::content::{MessageContent, OutboundMessage};
//! use wagw::model::tenant::{Plan, Tenant};
//! use wagw::phone::{normalize, Region};
//! use wagw::store::TenantStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> wagw::Result<()> {
//! let store = wagw::memory::MemoryStore::new();
//! let tenant = Tenant::new("Toko Maju", Plan::basic());
//! store.create_tenant(&tenant).await?;
//!
//! let to = normalize("08123456789", Region::ID)?;
//! let message = OutboundMessage::new(to.as_str(), MessageContent::text("Halo!"));
//! message.validate()?;
//! assert_eq!(to.as_str(), "628123456789");
//! # Ok(())
//! # }
//! ```
//!
//! ## Programs built on it
//!
//! - [`examples/embed`](https://github.com/wagw/wagw/tree/main/examples/embed): an existing
//!   axum service adds WhatsApp order confirmations in about 30 lines (one route that sends,
//!   status webhooks that update the service's own table).
//! - [`examples/notify`](https://github.com/wagw/wagw/tree/main/examples/notify) (an outage
//!   notifier) and [`examples/blast`](https://github.com/wagw/wagw/tree/main/examples/blast) (a
//!   CSV blast CLI with pause and resume): programs for single jobs over the SQLite store,
//!   Meta's Cloud API or the in-process emulator.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use wagw_core::*;

/// Meta's WhatsApp Cloud API (feature `meta`).
#[cfg(feature = "meta")]
pub use wagw_meta as meta;

/// SQLite and PostgreSQL backends (features `sqlite`, `postgres`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use wagw_store_sqlx as sql;

/// Redis queue for fleets of worker processes (feature `redis`).
#[cfg(feature = "redis")]
pub use wagw_queue_redis as redis;

/// In-memory backends (feature `memory`).
#[cfg(feature = "memory")]
pub mod memory {
    pub use wagw_store_memory::{MemoryQueue, MemoryStore};
}
