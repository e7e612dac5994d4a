//! Scheduled messages: once at a time, or recurring by cron in a timezone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::content::MessageContent;
use crate::ids::{ChannelId, ScheduleId, TenantId};
use crate::phone::PhoneNumber;

/// A message to send later, once or repeatedly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledMessage {
    /// Identifier.
    pub id: ScheduleId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The sending number.
    pub channel_id: ChannelId,
    /// The recipient.
    pub to: PhoneNumber,
    /// What to send.
    pub content: MessageContent,
    /// When.
    pub recurrence: Recurrence,
    /// The next due time; `None` once a one-off has run or the schedule is exhausted.
    pub next_run_at: Option<DateTime<Utc>>,
    /// The last time it ran.
    pub last_run_at: Option<DateTime<Utc>>,
    /// Why its last run could not be sent, when it could not.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Whether it is in force.
    pub active: bool,
    /// Optimistic-concurrency version, so two schedulers never fire the same run.
    pub version: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// When a scheduled message runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recurrence {
    /// Once, at a time.
    Once {
        /// The time.
        at: DateTime<Utc>,
    },
    /// By a 5-field cron expression in a timezone.
    Cron {
        /// For example `0 9 * * 1-5`.
        expression: String,
        /// IANA timezone, e.g. `Asia/Jakarta`.
        timezone: chrono_tz::Tz,
    },
}
