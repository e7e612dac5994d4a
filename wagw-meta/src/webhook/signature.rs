//! `X-Hub-Signature-256` signing and verification.
//!
//! Meta signs every webhook POST with HMAC-SHA256 keyed with the app secret and sends
//! `X-Hub-Signature-256: sha256=<lowercase hex>`. Meta documents that it signs an
//! *escaped-unicode* rendering of the payload (every non-ASCII character written as
//! lowercase `\uXXXX` UTF-16 code units, so `ä` becomes `\u00e4`), while the body it sends
//! may hold raw UTF-8. [`verify`] therefore accepts a signature of the raw bytes and,
//! failing that, of [`escape_unicode`] of the body. Both comparisons are constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Error;

type HmacSha256 = Hmac<Sha256>;

/// The name of the header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

const PREFIX: &str = "sha256=";

fn mac(app_secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(app_secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

/// Signs `body` as Meta does: `sha256=` followed by the lowercase hex HMAC-SHA256.
///
/// ```
/// let header = wagw_meta::webhook::signature::sign(b"secret", b"{}");
/// assert!(header.starts_with("sha256="));
/// assert!(wagw_meta::webhook::signature::verify(b"secret", b"{}", Some(&header)).is_ok());
/// ```
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(app_secret);
    m.update(body);
    let digest = m.finalize().into_bytes();
    let mut out = String::with_capacity(PREFIX.len() + digest.len() * 2);
    out.push_str(PREFIX);
    for b in digest {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0x0f) as usize] as char);
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = nibble(pair[0])?;
        let lo = nibble(pair[1])?;
        out[i] = (hi << 4) | lo;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Verifies the `X-Hub-Signature-256` header value of a webhook POST.
///
/// Tries the raw body first, then Meta's escaped-unicode form of it (only when the body
/// is valid UTF-8 and contains non-ASCII characters).
///
/// # Errors
///
/// [`Error::EmptyAppSecret`] when `app_secret` is empty or blank (anyone can sign with an
/// empty key, so such a "verification" would accept forged deliveries);
/// [`Error::MissingSignature`] when `header` is `None`; [`Error::InvalidSignature`] when it
/// lacks the `sha256=` prefix, is not 64 hex digits, or matches neither form of the body.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), Error> {
    if app_secret.trim_ascii().is_empty() {
        return Err(Error::EmptyAppSecret);
    }
    let header = header.ok_or(Error::MissingSignature)?;
    let hex = header
        .trim()
        .strip_prefix(PREFIX)
        .ok_or(Error::InvalidSignature)?;
    let expected = decode_hex(hex).ok_or(Error::InvalidSignature)?;

    let mut m = mac(app_secret);
    m.update(body);
    if m.verify_slice(&expected).is_ok() {
        return Ok(());
    }
    if !body.is_ascii()
        && let Ok(text) = std::str::from_utf8(body)
    {
        let mut m = mac(app_secret);
        m.update(escape_unicode(text).as_bytes());
        if m.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    tracing::debug!("webhook signature mismatch");
    Err(Error::InvalidSignature)
}

/// Escapes every non-ASCII character as lowercase `\uXXXX` UTF-16 code units (characters
/// outside the Basic Multilingual Plane become a surrogate pair), leaving ASCII untouched.
///
/// ```
/// use wagw_meta::webhook::signature::escape_unicode;
/// assert_eq!(escape_unicode("äöå"), r"\u00e4\u00f6\u00e5");
/// assert_eq!(escape_unicode("😀"), r"\ud83d\ude00");
/// ```
pub fn escape_unicode(body: &str) -> String {
    let extra = body.bytes().filter(|b| !b.is_ascii()).count();
    let mut out = String::with_capacity(body.len() + extra * 4);
    let mut units = [0u16; 2];
    for c in body.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        for unit in c.encode_utf16(&mut units).iter() {
            out.push_str("\\u");
            for shift in [12u16, 8, 4, 0] {
                out.push(HEX[((unit >> shift) & 0x0f) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = sign(b"k", b"body");
        assert_eq!(h.len(), 7 + 64);
        verify(b"k", b"body", Some(&h)).unwrap();
        assert!(matches!(
            verify(b"k", b"bodx", Some(&h)),
            Err(Error::InvalidSignature)
        ));
        assert!(matches!(
            verify(b"k", b"body", None),
            Err(Error::MissingSignature)
        ));
        let upper = h.to_uppercase().replace("SHA256=", "sha256=");
        verify(b"k", b"body", Some(&upper)).unwrap();
    }

    #[test]
    fn an_empty_app_secret_is_refused_even_with_a_matching_signature() {
        for secret in [&b""[..], b"   ", b"\t\n"] {
            let h = sign(secret, b"body");
            assert!(matches!(
                verify(secret, b"body", Some(&h)),
                Err(Error::EmptyAppSecret)
            ));
        }
    }

    #[test]
    fn escaped_form() {
        let raw = "{\"n\":\"äöå 😀\"}";
        let escaped = escape_unicode(raw);
        assert_eq!(escaped, "{\"n\":\"\\u00e4\\u00f6\\u00e5 \\ud83d\\ude00\"}");
        let h = sign(b"k", escaped.as_bytes());
        verify(b"k", raw.as_bytes(), Some(&h)).unwrap();
    }
}
