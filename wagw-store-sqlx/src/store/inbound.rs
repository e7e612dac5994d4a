//! The inbound pipeline's durable steps, conversation jobs, rule cooldowns and analytics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use wagw_core::conversation::events::{MovedStatus, StatusOutbox};
use wagw_core::ids::{CampaignId, ChannelId, ContactId, FlowId, MessageId, RuleId, TenantId};
use wagw_core::ingest::recipient_updates;
use wagw_core::model::channel::Channel;
use wagw_core::model::conversation::{
    ConversationJob, EngagementCount, HandledBy, HandledCount, InboundIngest, IngestResult,
    JobSettlement, JobState, PROFILE_NAME_FIELD, USER_ID_FIELD, VOLUME_BUCKET_SECS, VolumeBucket,
};
use wagw_core::model::message::{Direction, MessageRecord, MessageStatus};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{AnalyticsStore, AppliedStatuses, InboundStore, WamidUpdate};
use wagw_core::{Error, Result};

use super::campaigns::{COUNTERS_SQL, counters_from};
use super::messages::{StatusTx, push_message};
use super::webhooks::DeliveryTx;
use crate::SqlStore;
use crate::db::{
    SqlRow, Ts, db_err, delta, ensure_row, enum_str, in_tx, on_read, on_write, parse_enum, to_json,
    to_u32, to_u64, unique_err,
};

const MESSAGE_COLUMNS: &str = "tenant_id, id, channel_id, contact_phone, direction, body, status, \
     wamid, error_code, error_reason, campaign_id, recipient_id, idempotency_key, priority, \
     attempts, ambiguous, created_at, updated_at";

const JOB_COLUMNS: &str = "tenant_id, message_id, channel_id, contact_phone, wamid, state, \
     attempts, run_at, handled_by, last_error, created_at, finished_at";

const DELIVERY_COLUMNS: &str = "tenant_id, id, subscription_id, event, payload, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, delivered_at";

