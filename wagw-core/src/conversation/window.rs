//! The 24-hour customer-service window: free-form messages may reach a user only within
//! 24 hours of their latest inbound message on the channel; templates may always go out.

use chrono::{DateTime, TimeDelta, Utc};

use crate::content::MessageContent;

/// How long the window stays open after the user's latest inbound message.
pub const WINDOW: TimeDelta = TimeDelta::hours(24);

/// When the window closes, given the user's latest inbound message (the store's
/// [`last_inbound_at`](crate::store::MessageStore::last_inbound_at)); `None` when it never
/// opened.
pub fn open_until(last_inbound_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    last_inbound_at.map(|at| at + WINDOW)
}

/// Whether `content` may be sent at `now` with the window closing at `open_until`: templates
/// always, anything else only while the window is open.
///
/// ```
/// use chrono::{TimeDelta, Utc};
/// use wagw_core::content::MessageContent;
/// use wagw_core::conversation::window;
///
/// let now = Utc::now();
/// let until = window::open_until(Some(now - TimeDelta::hours(25)));
/// assert!(!window::allows(&MessageContent::text("Halo"), until, now));
/// let until = window::open_until(Some(now - TimeDelta::hours(2)));
/// assert!(window::allows(&MessageContent::text("Halo"), until, now));
/// ```
pub fn allows(
    content: &MessageContent,
    open_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    matches!(content, MessageContent::Template(_)) || open_until.is_some_and(|until| now < until)
}
