//! Phone numbers: normalisation of what people type to the digits-only E.164 form that
//! WhatsApp uses as `wa_id`, and the region a national number is read in.
//!
//! * [`normalize`] turns human input (`0812-3456-789`, `+62 812 3456 789`, `628123456789`
//!   ...) into a [`PhoneNumber`], reading national numbers in a default [`Region`]. With the
//!   default cargo feature `phonenumber` it validates against Google's libphonenumber
//!   metadata (through the [`phonenumber`](https://docs.rs/phonenumber) crate); without it a
//!   documented, simpler rule set is used (see [`normalize`]).
//! * [`PhoneNumber::from_wa_id`] is the cheap constructor for digits that already come
//!   normalised from Meta's webhooks.
//! * [`PhoneNumber`]'s [`FromStr`] and serde forms accept only the normalised form (optionally
//!   with a leading `+`), so stored numbers read back exactly as written.
//!
//! # Which form goes where
//!
//! A number has two written forms, and wagw never mixes them up:
//!
//! * **the wire and storage form**, digits only (`628123456789`, [`PhoneNumber::as_str`],
//!   [`Display`](fmt::Display), serde): what Meta's API takes in `to` and sends in `wa_id` /
//!   `from`, and what stores and queues keep. Machines read it; it is unambiguous only to
//!   them.
//! * **the form for people and re-import**, `+` E.164 (`+628123456789`,
//!   [`PhoneNumber::e164`]): every place wagw writes a number that a person may read or feed
//!   back as input — campaign reports (JSON `phone` and the CSV `phone` column), contact and
//!   message exports, expansion reports. Digits alone are read in the importing tenant's
//!   default region, so a Singaporean `6564551245` exported bare would come back in an `ID`
//!   tenant as `626564551245`, someone else; the `+` form reads back as itself in every
//!   region (a property test over libphonenumber's metadata checks it).
//!
//! Refused inputs are kept as typed (a rejection's `input`): they never became a number.
//!
//! # Example
//!
//! ```
//! use wagw_core::phone::{normalize, Region};
//!
//! // Indonesian users write national numbers with the trunk prefix 0 ...
//! let n = normalize("0812-3456-789", Region::ID)?;
//! assert_eq!(n.as_str(), "628123456789");
//! assert_eq!(n.e164(), "+628123456789");
//! assert_eq!(n.country_code(), 62);
//!
//! // ... or with the country code, with or without `+`.
//! assert_eq!(normalize("+62 812 3456 789", Region::ID)?, n);
//! assert_eq!(normalize("628123456789", Region::default())?, n);
//!
//! // Other countries' numbers are read in their own region.
//! let uk = normalize("07400 123456", Region::parse("gb")?)?;
//! assert_eq!(uk.as_str(), "447400123456");
//!
//! // Garbage is refused with a reason a person can act on.
//! let err = normalize("0812-ABC", Region::ID).unwrap_err();
//! assert!(err.to_string().contains("contains letters"));
//! # Ok::<(), wagw_core::error::Error>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

// ---------------------------------------------------------------------------------------------
// PhoneNumber
// ---------------------------------------------------------------------------------------------

/// A normalised international phone number: E.164 digits without the leading `+`, exactly the
/// form WhatsApp's Cloud API uses for `wa_id` (`628123456789`).
///
/// Invariant: 8 to 15 ASCII digits ([`PhoneNumber::MIN_DIGITS`]..=[`PhoneNumber::MAX_DIGITS`])
/// starting with an assigned ITU country calling code, so [`PhoneNumber::country_code`] is
/// always meaningful. Whether the number is valid in its country's numbering plan is checked
/// by [`normalize`], the constructor for human input, and deliberately *not* re-checked by
/// [`PhoneNumber::from_wa_id`], [`FromStr`] or deserialisation (see their docs).
///
/// The digits are stored inline, so cloning never allocates. Equality, ordering and hashing are
/// those of [`PhoneNumber::as_str`]; with [`Borrow<str>`] a `HashMap<PhoneNumber, _>` can be
/// queried with a `&str`.
///
/// Serialised as a plain string of digits (`"628123456789"`); deserialisation accepts that or
/// the `+`-prefixed form and rejects anything else.
#[derive(Clone)]
pub struct PhoneNumber {
    /// ASCII digits, `len` of them used, the rest zero.
    digits: [u8; PhoneNumber::MAX_DIGITS],
    len: u8,
}

impl PhoneNumber {
    /// Fewest digits (country code included) a [`PhoneNumber`] may have. WhatsApp numbers are
    /// never shorter; the rare 7-digit E.164 numbers (Niue, Tokelau) are refused.
    pub const MIN_DIGITS: usize = 8;
    /// Most digits (country code included) a [`PhoneNumber`] may have, as E.164 allows.
    pub const MAX_DIGITS: usize = 15;

    /// Builds a number from digits that arrive already normalised, typically the `wa_id` /
    /// `from` fields of Meta's webhooks (`"628123456789"`).
    ///
    /// This is the hot path: it only checks that `wa_id` is 8 to 15 ASCII digits starting with
    /// an assigned country calling code (a lookup in a small static table) and never touches
    /// libphonenumber. No `+`, spaces or other formatting are accepted. Numbers WhatsApp hands
    /// us are real users, so they are not re-validated against numbering plans that may lag
    /// behind new ranges.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNumber`] if `wa_id` is not of that shape.
    pub fn from_wa_id(wa_id: &str) -> Result<Self> {
        Self::from_digits(wa_id.as_bytes()).map_err(|reason| invalid(wa_id, reason))
    }

    /// Checks the invariant and copies the digits in.
    fn from_digits(digits: &[u8]) -> std::result::Result<Self, String> {
        if digits.is_empty() {
            return Err("empty".to_owned());
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err("must contain only the digits 0-9".to_owned());
        }
        if digits.len() < Self::MIN_DIGITS {
            return Err(format!(
                "too short: an international number has at least {} digits",
                Self::MIN_DIGITS
            ));
        }
        if digits.len() > Self::MAX_DIGITS {
            return Err(format!(
                "too long: an international number has at most {} digits",
                Self::MAX_DIGITS
            ));
        }
        if leading_calling_code(digits).is_none() {
            return Err("does not start with a known country calling code".to_owned());
        }
        let mut buf = [0u8; Self::MAX_DIGITS];
        buf[..digits.len()].copy_from_slice(digits);
        Ok(Self {
            digits: buf,
            // Cannot truncate: at most MAX_DIGITS (15).
            len: digits.len() as u8,
        })
    }

    /// The digits, without `+`: `"628123456789"`. This is what WhatsApp's API expects in `to`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored, so this never fails.
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The ITU country calling code: `62` for `628123456789`, `1` for `16505551234`.
    pub fn country_code(&self) -> u16 {
        // The invariant guarantees a match; 0 is unreachable.
        leading_calling_code(self.as_str().as_bytes()).map_or(0, |(code, _)| code)
    }

    /// The national significant number, i.e. the digits after the country code:
    /// `"8123456789"` for `628123456789`.
    pub fn national_number(&self) -> &str {
        let skip = leading_calling_code(self.as_str().as_bytes()).map_or(0, |(_, len)| len);
        &self.as_str()[skip..]
    }

    /// The E.164 form with the plus: `"+628123456789"`.
    pub fn e164(&self) -> String {
        let mut s = String::with_capacity(usize::from(self.len) + 1);
        s.push('+');
        s.push_str(self.as_str());
        s
    }
}

