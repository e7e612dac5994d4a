//! One [`Runtime`] that starts every background loop of a gateway together and stops them
//! together: the dispatcher, the campaign driver, the scheduler, and any further named loop
//! (an inbound worker, a webhook outbox worker, a template sync ...), under one shutdown
//! signal with a bounded, graceful stop.
//!
//! ```no_run
//! # async fn demo(
//! #     dispatcher: wagw_core::dispatch::Dispatcher<dyn wagw_core::Store, dyn wagw_core::Queue, dyn wagw_core::Transport>,
//! # ) {
//! use std::time::Duration;
//! use wagw_core::campaign::CampaignEngine;
//! use wagw_core::runtime::Runtime;
//! use wagw_core::scheduler::{MissedRuns, Scheduler};
//!
//! let runtime = Runtime::builder()
//!     .campaigns(CampaignEngine::new(dispatcher.clone()), Duration::from_millis(500))
//!     .scheduler(Scheduler::new(dispatcher.clone(), MissedRuns::SendLatest), Duration::from_secs(1))
//!     .every("template-sync", Duration::from_secs(600), || async { Ok(()) })
//!     .dispatcher(dispatcher)
//!     .start();
//! // ... serve requests ...
//! runtime.shutdown().await;
//! # }
//! ```
//!
//! A loop that fails a tick logs the error, counts it
//! ([`metrics::LOOP_ERRORS`](crate::metrics::LOOP_ERRORS)) and tries again at its next tick:
//! a store that is down for a minute must not end the process's background work.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Result;
use crate::campaign::CampaignEngine;
use crate::dispatch::Dispatcher;
use crate::queue::Queue;
use crate::scheduler::Scheduler;
use crate::store::Store;
use crate::transport::Transport;

/// The shutdown signal a loop watches. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A signal and the sender that fires it, for loops run outside a [`Runtime`].
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self { rx })
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown begins (at once if it has).
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which also means: stop.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// What a loop reports about itself, for readiness probes and dashboards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopStatus {
    /// When its last tick succeeded (periodic loops only).
    pub last_ok: Option<DateTime<Utc>>,
    /// Failed ticks since start.
    pub errors: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Whether the loop has ended.
    pub finished: bool,
}

type Statuses = Arc<Mutex<BTreeMap<&'static str, LoopStatus>>>;
type Starter = Box<dyn FnOnce(Shutdown, Statuses) -> BoxFuture<'static, ()> + Send>;

/// Collects the loops of a [`Runtime`].
#[must_use = "a builder does nothing until started"]
pub struct RuntimeBuilder {
    loops: Vec<(&'static str, Starter)>,
    grace: Duration,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field(
                "loops",
                &self.loops.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .field("grace", &self.grace)
            .finish()
    }
}

impl RuntimeBuilder {
    /// How long [`Runtime::shutdown`] waits for loops to finish before aborting them
    /// (default 30 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Runs the dispatcher (loop `dispatcher`); on shutdown it stops reserving and waits for
    /// its sends in flight ([`DispatcherHandle::shutdown`](crate::dispatch::DispatcherHandle::shutdown)).
    pub fn dispatcher<S, Q, T>(self, dispatcher: Dispatcher<S, Q, T>) -> Self
    where
        S: Store + ?Sized + 'static,
        Q: Queue + ?Sized + 'static,
        T: Transport + ?Sized + 'static,
    {
        self.task("dispatcher", move |mut stop| async move {
            let handle = dispatcher.start();
            stop.wait().await;
            handle.shutdown().await;
        })
    }

    /// Drives campaigns every `every` (loop `campaigns`, [`CampaignEngine::tick`]).
    pub fn campaigns<S, Q, T>(self, engine: CampaignEngine<S, Q, T>, every: Duration) -> Self
    where
        S: Store + ?Sized + 'static,
        Q: Queue + ?Sized + 'static,
        T: Transport + ?Sized + 'static,
    {
        let engine = Arc::new(engine);
        self.every("campaigns", every, move || {
            let engine = Arc::clone(&engine);
            async move { engine.tick().await }
        })
    }

