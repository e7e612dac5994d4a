//! # wagw-meta
//!
//! Meta's WhatsApp Cloud API for wagw (work in progress).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "emulator")]
pub mod emulator;
