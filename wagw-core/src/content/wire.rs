//! Serde plumbing shared by the outbound content model and the inbound event model.
//!
//! Meta's JSON has two recurring shapes that serde's derives cannot express together with
//! "keep unknown fields": a `type` tag whose payload sits under a key named after the tag
//! (`{"type": "image", "image": {...}}`), and constant discriminator keys that carry no
//! information (`{"type": "reply", "reply": {...}}`). The helpers below handle both through
//! `serde_json` maps, so every model keeps fields it does not know in an `extra` map.

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

/// Declares a string enum with an `Other(String)` arm so values Meta adds later survive.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value wagw does not know (yet), kept verbatim. Build values with `From<&str>`,
            /// which maps known spellings to their own variants.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(value.as_ref()))
            }
        }
    };
}
pub(crate) use string_enum;

/// A JSON object of type-specific or not-yet-modelled fields.
pub type Extra = Map<String, Value>;

/// Removes `key` from `map` and deserialises it, if present.
pub(crate) fn take<T: DeserializeOwned, E: serde::de::Error>(
    map: &mut Extra,
    key: &str,
) -> Result<Option<T>, E> {
    map.remove(key)
        .map(|value| serde_json::from_value(value).map_err(|e| E::custom(format!("`{key}`: {e}"))))
        .transpose()
}

/// Removes `key` from `map` and deserialises it, failing when it is absent.
pub(crate) fn take_required<T: DeserializeOwned, E: serde::de::Error>(
    map: &mut Extra,
    key: &str,
) -> Result<T, E> {
    take(map, key)?.ok_or_else(|| E::custom(format!("missing field `{key}`")))
}

/// Removes a constant discriminator such as `"type": "reply"`, failing if it has another value.
/// An absent key is accepted: it carries no information and is written back on output.
pub(crate) fn take_constant<E: serde::de::Error>(
    map: &mut Extra,
    key: &str,
    expected: &str,
) -> Result<(), E> {
    match map.remove(key) {
        None => Ok(()),
        Some(Value::String(found)) if found == expected => Ok(()),
        Some(other) => Err(E::custom(format!(
            "`{key}` must be {expected:?}, got {other}"
        ))),
    }
}

/// Deserialises the payload of a tagged object, failing when the payload key is absent.
pub(crate) fn payload<T: DeserializeOwned, E: serde::de::Error>(
    kind: &str,
    payload: Option<Value>,
) -> Result<T, E> {
    let value = payload.ok_or_else(|| E::custom(format!("missing `{kind}` payload")))?;
    serde_json::from_value(value).map_err(|e| E::custom(format!("`{kind}`: {e}")))
}

/// Serialises `value` into a JSON value, reporting failures through the outer serializer.
pub(crate) fn to_value<T: Serialize + ?Sized, E: serde::ser::Error>(value: &T) -> Result<Value, E> {
    serde_json::to_value(value).map_err(E::custom)
}

/// Serialises `value`, which must serialise to an object, into a map.
pub(crate) fn to_map<T: Serialize + ?Sized, E: serde::ser::Error>(value: &T) -> Result<Extra, E> {
    match to_value(value)? {
        Value::Object(map) => Ok(map),
        other => Err(E::custom(format!("expected a JSON object, got {other}"))),
    }
}

/// Inserts `"type": kind` and, when there is one, the payload under the key `kind`.
pub(crate) fn put_tagged(map: &mut Extra, kind: &str, payload: Option<Value>) {
    map.insert("type".to_owned(), Value::String(kind.to_owned()));
    if let Some(payload) = payload {
        map.insert(kind.to_owned(), payload);
    }
}

/// Inserts `value` under `key` unless it is `None`.
pub(crate) fn put_opt<T: Serialize, E: serde::ser::Error>(
    map: &mut Extra,
    key: &str,
    value: Option<&T>,
) -> Result<(), E> {
    if let Some(value) = value {
        map.insert(key.to_owned(), to_value(value)?);
    }
    Ok(())
}