    /// Fires due scheduled messages every `every` (loop `scheduler`, [`Scheduler::tick`]).
    pub fn scheduler<S, Q, T>(self, scheduler: Scheduler<S, Q, T>, every: Duration) -> Self
    where
        S: Store + ?Sized + 'static,
        Q: Queue + ?Sized + 'static,
        T: Transport + ?Sized + 'static,
    {
        let scheduler = Arc::new(scheduler);
        self.every("scheduler", every, move || {
            let scheduler = Arc::clone(&scheduler);
            async move { scheduler.tick(Utc::now()).await.map(|_| ()) }
        })
    }

    /// Samples the queue's job counts into the
    /// [`QUEUE_JOBS`](crate::metrics::QUEUE_JOBS) gauges every `every` (loop `queue-stats`).
    pub fn queue_metrics<Q: Queue + ?Sized + 'static>(
        self,
        queue: Arc<Q>,
        every: Duration,
    ) -> Self {
        self.every("queue-stats", every, move || {
            let queue = Arc::clone(&queue);
            async move {
                crate::metrics::queue_depth(&queue.stats().await?);
                Ok(())
            }
        })
    }

    /// A periodic loop: calls `tick` every `every` until shutdown, never two ticks at once
    /// (a slow tick delays the next one, missed ticks are skipped, not bunched). A failed
    /// tick is logged, counted and reported in [`Runtime::status`]; the loop goes on.
    pub fn every<F, Fut>(self, name: &'static str, every: Duration, mut tick: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let every = every.max(Duration::from_millis(1));
        self.loop_with_status(name, move |mut stop, statuses| async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = stop.wait() => break,
                    _ = interval.tick() => {}
                }
                let outcome = tick().await;
                let mut statuses = statuses.lock();
                let status = statuses.entry(name).or_default();
                match outcome {
                    Ok(()) => status.last_ok = Some(Utc::now()),
                    Err(e) => {
                        status.errors += 1;
                        status.last_error = Some(e.to_string());
                        crate::metrics::loop_error(name);
                        tracing::warn!(r#loop = name, error = %e, "background tick failed");
                    }
                }
            }
        })
    }

    /// Any other long-running loop: `run` gets the shutdown signal and must return soon after
    /// it fires (within the grace). This is the seam for workers with their own pacing, such
    /// as an inbound-event worker or a webhook outbox worker.
    pub fn task<F, Fut>(self, name: &'static str, run: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.loop_with_status(name, move |stop, _| run(stop))
    }

    fn loop_with_status<F, Fut>(mut self, name: &'static str, run: F) -> Self
    where
        F: FnOnce(Shutdown, Statuses) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.loops.push((
            name,
            Box::new(move |stop, statuses| Box::pin(run(stop, statuses))),
        ));
        self
    }

    /// Starts every loop on the current tokio runtime.
    pub fn start(self) -> Runtime {
        let (tx, shutdown) = Shutdown::new();
        let statuses: Statuses = Arc::default();
        let mut tasks = Vec::with_capacity(self.loops.len() + 1);
        for (name, start) in self.loops {
            statuses.lock().insert(name, LoopStatus::default());
            let run = start(shutdown.clone(), Arc::clone(&statuses));
            let done = Arc::clone(&statuses);
            tasks.push((
                name,
                tokio::spawn(async move {
                    run.await;
                    done.lock().entry(name).or_default().finished = true;
                    tracing::debug!(r#loop = name, "background loop ended");
                }),
            ));
        }
        Runtime {
            stop: tx,
            shutdown,
            tasks,
            statuses,
            grace: self.grace,
        }
    }
}

