//! The send pipeline's promises under hostile input, lost answers, slow limiters, crashes and
//! two dispatchers on one queue (issue 8). Memory backends and the recording stub.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig, NewMessage, UnknownOutcome};
use wagw_core::ids::MessageId;
use wagw_core::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignRecipient, CampaignState,
};
use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::message::{MessageStatus, Priority};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::queue::Queue;
use wagw_core::store::{
    CampaignStore, ChannelStore, MessageQuery, MessageStore, Page, TenantStore,
};
use wagw_core::testkit::StubTransport;
use wagw_core::testkit::faults::{Fault, FaultPlan, FaultyQueue, FaultyTransport, Step};
use wagw_core::{ErrorCode, TransportError, TransportErrorKind};

mod common;

use common::{Setup, phone, quick, wait_until};

/// Another tenant with a channel of its own, in the same store.
async fn other_tenant(s: &Setup) -> (Tenant, Channel) {
    let tenant = Tenant::new("Warung Sebelah", Plan::enterprise());
    s.store.create_tenant(&tenant).await.expect("tenant");
    let channel = Channel::new(
        tenant.id,
        "b",
        "200000000000001",
        "200000000000002",
        phone(8_000),
    );
    s.store.create_channel(&channel).await.expect("channel");
    (tenant, channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_channel_is_not_found_cached_or_not() {
    let s = Setup::new(1_000).await;
    let (b, b_channel) = other_tenant(&s).await;
    let d = s.dispatcher(quick());
    let forged = || {
        NewMessage::new(
            s.tenant.id,
            b_channel.id,
            phone(1),
            MessageContent::text("Halo"),
        )
    };

    let err = d.submit(forged()).await.expect_err("not A's channel");
    assert_eq!(err.code(), ErrorCode::ChannelNotFound);
    // B uses its channel, so the dispatcher now has it cached; A still cannot.
    let own = NewMessage::new(b.id, b_channel.id, phone(2), MessageContent::text("Halo"));
    d.submit(own).await.expect("B's own message");
    let err = d.submit(forged()).await.expect_err("still not A's channel");
    assert_eq!(err.code(), ErrorCode::ChannelNotFound);
    let err = d
        .submit_many(vec![s.message(3, "Halo", Priority::Normal), forged()])
        .await
        .expect_err("one forged message refuses the call");
    assert_eq!(err.code(), ErrorCode::ChannelNotFound);

    let handle = d.start();
    wait_until("B's message sent", async || d.stats().sent == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.shutdown().await;
    let sent = s.stub.sent();
    assert_eq!(sent.len(), 1, "only B's own message left B's number");
    assert_eq!(sent[0].message.to, phone(2).as_str());
    let a_messages = s
        .store
        .list_messages(s.tenant.id, &MessageQuery::default(), Page::default())
        .await
        .expect("list");
    assert!(a_messages.items.is_empty(), "nothing was stored for A");
}

fn outcome_unknown() -> TransportError {
    TransportError::new(
        TransportErrorKind::OutcomeUnknown,
        "the response timed out after the request was written",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_resent_and_counted_at_least_once() {
    let s = Setup::new(80).await;
    s.stub.push_outcomes([Err(outcome_unknown())]);
    let d = s.dispatcher(quick());
    let id = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("sent", async || d.stats().sent == 1).await;
    handle.shutdown().await;
    assert_eq!(d.stats().ambiguous, 1);
    let stored = s.status(id).await;
    assert!(stored.ambiguous);
    assert_eq!((stored.status, stored.attempts), (MessageStatus::Sent, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_fails_the_message_at_most_once() {
    let s = Setup::new(80).await;
    s.stub.push_outcomes([Err(outcome_unknown())]);
    let d = s.dispatcher(DispatcherConfig {
        unknown_outcome: UnknownOutcome::AtMostOnce,
        ..quick()
    });
    let id = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("failed", async || d.stats().failed == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.shutdown().await;
    let stored = s.status(id).await;
    assert_eq!(stored.status, MessageStatus::Failed);
    assert!(stored.ambiguous);
    assert!(
        stored
            .error
            .expect("reason")
            .reason
            .contains("outcome of the send is unknown")
    );
    assert_eq!(s.stub.sent().len(), 1, "never sent again");
}

/// `count` more channels of the set-up's tenant.
async fn more_channels(s: &Setup, count: u64) -> Vec<Channel> {
    let mut channels = Vec::new();
    for n in 0..count {
        let mut channel = Channel::new(
            s.tenant.id,
            format!("extra {n}"),
            (300_000_000_000_000 + n).to_string(),
            "102290129340398",
            phone(7_000 + n),
        );
        channel.throughput = Throughput::per_second(1_000).expect("rate");
        s.store.create_channel(&channel).await.expect("channel");
        channels.push(channel);
    }
    channels
}

/// A running campaign on `channel` with `count` recipients, `delay_ms` between messages.
async fn running_campaign(
    s: &Setup,
    channel: &Channel,
    first_phone: u64,
    count: u64,
    delay_ms: u64,
) -> Vec<NewMessage> {
    let mut campaign = Campaign::new(
        s.tenant.id,
        channel.id,
        "promo",
        CampaignContent::Text {
            body: "Promo".into(),
        },
        Audience::default(),
    );
    campaign.state = CampaignState::Running;
    campaign.delay_between_messages_ms = Some(delay_ms);
    s.store.create_campaign(&campaign).await.expect("campaign");
    let recipients: Vec<_> = (0..count)
        .map(|n| {
            CampaignRecipient::new(
                s.tenant.id,
                campaign.id,
                phone(first_phone + n),
                Default::default(),
            )
        })
        .collect();
    s.store
        .insert_recipients(s.tenant.id, campaign.id, &recipients)
        .await
        .expect("recipients");
    recipients
        .iter()
        .map(|r| {
            NewMessage::new(
                s.tenant.id,
                channel.id,
                r.phone.clone(),
                MessageContent::text("Promo"),
            )
            .priority(Priority::Bulk)
            .campaign(campaign.id, r.id)
        })
        .collect()
}

/// Sends per recipient that the far side accepted.
fn accepted_per_recipient(stub: &StubTransport) -> HashMap<String, usize> {
    let mut per = HashMap::new();
    for m in stub.sent().into_iter().filter(|m| m.wamid.is_some()) {
        *per.entry(m.message.to).or_default() += 1;
    }
    per
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_never_expires_under_a_live_worker() {
    let s = Setup::new(1_000).await;
    let channels = more_channels(&s, 20).await;
    let config = DispatcherConfig {
        visibility: Duration::from_millis(300),
        ..quick()
    };
    // A slow network: a send takes longer than a reservation lasts.
    let slow = FaultPlan::new();
    slow.set_send_latency(Duration::from_millis(400));
    let dispatcher = || {
        Dispatcher::new(
            Arc::clone(&s.store),
            Arc::clone(&s.queue),
            Arc::new(FaultyTransport::new(Arc::new(s.stub.clone()), slow.clone())),
            config.clone(),
        )
    };
    let (first, second) = (dispatcher(), dispatcher());
    let mut messages = Vec::new();
    for (n, channel) in channels.iter().enumerate() {
        messages.extend(running_campaign(&s, channel, n as u64 * 100, 10, 1_000).await);
    }
    first.submit_many(messages).await.expect("submit");
    let (a, b) = (first.start(), second.start());
    wait_until("200 sent", async || {
        first.stats().sent + second.stats().sent >= 200
    })
    .await;
    // Anything sent twice would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.shutdown().await;
    b.shutdown().await;
    let per = accepted_per_recipient(&s.stub);
    assert_eq!(per.len(), 200);
    let twice = per.values().filter(|n| **n > 1).count();
    assert_eq!(twice, 0, "{twice} messages were sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freed_lane_wakes_the_reservation_loop() {
    let s = Setup::new(1_000).await;
    // Without a wake-up, each freed lane slot would wait out this poll.
    let d = s.dispatcher(DispatcherConfig {
        idle_poll: Duration::from_secs(10),
        ..quick()
    });
    s.submit_texts(&d, 300).await;
    let handle = d.start();
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        while d.stats().sent < 300 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    handle.shutdown().await;
    assert!(done.is_ok(), "only {} of 300 sent", d.stats().sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_reservations_keep_expiring_fails_its_message() {
    let s = Setup::new(80).await;
    let config = DispatcherConfig {
        visibility: Duration::from_millis(200),
        max_attempts: 2,
        ..quick()
    };
    let id = s
        .dispatcher(config.clone())
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    // Two processes die in turn right after reserving the job: each reservation expires.
    for _ in 0..2 {
        let plan = FaultPlan::new();
        plan.arm(Step::AfterReserve, 1, Fault::Crash);
        let d = Dispatcher::new(
            Arc::clone(&s.store),
            Arc::new(FaultyQueue::new(Arc::clone(&s.queue), plan.clone())),
            Arc::new(s.stub.clone()),
            config.clone(),
        );
        let handle = d.start();
        tokio::time::timeout(Duration::from_secs(10), plan.wait_for_crash())
            .await
            .expect("crashed");
        handle.abort();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let d = s.dispatcher(config);
    let handle = d.start();
    wait_until("the message has a final state", async || {
        s.status(id).await.status == MessageStatus::Failed
    })
    .await;
    handle.shutdown().await;
    assert!(s.stub.sent().is_empty());
    let reason = s.status(id).await.error.expect("reason").reason;
    assert!(reason.contains("reservation expired"), "{reason}");
    assert_eq!(s.queue.stats().await.expect("stats").dead, 1);
}

/// Every message of the set-up's tenant.
async fn all_messages(s: &Setup) -> Vec<wagw_core::model::message::MessageRecord> {
    s.store
        .list_messages(s.tenant.id, &MessageQuery::default(), Page::first(10_000))
        .await
        .expect("list")
        .items
}

/// Crashes a dispatcher at `step` (the `nth` time it is reached), restarts one on what the
/// dead process left, and checks that every message ends sent, none lost, and duplicates
/// are no more than the messages counted ambiguous.
async fn crash_and_restart(step: Step, nth: u64) {
    const MESSAGES: u64 = 60;
    let s = Setup::new(1_000).await;
    let config = DispatcherConfig {
        visibility: Duration::from_millis(300),
        maintenance_interval: Duration::from_millis(50),
        reconcile_after: Duration::from_millis(100),
        ..quick()
    };
    let plan = FaultPlan::new();
    plan.arm(step, nth, Fault::Crash);
    let doomed = Dispatcher::new(
        Arc::clone(&s.store),
        Arc::new(FaultyQueue::new(Arc::clone(&s.queue), plan.clone())),
        Arc::new(FaultyTransport::new(Arc::new(s.stub.clone()), plan.clone())),
        config.clone(),
    );
    let handle = doomed.start();
    let submitter = {
        let doomed = doomed.clone();
        let messages: Vec<NewMessage> = (0..MESSAGES)
            .map(|n| s.message(n, "Halo", Priority::Normal))
            .collect();
        tokio::spawn(async move {
            for batch in messages.chunks(10) {
                if doomed.submit_many(batch.to_vec()).await.is_err() {
                    return;
                }
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(20), plan.wait_for_crash())
        .await
        .unwrap_or_else(|_| panic!("{step:?} #{nth} was never reached"));
    handle.abort();
    submitter.abort();
    let submitted = all_messages(&s).await.len();
    assert!(
        submitted > 0,
        "{step:?}: nothing was recorded before the crash"
    );

    let survivor = s.dispatcher(config);
    let handle = survivor.start();
    // Jobs the dead process held come back when their reservations expire, and are settled.
    wait_until(
        &format!("{step:?}: every message sent, every job settled"),
        async || {
            all_messages(&s)
                .await
                .iter()
                .all(|m| m.status == MessageStatus::Sent)
                && s.queue.stats().await.expect("stats").pending() == 0
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.shutdown().await;

    let messages = all_messages(&s).await;
    assert_eq!(
        messages.len(),
        submitted,
        "{step:?}: no message appeared or vanished"
    );
    let per = accepted_per_recipient(&s.stub);
    for m in &messages {
        assert!(
            per.get(m.contact_phone.as_str()).is_some_and(|n| *n >= 1),
            "{step:?}: {} was never sent",
            m.id
        );
    }
    let duplicates: usize = per.values().map(|n| n - 1).sum();
    let ambiguous = messages.iter().filter(|m| m.ambiguous).count();
    assert!(
        duplicates <= ambiguous,
        "{step:?} #{nth}: {duplicates} duplicate sends, {ambiguous} ambiguous messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_loses_nothing_and_duplicates_only_what_it_counts() {
    for step in Step::ALL {
        for nth in [1, 3] {
            crash_and_restart(step, nth).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_failure_after_the_insert_is_reconciled() {
    let s = Setup::new(1_000).await;
    let plan = FaultPlan::new();
    plan.arm(Step::AfterInsert, 1, Fault::Fail);
    let d = Dispatcher::new(
        Arc::clone(&s.store),
        Arc::new(FaultyQueue::new(Arc::clone(&s.queue), plan)),
        Arc::new(s.stub.clone()),
        DispatcherConfig {
            maintenance_interval: Duration::from_millis(50),
            reconcile_after: Duration::from_millis(100),
            ..quick()
        },
    );
    let err = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect_err("the enqueue failed");
    assert_eq!(err.code(), ErrorCode::BackendError);
    let stored: Vec<MessageId> = all_messages(&s).await.iter().map(|m| m.id).collect();
    assert_eq!(
        stored.len(),
        1,
        "the message was recorded before the enqueue failed"
    );
    let handle = d.start();
    wait_until("the orphan is sent", async || {
        s.status(stored[0]).await.status == MessageStatus::Sent
    })
    .await;
    handle.shutdown().await;
    assert_eq!(s.stub.sent().len(), 1);
}
