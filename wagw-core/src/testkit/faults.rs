//! Fault injection: decorators around a [`Queue`] and a [`Transport`] that fail, or crash
//! the "process", at a chosen step of the send pipeline.
//!
//! A [`FaultPlan`] is shared by the decorators of one simulated process. Armed with a
//! [`Step`], the `n`th time the pipeline reaches that step it either returns an error
//! ([`Fault::Fail`]) or crashes ([`Fault::Crash`]): the call never returns, and from then on
//! every call through any decorator of the plan hangs too, as nothing runs in a dead
//! process. The test then aborts the dispatcher (killing its tasks, as `kill -9` would) and
//! starts a new one on the undecorated backends, which hold exactly what the dead process
//! left behind.
//!
//! ```
//! use wagw_core::testkit::faults::{Fault, FaultPlan, Step};
//!
//! let plan = FaultPlan::new();
//! plan.arm(Step::AfterReserve, 3, Fault::Crash);
//! assert!(!plan.crashed());
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::content::OutboundMessage;
use crate::ids::JobId;
use crate::model::channel::Channel;
use crate::model::template::TemplateDraft;
use crate::queue::{
    Enqueued, Job, Lease, NackOutcome, NewJob, Queue, QueueStats, Reservation, ReserveOptions,
};
use crate::store::{Page, Paged};
use crate::transport::{
    Capabilities, CodeMethod, MediaInfo, MediaUpload, RemoteTemplate, SendReceipt, TemplatePage,
    Transport, TransportError, TransportErrorKind,
};
use crate::{Error, Result};

/// A step of the send pipeline, in the order a message meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// The messages are recorded; their jobs are about to be enqueued.
    AfterInsert,
    /// The jobs are enqueued; the submit call is about to return.
    AfterEnqueue,
    /// Jobs were reserved; the dispatcher is about to handle them.
    AfterReserve,
    /// The attempt is recorded (`sending`); the request is about to leave.
    AfterRecordAttempt,
    /// The request reached the far side, which accepted it; its answer never comes back.
    DuringSend,
    /// The outcome is recorded; the job is about to be acknowledged.
    AfterRecord,
}

impl Step {
    /// Every step.
    pub const ALL: [Step; 6] = [
        Step::AfterInsert,
        Step::AfterEnqueue,
        Step::AfterReserve,
        Step::AfterRecordAttempt,
        Step::DuringSend,
        Step::AfterRecord,
    ];
}

/// What happens at an armed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with a transient backend (or retryable transport) error.
    Fail,
    /// The process dies: this call and every later one through the plan never return.
    Crash,
}

#[derive(Debug, Default)]
struct PlanState {
    armed: Option<(Step, u64, Fault)>,
    seen: HashMap<Step, u64>,
    send_latency: Duration,
    answer_latency: Duration,
}

/// Where and how the decorators of one simulated process fail. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    state: Arc<Mutex<PlanState>>,
    crashed: Arc<AtomicBool>,
    crash: Arc<Notify>,
}

impl FaultPlan {
    /// A plan with nothing armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Injects `fault` the `nth` time (from 1) the pipeline reaches `step`.
    pub fn arm(&self, step: Step, nth: u64, fault: Fault) {
        self.state.lock().armed = Some((step, nth.max(1), fault));
    }

    /// Makes every send take `latency` on the wire (a slow network), before the far side
    /// sees it.
    pub fn set_send_latency(&self, latency: Duration) {
        self.state.lock().send_latency = latency;
    }

    /// Makes every send's answer take `latency` to come back (after the far side accepted
    /// the message): status webhooks then race ahead of it.
    pub fn set_answer_latency(&self, latency: Duration) {
        self.state.lock().answer_latency = latency;
    }

