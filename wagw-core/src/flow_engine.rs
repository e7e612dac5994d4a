//! The [`FlowEngine`] trait: chatbot logic as a function of session and inbound message.
//!
//! wagw's implementation is [`crate::flow::Engine`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::content::MessageContent;
use crate::event::InboundMessage;
use crate::ids::FlowId;
use crate::model::flow::ConversationSession;

/// Decides how a chatbot answers. Pure with respect to storage: the caller loads the session,
/// calls [`handle`](FlowEngine::handle), sends the replies and saves the returned session with
/// its version check, so two inbound messages racing for one user never both win (the loser
/// reloads the session and calls again).
#[async_trait]
pub trait FlowEngine: Send + Sync {
    /// Handles one inbound message for a user's session: answers inside a running flow, or
    /// starts a flow the message triggers. A session that already applied this message (its
    /// `last_applied_wamid`) comes back unchanged with no replies.
    async fn handle(
        &self,
        session: ConversationSession,
        message: &InboundMessage,
    ) -> Result<FlowOutcome>;

    /// Starts `flow` for the session from its start node (an auto-reply rule's "start flow"
    /// action, a campaign, an API call), replacing any flow it was in. `message` is the inbound
    /// message that caused it, if any; it is not taken as an answer.
    ///
    /// The default refuses: an engine without flows of its own cannot start one.
    async fn start(
        &self,
        session: ConversationSession,
        flow: FlowId,
        message: Option<&InboundMessage>,
    ) -> Result<FlowOutcome> {
        let _ = (session, message);
        Err(crate::Error::InvalidState {
            entity: "flow engine",
            state: format!("unable to start flow {flow}"),
            action: "start a flow",
        })
    }

    /// Called by a sweeper at or after the session's [`due_at`](ConversationSession::due_at):
    /// runs a node's timeout branch, expires an idle session or ends a hand-off.
    ///
    /// The default has nothing to wake and returns the session unchanged, unhandled.
    async fn wake(&self, session: ConversationSession, now: DateTime<Utc>) -> Result<FlowOutcome> {
        let _ = now;
        Ok(FlowOutcome::unhandled(session))
    }
}

/// What a [`FlowEngine`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowOutcome {
    /// Messages to send to the user, in order.
    pub replies: Vec<MessageContent>,
    /// The session as it should be saved.
    pub session: ConversationSession,
    /// Whether the engine took the message; `false` lets auto-reply rules or a human have it.
    pub handled: bool,
    /// What happened, for analytics and outbound webhooks (flow completed, handed off ...).
    pub events: Vec<FlowEvent>,
    /// When the session next needs the sweeper ([`FlowEngine::wake`]), if ever.
    pub wake_at: Option<DateTime<Utc>>,
}

impl FlowOutcome {
    /// The session unchanged, the message not taken.
    pub fn unhandled(session: ConversationSession) -> Self {
        let wake_at = session.due_at();
        Self {
            replies: Vec::new(),
            session,
            handled: false,
            events: Vec::new(),
            wake_at,
        }
    }
}

/// Something that happened in a turn.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FlowEvent {
    /// A session started the flow.
    Started {
        /// The flow.
        flow: FlowId,
        /// Its pinned version.
        version: u32,
    },
    /// The flow reached an end (outcome `completed` unless the node names one).
    Completed {
        /// The flow.
        flow: FlowId,
        /// The outcome label.
        outcome: String,
        /// The last node.
        node: String,
    },
    /// A human took the conversation.
    HandedOff {
        /// The flow.
        flow: FlowId,
        /// The hand-off node.
        node: String,
    },
    /// A hand-off ended and the bot took over again.
    Released {
        /// The flow.
        flow: FlowId,
    },
    /// The user stayed silent past the session's time to live.
    Expired {
        /// The flow.
        flow: FlowId,
        /// The node the user stopped at.
        node: Option<String>,
    },
    /// The user cancelled with a cancel word.
    Cancelled {
        /// The flow.
        flow: FlowId,
        /// The node the user stopped at.
        node: Option<String>,
    },
    /// The session ended without reaching an end: `step_limit`, `window_closed`,
    /// `invalid_answers`, `missing_node`.
    Failed {
        /// The flow.
        flow: FlowId,
        /// Why.
        reason: String,
        /// Where.
        node: Option<String>,
    },
    /// An answer did not pass the node's input check.
    InvalidAnswer {
        /// The node.
        node: String,
    },
    /// A node's timeout fired.
    TimedOut {
        /// The node.
        node: String,
    },
    /// An `http` node made a call.
    HttpCalled {
        /// The node.
        node: String,
        /// The status, when a response came.
        status: Option<u16>,
        /// The failure kind (`timeout`, `denied`, `status`, `too_large`, `invalid_json` ...).
        error: Option<String>,
    },
}
