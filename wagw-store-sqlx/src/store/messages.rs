use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;
use wagw_core::ids::{CampaignId, ChannelId, MessageId, RecipientId, TenantId};
use wagw_core::model::campaign::RecipientStatus;
use wagw_core::model::message::{
    Direction, MessageError, MessageRecord, MessageStatus, Priority, StatusChange, StatusUpdate,
    Transition,
};
use wagw_core::model::tenant::{QuotaResource, UsagePeriod};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{
    Inserted, MessageQuery, MessageStore, Page, Paged, RecipientUpdate, WamidUpdate,
};
use wagw_core::{Error, Result};

use super::campaigns::recipient_advancing_from;
use super::{cursor, overfetch};
use crate::SqlStore;
use crate::db::{
    SqlRow, Ts, db_err, ensure_row, enum_str, in_tx, on_read, on_write, parse_enum, per_dialect,
    to_json, to_u32,
};

/// Rows per multi-row insert (18 columns each).
const CHUNK: usize = 500;

const COLUMNS: &str = "tenant_id, id, channel_id, contact_phone, direction, body, status, wamid, \
     error_code, error_reason, campaign_id, recipient_id, idempotency_key, priority, attempts, \
     ambiguous, created_at, updated_at";

fn message_from_row(r: &impl SqlRow) -> Result<MessageRecord> {
    let error = match r.opt_text("error_reason")? {
        Some(reason) => Some(MessageError {
            code: r.opt_int("error_code")?,
            reason,
        }),
        None => None,
    };
    Ok(MessageRecord {
        id: MessageId(r.uuid("id")?),
        tenant_id: TenantId(r.uuid("tenant_id")?),
        channel_id: ChannelId(r.uuid("channel_id")?),
        contact_phone: r.text("contact_phone")?.parse::<PhoneNumber>()?,
        direction: parse_enum::<Direction>(&r.text("direction")?)?,
        body: r.json("body")?,
        status: parse_enum::<MessageStatus>(&r.text("status")?)?,
        wamid: r.opt_text("wamid")?,
        error,
        campaign_id: r.opt_uuid("campaign_id")?.map(CampaignId),
        recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
        idempotency_key: r.opt_text("idempotency_key")?,
        priority: Priority::from_u8(u8::try_from(r.int("priority")?.clamp(0, 255)).unwrap_or(0)),
        attempts: to_u32(r.int("attempts")?),
        ambiguous: r.flag("ambiguous")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

/// The start of an SQL test that a message's searchable text (see
/// [`MessageQuery::SEARCHED_PATHS`]) contains a bound needle, ASCII case folded like
/// `to_ascii_lowercase`: push the needle (lower-cased) and `) > 0` after it.
fn searchable_text_contains(pg: bool) -> String {
    let parts: Vec<String> = MessageQuery::SEARCHED_PATHS
        .iter()
        .map(|path| {
            if pg {
                format!("COALESCE(body #>> '{{{}}}', '')", path.join(","))
            } else {
                format!("COALESCE(json_extract(body, '$.{}'), '')", path.join("."))
            }
        })
        .collect();
    if pg {
        // translate folds only ASCII letters, as SQLite's lower() and to_ascii_lowercase do.
        format!(
            "strpos(translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), ",
            parts.join(" || E'\\n' || ")
        )
    } else {
        format!("instr(lower({}), ", parts.join(" || char(10) || "))
    }
}

/// The statuses from which `to` is a forward move, as an SQL list of literals. Derived from
/// [`MessageStatus::transition`], the single rule, so SQL can never disagree with it; `None`
/// when nothing moves to `to`.
pub(crate) fn advancing_from(to: MessageStatus) -> Option<String> {
    let from: Vec<String> = MessageStatus::ALL
        .into_iter()
        .filter(|from| from.transition(to) == Transition::Advance)
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    (!from.is_empty()).then(|| from.join(", "))
}

fn update_sql(by: &str, allowed: &str) -> String {
    format!(
        "UPDATE messages SET prev_status = status, status = $3, wamid = COALESCE($4, wamid), \
         error_code = CASE WHEN $5 THEN $6 ELSE error_code END, \
         error_reason = COALESCE($7, error_reason), updated_at = $8 \
         WHERE tenant_id = $1 AND {by} = $2 AND status IN ({allowed}) \
         RETURNING id, prev_status, recipient_id"
    )
}

/// Advisory-lock class of "a wamid is being recorded or kept" (PostgreSQL). Recording a wamid
/// and keeping a status for it take this lock on (tenant, wamid), so a status kept by one
/// transaction is always seen by the transaction recording the wamid, or the other way round.
const WAMID_LOCK_CLASS: i32 = 7301;

/// Locks one (tenant, wamid); `$1` is the tenant, `$2` the wamid, `$3` the lock class.
const LOCK_WAMID_SQL: &str = "SELECT pg_advisory_xact_lock($3, hashtext($1::text || $2))";

/// Keeps one update for an unknown wamid (SQLite); a redelivered one is kept once.
#[cfg(feature = "sqlite")]
const KEEP_PENDING_SQLITE: &str = "INSERT INTO pending_statuses \
     (tenant_id, wamid, status, error_code, error_reason, at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (tenant_id, wamid, status) DO NOTHING";

/// Adds one message to the monthly counter within the limit: the statement of
/// [`add_usage`](wagw_core::store::TenantStore::add_usage) with an amount of one.
const CHARGE_USAGE_SQL: &str = "INSERT INTO usage_counters (tenant_id, period, resource, amount) \
     SELECT $1, $2, $3, 1 WHERE $4 IS NULL OR 1 <= $4 \
     ON CONFLICT (tenant_id, period, resource) DO UPDATE \
     SET amount = usage_counters.amount + 1 \
     WHERE $4 IS NULL OR usage_counters.amount + 1 <= $4 \
     RETURNING amount";

/// Charges one message on PostgreSQL in one statement: sets its `charged` flag if unset and,
/// only then, adds it to the monthly counter within the cap (`$5`, NULL for none). `marked`
/// says whether the flag was set, `counted` whether the counter took it.
const CHARGE_MESSAGE_PG: &str = "WITH marked AS ( \
         UPDATE messages SET charged = TRUE \
         WHERE tenant_id = $1 AND id = $2 AND NOT charged RETURNING id), \
     counted AS ( \
         INSERT INTO usage_counters (tenant_id, period, resource, amount) \
         SELECT $1, $3, $4, 1 FROM marked WHERE $5::BIGINT IS NULL OR 1 <= $5 \
         ON CONFLICT (tenant_id, period, resource) DO UPDATE \
         SET amount = usage_counters.amount + 1 \
         WHERE $5 IS NULL OR usage_counters.amount + 1 <= $5 \
         RETURNING amount) \
     SELECT (SELECT COUNT(*) FROM marked) AS marked, (SELECT COUNT(*) FROM counted) AS counted";

/// What applying one update inside a transaction did.
pub(super) struct Applied {
    change: StatusChange,
    /// Whether statuses kept for the recorded wamid were applied.
    took_pending: bool,
    /// The reason of a kept `failed` that became the final status.
    pending_failure: Option<String>,
}

/// Reads kept statuses into updates, in the order they are applied.
fn kept_updates<R: SqlRow>(rows: &[R]) -> Result<Vec<StatusUpdate>> {
    let mut kept = rows
        .iter()
        .map(|r| {
            let error = match r.opt_text("error_reason")? {
                Some(reason) => Some(MessageError {
                    code: r.opt_int("error_code")?,
                    reason,
                }),
                None => None,
            };
            Ok(StatusUpdate {
                status: parse_enum(&r.text("status")?)?,
                wamid: None,
                error,
                at: r.ts("at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Forward-only, so any order converges; sorting makes the rare failed-versus-delivered
    // pair deterministic (the same order as the memory store).
    kept.sort_by_key(|u| (u.at, u.status.rank()));
    Ok(kept)
}

/// Folds kept updates over `from` with the single rule: the final status, its error and time,
/// or `None` when none of them moves the message.
fn fold_kept(from: MessageStatus, kept: &[StatusUpdate]) -> Option<StatusUpdate> {
    let mut last: Option<StatusUpdate> = None;
    let mut status = from;
    let mut error = None;
    for k in kept {
        if status.transition(k.status) == Transition::Advance {
            status = k.status;
            if k.error.is_some() {
                error.clone_from(&k.error);
            }
            last = Some(StatusUpdate {
                status,
                wamid: None,
                error: error.clone(),
                at: k.at,
            });
        }
    }
    last
}

/// Message writes that must share a transaction with other writes, for each database.
pub(super) trait MessageTx {
    /// Applies `update` to a message (forward only) and, when it records a wamid, the
    /// statuses kept for that wamid. `NotFound` for an unknown message.
    async fn apply_update(
        &mut self,
        pg: bool,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<Applied>;

    /// Applies one recipient update with the rule of `update_recipients`; returns how many
    /// statuses moved (0 or 1).
    async fn apply_recipient(&mut self, tenant: TenantId, update: &RecipientUpdate) -> Result<u64>;
}

macro_rules! impl_message_tx {
    ($db:ty) => {
        impl MessageTx for sqlx::Transaction<'_, $db> {
            async fn apply_update(
                &mut self,
                pg: bool,
                tenant: TenantId,
                id: MessageId,
                update: &StatusUpdate,
            ) -> Result<Applied> {
                let mut moved = None;
                if let Some(allowed) = advancing_from(update.status) {
                    let b = bound(update);
                    moved = sqlx::query(sqlx::AssertSqlSafe(update_sql("id", &allowed)))
                        .bind(tenant.0)
                        .bind(id.0)
                        .bind(b.status)
                        .bind(b.wamid)
                        .bind(b.has_error)
                        .bind(b.code)
                        .bind(b.reason)
                        .bind(Ts(b.at))
                        .fetch_optional(&mut **self)
                        .await
                        .map_err(db_err)?
                        .map(|r| {
                            Ok::<_, Error>((r.text("prev_status")?, r.opt_uuid("recipient_id")?))
                        })
                        .transpose()?;
                }
                let Some((prev, recipient)) = moved else {
                    let r = sqlx::query(
                        "SELECT status, recipient_id FROM messages \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .fetch_optional(&mut **self)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| Error::not_found("message", id))?;
                    let status: MessageStatus = parse_enum(&r.text("status")?)?;
                    return Ok(Applied {
                        change: StatusChange {
                            message_id: id,
                            from: status,
                            to: status,
                            recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
                        },
                        took_pending: false,
                        pending_failure: None,
                    });
                };
                let mut applied = Applied {
                    change: StatusChange {
                        message_id: id,
                        from: parse_enum(&prev)?,
                        to: update.status,
                        recipient_id: recipient.map(RecipientId),
                    },
                    took_pending: false,
                    pending_failure: None,
                };
                let Some(wamid) = &update.wamid else {
                    return Ok(applied);
                };
                if pg {
                    // After the update, before reading kept statuses: see WAMID_LOCK_CLASS.
                    sqlx::query(LOCK_WAMID_SQL)
                        .bind(tenant.0)
                        .bind(wamid)
                        .bind(WAMID_LOCK_CLASS)
                        .execute(&mut **self)
                        .await
                        .map_err(db_err)?;
                }
                let rows = sqlx::query(
                    "DELETE FROM pending_statuses WHERE tenant_id = $1 AND wamid = $2 \
                     RETURNING status, error_code, error_reason, at",
                )
                .bind(tenant.0)
                .bind(wamid)
                .fetch_all(&mut **self)
                .await
                .map_err(db_err)?;
                if rows.is_empty() {
                    return Ok(applied);
                }
                applied.took_pending = true;
                let kept = kept_updates(&rows)?;
                if let Some(last) = fold_kept(update.status, &kept) {
                    let b = bound(&last);
                    // The row is locked by the update above, so the fold is exact.
                    sqlx::query(
                        "UPDATE messages SET status = $3, \
                         error_code = CASE WHEN $4 THEN $5 ELSE error_code END, \
                         error_reason = COALESCE($6, error_reason), updated_at = $7 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(b.status)
                    .bind(b.has_error)
                    .bind(b.code)
                    .bind(b.reason.clone())
                    .bind(Ts(b.at))
                    .execute(&mut **self)
                    .await
                    .map_err(db_err)?;
                    applied.change.to = last.status;
                    if last.status == MessageStatus::Failed {
                        applied.pending_failure = b.reason;
                    }
                }
                Ok(applied)
            }

            async fn apply_recipient(
                &mut self,
                tenant: TenantId,
                u: &RecipientUpdate,
            ) -> Result<u64> {
                let now = Ts(Utc::now());
                let mut advanced = 0;
                if let Some(allowed) = recipient_advancing_from(u.status) {
                    let sql = format!(
                        "UPDATE campaign_recipients SET status = $3, reason = COALESCE($4, reason), \
                         message_id = COALESCE($5, message_id), updated_at = $6 \
                         WHERE tenant_id = $1 AND id = $2 AND status IN ({allowed})"
                    );
                    advanced = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(tenant.0)
                        .bind(u.id.0)
                        .bind(u.status.as_str())
                        .bind(&u.reason)
                        .bind(u.message_id.map(|m| m.0))
                        .bind(now)
                        .execute(&mut **self)
                        .await
                        .map_err(db_err)?
                        .rows_affected();
                }
                if advanced == 0 && u.message_id.is_some() {
                    // A repeat of the current status may still attach the message.
                    sqlx::query(
                        "UPDATE campaign_recipients SET reason = COALESCE($4, reason), \
                         message_id = $5, updated_at = $6 \
                         WHERE tenant_id = $1 AND id = $2 AND status = $3",
                    )
                    .bind(tenant.0)
                    .bind(u.id.0)
                    .bind(u.status.as_str())
                    .bind(&u.reason)
                    .bind(u.message_id.map(|m| m.0))
                    .bind(now)
                    .execute(&mut **self)
                    .await
                    .map_err(db_err)?;
                }
                Ok(advanced)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
impl_message_tx!(sqlx::Sqlite);
#[cfg(feature = "postgres")]
impl_message_tx!(sqlx::Postgres);

/// Binds a message's columns in [`COLUMNS`] order.
macro_rules! push_message {
    ($b:expr, $m:expr, $body:expr) => {
        $b.push_bind($m.tenant_id.0)
            .push_bind($m.id.0)
            .push_bind($m.channel_id.0)
            .push_bind($m.contact_phone.as_str().to_owned())
            .push_bind(enum_str(&$m.direction)?)
            .push_bind($body)
            .push_bind($m.status.as_str())
            .push_bind($m.wamid.clone())
            .push_bind($m.error.as_ref().and_then(|e| e.code))
            .push_bind($m.error.as_ref().map(|e| e.reason.clone()))
            .push_bind($m.campaign_id.map(|c| c.0))
            .push_bind($m.recipient_id.map(|r| r.0))
            .push_bind($m.idempotency_key.clone())
            .push_bind(i64::from($m.priority.as_u8()))
            .push_bind(i64::from($m.attempts))
            .push_bind($m.ambiguous)
            .push_bind(Ts($m.created_at))
            .push_bind(Ts($m.updated_at))
    };
}
pub(super) use push_message;

impl SqlStore {
    /// Inserts messages with the idempotency rule; see [`MessageStore::insert_messages`].
    async fn insert_batch(&self, messages: &[MessageRecord]) -> Result<Vec<Inserted>> {
        // Within the batch, a repeated (tenant, key) refers to its first occurrence.
        let mut first_of: HashMap<(Uuid, &str), usize> = HashMap::new();
        let mut refers: Vec<Option<usize>> = Vec::with_capacity(messages.len());
        let mut candidates: Vec<&MessageRecord> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match &m.idempotency_key {
                Some(key) => match first_of.get(&(m.tenant_id.0, key.as_str())) {
                    Some(first) => refers.push(Some(*first)),
                    None => {
                        first_of.insert((m.tenant_id.0, key.as_str()), i);
                        refers.push(None);
                        candidates.push(m);
                    }
                },
                None => {
                    refers.push(None);
                    candidates.push(m);
                }
            }
        }
        let bodies = candidates
            .iter()
            .map(|m| to_json(&m.body))
            .collect::<Result<Vec<_>>>()?;
        let mut created: HashSet<Uuid> = HashSet::new();
        let mut existing: HashMap<(Uuid, String), Uuid> = HashMap::new();
        in_tx!(&self.db, |tx, _pg| {
            for (chunk, bodies) in candidates.chunks(CHUNK).zip(bodies.chunks(CHUNK)) {
                let mut qb = QueryBuilder::new(format!("INSERT INTO messages ({COLUMNS}) "));
                let mut bad = None;
                qb.push_values(chunk.iter().zip(bodies), |mut b, (m, body)| {
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
                for row in qb.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                    created.insert(row.uuid("id")?);
                }
            }
            // Keys that were already used: read the stored ids.
            let missing: Vec<&MessageRecord> = candidates
                .iter()
                .copied()
                .filter(|m| !created.contains(&m.id.0))
                .collect();
            for m in &missing {
                if m.idempotency_key.is_none() {
                    return Err(Error::conflict(
                        "message",
                        format!("{} already exists", m.id),
                    ));
                }
            }
            let mut by_tenant: HashMap<Uuid, Vec<&str>> = HashMap::new();
            for m in &missing {
                if let Some(key) = &m.idempotency_key {
                    by_tenant.entry(m.tenant_id.0).or_default().push(key);
                }
            }
            for (tenant, keys) in by_tenant {
                for chunk in keys.chunks(CHUNK) {
                    let mut qb = QueryBuilder::new(
                        "SELECT id, idempotency_key FROM messages WHERE tenant_id = ",
                    );
                    qb.push_bind(tenant).push(" AND idempotency_key IN (");
                    let mut list = qb.separated(", ");
                    for key in chunk {
                        list.push_bind(key.to_string());
                    }
                    qb.push(")");
                    for row in qb.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                        existing.insert((tenant, row.text("idempotency_key")?), row.uuid("id")?);
                    }
                }
            }
        });
        let mut results: Vec<Inserted> = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let result = match refers[i] {
                Some(first) => Inserted {
                    id: results[first].id,
                    created: false,
                },
                None if created.contains(&m.id.0) => Inserted {
                    id: m.id,
                    created: true,
                },
                None => {
                    let key = (m.tenant_id.0, m.idempotency_key.clone().unwrap_or_default());
                    let id = existing.get(&key).copied().ok_or_else(|| Error::Backend {
                        message: "an idempotency key vanished during the insert; retry".into(),
                        transient: true,
                        source: None,
                    })?;
                    Inserted {
                        id: MessageId(id),
                        created: false,
                    }
                }
            };
            results.push(result);
        }
        Ok(results)
    }

    /// The current status of a message, by id or wamid.
    async fn current_status(
        &self,
        tenant: TenantId,
        id: MessageId,
    ) -> Result<Option<(MessageStatus, Option<RecipientId>)>> {
        on_read!(&self.db, |pool, _pg| {
            match sqlx::query(
                "SELECT status, recipient_id FROM messages WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?
            {
                Some(r) => Ok(Some((
                    parse_enum::<MessageStatus>(&r.text("status")?)?,
                    r.opt_uuid("recipient_id")?.map(RecipientId),
                ))),
                None => Ok(None),
            }
        })
    }
}

/// One update's bind values.
struct Bound {
    status: &'static str,
    wamid: Option<String>,
    has_error: bool,
    code: Option<i64>,
    reason: Option<String>,
    at: DateTime<Utc>,
}

fn bound(update: &StatusUpdate) -> Bound {
    Bound {
        status: update.status.as_str(),
        wamid: update.wamid.clone(),
        has_error: update.error.is_some(),
        code: update.error.as_ref().and_then(|e| e.code),
        reason: update.error.as_ref().map(|e| e.reason.clone()),
        at: update.at,
    }
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn insert_message(&self, message: &MessageRecord) -> Result<Inserted> {
        let mut results = self.insert_batch(std::slice::from_ref(message)).await?;
        results.pop().ok_or_else(|| Error::Backend {
            message: "insert returned no result".into(),
            transient: false,
            source: None,
        })
    }

    async fn insert_messages(&self, messages: &[MessageRecord]) -> Result<Vec<Inserted>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        self.insert_batch(messages).await
    }

    async fn get_message(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2");
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(message_from_row(&r)?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("message", id))
    }

    async fn find_message_by_wamid(&self, tenant: TenantId, wamid: &str) -> Result<MessageRecord> {
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE tenant_id = $1 AND wamid = $2 ORDER BY id LIMIT 1"
        );
        let row = on_read!(&self.db, |pool, _pg| {
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .bind(wamid)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(message_from_row(&r)?),
                None => None,
            }
        });
        row.ok_or_else(|| Error::not_found("message", wamid))
    }

    async fn list_messages(
        &self,
        tenant: TenantId,
        query: &MessageQuery,
        page: Page,
    ) -> Result<Paged<MessageRecord>> {
        let after = cursor(&page)?;
        let items = on_read!(&self.db, |pool, pg| {
            let mut qb =
                QueryBuilder::new(format!("SELECT {COLUMNS} FROM messages WHERE tenant_id = "));
            qb.push_bind(tenant.0);
            if let Some(after) = after {
                qb.push(" AND id > ").push_bind(after);
            }
            if let Some(channel) = query.channel {
                qb.push(" AND channel_id = ").push_bind(channel.0);
            }
            if let Some(contact) = &query.contact {
                qb.push(" AND contact_phone = ")
                    .push_bind(contact.as_str().to_owned());
            }
            if let Some(direction) = &query.direction {
                qb.push(" AND direction = ").push_bind(enum_str(direction)?);
            }
            if let Some(status) = query.status {
                qb.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(campaign) = query.campaign {
                qb.push(" AND campaign_id = ").push_bind(campaign.0);
            }
            if let Some(since) = query.since {
                qb.push(" AND created_at >= ").push_bind(Ts(since));
            }
            if let Some(until) = query.until {
                qb.push(" AND created_at < ").push_bind(Ts(until));
            }
            if let Some(text) = &query.text {
                qb.push(" AND ")
                    .push(searchable_text_contains(pg))
                    .push_bind(text.to_ascii_lowercase())
                    .push(") > 0");
            }
            qb.push(" ORDER BY id LIMIT ").push_bind(overfetch(&page));
            qb.build()
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(message_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |m| {
            m.id.to_string()
        }))
    }

    async fn update_status(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
    ) -> Result<StatusChange> {
        if update.wamid.is_some() {
            // Recording a wamid also applies the statuses kept for it, atomically.
            let applied = in_tx!(&self.db, |tx, pg| {
                tx.apply_update(pg, tenant, id, update).await?
            });
            return Ok(applied.change);
        }
        if let Some(allowed) = advancing_from(update.status) {
            let sql = update_sql("id", &allowed);
            let b = bound(update);
            let moved = on_write!(&self.db, |pool, _pg| {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(b.status)
                    .bind(b.wamid)
                    .bind(b.has_error)
                    .bind(b.code)
                    .bind(b.reason)
                    .bind(Ts(b.at))
                    .fetch_optional(pool)
                    .await
                    .map_err(db_err)?
                    .map(|r| Ok::<_, Error>((r.text("prev_status")?, r.opt_uuid("recipient_id")?)))
                    .transpose()?
            });
            if let Some((prev, recipient)) = moved {
                return Ok(StatusChange {
                    message_id: id,
                    from: parse_enum(&prev)?,
                    to: update.status,
                    recipient_id: recipient.map(RecipientId),
                });
            }
        }
        let (current, recipient) = self
            .current_status(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("message", id))?;
        Ok(StatusChange {
            message_id: id,
            from: current,
            to: current,
            recipient_id: recipient,
        })
    }

    async fn update_statuses_by_wamid(
        &self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>> {
        per_dialect!(&self.db,
            sqlite(pools) => sqlite_by_wamid(pools, tenant, updates).await,
            postgres(pool) => pg_by_wamid(pool, tenant, updates).await,
        )
    }

    async fn record_attempt(&self, tenant: TenantId, id: MessageId) -> Result<MessageRecord> {
        // One round trip on the send path: the attempted message comes back with its update.
        let sql = format!(
            "UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = $3 \
             WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'sending') \
             RETURNING {COLUMNS}"
        );
        let attempted = on_write!(&self.db, |pool, _pg| {
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .bind(id.0)
                .bind(Ts(Utc::now()))
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
            {
                Some(r) => Some(message_from_row(&r)?),
                None => None,
            }
        });
        match attempted {
            Some(message) => Ok(message),
            // Settled meanwhile (or unknown): the caller reads the status it has now.
            None => self.get_message(tenant, id).await,
        }
    }

    async fn mark_ambiguous(&self, tenant: TenantId, id: MessageId) -> Result<()> {
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query("UPDATE messages SET ambiguous = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(id.0)
                .bind(true)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        if n == 0 {
            return Err(Error::not_found("message", id));
        }
        Ok(())
    }

    async fn requeue_message(&self, tenant: TenantId, id: MessageId, attempt: u32) -> Result<bool> {
        let n = on_write!(&self.db, |pool, _pg| {
            sqlx::query(
                "UPDATE messages SET status = 'queued', updated_at = $4 \
                 WHERE tenant_id = $1 AND id = $2 AND status = 'sending' AND attempts = $3",
            )
            .bind(tenant.0)
            .bind(id.0)
            .bind(i64::from(attempt))
            .bind(Ts(Utc::now()))
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        if n == 0 {
            // Nothing changed: an unknown message is NotFound, a known one is `false`.
            self.get_message(tenant, id).await?;
        }
        Ok(n > 0)
    }

    async fn last_inbound_at(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        user: &PhoneNumber,
    ) -> Result<Option<DateTime<Utc>>> {
        on_read!(&self.db, |pool, _pg| {
            sqlx::query(
                "SELECT MAX(created_at) AS at FROM messages WHERE tenant_id = $1 \
                 AND channel_id = $2 AND contact_phone = $3 AND direction = 'inbound'",
            )
            .bind(tenant.0)
            .bind(channel.0)
            .bind(user.as_str())
            .fetch_one(pool)
            .await
            .map_err(db_err)?
            .opt_ts("at")
        })
    }

    async fn record_outcome(
        &self,
        tenant: TenantId,
        id: MessageId,
        update: &StatusUpdate,
        recipient: Option<&RecipientUpdate>,
    ) -> Result<StatusChange> {
        // One transaction: the message and its recipient move together or not at all.
        let change = in_tx!(&self.db, |tx, pg| {
            let applied = tx.apply_update(pg, tenant, id, update).await?;
            if let Some(recipient) = recipient {
                let mut recipient = recipient.clone();
                if applied.took_pending {
                    recipient.status = RecipientStatus::from_message(applied.change.to);
                    if applied.pending_failure.is_some() {
                        recipient.reason.clone_from(&applied.pending_failure);
                    }
                }
                tx.apply_recipient(tenant, &recipient).await?;
            }
            applied.change
        });
        Ok(change)
    }

    async fn prune_pending_statuses(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(on_write!(&self.db, |pool, _pg| {
            sqlx::query("DELETE FROM pending_statuses WHERE at < $1")
                .bind(Ts(before))
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        }))
    }

    async fn charge_message(
        &self,
        tenant: TenantId,
        id: MessageId,
        period: &UsagePeriod,
        limit: Option<u64>,
    ) -> Result<bool> {
        let resource = QuotaResource::MessagesPerMonth;
        let cap = limit.map(crate::db::to_i64);
        // Every message of a tenant increments one usage row and holds its lock until COMMIT
        // returns; on PostgreSQL, waiting there for the WAL flush made a tenant's charges
        // serial at one per flush (~600/s, BENCHMARKS.md). Without the wait nothing is at
        // risk: the flag and the count commit or vanish together, and the message's attempt
        // is recorded next by a synchronous commit, whose flush takes this earlier commit
        // with it, before anything is sent. A database crash can only lose charges of
        // messages not yet attempted. The setting rides on the BEGIN, and the flag and the
        // count are one statement: three round trips in all.
        in_tx!(
            &self.db,
            pg_begin = "BEGIN; SET LOCAL synchronous_commit = off",
            |tx, pg| {
                // The flag's row lock (PostgreSQL) or the single writer (SQLite) makes the
                // first caller the only one; a refused charge rolls the flag back.
                let (marked, counted) = if pg {
                    let row = sqlx::query(CHARGE_MESSAGE_PG)
                        .bind(tenant.0)
                        .bind(id.0)
                        .bind(period.as_str())
                        .bind(resource.as_str())
                        .bind(cap)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    (row.int("marked")? > 0, row.int("counted")? > 0)
                } else {
                    let marked = sqlx::query(
                        "UPDATE messages SET charged = $3 \
                         WHERE tenant_id = $1 AND id = $2 AND charged = $4 RETURNING id",
                    )
                    .bind(tenant.0)
                    .bind(id.0)
                    .bind(true)
                    .bind(false)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .is_some();
                    let counted = marked
                        && sqlx::query(CHARGE_USAGE_SQL)
                            .bind(tenant.0)
                            .bind(period.as_str())
                            .bind(resource.as_str())
                            .bind(cap)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(db_err)?
                            .is_some();
                    (marked, counted)
                };
                if !marked {
                    ensure_row!(tx, "messages", "message", tenant, id);
                    return Ok(false);
                }
                if !counted {
                    return Err(match limit {
                        Some(limit) => Error::QuotaExceeded {
                            resource: resource.as_str().to_owned(),
                            limit,
                        },
                        None => Error::Backend {
                            message: "usage counter was not written".into(),
                            transient: true,
                            source: None,
                        },
                    });
                }
            }
        );
        Ok(true)
    }

    async fn queued_messages(
        &self,
        created_before: DateTime<Utc>,
        page: Page,
    ) -> Result<Paged<MessageRecord>> {
        let after = cursor(&page)?;
        let items = on_read!(&self.db, |pool, _pg| {
            // `status = 'queued'` matches the partial index messages_queued, ordered by id.
            let mut qb = QueryBuilder::new(format!(
                "SELECT {COLUMNS} FROM messages WHERE status = 'queued' \
                 AND direction = 'outbound' AND created_at < "
            ));
            qb.push_bind(Ts(created_before));
            if let Some(after) = after {
                qb.push(" AND id > ").push_bind(after);
            }
            qb.push(" ORDER BY id LIMIT ").push_bind(overfetch(&page));
            qb.build()
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(message_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |m| {
            m.id.to_string()
        }))
    }

    async fn sending_messages(&self, page: Page) -> Result<Paged<MessageRecord>> {
        let after = cursor(&page)?;
        let items = on_read!(&self.db, |pool, _pg| {
            // Only read after a queue loss, so no index of its own: a scan then is cheaper
            // than keeping one up to date on every attempt.
            let mut qb = QueryBuilder::new(format!(
                "SELECT {COLUMNS} FROM messages WHERE status = 'sending' \
                 AND direction = 'outbound'"
            ));
            if let Some(after) = after {
                qb.push(" AND id > ").push_bind(after);
            }
            qb.push(" ORDER BY id LIMIT ").push_bind(overfetch(&page));
            qb.build()
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(message_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |m| {
            m.id.to_string()
        }))
    }

    async fn fail_queued_campaign_messages(
        &self,
        tenant: TenantId,
        campaign: CampaignId,
        error: &MessageError,
        recipient_status: RecipientStatus,
    ) -> Result<u64> {
        let now = Ts(Utc::now());
        let failed = in_tx!(&self.db, |tx, _pg| {
            ensure_row!(tx, "campaigns", "campaign", tenant, campaign);
            // Messages first: a message a dispatcher moved to `sending` meanwhile is not
            // failed here, so neither is its recipient (this statement's rows are the ones
            // failed with this reason at this instant).
            let failed = sqlx::query(
                "UPDATE messages SET prev_status = status, status = 'failed', error_code = $3, \
                 error_reason = $4, updated_at = $5 \
                 WHERE tenant_id = $1 AND campaign_id = $2 AND status = 'queued' \
                 AND direction = 'outbound'",
            )
            .bind(tenant.0)
            .bind(campaign.0)
            .bind(error.code)
            .bind(&error.reason)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            // Same forward-only rule as update_recipients.
            if let Some(allowed) = recipient_advancing_from(recipient_status) {
                let sql = format!(
                    "UPDATE campaign_recipients SET status = $3, reason = $4, updated_at = $5 \
                     WHERE tenant_id = $1 AND campaign_id = $2 AND status IN ({allowed}) \
                     AND id IN (SELECT recipient_id FROM messages WHERE tenant_id = $1 \
                     AND campaign_id = $2 AND status = 'failed' AND error_reason = $4 \
                     AND updated_at = $5 AND recipient_id IS NOT NULL)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.0)
                    .bind(campaign.0)
                    .bind(recipient_status.as_str())
                    .bind(&error.reason)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            failed
        });
        Ok(failed)
    }
}

/// PostgreSQL: segments of distinct wamids keep the input order's meaning; inside a segment,
/// one UNNEST statement per target status updates every row at once.
#[cfg(feature = "postgres")]
async fn pg_by_wamid(
    pool: &sqlx::PgPool,
    tenant: TenantId,
    updates: &[WamidUpdate],
) -> Result<Vec<Option<StatusChange>>> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let results = pg_by_wamid_in(&mut tx, tenant, updates).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(results)
}

/// [`pg_by_wamid`] inside the caller's transaction.
#[cfg(feature = "postgres")]
async fn pg_by_wamid_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: TenantId,
    updates: &[WamidUpdate],
) -> Result<Vec<Option<StatusChange>>> {
    let mut results: Vec<Option<StatusChange>> = vec![None; updates.len()];
    let mut unknown: Vec<usize> = Vec::new();
    // Segments of distinct wamids keep the input order's meaning; inside a
    // segment, one UNNEST statement per target status updates every row at once.
    let mut start = 0;
    while start < updates.len() {
        let mut seen = HashSet::new();
        let mut end = start;
        while end < updates.len() && seen.insert(updates[end].wamid.as_str()) {
            end += 1;
        }
        let segment = start..end;
        let mut statuses: Vec<MessageStatus> = updates[segment.clone()]
            .iter()
            .map(|u| u.update.status)
            .collect();
        statuses.sort();
        statuses.dedup();
        for status in statuses {
            let Some(allowed) = advancing_from(status) else {
                continue;
            };
            let idx: Vec<usize> = segment
                .clone()
                .filter(|i| updates[*i].update.status == status)
                .collect();
            let at: HashMap<&str, usize> = idx
                .iter()
                .map(|i| (updates[*i].wamid.as_str(), *i))
                .collect();
            let sql = format!(
                "UPDATE messages m SET prev_status = m.status, status = $2, \
                 error_code = CASE WHEN u.has_error THEN u.code ELSE m.error_code END, \
                 error_reason = COALESCE(u.reason, m.error_reason), updated_at = u.at \
                 FROM UNNEST($3::text[], $4::bool[], $5::int8[], $6::text[], \
                 $7::timestamptz[]) AS u(wamid, has_error, code, reason, at) \
                 WHERE m.tenant_id = $1 AND m.wamid = u.wamid \
                 AND m.status IN ({allowed}) RETURNING m.id, m.wamid, m.prev_status, m.recipient_id"
            );
            let bs: Vec<Bound> = idx.iter().map(|i| bound(&updates[*i].update)).collect();
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.0)
                .bind(status.as_str())
                .bind(
                    idx.iter()
                        .map(|i| updates[*i].wamid.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(bs.iter().map(|b| b.has_error).collect::<Vec<_>>())
                .bind(bs.iter().map(|b| b.code).collect::<Vec<_>>())
                .bind(bs.iter().map(|b| b.reason.clone()).collect::<Vec<_>>())
                .bind(bs.iter().map(|b| b.at).collect::<Vec<_>>())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_err)?;
            for r in rows {
                if let Some(i) = at.get(r.text("wamid")?.as_str()) {
                    results[*i] = Some(StatusChange {
                        message_id: MessageId(r.uuid("id")?),
                        from: parse_enum(&r.text("prev_status")?)?,
                        to: status,
                        recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
                    });
                }
            }
        }
        let rest: Vec<usize> = segment.filter(|i| results[*i].is_none()).collect();
        if !rest.is_empty() {
            let wamids: Vec<String> = rest.iter().map(|i| updates[*i].wamid.clone()).collect();
            let rows = sqlx::query(
                "SELECT id, wamid, status, recipient_id FROM messages \
                 WHERE tenant_id = $1 AND wamid = ANY($2)",
            )
            .bind(tenant.0)
            .bind(&wamids)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
            let mut current: HashMap<String, StatusChange> = HashMap::new();
            for r in rows {
                let status = parse_enum(&r.text("status")?)?;
                current.insert(
                    r.text("wamid")?,
                    StatusChange {
                        message_id: MessageId(r.uuid("id")?),
                        from: status,
                        to: status,
                        recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
                    },
                );
            }
            for i in rest {
                match current.get(&updates[i].wamid) {
                    // The send's answer was committed between the update and this read
                    // (each statement has its own snapshot): apply it now.
                    Some(c)
                        if c.from.transition(updates[i].update.status) == Transition::Advance =>
                    {
                        results[i] = pg_apply_one(tx, tenant, &updates[i]).await?;
                    }
                    Some(c) => results[i] = Some(*c),
                    None => unknown.push(i),
                }
            }
        }
        start = end;
    }
    if !unknown.is_empty() {
        pg_keep_unknown(tx, tenant, updates, &unknown, &mut results).await?;
    }
    Ok(results)
}

/// PostgreSQL: keeps updates whose wamid no message carries. The wamids are locked first (see
/// [`WAMID_LOCK_CLASS`]) and looked up again: a send recorded meanwhile is then visible and
/// its updates apply now; the others are kept in one statement. Never runs when every wamid
/// is known, so the hot path pays nothing.
#[cfg(feature = "postgres")]
async fn pg_keep_unknown(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: TenantId,
    updates: &[WamidUpdate],
    unknown: &[usize],
    results: &mut [Option<StatusChange>],
) -> Result<()> {
    let wamids: Vec<String> = unknown.iter().map(|i| updates[*i].wamid.clone()).collect();
    // Sorted keys: two batches lock in the same order and cannot deadlock.
    sqlx::query(
        "SELECT pg_advisory_xact_lock($3, k) FROM \
         (SELECT DISTINCT hashtext($1::text || w) AS k FROM UNNEST($2::text[]) AS w) s \
         ORDER BY k",
    )
    .bind(tenant.0)
    .bind(&wamids)
    .bind(WAMID_LOCK_CLASS)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    let found: HashSet<String> =
        sqlx::query("SELECT wamid FROM messages WHERE tenant_id = $1 AND wamid = ANY($2)")
            .bind(tenant.0)
            .bind(&wamids)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.text("wamid"))
            .collect::<Result<_>>()?;
    let mut keep: Vec<usize> = Vec::with_capacity(unknown.len());
    for &i in unknown {
        let u = &updates[i];
        if !found.contains(&u.wamid) {
            keep.push(i);
            continue;
        }
        // Recorded while this batch ran (rare): apply as a known wamid, one by one.
        results[i] = pg_apply_one(tx, tenant, u).await?;
    }
    if !keep.is_empty() {
        let bs: Vec<Bound> = keep.iter().map(|i| bound(&updates[*i].update)).collect();
        sqlx::query(
            "INSERT INTO pending_statuses (tenant_id, wamid, status, error_code, error_reason, at) \
             SELECT $1, u.wamid, u.status, u.code, u.reason, u.at \
             FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], $6::timestamptz[]) \
             AS u(wamid, status, code, reason, at) \
             ON CONFLICT (tenant_id, wamid, status) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(
            keep.iter()
                .map(|i| updates[*i].wamid.clone())
                .collect::<Vec<_>>(),
        )
        .bind(bs.iter().map(|b| b.status).collect::<Vec<_>>())
        .bind(bs.iter().map(|b| b.code).collect::<Vec<_>>())
        .bind(bs.iter().map(|b| b.reason.clone()).collect::<Vec<_>>())
        .bind(bs.iter().map(|b| b.at).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// PostgreSQL: applies one update by wamid (forward only) and reports the change, or the
/// current status when it does not move; `None` when no message has the wamid.
#[cfg(feature = "postgres")]
async fn pg_apply_one(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: TenantId,
    u: &WamidUpdate,
) -> Result<Option<StatusChange>> {
    if let Some(allowed) = advancing_from(u.update.status) {
        let b = bound(&u.update);
        if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(update_sql("wamid", &allowed)))
            .bind(tenant.0)
            .bind(&u.wamid)
            .bind(b.status)
            .bind(b.wamid)
            .bind(b.has_error)
            .bind(b.code)
            .bind(b.reason)
            .bind(Ts(b.at))
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
        {
            return Ok(Some(StatusChange {
                message_id: MessageId(r.uuid("id")?),
                from: parse_enum(&r.text("prev_status")?)?,
                to: u.update.status,
                recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
            }));
        }
    }
    let current = sqlx::query(
        "SELECT id, status, recipient_id FROM messages \
         WHERE tenant_id = $1 AND wamid = $2 ORDER BY id LIMIT 1",
    )
    .bind(tenant.0)
    .bind(&u.wamid)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err)?;
    current
        .map(|r| {
            let s: MessageStatus = parse_enum(&r.text("status")?)?;
            Ok(StatusChange {
                message_id: MessageId(r.uuid("id")?),
                from: s,
                to: s,
                recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
            })
        })
        .transpose()
}

/// SQLite: one in-process statement per update inside the write transaction.
#[cfg(feature = "sqlite")]
async fn sqlite_by_wamid(
    pools: &crate::db::SqlitePools,
    tenant: TenantId,
    updates: &[WamidUpdate],
) -> Result<Vec<Option<StatusChange>>> {
    let mut tx = pools
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_err)?;
    let results = sqlite_by_wamid_in(&mut tx, tenant, updates).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(results)
}

/// [`sqlite_by_wamid`] inside the caller's write transaction.
#[cfg(feature = "sqlite")]
async fn sqlite_by_wamid_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    tenant: TenantId,
    updates: &[WamidUpdate],
) -> Result<Vec<Option<StatusChange>>> {
    let mut results: Vec<Option<StatusChange>> = vec![None; updates.len()];
    // SQLite: one in-process statement per update inside the write transaction.
    for (i, u) in updates.iter().enumerate() {
        if let Some(allowed) = advancing_from(u.update.status) {
            let b = bound(&u.update);
            let moved = sqlx::query(sqlx::AssertSqlSafe(update_sql("wamid", &allowed)))
                .bind(tenant.0)
                .bind(&u.wamid)
                .bind(b.status)
                .bind(b.wamid)
                .bind(b.has_error)
                .bind(b.code)
                .bind(b.reason)
                .bind(Ts(b.at))
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
            if let Some(r) = moved {
                results[i] = Some(StatusChange {
                    message_id: MessageId(r.uuid("id")?),
                    from: parse_enum(&r.text("prev_status")?)?,
                    to: u.update.status,
                    recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
                });
                continue;
            }
        }
        let current = sqlx::query(
            "SELECT id, status, recipient_id FROM messages WHERE tenant_id = $1 AND wamid = $2 \
             ORDER BY id LIMIT 1",
        )
        .bind(tenant.0)
        .bind(&u.wamid)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        if let Some(r) = current {
            let s: MessageStatus = parse_enum(&r.text("status")?)?;
            results[i] = Some(StatusChange {
                message_id: MessageId(r.uuid("id")?),
                from: s,
                to: s,
                recipient_id: r.opt_uuid("recipient_id")?.map(RecipientId),
            });
        } else {
            // The single writer orders this against the send's record: keep the update.
            let b = bound(&u.update);
            sqlx::query(KEEP_PENDING_SQLITE)
                .bind(tenant.0)
                .bind(&u.wamid)
                .bind(b.status)
                .bind(b.code)
                .bind(b.reason)
                .bind(Ts(b.at))
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
    }
    Ok(results)
}

/// The steps of [`InboundStore::apply_statuses`](wagw_core::store::InboundStore::apply_statuses)
/// whose SQL differs per database, inside the caller's transaction.
pub(super) trait StatusTx {
    /// [`MessageStore::update_statuses_by_wamid`] in this transaction.
    async fn statuses_by_wamid(
        &mut self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>>;
    /// [`CampaignStore::update_recipients`](wagw_core::store::CampaignStore::update_recipients)
    /// in this transaction.
    async fn recipients(&mut self, tenant: TenantId, updates: &[RecipientUpdate]) -> Result<u64>;
    /// The messages with these ids, in any order.
    async fn messages(&mut self, tenant: TenantId, ids: &[MessageId])
    -> Result<Vec<MessageRecord>>;
}

#[cfg(feature = "sqlite")]
impl StatusTx for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn statuses_by_wamid(
        &mut self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>> {
        sqlite_by_wamid_in(self, tenant, updates).await
    }

    async fn recipients(&mut self, tenant: TenantId, updates: &[RecipientUpdate]) -> Result<u64> {
        let mut moved = 0;
        for u in updates {
            moved += self.apply_recipient(tenant, u).await?;
        }
        Ok(moved)
    }

    async fn messages(
        &mut self,
        tenant: TenantId,
        ids: &[MessageId],
    ) -> Result<Vec<MessageRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE tenant_id = $1 AND id = $2");
        let mut found = Vec::with_capacity(ids.len());
        // One in-process lookup per id: SQLite has no array binding, and each is an index probe.
        for id in ids {
            if let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(tenant.0)
                .bind(id.0)
                .fetch_optional(&mut **self)
                .await
                .map_err(db_err)?
            {
                found.push(message_from_row(&r)?);
            }
        }
        Ok(found)
    }
}

#[cfg(feature = "postgres")]
impl StatusTx for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn statuses_by_wamid(
        &mut self,
        tenant: TenantId,
        updates: &[WamidUpdate],
    ) -> Result<Vec<Option<StatusChange>>> {
        pg_by_wamid_in(self, tenant, updates).await
    }

    async fn recipients(&mut self, tenant: TenantId, updates: &[RecipientUpdate]) -> Result<u64> {
        super::campaigns::pg_update_recipients_in(self, tenant, updates).await
    }

    async fn messages(
        &mut self,
        tenant: TenantId,
        ids: &[MessageId],
    ) -> Result<Vec<MessageRecord>> {
        let ids: Vec<Uuid> = ids.iter().map(|m| m.0).collect();
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE tenant_id = $1 AND id = ANY($2)");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.0)
            .bind(&ids)
            .fetch_all(&mut **self)
            .await
            .map_err(db_err)?
            .iter()
            .map(message_from_row)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_sets_follow_the_core_rule() {
        assert_eq!(
            advancing_from(MessageStatus::Failed).as_deref(),
            Some("'queued', 'sending', 'sent'")
        );
        assert_eq!(
            advancing_from(MessageStatus::Read).as_deref(),
            Some("'queued', 'sending', 'sent', 'delivered'")
        );
        assert_eq!(advancing_from(MessageStatus::Queued), None);
        assert_eq!(advancing_from(MessageStatus::Received), None);
    }
}
