//! The dispatcher against the memory backends and the recording stub transport.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::dispatch::{DispatchJob, Dispatcher, DispatcherConfig, NewMessage, UnknownOutcome};
use wagw_core::event::InboundMessage;
use wagw_core::ids::MessageId;
use wagw_core::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignRecipient, CampaignState, RecipientStatus,
};
use wagw_core::model::message::{MessageRecord, MessageStatus, Priority};
use wagw_core::model::tenant::{Plan, QuotaResource, UsagePeriod};
use wagw_core::queue::Queue;
use wagw_core::store::{CampaignStore, MessageQuery, MessageStore, Page, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_core::{TransportError, TransportErrorKind};
use wagw_store_memory::MemoryQueue;

mod common;

use common::{Setup, phone, quick, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_submitted_message_is_sent_once_and_recorded() {
    let s = Setup::new(1_000).await;
    let d = s.dispatcher(quick());
    let messages: Vec<_> = (0..60)
        .map(|n| s.message(n, "Halo", Priority::Normal))
        .collect();
    let inserted = d.submit_many(messages).await.expect("submit");
    assert!(inserted.iter().all(|i| i.created));
    let messages: Vec<_> = inserted.iter().map(|i| i.id).collect();
    let handle = d.start();
    wait_until("all sent", async || d.stats().sent == 60).await;
    handle.shutdown().await;
    for m in &messages {
        let stored = s.status(*m).await;
        assert_eq!(stored.status, MessageStatus::Sent);
        assert!(
            stored
                .wamid
                .as_deref()
                .is_some_and(|w| w.starts_with("wamid."))
        );
        assert_eq!(stored.attempts, 1);
    }
    assert_eq!(s.stub.sent().len(), 60);
    assert_eq!(s.queue.stats().await.expect("stats").pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_sends_once() {
    let s = Setup::new(1_000).await;
    let d = s.dispatcher(quick());
    let first = s
        .message(1, "Pesanan #77 dikirim", Priority::Normal)
        .idempotency_key("order-77");
    let again = first.clone();
    let a = d.submit(first).await.expect("first");
    let b = d.submit(again).await.expect("again");
    assert_eq!(a.id, b.id);
    assert!(!b.created);
    let handle = d.start();
    wait_until("sent", async || d.stats().sent == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.shutdown().await;
    assert_eq!(s.stub.sent().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_content_is_refused_and_nothing_is_recorded() {
    let s = Setup::new(80).await;
    let d = s.dispatcher(quick());
    let bad = s.message(1, &"x".repeat(4_097), Priority::Normal);
    let err = d.submit(bad).await.expect_err("too long");
    assert_eq!(err.code(), wagw_core::ErrorCode::InvalidContent);
    let listed = s
        .store
        .list_messages(s.tenant.id, &MessageQuery::default(), Page::default())
        .await
        .expect("list");
    assert!(listed.items.is_empty());
    assert_eq!(s.queue.stats().await.expect("stats").pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_number_slows_down_and_retries() {
    let s = Setup::new(80).await;
    s.stub
        .push_outcomes([Err(throttled_number(Duration::from_millis(100)))]);
    let d = s.dispatcher(quick());
    let m = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("sent after the throttle", async || d.stats().sent == 1).await;
    handle.shutdown().await;
    let stats = d.stats();
    assert_eq!((stats.throttled_number, stats.retried), (1, 1));
    assert_eq!(
        d.effective_rate(s.channel.id),
        Some(60),
        "80/s cut by a quarter"
    );
    let stored = s.status(m).await;
    assert_eq!((stored.status, stored.attempts), (MessageStatus::Sent, 2));
    assert!(!stored.ambiguous, "a throttled attempt has a known outcome");
}

/// Meta's 130429, to be tried again after `retry_after`.
fn throttled_number(retry_after: Duration) -> TransportError {
    TransportError::new(
        TransportErrorKind::ThrottledNumber,
        "(#130429) Rate limit hit",
    )
    .with_code(130429)
    .with_retry_after(retry_after)
}

/// A message waiting for its retry after a throttle was refused, not sent: when the queue
/// loses its data meanwhile, the rebuilt job sends it as a plain retry, not as an unknown
/// outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waiting_for_a_retry_when_the_queue_is_lost_is_sent_not_ambiguous() {
    let s = Setup::new(80).await;
    s.stub
        .push_outcomes([Err(throttled_number(Duration::from_secs(3_600)))]);
    let d = s.dispatcher(quick());
    let m = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("the throttle is retried later", async || {
        d.stats().retried == 1
    })
    .await;
    handle.shutdown().await;
    let waiting = s.status(m).await;
    assert_eq!(
        (waiting.status, waiting.attempts),
        (MessageStatus::Queued, 1)
    );

    // The queue's data is gone (a Redis restarted without persistence); the store is not.
    let lost = Dispatcher::new(
        Arc::clone(&s.store),
        Arc::new(MemoryQueue::new()),
        Arc::new(s.stub.clone()),
        quick(),
    );
    assert_eq!(lost.rebuild_queue().await.expect("rebuild"), 1);
    let handle = lost.start();
    wait_until("sent after the rebuild", async || lost.stats().sent == 1).await;
    handle.shutdown().await;
    let stored = s.status(m).await;
    assert_eq!((stored.status, stored.attempts), (MessageStatus::Sent, 2));
    assert!(!stored.ambiguous, "a throttled attempt has a known outcome");
    assert_eq!(lost.stats().ambiguous, 0);
    assert_eq!(s.stub.sent().len(), 2, "the refused attempt and the send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_error_fails_the_message_with_its_reason() {
    let s = Setup::new(80).await;
    s.stub.push_outcomes([Err(TransportError::new(
        TransportErrorKind::Permanent,
        "the number is not on WhatsApp",
    )
    .with_code(131026))]);
    let d = s.dispatcher(quick());
    let m = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("failed", async || d.stats().failed == 1).await;
    handle.shutdown().await;
    let stored = s.status(m).await;
    assert_eq!(stored.status, MessageStatus::Failed);
    let error = stored.error.expect("error");
    assert_eq!(error.code, Some(131026));
    assert_eq!(error.reason, "the number is not on WhatsApp");
    assert_eq!(s.stub.sent().len(), 1, "not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_retry_then_dead_letter() {
    let s = Setup::new(80).await;
    let stub = StubTransport::new_error(
        TransportError::new(TransportErrorKind::Retryable, "Something went wrong")
            .with_code(131000),
    );
    let d = Dispatcher::new(
        Arc::clone(&s.store),
        Arc::clone(&s.queue),
        Arc::new(stub.clone()),
        DispatcherConfig {
            max_attempts: 3,
            ..quick()
        },
    );
    let m = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("given up", async || d.stats().failed == 1).await;
    handle.shutdown().await;
    assert_eq!(stub.sent().len(), 3);
    let stored = s.status(m).await;
    assert_eq!(stored.status, MessageStatus::Failed);
    assert!(
        stored
            .error
            .expect("error")
            .reason
            .starts_with("gave up after 3 attempts")
    );
    assert_eq!(s.queue.stats().await.expect("stats").dead, 1);
    assert_eq!(d.stats().ambiguous, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_reply_overtakes_a_blast_on_the_same_number() {
    let s = Setup::new(40).await;
    let d = s.dispatcher(quick());
    let blast: Vec<_> = (0..200)
        .map(|n| s.message(n, "Promo", Priority::Bulk))
        .collect();
    d.submit_many(blast).await.expect("blast");
    let handle = d.start();
    wait_until("the blast is under way", async || d.stats().sent >= 20).await;
    let before = s.stub.sent().len();
    let reply = d
        .submit(s.message(9_999, "Jawaban untuk Anda", Priority::Urgent))
        .await
        .expect("reply")
        .id;
    wait_until("the reply is sent", async || {
        s.status(reply).await.status == MessageStatus::Sent
    })
    .await;
    handle.shutdown().await;
    let sent = s.stub.sent();
    let position = sent
        .iter()
        .position(|m| m.message.to == phone(9_999).as_str())
        .expect("reply sent");
    assert!(
        position - before < 5,
        "{} blast messages went out between the reply's submission and the reply",
        position - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_never_exceeds_its_throughput() {
    let s = Setup::new(20).await;
    let d = s.dispatcher(quick());
    s.submit_texts(&d, 50).await;
    let handle = d.start();
    wait_until("all sent", async || d.stats().sent == 50).await;
    handle.shutdown().await;
    let times: Vec<_> = s.stub.sent().iter().map(|m| m.at).collect();
    // 20/s with a burst of two: any second holds at most 21 sends (two at once, then one
    // every 50 ms).
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|t| **t - *start < chrono::TimeDelta::seconds(1))
            .count();
        assert!(in_window <= 21, "{in_window} sends within one second");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_form_outside_the_window_is_refused_but_a_reply_inside_is_sent() {
    let s = Setup::new(80).await;
    let d = s.dispatcher(DispatcherConfig {
        enforce_window: true,
        ..quick()
    });
    let cold = d
        .submit(s.message(1, "Promo tanpa template", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let json = serde_json::json!({
        "from": phone(2).as_str(), "id": "wamid.IN", "timestamp": Utc::now().timestamp().to_string(),
        "type": "text", "text": {"body": "Halo kak"}
    });
    let inbound: InboundMessage = serde_json::from_value(json).expect("inbound");
    s.store
        .insert_message(&MessageRecord::inbound(
            s.tenant.id,
            s.channel.id,
            phone(2),
            inbound,
        ))
        .await
        .expect("inbound");
    let warm = d
        .submit(s.message(2, "Halo juga!", Priority::Urgent))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("both settled", async || {
        d.stats().sent + d.stats().failed == 2
    })
    .await;
    handle.shutdown().await;
    let cold = s.status(cold).await;
    assert_eq!(cold.status, MessageStatus::Failed);
    assert_eq!(cold.error.expect("error").code, Some(131047));
    assert_eq!(s.status(warm).await.status, MessageStatus::Sent);
    assert_eq!(
        s.stub.sent().len(),
        1,
        "the refused message never reached the transport"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_quota_fails_the_message_before_sending() {
    let s = Setup::new(80).await;
    let mut tenant = s.tenant.clone();
    tenant.plan = Plan::basic();
    s.store.update_tenant(&tenant).await.expect("plan");
    let period = UsagePeriod::month_of(Utc::now());
    s.store
        .add_usage(
            tenant.id,
            &period,
            QuotaResource::MessagesPerMonth,
            1_000,
            None,
        )
        .await
        .expect("use it all");
    let d = s.dispatcher(quick());
    let m = d
        .submit(s.message(1, "Halo", Priority::Normal))
        .await
        .expect("submit")
        .id;
    let handle = d.start();
    wait_until("failed", async || d.stats().failed == 1).await;
    handle.shutdown().await;
    let stored = s.status(m).await;
    assert!(
        stored
            .error
            .expect("error")
            .reason
            .contains("quota exceeded")
    );
    assert!(s.stub.sent().is_empty());
}

/// A message left `sending` by a crash, with its job back in the queue.
async fn crashed_message(s: &Setup) -> MessageId {
    let content = OutboundMessage::new(phone(1).as_str(), MessageContent::text("Halo"));
    let m = MessageRecord::outbound(
        s.tenant.id,
        s.channel.id,
        phone(1),
        content,
        Priority::Normal,
    );
    s.store.insert_message(&m).await.expect("insert");
    s.store
        .record_attempt(s.tenant.id, m.id)
        .await
        .expect("attempt");
    s.queue
        .enqueue(DispatchJob::new_job(&m, m.id, 5))
        .await
        .expect("enqueue");
    m.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_is_resent_and_counted_at_least_once() {
    let s = Setup::new(80).await;
    let m = crashed_message(&s).await;
    let d = s.dispatcher(quick());
    let handle = d.start();
    wait_until("sent", async || d.stats().sent == 1).await;
    handle.shutdown().await;
    assert_eq!(d.stats().ambiguous, 1);
    let stored = s.status(m).await;
    assert!(stored.ambiguous);
    assert_eq!((stored.status, stored.attempts), (MessageStatus::Sent, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_is_failed_at_most_once() {
    let s = Setup::new(80).await;
    let m = crashed_message(&s).await;
    let d = s.dispatcher(DispatcherConfig {
        unknown_outcome: UnknownOutcome::AtMostOnce,
        ..quick()
    });
    let handle = d.start();
    wait_until("failed", async || d.stats().failed == 1).await;
    handle.shutdown().await;
    assert_eq!(d.stats().ambiguous, 1);
    assert_eq!(s.status(m).await.status, MessageStatus::Failed);
    assert!(s.stub.sent().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_campaigns_wait_and_cancelled_ones_skip() {
    let s = Setup::new(80).await;
    let mut campaigns = Vec::new();
    for state in [CampaignState::Paused, CampaignState::Cancelled] {
        let mut c = Campaign::new(
            s.tenant.id,
            s.channel.id,
            format!("{state:?}"),
            CampaignContent::Text {
                body: "Promo".into(),
            },
            Audience::default(),
        );
        c.state = state;
        s.store.create_campaign(&c).await.expect("campaign");
        let r = CampaignRecipient::new(s.tenant.id, c.id, phone(1), Default::default());
        s.store
            .insert_recipients(s.tenant.id, c.id, std::slice::from_ref(&r))
            .await
            .expect("recipient");
        campaigns.push((c, r));
    }
    let d = s.dispatcher(quick());
    let mut messages = Vec::new();
    for (c, r) in &campaigns {
        let m = s.message(1, "Promo", Priority::Bulk).campaign(c.id, r.id);
        messages.push(d.submit(m).await.expect("submit").id);
    }
    let handle = d.start();
    wait_until("queue drained", async || {
        s.queue.stats().await.expect("stats").pending() == 0
    })
    .await;
    handle.shutdown().await;
    assert!(s.stub.sent().is_empty());
    assert_eq!(s.status(messages[0]).await.status, MessageStatus::Queued);
    let (_, recipient) = &campaigns[1];
    assert_eq!(s.status(messages[1]).await.status, MessageStatus::Failed);
    let r = s
        .store
        .get_recipient(s.tenant.id, recipient.id)
        .await
        .expect("recipient");
    assert_eq!(r.status, RecipientStatus::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_back_jobs_waiting_for_a_slot() {
    let s = Setup::new(1).await;
    let d = s.dispatcher(quick());
    s.submit_texts(&d, 5).await;
    let handle = d.start();
    wait_until("one sent", async || d.stats().sent == 1).await;
    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown does not wait for the rate limiter");
    let stats = s.queue.stats().await.expect("stats");
    assert_eq!((stats.ready, stats.reserved), (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_messages_are_checked_against_the_stored_template() {
    use wagw_core::content::{Template as Send, TemplateComponent, TemplateParameter};
    use wagw_core::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};
    use wagw_core::store::TemplateStore;

    let s = Setup::new(80).await;
    let d = s.dispatcher(quick());
    let mut template = Template::new(
        s.tenant.id,
        s.channel.id,
        TemplateDraft {
            name: "tagihan".into(),
            language: "id".into(),
            category: TemplateCategory::Utility,
            components: vec![
                serde_json::json!({"type": "BODY", "text": "Halo {{1}}, tagihan {{2}}."}),
            ],
        },
    );
    template.status = TemplateStatus::Approved;
    s.store.create_template(&template).await.expect("template");
    let send = |name: &str, params: &[&str]| {
        let body = Send::new(name, "id").with_component(TemplateComponent::body(
            params.iter().map(|p| TemplateParameter::text(*p)),
        ));
        NewMessage::new(
            s.tenant.id,
            s.channel.id,
            phone(1),
            MessageContent::Template(body),
        )
    };
    let good = send("tagihan", &["Budi", "Rp 150.000"]);
    let short = send("tagihan", &["Budi"]);
    let unknown = send("promo", &["Budi"]);
    let err = d.submit_many(vec![good.clone(), short]).await.unwrap_err();
    assert_eq!(err.code(), wagw_core::ErrorCode::TemplateParamMismatch);
    let err = d.submit(unknown).await.unwrap_err();
    assert_eq!(err.code(), wagw_core::ErrorCode::TemplateNotFound);
    let listed = s
        .store
        .list_messages(s.tenant.id, &MessageQuery::default(), Page::default())
        .await
        .expect("list");
    assert!(listed.items.is_empty(), "a refused call stores nothing");
    assert!(d.submit(good).await.expect("good").created);
}