impl fmt::Display for PhoneNumber {
    /// Writes the digits without `+` (the `wa_id` form); use [`PhoneNumber::e164`] for `+`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PhoneNumber").field(&self.as_str()).finish()
    }
}

impl PartialEq for PhoneNumber {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for PhoneNumber {}

impl PartialOrd for PhoneNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PhoneNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for PhoneNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for PhoneNumber {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl FromStr for PhoneNumber {
    type Err = Error;

    /// Strict parse of an already-normalised number: the digits (`"628123456789"`) or the
    /// same with one leading `+` (`"+628123456789"`), nothing else — no spaces, dashes or
    /// national forms. It is the inverse of [`Display`](fmt::Display) and
    /// [`PhoneNumber::e164`], and checks the same shape as [`PhoneNumber::from_wa_id`]:
    /// every `PhoneNumber`, including ones built from a `wa_id`, must read back from its
    /// stored form. For what people type, use [`normalize`].
    fn from_str(s: &str) -> Result<Self> {
        let digits = s.strip_prefix('+').unwrap_or(s);
        Self::from_digits(digits.as_bytes()).map_err(|reason| invalid(s, reason))
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    /// Accepts exactly what [`FromStr`] accepts.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::<Self>::new(
            "a normalised phone number such as \"628123456789\"",
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Region
// ---------------------------------------------------------------------------------------------

/// An ISO 3166-1 alpha-2 region code (`ID`, `GB` ...), the region in which national numbers
/// are read by [`normalize`].
///
/// Accepted are the officially assigned ISO 3166-1 codes plus the three that telephone
/// numbering plans also use: `AC` (Ascension), `TA` (Tristan da Cunha) and `XK` (Kosovo).
/// Stored upper case; serialised as that string; deserialisation validates like
/// [`Region::parse`]. The default is [`Region::ID`], Indonesia.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 2]);

impl Region {
    /// Indonesia (+62), the default.
    pub const ID: Self = Self(*b"ID");
    /// Malaysia (+60).
    pub const MY: Self = Self(*b"MY");
    /// Singapore (+65).
    pub const SG: Self = Self(*b"SG");
    /// Philippines (+63).
    pub const PH: Self = Self(*b"PH");
    /// Thailand (+66).
    pub const TH: Self = Self(*b"TH");
    /// Viet Nam (+84).
    pub const VN: Self = Self(*b"VN");
    /// India (+91).
    pub const IN: Self = Self(*b"IN");
    /// United States (+1).
    pub const US: Self = Self(*b"US");
    /// United Kingdom (+44).
    pub const GB: Self = Self(*b"GB");
    /// Australia (+61).
    pub const AU: Self = Self(*b"AU");

    /// Parses a region code, case-insensitively: `"id"`, `"ID"` → [`Region::ID`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `region`) unless `code` is two ASCII letters forming an
    /// assigned code (see the type's docs).
    pub fn parse(code: &str) -> Result<Self> {
        let bytes = code.as_bytes();
        if let [a, b] = bytes
            && a.is_ascii_alphabetic()
            && b.is_ascii_alphabetic()
        {
            let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
            if REGION_CODES.binary_search(&upper).is_ok() {
                return Ok(Self(upper));
            }
        }
        Err(Error::InvalidInput {
            field: "region".to_owned(),
            reason: format!("{code:?} is not an ISO 3166-1 alpha-2 region code such as \"ID\""),
        })
    }

    /// The upper-case code: `"ID"`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for Region {
    /// [`Region::ID`]: wagw's first users are Indonesian.
    fn default() -> Self {
        Self::ID
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Region").field(&self.as_str()).finish()
    }
}

impl FromStr for Region {
    type Err = Error;

    /// Same as [`Region::parse`].
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl AsRef<str> for Region {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Region {
    /// Accepts exactly what [`Region::parse`] accepts.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::<Self>::new(
            "an ISO 3166-1 alpha-2 region code such as \"ID\"",
        ))
    }
}

/// Serde visitor that parses a string with the type's [`FromStr`].
struct FromStrVisitor<T> {
    expecting: &'static str,
    marker: PhantomData<fn() -> T>,
}

impl<T> FromStrVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        Self {
            expecting,
            marker: PhantomData,
        }
    }
}

impl<T> serde::de::Visitor<'_> for FromStrVisitor<T>
where
    T: FromStr<Err = Error>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<T, E> {
        v.parse().map_err(|e: Error| E::custom(e))
    }
}

// ---------------------------------------------------------------------------------------------
// normalize
// ---------------------------------------------------------------------------------------------

/// Normalises a phone number as a person typed it into a [`PhoneNumber`], reading national
/// numbers in `default_region`.
///
/// # Accepted input
///
/// Digits with formatting noise — whitespace, `-`, `.`, `/`, `(`, `)` and Unicode dashes —
/// which is ignored: the result depends only on the digits and on whether a `+` leads them,
/// so `0812-3456-789`, `(0812) 3456789` and `08123456789` are the same number. A `+` may only
/// come before the first digit (`+62 …`, `(+62) …`). Letters (including extensions such as
/// `ext. 12`) and other symbols are refused.
///
/// # Reading rules (with the default `phonenumber` feature)
///
/// * `+` followed by digits: an international number; `default_region` plays no part.
///   A national trunk prefix written after the country code (`+44 (0) 7400 123456`,
///   `+62 0812 …`) is dropped, as libphonenumber does.
/// * Digits without `+` — the **country code written without `+`** is handled deliberately,
///   first match wins:
///   1. the digits start with `default_region`'s own country code and, read as if a `+`
///      preceded them, form a valid number: that number (`628123456789` in `ID`). In
///      Indonesia a leading `62` means the country code; this rule also makes every
///      normalised number read back unchanged in its own region;
///   2. the digits form a valid national number of `default_region`, with its trunk prefix
///      (`08123456789`) or without (`8123456789`), or are dialled through its international
///      prefix (`0061 …` in `GB`), and the `+` form of the result reads back as itself;
///   3. the digits, read as if a `+` preceded them, form a valid number of another country,
///      written exactly in normalised form (no trunk prefix after the country code): that
///      number (`447400123456` in `ID`). Rule 2 wins over this one, so a foreign country
///      code that happens to match never changes how people's own national numbers are read:
///      `61412345678` in `ID` is the Indonesian landline `+62 614 1234 5678`, not the
///      Australian mobile. Write the `+` for foreign numbers to be unambiguous.
///
///   A digit string starting with `0` is never read as having a country code.
///
/// # Strictness: valid, not merely possible
///
/// A number is accepted only if libphonenumber considers it *valid* (`is_valid`: it matches
/// the pattern of an allocated range of some number type), not merely *possible* (a plausible
/// length). A gateway must not send, and bill tenants for, messages to garbage such as
/// `0800 000 000 000` or a mistyped prefix; length-only checks accept nearly any digit string.
/// The cost — rejecting a genuinely new range before the metadata knows it — is small in
/// practice: mobile patterns are defined by prefix blocks (Indonesia's is
/// `8[1-35-9]\d{7,10}`), so new number blocks inside existing operator prefixes validate at
/// once, and a new prefix needs only a `cargo update -p phonenumber`. Numbers that reach us
/// from WhatsApp itself are never subject to this check: they go through
/// [`PhoneNumber::from_wa_id`], so replies to real users always work.
///
/// # Without the `phonenumber` feature
///
/// A small, dependency-free rule set is used instead. It has no numbering-plan data, so it
/// checks lengths only (the number is *possible*, not *valid*). It knows the country code,
/// trunk prefix and national number lengths of ID, MY, SG, PH, TH, VN, IN, US, CA, GB and AU
/// (the "built-in regions"). Formatting is stripped as above, then:
///
/// * `+digits`: the digits must start with an assigned country calling code and be 8 to 15
///   long. For the built-in regions' country codes, a trunk `0` written right after the
///   country code is dropped (`+62 0812 …`, `+44 (0) 7400 …`).
/// * digits without `+`, if `default_region` is a built-in region, first match wins (a
///   "national length" is one of the region's national number lengths; national numbers
///   never start with `0`):
///   1. they start with the region's trunk prefix (`0`; `1` for US and CA; SG has none) and
///      the rest has a national length → country code + the rest (`08123456789`);
///   2. they start with the region's own country code, and the rest, after dropping a trunk
///      `0`, has a national length → country code + the rest (`628123456789`);
///   3. they have a national length → country code + the digits (`8123456789`);
///   4. they start with any assigned country calling code, are 8 to 15 long and carry no
///      trunk `0` after a built-in region's country code → taken as they are (another
///      country's number with the country code written without `+`). Note that rule 3 comes
///      first: `447400123456` in `ID` is read as an Indonesian national number here, unlike
///      with the feature.
/// * digits without `+` for any other region: only rule 4 applies.
///
/// # Errors
///
/// [`Error::InvalidNumber`] with `input` (the caller's text, cut to 100 bytes) and a `reason`
/// such as `"empty"`, `"contains letters"`, `"too short for ID"`, `"too long for ID"`,
/// `"not a valid number for ID"`, `"not a valid number for GB"` or
/// `"unknown country calling code"`.
pub fn normalize(input: &str, default_region: Region) -> Result<PhoneNumber> {
    let cleaned = clean(input)?;
    engine::normalize(input, &cleaned, default_region)
}

