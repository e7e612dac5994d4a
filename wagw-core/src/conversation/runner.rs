//! The conversation runner: answers each stored inbound message from its durable
//! [`ConversationJob`], after the webhook was acknowledged.
//!
//! ## Who answers
//!
//! 1. A contact handed off to a human ([`SessionState::HandedOff`]) gets no automatic answer.
//! 2. A contact in a flow ([`SessionState::Active`] with a flow) is answered by the
//!    [`FlowEngine`]; cancel and restart words are the engine's business. When the engine
//!    returns `handled: false`, the rules below get the message.
//! 3. Auto-reply rules ([`RuleSet`]), first match wins (a rule in its cooldown for this contact
//!    is passed over). Actions: reply; start a flow (a session at the flow's start, then the
//!    engine answers); hand off (reply, then the session is handed off).
//! 4. A flow whose trigger words equal the message text starts.
//! 5. The channel's active flow starts.
//!
//! ## Nothing lost, nothing answered twice
//!
//! The job is written with the message, before the webhook is acknowledged, and is settled
//! only after the answer is durable, so a crash anywhere leaves a job a later claim runs
//! again. A re-run answers nothing twice:
//!
//! - replies go through [`Dispatcher::submit_each`] with idempotency keys
//!   `bot:{wamid}:{n}` (the n-th reply to that inbound message), so a reply recorded by an
//!   earlier run is not recorded again;
//! - the session is saved after the replies, with its version check, and marked with the
//!   inbound wamid it applied (`ConversationSession::last_applied_wamid`); a re-run that finds the mark
//!   does not feed the message to the engine a second time; a turn that ends a flow or hands
//!   it off writes its `flow_completed` / `flow_handed_off` outbox rows in that same save
//!   ([`ConversationStore::save_session_with_deliveries`](crate::store::ConversationStore::save_session_with_deliveries));
//! - a rule's cooldown is taken with the wamid as holder, so a re-run takes it again;
//! - jobs of one contact are claimed one at a time, oldest first (see
//!   [`claim_conversation_jobs`](crate::store::InboundStore::claim_conversation_jobs)).
//!
//! Free-form replies go out only inside the 24-hour window ([`window`]); a
//! message older than [`stale_after`](RunnerConfig::stale_after) when its job runs is stored
//! and forwarded but not answered.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::sync::watch;

use super::auto_reply::{RuleSet, message_texts};
use super::events::{ends_or_hands_off, flow_outcome};
use super::window;
use crate::Result;
use crate::content::MessageContent;
use crate::dispatch::{Dispatcher, NewMessage};
use crate::event::{InboundKind, InboundMessage};
use crate::flow_engine::{FlowEngine, FlowEvent};
use crate::ids::{ChannelId, FlowId, TenantId};
use crate::model::auto_reply::{AutoReplyRule, RuleAction};
use crate::model::channel::Channel;
use crate::model::conversation::{ConversationJob, HandledBy, JobSettlement};
use crate::model::flow::{ConversationSession, FlowEngagement, SessionState};
use crate::model::message::{MessageBody, Priority};
use crate::model::webhook::WebhookDelivery;
use crate::phone::PhoneNumber;
use crate::queue::Queue;
use crate::store::{Page, Store};
use crate::transport::Transport;

/// Runner settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Jobs claimed (and run concurrently) at once.
    pub batch: usize,
    /// How long a claimed job stays hidden; a crashed runner's jobs come back after it.
    pub lease: Duration,
    /// Pause between claims while there is nothing to do.
    pub idle_poll: Duration,
    /// Runs of a job before it is failed.
    pub max_attempts: u32,
    /// Delay before the second run of a failed job; doubled for each further run.
    pub retry_after: Duration,
    /// A message older than this (by the user's send time) when its job runs is not answered.
    pub stale_after: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            batch: 32,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(100),
            max_attempts: 5,
            retry_after: Duration::from_secs(2),
            stale_after: Duration::from_secs(15 * 60),
        }
    }
}

/// Runs conversation jobs: auto-replies and flows. Cheap to clone.
pub struct ConversationRunner<S: ?Sized, Q: ?Sized, T: ?Sized> {
    store: Arc<S>,
    dispatcher: Dispatcher<S, Q, T>,
    engine: Arc<dyn FlowEngine>,
    config: RunnerConfig,
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> Clone for ConversationRunner<S, Q, T> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            dispatcher: self.dispatcher.clone(),
            engine: Arc::clone(&self.engine),
            config: self.config.clone(),
        }
    }
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> std::fmt::Debug for ConversationRunner<S, Q, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationRunner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A running [`ConversationRunner`] loop.
#[derive(Debug)]
pub struct RunnerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunnerHandle {
    /// Stops claiming, lets the jobs in hand finish, and waits for the loop to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The replies of one turn, with the window they must fit.
struct Turn<'a> {
    job: &'a ConversationJob,
    open_until: Option<chrono::DateTime<Utc>>,
    sent: usize,
}

