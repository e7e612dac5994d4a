//! Contacts, contact lists and the filters that select audiences.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ContactId, ContactListId, TenantId};
use crate::phone::PhoneNumber;

/// A person a tenant messages. Unique per (tenant, phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Identifier.
    pub id: ContactId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// WhatsApp number.
    pub phone: PhoneNumber,
    /// Name, used by `{nama}`/`{name}` placeholders.
    pub name: Option<String>,
    /// Custom fields, e.g. `node = ODP-001`.
    pub fields: BTreeMap<String, String>,
    /// Tags, e.g. `active`.
    pub tags: BTreeSet<String>,
    /// Lists the contact belongs to.
    pub lists: BTreeSet<ContactListId>,
    /// The contact asked not to receive marketing; campaigns skip them.
    pub opted_out: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    /// A new contact with no fields or tags.
    pub fn new(tenant_id: TenantId, phone: PhoneNumber, name: Option<String>) -> Self {
        let now = Utc::now();
        Self {
            id: ContactId::new(),
            tenant_id,
            phone,
            name,
            fields: BTreeMap::new(),
            tags: BTreeSet::new(),
            lists: BTreeSet::new(),
            opted_out: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// The value a placeholder stands for: `name`/`nama`, `phone`/`nomor`, or a custom field.
    pub fn variable(&self, key: &str) -> Option<&str> {
        match key {
            "name" | "nama" => self.name.as_deref(),
            "phone" | "nomor" => Some(self.phone.as_str()),
            other => self.fields.get(other).map(String::as_str),
        }
    }
}

/// A named group of contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactList {
    /// Identifier.
    pub id: ContactListId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name, unique within the tenant.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Selects contacts. All given conditions must hold; an empty filter selects everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFilter {
    /// In at least one of these lists (ignored when empty).
    #[serde(default)]
    pub lists: BTreeSet<ContactListId>,
    /// Carrying every one of these tags.
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// With these exact custom-field values, e.g. `node = ODP-001`.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Include contacts who opted out (off by default).
    #[serde(default)]
    pub include_opted_out: bool,
    /// Whose name or phone (wa_id digits) contains this, ignoring the case of ASCII letters
    /// (other characters match exactly, on every backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl ContactFilter {
    /// Whether `contact` passes the filter.
    pub fn matches(&self, contact: &Contact) -> bool {
        (self.include_opted_out || !contact.opted_out)
            && (self.lists.is_empty() || !self.lists.is_disjoint(&contact.lists))
            && self.tags.is_subset(&contact.tags)
            && self
                .fields
                .iter()
                .all(|(k, v)| contact.fields.get(k) == Some(v))
            && self.text.as_deref().is_none_or(|needle| {
                let needle = needle.to_ascii_lowercase();
                contact.phone.as_str().contains(&needle)
                    || contact
                        .name
                        .as_deref()
                        .is_some_and(|n| n.to_ascii_lowercase().contains(&needle))
            })
    }
}
