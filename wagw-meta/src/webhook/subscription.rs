//! The `GET` verification handshake Meta performs when a webhook URL is configured.

use crate::error::Error;

/// Answers Meta's `GET <callback>?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`.
///
/// Returns the challenge to send back as the plain-text body of a `200` answer. Answer any
/// error with a non-2xx status (`403` is customary).
///
/// # Errors
///
/// [`Error::VerifyTokenMismatch`] when the mode is not `subscribe`, the token differs
/// from `expected_token` (compared in constant time) or `expected_token` is empty;
/// [`Error::InvalidPayload`] when the challenge is missing.
///
/// ```
/// use wagw_meta::webhook::verify_subscription;
/// let challenge = verify_subscription(Some("subscribe"), Some("s3cret"), Some("1158201444"), "s3cret");
/// assert_eq!(challenge.unwrap(), "1158201444");
/// assert!(verify_subscription(Some("subscribe"), Some("nope"), Some("1"), "s3cret").is_err());
/// ```
pub fn verify_subscription(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &str,
) -> Result<String, Error> {
    let token_ok = !expected_token.is_empty()
        && token.is_some_and(|t| constant_time_eq(t.as_bytes(), expected_token.as_bytes()));
    if mode != Some("subscribe") || !token_ok {
        tracing::debug!(mode, "webhook subscription refused");
        return Err(Error::VerifyTokenMismatch);
    }
    challenge
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid_payload("hub.challenge is missing"))
}

/// [`verify_subscription`] from a raw, URL-encoded query string
/// (`hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`, with or without `?`).
///
/// # Errors
///
/// As [`verify_subscription`].
pub fn verify_subscription_query(query: &str, expected_token: &str) -> Result<String, Error> {
    let (mut mode, mut token, mut challenge) = (None, None, None);
    let query = query.strip_prefix('?').unwrap_or(query);
    for (key, value) in reqwest::Url::parse(&format!("http://localhost/?{query}"))
        .map_err(|e| Error::invalid_payload(format!("query string does not parse: {e}")))?
        .query_pairs()
    {
        match key.as_ref() {
            "hub.mode" => mode = Some(value.into_owned()),
            "hub.verify_token" => token = Some(value.into_owned()),
            "hub.challenge" => challenge = Some(value.into_owned()),
            _ => {}
        }
    }
    verify_subscription(
        mode.as_deref(),
        token.as_deref(),
        challenge.as_deref(),
        expected_token,
    )
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_form() {
        let q = "hub.mode=subscribe&hub.verify_token=a%20b&hub.challenge=42";
        assert_eq!(verify_subscription_query(q, "a b").unwrap(), "42");
        assert!(matches!(
            verify_subscription_query(
                "?hub.mode=unsubscribe&hub.verify_token=a&hub.challenge=1",
                "a"
            ),
            Err(Error::VerifyTokenMismatch)
        ));
        assert!(matches!(
            verify_subscription(Some("subscribe"), Some(""), Some("1"), ""),
            Err(Error::VerifyTokenMismatch)
        ));
        assert!(matches!(
            verify_subscription(Some("subscribe"), Some("a"), None, "a"),
            Err(Error::InvalidPayload { .. })
        ));
    }
}
