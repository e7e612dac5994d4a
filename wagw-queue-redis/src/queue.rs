//! [`RedisQueue`]: the [`Queue`] trait over Redis sorted sets and hashes, one Lua script per
//! operation.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use parking_lot::RwLock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Script, ScriptInvocation, Value};
use tokio::sync::watch;
use uuid::Uuid;
use wagw_core::ids::JobId;
use wagw_core::queue::{
    Enqueued, FleetLimits, Job, Lease, NackOutcome, NewJob, Queue, QueueStats, Reservation,
    ReserveOptions,
};
use wagw_core::store::{Page, Paged};
use wagw_core::{Error, Result};

use crate::error::{RedisQueueError, unexpected};
use crate::scripts;

/// Version of the key layout, written to the queue's meta record. 2: a job's fixed fields
/// packed into one hash field, a number's limit and TAT in one packed string.
const SCHEMA_VERSION: u32 = 2;
/// Jobs per enqueue script call: large enough to amortise the round trip, small enough that
/// one call blocks Redis for a few milliseconds at most.
const ENQUEUE_CHUNK: usize = 500;
/// Enqueue script calls of one batch in flight at once on the connection: Redis runs the
/// next chunk while this process encodes the one after and reads the previous reply, and
/// other callers sharing the connection wait behind a few chunks at most.
const ENQUEUE_IN_FLIGHT: usize = 4;
/// Leases per ack script call.
const ACK_CHUNK: usize = 1_000;
/// Expired leases recovered per recover script call.
const RECOVER_CHUNK: usize = 1_000;
/// Milliseconds that fit the ready score (2^44 ms is about 557 years after 1970).
const MAX_MS: i64 = (1 << 44) - 1;
// The largest ready score, (255 - 0) * 2^44 + MAX_MS, stays exact in a double.
const _: () = assert!(255 * (1_i64 << 44) + MAX_MS < 1 << 53);
/// Values per job in a reserve reply: id, token, then the job's [`JOB_FIELDS`].
const RESERVED_FIELDS: usize = 2 + JOB_FIELDS;
/// Values per job in a dead-letter page: id, then the job's [`JOB_FIELDS`].
const DEAD_FIELDS: usize = 1 + JOB_FIELDS;
/// A job's values in a reply: packed data, group, run-at, attempts, last error.
const JOB_FIELDS: usize = 5;
/// Bytes in front of a job's packed data: its created-at, a big-endian double of
/// milliseconds, which the enqueue script adds from Redis `TIME`.
const CREATED_LEN: usize = 8;
/// Bytes of the packed data before the dedup key: priority (1), max attempts (4), whether
/// there is a dedup key (1), its length (4).
const PACKED_HEAD: usize = 10;

/// A durable [`Queue`] in Redis, shared by any number of processes.
///
/// Every key of a queue starts with `{wagw:<name>}:`, so a queue lives in one Redis Cluster
/// slot. Each operation is one Lua script run by SHA (loaded at connect, loaded again after
/// `NOSCRIPT`); every time a script uses comes from Redis `TIME`, so the clocks of the
/// worker machines never matter. Cheap to share behind an `Arc`: it holds one multiplexed
/// connection that reconnects by itself.
///
/// It also enforces rates for every process together (see [`FleetLimits`] and the crate
/// documentation), and notices when Redis lost its data (see [`losses`](Self::losses)).
pub struct RedisQueue {
    conn: ConnectionManager,
    name: String,
    meta_key: String,
    epoch: RwLock<String>,
    created_at_connect: bool,
    losses: watch::Sender<u64>,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("name", &self.name)
            .field("epoch", &*self.epoch.read())
            .finish_non_exhaustive()
    }
}

/// Whether `name` can name a queue: letters, digits, `.`, `_`, `-` and `:`, so it needs no
/// escaping in a key pattern and cannot break the hash tag.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "queue name",
            "use 1 to 200 letters, digits, '.', '_', '-' or ':'",
        ))
    }
}

fn redis_err(e: redis::RedisError) -> Error {
    RedisQueueError::from_redis(e).into()
}

fn to_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().clamp(0, MAX_MS)
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .min(MAX_MS as u64)
}

fn items(value: Value) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(unexpected(format!("expected an array, got {other:?}"))),
    }
}

fn int(value: &Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(|f| f as i64)
            .ok_or_else(|| unexpected("a number that does not parse")),
        other => Err(unexpected(format!("expected a number, got {other:?}"))),
    }
}

