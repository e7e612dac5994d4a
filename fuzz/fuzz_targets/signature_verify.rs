//! `verify` never panics on any secret, body or header; it accepts exactly the signature
//! `sign` makes (for a non-blank secret) and refuses it after any change to the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wagw_meta::webhook::{sign, verify};

fuzz_target!(|data: &[u8]| {
    // Layout: [secret length][secret][header length][header][body].
    let Some((&secret_len, rest)) = data.split_first() else {
        return;
    };
    let (secret, rest) = rest.split_at((secret_len as usize).min(rest.len()));
    let Some((&header_len, rest)) = rest.split_first() else {
        return;
    };
    let (header, body) = rest.split_at((header_len as usize).min(rest.len()));

    // Arbitrary headers: a typed answer, never a panic.
    let _ = verify(secret, body, std::str::from_utf8(header).ok());

    let good = sign(secret, body);
    let result = verify(secret, body, Some(&good));
    if secret.trim_ascii().is_empty() {
        assert!(matches!(result, Err(wagw_meta::Error::EmptyAppSecret)));
        return;
    }
    assert!(result.is_ok(), "our own signature is accepted");
    let mut tampered = body.to_vec();
    match tampered.first_mut() {
        Some(first) => *first ^= 0x01,
        None => tampered.push(b' '),
    }
    // The escaped-unicode fallback must not make a changed body pass.
    assert!(
        verify(secret, &tampered, Some(&good)).is_err(),
        "a changed body is refused"
    );
});
