//! Webhooks: the subscription handshake, signature verification and payload parsing.
//!
//! A webhook endpoint does three things, all framework-agnostic here:
//!
//! 1. `GET` → [`verify_subscription`] (or [`verify_subscription_query`]) and answer the
//!    challenge;
//! 2. `POST` → [`verify`] the `X-Hub-Signature-256` header against the **raw** body bytes;
//! 3. [`parse`] the body into [`WebhookEvent`]s and route each by `phone_number_id`.
//!
//! [`verify_and_parse`] does 2 and 3 at once. Acknowledge quickly (Meta retries for up to
//! 7 days and may deliver duplicates or out of order).
//!
//! ```
//! use wagw_meta::webhook::{self, SIGNATURE_HEADER};
//! use wagw_core::event::InboundEvent;
//!
//! let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398",
//!   "changes":[{"field":"messages","value":{"messaging_product":"whatsapp",
//!   "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
//!   "statuses":[{"id":"wamid.X","status":"delivered","timestamp":"1749416383",
//!   "recipient_id":"16505551234"}]}}]}]}"#;
//! let header = webhook::sign(b"app-secret", body); // what Meta sends in SIGNATURE_HEADER
//! let events = webhook::verify_and_parse(b"app-secret", body, Some(&header))?;
//! assert_eq!(events[0].phone_number_id.as_deref(), Some("106540352242922"));
//! assert!(matches!(events[0].event, InboundEvent::Status(_)));
//! # let _ = SIGNATURE_HEADER;
//! # Ok::<(), wagw_meta::Error>(())
//! ```

mod parse;
pub mod signature;
mod subscription;

pub use parse::{FIELD_INVALID, FIELD_MESSAGES, WebhookEvent, parse, verify_and_parse};
pub use signature::{SIGNATURE_HEADER, escape_unicode, sign, verify};
pub use subscription::{verify_subscription, verify_subscription_query};
