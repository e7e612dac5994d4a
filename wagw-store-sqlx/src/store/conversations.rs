use async_trait::async_trait;
use chrono::{DateTime, Utc};
use wagw_core::ids::{ChannelId, FlowId, RuleId, ScheduleId, SessionId, TenantId};
use wagw_core::model::auto_reply::AutoReplyRule;
use wagw_core::model::flow::{ConversationSession, Flow, FlowEngagement};
use wagw_core::model::schedule::ScheduledMessage;
use wagw_core::model::tenant::QuotaResource;
use wagw_core::model::webhook::WebhookDelivery;
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ConversationStore, Page, Paged, ScheduleStore};
use wagw_core::{Error, Result};

use super::webhooks::DeliveryTx;
use crate::SqlStore;
use crate::db::{
    SqlRow, Ts, db_err, enum_str, in_tx, on_read, on_write, stored_version, to_i64, to_json,
    to_u64, unique_err,
};

/// Advisory-lock class of "a tenant's auto-reply rules are being counted for an insert"
/// (PostgreSQL; see [`ConversationStore::create_rule`]).
const RULE_QUOTA_LOCK_CLASS: i32 = 7302;

fn stale(entity: &'static str, given: u64, stored: i64) -> Error {
    Error::conflict(
        entity,
        format!("version {given} is stale; the stored version is {stored}"),
    )
}

#[async_trait]
impl ConversationStore for SqlStore {
    async fn create_flow(&self, flow: &Flow) -> Result<()> {
        self.insert_doc("flows", "flow", flow.tenant_id.0, flow.id.0, flow)
            .await
    }

    async fn get_flow(&self, tenant: TenantId, id: FlowId) -> Result<Flow> {
        self.get_doc("flows", "flow", tenant.0, id.0).await
    }

    async fn list_flows(&self, tenant: TenantId, page: Page) -> Result<Paged<Flow>> {
        self.list_docs("flows", tenant.0, &page, |f: &Flow| f.id.to_string())
            .await
    }

    async fn update_flow(&self, flow: &Flow) -> Result<()> {
        self.update_doc("flows", "flow", flow.tenant_id.0, flow.id.0, flow)
            .await
    }

    async fn delete_flow(&self, tenant: TenantId, id: FlowId) -> Result<()> {
        self.delete_row("flows", "flow", tenant.0, id.0).await
    }