    /// Whether the simulated process has crashed.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::Acquire)
    }

    /// Waits until the simulated process crashes.
    pub async fn wait_for_crash(&self) {
        loop {
            let notified = self.crash.notified();
            if self.crashed() {
                return;
            }
            notified.await;
        }
    }

    /// How often `step` was reached.
    pub fn seen(&self, step: Step) -> u64 {
        self.state.lock().seen.get(&step).copied().unwrap_or(0)
    }

    /// Hangs forever once the process has crashed.
    async fn alive(&self) {
        if self.crashed() {
            std::future::pending::<()>().await;
        }
    }

    /// Passes `step`: `Ok` to go on, `Err` for an injected failure; never returns on a crash.
    async fn reach(&self, step: Step) -> std::result::Result<(), ()> {
        self.alive().await;
        let fault = {
            let mut state = self.state.lock();
            let seen = state.seen.entry(step).or_default();
            *seen += 1;
            let seen = *seen;
            match state.armed {
                Some((armed, nth, fault)) if armed == step && nth == seen => Some(fault),
                _ => None,
            }
        };
        match fault {
            None => Ok(()),
            Some(Fault::Fail) => Err(()),
            Some(Fault::Crash) => {
                self.crashed.store(true, Ordering::Release);
                self.crash.notify_waiters();
                std::future::pending().await
            }
        }
    }

    async fn backend(&self, step: Step) -> Result<()> {
        self.reach(step).await.map_err(|()| Error::Backend {
            message: format!("injected failure at {step:?}"),
            transient: true,
            source: None,
        })
    }

    async fn transport(&self, step: Step) -> std::result::Result<(), TransportError> {
        self.reach(step).await.map_err(|()| {
            TransportError::new(
                TransportErrorKind::Retryable,
                format!("injected failure at {step:?}"),
            )
        })
    }
}

/// A [`Queue`] that fails or crashes at the plan's queue steps: [`Step::AfterInsert`]
/// (entering an enqueue), [`Step::AfterEnqueue`] (leaving it), [`Step::AfterReserve`]
/// (leaving a reservation) and [`Step::AfterRecord`] (entering an acknowledgement).
#[derive(Debug)]
pub struct FaultyQueue<Q: ?Sized> {
    inner: Arc<Q>,
    plan: FaultPlan,
}

impl<Q: ?Sized> FaultyQueue<Q> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<Q>, plan: FaultPlan) -> Self {
        Self { inner, plan }
    }
}

#[async_trait]
impl<Q: Queue + ?Sized> Queue for FaultyQueue<Q> {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued> {
        let mut out = self.enqueue_many(vec![job]).await?;
        out.pop()
            .ok_or_else(|| Error::invalid_input("job", "nothing was enqueued"))
    }

    async fn enqueue_many(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        self.plan.backend(Step::AfterInsert).await?;
        let out = self.inner.enqueue_many(jobs).await?;
        self.plan.backend(Step::AfterEnqueue).await?;
        Ok(out)
    }

    async fn reserve(&self, options: &ReserveOptions) -> Result<Vec<Reservation>> {
        self.plan.alive().await;
        let out = self.inner.reserve(options).await?;
        if !out.is_empty() {
            self.plan.backend(Step::AfterReserve).await?;
        }
        Ok(out)
    }

    async fn ack(&self, lease: &Lease) -> Result<()> {
        self.plan.backend(Step::AfterRecord).await?;
        self.inner.ack(lease).await
    }

    async fn ack_many(&self, leases: &[Lease]) -> Result<Vec<Lease>> {
        self.plan.backend(Step::AfterRecord).await?;
        self.inner.ack_many(leases).await
    }

    async fn nack(
        &self,
        lease: &Lease,
        retry_at: DateTime<Utc>,
        error: &str,
    ) -> Result<NackOutcome> {
        self.plan.alive().await;
        self.inner.nack(lease, retry_at, error).await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        self.plan.alive().await;
        self.inner.release(lease).await
    }

    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<DateTime<Utc>> {
        self.plan.alive().await;
        self.inner.extend(lease, visibility).await
    }

    async fn recover_expired(&self) -> Result<u64> {
        self.plan.alive().await;
        self.inner.recover_expired().await
    }

    async fn stats(&self) -> Result<QueueStats> {
        self.inner.stats().await
    }

    async fn dead_letters(&self, page: Page) -> Result<Paged<Job>> {
        self.inner.dead_letters(page).await
    }

