//! Deterministic ids and random draws derived from the emulator's seed.
//!
//! Nothing here keeps a shared random stream: every draw is a hash of the seed and of what it
//! is for (a phone number and its message counter, a wamid and a purpose ...). Concurrent
//! requests therefore never contend on a generator, and the same seed with the same sequence
//! of requests per number yields the same ids and outcomes whatever the interleaving.

/// SplitMix64 finaliser: a fast, well-mixing 64-bit hash step.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over bytes (stable across runs, unlike the std hasher).
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Hash of the seed with a string and a number.
pub(crate) fn draw(seed: u64, key: &str, n: u64) -> u64 {
    mix(seed ^ mix(fnv(key.as_bytes()) ^ mix(n)))
}

/// A uniform draw in `[0, 1)` from a 64-bit hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether an event of probability `p` happens for hash `h`.
pub(crate) fn chance(h: u64, p: f64) -> bool {
    p >= 1.0 || (p > 0.0 && unit(h) < p)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// A wamid shaped like Meta's: base64 of a small protobuf-like record holding the recipient
/// and an 18-character uppercase hex message key (`wamid.HBgL...`).
pub(crate) fn wamid(recipient: &str, h: u64) -> String {
    let digits: Vec<u8> = recipient
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .take(60)
        .collect();
    let mut raw = Vec::with_capacity(digits.len() + 30);
    raw.extend_from_slice(&[0x1c, 0x18, digits.len() as u8]);
    raw.extend_from_slice(&digits);
    raw.extend_from_slice(&[0x15, 0x02, 0x00, 0x11, 0x18, 0x12]);
    let h = mix(h);
    let h2 = mix(h);
    for i in 0..18u32 {
        let word = if i < 16 { h } else { h2 };
        raw.push(HEX_UPPER[((word >> ((i % 16) * 4)) & 0x0f) as usize]);
    }
    raw.push(0x00);
    let mut id = String::with_capacity(6 + raw.len() * 4 / 3 + 4);
    id.push_str("wamid.");
    id.push_str(&base64(&raw));
    id
}

const TRACE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A 23-character `fbtrace_id` like Meta's.
pub(crate) fn fbtrace(h: u64) -> String {
    let h2 = mix(h);
    (0..23)
        .map(|i| {
            let word = if i < 10 { h } else { h2 };
            TRACE[((word >> ((i % 10) * 6)) & 63) as usize] as char
        })
        .collect()
}

/// A numeric Graph object id (15 or 16 digits) from a hash.
pub(crate) fn numeric_id(h: u64) -> String {
    (100_000_000_000_000 + h % 900_000_000_000_000).to_string()
}

/// Lowercase hex of a 64-bit value, 16 characters.
pub(crate) fn hex64(h: u64) -> String {
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn wamid_looks_like_meta() {
        let id = wamid("16505551234", 42);
        assert!(id.starts_with("wamid.HBgLMTY1MDU1NTEyMzQVAgARGB"), "{id}");
        assert_eq!(id, wamid("16505551234", 42));
        assert_ne!(id, wamid("16505551234", 43));
    }

    #[test]
    fn draws_are_stable_and_spread() {
        assert_eq!(draw(1, "a", 2), draw(1, "a", 2));
        assert_ne!(draw(1, "a", 2), draw(2, "a", 2));
        let hits = (0..10_000)
            .filter(|n| chance(draw(7, "p", *n), 0.3))
            .count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert_eq!(fbtrace(5).len(), 23);
        assert_eq!(numeric_id(u64::MAX).len(), 15);
    }
}