    async fn get_session(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<ConversationSession>> {
        on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT doc FROM sessions WHERE tenant_id = $1 AND channel_id = $2 AND user_phone = $3",
            )
            .bind(tenant.0)
            .bind(channel.0)
            .bind(user.as_str())
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            .map(|r| r.json::<ConversationSession>("doc"))
            .transpose()
        })
    }

    async fn save_session_with_deliveries(
        &self,
        session: &ConversationSession,
        engagement: &[FlowEngagement],
        deliveries: &[WebhookDelivery],
    ) -> Result<u64> {
        FlowEngagement::check_for(session, engagement)?;
        let mut next = session.clone();
        next.version = session.version + 1;
        let doc = to_json(&next)?;
        let kinds = engagement
            .iter()
            .map(|e| enum_str(&e.kind))
            .collect::<Result<Vec<_>>>()?;
        // The save, its engagement steps and its outbox rows in one transaction: a stale save
        // records nothing, a refused delivery rolls the save back.
        let stored: Option<i64> = in_tx!(&self.db, |tx, _pg| {
            let saved = if session.version == 0 {
                sqlx::query(
                    "INSERT INTO sessions (tenant_id, id, channel_id, user_phone, version, doc, due_at) \
                     VALUES ($1, $2, $3, $4, 1, $5, $6)",
                )
                .bind(session.tenant_id.0)
                .bind(session.id.0)
                .bind(session.channel_id.0)
                .bind(session.user.as_str())
                .bind(&doc)
                .bind(next.due_at().map(Ts))
                .execute(&mut *tx)
                .await
                .map_err(unique_err(
                    "session",
                    format!("{} already has a session on this channel", session.user),
                ))?;
                true
            } else {
                sqlx::query(
                    "UPDATE sessions SET version = version + 1, doc = $4, due_at = $5 \
                     WHERE tenant_id = $1 AND id = $2 AND version = $3",
                )
                .bind(session.tenant_id.0)
                .bind(session.id.0)
                .bind(to_i64(session.version))
                .bind(&doc)
                .bind(next.due_at().map(Ts))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected()
                    == 1
            };
            if saved {
                for (e, kind) in engagement.iter().zip(&kinds) {
                    sqlx::query(
                        "INSERT INTO flow_engagement (tenant_id, flow_id, kind, node, at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(e.tenant_id.0)
                    .bind(e.flow_id.0)
                    .bind(kind.clone())
                    .bind(e.node.clone())
                    .bind(Ts(e.at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                tx.insert_deliveries(deliveries).await?;
                None
            } else {
                Some(stored_version!(
                    tx,
                    "sessions",
                    "session",
                    session.tenant_id,
                    session.id
                ))
            }
        });
        match stored {
            None => Ok(next.version),
            Some(v) => Err(stale("session", session.version, v)),
        }
    }

    async fn delete_session(&self, tenant: TenantId, id: SessionId) -> Result<()> {
        self.delete_row("sessions", "session", tenant.0, id.0).await
    }

    async fn due_sessions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ConversationSession>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT doc FROM sessions WHERE due_at IS NOT NULL AND due_at <= $1 \
                 ORDER BY due_at, id LIMIT $2",
            )
            .bind(Ts(now))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.json::<ConversationSession>("doc"))
            .collect()
        })
    }

    async fn create_rule(&self, rule: &AutoReplyRule, limit: Option<u64>) -> Result<()> {
        let doc = to_json(rule)?;
        let tenant = rule.tenant_id;
        // Count and insert in one transaction. SQLite's single writer (BEGIN IMMEDIATE)
        // serialises it; on PostgreSQL two transactions would each count before the other's
        // insert, so creations of one tenant queue on an advisory lock first.
        in_tx!(&self.db, |tx, pg| {
            if let Some(limit) = limit {
                if pg {
                    sqlx::query("SELECT pg_advisory_xact_lock($2, hashtext($1::text))")
                        .bind(tenant.0)
                        .bind(RULE_QUOTA_LOCK_CLASS)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                let used =
                    sqlx::query("SELECT COUNT(*) AS n FROM auto_reply_rules WHERE tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?
                        .int("n")?;
                if to_u64(used) >= limit {
                    return Err(Error::QuotaExceeded {
                        resource: QuotaResource::AutoReplyRules.as_str().into(),
                        limit,
                    });
                }
            }
            sqlx::query(
                "INSERT INTO auto_reply_rules (tenant_id, id, priority, doc) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant.0)
            .bind(rule.id.0)
            .bind(i64::from(rule.priority))
            .bind(&doc)
            .execute(&mut *tx)
            .await
            .map_err(unique_err("auto-reply rule", format!("{} already exists", rule.id)))?;
        });
        Ok(())
    }

    async fn get_rule(&self, tenant: TenantId, id: RuleId) -> Result<AutoReplyRule> {
        self.get_doc("auto_reply_rules", "auto-reply rule", tenant.0, id.0)
            .await
    }

    async fn list_rules(&self, tenant: TenantId) -> Result<Vec<AutoReplyRule>> {
        self.all_docs("auto_reply_rules", tenant.0, "priority DESC, id")
            .await
    }

    async fn update_rule(&self, rule: &AutoReplyRule) -> Result<()> {
        let doc = to_json(rule)?;
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "UPDATE auto_reply_rules SET priority = $3, doc = $4 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(rule.tenant_id.0)
            .bind(rule.id.0)
            .bind(i64::from(rule.priority))
            .bind(&doc)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        if n == 0 {
            return Err(Error::not_found("auto-reply rule", rule.id));
        }
        Ok(())
    }

    async fn delete_rule(&self, tenant: TenantId, id: RuleId) -> Result<()> {
        self.delete_row("auto_reply_rules", "auto-reply rule", tenant.0, id.0)
            .await
    }
}

#[async_trait]
impl ScheduleStore for SqlStore {
    async fn create_schedule(&self, schedule: &ScheduledMessage) -> Result<()> {
        let doc = to_json(schedule)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "INSERT INTO schedules (tenant_id, id, active, next_run_at, version, doc) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(schedule.tenant_id.0)
            .bind(schedule.id.0)
            .bind(schedule.active)
            .bind(schedule.next_run_at.map(Ts))
            .bind(to_i64(schedule.version))
            .bind(&doc)
            .execute(pool)
            .await
            .map_err(unique_err(
                "schedule",
                format!("{} already exists", schedule.id),
            ))?;
        });
        Ok(())
    }

    async fn get_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<ScheduledMessage> {
        self.get_doc("schedules", "schedule", tenant.0, id.0).await
    }

    async fn list_schedules(
        &self,
        tenant: TenantId,
        page: Page,
    ) -> Result<Paged<ScheduledMessage>> {
        self.list_docs("schedules", tenant.0, &page, |s: &ScheduledMessage| {
            s.id.to_string()
        })
        .await
    }

    async fn count_schedules(&self, tenant: TenantId) -> Result<u64> {
        self.count_rows("schedules", tenant.0).await
    }

    async fn update_schedule(&self, schedule: &ScheduledMessage) -> Result<u64> {
        let mut next = schedule.clone();
        next.version = schedule.version + 1;
        let doc = to_json(&next)?;
        let stored: Option<i64> = in_tx!(&self.db, |tx, _pg| {
            let n = sqlx::query(
                "UPDATE schedules SET active = $4, next_run_at = $5, version = version + 1, \
                 doc = $6 WHERE tenant_id = $1 AND id = $2 AND version = $3",
            )
            .bind(schedule.tenant_id.0)
            .bind(schedule.id.0)
            .bind(to_i64(schedule.version))
            .bind(schedule.active)
            .bind(schedule.next_run_at.map(Ts))
            .bind(&doc)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if n == 1 {
                None
            } else {
                Some(stored_version!(
                    tx,
                    "schedules",
                    "schedule",
                    schedule.tenant_id,
                    schedule.id
                ))
            }
        });
        match stored {
            None => Ok(next.version),
            Some(v) => Err(stale("schedule", schedule.version, v)),
        }
    }

    async fn delete_schedule(&self, tenant: TenantId, id: ScheduleId) -> Result<()> {
        self.delete_row("schedules", "schedule", tenant.0, id.0)
            .await
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ScheduledMessage>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT doc FROM schedules WHERE active = $1 AND next_run_at IS NOT NULL \
                 AND next_run_at <= $2 ORDER BY next_run_at, id LIMIT $3",
            )
            .bind(true)
            .bind(Ts(now))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.json::<ScheduledMessage>("doc"))
            .collect()
        })
    }
}
