//! # wagw-queue-redis
//!
//! A [`Queue`](wagw_core::Queue) in Redis for fleets of worker processes, with rate limits
//! that hold across all of them. [`RedisQueue`] passes wagw-core's queue conformance suite.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use wagw_core::queue::{NewJob, ReserveOptions};
//! use wagw_core::Queue;
//! use wagw_queue_redis::RedisQueue;
//!
//! # async fn run() -> wagw_core::Result<()> {
//! let queue = Arc::new(RedisQueue::connect("redis://127.0.0.1:6379", "wagw").await?);
//! queue.enqueue(NewJob::new("number-628123456789", "payload")).await?;
//! let jobs = queue.reserve(&ReserveOptions::new(256, Duration::from_secs(60))).await?;
//! let stale = queue.ack_many(&jobs.iter().map(|r| r.lease).collect::<Vec<_>>()).await?;
//! assert!(stale.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! ## Which queue to use
//!
//! - **One process sends** (the embedded default, a single gateway): the memory or SQL queue.
//!   Each number's rate and the pair limit live in the dispatcher's memory, which is exact
//!   while that process is the only one sending.
//! - **Several processes send** (many workers on many machines): this queue. Two dispatchers
//!   with per-process limits would send each number at twice its rate; here a number's rate
//!   is charged inside [`reserve`](wagw_core::Queue::reserve) for the whole fleet, a 130429
//!   seen by one process slows the number for all, and the pair limit is one bucket per
//!   (number, recipient) in Redis. The dispatcher finds these through
//!   [`Queue::fleet_limits`](wagw_core::Queue::fleet_limits) by itself. Right before each
//!   send it also takes one of the number's fleet-wide send slots, so jobs reserved on time
//!   but delayed on their way (a slow store, a stalled process) never meet other processes'
//!   sends in a burst past the number's rate; its in-process limiters stay as smoothers.
//!
//! ## TLS
//!
//! With the `tls` feature a `rediss://` URL connects through rustls (aws-lc-rs as its crypto
//! provider, installed for the process unless the application installed one). The server's
//! certificate is checked against the system's roots, or against a private CA given with
//! `ConnectOptions::tls_root_certificates`; a client certificate for servers that ask for one
//! goes in `ConnectOptions::tls_client_certificate` (both with the `tls` feature). A
//! certificate the client refuses fails the connect with [`RedisQueueError::Tls`]. There is
//! no switch to skip the check (the `#insecure` URL fragment is refused).
//!
//! ```no_run
//! # #[cfg(feature = "tls")]
//! # async fn run(ca_pem: Vec<u8>) -> wagw_core::Result<()> {
//! use wagw_queue_redis::{ConnectOptions, RedisQueue};
//!
//! let options = ConnectOptions::new().tls_root_certificates(ca_pem);
//! let queue = RedisQueue::connect_with("rediss://redis.internal:6380", "wagw", &options).await?;
//! # let _ = queue;
//! # Ok(())
//! # }
//! ```
//!
//! ## Redis Cluster: what works
//!
//! Every key starts with `{wagw:<name>}:`, so all of a queue's keys hash to one Cluster slot,
//! and each script touches keys of that slot only (Redis 7 in cluster mode refuses a script
//! that strays to another slot; the tests run the whole queue on a cluster-mode server to
//! prove it does not). What that gives:
//!
//! - **Supported**: a standalone Redis (a primary, with or without replicas, as managed
//!   services offer it with "cluster mode disabled"), and a Redis Cluster of one shard (one
//!   primary serving all 16,384 slots), reached through the URL of that primary.
//! - **Not supported**: connecting [`RedisQueue`] straight to a cluster of several shards. Its
//!   connection goes to the one node of the URL and does not follow `MOVED`/`ASK`
//!   redirections, so a queue whose slot lives on another node fails with a `MOVED` error.
//!   That needs a cluster client (`redis::cluster_async`), which this crate does not have
//!   yet. Until then, run one Redis (or one shard) per set of queues.
//!
//! A queue is one slot, and so one shard's work: a fleet that outgrows one Redis splits its
//! numbers across queues (a number and its pairs then stay on one shard).
//!
//! ## Layout
//!
//! | key | type | holds |
//! |---|---|---|
//! | `meta` | hash | epoch, schema version: detects lost data |
//! | `j:<id>` | hash | one job: its fixed fields packed in one value (created-at, priority, max attempts, dedup key, payload), group, run-at, attempts, lease token, last error |
//! | `r:<group>` | sorted set | the group's ready jobs by priority, then run-at, then id |
//! | `groups` | sorted set | groups with ready jobs, by when they are next eligible |
//! | `delayed`, `leases` | sorted sets | jobs by run-at; reserved jobs by lease expiry |
//! | `dedup` | hash | dedup key → job |
//! | `dead` | sorted set | dead letters, in id order |
//! | `counts` | hash | ready jobs |
//! | `l:<group>` | string | the group's fleet-wide rate, throttle back-off and GCRA TAT, packed |
//! | `p:<group>:<key>` | string, expiring | a pair's GCRA state |
//!
//! Only sorted sets and hashes: no lists to scan, no lock keys, no event stream. Expired
//! leases are found with one range query on `leases`. Every time comes from Redis `TIME`.
//!
//! ## Durability: run Redis with AOF
//!
//! Redis without persistence (`--save "" --appendonly no`) loses every job when it restarts.
//! This queue notices (each script checks the queue's epoch in `meta`, see
//! [`RedisQueue::losses`]) and recreates the queue empty; the messages themselves are safe
//! in the store, which records each message before its job is queued. A running dispatcher
//! then rebuilds the queue from the store
//! ([`Dispatcher::rebuild_queue`](wagw_core::dispatch::Dispatcher::rebuild_queue)): every
//! message still `queued` gets its job back, and every message left `sending` (its attempt
//! recorded, its outcome lost with the job) is settled as an unknown outcome by the
//! dispatcher's `UnknownOutcome` policy — counted ambiguous, then sent again or failed —
//! never left `sending`. A process that finds the queue created empty at start
//! ([`RedisQueue::created_at_connect`]) should call the rebuild itself. For production, run
//! Redis with
//!
//! ```text
//! appendonly yes
//! appendfsync everysec      # at most about a second of queue writes lost on a crash
//! maxmemory-policy noeviction
//! ```
//!
//! `noeviction` matters as much as AOF: an evicted job is a lost message. The queue warns at
//! connect when the policy is anything else.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod queue;
mod scripts;

pub use error::RedisQueueError;
pub use queue::{ConnectOptions, RedisQueue};
