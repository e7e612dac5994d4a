//! Chatbot flows (a state machine per user) and conversation sessions.
//!
//! A [`Flow`] carries a [`FlowDocument`]: a start node, declared variables, settings and a map
//! of named [`FlowNode`]s. The node set is a superset of GVINUM's ChatFlow JSON (`text` and
//! `interactive` nodes with `content` and `options`), so GVINUM documents load unchanged
//! (see [`crate::flow::load_document`]); the richer nodes (`send`, `ask`, `set`, `condition`,
//! `http`, `handoff`, `jump`, `end`) add input capture, variables, branches and HTTP calls.
//! The engine that runs them is [`crate::flow::Engine`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::MessageContent;
use crate::ids::{ChannelId, FlowId, SessionId, TenantId};
use crate::phone::PhoneNumber;

/// A chatbot flow as stored: identity, activation and its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Identifier.
    pub id: FlowId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name.
    pub name: String,
    /// Words that start the flow for a user without a session (matched against the whole
    /// message, case- and accent-insensitively).
    #[serde(default)]
    pub triggers: Vec<String>,
    /// The document: nodes, start, variables, settings.
    pub document: FlowDocument,
    /// Published version, raised by every activation of a changed document; running sessions
    /// keep the version they started with.
    #[serde(default)]
    pub version: u32,
    /// Whether new sessions may start. Only a document without validation errors can be
    /// activated ([`crate::flow::activate`]).
    #[serde(default)]
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Flow {
    /// A new, inactive flow (version 0) with this document.
    pub fn new(tenant_id: TenantId, name: impl Into<String>, document: FlowDocument) -> Self {
        let now = Utc::now();
        Self {
            id: FlowId::new(),
            tenant_id,
            name: name.into(),
            triggers: Vec::new(),
            document,
            version: 0,
            active: false,
            created_at: now,
            updated_at: now,
        }
    }
}

/// The content of a flow: what the engine runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowDocument {
    /// The node a new session starts at (`root` for GVINUM documents).
    pub start: String,
    /// Declared variables with their initial values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Session settings.
    #[serde(default)]
    pub settings: FlowSettings,
    /// The nodes by name.
    pub nodes: BTreeMap<String, FlowNode>,
}

/// Per-flow session settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowSettings {
    /// Idle time after which a waiting session expires, in seconds (default one hour).
    pub session_ttl_secs: u64,
    /// Whole messages that end the session (folded: case and accents ignored).
    pub cancel_words: Vec<String>,
    /// Whole messages that restart the flow from its start.
    pub restart_words: Vec<String>,
    /// Node to run instead when a free-form message would go out while the 24-hour window is
    /// closed (it should send a template); without it the session ends silently.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_window_closed: Option<String>,
}

impl Default for FlowSettings {
    fn default() -> Self {
        Self {
            session_ttl_secs: 3600,
            cancel_words: vec!["batal".into(), "cancel".into(), "stop".into()],
            restart_words: vec!["ulang".into(), "restart".into()],
            on_window_closed: None,
        }
    }
}

/// A message in a flow document: plain text, or any [`MessageContent`] in Meta's wire form.
/// `{{ variable }}` placeholders are filled in every string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FlowMessage {
    /// A text message.
    Text(String),
    /// Any content (`{"type": "interactive", "interactive": {...}}` ...).
    Content(MessageContent),
}

