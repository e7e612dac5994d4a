//! Keeps the reservations of jobs this dispatcher holds alive while they wait in a lane, in
//! the pacer or in flight, so another worker never takes over a job that is still being
//! worked on; and tells a job whose reservation was lost anyway not to send.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::ErrorCode;
use crate::ids::JobId;
use crate::queue::{Lease, Queue, Reservation};

/// One held reservation.
#[derive(Debug)]
struct Held {
    lease: Lease,
    expires_at: DateTime<Utc>,
    lost: Arc<AtomicBool>,
}

/// The reservations a dispatcher holds.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<JobId, Held>>,
}

/// A reservation in the registry; leaves it when dropped.
pub(crate) struct HeldLease<'a> {
    leases: &'a Leases,
    job: JobId,
    lost: Arc<AtomicBool>,
}

impl HeldLease<'_> {
    /// Whether the reservation was lost (expired and possibly taken by another worker).
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

impl Drop for HeldLease<'_> {
    fn drop(&mut self) {
        self.leases.held.lock().remove(&self.job);
    }
}

impl Leases {
    /// Registers a reservation until the returned guard is dropped.
    pub(crate) fn hold(&self, reservation: &Reservation) -> HeldLease<'_> {
        let lost = Arc::new(AtomicBool::new(false));
        self.held.lock().insert(
            reservation.lease.job_id,
            Held {
                lease: reservation.lease,
                expires_at: reservation.expires_at,
                lost: Arc::clone(&lost),
            },
        );
        HeldLease {
            leases: self,
            job: reservation.lease.job_id,
            lost,
        }
    }

    /// Extends every held reservation that expires within `horizon`. A reservation the queue
    /// refuses to extend is marked lost, so its job will not be sent.
    pub(crate) async fn renew<Q: Queue + ?Sized>(
        &self,
        queue: &Q,
        visibility: Duration,
        horizon: Duration,
    ) {
        let soon = Utc::now() + chrono::TimeDelta::from_std(horizon).unwrap_or_default();
        let due: Vec<(Lease, Arc<AtomicBool>)> = self
            .held
            .lock()
            .values()
            .filter(|h| h.expires_at <= soon && !h.lost.load(Ordering::Acquire))
            .map(|h| (h.lease, Arc::clone(&h.lost)))
            .collect();
        for (lease, lost) in due {
            self.extend(queue, &lease, &lost, visibility).await;
        }
    }

    /// Extends one held reservation now; marks it lost if the queue refuses.
    pub(crate) async fn renew_job<Q: Queue + ?Sized>(
        &self,
        queue: &Q,
        lease: &Lease,
        visibility: Duration,
    ) {
        let Some(lost) = self
            .held
            .lock()
            .get(&lease.job_id)
            .map(|h| Arc::clone(&h.lost))
        else {
            return;
        };
        self.extend(queue, lease, &lost, visibility).await;
    }

    async fn extend<Q: Queue + ?Sized>(
        &self,
        queue: &Q,
        lease: &Lease,
        lost: &AtomicBool,
        visibility: Duration,
    ) {
        match queue.extend(lease, visibility).await {
            Ok(until) => {
                if let Some(h) = self.held.lock().get_mut(&lease.job_id) {
                    h.expires_at = until;
                }
            }
            Err(e) if matches!(e.code(), ErrorCode::Conflict | ErrorCode::NotFound) => {
                tracing::warn!(job = %lease.job_id, "reservation lost before its job was done");
                lost.store(true, Ordering::Release);
            }
            // The queue is unreachable: try again on the next round; a job whose
            // reservation runs out meanwhile is treated as lost before it sends.
            Err(e) => {
                tracing::warn!(job = %lease.job_id, error = %e, "extending a reservation failed")
            }
        }
    }

    /// Whether the job's reservation is live for at least `margin` more.
    pub(crate) fn live_for(&self, job: JobId, margin: Duration) -> bool {
        let until = Utc::now() + chrono::TimeDelta::from_std(margin).unwrap_or_default();
        self.held
            .lock()
            .get(&job)
            .is_some_and(|h| !h.lost.load(Ordering::Acquire) && h.expires_at > until)
    }
}
