//! Any bytes given to `webhook::parse` give events or a typed error, never a panic; every
//! event serialises back, and a body that parsed still parses after being re-signed and
//! verified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wagw_core::event::InboundEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(events) = wagw_meta::webhook::parse(data) else {
        return;
    };
    for event in &events {
        let written = match &event.event {
            InboundEvent::Message(m) => serde_json::to_value(m),
            InboundEvent::Status(s) => serde_json::to_value(s),
            InboundEvent::Error(e) => serde_json::to_value(e),
            InboundEvent::TemplateStatus(t) => serde_json::to_value(t),
            InboundEvent::TemplateQuality(t) => serde_json::to_value(t),
            InboundEvent::TemplateCategory(t) => serde_json::to_value(t),
            InboundEvent::PhoneNumberQuality(p) => serde_json::to_value(p),
            InboundEvent::AccountUpdate(a) => serde_json::to_value(a),
            InboundEvent::Unknown { value, .. } => Ok(value.clone()),
            _ => Ok(serde_json::Value::Null),
        };
        assert!(written.is_ok(), "a parsed event does not serialise: {event:?}");
        assert!(
            event.problem.is_none() || matches!(event.event, InboundEvent::Unknown { .. }),
            "only raw events carry a problem"
        );
    }
    let header = wagw_meta::webhook::sign(b"fuzz-secret", data);
    let again = wagw_meta::webhook::verify_and_parse(b"fuzz-secret", data, Some(&header))
        .expect("a body that parsed, signed correctly, verifies and parses");
    assert_eq!(again, events, "parsing is deterministic");
});
