//! Campaigns (blasts) and their recipients.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    CampaignId, ChannelId, ContactId, MessageId, RecipientId, RejectionId, TemplateId, TenantId,
};
use crate::model::contact::ContactFilter;
use crate::model::message::MessageStatus;
use crate::phone::PhoneNumber;

/// A campaign: one content sent to an audience from one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Identifier.
    pub id: CampaignId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The sending number.
    pub channel_id: ChannelId,
    /// Name.
    pub name: String,
    /// What to send.
    pub content: CampaignContent,
    /// Whom to send it to.
    pub audience: Audience,
    /// When to start; `None` waits for an explicit start.
    pub start_at: Option<DateTime<Utc>>,
    /// Daily sending window in the tenant's timezone; outside it the campaign waits.
    pub window: Option<SendingWindow>,
    /// Fixed pause between two messages of this campaign, in milliseconds.
    pub delay_between_messages_ms: Option<u64>,
    /// Lifecycle state.
    pub state: CampaignState,
    /// Why the campaign failed, when it did.
    pub failure_reason: Option<String>,
    /// Sending round: 0 at first, one more for every retry of failed recipients. A
    /// recipient's message of a later round is a new message.
    #[serde(default)]
    pub round: u32,
    /// How far this round's recipients have been turned into messages.
    #[serde(default)]
    pub feed: FeedCursor,
    /// Optimistic-concurrency version; stores bump it on every update.
    pub version: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When sending started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the campaign reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A campaign's progress in turning recipients into messages: recipients are fed once, in
/// id order, and the cursor is saved after every batch, so feeding resumes where it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedCursor {
    /// The page cursor after the last recipient fed; `None` before the first.
    pub after: Option<String>,
    /// Every recipient of the round has a message.
    pub done: bool,
}

impl Campaign {
    /// A draft campaign.
    pub fn new(
        tenant_id: TenantId,
        channel_id: ChannelId,
        name: impl Into<String>,
        content: CampaignContent,
        audience: Audience,
    ) -> Self {
        Self {
            id: CampaignId::new(),
            tenant_id,
            channel_id,
            name: name.into(),
            content,
            audience,
            start_at: None,
            window: None,
            delay_between_messages_ms: None,
            state: CampaignState::Draft,
            failure_reason: None,
            round: 0,
            feed: FeedCursor::default(),
            version: 0,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
        }
    }

    /// Moves to `to` if the lifecycle allows it, or explains why not. Keeps the timestamps
    /// in step: `started_at` at the first run, `finished_at` on reaching a final state (and
    /// cleared when a finished campaign runs again).
    pub fn transition(&mut self, to: CampaignState, action: &'static str) -> crate::Result<()> {
        if !self.state.can_move_to(to) {
            return Err(crate::Error::InvalidState {
                entity: "campaign",
                state: self.state.as_str().to_owned(),
                action,
            });
        }
        let now = Utc::now();
        if to == CampaignState::Running {
            self.started_at.get_or_insert(now);
        }
        self.finished_at = to.is_final().then_some(now);
        self.state = to;
        Ok(())
    }
}

/// What a campaign sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CampaignContent {
    /// An approved template; parameters are placeholders filled per recipient.
    Template {
        /// The template.
        template_id: TemplateId,
        /// Body parameters in order, e.g. `["{nama}", "{{1}}", "fixed"]`.
        body_params: Vec<String>,
        /// Header parameters in order.
        #[serde(default)]
        header_params: Vec<String>,
    },
    /// Free text (only reaches users inside their 24-hour window) with placeholders.
    Text {
        /// The text, e.g. `Halo {nama}, tagihan Anda {amount}`.
        body: String,
    },
}

/// Whom a campaign reaches. The parts are united; duplicates are sent once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    /// Contacts selected by lists, tags and fields; `None` selects no stored contacts.
    pub filter: Option<ContactFilter>,
    /// Numbers given explicitly, as the caller wrote them.
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Recipients come from an uploaded CSV as well.
    #[serde(default)]
    pub csv: bool,
}

/// A daily window, in the tenant's timezone, in which a campaign may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendingWindow {
    /// Start of the window.
    pub start: NaiveTime,
    /// End of the window; before `start` means the window spans midnight.
    pub end: NaiveTime,
}

impl SendingWindow {
    /// Whether `time` lies inside the window.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }
}

/// Lifecycle of a campaign: draft → scheduled → running ⇄ paused → completed / cancelled / failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Being prepared.
    Draft,
    /// Waiting for its start time.
    Scheduled,
    /// Sending.
    Running,
    /// Stopped by an operator; resumes where it left off.
    Paused,
    /// Every recipient reached a final state.
    Completed,
    /// Stopped for good by an operator.
    Cancelled,
    /// Stopped by an error (template rejected, channel banned ...).
    Failed,
}

