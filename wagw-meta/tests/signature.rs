//! `X-Hub-Signature-256` verification: good, tampered, missing, malformed, and Meta's
//! escaped-unicode form.

use wagw_meta::Error;
use wagw_meta::webhook::{escape_unicode, sign, verify};

const SECRET: &[u8] = b"9a3a2b7c1d4e5f60718293a4b5c6d7e8";
const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

#[test]
fn good_signature_passes() {
    let header = sign(SECRET, BODY);
    assert!(header.starts_with("sha256="));
    assert_eq!(header.len(), "sha256=".len() + 64);
    assert!(
        header[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    verify(SECRET, BODY, Some(&header)).expect("valid");
}

#[test]
fn known_vector() {
    // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") from RFC 4231-style
    // published test vectors.
    assert_eq!(
        sign(b"key", b"The quick brown fox jumps over the lazy dog"),
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

#[test]
fn tampered_body_fails() {
    let header = sign(SECRET, BODY);
    let mut tampered = BODY.to_vec();
    tampered[5] ^= 1;
    assert!(matches!(
        verify(SECRET, &tampered, Some(&header)),
        Err(Error::InvalidSignature)
    ));
    assert!(matches!(
        verify(b"another secret", BODY, Some(&header)),
        Err(Error::InvalidSignature)
    ));
}

#[test]
fn missing_header_fails() {
    let error = verify(SECRET, BODY, None).unwrap_err();
    assert!(matches!(error, Error::MissingSignature));
    assert_eq!(error.code(), "MISSING_SIGNATURE");
    assert!(!error.is_retryable());
}

#[test]
fn wrong_prefix_or_format_fails() {
    let header = sign(SECRET, BODY);
    let hex = &header[7..];
    for bad in [
        hex.to_owned(),
        format!("sha1={hex}"),
        format!("SHA256:{hex}"),
        format!("sha256={}", &hex[..63]),
        format!("sha256={hex}00"),
        format!("sha256={}g", &hex[..63]),
        String::new(),
    ] {
        assert!(
            matches!(
                verify(SECRET, BODY, Some(&bad)),
                Err(Error::InvalidSignature)
            ),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn uppercase_hex_and_whitespace_are_tolerated() {
    let header = sign(SECRET, BODY);
    let upper = format!("sha256={}", header[7..].to_uppercase());
    verify(SECRET, BODY, Some(&upper)).expect("uppercase hex");
    verify(SECRET, BODY, Some(&format!(" {header} "))).expect("surrounding whitespace");
}

#[test]
fn escape_unicode_matches_meta() {
    assert_eq!(escape_unicode("äöå"), "\\u00e4\\u00f6\\u00e5");
    assert_eq!(escape_unicode("😀"), "\\ud83d\\ude00");
    assert_eq!(escape_unicode("plain ASCII ~"), "plain ASCII ~");
    assert_eq!(escape_unicode("Ñ\u{7f}"), "\\u00d1\u{7f}");
}

#[test]
fn raw_utf8_body_signed_in_escaped_form_passes() {
    let raw = r#"{"text":{"body":"Hyvää päivää, åke 😀"}}"#;
    let escaped = escape_unicode(raw);
    assert!(escaped.contains("\\u00e4") && escaped.contains("\\ud83d\\ude00"));
    assert!(escaped.is_ascii());
    // Meta's documented behaviour: signature over the escaped form, body sent as raw UTF-8.
    let header = sign(SECRET, escaped.as_bytes());
    verify(SECRET, raw.as_bytes(), Some(&header)).expect("escaped form accepted");
    // The plain raw signature still works too.
    verify(SECRET, raw.as_bytes(), Some(&sign(SECRET, raw.as_bytes()))).expect("raw");
    // An escaped signature does not validate a different body.
    let other = raw.replace('å', "a");
    assert!(verify(SECRET, other.as_bytes(), Some(&header)).is_err());
}

#[test]
fn uppercase_escapes_are_not_meta_form() {
    let raw = "{\"n\":\"ä\"}";
    let upper = "{\"n\":\"\\u00E4\"}";
    let header = sign(SECRET, upper.as_bytes());
    assert!(verify(SECRET, raw.as_bytes(), Some(&header)).is_err());
}
