//! Campaigns (blasts): create, fill with recipients, schedule, run, pause, resume, cancel,
//! and report.
//!
//! [`CampaignEngine`] works on top of the [`Dispatcher`](crate::dispatch::Dispatcher): it turns
//! recipients into messages (rendered per recipient, idempotency key
//! `campaign:{campaign}:{recipient}`, plus `:{round}` after a retry of failed recipients) and submits them; the dispatcher sends them within the
//! number's limits and marks each recipient. Everything the engine does is idempotent, so
//! several processes may drive the same campaigns and a crash mid-way repeats nothing:
//! [`tick`](CampaignEngine::tick) feeds running campaigns, starts scheduled ones when due, holds
//! campaigns outside their sending window, and completes drained ones.
//!
//! Recipients are fed once: in id order, with a cursor saved on the campaign after every
//! batch, so the work follows what is left to send, never the whole audience per tick.
//!
//! Pausing takes effect at once: the dispatcher leaves a paused campaign's messages queued,
//! unsent, and gives up their jobs. Resuming (or the sending window opening) queues them
//! again; jobs are deduplicated per message, so nothing already sent is sent again.
//! Cancelling fails the messages not yet sent with reason `campaign_cancelled`.

mod audience;
mod engine;
mod feeder;
mod personalize;
mod report;
mod schedule;

pub use audience::{ExpansionReport, Rejection};
pub use engine::CampaignEngine;
pub use personalize::render;
pub use report::{CampaignReport, RecipientRow};
pub use schedule::parse_schedule;
