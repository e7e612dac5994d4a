//! Customers and notices, from CSV files or from the ISP's own SQLite database.
//!
//! A customer has an id, a name, a phone number as people typed it (`0812-3456-789`,
//! `+62 812 …`, `0` or nothing at all), a network node such as `ODP-001`, and an active
//! flag. A notice has an id, a title and a text with `{nama}` placeholders.

use std::path::Path;

use serde::Deserialize;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use crate::error::{NotifyError, Result};

/// One customer of the ISP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The ISP's id for the customer.
    pub id: String,
    /// The name, for `{nama}`.
    pub name: String,
    /// The number as it was typed; may be empty or `0`.
    pub phone: String,
    /// The network node the line hangs off, e.g. `ODP-001`.
    pub node: String,
    /// Whether the customer's subscription is active.
    pub active: bool,
}

/// One prepared notice.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Notice {
    /// Its id.
    pub id: String,
    /// A short title, sent in bold above the text.
    pub title: String,
    /// The text, with `{nama}` (and `{node}`, `{id}`) placeholders.
    pub text: String,
}

impl Notice {
    /// The message body: the title in WhatsApp bold, a blank line, the text.
    pub fn body(&self) -> String {
        if self.title.trim().is_empty() {
            self.text.clone()
        } else {
            format!("*{}*\n\n{}", self.title.trim(), self.text)
        }
    }
}

/// A CSV row of customers; header names in English or Indonesian.
#[derive(Debug, Deserialize)]
struct CustomerRow {
    #[serde(default)]
    id: Option<String>,
    #[serde(alias = "nama")]
    name: String,
    #[serde(
        alias = "nomor",
        alias = "no_hp",
        alias = "hp",
        alias = "whatsapp",
        default
    )]
    phone: String,
    #[serde(alias = "odp", default)]
    node: String,
    #[serde(alias = "aktif", alias = "status", default)]
    active: Option<String>,
}

/// Reads customers from a CSV file with a header (`id,name,phone,node,active`; `nama`,
/// `nomor`/`no_hp`, `odp`, `aktif` also work). A missing id becomes the row's line number;
/// a missing active flag means active. A malformed row stops the run with its line.
pub fn customers_from_csv(path: &Path) -> Result<Vec<Customer>> {
    let file = path.display().to_string();
    let csv_err = |source| NotifyError::Csv {
        file: file.clone(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(csv_err)?;
    let mut customers = Vec::new();
    for row in reader.deserialize::<CustomerRow>() {
        let row = row.map_err(csv_err)?;
        let line = customers.len() + 2;
        let active = match row.active.as_deref() {
            None | Some("") => true,
            Some(flag) => parse_flag(flag).ok_or_else(|| {
                NotifyError::Input(format!(
                    "{file}: line {line}: active must be true/false, 1/0, yes/no or ya/tidak, not {flag:?}"
                ))
            })?,
        };
        customers.push(Customer {
            id: row
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| line.to_string()),
            name: row.name,
            phone: row.phone,
            node: row.node,
            active,
        });
    }
    Ok(customers)
}

/// Reads notices (`id,title,text`) from a CSV file.
pub fn notices_from_csv(path: &Path) -> Result<Vec<Notice>> {
    let file = path.display().to_string();
    let csv_err = |source| NotifyError::Csv {
        file: file.clone(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_path(path)
        .map_err(csv_err)?;
    reader
        .deserialize::<Notice>()
        .map(|row| row.map_err(csv_err))
        .collect()
}

/// The ISP's SQLite database, opened read-only.
pub struct CustomerDb {
    pool: SqlitePool,
}

impl CustomerDb {
    /// Opens `url` (`sqlite://isp.db`) read-only.
    pub async fn open(url: &str) -> Result<Self> {
        let options: SqliteConnectOptions = url.parse()?;
        let pool = SqlitePool::connect_with(options.read_only(true)).await?;
        Ok(Self { pool })
    }

    /// Reads the `customers` table: `id`, `name`, `phone`, `node`, `active` (text or integer
    /// id; `active` as 0/1 or text; `phone` may be NULL).
    pub async fn customers(&self) -> Result<Vec<Customer>> {
        let rows = sqlx::query(
            "SELECT CAST(id AS TEXT) AS id, name, CAST(phone AS TEXT) AS phone, node, \
             CAST(active AS TEXT) AS active FROM customers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                let active: Option<String> = row.try_get("active")?;
                let active = match active.as_deref() {
                    None => true,
                    Some(flag) => parse_flag(flag).ok_or_else(|| {
                        NotifyError::Input(format!(
                            "customers table: customer {id}: active is {flag:?}"
                        ))
                    })?,
                };
                Ok(Customer {
                    name: row
                        .try_get::<Option<String>, _>("name")?
                        .unwrap_or_default(),
                    phone: row
                        .try_get::<Option<String>, _>("phone")?
                        .unwrap_or_default(),
                    node: row
                        .try_get::<Option<String>, _>("node")?
                        .unwrap_or_default(),
                    id,
                    active,
                })
            })
            .collect()
    }

    /// Reads the `notices` table: `id`, `title`, `text`.
    pub async fn notices(&self) -> Result<Vec<Notice>> {
        let rows =
            sqlx::query("SELECT CAST(id AS TEXT) AS id, title, text FROM notices ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(Notice {
                    id: row.try_get("id")?,
                    title: row
                        .try_get::<Option<String>, _>("title")?
                        .unwrap_or_default(),
                    text: row.try_get("text")?,
                })
            })
            .collect()
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, `ya`/`tidak`, `active`/`inactive`, `aktif`/`nonaktif`.
fn parse_flag(flag: &str) -> Option<bool> {
    match flag.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" | "ya" | "active" | "aktif" => Some(true),
        "0" | "false" | "no" | "n" | "tidak" | "inactive" | "nonaktif" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_in_both_languages() {
        assert_eq!(parse_flag(" Ya "), Some(true));
        assert_eq!(parse_flag("nonaktif"), Some(false));
        assert_eq!(parse_flag("maybe"), None);
    }
}
