use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use wagw_core::ids::{CampaignId, ContactId, MessageId, RecipientId, RejectionId, TenantId};
use wagw_core::model::campaign::{
    Campaign, CampaignCounters, CampaignRecipient, CampaignState, RecipientStatus, Rejection,
};
use wagw_core::model::webhook::WebhookDelivery;
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{CampaignStore, Page, Paged, RecipientUpdate};
use wagw_core::{Error, Result};

use super::messages::MessageTx;
use super::webhooks::DeliveryTx;
use super::{cursor, overfetch};
use crate::SqlStore;
use crate::db::{
    SqlRow, Ts, db_err, in_tx, on_read, on_write, parse_enum, per_dialect, stored_version, to_i64,
    to_json, to_u64, unique_err,
};

/// Rows per statement: SQLite binds 10 values per row (far below its variable limit);
/// PostgreSQL binds one array per column.
#[cfg(feature = "sqlite")]
const SQLITE_CHUNK: usize = 1_000;
#[cfg(feature = "postgres")]
const PG_CHUNK: usize = 20_000;

const COLUMNS: &str = "id, tenant_id, campaign_id, phone, contact_id, variables, status, reason, message_id, updated_at";

/// The counter row that counts refused inputs (as `skipped`); the others are named by status.
const REJECTED: &str = "rejected";
/// Counter rows of one campaign past which a read folds them into one per status (only
/// PostgreSQL's delta rows ever get there).
const FOLD_AFTER: i64 = 64;

fn rejection_from_row(r: &impl SqlRow) -> Result<Rejection> {
    Ok(Rejection {
        id: RejectionId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        campaign_id: CampaignId(r.uuid("campaign_id")?),
        line: r.opt_int("line")?.map(to_u64),
        input: r.text("input")?,
        reason: r.text("reason")?,
        created_at: r.ts("created_at")?,
    })
}

/// Which recipients of `chunk` were not inserted, given the ids the insert returned.
fn skipped_positions(
    chunk: &[CampaignRecipient],
    offset: usize,
    inserted: &std::collections::HashSet<uuid::Uuid>,
) -> impl Iterator<Item = usize> {
    chunk
        .iter()
        .enumerate()
        .filter(move |(_, r)| !inserted.contains(&r.id.0))
        .map(move |(i, _)| offset + i)
}

fn recipient_from_row(r: &impl SqlRow) -> Result<CampaignRecipient> {
    Ok(CampaignRecipient {
        id: RecipientId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        campaign_id: CampaignId(r.uuid("campaign_id")?),
        phone: r.text("phone")?.parse::<PhoneNumber>()?,
        contact_id: r.opt_uuid("contact_id")?.map(ContactId),
        variables: r.json("variables")?,
        status: parse_enum(&r.text("status")?)?,
        reason: r.opt_text("reason")?,
        message_id: r.opt_uuid("message_id")?.map(MessageId),
        updated_at: r.ts("updated_at")?,
    })
}

/// The statuses a recipient may move to `to` from, as an SQL list of literals, derived from
/// [`RecipientStatus::can_move_to`].
pub(crate) fn recipient_advancing_from(to: RecipientStatus) -> Option<String> {
    let from: Vec<String> = RecipientStatus::ALL
        .into_iter()
        .filter(|from| from.can_move_to(to))
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    (!from.is_empty()).then(|| from.join(", "))
}

fn stale(given: u64, stored: i64) -> Error {
    Error::conflict(
        "campaign",
        format!("version {given} is stale; the stored version is {stored}"),
    )
}

#[cfg(feature = "postgres")]
/// Splits updates into runs in which no recipient repeats: inside a run the order does not
/// matter, so each run can be applied in bulk with the same outcome as one by one.
fn runs(updates: &[RecipientUpdate]) -> Vec<&[RecipientUpdate]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < updates.len() {
        let mut seen = std::collections::HashSet::new();
        let mut end = start;
        while end < updates.len() && seen.insert(updates[end].id) {
            end += 1;
        }
        out.push(&updates[start..end]);
        start = end;
    }
    out
}