/// Input reduced to what matters: a leading `+` and the digits.
struct Cleaned {
    plus: bool,
    digits: String,
}

/// At most this many digits are looked at; anything longer is refused as too long before any
/// parsing (national forms may carry trunk and carrier prefixes, hence more than 15).
const MAX_INPUT_DIGITS: usize = 20;

/// Strips formatting noise, refusing letters and symbols.
fn clean(input: &str) -> Result<Cleaned> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(invalid(input, "empty"));
    }
    if trimmed.chars().any(char::is_alphabetic) {
        return Err(invalid(input, "contains letters"));
    }
    let mut plus = false;
    let mut digits = String::with_capacity(16);
    for c in trimmed.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus => plus = true,
            '+' => {
                return Err(invalid(
                    input,
                    "'+' may appear only once, before the first digit",
                ));
            }
            c if is_formatting(c) => {}
            c => {
                return Err(invalid(
                    input,
                    format!("contains an unexpected character {c:?}"),
                ));
            }
        }
    }
    if digits.is_empty() {
        return Err(invalid(input, "contains no digits"));
    }
    if digits.len() > MAX_INPUT_DIGITS {
        return Err(invalid(input, "too long"));
    }
    Ok(Cleaned { plus, digits })
}

/// Characters people use to format phone numbers.
fn is_formatting(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}'
        )
}

/// Builds [`Error::InvalidNumber`], keeping at most 100 bytes of the input.
fn invalid(input: &str, reason: impl Into<String>) -> Error {
    const KEEP: usize = 100;
    let input = if input.len() > KEEP {
        let mut end = KEEP;
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &input[..end])
    } else {
        input.to_owned()
    };
    Error::InvalidNumber {
        input,
        reason: reason.into(),
    }
}

/// Reason for a `+` number that has too few or too many digits for E.164.
fn international_length_reason(digits: &str) -> Option<&'static str> {
    if digits.len() < PhoneNumber::MIN_DIGITS {
        Some("too short")
    } else if digits.len() > PhoneNumber::MAX_DIGITS {
        Some("too long")
    } else {
        None
    }
}

#[cfg(feature = "phonenumber")]
mod engine {
    //! Normalisation through libphonenumber's metadata.

    use std::sync::Once;

    use phonenumber::metadata::{DATABASE, Metadata};
    use phonenumber::{Mode, ParseError, country};

    use super::{Cleaned, PhoneNumber, Region, international_length_reason, invalid};
    use crate::error::Result;

    /// How many compiled regexes the `phonenumber` crate may keep.
    ///
    /// Its metadata keeps its ~2,100 distinct patterns as sources and compiles them on use
    /// into one process-wide LRU cache of only 100 regexes. Numbers of the ten built-in
    /// regions read in turn need 134 of them, so each call found its regexes evicted and
    /// recompiled them: 4–8 ms per call instead of 11 µs (`cargo bench -p wagw-core
    /// --bench phone_regions`). Above the number of patterns nothing is ever evicted. Only
    /// the patterns of regions in use are compiled, at about 90 KB each: under 1 MB for
    /// one region, 11 MB for the ten built-in ones, 140 MB for numbers of every region.
    pub(super) const REGEX_CACHE_CAPACITY: usize = 4_096;

    /// Raises the crate's regex cache to [`REGEX_CACHE_CAPACITY`], once per process.
    fn size_regex_cache() {
        static SIZED: Once = Once::new();
        SIZED.call_once(|| {
            // Poisoned only by a panic inside the crate while it held the lock; its
            // default size still works, only slower.
            if let Ok(mut cache) = DATABASE.cache().lock() {
                cache.set_capacity(REGEX_CACHE_CAPACITY);
            }
        });
    }

    pub(super) fn normalize(input: &str, cleaned: &Cleaned, region: Region) -> Result<PhoneNumber> {
        size_regex_cache();
        let digits = cleaned.digits.as_str();
        if cleaned.plus {
            if let Some(reason) = international_length_reason(digits) {
                return Err(invalid(input, reason));
            }
            return match phonenumber::parse(None, format!("+{digits}")) {
                Ok(n) if n.is_valid() => accept(input, &n),
                Ok(n) => Err(invalid(input, invalid_reason(&n))),
                Err(e) => Err(invalid(input, parse_error_reason(&e, None))),
            };
        }

        let Ok(id) = region.as_str().parse::<country::Id>() else {
            return Err(invalid(
                input,
                format!(
                    "no numbering plan is known for {region}; write the number with + and its country code"
                ),
            ));
        };
        // Digits starting with a country code (never 0), read as if a `+` preceded them.
        let international =
            if digits.starts_with('0') || international_length_reason(digits).is_some() {
                None
            } else {
                phonenumber::parse(None, format!("+{digits}"))
                    .ok()
                    .filter(phonenumber::PhoneNumber::is_valid)
            };
        let own_code = DATABASE.by_id(id.as_ref()).map(Metadata::country_code);
        // 1. The region's own country code written without `+`.
        if let Some(n) = &international
            && Some(n.code().value()) == own_code
        {
            return accept(input, n);
        }
        // 2. A national number of the region.
        let national = phonenumber::parse(Some(id), digits);
        if let Ok(n) = &national
            && n.is_valid()
        {
            // Only a number dialled out through the region's international prefix can fail to
            // read back: in the region's own code, validity is that of the same code and
            // national number, which is what the `+` form is read as.
            return if Some(n.code().value()) == own_code {
                accept(input, n)
            } else {
                accept_read_back(input, n)
            };
        }
        // 3. Another country's code written without `+`, exactly in normalised form (a trunk
        //    prefix after the country code, `49 0201 …`, is not dropped here: the result would
        //    read differently when normalised again).
        if let Some(n) = &international
            && e164_digits(n) == digits
        {
            return accept(input, n);
        }
        Err(invalid(
            input,
            match &national {
                Ok(n) => invalid_reason(n),
                Err(e) => parse_error_reason(e, Some(region)),
            },
        ))
    }