/// Background loops running together; see the [module docs](self).
#[derive(Debug)]
pub struct Runtime {
    stop: watch::Sender<bool>,
    shutdown: Shutdown,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    statuses: Statuses,
    grace: Duration,
}

impl Runtime {
    /// A builder with no loops and a 30 s grace.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            loops: Vec::new(),
            grace: Duration::from_secs(30),
        }
    }

    /// The shutdown signal, for work outside the runtime (an HTTP server) that should stop
    /// with it.
    pub fn shutdown_signal(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Begins shutdown without waiting (loops see the signal).
    pub fn begin_shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Each loop's status, by name.
    pub fn status(&self) -> BTreeMap<&'static str, LoopStatus> {
        self.statuses.lock().clone()
    }

    /// Whether every loop is still running (none ended before shutdown).
    pub fn is_healthy(&self) -> bool {
        !self.shutdown.is_shutting_down() && self.statuses.lock().values().all(|s| !s.finished)
    }

    /// Signals shutdown and waits for every loop to finish, up to the grace period in all;
    /// loops still running then are aborted (and logged). Returns the names of those aborted.
    pub async fn shutdown(self) -> Vec<&'static str> {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + self.grace;
        let mut aborted = Vec::new();
        for (name, mut task) in self.tasks {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(r#loop = name, error = %e, "background loop panicked")
                }
                Err(_) => {
                    tracing::error!(
                        r#loop = name,
                        "background loop did not stop within the grace; aborted"
                    );
                    task.abort();
                    aborted.push(name);
                }
            }
        }
        aborted
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::Error;

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn periodic_loops_tick_report_errors_and_stop_together() {
        let ticks = Arc::new(AtomicU32::new(0));
        let failing = Arc::new(AtomicU32::new(0));
        let stopped = Arc::new(AtomicU32::new(0));
        let (t, f, s) = (ticks.clone(), failing.clone(), stopped.clone());
        let runtime = Runtime::builder()
            .every("ok", Duration::from_millis(1), move || {
                t.fetch_add(1, Ordering::SeqCst);
                async { Ok(()) }
            })
            .every("bad", Duration::from_millis(1), move || {
                f.fetch_add(1, Ordering::SeqCst);
                async { Err(Error::invalid_input("tick", "always fails")) }
            })
            .task("worker", move |mut stop| async move {
                stop.wait().await;
                s.fetch_add(1, Ordering::SeqCst);
            })
            .start();
        until("ticks", || {
            ticks.load(Ordering::SeqCst) >= 3 && failing.load(Ordering::SeqCst) >= 3
        })
        .await;
        let status = runtime.status();
        assert!(status["ok"].last_ok.is_some());
        assert!(
            status["bad"].errors >= 3,
            "a failing tick is counted, the loop goes on"
        );
        assert!(
            status["bad"]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("always fails"))
        );
        assert!(runtime.is_healthy());
        assert_eq!(stopped.load(Ordering::SeqCst), 0);

        let aborted = runtime.shutdown().await;
        assert!(aborted.is_empty());
        assert_eq!(stopped.load(Ordering::SeqCst), 1, "the task saw the signal");
        let after = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            after,
            "no tick after shutdown"
        );
    }

    #[tokio::test]
    async fn a_loop_ignoring_the_signal_is_aborted_after_the_grace() {
        let runtime = Runtime::builder()
            .grace(Duration::from_millis(50))
            .task("stubborn", |_stop| std::future::pending())
            .task("polite", |mut stop| async move { stop.wait().await })
            .start();
        assert_eq!(runtime.shutdown().await, vec!["stubborn"]);
    }

    #[tokio::test]
    async fn a_loop_that_ends_early_makes_the_runtime_unhealthy() {
        let runtime = Runtime::builder().task("short", |_stop| async {}).start();
        until("the loop ends", || runtime.status()["short"].finished).await;
        assert!(!runtime.is_healthy());
        runtime.shutdown().await;
    }
}
