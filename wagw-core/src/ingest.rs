//! Status webhooks into the store: messages move forward, campaign recipients follow.

use crate::Result;
use crate::event::{DeliveryStatus, StatusUpdate as WireStatus};
use crate::ids::TenantId;
use crate::model::campaign::RecipientStatus;
use crate::model::message::{MessageError, MessageStatus, StatusChange, StatusUpdate};
use crate::store::{RecipientUpdate, Store, WamidUpdate};

impl WamidUpdate {
    /// The update a status webhook item asks for; `None` for statuses wagw does not track.
    /// `played` counts as `read`; a failure carries Meta's first error code and details.
    pub fn from_webhook(status: &WireStatus) -> Option<Self> {
        let to = match &status.status {
            DeliveryStatus::Sent => MessageStatus::Sent,
            DeliveryStatus::Delivered => MessageStatus::Delivered,
            DeliveryStatus::Read | DeliveryStatus::Played => MessageStatus::Read,
            DeliveryStatus::Failed => MessageStatus::Failed,
            DeliveryStatus::Other(_) => return None,
        };
        let mut update = StatusUpdate::new(to, status.timestamp);
        if to == MessageStatus::Failed {
            update.error = Some(match status.errors.first() {
                Some(e) => MessageError {
                    code: i64::try_from(e.code).ok(),
                    reason: e
                        .details()
                        .or(e.message.as_deref())
                        .or(e.title.as_deref())
                        .unwrap_or("failed")
                        .to_owned(),
                },
                None => MessageError {
                    code: None,
                    reason: "failed without a reason".into(),
                },
            });
        }
        Some(Self {
            wamid: status.id.clone(),
            update,
        })
    }
}

/// Applies status updates to messages (forward only) and moves the campaign recipients of the
/// messages that moved, so campaign counters stay in step with webhooks. Results are in input
/// order; `None` for a wamid not recorded yet: the store keeps that update and applies it
/// when the send's answer is recorded, and a recipient passed to
/// [`record_outcome`](crate::store::MessageStore::record_outcome) then follows the final status.
pub async fn apply_status_updates<S: Store + ?Sized>(
    store: &S,
    tenant: TenantId,
    updates: &[WamidUpdate],
) -> Result<Vec<Option<StatusChange>>> {
    let changes = store.update_statuses_by_wamid(tenant, updates).await?;
    for change in changes.iter().flatten().filter(|c| c.moved()) {
        crate::metrics::status_moved(change.to);
    }
    let recipients = recipient_updates(&changes, updates);
    if !recipients.is_empty() {
        store.update_recipients(tenant, &recipients).await?;
    }
    Ok(changes)
}

/// The campaign recipient updates that follow status `changes` (in the order of `updates`):
/// each message that moved takes its recipient to [`RecipientStatus::from_message`], with the
/// failure's reason. Backends use it to move recipients inside their own transaction
/// ([`InboundStore::apply_statuses`](crate::store::InboundStore::apply_statuses)).
pub fn recipient_updates(
    changes: &[Option<StatusChange>],
    updates: &[WamidUpdate],
) -> Vec<RecipientUpdate> {
    changes
        .iter()
        .zip(updates)
        .filter_map(|(change, update)| {
            let change = change.filter(StatusChange::moved)?;
            Some(RecipientUpdate {
                id: change.recipient_id?,
                status: RecipientStatus::from_message(change.to),
                reason: update.update.error.as_ref().map(|e| e.reason.clone()),
                message_id: Some(change.message_id),
            })
        })
        .collect()
}