fn job_from_row(r: &impl SqlRow) -> Result<ConversationJob> {
    Ok(ConversationJob {
        message_id: MessageId(r.uuid("message_id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        channel_id: ChannelId(r.uuid("channel_id")?),
        contact_phone: r.text("contact_phone")?.parse::<PhoneNumber>()?,
        wamid: r.text("wamid")?,
        state: parse_enum::<JobState>(&r.text("state")?)?,
        attempts: to_u32(r.int("attempts")?),
        run_at: r.ts("run_at")?,
        handled_by: r
            .opt_text("handled_by")?
            .map(|h| HandledBy::parse(&h))
            .transpose()?,
        last_error: r.opt_text("last_error")?,
        created_at: r.ts("created_at")?,
        finished_at: r.opt_ts("finished_at")?,
    })
}

/// The contact fields the profile sets.
fn profile_fields(ingest: &InboundIngest) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    if let Some(name) = &ingest.profile.profile_name {
        fields.insert(PROFILE_NAME_FIELD.to_owned(), name.clone());
    }
    if let Some(user) = &ingest.profile.user_id {
        fields.insert(USER_ID_FIELD.to_owned(), user.clone());
    }
    fields
}

#[async_trait]
impl InboundStore for SqlStore {
    async fn ingest_inbound(&self, ingest: &InboundIngest) -> Result<IngestResult> {
        let m = &ingest.message;
        let tenant = m.tenant_id;
        let Some(wamid) = m.wamid.clone() else {
            return Err(Error::invalid_input(
                "message",
                "an ingested message must be inbound and carry its wamid",
            ));
        };
        if m.direction != Direction::Inbound {
            return Err(Error::invalid_input(
                "message",
                "an ingested message must be inbound and carry its wamid",
            ));
        }
        if ingest.deliveries.iter().any(|d| d.tenant_id != tenant) {
            return Err(Error::invalid_input(
                "deliveries",
                "a delivery belongs to another tenant",
            ));
        }
        let body = to_json(&m.body)?;
        let fields = profile_fields(ingest);
        let deliveries = ingest
            .deliveries
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
        let now = Utc::now();
        let result = in_tx!(&self.db, |tx, pg| {
            'ingest: {
                ensure_row!(tx, "channels", "channel", tenant, m.channel_id);
                let mut subs = HashSet::new();
                for d in &ingest.deliveries {
                    if subs.insert(d.subscription_id) {
                        ensure_row!(
                            tx,
                            "webhook_subscriptions",
                            "webhook subscription",
                            tenant,
                            d.subscription_id
                        );
                    }
                }
                // The message, deduplicated by its idempotency key (`in:{wamid}`).
                let mut qb =
                    QueryBuilder::new(format!("INSERT INTO messages ({MESSAGE_COLUMNS}) "));
                let mut bad = None;
                qb.push_values([m], |mut b, m| {
                    let bound: Result<()> = (|| {
                        push_message!(b, m, body.clone());
                        Ok(())
                    })();
                    if let Err(e) = bound {
                        bad = Some(e);
                    }
                });
                if let Some(e) = bad {
                    return Err(e);
                }
                qb.push(" ON CONFLICT DO NOTHING RETURNING id");
                let created = qb
                    .build()
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .is_some();
                if !created {
                    let existing = sqlx::query(
                        "SELECT id FROM messages WHERE tenant_id = $1 AND idempotency_key = $2",
                    )
                    .bind(tenant.0)
                    .bind(m.idempotency_key.clone())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let Some(row) = existing else {
                        return Err(Error::conflict(
                            "message",
                            format!("{} already exists", m.id),
                        ));
                    };
                    break 'ingest IngestResult {
                        message_id: MessageId(row.uuid("id")?),
                        created: false,
                        contact_id: None,
                    };
                }
                // The contact: created named after the profile, or given the profile fields.
                let new_contact = ContactId::new();
                let inserted = sqlx::query(
                    "INSERT INTO contacts (id, tenant_id, phone, name, fields, tags, opted_out, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
                     ON CONFLICT (tenant_id, phone) DO NOTHING RETURNING id",
                )
                .bind(new_contact.0)
                .bind(tenant.0)
                .bind(m.contact_phone.as_str())
                .bind(ingest.profile.profile_name.clone())
                .bind(to_json(&fields)?)
                .bind(to_json(&Vec::<String>::new())?)
                .bind(false)
                .bind(Ts(now))
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
                let contact_id = if inserted.is_some() {
                    new_contact
                } else {
                    let lock = if pg { " FOR UPDATE" } else { "" };
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT id, name, fields FROM contacts WHERE tenant_id = $1 \
                         AND phone = $2{lock}"
                    )))
                    .bind(tenant.0)
                    .bind(m.contact_phone.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    let id = ContactId(row.uuid("id")?);
                    let name = row
                        .opt_text("name")?
                        .or_else(|| ingest.profile.profile_name.clone());
                    let mut stored: BTreeMap<String, String> = row.json("fields")?;
                    stored.extend(fields.clone());
                    sqlx::query(
                        "UPDATE contacts SET name = $3, fields = $4, updated_at = $5 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(name)
                    .bind(to_json(&stored)?)
                    .bind(Ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    id
                };
                if ingest.answer {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO conversation_jobs ({JOB_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, NULL, NULL, $6, NULL)"
                    )))
                    .bind(tenant.0)
                    .bind(m.id.0)
                    .bind(m.channel_id.0)
                    .bind(m.contact_phone.as_str())
                    .bind(wamid.clone())
                    .bind(Ts(m.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                for chunk in deliveries.chunks(500) {
                    let mut qb = QueryBuilder::new(format!(
                        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) "
                    ));
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
                IngestResult {
                    message_id: m.id,
                    created: true,
                    contact_id: Some(contact_id),
                }
            }
        });
        Ok(result)
    }

    async fn claim_conversation_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<ConversationJob>> {
        let until = now + delta("lease", lease)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut claimed = on_write!(&self.db, |pool, pg| {
            let lock = if pg {
                " FOR UPDATE OF j SKIP LOCKED"
            } else {
                ""
            };
            // Only the oldest pending job of each contact is claimable: one contact's
            // messages are answered one at a time and in order, whatever the workers.
            let sql = format!(
                "UPDATE conversation_jobs SET run_at = $3, attempts = attempts + 1 \
                 WHERE (tenant_id, message_id) IN (SELECT j.tenant_id, j.message_id \
                 FROM conversation_jobs j WHERE j.state = 'pending' AND j.run_at <= $1 \
                 AND NOT EXISTS (SELECT 1 FROM conversation_jobs o WHERE o.tenant_id = j.tenant_id \
                 AND o.channel_id = j.channel_id AND o.contact_phone = j.contact_phone \
                 AND o.state = 'pending' AND o.message_id < j.message_id) \
                 ORDER BY j.run_at, j.message_id LIMIT $2{lock}) RETURNING {JOB_COLUMNS}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(Ts(now))
                .bind(limit)
                .bind(Ts(until))
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(job_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        claimed.sort_by_key(|j| j.message_id);
        Ok(claimed)
    }

    async fn get_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
    ) -> Result<ConversationJob> {
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {JOB_COLUMNS} FROM conversation_jobs WHERE tenant_id = $1 \
                 AND message_id = $2"
            )))
            .bind(tenant.0)
            .bind(message.0)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            {
                Some(row) => Some(job_from_row(&row)?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("conversation job", message))
    }

    async fn settle_conversation_job(
        &self,
        tenant: TenantId,
        message: MessageId,
        settlement: &JobSettlement,
    ) -> Result<()> {
        let now = Utc::now();
        let (state, handled, run_at, error, finished) = match settlement {
            JobSettlement::Done(h) => (JobState::Done, Some(h.as_text()), None, None, Some(now)),
            JobSettlement::Retry { at, error } => (
                JobState::Pending,
                None,
                Some(*at),
                Some(error.clone()),
                None,
            ),
            JobSettlement::Failed { error } => {
                (JobState::Failed, None, None, Some(error.clone()), Some(now))
            }
        };
        let state = enum_str(&state)?;
        let done = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "UPDATE conversation_jobs SET state = $3, \
                 handled_by = COALESCE($4, handled_by), run_at = COALESCE($5, run_at), \
                 last_error = COALESCE($6, last_error), finished_at = $7 \
                 WHERE tenant_id = $1 AND message_id = $2",
            )
            .bind(tenant.0)
            .bind(message.0)
            .bind(state.clone())
            .bind(handled.clone())
            .bind(run_at.map(Ts))
            .bind(error.clone())
            .bind(finished.map(Ts))
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        if done == 0 {
            return Err(Error::not_found("conversation job", message));
        }
        Ok(())
    }

    async fn take_cooldown(
        &self,
        tenant: TenantId,
        rule: RuleId,
        channel: ChannelId,
        contact: &PhoneNumber,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let taken = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "INSERT INTO rule_cooldowns (tenant_id, rule_id, channel_id, contact_phone, \
                 until, holder) VALUES ($1, $2, $3, $4, $5, $7) \
                 ON CONFLICT (tenant_id, rule_id, channel_id, contact_phone) \
                 DO UPDATE SET until = excluded.until, holder = excluded.holder \
                 WHERE rule_cooldowns.until <= $6 OR rule_cooldowns.holder = $7 \
                 RETURNING until",
            )
            .bind(tenant.0)
            .bind(rule.0)
            .bind(channel.0)
            .bind(contact.as_str())
            .bind(Ts(until))
            .bind(Ts(now))
            .bind(holder)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            .is_some()
        });
        Ok(taken)
    }

    async fn prune_cooldowns(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(on_write!(&self.db, |pool, _pg| {
            sqlx::query("DELETE FROM rule_cooldowns WHERE until < $1")
                .bind(Ts(before))
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        }))
    }

    async fn apply_statuses(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
        outbox: &StatusOutbox,
    ) -> Result<AppliedStatuses> {
        let wants_events = outbox.wants_statuses() || outbox.wants_progress();
        // One transaction: statuses, recipients and their outbox rows commit together.
        let applied = in_tx!(&self.db, |tx, _pg| {
            let changes = tx.statuses_by_wamid(tenant, updates).await?;
            let recipients = recipient_updates(&changes, updates);
            tx.recipients(tenant, &recipients).await?;
            let mut deliveries = Vec::new();
            if wants_events {
                let moved_ids: Vec<MessageId> = changes
                    .iter()
                    .flatten()
                    .filter(|c| c.moved())
                    .map(|c| c.message_id)
                    .collect();
                let messages: HashMap<MessageId, MessageRecord> = tx
                    .messages(tenant, &moved_ids)
                    .await?
                    .into_iter()
                    .map(|m| (m.id, m))
                    .collect();
                let moved: Vec<MovedStatus<'_>> = changes
                    .iter()
                    .zip(updates)
                    .filter_map(|(change, update)| {
                        let change = change.as_ref().filter(|c| c.moved())?;
                        Some(MovedStatus {
                            change,
                            update,
                            message: messages.get(&change.message_id)?,
                        })
                    })
                    .collect();
                let mut progress = Vec::new();
                if outbox.wants_progress() {
                    for campaign in StatusOutbox::campaigns(&moved) {
                        let rows = sqlx::query(COUNTERS_SQL)
                            .bind(tenant.0)
                            .bind(campaign.0)
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(db_err)?
                            .iter()
                            .map(|r| Ok((r.text("status")?, r.int("n")?)))
                            .collect::<Result<Vec<_>>>()?;
                        progress.push((campaign, counters_from(rows)?));
                    }
                }
                deliveries = outbox.deliveries(tenant, &moved, &progress);
                tx.insert_deliveries(&deliveries).await?;
            }
            AppliedStatuses {
                changes,
                deliveries: deliveries.len() as u64,
            }
        });
        Ok(applied)
    }

    async fn channels_by_waba_id(&self, waba_id: &str) -> Result<Vec<Channel>> {
        on_read!(&self.db, |pool, pg| {
            let sql = if pg {
                "SELECT doc FROM channels WHERE doc->>'waba_id' = $1 ORDER BY id"
            } else {
                "SELECT doc FROM channels WHERE json_extract(doc, '$.waba_id') = $1 ORDER BY id"
            };
            sqlx::query(sql)
                .bind(waba_id)
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.json::<Channel>("doc"))
                .collect()
        })
    }
}