fn bytes(value: &Value) -> Result<&[u8]> {
    match value {
        Value::BulkString(b) => Ok(b),
        other => Err(unexpected(format!("expected bytes, got {other:?}"))),
    }
}

fn text(value: &Value) -> Result<Option<String>> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(b) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
        other => Err(unexpected(format!("expected text, got {other:?}"))),
    }
}

fn job_id(value: &Value) -> Result<JobId> {
    Uuid::from_slice(bytes(value)?)
        .map(JobId::from)
        .map_err(|_| unexpected("a job id that is not 16 bytes"))
}

fn count(value: &Value) -> Result<u64> {
    u64::try_from(int(value)?).map_err(|_| unexpected("a negative count"))
}

/// A job's packed data, the `d` field of its hash minus the created-at the enqueue script puts
/// in front: priority, max attempts, dedup key (flag, length, bytes), then the payload. The
/// fields that never change travel as one value, so a job is one short `HSET` to write and
/// one short `HMGET` to read.
fn pack(job: &NewJob) -> Result<Vec<u8>> {
    let key = job.dedup_key.as_deref().unwrap_or("");
    let key_len = u32::try_from(key.len())
        .map_err(|_| Error::invalid_input("dedup key", "keep it under 4 GiB"))?;
    let mut out = Vec::with_capacity(PACKED_HEAD + key.len() + job.payload.len());
    out.push(job.priority);
    out.extend_from_slice(&job.max_attempts.max(1).to_be_bytes());
    out.push(u8::from(job.dedup_key.is_some()));
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&job.payload);
    Ok(out)
}

fn owned_bytes(value: Value) -> Result<Vec<u8>> {
    match value {
        Value::BulkString(b) => Ok(b),
        other => Err(unexpected(format!("expected bytes, got {other:?}"))),
    }
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.try_into().ok().map(u32::from_be_bytes)
}

/// A job from its id and the values `packed data, group, run_at, attempts, last error`
/// (see [`pack`]). The payload is a slice of the packed data, not a copy.
fn job_from(id: &Value, f: [Value; JOB_FIELDS]) -> Result<Job> {
    let [packed, group, run_at, attempts, last_error] = f;
    let d = owned_bytes(packed)?;
    let bad = || unexpected("a job's packed data is malformed");
    let created = d
        .get(..CREATED_LEN)
        .and_then(|b| b.try_into().ok())
        .map(f64::from_be_bytes)
        .ok_or_else(bad)?;
    let head = CREATED_LEN + PACKED_HEAD;
    if d.len() < head {
        return Err(bad());
    }
    let priority = d[CREATED_LEN];
    let max_attempts = be_u32(&d, CREATED_LEN + 1).ok_or_else(bad)?;
    let has_key = d[CREATED_LEN + 5] == 1;
    let key_len =
        usize::try_from(be_u32(&d, CREATED_LEN + 6).ok_or_else(bad)?).map_err(|_| bad())?;
    let key_end = head
        .checked_add(key_len)
        .filter(|end| *end <= d.len())
        .ok_or_else(bad)?;
    let dedup_key = has_key.then(|| String::from_utf8_lossy(&d[head..key_end]).into_owned());
    Ok(Job {
        id: job_id(id)?,
        payload: Bytes::from(d).slice(key_end..),
        group: text(&group)?.unwrap_or_default(),
        priority,
        run_at: from_ms(int(&run_at)?),
        dedup_key,
        attempts: u32::try_from(int(&attempts)?).map_err(|_| unexpected("attempts"))?,
        max_attempts,
        last_error: text(&last_error)?,
        created_at: from_ms(created as i64),
    })
}

/// The next `N` values of a reply.
fn next_values<const N: usize>(it: &mut impl Iterator<Item = Value>) -> Result<[Value; N]> {
    let v: Vec<Value> = it.take(N).collect();
    v.try_into()
        .map_err(|_| unexpected("a reply of the wrong length"))
}

/// A job on its way to the enqueue script.
struct Outgoing {
    id: JobId,
    job: NewJob,
    packed: Vec<u8>,
}

/// Where a job of an `enqueue_many` batch gets its answer.
#[derive(Clone, Copy)]
enum Planned {
    /// From the reply to the `i`-th job sent to Redis.
    Sent(usize),
    /// From the `i`-th job sent, which holds the same dedup key earlier in the batch.
    SameAs(usize),
}

