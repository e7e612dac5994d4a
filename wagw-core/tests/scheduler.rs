//! Scheduled messages on the memory backends and the stub transport.

mod common;

use chrono::{TimeDelta, Utc};
use common::{Setup, phone, quick};
use wagw_core::ErrorCode;
use wagw_core::content::MessageContent;
use wagw_core::ids::ScheduleId;
use wagw_core::model::schedule::{Recurrence, ScheduledMessage};
use wagw_core::scheduler::{MissedRuns, Scheduler};
use wagw_core::store::{MessageQuery, MessageStore, Page, ScheduleStore};

fn schedule(s: &Setup, recurrence: Recurrence) -> ScheduledMessage {
    ScheduledMessage {
        id: ScheduleId::new(),
        tenant_id: s.tenant.id,
        channel_id: s.channel.id,
        to: phone(1),
        content: MessageContent::text("Pengingat: tagihan jatuh tempo besok"),
        recurrence,
        next_run_at: None,
        last_run_at: None,
        last_error: None,
        active: true,
        version: 0,
        created_at: Utc::now(),
    }
}

async fn messages(s: &Setup) -> usize {
    s.store
        .list_messages(s.tenant.id, &MessageQuery::default(), Page::first(100))
        .await
        .expect("list")
        .items
        .len()
}

#[tokio::test]
async fn a_one_off_runs_once_even_with_two_schedulers() {
    let s = Setup::new(80).await;
    let a = Scheduler::new(s.dispatcher(quick()), MissedRuns::SendLatest);
    let b = Scheduler::new(s.dispatcher(quick()), MissedRuns::SendLatest);
    let at = Utc::now() + TimeDelta::seconds(60);
    let created = a
        .create(&schedule(&s, Recurrence::Once { at }))
        .await
        .expect("create");
    assert_eq!(created.next_run_at, Some(at));
    assert_eq!(a.tick(Utc::now()).await.expect("early"), 0);
    let due = at + TimeDelta::seconds(1);
    let (x, y) = tokio::join!(a.tick(due), b.tick(due));
    assert!(x.expect("a") + y.expect("b") >= 1);
    assert_eq!(messages(&s).await, 1, "one message for one run");
    let stored = s
        .store
        .get_schedule(s.tenant.id, created.id)
        .await
        .expect("get");
    assert!(!stored.active);
    assert_eq!(stored.next_run_at, None);
}

#[tokio::test]
async fn a_cron_schedule_sends_the_latest_missed_run_once() {
    let s = Setup::new(80).await;
    let scheduler = Scheduler::new(s.dispatcher(quick()), MissedRuns::SendLatest);
    let hourly = Recurrence::Cron {
        expression: "0 * * * *".into(),
        timezone: chrono_tz::Asia::Jakarta,
    };
    let created = scheduler
        .create(&schedule(&s, hourly))
        .await
        .expect("create");
    let first = created.next_run_at.expect("next");
    // The gateway was down for five hours after the first run fell due.
    let now = first + TimeDelta::hours(5) + TimeDelta::minutes(10);
    assert_eq!(scheduler.tick(now).await.expect("tick"), 1);
    assert_eq!(scheduler.tick(now).await.expect("again"), 0);
    let stored = s
        .store
        .get_schedule(s.tenant.id, created.id)
        .await
        .expect("get");
    assert_eq!(stored.last_run_at, Some(first + TimeDelta::hours(5)));
    assert_eq!(stored.next_run_at, Some(first + TimeDelta::hours(6)));
}

#[tokio::test]
async fn skipping_missed_runs_sends_nothing_late() {
    let s = Setup::new(80).await;
    let scheduler = Scheduler::new(s.dispatcher(quick()), MissedRuns::Skip);
    let hourly = Recurrence::Cron {
        expression: "0 * * * *".into(),
        timezone: chrono_tz::Asia::Jakarta,
    };
    let created = scheduler
        .create(&schedule(&s, hourly))
        .await
        .expect("create");
    let first = created.next_run_at.expect("next");
    assert_eq!(
        scheduler
            .tick(first + TimeDelta::hours(3) + TimeDelta::minutes(30))
            .await
            .expect("tick"),
        0
    );
    assert_eq!(
        scheduler
            .tick(first + TimeDelta::hours(4) + TimeDelta::seconds(2))
            .await
            .expect("on time"),
        1
    );
}

#[tokio::test]
async fn bad_schedules_are_refused() {
    let s = Setup::new(80).await;
    let scheduler = Scheduler::new(s.dispatcher(quick()), MissedRuns::SendLatest);
    let bad_cron = Recurrence::Cron {
        expression: "0 0 9 * * *".into(),
        timezone: chrono_tz::Asia::Jakarta,
    };
    let err = scheduler.create(&schedule(&s, bad_cron)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let past = Recurrence::Once {
        at: Utc::now() - TimeDelta::hours(1),
    };
    assert_eq!(
        scheduler
            .create(&schedule(&s, past))
            .await
            .unwrap_err()
            .code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        s.store.count_schedules(s.tenant.id).await.expect("count"),
        0
    );
}

#[tokio::test]
async fn a_run_that_cannot_be_sent_fails_alone() {
    use wagw_core::model::channel::Channel;
    use wagw_core::store::ChannelStore;

    let s = Setup::new(80).await;
    let scheduler = Scheduler::new(s.dispatcher(quick()), MissedRuns::SendLatest);
    let doomed_channel = Channel::new(s.tenant.id, "old", "400000000000001", "1", phone(5_000));
    s.store
        .create_channel(&doomed_channel)
        .await
        .expect("channel");
    let at = Utc::now() + TimeDelta::seconds(60);
    let mut poison = schedule(&s, Recurrence::Once { at });
    poison.channel_id = doomed_channel.id;
    let poison = scheduler.create(&poison).await.expect("create");
    let good = scheduler
        .create(&schedule(
            &s,
            Recurrence::Once {
                at: at + TimeDelta::seconds(1),
            },
        ))
        .await
        .expect("create");
    // The number is removed after the schedule was made: its run can never be sent.
    s.store
        .delete_channel(s.tenant.id, doomed_channel.id)
        .await
        .expect("delete");
    let due = at + TimeDelta::seconds(5);
    assert_eq!(
        scheduler.tick(due).await.expect("tick"),
        1,
        "the good run went out"
    );
    assert_eq!(messages(&s).await, 1);
    let poison = s
        .store
        .get_schedule(s.tenant.id, poison.id)
        .await
        .expect("get");
    assert!(!poison.active, "its run is over");
    assert!(poison.last_error.is_some_and(|e| e.contains("channel")));
    let good = s
        .store
        .get_schedule(s.tenant.id, good.id)
        .await
        .expect("get");
    assert_eq!(good.last_error, None);
}