    /// Accepts a number read in a region only if its `+` form reads back as the same valid
    /// number. libphonenumber can validate digits dialled through a region's international
    /// prefix that its `+` form then refuses (`00 780000062013936` in `AX` was accepted as
    /// `+780000062013936`, "too long for RU"; found by the `phone_normalize` fuzz target);
    /// wagw writes the `+` form for people to feed back, so it must read back.
    fn accept_read_back(input: &str, n: &phonenumber::PhoneNumber) -> Result<PhoneNumber> {
        let digits = e164_digits(n);
        match phonenumber::parse(None, format!("+{digits}")) {
            Ok(again) if again.is_valid() && e164_digits(&again) == digits => accept(input, n),
            Ok(again) => Err(invalid(input, invalid_reason(&again))),
            Err(e) => Err(invalid(input, parse_error_reason(&e, None))),
        }
    }

    fn accept(input: &str, n: &phonenumber::PhoneNumber) -> Result<PhoneNumber> {
        PhoneNumber::from_digits(e164_digits(n).as_bytes()).map_err(|reason| invalid(input, reason))
    }

    /// The E.164 digits of a parsed number, without `+`.
    fn e164_digits(n: &phonenumber::PhoneNumber) -> String {
        let mut e164 = n.format().mode(Mode::E164).to_string();
        e164.retain(|c| c.is_ascii_digit());
        e164
    }

    /// The metadata (and a display name) of the country a parsed number belongs to.
    fn metadata_of(n: &phonenumber::PhoneNumber) -> Option<(&'static Metadata, String)> {
        let code = n.code().value();
        let meta = n.metadata(&DATABASE).or_else(|| {
            let all = DATABASE.by_code(&code)?;
            all.iter()
                .find(|m| m.is_main_country_for_code())
                .or_else(|| all.first())
                .copied()
        })?;
        let name = if meta.id().len() == 2 {
            meta.id().to_owned()
        } else {
            format!("+{code}")
        };
        Some((meta, name))
    }

    /// Why a number that parsed is not valid: its length or its pattern.
    fn invalid_reason(n: &phonenumber::PhoneNumber) -> String {
        let Some((meta, name)) = metadata_of(n) else {
            return "not a valid number".to_owned();
        };
        let national_len = e164_digits(n)
            .len()
            .saturating_sub(n.code().value().to_string().len());
        let d = meta.descriptors();
        // Lengths of the numbers people have: fixed lines and mobiles.
        let lengths = [d.fixed_line(), d.mobile()]
            .into_iter()
            .flatten()
            .flat_map(|desc| desc.possible_length().iter().copied())
            .map(usize::from);
        let (min, max) = lengths.fold((usize::MAX, 0), |(lo, hi), l| (lo.min(l), hi.max(l)));
        if min != usize::MAX && national_len < min {
            format!("too short for {name}")
        } else if national_len > max && max > 0 {
            format!("too long for {name}")
        } else {
            format!("not a valid number for {name}")
        }
    }

    fn parse_error_reason(e: &ParseError, region: Option<Region>) -> String {
        let suffix = region.map(|r| format!(" for {r}")).unwrap_or_default();
        match e {
            ParseError::InvalidCountryCode => "unknown country calling code".to_owned(),
            ParseError::NoNumber | ParseError::TooShortAfterIdd | ParseError::TooShortNsn => {
                format!("too short{suffix}")
            }
            ParseError::TooLong => format!("too long{suffix}"),
            ParseError::MalformedInteger(_) => format!("not a valid number{suffix}"),
        }
    }
}

#[cfg(not(feature = "phonenumber"))]
mod engine {
    //! Dependency-free fallback: formatting, trunk prefixes and lengths only.

    use super::{
        Cleaned, PhoneNumber, Region, international_length_reason, invalid, leading_calling_code,
    };
    use crate::error::Result;

    /// What the fallback knows about a region's numbering plan.
    struct Plan {
        region: Region,
        /// Country calling code, as digits.
        code: &'static str,
        /// National trunk prefix, if the region has one.
        trunk: Option<&'static str>,
        /// Shortest and longest national significant number (fixed line and mobile).
        nsn: (usize, usize),
    }

    /// The built-in regions.
    const PLANS: &[Plan] = &[
        plan(Region::ID, "62", Some("0"), 7, 12),
        plan(Region::MY, "60", Some("0"), 8, 10),
        plan(Region::SG, "65", None, 8, 8),
        plan(Region::PH, "63", Some("0"), 8, 10),
        plan(Region::TH, "66", Some("0"), 8, 9),
        plan(Region::VN, "84", Some("0"), 9, 10),
        plan(Region::IN, "91", Some("0"), 10, 10),
        plan(Region::US, "1", Some("1"), 10, 10),
        plan(Region(*b"CA"), "1", Some("1"), 10, 10),
        plan(Region::GB, "44", Some("0"), 9, 10),
        plan(Region::AU, "61", Some("0"), 9, 9),
    ];

    const fn plan(
        region: Region,
        code: &'static str,
        trunk: Option<&'static str>,
        min: usize,
        max: usize,
    ) -> Plan {
        Plan {
            region,
            code,
            trunk,
            nsn: (min, max),
        }
    }

    impl Plan {
        /// Whether `national` looks like a national significant number of this region.
        fn fits(&self, national: &str) -> bool {
            (self.nsn.0..=self.nsn.1).contains(&national.len()) && !national.starts_with('0')
        }

