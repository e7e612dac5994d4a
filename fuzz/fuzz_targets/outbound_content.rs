//! Any JSON given as an outbound message either fails to parse, fails validation with a
//! typed error, or validates and round-trips: what wagw would put on the wire reads back as
//! the same message, which validates again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wagw_core::content::OutboundMessage;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = serde_json::from_slice::<OutboundMessage>(data) else {
        return;
    };
    if message.validate().is_err() {
        return;
    }
    let wire = serde_json::to_vec(&message).expect("a valid message serialises");
    let back: OutboundMessage =
        serde_json::from_slice(&wire).expect("what wagw writes, it reads back");
    assert_eq!(back, message, "the wire form round-trips");
    assert!(back.validate().is_ok(), "a valid message stays valid");
});
