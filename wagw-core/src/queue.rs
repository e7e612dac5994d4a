//! The [`Queue`]: durable jobs with run-at, priority, deduplication, visibility timeouts,
//! retries, dead letters, and fairness across groups.
//!
//! A job belongs to a *group* (the sending channel). [`reserve`](Queue::reserve) takes jobs
//! round-robin across groups, so one number's blast never starves another number; inside a
//! group, higher priority goes first, then earlier `run_at`, then insertion order.
//!
//! A reservation's cost follows the jobs it returns: groups that hold nothing ready and jobs
//! that are not due yet must not slow it down, however many there are.
//!
//! Dead letters: only [`nack`](Queue::nack) puts a job there. An expired reservation makes
//! the job ready again even past its last attempt, so the job's next holder always learns of
//! it (see [`Job::attempts`]).
//!
//! ## Fleet-wide limits
//!
//! A queue shared by many processes may also enforce each group's rate for all of them
//! together: it then returns its [`FleetLimits`] from [`Queue::fleet_limits`], and
//! [`reserve`](Queue::reserve) hands out a group's jobs only as fast as its rate allows. The
//! dispatcher writes each number's rate there, reports throttles there, and takes pair-limit
//! slots and, right before each send, its number's send slot there; its in-process limiters
//! stay as smoothers. Queues that return `None` (the memory and SQL queues) leave every
//! limit to each process, which is exact only while one process sends for a number.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::JobId;
use crate::store::{Page, Paged};
use crate::{ErrorCode, Result};

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Opaque payload (the dispatcher stores a small JSON reference to a message).
    pub payload: Bytes,
    /// Fairness key: jobs are reserved round-robin across groups.
    pub group: String,
    /// Higher runs first within the group.
    pub priority: u8,
    /// Not before this time; `None` is now.
    pub run_at: Option<DateTime<Utc>>,
    /// While a job with this key is in the queue (ready, delayed, reserved or dead), another
    /// enqueue with the same key is a duplicate. The key is free again after `ack`.
    pub dedup_key: Option<String>,
    /// Attempts before a [`nack`](Queue::nack) sends the job to the dead letters.
    pub max_attempts: u32,
}

impl NewJob {
    /// Default attempts before dead-lettering.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

    /// A job due now, priority 0, default attempts.
    pub fn new(group: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            payload: payload.into(),
            group: group.into(),
            priority: 0,
            run_at: None,
            dedup_key: None,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Delays the job until `at`.
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Sets the deduplication key.
    pub fn dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }

    /// Sets the attempts before dead-lettering (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
}

/// A job as the queue holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Identifier.
    pub id: JobId,
    /// Payload.
    pub payload: Bytes,
    /// Fairness group.
    pub group: String,
    /// Priority.
    pub priority: u8,
    /// When it is (or was) due.
    pub run_at: DateTime<Utc>,
    /// Deduplication key.
    pub dedup_key: Option<String>,
    /// Reservations so far, the current one included.
    ///
    /// It may exceed [`max_attempts`](Self::max_attempts): a reservation that expires (its
    /// holder died or stalled) always makes the job ready again with its attempt counted,
    /// because only the holder can settle what the job stands for. A holder that receives a
    /// job with `attempts > max_attempts` settles it as out of attempts (the dispatcher fails
    /// its message with a reason), then [`nack`](Queue::nack)s it to the dead letters or
    /// [`ack`](Queue::ack)s it.
    pub attempts: u32,
    /// Attempts before a [`nack`](Queue::nack) sends the job to the dead letters.
    pub max_attempts: u32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// Proof of a reservation: only its holder can ack, nack, release or extend the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// Changes with every reservation, so a lease that expired and was taken over is refused.
    pub token: uuid::Uuid,
}

/// A reserved job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The job.
    pub job: Job,
    /// The lease to settle it with.
    pub lease: Lease,
    /// When the reservation expires and the job becomes available again.
    pub expires_at: DateTime<Utc>,
}

/// The result of an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job.
    Created(JobId),
    /// A job with the same deduplication key is already queued; this is its id.
    Duplicate(JobId),
}

impl Enqueued {
    /// The id of the new or existing job.
    pub fn id(self) -> JobId {
        match self {
            Self::Created(id) | Self::Duplicate(id) => id,
        }
    }
}

/// What to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveOptions {
    /// At most this many jobs.
    pub max: usize,
    /// How long the jobs stay hidden from other workers.
    pub visibility: Duration,
    /// Only these groups; `None` is all.
    pub groups: Option<Vec<String>>,
    /// Never these groups (for example numbers that already hold enough reserved jobs).
    pub exclude_groups: Vec<String>,
    /// At most this many jobs from any one group in this reservation; `None` is no cap.
    pub max_per_group: Option<usize>,
}

impl ReserveOptions {
    /// Up to `max` jobs of any group, hidden for `visibility`.
    pub fn new(max: usize, visibility: Duration) -> Self {
        Self {
            max,
            visibility,
            groups: None,
            exclude_groups: Vec::new(),
            max_per_group: None,
        }
    }

    /// Restricts the reservation to these groups.
    pub fn groups(mut self, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Leaves these groups out of the reservation.
    pub fn exclude(mut self, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.exclude_groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Takes at most `cap` jobs from any one group.
    pub fn max_per_group(mut self, cap: usize) -> Self {
        self.max_per_group = Some(cap);
        self
    }
}

/// What a nack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NackOutcome {
    /// The job will run again at this time.
    Retrying(DateTime<Utc>),
    /// The job used its last attempt and is now a dead letter.
    DeadLettered,
}

/// Counts of jobs by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Due now.
    pub ready: u64,
    /// Due later.
    pub delayed: u64,
    /// Reserved by a worker.
    pub reserved: u64,
    /// Dead letters.
    pub dead: u64,
}

