use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use wagw_core::ids::{DeliveryId, SubscriptionId, TenantId};
use wagw_core::model::webhook::{
    AttemptTiming, DeliveryAttempt, DeliveryOutcome, DeliveryState, WebhookDelivery,
    WebhookSubscription,
};
use wagw_core::store::{Page, Paged, WebhookStore};
use wagw_core::{Error, Result};

use super::{cursor, overfetch};
use crate::SqlStore;
use crate::db::{
    SqlRow, Ts, db_err, delta, ensure_row, enum_str, in_tx, on_read, on_write, parse_enum, to_json,
    to_u32, unique_err,
};

const COLUMNS: &str = "tenant_id, id, subscription_id, event, payload, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, delivered_at";

fn delivery_from_row(r: &impl SqlRow) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: DeliveryId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        subscription_id: SubscriptionId(r.uuid("subscription_id")?),
        event: parse_enum(&r.text("event")?)?,
        payload: r.json("payload")?,
        state: parse_enum(&r.text("state")?)?,
        attempts: to_u32(r.int("attempts")?),
        next_attempt_at: r.ts("next_attempt_at")?,
        last_status: r
            .opt_int("last_status")?
            .and_then(|s| u16::try_from(s).ok()),
        last_error: r.opt_text("last_error")?,
        created_at: r.ts("created_at")?,
        delivered_at: r.opt_ts("delivered_at")?,
    })
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_subscription(&self, subscription: &WebhookSubscription) -> Result<()> {
        let (tenant, id) = (subscription.tenant_id.0, subscription.id.0);
        self.insert_doc(
            "webhook_subscriptions",
            "webhook subscription",
            tenant,
            id,
            subscription,
        )
        .await
    }

    async fn get_subscription(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<WebhookSubscription> {
        self.get_doc(
            "webhook_subscriptions",
            "webhook subscription",
            tenant.0,
            id.0,
        )
        .await
    }

    async fn list_subscriptions(&self, tenant: TenantId) -> Result<Vec<WebhookSubscription>> {
        self.all_docs("webhook_subscriptions", tenant.0, "id").await
    }

    async fn update_subscription(&self, subscription: &WebhookSubscription) -> Result<()> {
        let (tenant, id) = (subscription.tenant_id.0, subscription.id.0);
        self.update_doc(
            "webhook_subscriptions",
            "webhook subscription",
            tenant,
            id,
            subscription,
        )
        .await
    }

    async fn delete_subscription(&self, tenant: TenantId, id: SubscriptionId) -> Result<()> {
        in_tx!(&self.db, |tx, _pg| {
            let n =
                sqlx::query("DELETE FROM webhook_subscriptions WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
            if n == 0 {
                return Err(Error::not_found("webhook subscription", id));
            }
            sqlx::query(
                "DELETE FROM webhook_delivery_attempts WHERE tenant_id = $1 AND delivery_id IN \
                 (SELECT id FROM webhook_deliveries \
                 WHERE tenant_id = $1 AND subscription_id = $2 AND state = 'pending')",
            )
            .bind(tenant.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "DELETE FROM webhook_deliveries \
                 WHERE tenant_id = $1 AND subscription_id = $2 AND state = 'pending'",
            )
            .bind(tenant.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        });
        Ok(())
    }

    async fn enqueue_deliveries(&self, deliveries: &[WebhookDelivery]) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        in_tx!(&self.db, |tx, _pg| tx.insert_deliveries(deliveries).await?);
        Ok(())
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<WebhookDelivery>> {
        let until = now + delta("lease", lease)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // One statement: pick the due rows (skipping rows another worker is claiming on
        // PostgreSQL) and push their due time past the lease.
        let mut claimed = on_write!(&self.db, |pool, pg| {
            let lock = if pg { " FOR UPDATE SKIP LOCKED" } else { "" };
            let sql = format!(
                "UPDATE webhook_deliveries SET next_attempt_at = $3 \
                 WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM webhook_deliveries \
                 WHERE state = 'pending' AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, id LIMIT $2{lock}) RETURNING {COLUMNS}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(Ts(now))
                .bind(limit)
                .bind(Ts(until))
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(delivery_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    async fn record_delivery_attempt(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        outcome: &DeliveryOutcome,
        timing: &AttemptTiming,
    ) -> Result<WebhookDelivery> {
        let (state, status, error, next, delivered) = match outcome {
            DeliveryOutcome::Delivered { status } => (
                DeliveryState::Delivered,
                Some(*status),
                None,
                None,
                Some(Utc::now()),
            ),
            DeliveryOutcome::Retry {
                status,
                error,
                retry_at,
            } => (
                DeliveryState::Pending,
                *status,
                Some(error.clone()),
                Some(*retry_at),
                None,
            ),
            DeliveryOutcome::Dead { status, error } => (
                DeliveryState::Dead,
                *status,
                Some(error.clone()),
                None,
                None,
            ),
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, state = $3, last_status = $4, \
             last_error = $5, next_attempt_at = COALESCE($6, next_attempt_at), \
             delivered_at = COALESCE($7, delivered_at) \
             WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let state = enum_str(&state)?;
        // The delivery and its log entry in one transaction: the log never misses an attempt
        // the delivery counts.
        let delivery = in_tx!(&self.db, |tx, _pg| {
            let delivery = match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .bind(id.0)
                .bind(state)
                .bind(status.map(i64::from))
                .bind(error)
                .bind(next.map(Ts))
                .bind(delivered.map(Ts))
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
            {
                Some(r) => delivery_from_row(&r)?,
                None => return Err(Error::not_found("webhook delivery", id)),
            };
            let attempt = DeliveryAttempt::new(tenant, id, delivery.attempts, outcome, timing);
            sqlx::query(
                "INSERT INTO webhook_delivery_attempts \
                 (tenant_id, delivery_id, number, started_at, duration_ms, status, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant.0)
            .bind(id.0)
            .bind(i64::from(attempt.number))
            .bind(Ts(attempt.started_at))
            .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
            .bind(attempt.status.map(i64::from))
            .bind(attempt.error)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            delivery
        });
        Ok(delivery)
    }

    async fn list_delivery_attempts(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Vec<DeliveryAttempt>> {
        let rows = on_read!(&self.db, |pool, _pg| {
            let found = sqlx::query(
                "SELECT 1 AS one FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            if found.is_none() {
                return Err(Error::not_found("webhook delivery", id));
            }
            sqlx::query(
                "SELECT number, started_at, duration_ms, status, error \
                 FROM webhook_delivery_attempts WHERE tenant_id = $1 AND delivery_id = $2 \
                 ORDER BY number",
            )
            .bind(tenant.0)
            .bind(id.0)
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(DeliveryAttempt {
                    delivery_id: id,
                    tenant_id: tenant,
                    number: to_u32(r.int("number")?),
                    started_at: r.ts("started_at")?,
                    duration_ms: u64::try_from(r.int("duration_ms")?).unwrap_or_default(),
                    status: r.opt_int("status")?.and_then(|s| u16::try_from(s).ok()),
                    error: r.opt_text("error")?,
                })
            })
            .collect::<Result<Vec<_>>>()?
        });
        Ok(rows)
    }

    async fn list_deliveries(
        &self,
        tenant: TenantId,
        subscription: Option<SubscriptionId>,
        page: Page,
    ) -> Result<Paged<WebhookDelivery>> {
        let after = cursor(&page)?;
        let items = on_read!(&self.db, |pool, _pg| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {COLUMNS} FROM webhook_deliveries WHERE tenant_id = "
            ));
            qb.push_bind(tenant.0);
            if let Some(sub) = subscription {
                qb.push(" AND subscription_id = ").push_bind(sub.0);
            }
            if let Some(after) = after {
                qb.push(" AND id > ").push_bind(after);
            }
            qb.push(" ORDER BY id LIMIT ").push_bind(overfetch(&page));
            qb.build()
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(delivery_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |d| {
            d.id.to_string()
        }))
    }

    async fn replay_delivery(
        &self,
        tenant: TenantId,
        id: DeliveryId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $3 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(id.0)
            .bind(Ts(at))
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        if n == 0 {
            return Err(Error::not_found("webhook delivery", id));
        }
        Ok(())
    }
}

/// Outbox writes that share a transaction with the state change they report.
pub(super) trait DeliveryTx {
    /// Inserts deliveries with the rule of [`WebhookStore::enqueue_deliveries`]: each
    /// subscription must exist in the delivery's tenant, and ids must be new.
    async fn insert_deliveries(&mut self, deliveries: &[WebhookDelivery]) -> Result<()>;
}

macro_rules! impl_delivery_tx {
    ($db:ty) => {
        impl DeliveryTx for sqlx::Transaction<'_, $db> {
            async fn insert_deliveries(&mut self, deliveries: &[WebhookDelivery]) -> Result<()> {
                if deliveries.is_empty() {
                    return Ok(());
                }
                let rows = deliveries
                    .iter()
                    .map(|d| {
                        Ok((
                            d,
                            enum_str(&d.event)?,
                            enum_str(&d.state)?,
                            to_json(&d.payload)?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                // The connection under the transaction, which every statement executes on.
                let tx: &mut <$db as sqlx::Database>::Connection = &mut **self;
                let mut subs = std::collections::HashSet::new();
                for d in deliveries {
                    if subs.insert((d.tenant_id, d.subscription_id)) {
                        ensure_row!(
                            tx,
                            "webhook_subscriptions",
                            "webhook subscription",
                            d.tenant_id,
                            d.subscription_id
                        );
                    }
                }
                for chunk in rows.chunks(500) {
                    let mut qb =
                        QueryBuilder::new(format!("INSERT INTO webhook_deliveries ({COLUMNS}) "));
                    qb.push_values(chunk, |mut b, (d, event, state, payload)| {
                        b.push_bind(d.tenant_id.0)
                            .push_bind(d.id.0)
                            .push_bind(d.subscription_id.0)
                            .push_bind(event.clone())
                            .push_bind(payload.clone())
                            .push_bind(state.clone())
                            .push_bind(i64::from(d.attempts))
                            .push_bind(Ts(d.next_attempt_at))
                            .push_bind(d.last_status.map(i64::from))
                            .push_bind(d.last_error.clone())
                            .push_bind(Ts(d.created_at))
                            .push_bind(d.delivered_at.map(Ts));
                    });
                    qb.build().execute(&mut *tx).await.map_err(unique_err(
                        "webhook delivery",
                        "a delivery id exists".into(),
                    ))?;
                }
                Ok(())
            }
        }
    };
}

#[cfg(feature = "sqlite")]
impl_delivery_tx!(sqlx::Sqlite);
#[cfg(feature = "postgres")]
impl_delivery_tx!(sqlx::Postgres);
