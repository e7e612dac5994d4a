//! Turning an audience into campaign recipients: stored contacts by filter, explicit numbers,
//! and CSV uploads, streamed in batches so memory stays flat whatever the audience size.
//! Every refused input (invalid number, duplicate, malformed row) is stored as a
//! [`Rejection`], in batches too, so the campaign's report accounts for every input.

use std::collections::BTreeMap;
use std::io::Read;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::ids::{CampaignId, TenantId};
use crate::model::campaign::CampaignRecipient;
pub use crate::model::campaign::Rejection;
use crate::model::contact::{Contact, ContactFilter};
use crate::phone::{Region, normalize};
use crate::store::Store;
use crate::{Error, Result};

/// Recipients (and rejections) written per store call.
const BATCH: usize = 5_000;
/// Refused inputs an [`ExpansionReport`] shows; the store keeps every one.
const REJECTION_PREVIEW: usize = 100;
/// Why a duplicate input is refused.
const DUPLICATE: &str = "duplicate: the number is already a recipient of this campaign";
/// Column names recognised as the phone number in a CSV header (case-insensitive).
const PHONE_COLUMNS: [&str; 10] = [
    "phone", "nomor", "no_hp", "nohp", "hp", "number", "whatsapp", "wa", "telepon", "msisdn",
];

/// What an expansion did. The store holds every refused input
/// ([`CampaignStore::list_rejections`](crate::store::CampaignStore::list_rejections)); this
/// report counts them and shows the first few.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpansionReport {
    /// Recipients added.
    pub added: u64,
    /// Numbers already in the campaign (or repeated in the input), not added again; stored as
    /// rejections.
    pub duplicates: u64,
    /// Inputs refused (invalid numbers, malformed rows); stored as rejections.
    pub rejected: u64,
    /// The first inputs refused as invalid or malformed, with their reasons (a preview).
    pub rejections: Vec<Rejection>,
}

/// Writes recipients and refused inputs in batches; what the store skipped as a duplicate is
/// stored as a rejection with its input line.
pub(crate) struct RecipientWriter<'a, S: ?Sized> {
    store: &'a S,
    tenant: TenantId,
    campaign: CampaignId,
    batch: Vec<CampaignRecipient>,
    /// Line and input of each recipient in `batch`, to report it if it is a duplicate.
    origins: Vec<(Option<u64>, String)>,
    rejected: Vec<Rejection>,
    pub(crate) report: ExpansionReport,
}

impl<'a, S: Store + ?Sized> RecipientWriter<'a, S> {
    pub(crate) fn new(store: &'a S, tenant: TenantId, campaign: CampaignId) -> Self {
        Self {
            store,
            tenant,
            campaign,
            batch: Vec::with_capacity(BATCH),
            origins: Vec::with_capacity(BATCH),
            rejected: Vec::new(),
            report: ExpansionReport::default(),
        }
    }

    async fn push(
        &mut self,
        origin: (Option<u64>, &str),
        phone: crate::phone::PhoneNumber,
        variables: BTreeMap<String, String>,
        contact: Option<&Contact>,
    ) -> Result<()> {
        let mut recipient = CampaignRecipient::new(self.tenant, self.campaign, phone, variables);
        recipient.contact_id = contact.map(|c| c.id);
        self.batch.push(recipient);
        self.origins.push((origin.0, origin.1.to_owned()));
        if self.batch.len() >= BATCH {
            self.flush_recipients().await?;
        }
        Ok(())
    }

    /// Refuses an invalid or malformed input.
    async fn reject(
        &mut self,
        line: Option<u64>,
        input: &str,
        reason: impl Into<String>,
    ) -> Result<()> {
        let rejection = Rejection::new(self.tenant, self.campaign, line, input, reason);
        self.report.rejected += 1;
        if self.report.rejections.len() < REJECTION_PREVIEW {
            self.report.rejections.push(rejection.clone());
        }
        self.rejected.push(rejection);
        if self.rejected.len() >= BATCH {
            self.flush_rejections().await?;
        }
        Ok(())
    }

    /// Writes what is buffered.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        self.flush_recipients().await?;
        self.flush_rejections().await
    }

    async fn flush_recipients(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let skipped = self
            .store
            .insert_recipients_reporting(self.tenant, self.campaign, &self.batch)
            .await?;
        self.report.added += (self.batch.len() - skipped.len()) as u64;
        self.report.duplicates += skipped.len() as u64;
        for i in skipped {
            let Some((line, input)) = self.origins.get(i) else {
                continue;
            };
            let rejection = Rejection::new(self.tenant, self.campaign, *line, input, DUPLICATE);
            self.rejected.push(rejection);
        }
        self.batch.clear();
        self.origins.clear();
        if self.rejected.len() >= BATCH {
            self.flush_rejections().await?;
        }
        Ok(())
    }

    async fn flush_rejections(&mut self) -> Result<()> {
        if self.rejected.is_empty() {
            return Ok(());
        }
        self.store
            .insert_rejections(self.tenant, self.campaign, &self.rejected)
            .await?;
        self.rejected.clear();
        Ok(())
    }

    /// Adds every stored contact passing `filter`.
    pub(crate) async fn contacts(&mut self, filter: ContactFilter) -> Result<()> {
        let mut contacts = self.store.stream_contacts(self.tenant, filter);
        while let Some(contact) = contacts.next().await {
            let contact = contact?;
            let vars = contact_variables(&contact);
            let phone = contact.phone.clone();
            self.push((None, phone.as_str()), phone.clone(), vars, Some(&contact))
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
                    self.push((None, input), phone, vars, None).await?;
                }
                Err(e) => self.reject(None, input, reason_of(&e)).await?,
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
        // The reader counts `\n` only, so rows ended by a bare `\r` (old Mac files) would
        // share a line number, even the header's; a data row is never above the previous.
        let mut last_line = 1;
        loop {
            let line = csv.position().line().max(last_line + 1);
            last_line = line;
            record.clear();
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    // The raw row, as far as the reader kept it, so the report shows it.
                    let raw = record.iter().collect::<Vec<_>>().join(",");
                    self.reject(Some(line), &raw, format!("malformed row: {e}"))
                        .await?;
                    continue;
                }
            }
            let input = record.get(phone_col).unwrap_or_default();
            let phone = match normalize(input, region) {
                Ok(p) => p,
                Err(e) => {
                    let input = input.to_owned();
                    self.reject(Some(line), &input, reason_of(&e)).await?;
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
            let input = input.to_owned();
            self.push((Some(line), &input), phone, vars, None).await?;
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
