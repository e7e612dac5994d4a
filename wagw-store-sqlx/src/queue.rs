//! [`SqlQueue`]: the `Queue` trait in SQL.
//!
//! Jobs live in `queue_jobs` with a `state` of `waiting` (ready), `delayed` (not due yet),
//! `reserved` or `dead`. Fairness comes from `queue_groups`, one row per group *with ready
//! jobs* and the tick at which it was last served: a reservation considers those groups least
//! recently served first, takes up to the per-group cap from each in priority order, and
//! interleaves them by rank (first job of every group, then the second ...), which is the
//! round-robin the trait promises.
//!
//! A reservation's cost follows what it returns, not what waits:
//!
//! - due delayed jobs are promoted to `waiting` by a range scan of the `run_at` index of
//!   delayed jobs (nothing is read when nothing is due), so delayed jobs are never in the way;
//! - a group enters `queue_groups` (at the end of the line) when a job becomes ready in it,
//!   and leaves when a reservation finds it without ready jobs, so groups that ever existed
//!   but hold nothing ready are never scanned.
//!
//! On PostgreSQL a statement that makes a job ready upserts its group with
//! `ON CONFLICT DO UPDATE`, which locks the group row until the transaction commits; the
//! removal of an empty group locks the row first (`SKIP LOCKED`) and checks for ready jobs in a
//! later statement, so it can never remove a group beside a ready job that is being committed.
//!
//! - PostgreSQL does all of that in one statement: a `LATERAL` index scan per group with
//!   `FOR UPDATE SKIP LOCKED`, a window function for the ranks, and an `UPDATE ... FROM` that
//!   hands out the lease. Concurrent workers skip each other's rows instead of waiting.
//! - SQLite runs the same steps inside one `BEGIN IMMEDIATE` transaction on the single writer
//!   connection, so reservations are serialised and never overlap.
//!
//! Durability: enqueues commit synchronously on both databases (an accepted job survives a
//! crash; on SQLite with the default [`SqliteDurability::Full`](crate::SqliteDurability)). On
//! PostgreSQL, reservations and lease settlements (`ack`, `nack`, `release`, `extend`,
//! `recover_expired`) commit with `synchronous_commit = off`: a power loss may forget the
//! last fraction of a second of them, which at worst delivers a job again, the at-least-once
//! promise the queue makes anyway (the dispatcher's `record_attempt` keeps such a redelivery
//! from sending twice). It saves one WAL flush per acknowledged job.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use wagw_core::ids::JobId;
use wagw_core::queue::{
    Enqueued, Job, Lease, NackOutcome, NewJob, Queue, QueueStats, Reservation, ReserveOptions,
};
use wagw_core::store::{Page, Paged};
use wagw_core::{Error, Result};

use crate::db::{Db, SqlRow, Ts, db_err, delta, on_read, on_write, per_dialect, to_u32, to_u64};
use crate::store::{cursor, overfetch};

const COLUMNS: &str =
    "id, grp, priority, run_at, payload, dedup_key, attempts, max_attempts, last_error, created_at";

/// How often `reserve` also recovers expired reservations (workers may call
/// [`Queue::recover_expired`] more often).
const RECOVER_EVERY_MICROS: i64 = 1_000_000;

/// Passes a reservation makes at most (see [`share`]).
const MAX_PASSES: usize = 4;

/// Delayed jobs a reservation promotes at most; the next reservation takes the rest, so one
/// reservation never pays for a flood of jobs coming due at once.
const PROMOTE_AT_MOST: i64 = 10_000;

/// A value bound to a queue statement (see [`update_jobs`]).
enum Arg {
    Id(Uuid),
    Time(DateTime<Utc>),
    Text(String),
}

