//! [`Engine`]: runs flow documents turn by turn.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::gvinum::{interactive_content, offered_replies};
use super::http::{FlowHttp, FlowHttpRequest};
use super::input::{Answer, check};
use super::template::{Scope, as_text, fold, render, render_with};
use super::validate::parse_duration;
use crate::content::MessageContent;
use crate::event::InboundMessage;
use crate::flow_engine::{FlowEngine, FlowEvent, FlowOutcome};
use crate::ids::FlowId;
use crate::model::flow::{
    CompareOp, Condition, ConversationSession, Flow, FlowDocument, FlowMessage, FlowNode,
    InputSpec, SessionState,
};
use crate::phone::Region;
use crate::store::{ConversationStore, Page};
use crate::{Error, Result};

/// Bounds on one turn (the work done for one inbound message or wake-up). A turn over any bound
/// ends the session with `step_limit`, so a badly built flow cannot loop or flood a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnLimits {
    /// Nodes executed (default 50).
    pub max_steps: u32,
    /// Executions of one node (default 10).
    pub max_visits_per_node: u32,
    /// HTTP calls (default 3).
    pub max_http_calls: u32,
    /// Replies (default 5, the pair limit's burst).
    pub max_replies: usize,
    /// Wall time (default 45 s).
    pub max_duration: Duration,
}

impl Default for TurnLimits {
    fn default() -> Self {
        Self {
            max_steps: 50,
            max_visits_per_node: 10,
            max_http_calls: 3,
            max_replies: 5,
            max_duration: Duration::from_secs(45),
        }
    }
}

/// How long a hand-off lasts without an explicit release.
const DEFAULT_HANDOFF: Duration = Duration::from_secs(24 * 3600);
/// The customer-service window.
const WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// Flows read per page when looking for a trigger.
const FLOW_PAGE: usize = 200;

