//! [`MemoryQueue`]: the `Queue` trait over in-process indexes.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use uuid::Uuid;
use wagw_core::ids::JobId;
use wagw_core::queue::{
    Enqueued, Job, Lease, NackOutcome, NewJob, Queue, QueueStats, Reservation, ReserveOptions,
};
use wagw_core::store::{Page, Paged};
use wagw_core::{Error, Result};

/// An in-memory [`Queue`]: jobs live as long as the value.
///
/// Ready jobs are indexed per group, and groups with ready jobs sit in a ring that
/// `reserve` walks, taking one job per group per turn; that is the fairness the trait
/// promises. Expired reservations are also recovered at every `reserve`, always back to
/// ready (never to the dead letters; only `nack` puts a job there).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    state: Mutex<QueueState>,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Order of ready jobs inside a group: priority (high first), due time, then arrival.
type ReadyKey = (Reverse<u8>, DateTime<Utc>, u64, JobId);

#[derive(Debug, Default)]
struct QueueState {
    jobs: HashMap<JobId, Entry>,
    dedup: HashMap<String, JobId>,
    ready: HashMap<String, BTreeSet<ReadyKey>>,
    ring: VecDeque<String>,
    delayed: BTreeSet<(DateTime<Utc>, u64, JobId)>,
    reserved: BTreeSet<(DateTime<Utc>, JobId)>,
    dead: BTreeSet<JobId>,
    seq: u64,
}

#[derive(Debug)]
struct Entry {
    job: Job,
    seq: u64,
    state: EntryState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryState {
    Ready,
    Delayed,
    Reserved { token: Uuid, until: DateTime<Utc> },
    Dead,
}

fn delta(d: Duration) -> Result<TimeDelta> {
    TimeDelta::from_std(d).map_err(|_| Error::invalid_input("visibility", "is too long"))
}

impl QueueState {
    fn enqueue(&mut self, new: NewJob, now: DateTime<Utc>) -> Enqueued {
        if let Some(existing) = new.dedup_key.as_ref().and_then(|k| self.dedup.get(k)) {
            return Enqueued::Duplicate(*existing);
        }
        let id = JobId::new();
        self.seq += 1;
        let job = Job {
            id,
            payload: new.payload,
            group: new.group,
            priority: new.priority,
            run_at: new.run_at.unwrap_or(now),
            dedup_key: new.dedup_key,
            attempts: 0,
            max_attempts: new.max_attempts.max(1),
            last_error: None,
            created_at: now,
        };
        if let Some(key) = &job.dedup_key {
            self.dedup.insert(key.clone(), id);
        }
        let entry = Entry {
            job,
            seq: self.seq,
            state: EntryState::Ready,
        };
        self.jobs.insert(id, entry);
        self.schedule(id, now);
        Enqueued::Created(id)
    }

    /// Files a job as ready or delayed according to its `run_at`.
    fn schedule(&mut self, id: JobId, now: DateTime<Utc>) {
        let Some(entry) = self.jobs.get_mut(&id) else {
            return;
        };
        if entry.job.run_at > now {
            entry.state = EntryState::Delayed;
            self.delayed.insert((entry.job.run_at, entry.seq, id));
        } else {
            entry.state = EntryState::Ready;
            let key = (Reverse(entry.job.priority), entry.job.run_at, entry.seq, id);
            let group = self.ready.entry(entry.job.group.clone()).or_default();
            if group.is_empty() {
                self.ring.push_back(entry.job.group.clone());
            }
            group.insert(key);
        }
    }

    fn promote_due(&mut self, now: DateTime<Utc>) {
        while let Some(&(run_at, seq, id)) = self.delayed.first() {
            if run_at > now {
                break;
            }
            self.delayed.remove(&(run_at, seq, id));
            self.schedule(id, now);
        }
    }

    fn recover_expired(&mut self, now: DateTime<Utc>) -> u64 {
        let mut recovered = 0;
        while let Some(&(until, id)) = self.reserved.first() {
            if until > now {
                break;
            }
            self.reserved.remove(&(until, id));
            recovered += 1;
            // Ready again even past the last attempt: only a holder can settle the job's
            // message, so expiry never dead-letters behind its back (see `Job::attempts`).
            self.schedule(id, now);
        }
        recovered
    }

    /// The entry a live lease points at.
    fn leased(&mut self, lease: &Lease) -> Result<&mut Entry> {
        let entry = self
            .jobs
            .get_mut(&lease.job_id)
            .ok_or_else(|| Error::not_found("job", lease.job_id))?;
        match entry.state {
            EntryState::Reserved { token, .. } if token == lease.token => Ok(entry),
            _ => Err(Error::conflict(
                "job",
                "the lease expired or was already settled",
            )),
        }
    }

    /// Ends a reservation; returns the entry.
    fn settle(&mut self, lease: &Lease) -> Result<&mut Entry> {
        let until = match self.leased(lease)?.state {
            EntryState::Reserved { until, .. } => until,
            _ => unreachable_state(),
        };
        self.reserved.remove(&(until, lease.job_id));
        self.leased_unchecked(lease.job_id)
    }

    /// Removes a job whose lease is live, freeing its deduplication key.
    fn complete(&mut self, lease: &Lease) -> Result<()> {
        self.settle(lease)?;
        if let Some(entry) = self.jobs.remove(&lease.job_id)
            && let Some(key) = entry.job.dedup_key
        {
            self.dedup.remove(&key);
        }
        Ok(())
    }

    fn leased_unchecked(&mut self, id: JobId) -> Result<&mut Entry> {
        self.jobs
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("job", id))
    }