    async fn retry_dead(&self, id: JobId, at: DateTime<Utc>) -> Result<()> {
        self.plan.alive().await;
        self.inner.retry_dead(id, at).await
    }

    fn fleet_limits(&self) -> Option<&dyn crate::queue::FleetLimits> {
        self.inner.fleet_limits()
    }

    fn data_generation(&self) -> u64 {
        self.inner.data_generation()
    }
}

/// A [`Transport`] that fails or crashes at [`Step::AfterRecordAttempt`] (entering a send:
/// nothing reaches the far side) and [`Step::DuringSend`] (after the far side accepted the
/// message: its answer is lost).
#[derive(Debug)]
pub struct FaultyTransport<T: ?Sized> {
    inner: Arc<T>,
    plan: FaultPlan,
}

impl<T: ?Sized> FaultyTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<T>, plan: FaultPlan) -> Self {
        Self { inner, plan }
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for FaultyTransport<T> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn send(
        &self,
        channel: &Channel,
        message: &OutboundMessage,
    ) -> std::result::Result<SendReceipt, TransportError> {
        self.plan.transport(Step::AfterRecordAttempt).await?;
        let latency = self.plan.state.lock().send_latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let receipt = self.inner.send(channel, message).await;
        let latency = self.plan.state.lock().answer_latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let receipt = receipt?;
        self.plan.transport(Step::DuringSend).await.map_err(|_| {
            TransportError::new(
                TransportErrorKind::OutcomeUnknown,
                "injected: the answer was lost",
            )
        })?;
        Ok(receipt)
    }

    async fn mark_read(
        &self,
        channel: &Channel,
        wamid: &str,
        typing: bool,
    ) -> std::result::Result<(), TransportError> {
        self.plan.alive().await;
        self.inner.mark_read(channel, wamid, typing).await
    }

    async fn upload_media(
        &self,
        channel: &Channel,
        media: MediaUpload,
    ) -> std::result::Result<String, TransportError> {
        self.plan.alive().await;
        self.inner.upload_media(channel, media).await
    }

    async fn get_media(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> std::result::Result<MediaInfo, TransportError> {
        self.plan.alive().await;
        self.inner.get_media(channel, media_id).await
    }

    async fn download_media(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> std::result::Result<Bytes, TransportError> {
        self.plan.alive().await;
        self.inner.download_media(channel, media_id).await
    }

    async fn delete_media(
        &self,
        channel: &Channel,
        media_id: &str,
    ) -> std::result::Result<(), TransportError> {
        self.plan.alive().await;
        self.inner.delete_media(channel, media_id).await
    }

    async fn create_template(
        &self,
        channel: &Channel,
        template: &TemplateDraft,
    ) -> std::result::Result<RemoteTemplate, TransportError> {
        self.plan.alive().await;
        self.inner.create_template(channel, template).await
    }

    async fn list_templates(
        &self,
        channel: &Channel,
        after: Option<&str>,
    ) -> std::result::Result<TemplatePage, TransportError> {
        self.plan.alive().await;
        self.inner.list_templates(channel, after).await
    }

    async fn get_template(
        &self,
        channel: &Channel,
        remote_id: &str,
    ) -> std::result::Result<RemoteTemplate, TransportError> {
        self.plan.alive().await;
        self.inner.get_template(channel, remote_id).await
    }

    async fn delete_template(
        &self,
        channel: &Channel,
        name: &str,
    ) -> std::result::Result<(), TransportError> {
        self.plan.alive().await;
        self.inner.delete_template(channel, name).await
    }

    async fn request_code(
        &self,
        channel: &Channel,
        method: CodeMethod,
        language: &str,
    ) -> std::result::Result<(), TransportError> {
        self.plan.alive().await;
        self.inner.request_code(channel, method, language).await
    }

    async fn verify_code(
        &self,
        channel: &Channel,
        code: &str,
    ) -> std::result::Result<(), TransportError> {
        self.plan.alive().await;
        self.inner.verify_code(channel, code).await
    }

    async fn register(
        &self,
        channel: &Channel,
        pin: &str,
    ) -> std::result::Result<(), TransportError> {
        self.plan.alive().await;
        self.inner.register(channel, pin).await
    }
}