impl CampaignState {
    /// The lifecycle's edges.
    pub fn can_move_to(self, to: Self) -> bool {
        use CampaignState::*;
        matches!(
            (self, to),
            (Draft, Scheduled | Running | Cancelled)
                | (Scheduled, Running | Paused | Cancelled | Draft)
                | (Running, Paused | Completed | Cancelled | Failed)
                | (Paused, Running | Cancelled | Failed)
                // retry-failed reopens a finished campaign for its failed recipients
                | (Completed | Failed, Running)
        )
    }

    /// Whether the campaign is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
    }

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

/// One recipient of a campaign. Unique per (campaign, phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecipient {
    /// Identifier.
    pub id: RecipientId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Where to send.
    pub phone: PhoneNumber,
    /// The stored contact, when the recipient came from one.
    pub contact_id: Option<ContactId>,
    /// Values for placeholders (contact fields, CSV columns).
    pub variables: BTreeMap<String, String>,
    /// Status.
    pub status: RecipientStatus,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The message sent to this recipient, once created.
    pub message_id: Option<MessageId>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl CampaignRecipient {
    /// A pending recipient.
    pub fn new(
        tenant_id: TenantId,
        campaign_id: CampaignId,
        phone: PhoneNumber,
        variables: BTreeMap<String, String>,
    ) -> Self {
        Self {
            id: RecipientId::new(),
            tenant_id,
            campaign_id,
            phone,
            contact_id: None,
            variables,
            status: RecipientStatus::Pending,
            reason: None,
            message_id: None,
            updated_at: Utc::now(),
        }
    }
}

/// Status of a campaign recipient; moves forward only, like [`MessageStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Not sent yet.
    Pending,
    /// Accepted by WhatsApp.
    Sent,
    /// Delivered.
    Delivered,
    /// Read.
    Read,
    /// Failed; see the reason.
    Failed,
    /// Not attempted (invalid number, duplicate, opted out ...); see the reason.
    Skipped,
}

impl RecipientStatus {
    /// All statuses.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Skipped,
    ];

    /// The recipient status that mirrors a message status.
    pub fn from_message(status: MessageStatus) -> Self {
        match status {
            MessageStatus::Queued | MessageStatus::Sending | MessageStatus::Received => {
                Self::Pending
            }
            MessageStatus::Sent => Self::Sent,
            MessageStatus::Delivered => Self::Delivered,
            MessageStatus::Read => Self::Read,
            MessageStatus::Failed => Self::Failed,
        }
    }

    /// Whether moving from `self` to `to` is allowed: the same rule as messages, and
    /// `skipped` only from `pending`.
    pub fn can_move_to(self, to: Self) -> bool {
        use crate::model::message::Transition;
        match (self, to) {
            (Self::Pending, Self::Skipped) => true,
            (Self::Skipped, _) | (_, Self::Skipped) => false,
            (from, to) => from.as_message().transition(to.as_message()) == Transition::Advance,
        }
    }

    fn as_message(self) -> MessageStatus {
        match self {
            Self::Pending | Self::Skipped => MessageStatus::Queued,
            Self::Sent => MessageStatus::Sent,
            Self::Delivered => MessageStatus::Delivered,
            Self::Read => MessageStatus::Read,
            Self::Failed => MessageStatus::Failed,
        }
    }

    /// Whether the recipient is done.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Sent | Self::Delivered)
    }

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// An audience input a campaign refused at expansion (invalid number, duplicate, malformed
/// CSV row). It cannot be a recipient (it has no valid or no new phone), so it is stored beside
/// them, without cap, and counted as `skipped`: a campaign's report accounts for every input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Identifier; time-ordered, so rejections list in the order they were refused.
    pub id: RejectionId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The CSV line (1 is the header), when the input came from a CSV.
    pub line: Option<u64>,
    /// The input, cut to [`Rejection::MAX_INPUT`] characters.
    pub input: String,
    /// Why it was refused.
    pub reason: String,
    /// When it was refused.
    pub created_at: DateTime<Utc>,
}

impl Rejection {
    /// The longest input kept, in characters: enough to recognise a row, bounded so a hostile
    /// upload cannot bloat the store.
    pub const MAX_INPUT: usize = 100;