/// The flow engine. It reads flows from the store (never writes: the caller saves the returned
/// session with its version check) and makes `http` node calls through a [`FlowHttp`].
///
/// Semantics:
/// - one session per (tenant, channel, contact); a session pins the flow version (the document
///   itself is kept in [`pinned`](ConversationSession::pinned)) it started with;
/// - a message to a session without a running flow starts the active flow whose trigger is the
///   whole folded message; otherwise it is not handled;
/// - in a flow, cancel words end the session, restart words start it over, anything else is
///   the answer to the waiting node; the engine then runs to the next waiting node or an end,
///   within [`TurnLimits`];
/// - invalid answers re-prompt up to `retry.max`, then go to `on_invalid` or end unhandled;
/// - an idle session expires after `session_ttl_secs`; a node timeout sets
///   [`wake_at`](ConversationSession::wake_at) and [`FlowEngine::wake`] runs its branch;
/// - while the 24-hour window is closed only templates go out: other content diverts to
///   `settings.on_window_closed` or ends the session silently (`window_closed`).
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn ConversationStore>,
    http: Arc<dyn FlowHttp>,
    limits: TurnLimits,
    region: Region,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store` making HTTP calls through `http`, with default limits and phone
    /// answers read in region `ID`.
    pub fn new(store: Arc<dyn ConversationStore>, http: Arc<dyn FlowHttp>) -> Self {
        Self {
            store,
            http,
            limits: TurnLimits::default(),
            region: Region::ID,
        }
    }

    /// Replaces the turn limits.
    pub fn with_limits(mut self, limits: TurnLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the region phone answers are read in.
    pub fn with_region(mut self, region: Region) -> Self {
        self.region = region;
        self
    }

    /// [`FlowEngine::handle`] at a given time.
    ///
    /// # Errors
    ///
    /// Store errors reading flows; a session pointing at a flow that no longer exists and has no
    /// pinned document ends instead.
    pub async fn handle_at(
        &self,
        mut session: ConversationSession,
        message: &InboundMessage,
        now: DateTime<Utc>,
    ) -> Result<FlowOutcome> {
        if session.last_applied_wamid.as_deref() == Some(message.id.as_str()) {
            let mut outcome = FlowOutcome::unhandled(session);
            outcome.handled = true;
            return Ok(outcome);
        }
        session.last_applied_wamid = Some(message.id.clone());
        session.last_inbound_at = Some(
            message
                .timestamp
                .max(session.last_inbound_at.unwrap_or(message.timestamp)),
        );
        session.last_activity_at = now;
        let mut events = Vec::new();
        let answer = Answer::of(message);
        let folded = answer.words().map(fold).unwrap_or_default();

        if session.state == SessionState::HandedOff {
            if session.handoff_until.is_some_and(|until| until > now) {
                // A human has the conversation: the bot stays silent and takes the message.
                let mut outcome = FlowOutcome::unhandled(session);
                outcome.handled = true;
                return Ok(outcome);
            }
            return self.release(session, Some(message), now).await;
        }
        if session.state == SessionState::Active && session.expires_at.is_some_and(|at| at <= now) {
            if let Some(flow) = session.flow_id {
                events.push(FlowEvent::Expired {
                    flow,
                    node: session.node.clone(),
                });
            }
            reset(&mut session, SessionState::Expired);
        }
        if session.state == SessionState::Active
            && let (Some(flow_id), Some(doc)) = (session.flow_id, session.pinned.clone())
        {
            if doc.settings.cancel_words.iter().any(|w| fold(w) == folded) {
                events.push(FlowEvent::Cancelled {
                    flow: flow_id,
                    node: session.node.clone(),
                });
                reset(&mut session, SessionState::Ended);
                return Ok(finish(session, Vec::new(), events, true));
            }
            let mut turn = Turn::new(self, &doc, flow_id, session, Some(message), now, events);
            if doc.settings.restart_words.iter().any(|w| fold(w) == folded) {
                turn.session.variables = doc.vars.clone();
                turn.run(Some(doc.start.clone())).await?;
            } else {
                turn.answer(&answer).await?;
            }
            return Ok(turn.finish());
        }
        // No running flow: a trigger word starts one.
        if !folded.is_empty()
            && let Some(flow) = self.triggered_flow(session.tenant_id, &folded).await?
        {
            return self
                .start_flow(session, flow, Some(message), now, events)
                .await;
        }
        let mut outcome = FlowOutcome::unhandled(session);
        outcome.events = events;
        Ok(outcome)
    }

    /// [`FlowEngine::start`] at a given time.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for an unknown flow; [`Error::InvalidState`] for an inactive one.
    pub async fn start_at(
        &self,
        mut session: ConversationSession,
        flow: FlowId,
        message: Option<&InboundMessage>,
        now: DateTime<Utc>,
    ) -> Result<FlowOutcome> {
        let flow = self.store.get_flow(session.tenant_id, flow).await?;
        if !flow.active {
            return Err(Error::InvalidState {
                entity: "flow",
                state: "inactive".into(),
                action: "start a session",
            });
        }
        if let Some(message) = message {
            session.last_applied_wamid = Some(message.id.clone());
            session.last_inbound_at = Some(message.timestamp);
        }
        self.start_flow(session, flow, message, now, Vec::new())
            .await
    }

    /// [`FlowEngine::wake`] at a given time.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn wake_at(
        &self,
        mut session: ConversationSession,
        now: DateTime<Utc>,
    ) -> Result<FlowOutcome> {
        match session.state {
            SessionState::HandedOff if session.handoff_until.is_some_and(|u| u <= now) => {
                self.release(session, None, now).await
            }
            SessionState::Active if session.expires_at.is_some_and(|at| at <= now) => {
                let mut events = Vec::new();
                if let Some(flow) = session.flow_id {
                    events.push(FlowEvent::Expired {
                        flow,
                        node: session.node.clone(),
                    });
                }
                reset(&mut session, SessionState::Expired);
                Ok(finish(session, Vec::new(), events, true))
            }
            SessionState::Active if session.wake_at.is_some_and(|at| at <= now) => {
                let (Some(flow_id), Some(doc)) = (session.flow_id, session.pinned.clone()) else {
                    reset(&mut session, SessionState::Ended);
                    return Ok(finish(session, Vec::new(), Vec::new(), true));
                };
                session.wake_at = None;
                let node = session.node.clone().unwrap_or_default();
                let target = match doc.nodes.get(&node) {
                    Some(FlowNode::Ask {
                        timeout: Some(timeout),
                        ..
                    }) => Some(timeout.next.clone()),
                    _ => None,
                };
                let events = vec![FlowEvent::TimedOut { node: node.clone() }];
                let mut turn = Turn::new(self, &doc, flow_id, session, None, now, events);
                turn.session.retries = 0;
                turn.run(target).await?;
                Ok(turn.finish())
            }
            _ => Ok(FlowOutcome::unhandled(session)),
        }
    }

    async fn release(
        &self,
        mut session: ConversationSession,
        message: Option<&InboundMessage>,
        now: DateTime<Utc>,
    ) -> Result<FlowOutcome> {
        session.handoff_until = None;
        let mut events = Vec::new();
        let (Some(flow_id), Some(doc)) = (session.flow_id, session.pinned.clone()) else {
            reset(&mut session, SessionState::Idle);
            return Ok(finish(session, Vec::new(), events, false));
        };
        events.push(FlowEvent::Released { flow: flow_id });
        match session.node.clone() {
            Some(resume) => {
                session.state = SessionState::Active;
                let mut turn = Turn::new(self, &doc, flow_id, session, message, now, events);
                turn.run(Some(resume)).await?;
                Ok(turn.finish())
            }
            None => {
                reset(&mut session, SessionState::Idle);
                Ok(finish(session, Vec::new(), events, false))
            }
        }
    }

    async fn start_flow(
        &self,
        mut session: ConversationSession,
        flow: Flow,
        message: Option<&InboundMessage>,
        now: DateTime<Utc>,
        mut events: Vec<FlowEvent>,
    ) -> Result<FlowOutcome> {
        reset(&mut session, SessionState::Active);
        session.flow_id = Some(flow.id);
        session.flow_version = flow.version;
        session.variables = flow.document.vars.clone();
        session.last_activity_at = now;
        events.push(FlowEvent::Started {
            flow: flow.id,
            version: flow.version,
        });
        let doc = flow.document;
        session.pinned = Some(Box::new(doc.clone()));
        let mut turn = Turn::new(self, &doc, flow.id, session, message, now, events);
        turn.run(Some(doc.start.clone())).await?;
        Ok(turn.finish())
    }

    async fn triggered_flow(
        &self,
        tenant: crate::ids::TenantId,
        folded: &str,
    ) -> Result<Option<Flow>> {
        let mut page = Page::first(FLOW_PAGE);
        loop {
            let flows = self.store.list_flows(tenant, page).await?;
            if let Some(flow) = flows
                .items
                .into_iter()
                .find(|f| f.active && f.triggers.iter().any(|t| fold(t) == folded))
            {
                return Ok(Some(flow));
            }
            match flows.next {
                Some(cursor) => page = Page::after(FLOW_PAGE, cursor),
                None => return Ok(None),
            }
        }
    }
}

#[async_trait]
impl FlowEngine for Engine {
    async fn handle(
        &self,
        session: ConversationSession,
        message: &InboundMessage,
    ) -> Result<FlowOutcome> {
        self.handle_at(session, message, Utc::now()).await
    }

    async fn start(
        &self,
        session: ConversationSession,
        flow: FlowId,
        message: Option<&InboundMessage>,
    ) -> Result<FlowOutcome> {
        self.start_at(session, flow, message, Utc::now()).await
    }

    async fn wake(&self, session: ConversationSession, now: DateTime<Utc>) -> Result<FlowOutcome> {
        self.wake_at(session, now).await
    }
}

/// Clears the flow state of a session, keeping its identity, version and inbound markers.
fn reset(session: &mut ConversationSession, state: SessionState) {
    session.state = state;
    session.node = None;
    session.retries = 0;
    session.wake_at = None;
    session.expires_at = None;
    session.handoff_until = None;
    // A hand-off resumes the pinned document later; only a finished session lets it go.
    if !matches!(state, SessionState::Active | SessionState::HandedOff) {
        session.pinned = None;
    }
}

fn finish(
    session: ConversationSession,
    replies: Vec<MessageContent>,
    events: Vec<FlowEvent>,
    handled: bool,
) -> FlowOutcome {
    let wake_at = session.due_at();
    FlowOutcome {
        replies,
        session,
        handled,
        events,
        wake_at,
    }
}

/// Why a turn stopped early.
enum Stop {
    /// A bound of [`TurnLimits`].
    Limit,
    /// Free-form content while the window is closed.
    WindowClosed,
}

/// One turn in progress.
struct Turn<'e> {
    engine: &'e Engine,
    doc: &'e FlowDocument,
    flow: FlowId,
    session: ConversationSession,
    builtins: BTreeMap<&'static str, Value>,
    replies: Vec<MessageContent>,
    events: Vec<FlowEvent>,
    handled: bool,
    now: DateTime<Utc>,
    window_open: bool,
    diverted: bool,
    steps: u32,
    visits: HashMap<String, u32>,
    http_calls: u32,
    started: Instant,
    origin: String,
}

impl<'e> Turn<'e> {
    fn new(
        engine: &'e Engine,
        doc: &'e FlowDocument,
        flow: FlowId,
        session: ConversationSession,
        message: Option<&InboundMessage>,
        now: DateTime<Utc>,
        events: Vec<FlowEvent>,
    ) -> Self {
        let mut builtins = BTreeMap::new();
        builtins.insert(
            "contact",
            json!({
                "phone": session.user.as_str(),
                "name": message.and_then(|m| m.profile_name.clone()),
            }),
        );
        if let Some(message) = message {
            let answer = Answer::of(message);
            builtins.insert(
                "msg",
                json!({
                    "id": message.id,
                    "type": message.kind.kind(),
                    "text": answer.words(),
                    "reply_id": answer.reply_id,
                }),
            );
        }
        builtins.insert("channel", json!({"id": session.channel_id}));
        builtins.insert("now", json!(now.to_rfc3339()));
        let window_open = session.last_inbound_at.is_some_and(|at| at + WINDOW > now);
        let origin = match message {
            Some(m) => m.id.clone(),
            None => format!("wake:{}", now.timestamp_millis()),
        };
        Self {
            engine,
            doc,
            flow,
            session,
            builtins,
            replies: Vec::new(),
            events,
            handled: true,
            now,
            window_open,
            diverted: false,
            steps: 0,
            visits: HashMap::new(),
            http_calls: 0,
            started: Instant::now(),
            origin,
        }
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            vars: Some(&self.session.variables),
            builtins: self.builtins.clone(),
        }
    }

    fn render_text(&self, text: &str) -> String {
        let scope = self.scope();
        render(text, |path| scope.lookup(path))
    }

    /// Renders every string leaf; a leaf that is exactly one placeholder keeps the value's type.
    fn render_json(&self, value: &Value) -> Value {
        let scope = self.scope();
        render_json_in(&scope, value)
    }

    fn content_of(&self, message: &FlowMessage) -> Option<MessageContent> {
        match message {
            FlowMessage::Text(text) => Some(MessageContent::text(self.render_text(text))),
            FlowMessage::Content(content) => {
                let value = serde_json::to_value(content).ok()?;
                serde_json::from_value(self.render_json(&value)).ok()
            }
        }
    }

    fn send(&mut self, content: MessageContent) -> std::result::Result<(), Stop> {
        if !self.window_open && !matches!(content, MessageContent::Template(_)) {
            return Err(Stop::WindowClosed);
        }
        if self.replies.len() >= self.engine.limits.max_replies {
            return Err(Stop::Limit);
        }
        self.replies.push(content);
        Ok(())
    }

    fn send_message(&mut self, message: &FlowMessage) -> std::result::Result<(), Stop> {
        match self.content_of(message) {
            Some(content) => self.send(content),
            None => Ok(()),
        }
    }

    /// The prompt of a waiting node.
    fn prompt_of(&self, node: &FlowNode) -> Option<MessageContent> {
        match node {
            FlowNode::Text { content, .. } => Some(MessageContent::text(self.render_text(content))),
            FlowNode::Interactive { content, .. } => {
                interactive_content(&self.render_json(content)).ok()
            }
            FlowNode::Ask { message, .. } => self.content_of(message),
            _ => None,
        }
    }

    fn end(&mut self, node: &str, outcome: Option<&str>) {
        self.events.push(FlowEvent::Completed {
            flow: self.flow,
            outcome: outcome.unwrap_or("completed").to_owned(),
            node: node.to_owned(),
        });
        reset(&mut self.session, SessionState::Ended);
    }

    fn fail(&mut self, reason: &str, node: Option<String>) {
        self.events.push(FlowEvent::Failed {
            flow: self.flow,
            reason: reason.to_owned(),
            node,
        });
        reset(&mut self.session, SessionState::Ended);
    }

    fn wait(&mut self, name: &str) {
        let settings = &self.doc.settings;
        self.session.state = SessionState::Active;
        self.session.node = Some(name.to_owned());
        let ttl = chrono::Duration::seconds(
            i64::try_from(settings.session_ttl_secs).unwrap_or(i64::MAX / 1000),
        );
        self.session.expires_at = Some(self.now + ttl);
        self.session.wake_at = match self.doc.nodes.get(name) {
            Some(FlowNode::Ask {
                timeout: Some(timeout),
                ..
            }) => parse_duration(&timeout.after)
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| self.now + d),
            _ => None,
        };
    }

    /// Runs from `start` to the next waiting node or an end, diverting once to the
    /// window-closed node when free-form content cannot go out.
    async fn run(&mut self, start: Option<String>) -> Result<()> {
        let mut next = start;
        loop {
            match self.run_inner(next.take()).await? {
                None => return Ok(()),
                Some(Stop::Limit) => {
                    let node = self.session.node.clone();
                    self.fail("step_limit", node);
                    return Ok(());
                }
                Some(Stop::WindowClosed) => match &self.doc.settings.on_window_closed {
                    Some(target) if !self.diverted => {
                        self.diverted = true;
                        self.replies
                            .retain(|r| matches!(r, MessageContent::Template(_)));
                        next = Some(target.clone());
                    }
                    _ => {
                        let node = self.session.node.clone();
                        self.replies
                            .retain(|r| matches!(r, MessageContent::Template(_)));
                        self.fail("window_closed", node);
                        return Ok(());
                    }
                },
            }
        }
    }

    async fn run_inner(&mut self, start: Option<String>) -> Result<Option<Stop>> {
        let mut current = start;
        let mut last = self.session.node.clone().unwrap_or_default();
        while let Some(name) = current.take() {
            self.steps += 1;
            let visits = self.visits.entry(name.clone()).or_insert(0);
            *visits += 1;
            let limits = &self.engine.limits;
            if self.steps > limits.max_steps
                || *visits > limits.max_visits_per_node
                || self.started.elapsed() > limits.max_duration
            {
                self.session.node = Some(name);
                return Ok(Some(Stop::Limit));
            }
            let Some(node) = self.doc.nodes.get(&name) else {
                self.fail("missing_node", Some(name));
                return Ok(None);
            };
            self.session.node = Some(name.clone());
            last.clone_from(&name);
            match node {
                FlowNode::Text { options, .. } if options.is_empty() => {
                    if let Some(prompt) = self.prompt_of(node)
                        && let Err(stop) = self.send(prompt)
                    {
                        return Ok(Some(stop));
                    }
                    self.end(&name, None);
                    return Ok(None);
                }
                FlowNode::Text { .. } | FlowNode::Interactive { .. } | FlowNode::Ask { .. } => {
                    if let Some(prompt) = self.prompt_of(node)
                        && let Err(stop) = self.send(prompt)
                    {
                        return Ok(Some(stop));
                    }
                    self.session.retries = 0;
                    self.wait(&name);
                    return Ok(None);
                }
                FlowNode::Send {
                    message,
                    messages,
                    next,
                } => {
                    for message in message.iter().chain(messages) {
                        if let Err(stop) = self.send_message(message) {
                            return Ok(Some(stop));
                        }
                    }
                    current.clone_from(next);
                }
                FlowNode::Set { vars, next } => {
                    for (key, value) in vars {
                        let value = self.render_json(value);
                        self.session.variables.insert(key.clone(), value);
                    }
                    current.clone_from(next);
                }
                FlowNode::Condition {
                    branches,
                    otherwise,
                } => {
                    let scope = self.scope();
                    current = branches
                        .iter()
                        .find(|b| holds(&scope, &b.when))
                        .map(|b| b.next.clone())
                        .or_else(|| otherwise.clone());
                }
                FlowNode::Http { .. } => {
                    if self.http_calls >= self.engine.limits.max_http_calls {
                        return Ok(Some(Stop::Limit));
                    }
                    self.http_calls += 1;
                    current = Some(self.call(&name, node).await);
                }
                FlowNode::Handoff {
                    message,
                    release_after_secs,
                    resume,
                } => {
                    if let Some(message) = message
                        && let Err(stop) = self.send_message(message)
                    {
                        return Ok(Some(stop));
                    }
                    let after = release_after_secs.map_or(DEFAULT_HANDOFF, Duration::from_secs);
                    reset(&mut self.session, SessionState::HandedOff);
                    self.session.node.clone_from(resume);
                    self.session.handoff_until = Some(
                        self.now
                            + chrono::Duration::from_std(after)
                                .unwrap_or(chrono::Duration::days(1)),
                    );
                    self.events.push(FlowEvent::HandedOff {
                        flow: self.flow,
                        node: name.clone(),
                    });
                    return Ok(None);
                }
                FlowNode::Jump { node } => current = Some(node.clone()),
                FlowNode::End { message, outcome } => {
                    if let Some(message) = message
                        && let Err(stop) = self.send_message(message)
                    {
                        return Ok(Some(stop));
                    }
                    self.end(&name, outcome.as_deref());
                    return Ok(None);
                }
            }
        }
        // A node without a next edge ends the flow.
        self.end(&last, None);
        Ok(None)
    }

    /// Makes an `http` node's call; returns the next node.
    async fn call(&mut self, name: &str, node: &FlowNode) -> String {
        let FlowNode::Http {
            method,
            url,
            headers,
            body,
            timeout_secs,
            save,
            next,
            on_error,
        } = node
        else {
            return String::new();
        };
        let scope = self.scope();
        let url = render_with(url, |p| scope.lookup(p), |v| percent_encode(&v));
        let mut header_list: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.clone(), render(v, |p| scope.lookup(p))))
            .collect();
        header_list.push((
            "Idempotency-Key".into(),
            format!(
                "flow:{}:{}:{}:{}",
                self.session.id, self.origin, name, self.http_calls
            ),
        ));
        let request = FlowHttpRequest {
            method: method.to_ascii_uppercase(),
            url,
            headers: header_list,
            body: body.as_ref().map(|b| render_json_in(&scope, b)),
            timeout: Duration::from_secs(timeout_secs.unwrap_or(10).clamp(1, 30)),
        };
        drop(scope);
        let (status, error, parsed) = match self.engine.http.call(request).await {
            Ok(response) if (200..300).contains(&response.status) => {
                match serde_json::from_slice::<Value>(&response.body) {
                    Ok(json) => (Some(response.status), None, Some(json)),
                    Err(_) if save.is_empty() => (Some(response.status), None, None),
                    Err(_) => (Some(response.status), Some("invalid_json".to_owned()), None),
                }
            }
            Ok(response) => (Some(response.status), Some("status".to_owned()), None),
            Err((kind, detail)) => {
                tracing::debug!(node = name, kind, detail, "flow http call failed");
                (None, Some(kind.to_owned()), None)
            }
        };
        self.events.push(FlowEvent::HttpCalled {
            node: name.to_owned(),
            status,
            error: error.clone(),
        });
        self.session
            .variables
            .insert("http".into(), json!({"status": status, "error": error}));
        if error.is_some() {
            return on_error.clone();
        }
        if let Some(json) = parsed {
            for (var, pointer) in save {
                let value = json.pointer(pointer).cloned().unwrap_or(Value::Null);
                self.session.variables.insert(var.clone(), value);
            }
        }
        next.clone()
    }

    /// Takes the answer to the waiting node.
    async fn answer(&mut self, answer: &Answer) -> Result<()> {
        let Some(name) = self.session.node.clone() else {
            self.fail("missing_node", None);
            return Ok(());
        };
        let Some(node) = self.doc.nodes.get(&name) else {
            self.fail("missing_node", Some(name));
            return Ok(());
        };
        let target = match node {
            FlowNode::Text { options, .. } => match_option(options, answer, &[]).map(|(_, t)| t),
            FlowNode::Interactive {
                options, content, ..
            } => {
                let offered = interactive_content(content)
                    .map(|c| offered_replies(&c))
                    .unwrap_or_default();
                if options.is_empty() {
                    // GVINUM: a reply whose id names a node moves there.
                    offered
                        .iter()
                        .find(|(id, title)| {
                            answer.reply_id.as_deref() == Some(id.as_str())
                                || answer.words().is_some_and(|w| fold(w) == fold(title))
                        })
                        .map(|(id, _)| id.clone())
                        .filter(|id| self.doc.nodes.contains_key(id))
                } else {
                    match_option(options, answer, &offered).map(|(_, t)| t)
                }
            }
            FlowNode::Ask {
                input,
                save_as,
                options,
                next,
                ..
            } => {
                let checked = match input {
                    InputSpec::Choice => match_option(options, answer, &[])
                        .map(|(key, target)| (json!(key), Some(target)))
                        .ok_or(()),
                    _ => check(input, answer, self.engine.region)
                        .map(|value| {
                            let target = match_option(options, answer, &[]).map(|(_, t)| t);
                            (value, target)
                        })
                        .map_err(|_| ()),
                };
                match checked {
                    Ok((value, target)) => {
                        if let Some(var) = save_as {
                            self.session.variables.insert(var.clone(), value);
                        }
                        match target.or_else(|| next.clone()) {
                            Some(target) => Some(target),
                            None => {
                                self.session.retries = 0;
                                self.end(&name, None);
                                return Ok(());
                            }
                        }
                    }
                    Err(()) => None,
                }
            }
            _ => None,
        };
        match target {
            Some(target) => {
                self.session.retries = 0;
                self.session.wake_at = None;
                self.run(Some(target)).await
            }
            None => self.invalid(&name, node).await,
        }
    }

    async fn invalid(&mut self, name: &str, node: &FlowNode) -> Result<()> {
        self.events.push(FlowEvent::InvalidAnswer {
            node: name.to_owned(),
        });
        self.session.retries += 1;
        let (max, retry_message, on_invalid) = match node {
            FlowNode::Ask {
                retry, on_invalid, ..
            } => (retry.max, retry.message.clone(), on_invalid.clone()),
            _ => (2, None, None),
        };
        if self.session.retries <= max {
            let mut result = Ok(());
            if let Some(message) = &retry_message {
                result = self.send_message(message);
            }
            if result.is_ok()
                && let Some(prompt) = self.prompt_of(node)
            {
                result = self.send(prompt);
            }
            if let Err(stop) = result {
                match stop {
                    Stop::Limit => self.fail("step_limit", Some(name.to_owned())),
                    Stop::WindowClosed => self.fail("window_closed", Some(name.to_owned())),
                }
            } else {
                let retries = self.session.retries;
                self.wait(name);
                self.session.retries = retries;
            }
            return Ok(());
        }
        match on_invalid {
            Some(target) => {
                self.session.retries = 0;
                self.run(Some(target)).await
            }
            None => {
                // Give the message to auto-reply rules or a human.
                self.handled = false;
                self.fail("invalid_answers", Some(name.to_owned()));
                Ok(())
            }
        }
    }

    fn finish(self) -> FlowOutcome {
        let mut outcome = finish(self.session, self.replies, self.events, self.handled);
        outcome.session.last_activity_at = self.now;
        outcome
    }
}

/// Finds the option an answer picks: by reply id, then title, then typed text (folded); `"*"`
/// catches anything else. `offered` maps reply ids to titles for interactive prompts.
fn match_option(
    options: &std::collections::BTreeMap<String, String>,
    answer: &Answer,
    offered: &[(String, String)],
) -> Option<(String, String)> {
    let pick = |key: &str| {
        options
            .get_key_value(key)
            .map(|(k, t)| (k.clone(), t.clone()))
    };
    if let Some(id) = &answer.reply_id {
        if let Some(found) = pick(id) {
            return Some(found);
        }
        // An option keyed by the title of the chosen button.
        if let Some((_, title)) = offered.iter().find(|(i, _)| i == id)
            && let Some(found) = options.iter().find(|(k, _)| fold(k) == fold(title))
        {
            return Some((found.0.clone(), found.1.clone()));
        }
    }
    for words in [answer.reply_title.as_deref(), answer.text.as_deref()]
        .into_iter()
        .flatten()
    {
        let folded = fold(words);
        if let Some((k, t)) = options.iter().find(|(k, _)| fold(k) == folded) {
            return Some((k.clone(), t.clone()));
        }
        // Typed text equal to an offered title picks that reply.
        if let Some((id, _)) = offered.iter().find(|(_, title)| fold(title) == folded)
            && let Some(found) = pick(id)
        {
            return Some(found);
        }
    }
    if answer.words().is_some() || answer.reply_id.is_some() {
        return pick("*");
    }
    None
}

fn render_json_in(scope: &Scope<'_>, value: &Value) -> Value {
    match value {
        Value::String(s) => {
            let trimmed = s.trim();
            if let Some(inner) = trimmed
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                && !inner.contains("{{")
                && !inner.contains("}}")
            {
                return scope.lookup(inner).unwrap_or(Value::Null);
            }
            Value::String(render(s, |p| scope.lookup(p)))
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_json_in(scope, v)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_json_in(scope, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Evaluates a condition; a missing variable makes comparisons false.
fn holds(scope: &Scope<'_>, condition: &Condition) -> bool {
    match condition {
        Condition::All { all } => all.iter().all(|c| holds(scope, c)),
        Condition::Any { any } => any.iter().any(|c| holds(scope, c)),
        Condition::Compare { var, op, value } => {
            let left = scope.lookup(var).filter(|v| !v.is_null());
            if let CompareOp::Exists = op {
                return left.is_some();
            }
            if let CompareOp::Empty = op {
                return match &left {
                    None => true,
                    Some(Value::String(s)) => s.is_empty(),
                    Some(Value::Array(a)) => a.is_empty(),
                    Some(Value::Object(o)) => o.is_empty(),
                    Some(_) => false,
                };
            }
            let (Some(left), Some(right)) =
                (left, value.as_ref().map(|v| render_json_in(scope, v)))
            else {
                return false;
            };
            let numbers = number_of(&left).zip(number_of(&right));
            match op {
                CompareOp::Eq | CompareOp::Ne => {
                    let equal = match numbers {
                        Some((a, b)) => a == b,
                        None => fold(&as_text(&left)) == fold(&as_text(&right)),
                    };
                    equal == (*op == CompareOp::Eq)
                }
                CompareOp::Gt => numbers.is_some_and(|(a, b)| a > b),
                CompareOp::Gte => numbers.is_some_and(|(a, b)| a >= b),
                CompareOp::Lt => numbers.is_some_and(|(a, b)| a < b),
                CompareOp::Lte => numbers.is_some_and(|(a, b)| a <= b),
                CompareOp::Contains => fold(&as_text(&left)).contains(&fold(&as_text(&right))),
                CompareOp::Matches => regex::Regex::new(&as_text(&right))
                    .map(|r| r.is_match(&as_text(&left)))
                    .unwrap_or(false),
                CompareOp::Exists | CompareOp::Empty => false,
            }
        }
    }
}