/// Copies `extra` into `map` without overwriting modelled fields.
pub(crate) fn put_extra(map: &mut Extra, extra: &Extra) {
    for (key, value) in extra {
        map.entry(key.clone()).or_insert_with(|| value.clone());
    }
}

/// A number Meta sends either as a JSON number or as a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(Number),
    String(String),
}

impl NumberOrString {
    fn into_number<E: serde::de::Error>(self) -> Result<Number, E> {
        match self {
            Self::Number(number) => Ok(number),
            Self::String(text) => serde_json::from_str::<Number>(text.trim())
                .map_err(|_| E::custom(format!("expected a number, got {text:?}"))),
        }
    }
}

/// `f64` accepted as a number or a numeric string (Meta's coordinates), written as a number.
pub(crate) mod lenient_f64 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(*value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        NumberOrString::deserialize(deserializer)?
            .into_number()?
            .as_f64()
            .ok_or_else(|| D::Error::custom("number out of range"))
    }
}

/// `u64` accepted as a number or a numeric string (template ids, quantities), written as a number.
pub(crate) mod lenient_u64 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(*value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        NumberOrString::deserialize(deserializer)?
            .into_number()?
            .as_u64()
            .ok_or_else(|| D::Error::custom("expected a non-negative integer"))
    }
}

/// A JSON number accepted as a number or a numeric string, written back exactly as parsed
/// (prices: `30` must not come back as `30.0`).
pub(crate) mod lenient_number {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Number,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Number, D::Error> {
        NumberOrString::deserialize(deserializer)?.into_number()
    }
}

/// Converts Unix seconds to a UTC timestamp.
fn from_unix<E: serde::de::Error>(number: Number) -> Result<DateTime<Utc>, E> {
    number
        .as_i64()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .ok_or_else(|| E::custom(format!("invalid Unix timestamp {number}")))
}

/// A Unix-seconds timestamp. Meta sends a string (`"1749416383"`), some payloads a number;
/// both are accepted and it is written back as Meta's string form.
pub(crate) mod unix_seconds {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.timestamp().to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        from_unix(NumberOrString::deserialize(deserializer)?.into_number()?)
    }
}

/// [`unix_seconds`] for an optional field (use with `default` and `skip_serializing_if`).
pub(crate) mod unix_seconds_opt {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => unix_seconds::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<NumberOrString>::deserialize(deserializer)?
            .map(|raw| from_unix(raw.into_number()?))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Stamp {
        #[serde(with = "unix_seconds")]
        at: DateTime<Utc>,
        #[serde(with = "lenient_f64")]
        lat: f64,
        #[serde(with = "lenient_number")]
        price: Number,
    }

    #[test]
    fn lenient_fields_accept_strings_and_numbers() {
        let from_strings: Stamp =
            serde_json::from_str(r#"{"at":"1749416383","lat":"37.5","price":"30"}"#)
                .expect("strings parse");
        let from_numbers: Stamp =
            serde_json::from_str(r#"{"at":1749416383,"lat":37.5,"price":30}"#)
                .expect("numbers parse");
        assert_eq!(from_strings.at, from_numbers.at);
        assert_eq!(from_strings.at.timestamp(), 1_749_416_383);
        assert_eq!(from_strings.lat, 37.5);
        assert_eq!(
            serde_json::to_value(&from_numbers).expect("serialises"),
            serde_json::json!({"at": "1749416383", "lat": 37.5, "price": 30})
        );
    }

    #[test]
    fn lenient_fields_reject_garbage() {
        assert!(serde_json::from_str::<Stamp>(r#"{"at":"soon","lat":1,"price":1}"#).is_err());
        assert!(serde_json::from_str::<Stamp>(r#"{"at":1,"lat":"north","price":1}"#).is_err());
    }
}