#[async_trait]
impl AnalyticsStore for SqlStore {
    async fn message_volume(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<VolumeBucket>> {
        let rows = on_read!(&self.db, |pool, pg| {
            // Read through `messages_volume` (tenant, created_at) with the grouped columns in
            // the index, so the table itself is never visited.
            let sql = if pg {
                "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM created_at) / 900) AS BIGINT) AS bucket, \
                 channel_id, direction, status, COUNT(*) AS n FROM messages \
                 WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
                 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4"
            } else {
                "SELECT created_at / 900000000 AS bucket, channel_id, direction, status, \
                 COUNT(*) AS n FROM messages \
                 WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 \
                 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4"
            };
            let rows = sqlx::query(sql)
                .bind(tenant.0)
                .bind(Ts(from))
                .bind(Ts(to))
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    let start = DateTime::from_timestamp(r.int("bucket")? * VOLUME_BUCKET_SECS, 0)
                        .ok_or_else(|| Error::invalid_input("from", "out of range"))?;
                    Ok(VolumeBucket {
                        start,
                        channel_id: ChannelId(r.uuid("channel_id")?),
                        direction: parse_enum::<Direction>(&r.text("direction")?)?,
                        status: parse_enum::<MessageStatus>(&r.text("status")?)?,
                        count: to_u64(r.int("n")?),
                    })
                })
                .collect::<Result<Vec<_>>>()?
        });
        Ok(rows)
    }

    async fn handled_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HandledCount>> {
        on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT channel_id, handled_by, COUNT(*) AS n FROM conversation_jobs \
                 WHERE tenant_id = $1 AND state = 'done' AND created_at >= $2 \
                 AND created_at < $3 AND handled_by IS NOT NULL \
                 GROUP BY channel_id, handled_by ORDER BY channel_id, handled_by",
            )
            .bind(tenant.0)
            .bind(Ts(from))
            .bind(Ts(to))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(HandledCount {
                    channel_id: ChannelId(r.uuid("channel_id")?),
                    handled_by: HandledBy::parse(&r.text("handled_by")?)?,
                    count: to_u64(r.int("n")?),
                })
            })
            .collect()
        })
    }

    async fn flow_engagement_counts(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<EngagementCount>> {
        on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT flow_id, kind, node, COUNT(*) AS n FROM flow_engagement \
                 WHERE tenant_id = $1 AND at >= $2 AND at < $3 GROUP BY flow_id, kind, node",
            )
            .bind(tenant.0)
            .bind(Ts(from))
            .bind(Ts(to))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok(EngagementCount {
                    flow_id: FlowId(r.uuid("flow_id")?),
                    kind: parse_enum(&r.text("kind")?)?,
                    node: r.opt_text("node")?,
                    count: to_u64(r.int("n")?),
                })
            })
            .collect()
        })
    }

    async fn campaign_replies(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        within: Duration,
    ) -> Result<u64> {
        let within = delta("within", within)?;
        let n = on_read!(&self.db, |pool, pg| {
            // Each campaign message (messages_campaign) probes messages_inbound once.
            let row = if pg {
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM messages m WHERE m.tenant_id = $1 \
                     AND m.campaign_id = $2 AND m.status IN ('sent', 'delivered', 'read') \
                     AND EXISTS (SELECT 1 FROM messages i WHERE i.tenant_id = m.tenant_id \
                     AND i.channel_id = m.channel_id AND i.contact_phone = m.contact_phone \
                     AND i.direction = 'inbound' AND i.created_at > m.created_at \
                     AND i.created_at <= m.created_at + make_interval(secs => $3))",
                )
                .bind(tenant.0)
                .bind(campaign.0)
                .bind(within.as_seconds_f64())
                .fetch_one(pool)
                .await
                .map_err(db_err)?
            } else {
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM messages m WHERE m.tenant_id = $1 \
                     AND m.campaign_id = $2 AND m.status IN ('sent', 'delivered', 'read') \
                     AND EXISTS (SELECT 1 FROM messages i WHERE i.tenant_id = m.tenant_id \
                     AND i.channel_id = m.channel_id AND i.contact_phone = m.contact_phone \
                     AND i.direction = 'inbound' AND i.created_at > m.created_at \
                     AND i.created_at <= m.created_at + $3)",
                )
                .bind(tenant.0)
                .bind(campaign.0)
                .bind(within.num_microseconds().unwrap_or(i64::MAX))
                .fetch_one(pool)
                .await
                .map_err(db_err)?
            };
            row.int("n")?
        });
        Ok(to_u64(n))
    }
}
