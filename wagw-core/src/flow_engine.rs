//! The [`FlowEngine`] trait: chatbot logic as a function of session and inbound message.

use async_trait::async_trait;

use crate::Result;
use crate::content::MessageContent;
use crate::event::InboundMessage;
use crate::model::flow::ConversationSession;

/// Decides how a chatbot answers. Pure with respect to storage: the caller loads the session,
/// calls [`handle`](FlowEngine::handle), sends the replies and saves the returned session with
/// its version check, so two inbound messages racing for one user never both win.
#[async_trait]
pub trait FlowEngine: Send + Sync {
    /// Handles one inbound message for a user's session.
    async fn handle(
        &self,
        session: ConversationSession,
        message: &InboundMessage,
    ) -> Result<FlowOutcome>;
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
}