/// One node of a flow, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Nodes live once per document in a map, never in hot collections: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum FlowNode {
    /// GVINUM: a text message. With `options` it waits for an answer (a key of `options`, or a
    /// typed text equal to one) and moves to the mapped node; without, it is sent and the flow
    /// ends.
    Text {
        /// The text.
        content: String,
        /// Answer → next node.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        options: BTreeMap<String, String>,
        /// GVINUM repeats the node name here; ignored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
    },
    /// GVINUM: an interactive message. `content` is GVINUM's shorthand `{type: list|button,
    /// body, button, sections|buttons}` or Meta's `interactive` object. An answer matches an
    /// option by reply id, then title, then typed text; without options, a reply whose id names
    /// a node moves there.
    Interactive {
        /// The interactive content.
        content: serde_json::Value,
        /// Answer → next node.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        options: BTreeMap<String, String>,
        /// GVINUM repeats the node name here; ignored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<String>,
    },
    /// Sends one or more messages, then moves on (or ends without `next`).
    Send {
        /// One message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<FlowMessage>,
        /// Several messages, after `message`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        messages: Vec<FlowMessage>,
        /// The next node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Sends a prompt and waits for an answer, validated by `input`.
    Ask {
        /// The prompt.
        message: FlowMessage,
        /// What the answer must be.
        #[serde(default)]
        input: InputSpec,
        /// Variable that receives the (normalised) answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        save_as: Option<String>,
        /// Answer → next node (`"*"` catches any valid answer); for `choice` the keys are the
        /// choices.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        options: BTreeMap<String, String>,
        /// Next node after a valid answer no option maps.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        /// Re-prompting on invalid answers.
        #[serde(default)]
        retry: RetrySpec,
        /// Where to go after the last invalid answer; without it the session ends unhandled,
        /// so auto-reply rules can answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_invalid: Option<String>,
        /// Where to go when no answer comes in time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<TimeoutSpec>,
    },
    /// Assigns variables (values are JSON; strings are templates).
    Set {
        /// Name → value.
        vars: BTreeMap<String, serde_json::Value>,
        /// The next node.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Branches: the first branch whose condition holds, else `else`.
    Condition {
        /// Branches in order.
        branches: Vec<Branch>,
        /// The node when no branch holds.
        #[serde(rename = "else", default, skip_serializing_if = "Option::is_none")]
        otherwise: Option<String>,
    },
    /// Calls an HTTP API through the SSRF guard; 2xx goes to `next`, anything else to
    /// `on_error` with `http.error` set.
    Http {
        /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
        #[serde(default = "default_method")]
        method: String,
        /// The URL; placeholders only after the host, values percent-encoded.
        url: String,
        /// Headers (values are templates; line breaks are refused).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// A JSON body whose string leaves are templates; a leaf that is exactly
        /// `"{{ name }}"` keeps the variable's JSON type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<serde_json::Value>,
        /// Total timeout in seconds (default 10, at most 30).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u64>,
        /// Variable → JSON pointer into the response (`/data/name`).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        save: BTreeMap<String, String>,
        /// Next node on a 2xx.
        next: String,
        /// Next node on any failure.
        on_error: String,
    },
    /// Hands the conversation to a human: the bot stays silent until released or
    /// `release_after_secs` (default 24 h) pass; then the session resumes at `resume`, if
    /// given, or ends.
    Handoff {
        /// Sent to the user first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<FlowMessage>,
        /// Seconds until the bot takes over again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_after_secs: Option<u64>,
        /// Node to resume at.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Moves to another node of the flow.
    Jump {
        /// The node.
        node: String,
    },
    /// Ends the session.
    End {
        /// A goodbye message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<FlowMessage>,
        /// An outcome label for analytics (`completed` by default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
    },
}

fn default_method() -> String {
    "GET".into()
}

impl FlowNode {
    /// Whether the node stops the turn to wait for the user.
    pub fn waits_for_input(&self) -> bool {
        match self {
            Self::Ask { .. } | Self::Interactive { .. } => true,
            Self::Text { options, .. } => !options.is_empty(),
            _ => false,
        }
    }

    /// Every edge out of the node as (field path below the node, target).
    pub fn edges(&self) -> Vec<(String, &str)> {
        let mut edges = Vec::new();
        match self {
            Self::Text { options, .. } | Self::Interactive { options, .. } => {
                for (key, target) in options {
                    edges.push((format!("options/{}", escape_pointer(key)), target.as_str()));
                }
            }
            Self::Send { next, .. } | Self::Set { next, .. } => {
                if let Some(next) = next {
                    edges.push(("next".into(), next.as_str()));
                }
            }
            Self::Ask {
                options,
                next,
                on_invalid,
                timeout,
                ..
            } => {
                for (key, target) in options {
                    edges.push((format!("options/{}", escape_pointer(key)), target.as_str()));
                }
                if let Some(next) = next {
                    edges.push(("next".into(), next.as_str()));
                }
                if let Some(target) = on_invalid {
                    edges.push(("on_invalid".into(), target.as_str()));
                }
                if let Some(timeout) = timeout {
                    edges.push(("timeout/next".into(), timeout.next.as_str()));
                }
            }
            Self::Condition {
                branches,
                otherwise,
            } => {
                for (i, branch) in branches.iter().enumerate() {
                    edges.push((format!("branches/{i}/next"), branch.next.as_str()));
                }
                if let Some(target) = otherwise {
                    edges.push(("else".into(), target.as_str()));
                }
            }
            Self::Http { next, on_error, .. } => {
                edges.push(("next".into(), next.as_str()));
                edges.push(("on_error".into(), on_error.as_str()));
            }
            Self::Handoff { resume, .. } => {
                if let Some(target) = resume {
                    edges.push(("resume".into(), target.as_str()));
                }
            }
            Self::Jump { node } => edges.push(("node".into(), node.as_str())),
            Self::End { .. } => {}
        }
        edges
    }
}

/// Escapes a JSON Pointer reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// What an `ask` node accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputSpec {
    /// Any text, optionally bounded in characters.
    Text {
        /// Fewest characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<usize>,
        /// Most characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<usize>,
    },
    /// A number (`1.234,5` and `1,234.5` both read), optionally bounded.
    Number {
        /// Smallest value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Largest value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// An e-mail address (saved lower-cased).
    Email,
    /// A phone number in the channel's region (saved as E.164 digits, e.g. `628123456789`).
    Phone,
    /// A date `YYYY-MM-DD`, `DD/MM/YYYY` or `DD-MM-YYYY` (saved as ISO `YYYY-MM-DD`).
    Date,
    /// Text matching a regular expression in full.
    Regex {
        /// The pattern.
        pattern: String,
    },
    /// One of the node's option keys (by reply id, title or typed text).
    #[default]
    Choice,
    /// An image, video, audio, document or sticker (saves the media id).
    Media,
    /// A shared location (saves `{latitude, longitude, name, address}`).
    Location,
}

/// Re-prompting on invalid answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrySpec {
    /// Invalid answers tolerated before `on_invalid` (default 2).
    pub max: u32,
    /// Sent before the prompt is repeated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<FlowMessage>,
}

impl Default for RetrySpec {
    fn default() -> Self {
        Self {
            max: 2,
            message: None,
        }
    }
}

/// A timeout on a waiting node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutSpec {
    /// How long to wait: `30s`, `10m`, `2h` (30 s to 23 h).
    pub after: String,
    /// The node to run when the time passes.
    pub next: String,
}

