//! Chatbot flows (a state machine per user) and conversation sessions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::MessageContent;
use crate::ids::{ChannelId, FlowId, SessionId, TenantId};
use crate::phone::PhoneNumber;

/// A chatbot flow: named nodes, a start node, and a session timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Identifier.
    pub id: FlowId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name.
    pub name: String,
    /// Words that start the flow for a user without a session (case-insensitive).
    pub triggers: Vec<String>,
    /// The node a new session starts at.
    pub start: String,
    /// The nodes by name.
    pub nodes: BTreeMap<String, FlowNode>,
    /// Idle time after which a session expires, in seconds.
    pub timeout_secs: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Flow {
    /// Checks that the start node and every referenced node exist.
    pub fn validate(&self) -> crate::Result<()> {
        let missing = |name: &str| !self.nodes.contains_key(name);
        if missing(&self.start) {
            return Err(crate::Error::invalid_input(
                "start",
                format!("node {:?} does not exist", self.start),
            ));
        }
        for (name, node) in &self.nodes {
            if let Some(next) = node.successors().into_iter().find(|n| missing(n)) {
                return Err(crate::Error::invalid_input(
                    format!("nodes.{name}"),
                    format!("refers to missing node {next:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// One node of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlowNode {
    /// Sends a message, then moves on to `next` (or ends the flow).
    Message {
        /// What to send; `{var}` placeholders are filled from session variables.
        content: MessageContent,
        /// The next node.
        next: Option<String>,
    },
    /// Sends a prompt and waits for the user's answer.
    Question {
        /// The prompt (often interactive buttons or a list).
        prompt: MessageContent,
        /// Answers mapped to next nodes, matched by button/list id or text.
        #[serde(default)]
        options: Vec<FlowOption>,
        /// Stores the answer in a variable, after validation.
        capture: Option<Capture>,
        /// Where to go when the answer matches no option (and capture is not set).
        fallback: Option<String>,
    },
    /// Branches on a variable.
    Condition {
        /// The variable to test.
        variable: String,
        /// Value → next node.
        cases: BTreeMap<String, String>,
        /// Next node when no case matches.
        otherwise: String,
    },
    /// Calls an external HTTP API; its JSON answer is stored under `store_as`.
    HttpCall {
        /// `GET` or `POST`.
        method: String,
        /// URL; `{var}` placeholders are filled from session variables.
        url: String,
        /// JSON body template for `POST`.
        body: Option<serde_json::Value>,
        /// Variable that receives the response.
        store_as: String,
        /// Next node on success.
        next: String,
        /// Next node on failure.
        on_error: String,
    },
    /// Hands the conversation to a human; the bot stays silent until released.
    Handoff {
        /// Message sent to the user.
        message: Option<MessageContent>,
    },
    /// Ends the session.
    End {
        /// A goodbye message.
        message: Option<MessageContent>,
    },
}

impl FlowNode {
    /// Names of nodes this node can move to.
    pub fn successors(&self) -> Vec<&str> {
        match self {
            Self::Message { next, .. } => next.iter().map(String::as_str).collect(),
            Self::Question {
                options, fallback, ..
            } => options
                .iter()
                .map(|o| o.next.as_str())
                .chain(fallback.as_deref())
                .collect(),
            Self::Condition {
                cases, otherwise, ..
            } => cases
                .values()
                .map(String::as_str)
                .chain([otherwise.as_str()])
                .collect(),
            Self::HttpCall { next, on_error, .. } => vec![next, on_error],
            Self::Handoff { .. } | Self::End { .. } => Vec::new(),
        }
    }
}

/// An answer that leads somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowOption {
    /// Button/list ids or texts that select this option (case-insensitive).
    pub matches: Vec<String>,
    /// The next node.
    pub next: String,
}

/// Captures a free-text answer into a variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// Variable name.
    pub variable: String,
    /// What the answer must look like.
    pub validation: InputValidation,
    /// Sent when the answer is invalid; the question is asked again.
    pub retry_prompt: Option<String>,
    /// Next node after a valid answer.
    pub next: String,
}

/// Validation of captured input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputValidation {
    /// Any non-empty text.
    Any,
    /// An integer.
    Number,
    /// A phone number (normalised in the tenant's region).
    Phone,
    /// An e-mail address.
    Email,
    /// One of these values (case-insensitive).
    OneOf {
        /// Allowed values.
        values: Vec<String>,
    },
    /// Text whose length in characters lies within bounds.
    Length {
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn flow(nodes: Vec<(&str, FlowNode)>) -> Flow {
        Flow {
            id: FlowId::new(),
            tenant_id: TenantId::new(),
            name: "menu".into(),
            triggers: vec!["menu".into()],
            start: "start".into(),
            nodes: nodes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            timeout_secs: 900,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn question(next: &str) -> FlowNode {
        FlowNode::Question {
            prompt: MessageContent::text("1. Tagihan 2. Gangguan"),
            options: vec![FlowOption {
                matches: vec!["1".into()],
                next: next.into(),
            }],
            capture: None,
            fallback: Some("start".into()),
        }
    }

    #[test]
    fn a_connected_flow_is_valid() {
        let end = FlowNode::End { message: None };
        flow(vec![("start", question("done")), ("done", end)])
            .validate()
            .expect("valid");
    }

    #[test]
    fn missing_nodes_are_named() {
        let err = flow(vec![("start", question("nowhere"))])
            .validate()
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput);
        assert!(err.to_string().contains("nowhere"), "{err}");
        let no_start = flow(vec![("other", FlowNode::End { message: None })]);
        assert!(
            no_start
                .validate()
                .unwrap_err()
                .to_string()
                .contains("start")
        );
    }
}