impl QueueStats {
    /// Jobs still to be processed (ready, delayed or reserved).
    pub fn pending(&self) -> u64 {
        self.ready + self.delayed + self.reserved
    }
}

/// A durable job queue. A lease that is stale (expired and taken over, or already settled)
/// is refused with [`Conflict`](crate::Error::Conflict).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Adds a job.
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued>;
    /// Adds many jobs in one go; results are in input order.
    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>>;
    /// Reserves up to `options.max` due jobs, round-robin across groups.
    async fn reserve(&self, options: &ReserveOptions) -> Result<Vec<Reservation>>;
    /// Completes a job: it leaves the queue and its deduplication key is freed.
    async fn ack(&self, lease: &Lease) -> Result<()>;
    /// Completes many jobs in one go, as [`ack`](Self::ack) would one by one. Stale leases are
    /// not an error here: they come back in the result, so one late lease never fails the
    /// batch. Backends override this to settle a batch in one round trip.
    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<Lease>> {
        let mut stale = Vec::new();
        for lease in leases {
            match self.ack(lease).await {
                Ok(()) => {}
                Err(e) if matches!(e.code(), ErrorCode::Conflict | ErrorCode::NotFound) => {
                    stale.push(*lease);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(stale)
    }
    /// Fails an attempt: the job runs again at `retry_at`, or becomes a dead letter when its
    /// `attempts` have reached `max_attempts` (`attempts >= max_attempts`, which includes a
    /// job redelivered past its last attempt after an expiry). `nack` is the only way into
    /// the dead letters.
    async fn nack(
        &self,
        lease: &Lease,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<NackOutcome>;
    /// Gives a job back unprocessed (graceful shutdown): ready now, the attempt not counted.
    async fn release(&self, lease: &Lease) -> Result<()>;
    /// Extends a reservation by `visibility` from now; returns the new expiry.
    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<DateTime<Utc>>;
    /// Makes jobs whose reservation expired ready again, with the expired attempt counted.
    /// Returns how many were recovered. Workers call it periodically (backends may also run
    /// it inside [`reserve`](Self::reserve)).
    ///
    /// Expiry never dead-letters, not even on the last attempt: the job's holder is the only
    /// one who can settle what the job stands for (a message must reach a terminal state), so
    /// the job comes back, possibly with `attempts > max_attempts`, and the next holder
    /// decides (see [`Job::attempts`]). A job only becomes a dead letter through
    /// [`nack`](Self::nack).
    async fn recover_expired(&self) -> Result<u64>;
    /// Counts jobs by state.
    async fn stats(&self) -> Result<QueueStats>;
    /// Lists dead letters, oldest first.
    async fn dead_letters(&self, page: Page) -> Result<Paged<Job>>;
    /// Moves a dead letter back to the queue with fresh attempts, due at `at`.
    async fn retry_dead(&self, id: JobId, at: DateTime<Utc>) -> Result<()>;
    /// The limits this queue enforces for every process that uses it, if any (see the
    /// [module documentation](self)). The default is `None`: limits are each process's own.
    fn fleet_limits(&self) -> Option<&dyn FleetLimits> {
        None
    }
    /// Changes each time the queue found that its data was lost (for example Redis restarted
    /// without persistence): its jobs are gone and must be rebuilt from the store, which
    /// records every message before its job is queued. The dispatcher watches it and
    /// rebuilds by itself. The default, for queues that cannot lose their data apart from
    /// the store, never changes.
    fn data_generation(&self) -> u64 {
        0
    }
}

/// Rate limits a [`Queue`] enforces across every process that uses it.
///
/// A group with a rate set here is charged inside [`Queue::reserve`]: a reservation only
/// returns jobs of groups that have capacity now, so however many processes reserve, the
/// group's jobs leave the queue at its rate. Methods take effect for every process at once.
#[async_trait]
pub trait FleetLimits: Send + Sync {
    /// Sets a group's rate in jobs per second with bursts of `burst`; `0` removes the limit.
    /// A group slowed down by [`throttled`](Self::throttled) stays below the new rate and
    /// wins rate back from there. Returns the rate in force now.
    async fn set_rate(&self, group: &str, per_second: u32, burst: u32) -> Result<u32>;
    /// The far side said the group sends too fast: every process slows it by a quarter and
    /// pauses it for `pause`; it wins back a tenth of its rate per calm ten seconds. Returns
    /// the new rate (`0` when the group has no rate here).
    async fn throttled(&self, group: &str, pause: Duration) -> Result<u32>;
    /// Takes one message of the pair (group, `key`) from a bucket of `burst` messages that
    /// earns one every `every`, shared by every process. `None` when it was taken, otherwise
    /// how long to wait before asking again.
    async fn take_pair(
        &self,
        group: &str,
        key: &str,
        every: Duration,
        burst: u32,
    ) -> Result<Option<Duration>>;

    /// Takes one of the group's send slots, from a bucket like [`take_pair`](Self::take_pair)'s
    /// shared by every process and keyed by the group alone (an empty key, which no recipient
    /// has). The dispatcher takes one right before each send: reservations hand jobs out at
    /// the group's rate, but a stall between a reservation and its send (a slow store, a
    /// paused process) would otherwise let one process's late jobs meet another's on time,
    /// and the number send past its rate for a moment.
    async fn take_send_slot(
        &self,
        group: &str,
        every: Duration,
        burst: u32,
    ) -> Result<Option<Duration>> {
        self.take_pair(group, "", every, burst).await
    }
}
