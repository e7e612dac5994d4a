//! Response types of the Graph API calls that have no wagw-core counterpart.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A business phone number as `GET /{waba-id}/phone_numbers` or `GET /{phone-number-id}`
/// reports it. Fields Meta adds later stay in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PhoneNumberInfo {
    /// The phone-number id (used in API paths).
    pub id: String,
    /// The number as shown to users, e.g. `+1 555-096-7852`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// The approved business display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_rating: Option<String>,
    /// `VERIFIED`, `NOT_VERIFIED` or `EXPIRED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verification_status: Option<String>,
    /// `CLOUD_API`, `ON_PREMISE` or `NOT_APPLICABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_type: Option<String>,
    /// `{"level": "STANDARD" | "HIGH"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Value>,
    /// Display-name review status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_status: Option<String>,
    /// Connection status (`CONNECTED`, `FLAGGED` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Everything else Meta returned.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PhoneNumberInfo {
    /// `throughput.level`, e.g. `STANDARD`.
    pub fn throughput_level(&self) -> Option<&str> {
        self.throughput.as_ref()?.get("level")?.as_str()
    }
}

/// One page of a Graph list (`data` plus the `after` cursor of the next page).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// Cursor for the next page; `None` on the last page.
    pub after: Option<String>,
}

/// Graph's `{"data": [...], "paging": {...}}` list envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct ListEnvelope<T> {
    #[serde(default = "Vec::new")]
    pub(crate) data: Vec<T>,
    #[serde(default)]
    pub(crate) paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    pub(crate) cursors: Option<Cursors>,
    #[serde(default)]
    pub(crate) next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Cursors {
    #[serde(default)]
    pub(crate) after: Option<String>,
}

impl<T> ListEnvelope<T> {
    /// Graph marks the last page by omitting `paging.next`; only then is `after` dropped.
    pub(crate) fn into_page(self) -> Page<T> {
        let after = self.paging.and_then(|p| match (p.next, p.cursors) {
            (Some(_), Some(c)) => c.after,
            _ => None,
        });
        Page {
            data: self.data,
            after,
        }
    }
}
