use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use wagw_core::ids::{DeliveryId, SubscriptionId, TenantId};
use wagw_core::model::webhook::{
    AttemptTiming, DeliveryAttempt, DeliveryOutcome, DeliveryState, WebhookDelivery,
    WebhookSubscription,
};
use wagw_core::store::{Page, Paged, WebhookStore};
use wagw_core::{Error, Result};

use super::{MemoryStore, State};

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_subscription(&self, subscription: &WebhookSubscription) -> Result<()> {
        self.state.write().subscriptions.insert_new(
            subscription.tenant_id,
            subscription.id,
            subscription.clone(),
        )
    }

    async fn get_subscription(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<WebhookSubscription> {
        self.state.read().subscriptions.get(tenant, id).cloned()
    }

    async fn list_subscriptions(&self, tenant: TenantId) -> Result<Vec<WebhookSubscription>> {
        Ok(self
            .state
            .read()
            .subscriptions
            .tenant_rows(tenant)
            .cloned()
            .collect())
    }

    async fn update_subscription(&self, subscription: &WebhookSubscription) -> Result<()> {
        self.state.write().subscriptions.replace(
            subscription.tenant_id,
            subscription.id,
            subscription.clone(),
        )
    }

    async fn delete_subscription(&self, tenant: TenantId, id: SubscriptionId) -> Result<()> {
        let mut state = self.state.write();
        state.subscriptions.remove(tenant, id)?;
        state
            .deliveries
            .retain(|d| !(d.subscription_id == id && d.state == DeliveryState::Pending));
        let State {
            deliveries,
            attempts,
            ..
        } = &mut *state;
        attempts.retain(|delivery, _| deliveries.contains(tenant, *delivery));
        Ok(())
    }

    async fn enqueue_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<()> {
        let mut state = self.state.write();
        state.check_deliveries(deliveries)?;
        state.insert_deliveries(deliveries);
        Ok(())
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<WebhookDelivery>> {
        let lease =
            TimeDelta::from_std(lease).map_err(|_| Error::invalid_input("lease", "is too long"))?;
        let mut state = self.state.write();
        let mut due: Vec<&mut WebhookDelivery> = state
            .deliveries
            .all_mut()
            .filter(|d| d.state == DeliveryState::Pending && d.next_attempt_at <= now)
            .collect();
        due.sort_by_key(|d| (d.next_attempt_at, d.id));
        Ok(due
            .into_iter()
            .take(limit)
            .map(|d| {
                let claimed = d.clone();
                // Pushing the due time past the lease hides it from other workers until then.
                d.next_attempt_at = now + lease;
                claimed
            })
            .collect())
    }

    async fn record_delivery_attempt(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        outcome: &DeliveryOutcome,
        timing: &AttemptTiming,
    ) -> Result<WebhookDelivery> {
        let mut state = self.state.write();
        let d = state.deliveries.get_mut(tenant, id)?;
        d.attempts += 1;
        match outcome {
            DeliveryOutcome::Delivered { status } => {
                d.state = DeliveryState::Delivered;
                d.last_status = Some(*status);
                d.last_error = None;
                d.delivered_at = Some(Utc::now());
            }
            DeliveryOutcome::Retry {
                status,
                error,
                retry_at,
            } => {
                d.state = DeliveryState::Pending;
                d.last_status = *status;
                d.last_error = Some(error.clone());
                d.next_attempt_at = *retry_at;
            }
            DeliveryOutcome::Dead { status, error } => {
                d.state = DeliveryState::Dead;
                d.last_status = *status;
                d.last_error = Some(error.clone());
            }
        }
        let delivery = d.clone();
        let attempt = DeliveryAttempt::new(tenant, id, delivery.attempts, outcome, timing);
        state.attempts.entry(id).or_default().push(attempt);
        Ok(delivery)
    }

    async fn list_delivery_attempts(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Vec<DeliveryAttempt>> {
        let state = self.state.read();
        state.deliveries.get(tenant, id)?;
        Ok(state.attempts.get(&id).cloned().unwrap_or_default())
    }

    async fn list_deliveries(
        &self,
        tenant: TenantId,
        subscription: Option<SubscriptionId>,
        page: Page,
    ) -> Result<Paged<WebhookDelivery>> {
        self.state.read().deliveries.page(tenant, &page, |d| {
            subscription.is_none_or(|s| d.subscription_id == s)
        })
    }

    async fn replay_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut state = self.state.write();
        let d = state.deliveries.get_mut(tenant, id)?;
        d.state = DeliveryState::Pending;
        d.next_attempt_at = at;
        Ok(())
    }
}

impl State {
    /// Checks deliveries for [`WebhookStore::enqueue_deliveries`]: each subscription exists in
    /// its tenant and no id is taken.
    pub(super) fn check_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<()> {
        for d in deliveries {
            self.subscriptions.get(d.tenant_id, d.subscription_id)?;
            if self.deliveries.contains(d.tenant_id, d.id) {
                return Err(Error::conflict(
                    "webhook delivery",
                    format!("{} exists", d.id),
                ));
            }
        }
        Ok(())
    }

    /// Inserts deliveries [checked](Self::check_deliveries) before.
    pub(super) fn insert_deliveries(&mut self, deliveries: &[WebhookDelivery]) {
        for d in deliveries {
            // Checked: the id is new, so nothing is replaced.
            let _ = self.deliveries.insert_new(d.tenant_id, d.id, d.clone());
        }
    }
}