        /// `national` with a trunk `0` dropped, if it has one and the rest fits.
        fn drop_trunk<'a>(&self, national: &'a str) -> Option<&'a str> {
            let rest = national.strip_prefix('0')?;
            (self.trunk == Some("0") && self.fits(rest)).then_some(rest)
        }

        fn with_code(&self, national: &str) -> String {
            format!("{}{national}", self.code)
        }
    }

    /// The plan whose country code `digits` start with, and the digits after it.
    fn split_code(digits: &str) -> Option<(&'static Plan, &str)> {
        PLANS
            .iter()
            .find_map(|p| Some((p, digits.strip_prefix(p.code)?)))
    }

    pub(super) fn normalize(input: &str, cleaned: &Cleaned, region: Region) -> Result<PhoneNumber> {
        let digits = cleaned.digits.as_str();
        let accept = |d: &str| {
            PhoneNumber::from_digits(d.as_bytes()).map_err(|reason| invalid(input, reason))
        };
        let check_international = |d: &str| {
            if leading_calling_code(d.as_bytes()).is_none() {
                Err(invalid(input, "unknown country calling code"))
            } else if let Some(reason) = international_length_reason(d) {
                Err(invalid(input, reason))
            } else {
                Ok(())
            }
        };

        if cleaned.plus {
            // `+62 0812 …`: drop a trunk 0 written after a built-in region's country code.
            let dropped =
                split_code(digits).and_then(|(p, rest)| Some(p.with_code(p.drop_trunk(rest)?)));
            let digits = dropped.as_deref().unwrap_or(digits);
            check_international(digits)?;
            return accept(digits);
        }

        let plan = PLANS.iter().find(|p| p.region == region);
        if let Some(p) = plan {
            // 1. Trunk prefix + national number.
            if let Some(national) = p.trunk.and_then(|t| digits.strip_prefix(t))
                && p.fits(national)
            {
                return accept(&p.with_code(national));
            }
            // 2. Own country code written without `+`.
            if let Some(rest) = digits.strip_prefix(p.code) {
                let national = p.drop_trunk(rest).unwrap_or(rest);
                if p.fits(national) {
                    return accept(&p.with_code(national));
                }
            }
            // 3. National number without trunk prefix.
            if p.fits(digits) {
                return accept(&p.with_code(digits));
            }
        }
        // 4. Another country's number with the country code written without `+`.
        let has_trunk = split_code(digits).is_some_and(|(p, rest)| p.drop_trunk(rest).is_some());
        if check_international(digits).is_ok() {
            if !has_trunk {
                return accept(digits);
            }
            if plan.is_none() {
                return Err(invalid(
                    input,
                    "a trunk 0 after the country code is ambiguous; write the number with +",
                ));
            }
        }

        let Some(p) = plan else {
            return Err(invalid(
                input,
                format!(
                    "national numbers for {region} need the `phonenumber` feature; write the number with + and its country code"
                ),
            ));
        };
        let national = p
            .trunk
            .and_then(|t| digits.strip_prefix(t))
            .unwrap_or(digits);
        let reason = if national.len() < p.nsn.0 {
            format!("too short for {}", p.region)
        } else if national.len() > p.nsn.1 {
            format!("too long for {}", p.region)
        } else {
            format!("not a valid number for {}", p.region)
        };
        Err(invalid(input, reason))
    }
}

// ---------------------------------------------------------------------------------------------
// Static tables
// ---------------------------------------------------------------------------------------------

/// The country calling code that `digits` start with, and its length in digits.
///
/// Calling codes form a prefix code (no code is a prefix of another), so at most one of the
/// 1-, 2- and 3-digit prefixes matches.
fn leading_calling_code(digits: &[u8]) -> Option<(u16, usize)> {
    if digits.first() == Some(&b'0') {
        return None;
    }
    let mut code: u16 = 0;
    for (i, &d) in digits.iter().take(3).enumerate() {
        if !d.is_ascii_digit() {
            return None;
        }
        code = code * 10 + u16::from(d - b'0');
        if CALLING_CODES.binary_search(&code).is_ok() {
            return Some((code, i + 1));
        }
    }
    None
}

/// Assigned ITU-T E.164 country calling codes (those libphonenumber has metadata for,
/// including the non-geographic 800, 808, 870, 878, 881, 882, 883, 888 and 979), sorted.
const CALLING_CODES: &[u16] = &[
    1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54,
    55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98, 211,
    212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234,
    235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253,
    254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298,
    299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377,
    378, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506,
    507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676,
    677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850, 852,
    853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967,
    968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
];