impl SqlStore {
    async fn ensure_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<()> {
        let found = on_read!(&self.db, |pool, _pg| {
            sqlx::query("SELECT 1 AS one FROM campaigns WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
                .is_some()
        });
        if found {
            Ok(())
        } else {
            Err(Error::not_found("campaign", id))
        }
    }

    /// Folds a campaign's counter deltas into one row per status, in one statement: a fold
    /// running at the same time skips the rows this one took, so nothing is counted twice.
    async fn fold_counters(&self, tenant: TenantId, id: CampaignId) -> Result<()> {
        on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "WITH gone AS (DELETE FROM campaign_counters \
                   WHERE tenant_id = $1 AND campaign_id = $2 RETURNING status, n) \
                 INSERT INTO campaign_counters (tenant_id, campaign_id, status, n) \
                 SELECT $1, $2, status, CAST(SUM(n) AS BIGINT) FROM gone GROUP BY status",
            )
            .bind(tenant.0)
            .bind(id.0)
            .execute(pool)
            .await
            .map_err(db_err)?;
        });
        Ok(())
    }

    /// The campaign exists for the tenant and every recipient belongs to it.
    async fn check_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<()> {
        self.ensure_campaign(tenant, campaign).await?;
        match recipients
            .iter()
            .find(|r| r.tenant_id != tenant || r.campaign_id != campaign)
        {
            Some(bad) => Err(Error::invalid_input(
                "recipients",
                format!("recipient {} belongs to another campaign", bad.id),
            )),
            None => Ok(()),
        }
    }
}

/// Inserts recipients, skipping conflicts; returns how many were added and, with `report`,
/// the positions of those skipped (`RETURNING` costs a little, so only when asked).
#[cfg(feature = "sqlite")]
async fn sqlite_insert_recipients(
    pools: &crate::db::SqlitePools,
    recipients: &[CampaignRecipient],
    report: bool,
) -> Result<(u64, Vec<usize>)> {
    let vars = recipients
        .iter()
        .map(|r| to_json(&r.variables))
        .collect::<Result<Vec<_>>>()?;
    let mut tx = pools
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_err)?;
    let mut added = 0;
    let mut skipped = Vec::new();
    for (n, (chunk, vars)) in recipients
        .chunks(SQLITE_CHUNK)
        .zip(vars.chunks(SQLITE_CHUNK))
        .enumerate()
    {
        let mut qb = QueryBuilder::new(format!("INSERT INTO campaign_recipients ({COLUMNS}) "));
        qb.push_values(chunk.iter().zip(vars), |mut b, (r, v)| {
            b.push_bind(r.id.0)
                .push_bind(r.tenant_id.0)
                .push_bind(r.campaign_id.0)
                .push_bind(r.phone.as_str().to_owned())
                .push_bind(r.contact_id.map(|c| c.0))
                .push_bind(v.clone())
                .push_bind(r.status.as_str())
                .push_bind(r.reason.clone())
                .push_bind(r.message_id.map(|m| m.0))
                .push_bind(crate::db::Ts(r.updated_at));
        });
        qb.push(" ON CONFLICT DO NOTHING");
        if report {
            qb.push(" RETURNING id");
            let inserted = qb
                .build()
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.uuid("id"))
                .collect::<Result<std::collections::HashSet<_>>>()?;
            added += inserted.len() as u64;
            skipped.extend(skipped_positions(chunk, n * SQLITE_CHUNK, &inserted));
        } else {
            added += qb
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok((added, skipped))
}

/// Like `sqlite_insert_recipients`, in PostgreSQL's dialect.
#[cfg(feature = "postgres")]
async fn pg_insert_recipients(
    pool: &sqlx::PgPool,
    recipients: &[CampaignRecipient],
    report: bool,
) -> Result<(u64, Vec<usize>)> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let mut added = 0;
    let mut skipped = Vec::new();
    for (n, chunk) in recipients.chunks(PG_CHUNK).enumerate() {
        let vars = chunk
            .iter()
            .map(|r| serde_json::to_string(&r.variables))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::backend("cannot serialise variables", false, e))?;
        let sql = format!(
            "INSERT INTO campaign_recipients (id, tenant_id, campaign_id, phone, contact_id, \
             variables, status, reason, message_id, updated_at) \
             SELECT id, tenant_id, campaign_id, phone, contact_id, variables::jsonb, status, \
             reason, message_id, updated_at FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], \
             $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::uuid[], \
             $10::timestamptz[]) AS u(id, tenant_id, campaign_id, phone, contact_id, variables, \
             status, reason, message_id, updated_at) \
             ON CONFLICT DO NOTHING{}",
            if report { " RETURNING id" } else { "" }
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(chunk.iter().map(|r| r.id.0).collect::<Vec<uuid::Uuid>>())
            .bind(
                chunk
                    .iter()
                    .map(|r| r.tenant_id.0)
                    .collect::<Vec<uuid::Uuid>>(),
            )
            .bind(
                chunk
                    .iter()
                    .map(|r| r.campaign_id.0)
                    .collect::<Vec<uuid::Uuid>>(),
            )
            .bind(
                chunk
                    .iter()
                    .map(|r| r.phone.as_str().to_owned())
                    .collect::<Vec<_>>(),
            )
            .bind(
                chunk
                    .iter()
                    .map(|r| r.contact_id.map(|c| c.0))
                    .collect::<Vec<_>>(),
            )
            .bind(vars)
            .bind(chunk.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.reason.clone()).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|r| r.message_id.map(|m| m.0))
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|r| r.updated_at).collect::<Vec<_>>());
        if report {
            let inserted = query
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| r.uuid("id"))
                .collect::<Result<std::collections::HashSet<_>>>()?;
            added += inserted.len() as u64;
            skipped.extend(skipped_positions(chunk, n * PG_CHUNK, &inserted));
        } else {
            added += query
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok((added, skipped))
}

