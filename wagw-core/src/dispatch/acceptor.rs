//! Group commit for single sends: concurrent [`Acceptor::submit`] calls are recorded and
//! queued together, one store batch and one enqueue for all the messages waiting at that
//! moment, instead of one write (and, on SQLite, one fsync) per message.
//!
//! One task drains the waiting messages: it takes whatever is there (up to
//! [`AcceptorConfig::max_batch`]) and never waits for more, so an idle acceptor adds no
//! latency. Each message is checked on its own (a bad one is refused alone), the good ones
//! go through the same batch path as [`Dispatcher::submit_each`] (`insert_messages`, then
//! `enqueue_many`), and each caller is answered only after that write is durable. If the
//! batch write itself fails, every message of it is written again alone, so a message that
//! breaks the store fails by itself and the others are still accepted.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use super::{Dispatcher, Inner, NewMessage};
use crate::model::message::MessageRecord;
use crate::queue::Queue;
use crate::store::{Inserted, Store};
use crate::transport::Transport;
use crate::{Error, Result};

/// Sizes of an [`Acceptor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AcceptorConfig {
    /// At most this many messages per store batch.
    pub max_batch: usize,
    /// Submissions that may wait for the drain task; further callers wait for room.
    pub capacity: usize,
}

impl Default for AcceptorConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            capacity: 4_096,
        }
    }
}

impl AcceptorConfig {
    /// Sets [`max_batch`](Self::max_batch) (at least 1).
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets [`capacity`](Self::capacity) (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}

/// A message waiting for the drain task, and where its answer goes.
struct Pending {
    message: NewMessage,
    reply: oneshot::Sender<Result<Inserted>>,
}

/// Accepts single messages with group commit: the messages submitted while a batch is
/// being written are checked one by one, then recorded with one `insert_messages` and queued
/// with one `enqueue_many`; an idle acceptor adds no wait. Cheap to clone; the drain task
/// ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Acceptor {
    submissions: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl Acceptor {
    /// An acceptor in front of `dispatcher`; spawns its drain task on the current tokio
    /// runtime.
    pub fn new<S, Q, T>(dispatcher: &Dispatcher<S, Q, T>, config: AcceptorConfig) -> Self
    where
        S: Store + ?Sized + 'static,
        Q: Queue + ?Sized + 'static,
        T: Transport + ?Sized + 'static,
    {
        let (submissions, waiting) = mpsc::channel(config.capacity.max(1));
        let inner = std::sync::Arc::clone(&dispatcher.inner);
        tokio::spawn(drain(inner, waiting, config.max_batch.max(1)));
        Self { submissions }
    }

    /// Accepts a message exactly as [`Dispatcher::submit`] does (checked, recorded durably,
    /// then queued; an idempotency key already used answers the stored id with
    /// `created: false`), sharing the store write with the messages submitted meanwhile.
    ///
    /// A caller that stops waiting after submitting may still have its message recorded:
    /// retry with the same idempotency key to learn its id.
    pub async fn submit(&self, message: NewMessage) -> Result<Inserted> {
        let (reply, answer) = oneshot::channel();
        self.submissions
            .send(Pending { message, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Error {
    Error::Backend {
        message: "the acceptor's drain task has stopped".into(),
        transient: true,
        source: None,
    }
}

/// Takes what is waiting (never waiting for more), accepts it as one batch, and again.
async fn drain<S, Q, T>(
    inner: std::sync::Arc<Inner<S, Q, T>>,
    mut waiting: mpsc::Receiver<Pending>,
    max_batch: usize,
) where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = waiting.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        crate::metrics::acceptor_batch(batch.len());
        accept(&inner, std::mem::take(&mut batch)).await;
    }
}

/// Checks each message alone, records and queues the good ones together, answers each caller.
async fn accept<S, Q, T>(inner: &Inner<S, Q, T>, batch: Vec<Pending>)
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    let mut templates = HashMap::new();
    let mut records: Vec<MessageRecord> = Vec::with_capacity(batch.len());
    let mut replies = Vec::with_capacity(batch.len());
    for Pending { message, reply } in batch {
        let record = message.into_record();
        match inner.check(&record, &mut templates).await {
            Ok(()) => {
                records.push(record);
                replies.push(reply);
            }
            // Whatever refuses this message refuses it alone, as `submit` would.
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
    match inner.record_and_enqueue(&records).await {
        Ok(inserted) => {
            for (reply, inserted) in replies.into_iter().zip(inserted) {
                let _ = reply.send(Ok(inserted));
            }
        }
        Err(e) if records.len() == 1 => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            // One message may break the whole batch (a constraint, a value the backend
            // refuses): write each alone so that only it fails. The records keep their ids,
            // so one already stored is never stored twice.
            tracing::warn!(error = %e, messages = records.len(), "a batch write failed; writing its messages one by one");
            for (record, reply) in records.iter().zip(replies) {
                let alone = inner
                    .record_and_enqueue(std::slice::from_ref(record))
                    .await
                    .and_then(|mut i| {
                        i.pop()
                            .ok_or_else(|| Error::invalid_input("message", "nothing was recorded"))
                    });
                let _ = reply.send(alone);
            }
        }
    }
}