/// ISO 3166-1 alpha-2 codes (officially assigned) plus `AC`, `TA` and `XK`, sorted.
const REGION_CODES: &[[u8; 2]] = &[
    *b"AC", *b"AD", *b"AE", *b"AF", *b"AG", *b"AI", *b"AL", *b"AM", *b"AO", *b"AQ", *b"AR", *b"AS",
    *b"AT", *b"AU", *b"AW", *b"AX", *b"AZ", *b"BA", *b"BB", *b"BD", *b"BE", *b"BF", *b"BG", *b"BH",
    *b"BI", *b"BJ", *b"BL", *b"BM", *b"BN", *b"BO", *b"BQ", *b"BR", *b"BS", *b"BT", *b"BV", *b"BW",
    *b"BY", *b"BZ", *b"CA", *b"CC", *b"CD", *b"CF", *b"CG", *b"CH", *b"CI", *b"CK", *b"CL", *b"CM",
    *b"CN", *b"CO", *b"CR", *b"CU", *b"CV", *b"CW", *b"CX", *b"CY", *b"CZ", *b"DE", *b"DJ", *b"DK",
    *b"DM", *b"DO", *b"DZ", *b"EC", *b"EE", *b"EG", *b"EH", *b"ER", *b"ES", *b"ET", *b"FI", *b"FJ",
    *b"FK", *b"FM", *b"FO", *b"FR", *b"GA", *b"GB", *b"GD", *b"GE", *b"GF", *b"GG", *b"GH", *b"GI",
    *b"GL", *b"GM", *b"GN", *b"GP", *b"GQ", *b"GR", *b"GS", *b"GT", *b"GU", *b"GW", *b"GY", *b"HK",
    *b"HM", *b"HN", *b"HR", *b"HT", *b"HU", *b"ID", *b"IE", *b"IL", *b"IM", *b"IN", *b"IO", *b"IQ",
    *b"IR", *b"IS", *b"IT", *b"JE", *b"JM", *b"JO", *b"JP", *b"KE", *b"KG", *b"KH", *b"KI", *b"KM",
    *b"KN", *b"KP", *b"KR", *b"KW", *b"KY", *b"KZ", *b"LA", *b"LB", *b"LC", *b"LI", *b"LK", *b"LR",
    *b"LS", *b"LT", *b"LU", *b"LV", *b"LY", *b"MA", *b"MC", *b"MD", *b"ME", *b"MF", *b"MG", *b"MH",
    *b"MK", *b"ML", *b"MM", *b"MN", *b"MO", *b"MP", *b"MQ", *b"MR", *b"MS", *b"MT", *b"MU", *b"MV",
    *b"MW", *b"MX", *b"MY", *b"MZ", *b"NA", *b"NC", *b"NE", *b"NF", *b"NG", *b"NI", *b"NL", *b"NO",
    *b"NP", *b"NR", *b"NU", *b"NZ", *b"OM", *b"PA", *b"PE", *b"PF", *b"PG", *b"PH", *b"PK", *b"PL",
    *b"PM", *b"PN", *b"PR", *b"PS", *b"PT", *b"PW", *b"PY", *b"QA", *b"RE", *b"RO", *b"RS", *b"RU",
    *b"RW", *b"SA", *b"SB", *b"SC", *b"SD", *b"SE", *b"SG", *b"SH", *b"SI", *b"SJ", *b"SK", *b"SL",
    *b"SM", *b"SN", *b"SO", *b"SR", *b"SS", *b"ST", *b"SV", *b"SX", *b"SY", *b"SZ", *b"TA", *b"TC",
    *b"TD", *b"TF", *b"TG", *b"TH", *b"TJ", *b"TK", *b"TL", *b"TM", *b"TN", *b"TO", *b"TR", *b"TT",
    *b"TV", *b"TW", *b"TZ", *b"UA", *b"UG", *b"UM", *b"US", *b"UY", *b"UZ", *b"VA", *b"VC", *b"VE",
    *b"VG", *b"VI", *b"VN", *b"VU", *b"WF", *b"WS", *b"XK", *b"YE", *b"YT", *b"ZA", *b"ZM", *b"ZW",
];

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::error::ErrorCode;

    const ID_MOBILE: &str = "628123456789";

    fn norm(input: &str, region: Region) -> String {
        match normalize(input, region) {
            Ok(n) => n.as_str().to_owned(),
            Err(e) => panic!("{input:?} in {region}: {e}"),
        }
    }

    fn reason(input: &str, region: Region) -> String {
        match normalize(input, region) {
            Ok(n) => panic!("{input:?} in {region} was accepted as {n}"),
            Err(Error::InvalidNumber {
                input: echoed,
                reason,
            }) => {
                assert_eq!(echoed, input);
                reason
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    fn region(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    // --- normalize: Indonesia -----------------------------------------------------------------

    #[test]
    fn indonesian_forms_normalise_to_the_same_number() {
        for input in [
            "08123456789",
            "8123456789",
            "+628123456789",
            "628123456789",
            "0812-3456-789",
            "+62 812 3456 789",
            "(0812) 3456789",
            "  0812 3456 789\t",
            "0812.3456.789",
            "0812/3456789",
            "0812\u{2013}3456\u{2013}789",
            "(+62) 812-3456-789",
            "+62 (0) 812 3456 789",
            "+62 0812 3456 789",
        ] {
            assert_eq!(norm(input, Region::ID), ID_MOBILE, "{input:?}");
        }
    }

    #[test]
    fn default_region_is_indonesia() {
        assert_eq!(Region::default(), Region::ID);
        assert_eq!(norm("08123456789", Region::default()), ID_MOBILE);
    }

    #[test]
    fn other_indonesian_numbers() {
        assert_eq!(norm("085712345678", Region::ID), "6285712345678");
        assert_eq!(norm("0895-1234-5678", Region::ID), "6289512345678");
        assert_eq!(norm("6285712345678", Region::ID), "6285712345678");
        // Jakarta landline, with and without the country code.
        assert_eq!(norm("021 555 1234", Region::ID), "62215551234");
        assert_eq!(norm("62215551234", Region::ID), "62215551234");
    }

    // --- normalize: other countries ------------------------------------------------------------

    #[test]
    fn international_numbers_ignore_the_default_region() {
        for r in [Region::ID, Region::US, Region::GB, region("DE")] {
            assert_eq!(norm("+1 650 555 1234", r), "16505551234");
            assert_eq!(norm("+44 7400 123456", r), "447400123456");
            assert_eq!(norm("+44 (0) 7400 123456", r), "447400123456");
            assert_eq!(norm("+61 412 345 678", r), "61412345678");
        }
    }

    #[test]
    fn national_numbers_of_other_regions() {
        assert_eq!(norm("07400 123456", Region::GB), "447400123456");
        assert_eq!(norm("0412 345 678", Region::AU), "61412345678");
        assert_eq!(norm("(650) 555-1234", Region::US), "16505551234");
        assert_eq!(norm("1 650 555 1234", Region::US), "16505551234");
        assert_eq!(norm("012-345 6789", Region::MY), "60123456789");
        assert_eq!(norm("8123 4567", Region::SG), "6581234567");
        assert_eq!(norm("0905 123 4567", Region::PH), "639051234567");
        assert_eq!(norm("081 234 5678", Region::TH), "66812345678");
        assert_eq!(norm("091 234 56 78", Region::VN), "84912345678");
        assert_eq!(norm("098765 43210", Region::IN), "919876543210");
    }

    #[test]
    fn own_country_code_without_plus() {
        assert_eq!(norm("447400123456", Region::GB), "447400123456");
        assert_eq!(norm("61412345678", Region::AU), "61412345678");
        assert_eq!(norm("919876543210", Region::IN), "919876543210");
        assert_eq!(norm("16505551234", Region::US), "16505551234");
    }

    #[cfg(feature = "phonenumber")]
    #[test]
    fn foreign_country_code_without_plus_is_read_only_when_not_a_valid_national_number() {
        // Not a valid Indonesian number, but a valid British one.
        assert_eq!(norm("447400123456", Region::ID), "447400123456");
        assert_eq!(norm("16505551234", Region::ID), "16505551234");
        // A valid Indonesian landline (0614 …) wins over the Australian mobile.
        assert_eq!(norm("61412345678", Region::ID), "6261412345678");
        assert_eq!(norm("+61412345678", Region::ID), "61412345678");
    }

    #[cfg(not(feature = "phonenumber"))]
    #[test]
    fn fallback_reads_national_lengths_before_foreign_country_codes() {
        // Rule 3 (national length) comes before rule 4 (foreign country code).
        assert_eq!(norm("447400123456", Region::ID), "62447400123456");
        // Too long for an Indonesian national number: rule 4.
        assert_eq!(norm("4474001234567", Region::ID), "4474001234567");
        // Regions without a built-in plan accept international forms only.
        assert_eq!(norm("447400123456", region("DE")), "447400123456");
        assert!(reason("030 123456", region("DE")).contains("need the `phonenumber` feature"));
        assert!(reason("4407400123456", region("DE")).contains("ambiguous"));
        // The fallback checks lengths only.
        assert_eq!(norm("0999999999", Region::ID), "62999999999");
        assert_eq!(
            reason("0000000000", Region::ID),
            "not a valid number for ID"
        );
    }

    // --- normalize: errors ---------------------------------------------------------------------

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(reason("", Region::ID), "empty");
        assert_eq!(reason("   \t ", Region::ID), "empty");
    }

    #[test]
    fn letters_and_symbols() {
        assert_eq!(reason("0812-ABC-789", Region::ID), "contains letters");
        assert_eq!(reason("08123456789 ext 12", Region::ID), "contains letters");
        assert_eq!(reason("nomor", Region::ID), "contains letters");
        assert_eq!(
            reason("0812#3456789", Region::ID),
            "contains an unexpected character '#'"
        );
        assert_eq!(reason("--- ()", Region::ID), "contains no digits");
        assert_eq!(
            reason("++628123456789", Region::ID),
            "'+' may appear only once, before the first digit"
        );
        assert_eq!(
            reason("0812+3456789", Region::ID),
            "'+' may appear only once, before the first digit"
        );
    }

    #[test]
    fn too_short() {
        assert_eq!(reason("0", Region::ID), "too short for ID");
        assert_eq!(reason("0812", Region::ID), "too short for ID");
        assert_eq!(reason("0812 345", Region::ID), "too short for ID");
        assert_eq!(reason("+62812", Region::ID), "too short");
        assert_eq!(reason("07400 1234", Region::GB), "too short for GB");
    }

    #[test]
    fn too_long() {
        assert_eq!(reason("0812 3456 7890 123", Region::ID), "too long for ID");
        assert_eq!(reason("+62 812 3456 7890 1234", Region::ID), "too long");
        assert_eq!(reason("0812345678901234567890123", Region::ID), "too long");
    }

    #[test]
    fn unknown_country_code() {
        assert_eq!(
            reason("+999 1234 5678", Region::ID),
            "unknown country calling code"
        );
    }

    #[cfg(feature = "phonenumber")]
    #[test]
    fn invalid_numbers_are_refused_strictly() {
        // Possible lengths, but no allocated range.
        assert_eq!(
            reason("0000000000", Region::ID),
            "not a valid number for ID"
        );
        assert_eq!(
            reason("0840 1234 5678", Region::ID),
            "not a valid number for ID"
        );
        assert_eq!(
            reason("+62 840 1234 5678", Region::GB),
            "not a valid number for ID"
        );
        assert_eq!(
            reason("0600 123456", Region::GB),
            "not a valid number for GB"
        );
        assert_eq!(reason("+44 7400 12345678", Region::ID), "too long for GB");
        assert_eq!(
            reason("+1 012 555 1234", Region::ID),
            "not a valid number for US"
        );
    }

    #[cfg(feature = "phonenumber")]
    #[test]
    fn region_without_numbering_plan() {
        let aq = region("AQ");
        assert!(reason("0812 3456 789", aq).contains("no numbering plan is known for AQ"));
        assert_eq!(norm("+62 812 3456 789", aq), ID_MOBILE);
    }

    #[test]
    fn error_is_invalid_number_and_reads_well() {
        let err = normalize("0812", Region::ID).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidNumber);
        assert!(!err.is_retryable());
        assert_eq!(
            err.to_string(),
            "invalid phone number \"0812\": too short for ID"
        );
    }

    #[test]
    fn huge_input_is_cut_in_the_error() {
        let input = "é".repeat(1_000);
        let Err(Error::InvalidNumber { input: echoed, .. }) = normalize(&input, Region::ID) else {
            panic!("accepted");
        };
        assert!(echoed.len() <= 104, "{}", echoed.len());
        assert!(echoed.ends_with('…'));
    }

    // --- PhoneNumber ---------------------------------------------------------------------------

    #[test]
    fn accessors() {
        let n = PhoneNumber::from_wa_id(ID_MOBILE).unwrap();
        assert_eq!(n.as_str(), ID_MOBILE);
        assert_eq!(n.to_string(), ID_MOBILE);
        assert_eq!(n.e164(), "+628123456789");
        assert_eq!(n.country_code(), 62);
        assert_eq!(n.national_number(), "8123456789");
        assert_eq!(format!("{n:?}"), "PhoneNumber(\"628123456789\")");
        assert_eq!(AsRef::<str>::as_ref(&n), ID_MOBILE);

        for (wa_id, code, national) in [
            ("16505551234", 1, "6505551234"),
            ("447400123456", 44, "7400123456"),
            ("61412345678", 61, "412345678"),
            ("8801712345678", 880, "1712345678"),
            ("79161234567", 7, "9161234567"),
        ] {
            let n = PhoneNumber::from_wa_id(wa_id).unwrap();
            assert_eq!(n.country_code(), code, "{wa_id}");
            assert_eq!(n.national_number(), national, "{wa_id}");
        }
    }

    #[test]
    fn from_wa_id_checks_shape_only() {
        assert!(PhoneNumber::from_wa_id("62812345").is_ok()); // 8 digits
        assert!(PhoneNumber::from_wa_id("628123456789012").is_ok()); // 15 digits
        for bad in [
            "",
            "6281234",
            "6281234567890123",
            "+628123456789",
            "62 8123456789",
            "0628123456789",
            "99912345678",
            "62812345678x",
            "６２８１２３４５６７８９",
        ] {
            let err = PhoneNumber::from_wa_id(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidNumber, "{bad:?}");
        }
    }

    #[test]
    fn from_str_is_strict() {
        let n: PhoneNumber = ID_MOBILE.parse().unwrap();
        assert_eq!(n.as_str(), ID_MOBILE);
        assert_eq!("+628123456789".parse::<PhoneNumber>().unwrap(), n);
        for bad in [
            "08123456789",
            "+62 812 3456 789",
            "62-812-3456-789",
            "++628123456789",
            "+",
            "",
            " 628123456789",
        ] {
            assert!(bad.parse::<PhoneNumber>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serde_is_a_plain_validated_string() {
        let n = PhoneNumber::from_wa_id(ID_MOBILE).unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"628123456789\"");
        let back: PhoneNumber = serde_json::from_str("\"628123456789\"").unwrap();
        assert_eq!(back, n);
        let plus: PhoneNumber = serde_json::from_str("\"+628123456789\"").unwrap();
        assert_eq!(plus, n);
        for bad in [
            "\"0812\"",
            "\"08123456789x\"",
            "628123456789",
            "null",
            "\"\"",
        ] {
            assert!(serde_json::from_str::<PhoneNumber>(bad).is_err(), "{bad}");
        }
        let err = serde_json::from_str::<PhoneNumber>("\"0812\"").unwrap_err();
        assert!(err.to_string().contains("invalid phone number"), "{err}");
    }

    #[test]
    fn equality_hash_order_follow_the_digits() {
        let a = PhoneNumber::from_wa_id("628123456789").unwrap();
        let b = PhoneNumber::from_wa_id("6281234567890").unwrap();
        let c = PhoneNumber::from_wa_id("62812345679").unwrap();
        assert!(a < b && b < c);
        assert_eq!(a.cmp(&b), a.as_str().cmp(b.as_str()));
        let set: HashSet<PhoneNumber> = [a.clone(), b, a.clone()].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains("628123456789"));
    }

    // --- Region --------------------------------------------------------------------------------

    #[test]
    fn region_parsing() {
        assert_eq!(Region::parse("id").unwrap(), Region::ID);
        assert_eq!(Region::parse("Id").unwrap(), Region::ID);
        assert_eq!("GB".parse::<Region>().unwrap(), Region::GB);
        assert_eq!(Region::parse("xk").unwrap().as_str(), "XK");
        for bad in ["", "I", "IDN", " ID", "ZZ", "XX", "UK", "1D", "éé"] {
            let err = Region::parse(bad).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidInput, "{bad:?}");
        }
        assert_eq!(Region::ID.to_string(), "ID");
        assert_eq!(format!("{:?}", Region::GB), "Region(\"GB\")");
    }

    #[test]
    fn region_serde() {
        assert_eq!(serde_json::to_string(&Region::ID).unwrap(), "\"ID\"");
        assert_eq!(
            serde_json::from_str::<Region>("\"my\"").unwrap(),
            Region::MY
        );
        assert!(serde_json::from_str::<Region>("\"ZZ\"").is_err());
        assert!(serde_json::from_str::<Region>("62").is_err());
    }

    #[test]
    fn constants_are_valid_regions() {
        for r in [
            Region::ID,
            Region::MY,
            Region::SG,
            Region::PH,
            Region::TH,
            Region::VN,
            Region::IN,
            Region::US,
            Region::GB,
            Region::AU,
        ] {
            assert_eq!(Region::parse(r.as_str()).unwrap(), r);
        }
    }

    // --- Static tables -------------------------------------------------------------------------

    #[test]
    fn tables_are_sorted_and_sized() {
        assert!(CALLING_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(REGION_CODES.windows(2).all(|w| w[0] < w[1]));
        // 249 assigned ISO 3166-1 codes + AC, TA, XK.
        assert_eq!(REGION_CODES.len(), 252);
    }

    #[test]
    fn calling_codes_are_a_prefix_code() {
        for &a in CALLING_CODES {
            for &b in CALLING_CODES {
                if a != b {
                    let (a, b) = (a.to_string(), b.to_string());
                    assert!(!b.starts_with(&a), "{a} is a prefix of {b}");
                }
            }
        }
    }

    #[cfg(feature = "phonenumber")]
    #[test]
    fn tables_match_libphonenumber() {
        use phonenumber::metadata::DATABASE;
        for code in 1..=999u16 {
            assert_eq!(
                DATABASE.by_code(&code).is_some(),
                CALLING_CODES.contains(&code),
                "calling code {code}"
            );
        }
        let mut missing = Vec::new();
        for r in REGION_CODES {
            let r = std::str::from_utf8(r).unwrap();
            if DATABASE.by_id(r).is_none() {
                missing.push(r);
            }
        }
        assert_eq!(missing, ["AQ", "BV", "GS", "HM", "PN", "TF", "UM"]);
        for meta in DATABASE.iter().filter(|m| m.id() != "001") {
            assert!(Region::parse(meta.id()).is_ok(), "{}", meta.id());
        }
    }

    /// Found by the `phone_normalize` fuzz target
    /// (`fuzz/regressions/phone_normalize-crash-6f2f4a07`): digits dialled through Åland's
    /// international prefix `00` were accepted as a number whose `+` form is refused.
    #[cfg(feature = "phonenumber")]
    #[test]
    fn a_number_read_in_a_region_reads_back_from_its_plus_form() {
        let ax = Region::parse("AX").unwrap();
        let err = normalize("00780000062013936", ax).unwrap_err();
        assert!(err.to_string().contains("too long for RU"), "{err}");
        // Numbers dialled through the prefix that are valid still are.
        let uk = normalize("0044 7400 123456", ax).unwrap();
        assert_eq!(uk.as_str(), "447400123456");
        assert_eq!(normalize(&uk.e164(), Region::ID).unwrap(), uk);
    }

    /// Numbers of every country read in turn keep their regexes compiled: the `phonenumber`
    /// crate's own cache (100 regexes) would evict them and recompile on nearly every call.
    #[cfg(feature = "phonenumber")]
    #[test]
    fn regexes_of_many_countries_stay_compiled() {
        use phonenumber::metadata::DATABASE;
        let mut read = 0;
        for meta in DATABASE.iter().filter(|m| m.id() != "001") {
            let Some(example) = meta.descriptors().mobile().and_then(|d| d.example()) else {
                continue;
            };
            let region = Region::parse(meta.id()).unwrap();
            // In its own region (national rules) and in ID (the `+` form).
            let own = normalize(example, region);
            let plus = normalize(&format!("+{}{example}", meta.country_code()), Region::ID);
            read += usize::from(own.is_ok()) + usize::from(plus.is_ok());
        }
        assert!(read > 400, "only {read} example numbers read");
        let cache = DATABASE.cache();
        let cache = cache.lock().unwrap();
        assert_eq!(cache.capacity(), engine::REGEX_CACHE_CAPACITY);
        assert!(
            cache.len() > 1_000,
            "{} compiled regexes kept after reading numbers of {} regions",
            cache.len(),
            DATABASE.iter().count()
        );
    }

    // --- Properties ----------------------------------------------------------------------------

    const REGIONS: [Region; 10] = [
        Region::ID,
        Region::MY,
        Region::SG,
        Region::PH,
        Region::TH,
        Region::VN,
        Region::IN,
        Region::US,
        Region::GB,
        Region::AU,
    ];

    fn any_region() -> impl Strategy<Value = Region> {
        prop::sample::select(REGIONS.to_vec())
    }

    /// Valid numbers as people type them, with the region they are typed in.
    fn typed_valid_number() -> impl Strategy<Value = (String, Region)> {
        prop_oneof![
            // Indonesian mobiles: 08[1-35-9] + 7..=10 digits, with or without the trunk 0.
            (prop::sample::select(vec!["0", ""]), "8[1-35-9][0-9]{7,10}")
                .prop_map(|(trunk, nsn)| (format!("{trunk}{nsn}"), Region::ID)),
            "\\+628[1-35-9][0-9]{7,10}".prop_map(|s| (s, Region::ID)),
            "628[1-35-9][0-9]{7,10}".prop_map(|s| (s, Region::ID)),
            "074[0-4][0-9]{7}".prop_map(|s| (s, Region::GB)),
            "04[0-3][0-9]{7}".prop_map(|s| (s, Region::AU)),
            "650[2-9][0-9]{6}".prop_map(|s| (s, Region::US)),
            "012[0-9]{7}".prop_map(|s| (s, Region::MY)),
            "\\+44 ?74[0-4][0-9]{7}".prop_map(|s| (s, Region::ID)),
        ]
    }

    /// Formatting characters `normalize` ignores.
    fn noise() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![" ", "-", ".", "(", ")", "/", "\t", "\u{2013}"]),
            0..3,
        )
        .prop_map(|v| v.concat())
    }

    /// `s` with noise after every character (a leading `+` stays first).
    fn with_noise(s: &str, noise: &[String]) -> String {
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            out.push(c);
            out.push_str(&noise[i % noise.len()]);
        }
        out
    }

    fn outcome(input: &str, region: Region) -> std::result::Result<String, String> {
        match normalize(input, region) {
            Ok(n) => Ok(n.as_str().to_owned()),
            Err(Error::InvalidNumber { reason, .. }) => Err(reason),
            Err(e) => Err(format!("unexpected {e:?}")),
        }
    }

    proptest! {
        #[test]
        fn valid_numbers_normalise_and_are_idempotent(
            (input, region) in typed_valid_number(),
            other in any_region(),
        ) {
            let n = normalize(&input, region).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Digits alone are read in a region; a foreign number typed with `+` may read
            // differently there without it (documented), so only national forms are re-read.
            if !input.starts_with('+') {
                prop_assert_eq!(&normalize(n.as_str(), region).unwrap(), &n);
            }
            prop_assert_eq!(&normalize(&n.e164(), other).unwrap(), &n);
            prop_assert_eq!(&PhoneNumber::from_wa_id(n.as_str()).unwrap(), &n);
            prop_assert_eq!(&n.e164().parse::<PhoneNumber>().unwrap(), &n);
        }

        #[test]
        fn whatever_is_accepted_is_a_fixed_point(
            plus in any::<bool>(),
            digits in "[0-9]{1,17}",
            region in any_region(),
            other in any_region(),
        ) {
            let input = if plus { format!("+{digits}") } else { digits };
            if let Ok(n) = normalize(&input, region) {
                if !plus {
                    prop_assert_eq!(&normalize(n.as_str(), region).unwrap(), &n);
                }
                prop_assert_eq!(&normalize(&n.e164(), other).unwrap(), &n);
                prop_assert_eq!(&PhoneNumber::from_wa_id(n.as_str()).unwrap(), &n);
            }
        }

        #[test]
        fn formatting_noise_never_changes_the_result(
            (input, region) in typed_valid_number(),
            noise in prop::collection::vec(noise(), 1..5),
            lead in noise(),
        ) {
            let noisy = format!("{lead}{}", with_noise(&input, &noise));
            prop_assert_eq!(outcome(&noisy, region), outcome(&input, region));
        }

        #[test]
        fn formatting_noise_never_changes_the_result_for_any_digits(
            plus in any::<bool>(),
            digits in "[0-9]{1,16}",
            region in any_region(),
            noise in prop::collection::vec(noise(), 1..5),
        ) {
            let input = if plus { format!("+{digits}") } else { digits };
            let noisy = with_noise(&input, &noise);
            prop_assert_eq!(outcome(&noisy, region), outcome(&input, region));
        }

        #[test]
        fn wa_ids_round_trip(
            code in prop::sample::select(CALLING_CODES.to_vec()),
            rest in "[0-9]{7,12}",
        ) {
            let wa_id = format!("{code}{rest}");
            prop_assume!(wa_id.len() <= PhoneNumber::MAX_DIGITS);
            let n = PhoneNumber::from_wa_id(&wa_id).unwrap();
            prop_assert_eq!(n.as_str(), wa_id.as_str());
            prop_assert_eq!(n.country_code(), code);
            prop_assert_eq!(format!("{}{}", n.country_code(), n.national_number()), wa_id.clone());
            let json = serde_json::to_string(&n).unwrap();
            prop_assert_eq!(&serde_json::from_str::<PhoneNumber>(&json).unwrap(), &n);
            prop_assert_eq!(&n.to_string().parse::<PhoneNumber>().unwrap(), &n);
        }
    }
}