/// What a lease check inside a script found.
fn lease_status(status: i64, lease: &Lease) -> Result<()> {
    match status {
        0 => Ok(()),
        1 => Err(Error::not_found("job", lease.job_id)),
        2 => Err(Error::conflict(
            "job",
            "the lease expired or was already settled",
        )),
        other => Err(unexpected(format!("lease status {other}"))),
    }
}

/// How [`RedisQueue::connect_with`] reaches Redis: timeouts, reconnection attempts and, with
/// the `tls` feature, which certificates to trust and to present.
///
/// ```
/// use std::time::Duration;
/// use wagw_queue_redis::ConnectOptions;
///
/// let options = ConnectOptions::new()
///     .connection_timeout(Duration::from_secs(2))
///     .retries(8);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    connection_timeout: Duration,
    response_timeout: Duration,
    retries: usize,
    #[cfg(feature = "tls")]
    tls: redis::TlsCertificates,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connection_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            retries: 4,
            #[cfg(feature = "tls")]
            tls: redis::TlsCertificates {
                client_tls: None,
                root_cert: None,
            },
        }
    }
}

impl ConnectOptions {
    /// Connection timeout 5 s, response timeout 10 s, 4 reconnection attempts; TLS trusts
    /// the system's root certificates.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long one connection attempt may take.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long Redis may take to answer one command (a script included).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How many times a lost connection is tried again, with growing delays, before a call
    /// fails.
    pub fn retries(mut self, retries: usize) -> Self {
        self.retries = retries;
        self
    }

    /// Trusts only the certificate authorities in `pem` (one or more PEM certificates) for a
    /// `rediss://` server, instead of the system's roots: for a private CA, as managed Redis
    /// services and self-hosted TLS set-ups use. The server's certificate must still name the
    /// host of the URL.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_cert = Some(pem.into());
        self
    }

    /// Presents a client certificate (PEM chain) and its private key (PEM) to a server that
    /// requires them (`tls-auth-clients yes`).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls_client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client_tls = Some(redis::ClientTlsConfig {
            client_cert: cert_pem.into(),
            client_key: key_pem.into(),
        });
        self
    }

    /// A client for `url` with these options' certificates.
    fn client(&self, url: &str) -> Result<redis::Client> {
        // TCP_NODELAY: enqueue pipelines several script calls and reservers share the
        // connection, so Nagle's algorithm would hold a request's last segment back until the
        // previous reply's ACK (up to the peer's delayed-ACK timeout, tens of milliseconds).
        let info = url.into_connection_info().map_err(redis_err)?;
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        let info = info.set_tcp_settings(tcp);
        #[cfg(feature = "tls")]
        {
            if url.starts_with("rediss://") {
                // rustls needs a process-wide crypto provider; install this crate's unless the
                // application chose one (first come, first served: a lost race is harmless).
                if rustls::crypto::CryptoProvider::get_default().is_none() {
                    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                }
                if self.tls.root_cert.is_some() || self.tls.client_tls.is_some() {
                    return redis::Client::build_with_tls(info, self.tls.clone())
                        .map_err(redis_err);
                }
            }
        }
        redis::Client::open(info).map_err(redis_err)
    }
}

impl RedisQueue {
    /// Connects to Redis at `url` and opens the queue `name`, creating it if it does not
    /// exist. Same as [`connect_with`](Self::connect_with) with default options.
    pub async fn connect(url: &str, name: &str) -> Result<Self> {
        Self::connect_with(url, name, &ConnectOptions::default()).await
    }

    /// Connects to Redis at `url` with `options` and opens the queue `name`, creating it if it
    /// does not exist.
    ///
    /// `url` is `redis://[user:password@]host[:port][/db]`, or with the `tls` feature
    /// `rediss://…`: the server's certificate is checked against the system's roots, or only
    /// against the CAs given to `ConnectOptions::tls_root_certificates`.
    /// A refused certificate fails with [`RedisQueueError::Tls`] (code `REDIS_TLS`, not
    /// transient). Certificate checks cannot be turned off: the `#insecure` URL fragment is
    /// refused.
    ///
    /// The connection goes to one server: a standalone Redis, a primary, or a Redis Cluster
    /// whose every slot that node serves. A queue's keys share one hash slot, but a
    /// multi-node cluster needs a client that follows `MOVED` redirections, which this one
    /// does not (see the crate documentation).
    pub async fn connect_with(url: &str, name: &str, options: &ConnectOptions) -> Result<Self> {
        check_name(name)?;
        let client = options.client(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connection_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.retries);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(redis_err)?;
        Self::with_connection(conn, name).await
    }