/// One branch of a `condition` node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    /// The condition.
    pub when: Condition,
    /// The node when it holds.
    pub next: String,
}

/// A condition over variables. A missing variable makes comparisons false.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    /// Every condition holds.
    All {
        /// The conditions.
        all: Vec<Condition>,
    },
    /// Some condition holds.
    Any {
        /// The conditions.
        any: Vec<Condition>,
    },
    /// A comparison of a variable.
    Compare {
        /// Variable path (`qty`, `contact.name`, `http.status`).
        var: String,
        /// The operator.
        op: CompareOp,
        /// The right-hand side (a template when a string); unused by `exists` and `empty`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<serde_json::Value>,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    /// Equal (numbers by value, strings folded).
    Eq,
    /// Not equal.
    Ne,
    /// Greater than (numbers).
    Gt,
    /// Greater or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less or equal.
    Lte,
    /// The string contains the value (folded).
    Contains,
    /// The string matches the regular expression in `value`.
    Matches,
    /// The variable is set.
    Exists,
    /// The variable is unset, null, `""` or `[]`.
    Empty,
}

/// A user's place in a flow on one channel. Unique per (tenant, channel, user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSession {
    /// Identifier.
    pub id: SessionId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The channel the conversation runs on.
    pub channel_id: ChannelId,
    /// The user.
    pub user: PhoneNumber,
    /// The flow, if the user is in one.
    pub flow_id: Option<FlowId>,
    /// The node awaiting the user's answer.
    pub node: Option<String>,
    /// Captured variables and API answers.
    pub variables: BTreeMap<String, serde_json::Value>,
    /// Session state.
    pub state: SessionState,
    /// Optimistic-concurrency version; a save with a stale version is a conflict.
    pub version: u64,
    /// Last message from or to the user.
    pub last_activity_at: DateTime<Utc>,
    /// When the session expires without activity.
    pub expires_at: Option<DateTime<Utc>>,
    /// The flow version the session runs (pinned at start).
    #[serde(default)]
    pub flow_version: u32,
    /// The document of that version, kept with the session so a running conversation finishes
    /// on the version it started with even after the flow is changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Box<FlowDocument>>,
    /// Invalid answers given at the current node.
    #[serde(default)]
    pub retries: u32,
    /// When the current node's timeout fires (a sweeper resumes the session then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<DateTime<Utc>>,
    /// The wamid of the last inbound message applied: a rerun of the same turn stops here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_wamid: Option<String>,
    /// When the user last wrote: the 24-hour window runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// While handed off, when the bot takes over again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_until: Option<DateTime<Utc>>,
}

