//! Scheduled messages: one-off at a time, or recurring by a 5-field cron expression in a
//! timezone, sent through the [`Dispatcher`].
//!
//! [`Scheduler::tick`] sends what is due. Each run's message has the idempotency key
//! `schedule:{id}:{due time}`, so two schedulers (or a crash between sending and recording the
//! run) never send a run twice.
//!
//! **Missed runs** (the gateway was down when runs fell due) follow [`MissedRuns`]: by
//! default the latest missed run is sent once, late, and the schedule continues from now;
//! runs older than that are dropped. A reminder that fires late beats none; a backlog of
//! identical reminders helps nobody.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;

use crate::content::OutboundMessage;
use crate::dispatch::{Dispatcher, NewMessage};
use crate::error::Retry;
use crate::model::schedule::{Recurrence, ScheduledMessage};
use crate::queue::Queue;
use crate::store::Store;
use crate::transport::Transport;
use crate::{Error, Result};

/// A run this late counts as missed.
const MISSED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What to do with runs that fell due while nothing was running (more than five minutes ago).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissedRuns {
    /// Send the latest missed run once, then continue with the next future run.
    #[default]
    SendLatest,
    /// Send none of them; continue with the next future run.
    Skip,
}

/// A parsed recurrence, checked for sense.
pub fn parse_cron(expression: &str) -> Result<Cron> {
    let fields = expression.split_whitespace().count();
    if fields != 5 {
        return Err(Error::invalid_input(
            "cron",
            format!("{expression:?} has {fields} fields; use minute hour day month weekday"),
        ));
    }
    Cron::from_str(expression)
        .map_err(|e| Error::invalid_input("cron", format!("{expression:?}: {e}")))
}

/// The first run of a recurrence strictly after `after`.
pub fn next_run(recurrence: &Recurrence, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    match recurrence {
        Recurrence::Once { at } => Ok((*at > after).then_some(*at)),
        Recurrence::Cron {
            expression,
            timezone,
        } => {
            let cron = parse_cron(expression)?;
            let local = after.with_timezone(timezone);
            cron.find_next_occurrence(&local, false)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| Error::invalid_input("cron", e.to_string()))
        }
    }
}

/// Sends scheduled messages when they fall due.
pub struct Scheduler<S: ?Sized, Q: ?Sized, T: ?Sized> {
    dispatcher: Dispatcher<S, Q, T>,
    missed: MissedRuns,
}

impl<S: ?Sized, Q: ?Sized, T: ?Sized> std::fmt::Debug for Scheduler<S, Q, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("missed", &self.missed)
            .finish_non_exhaustive()
    }
}

impl<S, Q, T> Scheduler<S, Q, T>
where
    S: Store + ?Sized + 'static,
    Q: Queue + ?Sized + 'static,
    T: Transport + ?Sized + 'static,
{
    /// A scheduler that sends through `dispatcher`.
    pub fn new(dispatcher: Dispatcher<S, Q, T>, missed: MissedRuns) -> Self {
        Self { dispatcher, missed }
    }

    /// Validates and stores a schedule, computing its first run. The plan's limit on
    /// scheduled messages is enforced.
    pub async fn create(&self, schedule: &ScheduledMessage) -> Result<ScheduledMessage> {
        let store = self.dispatcher.store();
        let tenant = store.get_tenant(schedule.tenant_id).await?;
        store
            .get_channel(schedule.tenant_id, schedule.channel_id)
            .await?;
        OutboundMessage::new(schedule.to.as_str(), schedule.content.clone()).validate()?;
        if let Some(limit) = tenant
            .plan
            .limit(crate::model::tenant::QuotaResource::ScheduledMessages)
            && store.count_schedules(tenant.id).await? >= limit
        {
            return Err(Error::QuotaExceeded {
                resource: "scheduled_messages".into(),
                limit,
            });
        }
        let mut schedule = schedule.clone();
        schedule.next_run_at = next_run(&schedule.recurrence, Utc::now())?;
        if schedule.next_run_at.is_none() {
            return Err(Error::invalid_input(
                "recurrence",
                "never runs in the future",
            ));
        }
        schedule.version = 0;
        store.create_schedule(&schedule).await?;
        Ok(schedule)
    }

    /// Sends every run due at `now`; returns how many messages were submitted.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<usize> {
        let store = self.dispatcher.store();
        let mut submitted = 0;
        for mut schedule in store.due_schedules(now, 500).await? {
            let Some(due) = schedule.next_run_at else {
                continue;
            };
            // The latest run at or before now: for a cron schedule that was down for a while,
            // the most recent occurrence rather than the first missed one.
            let latest = latest_due(&schedule.recurrence, due, now)?;
            let on_time = now - latest <= MISSED_AFTER;
            let send = on_time || self.missed == MissedRuns::SendLatest;
            if send {
                let message = NewMessage::new(
                    schedule.tenant_id,
                    schedule.channel_id,
                    schedule.to.clone(),
                    schedule.content.clone(),
                )
                .idempotency_key(format!(
                    "schedule:{}:{}",
                    schedule.id,
                    latest.timestamp()
                ));
                match self.dispatcher.submit(message).await {
                    Ok(_) => {
                        submitted += 1;
                        schedule.last_error = None;
                    }
                    // This run cannot be sent (its content or channel became invalid): it is
                    // recorded as failed and the other schedules go on.
                    Err(e) if e.retry() == Retry::Never => {
                        tracing::warn!(schedule = %schedule.id, error = %e, "scheduled run refused");
                        schedule.last_error = Some(e.to_string());
                    }
                    Err(e) => return Err(e),
                }
                schedule.last_run_at = Some(latest);
            }
            schedule.next_run_at = next_run(&schedule.recurrence, now)?;
            schedule.active = schedule.next_run_at.is_some();
            match store.update_schedule(&schedule).await {
                // Another scheduler recorded this run; the idempotency key kept it single.
                Ok(_) | Err(Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(submitted)
    }
}

/// The latest occurrence in `[due, now]`.
fn latest_due(
    recurrence: &Recurrence,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let mut latest = due;
    while let Some(next) = next_run(recurrence, latest)? {
        if next > now {
            break;
        }
        latest = next;
    }
    Ok(latest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(expression: &str) -> Recurrence {
        Recurrence::Cron {
            expression: expression.into(),
            timezone: chrono_tz::Asia::Jakarta,
        }
    }

    #[test]
    fn cron_runs_in_the_schedules_timezone() {
        // 09:00 on weekdays in Jakarta is 02:00 UTC. 2026-11-21 is a Saturday.
        let after = Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap();
        let next = next_run(&cron("0 9 * * 1-5"), after).unwrap();
        assert_eq!(
            next,
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap())
        );
    }

    #[test]
    fn only_five_field_expressions_are_accepted() {
        assert!(parse_cron("0 0 9 * * 1-5").is_err());
        assert!(parse_cron("every day").is_err());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("*/15 8-17 * * *").is_ok());
    }

    #[test]
    fn the_latest_missed_run_is_found() {
        let hourly = cron("0 * * * *");
        let due = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 5, 30, 0).unwrap();
        assert_eq!(
            latest_due(&hourly, due, now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 21, 5, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_one_off_has_no_run_after_its_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
        assert_eq!(next_run(&Recurrence::Once { at }, at).unwrap(), None);
    }
}
