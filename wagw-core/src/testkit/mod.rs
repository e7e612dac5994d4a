//! Test support for backend authors and users (feature `testkit`).
//!
//! - [`store_cases`] (with [`message_cases`] and [`campaign_cases`]), [`queue_cases`] and
//!   [`transport_cases`]: conformance cases, each a plain async function that panics when the
//!   backend breaks a rule of the trait.
//! - [`store_conformance_tests!`](crate::store_conformance_tests),
//!   [`queue_conformance_tests!`](crate::queue_conformance_tests) and
//!   [`transport_conformance_tests!`](crate::transport_conformance_tests): stamp one
//!   `#[tokio::test]` per case for a backend (the crate using them needs `tokio` with the
//!   `macros` and `rt-multi-thread` features as a dev-dependency).
//! - [`StubTransport`]: a recording transport with scripted outcomes.
//! - [`faults`]: queue and transport decorators that fail or crash at a chosen pipeline step.
//! - [`crashing_store`]: a store decorator that dies after a chosen number of calls.
//! - [`openapi`]: Meta's OpenAPI document and its examples, the ground truth of the wire format.
//!
//! ```ignore
//! // in a backend's tests/conformance.rs
//! wagw_core::store_conformance_tests!(async { MyStore::connect().await.unwrap() });
//! wagw_core::queue_conformance_tests!(async { MyQueue::connect().await.unwrap() });
//! ```

pub mod campaign_cases;
pub mod conversation_cases;
pub mod crashing_store;
pub mod faults;
mod fixtures;
pub mod flow_cases;
mod macros;
pub mod message_cases;
pub mod openapi;
pub mod outbox_cases;
pub mod query_cases;
pub mod queue_cases;
pub mod store_cases;
mod stub_transport;
pub mod transport_cases;

pub use fixtures::{Fixture, phone};
pub use stub_transport::{SentMessage, StubTransport};
