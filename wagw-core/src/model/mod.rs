//! The domain model: what a WhatsApp gateway keeps and reasons about.
//!
//! Entities carry their `tenant_id`; every [`Store`](crate::store::Store) call is scoped by it.
//! Outbound message bodies live in [`content`](crate::content), inbound webhook events in
//! [`event`](crate::event).

pub mod activity;
pub mod auto_reply;
pub mod campaign;
pub mod channel;
pub mod contact;
pub mod conversation;
pub mod flow;
pub mod message;
pub mod schedule;
pub mod template;
pub mod tenant;
pub mod webhook;

mod secret;

pub use secret::Secret;