#[cfg(feature = "sqlite")]
async fn sqlite_update_recipients(
    pools: &crate::db::SqlitePools,
    tenant: TenantId,
    updates: &[RecipientUpdate],
) -> Result<u64> {
    let mut tx = pools
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_err)?;
    let mut moved = 0;
    for u in updates {
        moved += tx.apply_recipient(tenant, u).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(moved)
}

#[cfg(feature = "postgres")]
async fn pg_update_recipients(
    pool: &sqlx::PgPool,
    tenant: TenantId,
    updates: &[RecipientUpdate],
) -> Result<u64> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let moved = pg_update_recipients_in(&mut tx, tenant, updates).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(moved)
}

/// [`pg_update_recipients`] inside the caller's transaction.
#[cfg(feature = "postgres")]
pub(super) async fn pg_update_recipients_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: TenantId,
    updates: &[RecipientUpdate],
) -> Result<u64> {
    if updates.is_empty() {
        return Ok(0);
    }
    let now = Utc::now();
    // The updates below run as several statements, each locking its rows in whatever order
    // its plan visits them; two such transactions on overlapping recipients would deadlock.
    // Locking every row up front, in id order, makes them queue instead.
    let mut ids: Vec<uuid::Uuid> = updates.iter().map(|u| u.id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    sqlx::query(
        "SELECT id FROM campaign_recipients WHERE tenant_id = $1 AND id = ANY($2) \
         ORDER BY id FOR UPDATE",
    )
    .bind(tenant.0)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err)?;
    let mut moved = 0;
    for run in runs(updates) {
        let mut statuses: Vec<RecipientStatus> = run.iter().map(|u| u.status).collect();
        statuses.sort();
        statuses.dedup();
        for status in statuses {
            let group: Vec<&RecipientUpdate> = run.iter().filter(|u| u.status == status).collect();
            let mut advanced: std::collections::HashSet<uuid::Uuid> =
                std::collections::HashSet::new();
            if let Some(allowed) = recipient_advancing_from(status) {
                let sql = format!(
                    "UPDATE campaign_recipients r SET status = $2, \
                     reason = COALESCE(u.reason, r.reason), \
                     message_id = COALESCE(u.message_id, r.message_id), updated_at = $3 \
                     FROM UNNEST($4::uuid[], $5::text[], $6::uuid[]) AS u(id, reason, message_id) \
                     WHERE r.id = u.id AND r.tenant_id = $1 AND r.status IN ({allowed}) \
                     RETURNING r.id"
                );
                for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.0)
                    .bind(status.as_str())
                    .bind(now)
                    .bind(group.iter().map(|u| u.id.0).collect::<Vec<_>>())
                    .bind(group.iter().map(|u| u.reason.clone()).collect::<Vec<_>>())
                    .bind(
                        group
                            .iter()
                            .map(|u| u.message_id.map(|m| m.0))
                            .collect::<Vec<_>>(),
                    )
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(db_err)?
                {
                    advanced.insert(row.uuid("id")?);
                }
            }
            moved += advanced.len() as u64;
            let attach: Vec<&&RecipientUpdate> = group
                .iter()
                .filter(|u| u.message_id.is_some() && !advanced.contains(&u.id.0))
                .collect();
            if !attach.is_empty() {
                sqlx::query(
                    "UPDATE campaign_recipients r SET reason = COALESCE(u.reason, r.reason), \
                     message_id = u.message_id, updated_at = $3 \
                     FROM UNNEST($4::uuid[], $5::text[], $6::uuid[]) AS u(id, reason, message_id) \
                     WHERE r.id = u.id AND r.tenant_id = $1 AND r.status = $2",
                )
                .bind(tenant.0)
                .bind(status.as_str())
                .bind(now)
                .bind(attach.iter().map(|u| u.id.0).collect::<Vec<_>>())
                .bind(attach.iter().map(|u| u.reason.clone()).collect::<Vec<_>>())
                .bind(
                    attach
                        .iter()
                        .map(|u| u.message_id.map(|m| m.0))
                        .collect::<Vec<_>>(),
                )
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            }
        }
    }
    Ok(moved)
}

