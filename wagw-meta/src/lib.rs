//! # wagw-meta
//!
//! Meta's WhatsApp Cloud API for wagw: a [`Transport`](wagw_core::Transport) that talks to
//! the Graph API, and the webhook side (handshake, signatures, parsing into
//! [`wagw_core::event::InboundEvent`]s).
//!
//! ## Sending
//!
//! Build one [`MetaTransport`] for the whole process and share it (`Arc<dyn Transport>`);
//! every call names the [`Channel`](wagw_core::model::channel::Channel) it acts for. A
//! channel's own `access_token` wins over the transport's default token.
//!
//! ```no_run
//! use std::time::Duration;
//! use wagw_core::content::{MessageContent, OutboundMessage};
//! use wagw_core::model::channel::Channel;
//! use wagw_core::{Transport, TransportErrorKind};
//! use wagw_meta::MetaTransport;
//!
//! # async fn run(channel: Channel) -> Result<(), Box<dyn std::error::Error>> {
//! let meta = MetaTransport::builder()
//!     .access_token("EAAG...")          // default token; channel.access_token wins
//!     .api_version("v23.0")             // the default
//!     .timeout(Duration::from_secs(20))
//!     .build()?;
//! let message = OutboundMessage::new("628123456789", MessageContent::text("Halo!"));
//! match meta.send(&channel, &message).await {
//!     Ok(receipt) => println!("accepted as {}", receipt.wamid),
//!     Err(e) if e.kind == TransportErrorKind::ThrottledRecipient => {
//!         // Meta 131056: wait 4^n seconds before this recipient again.
//!         println!("slow down for this recipient: {:?}", e.retry_after);
//!     }
//!     Err(e) => println!("{e} (retry: {:?})", e.retry()),
//! }
//! # Ok(()) }
//! ```
//!
//! Errors are classified from Meta's `error.code` (see [`transport::classify`]): the
//! dispatcher retries [`Retryable`](wagw_core::TransportErrorKind::Retryable) and throttled
//! failures and gives up on permanent and auth ones. A send whose request was written but
//! whose answer was lost (response timeout, connection cut, unparsable success) is
//! [`OutcomeUnknown`](wagw_core::TransportErrorKind::OutcomeUnknown): the dispatcher applies
//! its unknown-outcome policy instead of resending silently.
//!
//! ## Receiving
//!
//! See [`webhook`]: answer the `GET` handshake with [`webhook::verify_subscription`], verify
//! `POST`s with [`webhook::verify`] over the raw body, and [`webhook::parse`] them into
//! [`webhook::WebhookEvent`]s carrying the WABA id and phone-number id to route by.
//!
//! ## The emulator (feature `emulator`)
//!
//! `emulator::Emulator` is a local Cloud API on a random port for tests, benchmarks and
//! sandboxes: it checks request bodies by rules derived from Meta's OpenAPI document,
//! enforces per-number throughput (130429), the pair limit (131056), the 24-hour window
//! (131047) and template approval (132001/132000), and sends signed status webhooks back.
//! `cargo run -p wagw-meta --features emulator --bin wagw-emulator -- --help` runs it by hand.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "emulator")]
pub mod emulator;
pub mod error;
pub mod transport;
pub mod webhook;

pub use error::Error;
pub use transport::{MetaTransport, MetaTransportBuilder};
pub use webhook::WebhookEvent;