/// SQLite: puts `groups` (which now have ready jobs) in line. A new group goes to the end of
/// the line, as if just served; a group already in line keeps its place.
#[cfg(feature = "sqlite")]
async fn sqlite_mark_ready<'a>(
    tx: &mut sqlx::SqliteConnection,
    groups: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let groups: std::collections::BTreeSet<&str> = groups.into_iter().collect();
    for g in groups {
        sqlx::query(
            "INSERT INTO queue_groups (grp, last_served) \
             VALUES ($1, (SELECT COALESCE(MAX(last_served), 0) + 1 FROM queue_groups)) \
             ON CONFLICT DO NOTHING",
        )
        .bind(g)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// PostgreSQL: the statement that puts the groups in `$1` in line, at the end for a new
/// group. `DO UPDATE` (not `DO NOTHING`) locks an existing group row until the transaction
/// commits, so [`pg_forget_empty_groups`] cannot remove it beside the ready job being
/// committed; the groups are sorted so that two such transactions lock in the same order.
#[cfg(feature = "postgres")]
const PG_MARK_READY: &str = "INSERT INTO queue_groups (grp, last_served) \
     SELECT g, nextval('queue_tick') FROM (SELECT DISTINCT g FROM UNNEST($1::text[]) AS g) d \
     ORDER BY g ON CONFLICT (grp) DO UPDATE SET grp = EXCLUDED.grp";

/// Runs `sql`, an `UPDATE queue_jobs ... RETURNING state, grp`, and puts the groups of the jobs
/// it made ready (`waiting`) in line, in one transaction. Returns the `(state, group)` rows.
async fn update_jobs(db: &Db, sql: &str, args: &[Arg]) -> Result<Vec<(String, String)>> {
    per_dialect!(db,
        sqlite(pools) => {
            let mut tx = pools
                .writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db_err)?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for a in args {
                q = match a {
                    Arg::Id(v) => q.bind(*v),
                    Arg::Time(v) => q.bind(Ts(*v)),
                    Arg::Text(v) => q.bind(v.clone()),
                };
            }
            let rows = q
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| Ok((r.text("state")?, r.text("grp")?)))
                .collect::<Result<Vec<_>>>()?;
            sqlite_mark_ready(
                &mut tx,
                rows.iter().filter(|(s, _)| s == "waiting").map(|(_, g)| g.as_str()),
            )
            .await?;
            tx.commit().await.map_err(db_err)?;
            Ok(rows)
        },
        postgres(pool) => {
            // One statement: the upsert reads the jobs the update changed.
            let sql = format!(
                "WITH n AS ({sql}), r AS (INSERT INTO queue_groups (grp, last_served) \
                 SELECT g, nextval('queue_tick') FROM \
                 (SELECT DISTINCT grp AS g FROM n WHERE state = 'waiting') d \
                 ORDER BY g ON CONFLICT (grp) DO UPDATE SET grp = EXCLUDED.grp) \
                 SELECT state, grp FROM n"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in args {
                q = match a {
                    Arg::Id(v) => q.bind(*v),
                    Arg::Time(v) => q.bind(Ts(*v)),
                    Arg::Text(v) => q.bind(v.clone()),
                };
            }
            q.fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| Ok((r.text("state")?, r.text("grp")?)))
                .collect()
        },
    )
}

/// A [`Queue`] on SQLite or PostgreSQL; get one from
/// [`SqlStore::queue`](crate::SqlStore::queue) or [`SqlQueue::connect`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlQueue {
    db: Db,
    settle: Db,
    recovered_at: Arc<AtomicI64>,
}

fn job_from_row(r: &impl SqlRow) -> Result<Job> {
    Ok(Job {
        id: JobId(r.uuid("id")?),
        payload: Bytes::from(r.bytes("payload")?),
        group: r.text("grp")?,
        priority: u8::try_from(r.int("priority")?.clamp(0, 255)).unwrap_or(u8::MAX),
        run_at: r.ts("run_at")?,
        dedup_key: r.opt_text("dedup_key")?,
        attempts: to_u32(r.int("attempts")?),
        max_attempts: to_u32(r.int("max_attempts")?),
        last_error: r.opt_text("last_error")?,
        created_at: r.ts("created_at")?,
    })
}

fn reservation(job: Job, token: Uuid, until: DateTime<Utc>) -> Reservation {
    Reservation {
        lease: Lease {
            job_id: job.id,
            token,
        },
        job,
        expires_at: until,
    }
}

/// Jobs to insert: the validated values of a [`NewJob`].
struct Row {
    id: Uuid,
    group: String,
    priority: i64,
    run_at: DateTime<Utc>,
    payload: Vec<u8>,
    dedup_key: Option<String>,
    max_attempts: i64,
}

fn row(job: NewJob, now: DateTime<Utc>) -> Row {
    Row {
        id: JobId::new().0,
        group: job.group,
        priority: i64::from(job.priority),
        run_at: job.run_at.unwrap_or(now),
        payload: job.payload.to_vec(),
        dedup_key: job.dedup_key,
        max_attempts: i64::from(job.max_attempts.max(1)),
    }
}

fn vanished() -> Error {
    Error::Backend {
        message: "a deduplicated job vanished during the enqueue; retry".into(),
        transient: true,
        source: None,
    }
}