#[async_trait]
impl CampaignStore for SqlStore {
    async fn create_campaign(&self, campaign: &Campaign) -> Result<()> {
        let doc = to_json(campaign)?;
        on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "INSERT INTO campaigns (tenant_id, id, state, version, doc, start_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(campaign.tenant_id.0)
            .bind(campaign.id.0)
            .bind(campaign.state.as_str())
            .bind(to_i64(campaign.version))
            .bind(&doc)
            .bind(campaign.start_at.map(Ts))
            .execute(pool)
            .await
            .map_err(unique_err(
                "campaign",
                format!("{} already exists", campaign.id),
            ))?;
        });
        Ok(())
    }

    async fn get_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<Campaign> {
        self.get_doc("campaigns", "campaign", tenant.0, id.0).await
    }

    async fn list_campaigns(&self, tenant: TenantId, page: Page) -> Result<Paged<Campaign>> {
        self.list_docs("campaigns", tenant.0, &page, |c: &Campaign| {
            c.id.to_string()
        })
        .await
    }

    async fn update_campaign(&self, campaign: &Campaign) -> Result<u64> {
        self.update_campaign_with_deliveries(campaign, &[]).await
    }

    async fn update_campaign_with_deliveries(
        &self,
        campaign: &Campaign,
        deliveries: &[WebhookDelivery],
    ) -> Result<u64> {
        let mut next = campaign.clone();
        next.version = campaign.version + 1;
        let doc = to_json(&next)?;
        let stored: Option<i64> = in_tx!(&self.db, |tx, _pg| {
            let n = sqlx::query(
                "UPDATE campaigns SET state = $4, version = version + 1, doc = $5, start_at = $6 \
                 WHERE tenant_id = $1 AND id = $2 AND version = $3",
            )
            .bind(campaign.tenant_id.0)
            .bind(campaign.id.0)
            .bind(to_i64(campaign.version))
            .bind(campaign.state.as_str())
            .bind(&doc)
            .bind(campaign.start_at.map(Ts))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if n == 1 {
                // Same transaction: the events exist exactly when the change does.
                tx.insert_deliveries(deliveries).await?;
                None
            } else {
                Some(stored_version!(
                    tx,
                    "campaigns",
                    "campaign",
                    campaign.tenant_id,
                    campaign.id
                ))
            }
        });
        match stored {
            None => Ok(next.version),
            Some(v) => Err(stale(campaign.version, v)),
        }
    }

    async fn delete_campaign(&self, tenant: TenantId, id: CampaignId) -> Result<()> {
        in_tx!(&self.db, |tx, pg| {
            let sql = if pg {
                "SELECT state FROM campaigns WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
            } else {
                "SELECT state FROM campaigns WHERE tenant_id = $1 AND id = $2"
            };
            let state = sqlx::query(sql)
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::not_found("campaign", id))?
                .text("state")?;
            if state == CampaignState::Running.as_str() {
                return Err(Error::CampaignInProgress { id: id.to_string() });
            }
            // Recipients before counters: their delete trigger updates the counters.
            for table in [
                "campaign_recipients",
                "campaign_rejections",
                "campaign_counters",
            ] {
                let sql = format!("DELETE FROM {table} WHERE tenant_id = $1 AND campaign_id = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.0)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            sqlx::query("DELETE FROM campaigns WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        });
        Ok(())
    }

    async fn due_campaigns(&self, now: DateTime<Utc>, page: Page) -> Result<Paged<Campaign>> {
        let after = cursor(&page)?;
        // Index ranges only: running campaigns by id, scheduled ones by start time (without
        // one, or up to now; few are due at once, since the first tick that sees them starts
        // them). Future scheduled, paused and finished campaigns are never read.
        let items = on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT id, doc FROM ( \
                   SELECT id, doc FROM campaigns WHERE state = $1 AND ($3 IS NULL OR id > $3) \
                   UNION ALL \
                   SELECT id, doc FROM campaigns WHERE state = $2 AND start_at IS NULL \
                     AND ($3 IS NULL OR id > $3) \
                   UNION ALL \
                   SELECT id, doc FROM campaigns WHERE state = $2 AND start_at <= $4 \
                     AND ($3 IS NULL OR id > $3) \
                 ) AS due ORDER BY id LIMIT $5",
            )
            .bind(CampaignState::Running.as_str())
            .bind(CampaignState::Scheduled.as_str())
            .bind(after)
            .bind(Ts(now))
            .bind(overfetch(&page))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.json::<Campaign>("doc"))
            .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |c| {
            c.id.to_string()
        }))
    }

    async fn insert_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<u64> {
        self.check_recipients(tenant, campaign, recipients).await?;
        if recipients.is_empty() {
            return Ok(0);
        }
        let (added, _) = per_dialect!(&self.db,
            sqlite(pools) => sqlite_insert_recipients(pools, recipients, false).await,
            postgres(pool) => pg_insert_recipients(pool, recipients, false).await,
        )?;
        Ok(added)
    }

    async fn insert_recipients_reporting(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        recipients: &[CampaignRecipient],
    ) -> Result<Vec<usize>> {
        self.check_recipients(tenant, campaign, recipients).await?;
        if recipients.is_empty() {
            return Ok(Vec::new());
        }
        let (_, skipped) = per_dialect!(&self.db,
            sqlite(pools) => sqlite_insert_recipients(pools, recipients, true).await,
            postgres(pool) => pg_insert_recipients(pool, recipients, true).await,
        )?;
        Ok(skipped)
    }

    async fn insert_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        rejections: &[Rejection],
    ) -> Result<u64> {
        self.ensure_campaign(tenant, campaign).await?;
        if let Some(bad) = rejections
            .iter()
            .find(|r| r.tenant_id != tenant || r.campaign_id != campaign)
        {
            return Err(Error::invalid_input(
                "rejections",
                format!("rejection {} belongs to another campaign", bad.id),
            ));
        }
        if rejections.is_empty() {
            return Ok(0);
        }
        let stored = in_tx!(&self.db, |tx, pg| {
            let mut stored = 0;
            // 7 values per row keeps SQLite far below its variable limit.
            for chunk in rejections.chunks(1_000) {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO campaign_rejections \
                     (tenant_id, campaign_id, id, line, input, reason, created_at) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.tenant_id.0)
                        .push_bind(r.campaign_id.0)
                        .push_bind(r.id.0)
                        .push_bind(r.line.map(to_i64))
                        .push_bind(r.input.clone())
                        .push_bind(r.reason.clone())
                        .push_bind(Ts(r.created_at));
                });
                qb.push(" ON CONFLICT DO NOTHING");
                stored += qb
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
            }
            // In the same transaction, so the count and the rows never disagree. PostgreSQL
            // appends a delta (see migration 0003); SQLite updates its one row per status.
            let sql = if pg {
                "INSERT INTO campaign_counters (tenant_id, campaign_id, status, n) \
                 VALUES ($1, $2, $3, $4)"
            } else {
                "UPDATE campaign_counters SET n = n + $4 \
                 WHERE tenant_id = $1 AND campaign_id = $2 AND status = $3"
            };
            if stored > 0 {
                sqlx::query(sql)
                    .bind(tenant.0)
                    .bind(campaign.0)
                    .bind(REJECTED)
                    .bind(to_i64(stored))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            stored
        });
        Ok(stored)
    }

    async fn list_rejections(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Paged<Rejection>> {
        self.ensure_campaign(tenant, campaign).await?;
        let after = cursor(&page)?;
        let items = on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT tenant_id, campaign_id, id, line, input, reason, created_at \
                 FROM campaign_rejections WHERE tenant_id = $1 AND campaign_id = $2 \
                 AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4",
            )
            .bind(tenant.0)
            .bind(campaign.0)
            .bind(after)
            .bind(overfetch(&page))
            .fetch_all(pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(rejection_from_row)
            .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |r| {
            r.id.to_string()
        }))
    }

    async fn get_recipient(&self, tenant: TenantId, id: RecipientId) -> Result<CampaignRecipient> {
        let sql =
            format!("SELECT {COLUMNS} FROM campaign_recipients WHERE tenant_id = $1 AND id = $2");
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(recipient_from_row(&r)?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("campaign recipient", id))
    }

    async fn list_recipients(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        status: Option<RecipientStatus>,
        page: Page,
    ) -> Result<Paged<CampaignRecipient>> {
        self.ensure_campaign(tenant, campaign).await?;
        let after = cursor(&page)?;
        let items = on_read!(&self.db, |pool, _pg| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {COLUMNS} FROM campaign_recipients WHERE tenant_id = "
            ));
            qb.push_bind(tenant.0)
                .push(" AND campaign_id = ")
                .push_bind(campaign.0);
            if let Some(status) = status {
                qb.push(" AND status = ").push_bind(status.as_str());
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
                .map(recipient_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |r| {
            r.id.to_string()
        }))
    }

    async fn update_recipients(
        &self,
        tenant: TenantId,
        updates: &[RecipientUpdate],
    ) -> Result<u64> {
        if updates.is_empty() {
            return Ok(0);
        }
        per_dialect!(&self.db,
            sqlite(pools) => sqlite_update_recipients(pools, tenant, updates).await,
            postgres(pool) => pg_update_recipients(pool, tenant, updates).await,
        )
    }

    async fn retry_failed_recipients(&self, tenant: TenantId, campaign: CampaignId) -> Result<u64> {
        self.ensure_campaign(tenant, campaign).await?;
        let done = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "UPDATE campaign_recipients \
                 SET status = $3, reason = NULL, message_id = NULL, updated_at = $4 \
                 WHERE tenant_id = $1 AND campaign_id = $2 AND status = $5",
            )
            .bind(tenant.0)
            .bind(campaign.0)
            .bind(RecipientStatus::Pending.as_str())
            .bind(crate::db::Ts(Utc::now()))
            .bind(RecipientStatus::Failed.as_str())
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        Ok(done)
    }

    async fn campaign_counters(
        &self,
        tenant: TenantId,
        id: CampaignId,
    ) -> Result<CampaignCounters> {
        self.ensure_campaign(tenant, id).await?;
        // The maintained counter rows, never the recipients: one per status on SQLite; on
        // PostgreSQL the deltas appended since the last fold.
        let (rows, deltas, pg): (Vec<(String, i64)>, i64, bool) = on_read!(&self.db, |pool, pg| {
            let found = sqlx::query(
                "SELECT status, CAST(SUM(n) AS BIGINT) AS n, COUNT(*) AS deltas \
                 FROM campaign_counters WHERE tenant_id = $1 AND campaign_id = $2 GROUP BY status",
            )
            .bind(tenant.0)
            .bind(id.0)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            let mut deltas = 0;
            let mut rows = Vec::with_capacity(found.len());
            for r in &found {
                deltas += r.int("deltas")?;
                rows.push((r.text("status")?, r.int("n")?));
            }
            (rows, deltas, pg)
        });
        if pg && deltas > FOLD_AFTER {
            self.fold_counters(tenant, id).await?;
        }
        counters_from(rows)
    }
}

/// Counters from `(status, count)` rows of `campaign_counters` summed per status.
pub(super) fn counters_from(rows: Vec<(String, i64)>) -> Result<CampaignCounters> {
    let mut counters = CampaignCounters::default();
    for (status, n) in rows {
        if status == REJECTED {
            counters.add_rejected(to_u64(n));
        } else {
            counters.add(parse_enum::<RecipientStatus>(&status)?, to_u64(n));
        }
    }
    Ok(counters)
}

/// Sums a campaign's counter rows (on PostgreSQL, the deltas too) per status.
pub(super) const COUNTERS_SQL: &str = "SELECT status, CAST(SUM(n) AS BIGINT) AS n \
     FROM campaign_counters WHERE tenant_id = $1 AND campaign_id = $2 GROUP BY status";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_moves_follow_the_core_rule() {
        assert_eq!(
            recipient_advancing_from(RecipientStatus::Skipped).as_deref(),
            Some("'pending'")
        );
        assert_eq!(
            recipient_advancing_from(RecipientStatus::Failed).as_deref(),
            Some("'pending', 'sent'")
        );
        assert_eq!(recipient_advancing_from(RecipientStatus::Pending), None);
    }
}