    /// A rejection of `input` (cut to [`MAX_INPUT`](Self::MAX_INPUT) characters) for `reason`.
    pub fn new(
        tenant_id: TenantId,
        campaign_id: CampaignId,
        line: Option<u64>,
        input: &str,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            id: RejectionId::new(),
            tenant_id,
            campaign_id,
            line,
            input: input.chars().take(Self::MAX_INPUT).collect(),
            reason: reason.into(),
            created_at: Utc::now(),
        }
    }
}

/// Live counts of a campaign's recipients, each recipient counted once by its current status;
/// refused inputs ([`Rejection`]s) count as `skipped`. Stores maintain them as recipients
/// change, so reading them costs the same whatever the audience size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCounters {
    /// All recipients.
    pub total: u64,
    /// Not sent yet.
    pub pending: u64,
    /// Sent, not (yet) delivered.
    pub sent: u64,
    /// Delivered, not (yet) read.
    pub delivered: u64,
    /// Read.
    pub read: u64,
    /// Failed.
    pub failed: u64,
    /// Skipped: recipients not attempted and refused inputs.
    pub skipped: u64,
    /// Of `skipped` (and `total`), the refused inputs: they never were recipients.
    #[serde(default)]
    pub rejected: u64,
}

impl CampaignCounters {
    /// Adds `n` recipients of `status`.
    pub fn add(&mut self, status: RecipientStatus, n: u64) {
        self.total += n;
        *match status {
            RecipientStatus::Pending => &mut self.pending,
            RecipientStatus::Sent => &mut self.sent,
            RecipientStatus::Delivered => &mut self.delivered,
            RecipientStatus::Read => &mut self.read,
            RecipientStatus::Failed => &mut self.failed,
            RecipientStatus::Skipped => &mut self.skipped,
        } += n;
    }

    /// Removes `n` recipients of `status` (saturating: counters never wrap).
    pub fn remove(&mut self, status: RecipientStatus, n: u64) {
        self.total = self.total.saturating_sub(n);
        let slot = match status {
            RecipientStatus::Pending => &mut self.pending,
            RecipientStatus::Sent => &mut self.sent,
            RecipientStatus::Delivered => &mut self.delivered,
            RecipientStatus::Read => &mut self.read,
            RecipientStatus::Failed => &mut self.failed,
            RecipientStatus::Skipped => &mut self.skipped,
        };
        *slot = slot.saturating_sub(n);
    }

    /// Adds `n` refused inputs: counted as skipped.
    pub fn add_rejected(&mut self, n: u64) {
        self.add(RecipientStatus::Skipped, n);
        self.rejected += n;
    }

    /// Recipients, refused inputs left out.
    pub fn recipients(&self) -> u64 {
        self.total - self.rejected
    }

    /// Recipients that reached at least `sent` (the funnel's first step).
    pub fn reached_sent(&self) -> u64 {
        self.sent + self.delivered + self.read
    }

    /// Whether no recipient is waiting to be sent.
    pub fn is_drained(&self) -> bool {
        self.pending == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_windows_may_span_midnight() {
        let t = |h: u32| NaiveTime::from_hms_opt(h, 0, 0).expect("time");
        let day = SendingWindow {
            start: t(8),
            end: t(17),
        };
        assert!(day.contains(t(8)) && day.contains(t(16)) && !day.contains(t(17)));
        let night = SendingWindow {
            start: t(22),
            end: t(2),
        };
        assert!(night.contains(t(23)) && night.contains(t(1)) && !night.contains(t(12)));
    }

    #[test]
    fn recipients_only_move_forward_and_skip_only_from_pending() {
        use RecipientStatus::*;
        assert!(Pending.can_move_to(Skipped) && !Sent.can_move_to(Skipped));
        assert!(Sent.can_move_to(Read) && !Read.can_move_to(Delivered));
        assert!(!Failed.can_move_to(Sent) && !Skipped.can_move_to(Sent));
    }

    #[test]
    fn transitions_keep_the_timestamps() {
        let mut c = Campaign::new(
            TenantId::new(),
            ChannelId::new(),
            "promo",
            CampaignContent::Text {
                body: "Halo".into(),
            },
            Audience::default(),
        );
        c.transition(CampaignState::Scheduled, "schedule")
            .expect("schedule");
        assert_eq!((c.started_at, c.finished_at), (None, None));
        c.transition(CampaignState::Running, "start")
            .expect("start");
        let started = c.started_at.expect("started");
        c.transition(CampaignState::Completed, "complete")
            .expect("complete");
        assert!(c.finished_at.is_some());
        c.transition(CampaignState::Running, "retry")
            .expect("retry");
        assert_eq!((c.started_at, c.finished_at), (Some(started), None));
        let err = c.transition(CampaignState::Draft, "edit").unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::InvalidState);
    }
}
