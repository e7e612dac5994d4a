//! Campaign reports: totals plus every recipient's outcome and every refused input, as JSON or
//! CSV.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CampaignId, MessageId, TenantId};
use crate::model::campaign::{Campaign, CampaignCounters, RecipientStatus};
use crate::store::{Page, Store};
use crate::{Error, Result};

/// A campaign's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignReport {
    /// The campaign.
    pub campaign: Campaign,
    /// Counts by status.
    pub counters: CampaignCounters,
    /// Every recipient in the order they were added, then every refused input (as `skipped`
    /// rows with its line, input and reason) in the order it was refused: one row per input,
    /// as many as `counters.total`.
    pub recipients: Vec<RecipientRow>,
}

/// One recipient's (or refused input's) line in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientRow {
    /// The number in the `+` E.164 form (`+6564551245`), empty for a refused input. Reports
    /// are read by people and fed back as audiences, so they never carry the bare digits of
    /// the wire form: `6564551245` would read as an Indonesian national number in an `ID`
    /// tenant.
    pub phone: String,
    /// Where the recipient got to.
    pub status: RecipientStatus,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The message sent, if any.
    pub message_id: Option<MessageId>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The CSV line of a refused input, when it came from a CSV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What a refused input said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

impl CampaignReport {
    pub(crate) async fn build<S: Store + ?Sized>(
        store: &S,
        tenant: TenantId,
        id: CampaignId,
    ) -> Result<Self> {
        let campaign = store.get_campaign(tenant, id).await?;
        let counters = store.campaign_counters(tenant, id).await?;
        let mut recipients = Vec::with_capacity(counters.total as usize);
        let mut page = Page::first(Page::MAX_LIMIT);
        loop {
            let batch = store.list_recipients(tenant, id, None, page).await?;
            recipients.extend(batch.items.into_iter().map(|r| RecipientRow {
                phone: r.phone.e164(),
                status: r.status,
                reason: r.reason,
                message_id: r.message_id,
                updated_at: r.updated_at,
                line: None,
                input: None,
            }));
            match batch.next {
                Some(next) => page = Page::after(Page::MAX_LIMIT, next),
                None => break,
            }
        }
        let mut page = Page::first(Page::MAX_LIMIT);
        loop {
            let batch = store.list_rejections(tenant, id, page).await?;
            recipients.extend(batch.items.into_iter().map(|r| RecipientRow {
                phone: String::new(),
                status: RecipientStatus::Skipped,
                reason: Some(r.reason),
                message_id: None,
                updated_at: r.created_at,
                line: r.line,
                input: Some(r.input),
            }));
            match batch.next {
                Some(next) => page = Page::after(Page::MAX_LIMIT, next),
                None => break,
            }
        }
        Ok(Self {
            campaign,
            counters,
            recipients,
        })
    }

    /// Writes the rows as CSV with a header:
    /// `phone,status,reason,message_id,updated_at,line,input` (the last two for refused
    /// inputs).
    pub fn write_csv(&self, out: impl Write) -> Result<()> {
        let io = |e: csv::Error| Error::backend("writing the report", false, e);
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record([
            "phone",
            "status",
            "reason",
            "message_id",
            "updated_at",
            "line",
            "input",
        ])
        .map_err(io)?;
        for r in &self.recipients {
            let message = r.message_id.map(|m| m.to_string()).unwrap_or_default();
            let line = r.line.map(|l| l.to_string()).unwrap_or_default();
            csv.write_record([
                r.phone.as_str(),
                r.status.as_str(),
                r.reason.as_deref().unwrap_or(""),
                &message,
                &r.updated_at.to_rfc3339(),
                &line,
                r.input.as_deref().unwrap_or(""),
            ])
            .map_err(io)?;
        }
        csv.flush()
            .map_err(|e| Error::backend("writing the report", false, e))
    }
}