    /// Opens the queue `name` on an existing connection manager (for example one shared with
    /// other queues of the process), creating it if it does not exist.
    pub async fn with_connection(mut conn: ConnectionManager, name: &str) -> Result<Self> {
        check_name(name)?;
        for script in scripts::all() {
            script.load_async(&mut conn).await.map_err(redis_err)?;
        }
        warn_unless_noeviction(&mut conn).await;
        let meta_key = format!("{{wagw:{name}}}:meta");
        let (epoch, created) = init_meta(&mut conn, &meta_key).await?;
        let (losses, _) = watch::channel(0);
        Ok(Self {
            conn,
            name: name.to_owned(),
            meta_key,
            epoch: RwLock::new(epoch),
            created_at_connect: created,
            losses,
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prefix of every key of this queue, `{wagw:<name>}:`.
    pub fn key_prefix(&self) -> String {
        format!("{{wagw:{}}}:", self.name)
    }

    /// Whether this process created the queue when it connected: the queue is new, or Redis
    /// lost it before this process started. Either way jobs of messages the store holds as
    /// unsettled may be missing, and a rebuild from the store is in order.
    pub fn created_at_connect(&self) -> bool {
        self.created_at_connect
    }

    /// How many times this process found the queue's data lost, as a watch: it changes each
    /// time a script finds the queue's epoch missing or replaced (Redis restarted without
    /// persistence, failed over to an empty replica, or the keys were deleted). The queue is
    /// recreated empty at once; its jobs must be rebuilt from the store.
    pub fn losses(&self) -> watch::Receiver<u64> {
        self.losses.subscribe()
    }

    /// Deletes every key of the queue (`SCAN` + `UNLINK`, never `FLUSHDB`). Returns how many
    /// keys went. Other processes using the queue find it lost at their next call.
    pub async fn destroy(&self) -> Result<u64> {
        let pattern = format!("{}*", self.key_prefix());
        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1_000)
                .query_async(&mut conn)
                .await
                .map_err(redis_err)?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
                removed += n;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(removed)
    }

    /// Runs a script with the queue's meta key and epoch in front of the arguments `fill`
    /// adds. When the script finds the queue lost, the queue is recreated (or the epoch
    /// another process created is adopted) and the call made once more on it.
    async fn run(
        &self,
        script: &'static Script,
        fill: impl Fn(&mut ScriptInvocation<'static>),
    ) -> Result<Value> {
        for _ in 0..2 {
            let epoch = self.epoch.read().clone();
            let mut invocation = script.prepare_invoke();
            invocation.key(&self.meta_key).arg(&epoch);
            fill(&mut invocation);
            let mut conn = self.conn.clone();
            match invocation.invoke_async::<Value>(&mut conn).await {
                Ok(value) => return Ok(value),
                Err(e) if e.code() == Some("WAGW_LOST") => self.lost(&epoch).await?,
                Err(e) => return Err(redis_err(e)),
            }
        }
        Err(RedisQueueError::Lost.into())
    }

    /// The queue's data is gone: recreate it (or adopt the epoch another process created)
    /// and tell the watchers of [`losses`](Self::losses).
    async fn lost(&self, seen: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let (epoch, created) = init_meta(&mut conn, &self.meta_key).await?;
        let mut current = self.epoch.write();
        if *current == seen {
            tracing::error!(
                queue = %self.name,
                recreated_here = created,
                "the queue's data in Redis was lost; its jobs must be rebuilt from the store"
            );
            *current = epoch;
            drop(current);
            self.losses.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// One lease script call: `(status, value)`.
    async fn settle(
        &self,
        script: &'static Script,
        lease: &Lease,
        extra: impl Fn(&mut ScriptInvocation<'static>),
    ) -> Result<Vec<Value>> {
        let id = *lease.job_id.as_uuid().as_bytes();
        let token = *lease.token.as_bytes();
        let reply = self
            .run(script, |inv| {
                inv.arg(&id[..]).arg(&token[..]);
                extra(inv);
            })
            .await?;
        let values = match reply {
            Value::Array(items) => items,
            single => vec![single],
        };
        let status = values.first().map(int).transpose()?.unwrap_or(-1);
        lease_status(status, lease)?;
        Ok(values)
    }

    async fn enqueue_chunk(&self, jobs: &[Outgoing]) -> Result<Vec<Enqueued>> {
        let reply = self
            .run(&scripts::ENQUEUE, |inv| {
                inv.arg(jobs.len());
                for job in jobs {
                    inv.arg(&job.id.as_uuid().as_bytes()[..])
                        .arg(&job.packed[..])
                        .arg(&job.job.group)
                        .arg(
                            job.job
                                .run_at
                                .map(|t| to_ms(t).to_string())
                                .unwrap_or_default(),
                        )
                        .arg(if job.job.dedup_key.is_some() {
                            "1"
                        } else {
                            "0"
                        })
                        .arg(job.job.dedup_key.as_deref().unwrap_or(""));
                }
            })
            .await?;
        let ids = items(reply)?;
        if ids.len() != jobs.len() {
            return Err(unexpected("an enqueue reply of the wrong length"));
        }
        jobs.iter()
            .zip(&ids)
            .map(|(Outgoing { id, .. }, got)| {
                let got = job_id(got)?;
                Ok(if got == *id {
                    Enqueued::Created(got)
                } else {
                    Enqueued::Duplicate(got)
                })
            })
            .collect()
    }

    async fn ack_chunk(&self, leases: &[Lease]) -> Result<Vec<(usize, i64)>> {
        let reply = self
            .run(&scripts::ACK, |inv| {
                inv.arg(leases.len());
                for lease in leases {
                    inv.arg(&lease.job_id.as_uuid().as_bytes()[..])
                        .arg(&lease.token.as_bytes()[..]);
                }
            })
            .await?;
        items(reply)?
            .chunks_exact(2)
            .map(|pair| {
                let position = usize::try_from(int(&pair[0])? - 1)
                    .map_err(|_| unexpected("a stale lease position"))?;
                if position >= leases.len() {
                    return Err(unexpected("a stale lease position"));
                }
                Ok((position, int(&pair[1])?))
            })
            .collect()
    }
}

/// Creates the meta record unless it exists; returns the epoch in force and whether it was
/// created now.
async fn init_meta(conn: &mut ConnectionManager, meta_key: &str) -> Result<(String, bool)> {
    let fresh = Uuid::new_v4().simple().to_string();
    let reply: Value = scripts::INIT
        .key(meta_key)
        .arg(&fresh)
        .arg(SCHEMA_VERSION)
        .invoke_async(conn)
        .await
        .map_err(redis_err)?;
    let values = items(reply)?;
    let (Some(epoch), Some(created)) = (values.first(), values.get(1)) else {
        return Err(unexpected("an init reply of the wrong length"));
    };
    Ok((text(epoch)?.unwrap_or_default(), int(created)? == 1))
}

/// Redis must never evict queue keys: an evicted job is a lost message. Managed services may
/// refuse `CONFIG GET`; then nothing is said.
async fn warn_unless_noeviction(conn: &mut ConnectionManager) {
    let policy: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(conn)
        .await;
    if let Ok(values) = policy
        && let Some(policy) = values.get(1)
        && policy != "noeviction"
    {
        tracing::warn!(
            policy = %policy,
            "Redis may evict queue keys under memory pressure; set maxmemory-policy noeviction"
        );
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        let mut out = self.enqueue_many(vec![job]).await?;
        out.pop()
            .ok_or_else(|| unexpected("an empty reply to one enqueue"))
    }

    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        // A dedup key repeated in the batch: only its first job goes to Redis, and the later
        // ones get the first one's answer, as if the jobs had been enqueued one after the
        // other. So no chunk depends on another and the chunks can be pipelined.
        let mut first_with_key: HashMap<&str, usize> = HashMap::new();
        let mut plan = Vec::with_capacity(jobs.len());
        let mut sent = 0;
        for job in &jobs {
            match job
                .dedup_key
                .as_deref()
                .and_then(|key| first_with_key.get(key))
            {
                Some(&position) => plan.push(Planned::SameAs(position)),
                None => {
                    if let Some(key) = job.dedup_key.as_deref() {
                        first_with_key.insert(key, sent);
                    }
                    plan.push(Planned::Sent(sent));
                    sent += 1;
                }
            }
        }
        drop(first_with_key);
        let to_send = jobs
            .into_iter()
            .zip(&plan)
            .filter(|(_, planned)| matches!(planned, Planned::Sent(_)))
            .map(|(job, _)| {
                Ok(Outgoing {
                    id: JobId::new(),
                    packed: pack(&job)?,
                    job,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Buffered keeps the chunks' order: they are written to the connection, and so run
        // by Redis, one after the other.
        let calls: Vec<_> = to_send
            .chunks(ENQUEUE_CHUNK)
            .map(|chunk| self.enqueue_chunk(chunk))
            .collect();
        let replies: Vec<Vec<Enqueued>> = stream::iter(calls)
            .buffered(ENQUEUE_IN_FLIGHT)
            .try_collect()
            .await?;
        let created: Vec<Enqueued> = replies.into_iter().flatten().collect();
        plan.iter()
            .map(|planned| match *planned {
                Planned::Sent(i) => created.get(i).copied(),
                Planned::SameAs(i) => created.get(i).map(|first| Enqueued::Duplicate(first.id())),
            })
            .map(|got| got.ok_or_else(|| unexpected("an enqueue reply of the wrong length")))
            .collect()
    }

    async fn reserve(&self, options: &ReserveOptions) -> Result<Vec<Reservation>> {
        if options.max == 0 {
            return Ok(Vec::new());
        }
        let token_base = *Uuid::new_v4().as_bytes();
        let reply = self
            .run(&scripts::RESERVE, |inv| {
                inv.arg(options.max)
                    .arg(millis(options.visibility))
                    .arg(options.max_per_group.unwrap_or(0))
                    .arg(&token_base[..12]);
                match &options.groups {
                    Some(groups) => {
                        inv.arg(groups.len());
                        for g in groups {
                            inv.arg(g);
                        }
                    }
                    None => {
                        inv.arg(-1);
                    }
                }
                inv.arg(options.exclude_groups.len());
                for g in &options.exclude_groups {
                    inv.arg(g);
                }
            })
            .await?;
        let values = items(reply)?;
        if values.len() < 3 {
            return Err(unexpected("a reserve reply without its head"));
        }
        let expires_at = from_ms(int(&values[1])?);
        let taken = usize::try_from(int(&values[2])?).unwrap_or_default();
        if values.len() - 3 != taken * RESERVED_FIELDS {
            return Err(unexpected("a reserve reply of the wrong length"));
        }
        let mut body = values.into_iter().skip(3);
        (0..taken)
            .map(|_| {
                let [id, token] = next_values(&mut body)?;
                let token = Uuid::from_slice(bytes(&token)?)
                    .map_err(|_| unexpected("a lease token that is not 16 bytes"))?;
                let job = job_from(&id, next_values(&mut body)?)?;
                Ok(Reservation {
                    lease: Lease {
                        job_id: job.id,
                        token,
                    },
                    job,
                    expires_at,
                })
            })
            .collect()
    }

    async fn ack(&self, lease: &Lease) -> Result<()> {
        match self.ack_chunk(std::slice::from_ref(lease)).await?.first() {
            None => Ok(()),
            Some((_, status)) => lease_status(*status, lease),
        }
    }

    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<Lease>> {
        let mut stale = Vec::new();
        for chunk in leases.chunks(ACK_CHUNK) {
            for (position, _) in self.ack_chunk(chunk).await? {
                stale.push(chunk[position]);
            }
        }
        Ok(stale)
    }

    async fn nack(
        &self,
        lease: &Lease,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<NackOutcome> {
        let values = self
            .settle(&scripts::NACK, lease, |inv| {
                inv.arg(to_ms(retry_at)).arg(error);
            })
            .await?;
        let dead = values.get(1).map(int).transpose()?.unwrap_or_default() == 1;
        Ok(if dead {
            NackOutcome::DeadLettered
        } else {
            NackOutcome::Retrying(retry_at)
        })
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.settle(&scripts::RELEASE, lease, |_| {}).await?;
        Ok(())
    }

    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<DateTime<Utc>> {
        let values = self
            .settle(&scripts::EXTEND, lease, |inv| {
                inv.arg(millis(visibility));
            })
            .await?;
        let expires = values
            .get(1)
            .ok_or_else(|| unexpected("an extend reply without expiry"))?;
        Ok(from_ms(int(expires)?))
    }

    async fn recover_expired(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = count(
                &self
                    .run(&scripts::RECOVER, |inv| {
                        inv.arg(RECOVER_CHUNK);
                    })
                    .await?,
            )?;
            total += n;
            if n < RECOVER_CHUNK as u64 {
                return Ok(total);
            }
        }
    }

    async fn stats(&self) -> Result<QueueStats> {
        let values = items(self.run(&scripts::STATS, |_| {}).await?)?;
        let [ready, delayed, reserved, dead] = values.as_slice() else {
            return Err(unexpected("a stats reply of the wrong length"));
        };
        Ok(QueueStats {
            ready: count(ready)?,
            delayed: count(delayed)?,
            reserved: count(reserved)?,
            dead: count(dead)?,
        })
    }

    async fn dead_letters(&self, page: Page) -> Result<Paged<Job>> {
        let limit = page.effective_limit();
        let after = page
            .after
            .as_deref()
            .map(str::parse::<JobId>)
            .transpose()?
            .map(|id| id.as_uuid().as_bytes().to_vec())
            .unwrap_or_default();
        let values = items(
            self.run(&scripts::DEAD_PAGE, |inv| {
                inv.arg(&after[..]).arg(limit + 1);
            })
            .await?,
        )?;
        if values.len() % DEAD_FIELDS != 0 {
            return Err(unexpected("a dead-letter page of the wrong length"));
        }
        let count = values.len() / DEAD_FIELDS;
        let mut body = values.into_iter();
        let jobs = (0..count)
            .map(|_| {
                let [id] = next_values(&mut body)?;
                job_from(&id, next_values(&mut body)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Paged::from_overfetch(jobs, limit, |j| j.id.to_string()))
    }

    async fn retry_dead(&self, id: JobId, at: DateTime<Utc>) -> Result<()> {
        let reply = self
            .run(&scripts::RETRY_DEAD, |inv| {
                inv.arg(&id.as_uuid().as_bytes()[..]).arg(to_ms(at));
            })
            .await?;
        match int(&reply)? {
            0 => Ok(()),
            _ => Err(Error::not_found("dead letter", id)),
        }
    }

    fn fleet_limits(&self) -> Option<&dyn FleetLimits> {
        Some(self)
    }

    fn data_generation(&self) -> u64 {
        *self.losses.borrow()
    }
}

#[async_trait]
impl FleetLimits for RedisQueue {
    async fn set_rate(&self, group: &str, per_second: u32, burst: u32) -> Result<u32> {
        let reply = self
            .run(&scripts::SET_LIMIT, |inv| {
                inv.arg(group).arg(per_second).arg(burst.max(1));
            })
            .await?;
        u32::try_from(int(&reply)?).map_err(|_| unexpected("a rate"))
    }

    async fn throttled(&self, group: &str, pause: Duration) -> Result<u32> {
        let reply = self
            .run(&scripts::THROTTLE, |inv| {
                inv.arg(group).arg(millis(pause));
            })
            .await?;
        u32::try_from(int(&reply)?).map_err(|_| unexpected("a rate"))
    }

    async fn take_pair(
        &self,
        group: &str,
        key: &str,
        every: Duration,
        burst: u32,
    ) -> Result<Option<Duration>> {
        let reply = self
            .run(&scripts::PAIR, |inv| {
                // Fractional: a send slot at 80/s is 12.5 ms, and 12 would be 83/s.
                inv.arg(group)
                    .arg(key)
                    .arg(format!("{:.3}", (every.as_secs_f64() * 1e3).max(0.001)))
                    .arg(burst.max(1));
            })
            .await?;
        Ok(match count(&reply)? {
            0 => None,
            wait => Some(Duration::from_millis(wait)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_cannot_break_the_hash_tag_or_a_key_pattern() {
        for good in ["wagw", "blast-01", "tenant.a:numbers_1"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a}b", "a{b", "a*", "a b", "a[0]", &"x".repeat(201)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_fit_the_ready_score() {
        assert_eq!(to_ms(DateTime::<Utc>::MIN_UTC), 0);
        assert_eq!(to_ms(DateTime::<Utc>::MAX_UTC), MAX_MS);
        let now = Utc::now();
        assert_eq!(
            from_ms(to_ms(now)).timestamp_millis(),
            now.timestamp_millis()
        );
    }
}