impl<S, Q, T> ConversationRunner<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// A runner over a store, the dispatcher that sends its replies, and a flow engine.
    pub fn new(
        store: Arc<S>,
        dispatcher: Dispatcher<S, Q, T>,
        engine: Arc<dyn FlowEngine>,
        config: RunnerConfig,
    ) -> Self {
        Self {
            store,
            dispatcher,
            engine,
            config,
        }
    }

    /// Starts the loop on the current Tokio runtime.
    pub fn start(&self) -> RunnerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let runner = self.clone();
        let task = tokio::spawn(async move {
            loop {
                if *stopped.borrow() {
                    break;
                }
                let ran = match runner.run_once().await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming conversation jobs failed");
                        0
                    }
                };
                if ran == 0 {
                    tokio::select! {
                        _ = tokio::time::sleep(runner.config.idle_poll) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
        });
        RunnerHandle { stop, task }
    }

    /// Claims one batch of due jobs and runs them; returns how many ran.
    pub async fn run_once(&self) -> Result<usize> {
        let jobs = self
            .store
            .claim_conversation_jobs(Utc::now(), self.config.batch, self.config.lease)
            .await?;
        let n = jobs.len();
        futures::future::join_all(jobs.iter().map(|job| self.run_job(job))).await;
        Ok(n)
    }

    /// Runs one claimed job and settles it.
    async fn run_job(&self, job: &ConversationJob) {
        let settlement = match self.answer(job).await {
            Ok(handled) => JobSettlement::Done(handled),
            Err(e) if job.attempts >= self.config.max_attempts => {
                tracing::error!(wamid = %job.wamid, error = %e, "conversation job failed for good");
                JobSettlement::Failed {
                    error: e.to_string(),
                }
            }
            Err(e) => {
                let factor = 2u32.saturating_pow(job.attempts.saturating_sub(1));
                let delay = self.config.retry_after.saturating_mul(factor);
                tracing::warn!(wamid = %job.wamid, error = %e, ?delay, "conversation job retried");
                JobSettlement::Retry {
                    at: Utc::now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX),
                    error: e.to_string(),
                }
            }
        };
        if let Err(e) = self
            .store
            .settle_conversation_job(job.tenant_id, job.message_id, &settlement)
            .await
        {
            // The lease runs out and the job comes back; the re-run answers nothing twice.
            tracing::warn!(wamid = %job.wamid, error = %e, "settling a conversation job failed");
        }
    }

    /// Decides and sends the answer to one inbound message; see the [module docs](self).
    pub async fn answer(&self, job: &ConversationJob) -> Result<HandledBy> {
        let tenant = job.tenant_id;
        let record = self.store.get_message(tenant, job.message_id).await?;
        let MessageBody::Inbound(message) = &record.body else {
            return Ok(HandledBy::Ignored);
        };
        if matches!(
            message.kind,
            InboundKind::Reaction(_) | InboundKind::System(_)
        ) {
            return Ok(HandledBy::Ignored);
        }
        let now = Utc::now();
        let stale = TimeDelta::from_std(self.config.stale_after).unwrap_or(TimeDelta::MAX);
        if now - message.timestamp > stale {
            tracing::info!(wamid = %job.wamid, "inbound message too old to answer");
            return Ok(HandledBy::Stale);
        }
        let last_inbound = self
            .store
            .last_inbound_at(tenant, job.channel_id, &job.contact_phone)
            .await?;
        let mut turn = Turn {
            job,
            open_until: window::open_until(last_inbound),
            sent: 0,
        };
        let session = self
            .store
            .get_session(tenant, job.channel_id, &job.contact_phone)
            .await?;
        if let Some(session) = &session {
            if session.state == SessionState::HandedOff {
                return Ok(HandledBy::HandedOff);
            }
            if applied(session, &job.wamid) {
                // An earlier run applied this message and saved the session; only the
                // settlement was lost.
                return Ok(HandledBy::Flow);
            }
        }
        // 2. The active flow.
        let mut session = session;
        if let Some(active) = session
            .clone()
            .filter(|s| s.state == SessionState::Active && s.flow_id.is_some())
        {
            let (handled, saved) = self.flow_turn(active, message, &mut turn).await?;
            if handled {
                return Ok(HandledBy::Flow);
            }
            session = Some(saved);
        }
        // 3. Rules.
        let tenant_row = self.store.get_tenant(tenant).await?;
        let local_now = now.with_timezone(&tenant_row.timezone).naive_local();
        let rules = RuleSet::lenient(self.store.list_rules(tenant).await?);
        let texts = message_texts(message);
        let candidates: Vec<AutoReplyRule> = rules
            .matches(job.channel_id, &texts, local_now)
            .cloned()
            .collect();
        for rule in candidates {
            if rule.cooldown_secs > 0 {
                let until = now
                    + TimeDelta::seconds(i64::try_from(rule.cooldown_secs).unwrap_or(i64::MAX / 2));
                let taken = self
                    .store
                    .take_cooldown(
                        tenant,
                        rule.id,
                        job.channel_id,
                        &job.contact_phone,
                        &job.wamid,
                        now,
                        until,
                    )
                    .await?;
                if !taken {
                    tracing::debug!(rule = %rule.id, "auto-reply rule in its cooldown");
                    continue;
                }
            }
            match &rule.action {
                RuleAction::Reply => {
                    self.send(&mut turn, vec![rule.reply.clone()]).await?;
                }
                RuleAction::Handoff => {
                    self.send(&mut turn, vec![rule.reply.clone()]).await?;
                    let mut s = session.clone().unwrap_or_else(|| {
                        ConversationSession::new(tenant, job.channel_id, job.contact_phone.clone())
                    });
                    s.state = SessionState::HandedOff;
                    s.last_activity_at = now;
                    mark_applied(&mut s, &job.wamid);
                    self.store.save_session(&s).await?;
                }
                RuleAction::StartFlow { flow_id } => {
                    self.start_flow(*flow_id, session.clone(), message, &mut turn)
                        .await?;
                }
            }
            return Ok(HandledBy::Rule(rule.id));
        }
        // 4. Flow trigger words, 5. the channel's active flow.
        let channel = self.store.get_channel(tenant, job.channel_id).await?;
        if let Some(flow) = self.triggered_flow(tenant, &texts, &channel).await? {
            self.start_flow(flow, session, message, &mut turn).await?;
            return Ok(HandledBy::Flow);
        }
        Ok(HandledBy::Unanswered)
    }

    /// Feeds the message to the engine for an active session, sends its replies and saves the
    /// session. Returns whether the engine handled it, and the session as saved.
    async fn flow_turn(
        &self,
        session: ConversationSession,
        message: &InboundMessage,
        turn: &mut Turn<'_>,
    ) -> Result<(bool, ConversationSession)> {
        let outcome = self.engine.handle(session, message).await?;
        self.send(turn, outcome.replies).await?;
        let mut saved = outcome.session;
        saved.last_activity_at = Utc::now();
        if outcome.handled {
            mark_applied(&mut saved, &turn.job.wamid);
        }
        let now = Utc::now();
        let engagement = FlowEngagement::from_events(saved.tenant_id, &outcome.events, now);
        let deliveries = self.flow_deliveries(&saved, &outcome.events, now).await?;
        saved.version = self
            .store
            .save_session_with_deliveries(&saved, &engagement, &deliveries)
            .await?;
        Ok((outcome.handled, saved))
    }

    /// Has the engine start the flow for the contact's session (replacing any flow it was
    /// in), sends what it says and saves the session.
    async fn start_flow(
        &self,
        flow_id: FlowId,
        existing: Option<ConversationSession>,
        message: &InboundMessage,
        turn: &mut Turn<'_>,
    ) -> Result<()> {
        let job = turn.job;
        let session = existing.unwrap_or_else(|| {
            ConversationSession::new(job.tenant_id, job.channel_id, job.contact_phone.clone())
        });
        let outcome = self.engine.start(session, flow_id, Some(message)).await?;
        self.send(turn, outcome.replies).await?;
        let mut saved = outcome.session;
        saved.last_activity_at = Utc::now();
        mark_applied(&mut saved, &turn.job.wamid);
        let now = Utc::now();
        let engagement = FlowEngagement::from_events(saved.tenant_id, &outcome.events, now);
        let deliveries = self.flow_deliveries(&saved, &outcome.events, now).await?;
        self.store
            .save_session_with_deliveries(&saved, &engagement, &deliveries)
            .await?;
        Ok(())
    }

    /// The `flow_completed` / `flow_handed_off` outbox rows of a turn, saved with `session`.
    /// The tenant's subscriptions are read only when the turn ended a flow or handed it off.
    async fn flow_deliveries(
        &self,
        session: &ConversationSession,
        events: &[FlowEvent],
        at: chrono::DateTime<Utc>,
    ) -> Result<Vec<WebhookDelivery>> {
        if !ends_or_hands_off(events) {
            return Ok(Vec::new());
        }
        let subscriptions = self.store.list_subscriptions(session.tenant_id).await?;
        Ok(flow_outcome(session, events, at, &subscriptions))
    }

    /// The flow whose trigger words equal the message, else the channel's active flow.
    async fn triggered_flow(
        &self,
        tenant: TenantId,
        texts: &[&str],
        channel: &Channel,
    ) -> Result<Option<FlowId>> {
        let folded: Vec<String> = texts
            .iter()
            .map(|t| super::auto_reply::fold(t, false, false))
            .collect();
        let mut page = Page::first(Page::MAX_LIMIT);
        loop {
            let flows = self.store.list_flows(tenant, page).await?;
            for flow in &flows.items {
                let hit = flow
                    .triggers
                    .iter()
                    .map(|t| super::auto_reply::fold(t, false, false))
                    .any(|t| !t.is_empty() && folded.contains(&t));
                if hit {
                    return Ok(Some(flow.id));
                }
            }
            match flows.next {
                Some(next) => page = Page::after(Page::MAX_LIMIT, next),
                None => break,
            }
        }
        Ok(channel.active_flow)
    }

    /// Submits replies with keys derived from the inbound wamid, inside the window.
    async fn send(&self, turn: &mut Turn<'_>, replies: Vec<MessageContent>) -> Result<()> {
        let job = turn.job;
        let first = turn.sent;
        turn.sent += replies.len();
        let to = Addressee {
            tenant: job.tenant_id,
            channel: job.channel_id,
            contact: &job.contact_phone,
            open_until: turn.open_until,
        };
        self.submit_replies(&to, replies, |n| reply_key(&job.wamid, first + n))
            .await
    }

    /// Sends replies inside the 24-hour window (the others are dropped), urgent, each with
    /// the idempotency key `key(n)` of its position, so a re-run records nothing twice.
    async fn submit_replies(
        &self,
        to: &Addressee<'_>,
        replies: Vec<MessageContent>,
        key: impl Fn(usize) -> String,
    ) -> Result<()> {
        let now = Utc::now();
        let mut messages = Vec::with_capacity(replies.len());
        for (n, content) in replies.into_iter().enumerate() {
            if !window::allows(&content, to.open_until, now) {
                tracing::info!(key = %key(n), "reply outside the 24-hour window dropped");
                continue;
            }
            messages.push(
                NewMessage::new(to.tenant, to.channel, to.contact.clone(), content)
                    .priority(Priority::Urgent)
                    .idempotency_key(key(n)),
            );
        }
        if messages.is_empty() {
            return Ok(());
        }
        for result in self.dispatcher.submit_each(messages).await? {
            if let Err(e) = result {
                // Bad content (a rule's or flow's own mistake) never succeeds on a re-run.
                tracing::warn!(error = %e, "a reply was refused");
            }
        }
        Ok(())
    }

    /// Runs the wake-ups that are due at `now` (a node's timeout branch, an idle session's
    /// expiry, the end of a hand-off): the engine's [`wake`](FlowEngine::wake), its replies
    /// sent (keyed by session and due time, so two sweepers or a re-run send nothing twice),
    /// the session saved with its version check. A session an inbound turn saved meanwhile is
    /// left to that turn. Returns how many sessions were woken and saved.
    pub async fn wake_due(&self, now: chrono::DateTime<Utc>) -> Result<usize> {
        let mut woken = 0;
        for session in self.store.due_sessions(now, self.config.batch).await? {
            let Some(due) = session.due_at() else {
                continue;
            };
            let (tenant, channel, contact, id) = (
                session.tenant_id,
                session.channel_id,
                session.user.clone(),
                session.id,
            );
            let outcome = self.engine.wake(session, now).await?;
            let last_inbound = self
                .store
                .last_inbound_at(tenant, channel, &contact)
                .await?;
            let to = Addressee {
                tenant,
                channel,
                contact: &contact,
                open_until: window::open_until(last_inbound),
            };
            let at = due.timestamp_millis();
            self.submit_replies(&to, outcome.replies, |n| format!("wake:{id}:{at}:{n}"))
                .await?;
            let engagement = FlowEngagement::from_events(tenant, &outcome.events, now);
            let deliveries = self
                .flow_deliveries(&outcome.session, &outcome.events, now)
                .await?;
            match self
                .store
                .save_session_with_deliveries(&outcome.session, &engagement, &deliveries)
                .await
            {
                Ok(_) => woken += 1,
                Err(e) if e.code() == crate::ErrorCode::Conflict => {
                    tracing::debug!(session = %id, "a turn saved the session first");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(woken)
    }
}

/// Where replies go.
struct Addressee<'a> {
    tenant: TenantId,
    channel: ChannelId,
    contact: &'a PhoneNumber,
    open_until: Option<chrono::DateTime<Utc>>,
}

/// The idempotency key of the `n`-th reply to the inbound message `wamid`.
pub fn reply_key(wamid: &str, n: usize) -> String {
    format!("bot:{wamid}:{n}")
}

fn applied(session: &ConversationSession, wamid: &str) -> bool {
    session.last_applied_wamid.as_deref() == Some(wamid)
}

fn mark_applied(session: &mut ConversationSession, wamid: &str) {
    session.last_applied_wamid = Some(wamid.to_owned());
}