#[cfg(feature = "sqlite")]
async fn sqlite_enqueue(
    pools: &crate::db::SqlitePools,
    rows: Vec<Row>,
    now: DateTime<Utc>,
) -> Result<Vec<Enqueued>> {
    let mut tx = pools
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    let mut ready = std::collections::HashSet::new();
    for r in &rows {
        let created = sqlx::query(
            "INSERT INTO queue_jobs (id, grp, priority, run_at, payload, dedup_key, attempts, \
             max_attempts, created_at, state) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, \
             CASE WHEN $4 > $8 THEN 'delayed' ELSE 'waiting' END) \
             ON CONFLICT DO NOTHING",
        )
        .bind(r.id)
        .bind(&r.group)
        .bind(r.priority)
        .bind(Ts(r.run_at))
        .bind(&r.payload)
        .bind(&r.dedup_key)
        .bind(r.max_attempts)
        .bind(Ts(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if created == 1 {
            if r.run_at <= now {
                ready.insert(r.group.as_str());
            }
            out.push(Enqueued::Created(JobId(r.id)));
        } else {
            let existing = sqlx::query("SELECT id FROM queue_jobs WHERE dedup_key = $1")
                .bind(&r.dedup_key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(vanished)?;
            out.push(Enqueued::Duplicate(JobId(existing.uuid("id")?)));
        }
    }
    sqlite_mark_ready(&mut tx, ready).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

#[cfg(feature = "postgres")]
async fn pg_enqueue(
    pool: &sqlx::PgPool,
    rows: Vec<Row>,
    now: DateTime<Utc>,
) -> Result<Vec<Enqueued>> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let created: HashSet<Uuid> = sqlx::query(
        "INSERT INTO queue_jobs (id, grp, priority, run_at, payload, dedup_key, attempts, \
         max_attempts, created_at, state) \
         SELECT id, grp, priority, run_at, payload, dedup_key, 0, max_attempts, $8, \
         CASE WHEN run_at > $8 THEN 'delayed' ELSE 'waiting' END \
         FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::timestamptz[], $5::bytea[], \
         $6::text[], $7::int8[]) WITH ORDINALITY \
         AS u(id, grp, priority, run_at, payload, dedup_key, max_attempts, n) \
         ORDER BY n ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.group.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.priority).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.run_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.payload.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.dedup_key.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.max_attempts).collect::<Vec<_>>())
    .bind(now)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| r.uuid("id"))
    .collect::<Result<_>>()?;
    let ready: Vec<&str> = rows
        .iter()
        .filter(|r| r.run_at <= now && created.contains(&r.id))
        .map(|r| r.group.as_str())
        .collect();
    if !ready.is_empty() {
        sqlx::query(PG_MARK_READY)
            .bind(&ready)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    let keys: Vec<String> = rows
        .iter()
        .filter(|r| !created.contains(&r.id))
        .filter_map(|r| r.dedup_key.clone())
        .collect();
    let mut existing: HashMap<String, Uuid> = HashMap::new();
    if !keys.is_empty() {
        for r in sqlx::query("SELECT id, dedup_key FROM queue_jobs WHERE dedup_key = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
        {
            existing.insert(r.text("dedup_key")?, r.uuid("id")?);
        }
    }
    tx.commit().await.map_err(db_err)?;
    rows.iter()
        .map(|r| {
            if created.contains(&r.id) {
                return Ok(Enqueued::Created(JobId(r.id)));
            }
            r.dedup_key
                .as_ref()
                .and_then(|k| existing.get(k))
                .map(|id| Enqueued::Duplicate(JobId(*id)))
                .ok_or_else(vanished)
        })
        .collect()
}

/// Per-group share of a pass: `max` spread over `groups`, within the caller's cap.
fn share(max: usize, groups: usize, cap: Option<usize>) -> usize {
    let fair = max.div_ceil(groups.max(1));
    cap.map_or(fair, |c| c.min(fair))
}

/// Whether another pass may find more jobs: a group gave its whole share (so it may have
/// more), the reservation is not full, and no per-group cap has to be tracked across passes.
fn wants_another_pass(
    options: &ReserveOptions,
    got: usize,
    per_group: &HashMap<String, usize>,
    share: usize,
) -> bool {
    options.max_per_group.is_none() && got < options.max && per_group.values().any(|n| *n >= share)
}

/// PostgreSQL: one pass of a reservation, in one statement. Each group gives at most its
/// share (`max` over the groups considered), so a pass locks no more rows than it hands out;
/// `reserve` runs another pass when some group may have more.
///
/// Returns the jobs, how many groups the pass considered, and the considered groups that may
/// have run out of ready jobs: each group's lane reads one job more than its share, and a
/// lane no longer than the share means the group may be empty after this pass.
#[cfg(feature = "postgres")]
async fn pg_reserve_pass(
    pool: &sqlx::PgPool,
    options: &ReserveOptions,
    max: usize,
    until: DateTime<Utc>,
    token: Uuid,
) -> Result<(Vec<Reservation>, usize, Vec<String>)> {
    let cap = i64::try_from(options.max_per_group.unwrap_or(max).min(max)).unwrap_or(i64::MAX);
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let sql = format!(
        // Every group in line has ready jobs (or just ran out: the final join reports it, and
        // `pg_forget_empty_groups` removes it), so the pass reads about as many groups and
        // jobs as it hands out.
        "WITH g AS ( \
             SELECT grp, last_served FROM queue_groups \
             WHERE ($3::text[] IS NULL OR grp = ANY($3)) AND NOT (grp = ANY($4)) \
             ORDER BY last_served, grp LIMIT $1 \
         ), s AS ( \
             SELECT LEAST($2, ($1 - 1) / GREATEST(COUNT(*), 1) + 1) AS share FROM g \
         ), c AS ( \
             SELECT j.id, g.grp, g.last_served, ROW_NUMBER() OVER \
                 (PARTITION BY g.grp ORDER BY j.priority DESC, j.run_at, j.seq) AS rn \
             FROM g CROSS JOIN LATERAL ( \
                 SELECT id, priority, run_at, seq FROM queue_jobs \
                 WHERE grp = g.grp AND state = 'waiting' \
                 ORDER BY priority DESC, run_at, seq \
                 LIMIT (SELECT share + 1 FROM s) \
                 FOR UPDATE SKIP LOCKED) j \
         ), pick AS ( \
             SELECT id, grp, last_served, rn FROM c WHERE rn <= (SELECT share FROM s) \
             ORDER BY rn, last_served, grp LIMIT $1 \
         ), touch AS ( \
             UPDATE queue_groups SET last_served = nextval('queue_tick') \
             WHERE grp IN (SELECT grp FROM queue_groups WHERE grp IN (SELECT grp FROM pick) \
                           FOR UPDATE SKIP LOCKED) \
         ), upd AS ( \
             UPDATE queue_jobs q SET state = 'reserved', token = $5, attempts = q.attempts + 1, \
                 reserved_until = $6 \
             FROM pick WHERE q.id = pick.id \
             RETURNING {cols}, pick.rn AS rank, pick.last_served AS served \
         ) \
         SELECT g.grp AS considered, (SELECT COUNT(*) FROM g) AS groups, \
             (SELECT COUNT(*) FROM c WHERE c.grp = g.grp) AS lane, {upd} \
         FROM g LEFT JOIN upd ON upd.grp = g.grp",
        cols = COLUMNS
            .split(", ")
            .map(|c| format!("q.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        upd = COLUMNS
            .split(", ")
            .chain(["rank", "served"])
            .map(|c| format!("upd.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .bind(cap)
        .bind(options.groups.clone())
        .bind(options.exclude_groups.clone())
        .bind(token)
        .bind(until)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let groups = match rows.first() {
        Some(r) => usize::try_from(r.int("groups")?).unwrap_or(1),
        None => 1,
    };
    let share = share(max, groups, options.max_per_group);
    let mut short = HashSet::new();
    let mut ranked = Vec::with_capacity(rows.len());
    for r in &rows {
        if usize::try_from(r.int("lane")?).unwrap_or(usize::MAX) <= share {
            short.insert(r.text("considered")?);
        }
        if r.opt_uuid("id")?.is_some() {
            ranked.push(((r.int("rank")?, r.int("served")?), job_from_row(r)?));
        }
    }
    let short = short.into_iter().collect();
    ranked.sort_by(|a, b| (a.0, &a.1.group).cmp(&(b.0, &b.1.group)));
    let jobs = ranked
        .into_iter()
        .map(|(_, job)| reservation(job, token, until))
        .collect();
    Ok((jobs, groups, short))
}

/// PostgreSQL: promotes due delayed jobs (at most [`PROMOTE_AT_MOST`]) to ready and puts
/// their groups in line. Reads nothing when nothing is due.
#[cfg(feature = "postgres")]
async fn pg_promote_due(pool: &sqlx::PgPool, now: DateTime<Utc>) -> Result<()> {
    let db = Db::Postgres(pool.clone());
    update_jobs(
        &db,
        &format!(
            "UPDATE queue_jobs SET state = 'waiting' WHERE id IN ( \
                 SELECT id FROM queue_jobs WHERE state = 'delayed' AND run_at <= $1 \
                 ORDER BY run_at LIMIT {PROMOTE_AT_MOST} FOR UPDATE SKIP LOCKED) \
             RETURNING state, grp"
        ),
        &[Arg::Time(now)],
    )
    .await?;
    Ok(())
}

/// PostgreSQL: removes from the line the `candidates` that have no ready job. Each group row
/// is locked first, skipping rows a concurrent transaction holds (one making a job ready in
/// the group holds it); the check runs in a later statement, whose snapshot sees every job
/// committed before the lock was taken.
#[cfg(feature = "postgres")]
async fn pg_forget_empty_groups(pool: &sqlx::PgPool, mut candidates: Vec<String>) -> Result<u64> {
    if candidates.is_empty() {
        return Ok(0);
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut tx = pool.begin().await.map_err(db_err)?;
    let locked: Vec<String> = sqlx::query(
        "SELECT grp FROM queue_groups WHERE grp = ANY($1) ORDER BY grp FOR UPDATE SKIP LOCKED",
    )
    .bind(&candidates)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| r.text("grp"))
    .collect::<Result<_>>()?;
    let mut removed = 0;
    if !locked.is_empty() {
        removed = sqlx::query(
            "DELETE FROM queue_groups g WHERE grp = ANY($1) AND NOT EXISTS \
             (SELECT 1 FROM queue_jobs j WHERE j.grp = g.grp AND j.state = 'waiting')",
        )
        .bind(&locked)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    }
    tx.commit().await.map_err(db_err)?;
    Ok(removed)
}

/// PostgreSQL: passes until the reservation is full or no group has more.
#[cfg(feature = "postgres")]
async fn pg_reserve(
    pool: &sqlx::PgPool,
    options: &ReserveOptions,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    token: Uuid,
) -> Result<Vec<Reservation>> {
    pg_promote_due(pool, now).await?;
    let mut out: Vec<Reservation> = Vec::new();
    for _ in 0..MAX_PASSES {
        let want = options.max - out.len();
        let (jobs, groups, short) = pg_reserve_pass(pool, options, want, until, token).await?;
        // Before the next pass, so that it does not spend its places on groups that ran out.
        let removed = pg_forget_empty_groups(pool, short).await?;
        let mut per_group: HashMap<String, usize> = HashMap::new();
        for r in &jobs {
            *per_group.entry(r.job.group.clone()).or_default() += 1;
        }
        let empty = jobs.is_empty();
        out.extend(jobs);
        // An empty pass that removed groups from the line may have been blocked by them.
        if empty && removed > 0 {
            continue;
        }
        if empty
            || !wants_another_pass(
                options,
                out.len(),
                &per_group,
                share(want, groups, options.max_per_group),
            )
        {
            break;
        }
    }
    Ok(out)
}

#[cfg(feature = "sqlite")]
async fn sqlite_reserve(
    pools: &crate::db::SqlitePools,
    options: &ReserveOptions,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    token: Uuid,
) -> Result<Vec<Reservation>> {
    if options.groups.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let mut tx = pools
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_err)?;
    // Due delayed jobs become ready: a range scan of the delayed index, empty when none is due.
    let promoted: Vec<String> = sqlx::query(
        "UPDATE queue_jobs SET state = 'waiting' WHERE seq IN ( \
             SELECT seq FROM queue_jobs WHERE state = 'delayed' AND run_at <= $1 \
             ORDER BY run_at LIMIT $2) \
         RETURNING grp",
    )
    .bind(Ts(now))
    .bind(PROMOTE_AT_MOST)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(|r| r.text("grp"))
    .collect::<Result<_>>()?;
    sqlite_mark_ready(&mut tx, promoted.iter().map(String::as_str)).await?;
    let mut out: Vec<Reservation> = Vec::new();
    for _ in 0..MAX_PASSES {
        let want = options.max - out.len();
        let (jobs, per_group, share, removed) =
            sqlite_reserve_pass(&mut tx, options, want, until, token).await?;
        let empty = jobs.is_empty();
        out.extend(jobs);
        // An empty pass that removed groups from the line may have been blocked by them.
        if (empty && removed == 0)
            || (!empty && !wants_another_pass(options, out.len(), &per_group, share))
        {
            break;
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(out)
}

/// SQLite: one pass of a reservation inside the caller's write transaction.
#[cfg(feature = "sqlite")]
async fn sqlite_reserve_pass(
    tx: &mut sqlx::SqliteConnection,
    options: &ReserveOptions,
    want: usize,
    until: DateTime<Utc>,
    token: Uuid,
) -> Result<(Vec<Reservation>, HashMap<String, usize>, usize, u64)> {
    let max = i64::try_from(want).unwrap_or(i64::MAX);
    // Groups in line (all have ready jobs, or just ran out), least recently served first.
    let mut qb = sqlx::QueryBuilder::new("SELECT grp FROM queue_groups WHERE 1 = 1");
    if let Some(only) = &options.groups {
        qb.push(" AND grp IN (");
        let mut list = qb.separated(", ");
        for g in only {
            list.push_bind(g.clone());
        }
        qb.push(")");
    }
    if !options.exclude_groups.is_empty() {
        qb.push(" AND grp NOT IN (");
        let mut list = qb.separated(", ");
        for g in &options.exclude_groups {
            list.push_bind(g.clone());
        }
        qb.push(")");
    }
    qb.push(" ORDER BY last_served, grp LIMIT ").push_bind(max);
    let groups: Vec<String> = qb
        .build()
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.text("grp"))
        .collect::<Result<_>>()?;
    let share = share(want, groups.len(), options.max_per_group);
    // One more than the share: a lane that comes back no longer than the share tells that
    // the group may run out in this pass.
    let peek = i64::try_from(share).unwrap_or(i64::MAX).saturating_add(1);
    // Each group's next jobs in priority order, then round-robin across the groups.
    let mut lanes: Vec<Vec<Uuid>> = Vec::with_capacity(groups.len());
    let mut short: Vec<&String> = Vec::new();
    for g in &groups {
        let mut ids = sqlx::query(
            "SELECT id FROM queue_jobs WHERE grp = $1 AND state = 'waiting' \
             ORDER BY priority DESC, run_at, seq LIMIT $2",
        )
        .bind(g)
        .bind(peek)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.uuid("id"))
        .collect::<Result<Vec<_>>>()?;
        if ids.len() <= share {
            short.push(g);
        }
        ids.truncate(share);
        lanes.push(ids);
    }
    let mut order: Vec<Uuid> = Vec::new();
    let mut rank = 0;
    while order.len() < want {
        let mut any = false;
        for lane in &lanes {
            if let Some(id) = lane.get(rank) {
                any = true;
                if order.len() < want {
                    order.push(*id);
                }
            }
        }
        if !any {
            break;
        }
        rank += 1;
    }
    if order.is_empty() {
        let removed = sqlite_forget_empty_groups(tx, short).await?;
        return Ok((Vec::new(), HashMap::new(), share, removed));
    }
    let mut qb = sqlx::QueryBuilder::new("UPDATE queue_jobs SET state = 'reserved', token = ");
    qb.push_bind(token)
        .push(", attempts = attempts + 1, reserved_until = ")
        .push_bind(Ts(until))
        .push(" WHERE id IN (");
    let mut list = qb.separated(", ");
    for id in &order {
        list.push_bind(*id);
    }
    qb.push(format!(") RETURNING {COLUMNS}"));
    let mut jobs: HashMap<Uuid, Job> = qb
        .build()
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| job_from_row(r).map(|j| (j.id.0, j)))
        .collect::<Result<_>>()?;
    let served: Vec<&String> = groups
        .iter()
        .zip(&lanes)
        .filter(|(_, lane)| !lane.is_empty())
        .map(|(g, _)| g)
        .collect();
    let mut qb = sqlx::QueryBuilder::new(
        "UPDATE queue_groups SET last_served = \
         (SELECT COALESCE(MAX(last_served), 0) + 1 FROM queue_groups) WHERE grp IN (",
    );
    let mut list = qb.separated(", ");
    for g in served {
        list.push_bind(g.clone());
    }
    qb.push(")");
    qb.build().execute(&mut *tx).await.map_err(db_err)?;
    let removed = sqlite_forget_empty_groups(tx, short).await?;
    let reserved: Vec<Reservation> = order
        .iter()
        .filter_map(|id| jobs.remove(id))
        .map(|job| reservation(job, token, until))
        .collect();
    let mut per_group: HashMap<String, usize> = HashMap::new();
    for r in &reserved {
        *per_group.entry(r.job.group.clone()).or_default() += 1;
    }
    Ok((reserved, per_group, share, removed))
}

/// SQLite: removes from the line the `candidates` that have no ready job left; returns how
/// many it removed. Runs inside the reservation's write transaction, after its jobs were
/// marked reserved; the single writer makes the check and the removal atomic.
#[cfg(feature = "sqlite")]
async fn sqlite_forget_empty_groups(
    tx: &mut sqlx::SqliteConnection,
    candidates: Vec<&String>,
) -> Result<u64> {
    let mut removed = 0;
    for g in candidates {
        removed += sqlx::query(
            "DELETE FROM queue_groups WHERE grp = $1 AND NOT EXISTS \
             (SELECT 1 FROM queue_jobs WHERE grp = $1 AND state = 'waiting')",
        )
        .bind(g)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    }
    Ok(removed)
}

impl SqlQueue {
    pub(crate) fn new(db: Db, settle: Db, recovered_at: Arc<AtomicI64>) -> Self {
        Self {
            db,
            settle,
            recovered_at,
        }
    }

    /// Connects by URL and applies the migrations; see
    /// [`SqlStore::connect`](crate::SqlStore::connect).
    pub async fn connect(url: &str) -> Result<Self> {
        Ok(crate::SqlStore::connect(url).await?.queue())
    }

    /// Refuses a lease that matched no reserved job: not found, or stale.
    async fn lease_error(&self, lease: &Lease) -> Error {
        let exists = on_read!(&self.db, |pool, _pg| {
            sqlx::query("SELECT 1 AS one FROM queue_jobs WHERE id = $1")
                .bind(lease.job_id.0)
                .fetch_optional(pool)
                .await
                .map(|r| r.is_some())
        });
        match exists {
            Ok(false) => Error::not_found("job", lease.job_id),
            Ok(true) => Error::conflict("job", "the lease expired or was already settled"),
            Err(e) => db_err(e),
        }
    }

    async fn enqueue_rows(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        let now = Utc::now();
        let rows: Vec<Row> = jobs.into_iter().map(|j| row(j, now)).collect();
        per_dialect!(&self.db,
            sqlite(pools) => sqlite_enqueue(pools, rows, now).await,
            postgres(pool) => pg_enqueue(pool, rows, now).await,
        )
    }
}

#[async_trait]
impl Queue for SqlQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        self.enqueue_rows(vec![job])
            .await?
            .pop()
            .ok_or_else(vanished)
    }

    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        self.enqueue_rows(jobs).await
    }

    async fn reserve(&self, options: &ReserveOptions) -> Result<Vec<Reservation>> {
        if options.max == 0 {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let until = now + delta("visibility", options.visibility)?;
        let last = self.recovered_at.load(Ordering::Relaxed);
        if now.timestamp_micros() - last >= RECOVER_EVERY_MICROS
            && self
                .recovered_at
                .compare_exchange(
                    last,
                    now.timestamp_micros(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.recover_expired().await?;
        }
        let token = Uuid::new_v4();
        per_dialect!(&self.settle,
            sqlite(pools) => sqlite_reserve(pools, options, now, until, token).await,
            postgres(pool) => pg_reserve(pool, options, now, until, token).await,
        )
    }

    async fn ack(&self, lease: &Lease) -> Result<()> {
        let n = on_write!(&self.settle, |pool, _pg| {
            sqlx::query(
                "DELETE FROM queue_jobs WHERE id = $1 AND token = $2 AND state = 'reserved'",
            )
            .bind(lease.job_id.0)
            .bind(lease.token)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        if n == 0 {
            return Err(self.lease_error(lease).await);
        }
        Ok(())
    }

    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<Lease>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let done: HashSet<Uuid> = per_dialect!(&self.settle,
            sqlite(pools) => sqlite_ack_many(pools, leases).await?,
            postgres(pool) => pg_ack_many(pool, leases).await?,
        );
        Ok(leases
            .iter()
            .filter(|l| !done.contains(&l.job_id.0))
            .copied()
            .collect())
    }

    async fn nack(
        &self,
        lease: &Lease,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<NackOutcome> {
        let state = update_jobs(
            &self.settle,
            "UPDATE queue_jobs SET \
             state = CASE WHEN attempts >= max_attempts THEN 'dead' \
                 WHEN $3 > $5 THEN 'delayed' ELSE 'waiting' END, \
             run_at = CASE WHEN attempts >= max_attempts THEN run_at ELSE $3 END, \
             last_error = $4, token = NULL, reserved_until = NULL \
             WHERE id = $1 AND token = $2 AND state = 'reserved' RETURNING state, grp",
            &[
                Arg::Id(lease.job_id.0),
                Arg::Id(lease.token),
                Arg::Time(retry_at),
                Arg::Text(error.to_owned()),
                Arg::Time(Utc::now()),
            ],
        )
        .await?
        .pop()
        .map(|(state, _)| state);
        match state.as_deref() {
            Some("dead") => Ok(NackOutcome::DeadLettered),
            Some(_) => Ok(NackOutcome::Retrying(retry_at)),
            None => Err(self.lease_error(lease).await),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let n = update_jobs(
            &self.settle,
            "UPDATE queue_jobs SET state = 'waiting', attempts = attempts - 1, \
             run_at = CASE WHEN run_at > $3 THEN $3 ELSE run_at END, \
             token = NULL, reserved_until = NULL \
             WHERE id = $1 AND token = $2 AND state = 'reserved' RETURNING state, grp",
            &[
                Arg::Id(lease.job_id.0),
                Arg::Id(lease.token),
                Arg::Time(Utc::now()),
            ],
        )
        .await?
        .len();
        if n == 0 {
            return Err(self.lease_error(lease).await);
        }
        Ok(())
    }

    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<DateTime<Utc>> {
        let until = Utc::now() + delta("visibility", visibility)?;
        let n = on_write!(&self.settle, |pool, _pg| {
            sqlx::query(
                "UPDATE queue_jobs SET reserved_until = $3 \
                 WHERE id = $1 AND token = $2 AND state = 'reserved'",
            )
            .bind(lease.job_id.0)
            .bind(lease.token)
            .bind(Ts(until))
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        if n == 0 {
            return Err(self.lease_error(lease).await);
        }
        Ok(until)
    }

    async fn recover_expired(&self) -> Result<u64> {
        // Ready again whatever the attempts: only `nack` dead-letters, so the job's next
        // holder learns that it ran out (see `Job::attempts`).
        let n = update_jobs(
            &self.settle,
            "UPDATE queue_jobs SET state = 'waiting', token = NULL, reserved_until = NULL \
             WHERE state = 'reserved' AND reserved_until <= $1 RETURNING state, grp",
            &[Arg::Time(Utc::now())],
        )
        .await?
        .len();
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        if n > 0 {
            tracing::info!(recovered = n, "expired queue reservations recovered");
        }
        Ok(n)
    }

    async fn stats(&self) -> Result<QueueStats> {
        let now = Ts(Utc::now());
        on_read!(&self.db, |pool, _pg| {
            let r = sqlx::query(
                "SELECT \
                 COUNT(CASE WHEN state = 'waiting' \
                     OR (state = 'delayed' AND run_at <= $1) THEN 1 END) AS ready, \
                 COUNT(CASE WHEN state = 'delayed' AND run_at > $1 THEN 1 END) AS delayed, \
                 COUNT(CASE WHEN state = 'reserved' THEN 1 END) AS reserved, \
                 COUNT(CASE WHEN state = 'dead' THEN 1 END) AS dead \
                 FROM queue_jobs",
            )
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            Ok(QueueStats {
                ready: to_u64(r.int("ready")?),
                delayed: to_u64(r.int("delayed")?),
                reserved: to_u64(r.int("reserved")?),
                dead: to_u64(r.int("dead")?),
            })
        })
    }

    async fn dead_letters(&self, page: Page) -> Result<Paged<Job>> {
        let after = cursor(&page)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM queue_jobs WHERE state = 'dead' AND ($1 IS NULL OR id > $1) \
             ORDER BY id LIMIT $2"
        );
        let items = on_read!(&self.db, |pool, _pg| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(overfetch(&page))
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(job_from_row)
                .collect::<Result<Vec<_>>>()?
        });
        Ok(Paged::from_overfetch(items, page.effective_limit(), |j| {
            j.id.to_string()
        }))
    }

    async fn retry_dead(&self, id: JobId, at: DateTime<Utc>) -> Result<()> {
        let n = update_jobs(
            &self.db,
            "UPDATE queue_jobs SET attempts = 0, run_at = $2, \
             state = CASE WHEN $2 > $3 THEN 'delayed' ELSE 'waiting' END \
             WHERE id = $1 AND state = 'dead' RETURNING state, grp",
            &[Arg::Id(id.0), Arg::Time(at), Arg::Time(Utc::now())],
        )
        .await?
        .len();
        if n == 0 {
            return Err(Error::not_found("dead letter", id));
        }
        Ok(())
    }
}

/// Deletes the jobs of live leases in one write transaction; returns the ids deleted.
#[cfg(feature = "sqlite")]
async fn sqlite_ack_many(
    pools: &crate::db::SqlitePools,
    leases: &[Lease],
) -> Result<HashSet<Uuid>> {
    let mut tx = pools
        .writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db_err)?;
    let mut done = HashSet::with_capacity(leases.len());
    for lease in leases {
        let n = sqlx::query(
            "DELETE FROM queue_jobs WHERE id = $1 AND token = $2 AND state = 'reserved'",
        )
        .bind(lease.job_id.0)
        .bind(lease.token)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if n > 0 {
            done.insert(lease.job_id.0);
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(done)
}

/// Deletes the jobs of live leases in one statement; returns the ids deleted.
#[cfg(feature = "postgres")]
async fn pg_ack_many(pool: &sqlx::PgPool, leases: &[Lease]) -> Result<HashSet<Uuid>> {
    let ids: Vec<Uuid> = leases.iter().map(|l| l.job_id.0).collect();
    let tokens: Vec<Uuid> = leases.iter().map(|l| l.token).collect();
    let rows = sqlx::query(
        "DELETE FROM queue_jobs j USING UNNEST($1::uuid[], $2::uuid[]) AS l(id, token) \
         WHERE j.id = l.id AND j.token = l.token AND j.state = 'reserved' RETURNING j.id",
    )
    .bind(&ids)
    .bind(&tokens)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter().map(|r| r.uuid("id")).collect()
}