impl ConversationSession {
    /// A fresh session with no flow.
    pub fn new(tenant_id: TenantId, channel_id: ChannelId, user: PhoneNumber) -> Self {
        Self {
            id: SessionId::new(),
            tenant_id,
            channel_id,
            user,
            flow_id: None,
            node: None,
            variables: BTreeMap::new(),
            state: SessionState::Idle,
            version: 0,
            last_activity_at: Utc::now(),
            expires_at: None,
            flow_version: 0,
            pinned: None,
            retries: 0,
            wake_at: None,
            last_applied_wamid: None,
            last_inbound_at: None,
            handoff_until: None,
        }
    }

    /// The earliest time a sweeper must look at the session: its node timeout, its expiry or
    /// the end of a hand-off.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        match self.state {
            SessionState::Active => match (self.wake_at, self.expires_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            SessionState::HandedOff => self.handoff_until,
            _ => None,
        }
    }
}

/// The state of a conversation session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// No flow running.
    Idle,
    /// Inside a flow, waiting for the user.
    Active,
    /// A human has the conversation.
    HandedOff,
    /// The flow ended.
    Ended,
    /// The user stayed silent past the timeout.
    Expired,
}

/// What a user did in a flow, as flow-engagement analytics counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngagementKind {
    /// Entered the flow.
    Started,
    /// Reached an end node.
    Completed,
    /// Left without reaching an end: silent past the time to live, a cancel word, or a turn
    /// that failed; the node is where the user stopped.
    DroppedOff,
    /// Was handed to a human.
    HandedOff,
}

/// One step of a user's way through a flow, stored with the session save that takes it
/// ([`ConversationStore::save_session_with_engagement`](crate::store::ConversationStore::save_session_with_engagement)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowEngagement {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The flow.
    pub flow_id: FlowId,
    /// What happened.
    pub kind: EngagementKind,
    /// For a drop-off or hand-off, the node it happened at (when known).
    pub node: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl FlowEngagement {
    /// Refuses steps of another tenant than the session's, before a store writes anything.
    pub fn check_for(session: &ConversationSession, engagement: &[Self]) -> crate::Result<()> {
        if engagement.iter().any(|e| e.tenant_id != session.tenant_id) {
            return Err(crate::Error::invalid_input(
                "engagement",
                "a step belongs to another tenant",
            ));
        }
        Ok(())
    }

    /// The engagement steps in a turn's [`FlowEvent`](crate::flow_engine::FlowEvent)s: starts,
    /// ends, hand-offs, and expiries, cancels and failures as drop-offs.
    pub fn from_events(
        tenant_id: TenantId,
        events: &[crate::flow_engine::FlowEvent],
        at: DateTime<Utc>,
    ) -> Vec<Self> {
        use crate::flow_engine::FlowEvent as E;
        events
            .iter()
            .filter_map(|e| {
                let (flow_id, kind, node) = match e {
                    E::Started { flow, .. } => (*flow, EngagementKind::Started, None),
                    E::Completed { flow, .. } => (*flow, EngagementKind::Completed, None),
                    E::HandedOff { flow, node } => {
                        (*flow, EngagementKind::HandedOff, Some(node.clone()))
                    }
                    E::Expired { flow, node }
                    | E::Cancelled { flow, node }
                    | E::Failed { flow, node, .. } => {
                        (*flow, EngagementKind::DroppedOff, node.clone())
                    }
                    _ => return None,
                };
                Some(Self {
                    tenant_id,
                    flow_id,
                    kind,
                    node,
                    at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_tagged_by_type_and_list_their_edges() {
        let node: FlowNode = serde_json::from_value(serde_json::json!({
            "type": "ask",
            "message": "Berapa unit?",
            "input": {"kind": "number", "min": 1},
            "save_as": "qty",
            "next": "confirm",
            "timeout": {"after": "10m", "next": "bye"}
        }))
        .unwrap();
        assert!(node.waits_for_input());
        let targets: Vec<_> = node.edges().into_iter().map(|(_, t)| t).collect();
        assert_eq!(targets, ["confirm", "bye"]);
        let back = serde_json::to_value(&node).unwrap();
        assert_eq!(back["type"], "ask");
        assert_eq!(serde_json::from_value::<FlowNode>(back).unwrap(), node);
    }
}
