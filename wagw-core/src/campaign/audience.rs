//! Turning an audience into campaign recipients: stored contacts by filter, explicit numbers,
//! and CSV uploads, streamed in batches so memory stays flat whatever the audience size.

use std::collections::BTreeMap;
use std::io::Read;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::ids::{CampaignId, TenantId};
use crate::model::campaign::CampaignRecipient;
use crate::model::contact::{Contact, ContactFilter};
use crate::phone::{Region, normalize};
use crate::store::Store;
use crate::{Error, Result};

/// Recipients written per store call.
const BATCH: usize = 5_000;
/// Rejections kept in a report; the count goes on past it.
const MAX_REJECTIONS_KEPT: usize = 1_000;
/// Column names recognised as the phone number in a CSV header (case-insensitive).
const PHONE_COLUMNS: [&str; 10] = [
    "phone", "nomor", "no_hp", "nohp", "hp", "number", "whatsapp", "wa", "telepon", "msisdn",
];

/// What an expansion did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpansionReport {
    /// Recipients added.
    pub added: u64,
    /// Numbers already in the campaign (or repeated in the input), not added again.
    pub duplicates: u64,
    /// Inputs refused (invalid numbers, malformed rows).
    pub rejected: u64,
    /// The first refused inputs with their reasons.
    pub rejections: Vec<Rejection>,
}

impl ExpansionReport {
    fn reject(&mut self, line: Option<u64>, input: &str, reason: impl Into<String>) {
        self.rejected += 1;
        if self.rejections.len() < MAX_REJECTIONS_KEPT {
            self.rejections.push(Rejection {
                line,
                input: input.chars().take(100).collect(),
                reason: reason.into(),
            });
        }
    }
}

/// One refused input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The CSV line (1 is the header), when the input came from a CSV.
    pub line: Option<u64>,
    /// The input, cut to 100 characters.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
}

/// Writes recipients in batches and counts what the store skipped as duplicates.
pub(crate) struct RecipientWriter<'a, S: ?Sized> {
    store: &'a S,
    tenant: TenantId,
    campaign: CampaignId,
    batch: Vec<CampaignRecipient>,
    pub(crate) report: ExpansionReport,
}

impl<'a, S: Store + ?Sized> RecipientWriter<'a, S> {
    pub(crate) fn new(store: &'a S, tenant: TenantId, campaign: CampaignId) -> Self {
        Self {
            store,
            tenant,
            campaign,
            batch: Vec::with_capacity(BATCH),
            report: ExpansionReport::default(),
        }
    }

    async fn push(
        &mut self,
        phone: crate::phone::PhoneNumber,
        variables: BTreeMap<String, String>,
        contact: Option<&Contact>,
    ) -> Result<()> {
        let mut recipient = CampaignRecipient::new(self.tenant, self.campaign, phone, variables);
        recipient.contact_id = contact.map(|c| c.id);
        self.batch.push(recipient);
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    pub(crate) async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let added = self
            .store
            .insert_recipients(self.tenant, self.campaign, &self.batch)
            .await?;
        self.report.added += added;
        self.report.duplicates += self.batch.len() as u64 - added;
        self.batch.clear();
        Ok(())
    }

    /// Adds every stored contact passing `filter`.
    pub(crate) async fn contacts(&mut self, filter: ContactFilter) -> Result<()> {
        let mut contacts = self.store.stream_contacts(self.tenant, filter);
        while let Some(contact) = contacts.next().await {
            let contact = contact?;
            let vars = contact_variables(&contact);
            self.push(contact.phone.clone(), vars, Some(&contact))
                .await?;
        }
        Ok(())
    }

    /// Adds numbers written by people, normalised in `region`.
    pub(crate) async fn numbers(&mut self, numbers: &[String], region: Region) -> Result<()> {
        for input in numbers {
            match normalize(input, region) {
                Ok(phone) => {
                    let vars = BTreeMap::from([("phone".to_owned(), phone.as_str().to_owned())]);
                    self.push(phone, vars, None).await?;
                }
                Err(e) => self.report.reject(None, input, reason_of(&e)),
            }
        }
        Ok(())
    }

    /// Adds the rows of a CSV with a header; one column holds the number, the others become
    /// variables named by their (lower-cased) header.
    pub(crate) async fn csv(&mut self, reader: impl Read, region: Region) -> Result<()> {
        let mut csv = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers: Vec<String> = csv
            .headers()
            .map_err(|e| Error::invalid_input("line 1", format!("unreadable header: {e}")))?
            .iter()
            .map(str::to_lowercase)
            .collect();
        let phone_col = headers
            .iter()
            .position(|h| PHONE_COLUMNS.contains(&h.as_str()))
            .ok_or_else(|| {
                Error::invalid_input(
                    "line 1",
                    format!("no phone column; name one of: {}", PHONE_COLUMNS.join(", ")),
                )
            })?;
        let mut record = csv::StringRecord::new();
        loop {
            let line = csv.position().line();
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    self.report
                        .reject(Some(line), "", format!("malformed row: {e}"));
                    continue;
                }
            }
            let input = record.get(phone_col).unwrap_or_default();
            let phone = match normalize(input, region) {
                Ok(p) => p,
                Err(e) => {
                    self.report.reject(Some(line), input, reason_of(&e));
                    continue;
                }
            };
            let mut vars: BTreeMap<String, String> = record
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != phone_col)
                .map(|(i, value)| (headers[i].clone(), value.to_owned()))
                .collect();
            vars.insert("phone".to_owned(), phone.as_str().to_owned());
            self.push(phone, vars, None).await?;
        }
        Ok(())
    }
}

/// A contact's placeholder values: name (also as `nama`), phone, and custom fields.
pub(crate) fn contact_variables(contact: &Contact) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = contact.fields.clone();
    if let Some(name) = &contact.name {
        vars.insert("name".into(), name.clone());
        vars.insert("nama".into(), name.clone());
    }
    vars.insert("phone".into(), contact.phone.as_str().to_owned());
    vars
}

fn reason_of(error: &Error) -> String {
    match error {
        Error::InvalidNumber { reason, .. } => format!("invalid number: {reason}"),
        other => other.to_string(),
    }
}
