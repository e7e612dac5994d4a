//! Message-level metrics, emitted through the [`metrics`] facade.
//!
//! wagw-core never installs a recorder: an application that wants the figures installs one
//! (for example `metrics-exporter-prometheus`) and every engine's events show up; without one
//! each call is a no-op. Names and labels are stable; this module is the one place they are
//! spelled, so a dashboard can rely on them.
//!
//! | metric | kind | labels | when |
//! |---|---|---|---|
//! | `wagw_messages_submitted_total` | counter | `channel` | a message was recorded and queued (not a repeated idempotency key) |
//! | `wagw_messages_sent_total` | counter | `channel` | the transport accepted a message |
//! | `wagw_messages_failed_total` | counter | `channel` | a message failed (refused before sending, permanent error, out of attempts) |
//! | `wagw_throttled_total` | counter | `channel`, `kind` = `number` \| `recipient` | Meta throttled a send (130429 / 131056) |
//! | `wagw_ambiguous_total` | counter | `channel` | a send's outcome was unknown (crash or lost answer) |
//! | `wagw_send_latency_seconds` | histogram | `channel` | one transport send call, successful or not |
//! | `wagw_message_status_total` | counter | `status` | a status webhook moved a message forward |
//! | `wagw_queue_jobs` | gauge | `state` = `ready` \| `delayed` \| `reserved` \| `dead` | sampled by the [`Runtime`](crate::runtime::Runtime) |
//! | `wagw_runtime_loop_errors_total` | counter | `loop` | a background loop's tick failed |
//! | `wagw_acceptor_batch_size` | histogram | | messages one [`Acceptor`](crate::dispatch::Acceptor) batch recorded together |

use std::time::Duration;

use crate::ids::ChannelId;
use crate::model::message::MessageStatus;
use crate::queue::QueueStats;

/// Messages recorded and queued.
pub const MESSAGES_SUBMITTED: &str = "wagw_messages_submitted_total";
/// Messages the transport accepted.
pub const MESSAGES_SENT: &str = "wagw_messages_sent_total";
/// Messages failed.
pub const MESSAGES_FAILED: &str = "wagw_messages_failed_total";
/// Sends Meta throttled.
pub const THROTTLED: &str = "wagw_throttled_total";
/// Sends whose outcome was unknown.
pub const AMBIGUOUS: &str = "wagw_ambiguous_total";
/// Duration of one transport send.
pub const SEND_LATENCY: &str = "wagw_send_latency_seconds";
/// Status moves applied from webhooks.
pub const MESSAGE_STATUS: &str = "wagw_message_status_total";
/// Jobs in the queue by state.
pub const QUEUE_JOBS: &str = "wagw_queue_jobs";
/// Failed ticks of background loops.
pub const LOOP_ERRORS: &str = "wagw_runtime_loop_errors_total";
/// Messages per group-commit batch of the acceptor.
pub const ACCEPTOR_BATCH: &str = "wagw_acceptor_batch_size";

/// Which limit Meta said a send exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The number's throughput (130429).
    Number,
    /// The pair limit towards one recipient (131056).
    Recipient,
}

/// Records the size of one acceptor batch.
pub fn acceptor_batch(size: usize) {
    metrics::histogram!(ACCEPTOR_BATCH).record(size as f64);
}

/// Counts a recorded and queued message.
pub fn submitted(channel: ChannelId) {
    metrics::counter!(MESSAGES_SUBMITTED, "channel" => channel.to_string()).increment(1);
}

/// Counts a message the transport accepted.
pub fn sent(channel: ChannelId) {
    metrics::counter!(MESSAGES_SENT, "channel" => channel.to_string()).increment(1);
}

/// Counts a failed message.
pub fn failed(channel: ChannelId) {
    metrics::counter!(MESSAGES_FAILED, "channel" => channel.to_string()).increment(1);
}

/// Counts a throttled send.
pub fn throttled(channel: ChannelId, kind: Throttle) {
    let kind = match kind {
        Throttle::Number => "number",
        Throttle::Recipient => "recipient",
    };
    metrics::counter!(THROTTLED, "channel" => channel.to_string(), "kind" => kind).increment(1);
}

/// Counts a send whose outcome is unknown.
pub fn ambiguous(channel: ChannelId) {
    metrics::counter!(AMBIGUOUS, "channel" => channel.to_string()).increment(1);
}

/// Records the duration of one transport send.
pub fn send_latency(channel: ChannelId, took: Duration) {
    metrics::histogram!(SEND_LATENCY, "channel" => channel.to_string()).record(took.as_secs_f64());
}

/// Counts a status move applied from a webhook.
pub fn status_moved(to: MessageStatus) {
    metrics::counter!(MESSAGE_STATUS, "status" => to.as_str()).increment(1);
}

/// Sets the queue-depth gauges.
pub fn queue_depth(stats: &QueueStats) {
    for (state, value) in [
        ("ready", stats.ready),
        ("delayed", stats.delayed),
        ("reserved", stats.reserved),
        ("dead", stats.dead),
    ] {
        metrics::gauge!(QUEUE_JOBS, "state" => state).set(value as f64);
    }
}

/// Counts a failed tick of a background loop.
pub fn loop_error(name: &'static str) {
    metrics::counter!(LOOP_ERRORS, "loop" => name).increment(1);
}