    /// The next job round-robin across admitted groups that are still under their cap.
    fn take_next(&mut self, admitted: impl Fn(&str) -> bool) -> Option<JobId> {
        for _ in 0..self.ring.len() {
            let group = self.ring.pop_front()?;
            if !admitted(&group) {
                self.ring.push_back(group);
                continue;
            }
            let Some(ready) = self.ready.get_mut(&group) else {
                continue;
            };
            let next = ready.pop_first();
            if ready.is_empty() {
                self.ready.remove(&group);
            } else {
                self.ring.push_back(group);
            }
            if let Some((_, _, _, id)) = next {
                return Some(id);
            }
        }
        None
    }
}

/// A reserved entry always carries `Reserved`; `leased` checked it a moment before.
fn unreachable_state() -> DateTime<Utc> {
    DateTime::<Utc>::MIN_UTC
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        Ok(self.state.lock().enqueue(job, Utc::now()))
    }

    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        let now = Utc::now();
        let mut state = self.state.lock();
        Ok(jobs.into_iter().map(|j| state.enqueue(j, now)).collect())
    }

    async fn reserve(&self, options: &ReserveOptions) -> Result<Vec<Reservation>> {
        let visibility = delta(options.visibility)?;
        let now = Utc::now();
        let until = now + visibility;
        let mut state = self.state.lock();
        state.recover_expired(now);
        state.promote_due(now);
        // Sets, not the option's vectors: with thousands of numbers a linear scan per ring
        // step would make a reservation quadratic.
        let only: Option<HashSet<&str>> = options
            .groups
            .as_ref()
            .map(|g| g.iter().map(String::as_str).collect());
        let excluded: HashSet<&str> = options.exclude_groups.iter().map(String::as_str).collect();
        let cap = options.max_per_group.unwrap_or(usize::MAX);
        let mut taken: HashMap<String, usize> = HashMap::new();
        let mut reserved = Vec::new();
        while reserved.len() < options.max {
            let admitted = |group: &str| {
                only.as_ref().is_none_or(|o| o.contains(group))
                    && !excluded.contains(group)
                    && taken.get(group).is_none_or(|n| *n < cap)
            };
            let Some(id) = state.take_next(admitted) else {
                break;
            };
            let token = Uuid::new_v4();
            let entry = state.leased_unchecked(id)?;
            entry.job.attempts += 1;
            entry.state = EntryState::Reserved { token, until };
            let job = entry.job.clone();
            *taken.entry(job.group.clone()).or_default() += 1;
            state.reserved.insert((until, id));
            reserved.push(Reservation {
                job,
                lease: Lease { job_id: id, token },
                expires_at: until,
            });
        }
        Ok(reserved)
    }

    async fn ack(&self, lease: &Lease) -> Result<()> {
        self.state.lock().complete(lease)
    }

    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<Lease>> {
        let mut state = self.state.lock();
        Ok(leases
            .iter()
            .filter(|lease| state.complete(lease).is_err())
            .copied()
            .collect())
    }

    async fn nack(
        &self,
        lease: &Lease,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<NackOutcome> {
        let now = Utc::now();
        let mut state = self.state.lock();
        let entry = state.settle(lease)?;
        entry.job.last_error = Some(error.to_owned());
        if entry.job.attempts >= entry.job.max_attempts {
            entry.state = EntryState::Dead;
            state.dead.insert(lease.job_id);
            return Ok(NackOutcome::DeadLettered);
        }
        entry.job.run_at = retry_at;
        state.schedule(lease.job_id, now);
        Ok(NackOutcome::Retrying(retry_at))
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let now = Utc::now();
        let mut state = self.state.lock();
        let entry = state.settle(lease)?;
        entry.job.attempts = entry.job.attempts.saturating_sub(1);
        entry.job.run_at = entry.job.run_at.min(now);
        state.schedule(lease.job_id, now);
        Ok(())
    }

    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<DateTime<Utc>> {
        let until = Utc::now() + delta(visibility)?;
        let mut state = self.state.lock();
        state.settle(lease)?.state = EntryState::Reserved {
            token: lease.token,
            until,
        };
        state.reserved.insert((until, lease.job_id));
        Ok(until)
    }

    async fn recover_expired(&self) -> Result<u64> {
        Ok(self.state.lock().recover_expired(Utc::now()))
    }

    async fn stats(&self) -> Result<QueueStats> {
        let mut state = self.state.lock();
        state.promote_due(Utc::now());
        let mut stats = QueueStats::default();
        for entry in state.jobs.values() {
            *match entry.state {
                EntryState::Ready => &mut stats.ready,
                EntryState::Delayed => &mut stats.delayed,
                EntryState::Reserved { .. } => &mut stats.reserved,
                EntryState::Dead => &mut stats.dead,
            } += 1;
        }
        Ok(stats)
    }

    async fn dead_letters(&self, page: Page) -> Result<Paged<Job>> {
        let limit = page.effective_limit();
        let after = page.after.as_deref().map(str::parse::<JobId>).transpose()?;
        let state = self.state.lock();
        let items: Vec<Job> = state
            .dead
            .iter()
            .filter(|id| after.is_none_or(|a| **id > a))
            .take(limit + 1)
            .filter_map(|id| state.jobs.get(id).map(|e| e.job.clone()))
            .collect();
        Ok(Paged::from_overfetch(items, limit, |j| j.id.to_string()))
    }

    async fn retry_dead(&self, id: JobId, at: DateTime<Utc>) -> Result<()> {
        let mut state = self.state.lock();
        if !state.dead.remove(&id) {
            return Err(Error::not_found("dead letter", id));
        }
        let entry = state.leased_unchecked(id)?;
        entry.job.attempts = 0;
        entry.job.run_at = at;
        state.schedule(id, Utc::now());
        Ok(())
    }
}
