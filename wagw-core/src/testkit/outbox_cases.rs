//! Conformance cases for outbox rows written with the state change they report (statuses and
//! their events, a campaign's completion), the delivery-attempt log, the atomic rule quota and
//! cooldown pruning. Stamped by [`store_conformance_tests!`](crate::store_conformance_tests)
//! with the other store cases.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures::future::join_all;

use super::fixtures::{Fixture, phone};
use crate::Store;
use crate::content::MessageContent;
use crate::conversation::events::{StatusOutbox, campaign_completed, flow_outcome};
use crate::error::Error;
use crate::flow_engine::FlowEvent;
use crate::ids::*;
use crate::model::Secret;
use crate::model::auto_reply::AutoReplyRule;
use crate::model::campaign::{
    Audience, Campaign, CampaignContent, CampaignRecipient, CampaignState, RecipientStatus,
};
use crate::model::flow::{ConversationSession, SessionState};
use crate::model::message::{MessageStatus, StatusUpdate};
use crate::model::webhook::{
    AttemptTiming, DeliveryOutcome, DeliveryState, EventKind, WebhookDelivery, WebhookSubscription,
};
use crate::store::{Page, RecipientUpdate, WamidUpdate};

fn subscription(tenant: TenantId, events: &[EventKind]) -> WebhookSubscription {
    WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: tenant,
        url: "https://crm.example.co.id/hooks/wa".into(),
        secret: Secret::new("s3cret"),
        events: events.iter().copied().collect::<BTreeSet<_>>(),
        active: true,
        created_at: Utc::now(),
    }
}

fn running_campaign(fx: &Fixture) -> Campaign {
    let mut campaign = Campaign::new(
        fx.tenant.id,
        fx.channel.id,
        "Promo Desember",
        CampaignContent::Text {
            body: "Halo {nama}".into(),
        },
        Audience::default(),
    );
    campaign.state = CampaignState::Running;
    campaign
}

/// A campaign with one recipient whose message was sent as `wamid`.
async fn sent_campaign_message(
    store: &dyn Store,
    fx: &Fixture,
    wamid: &str,
) -> (Campaign, RecipientId, MessageId) {
    let campaign = running_campaign(fx);
    store.create_campaign(&campaign).await.expect("campaign");
    let recipient = CampaignRecipient::new(fx.tenant.id, campaign.id, phone(5), BTreeMap::new());
    store
        .insert_recipients(fx.tenant.id, campaign.id, std::slice::from_ref(&recipient))
        .await
        .expect("recipient");
    let mut message = fx.message(5, "Halo Pelanggan");
    message.campaign_id = Some(campaign.id);
    message.recipient_id = Some(recipient.id);
    store.insert_message(&message).await.expect("message");
    let mut sent = StatusUpdate::new(MessageStatus::Sent, Utc::now());
    sent.wamid = Some(wamid.into());
    store
        .record_outcome(
            fx.tenant.id,
            message.id,
            &sent,
            Some(&RecipientUpdate {
                id: recipient.id,
                status: RecipientStatus::Sent,
                reason: None,
                message_id: Some(message.id),
            }),
        )
        .await
        .expect("sent");
    (campaign, recipient.id, message.id)
}

async fn payloads(store: &dyn Store, tenant: TenantId) -> Vec<serde_json::Value> {
    store
        .list_deliveries(tenant, None, Page::first(100))
        .await
        .expect("deliveries")
        .items
        .into_iter()
        .map(|d| d.payload)
        .collect()
}

/// Status webhooks move the message and its recipient and write their `message_status` and
/// `campaign_progress` rows in one step; a redelivery writes nothing; a batch whose outbox
/// rows cannot be written moves nothing.
pub async fn statuses_and_their_events_are_written_together(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(
        fx.tenant.id,
        &[EventKind::MessageStatus, EventKind::CampaignProgress],
    );
    store.create_subscription(&sub).await.expect("subscribe");
    let wamid = format!("wamid.{}", uuid::Uuid::new_v4().simple());
    let (campaign, recipient, message) = sent_campaign_message(store, &fx, &wamid).await;
    let delivered = WamidUpdate {
        wamid: wamid.clone(),
        update: StatusUpdate::new(MessageStatus::Delivered, Utc::now()),
    };
    let unknown = WamidUpdate {
        wamid: format!("wamid.{}", uuid::Uuid::new_v4().simple()),
        update: StatusUpdate::new(MessageStatus::Delivered, Utc::now()),
    };
    let updates = [delivered.clone(), unknown];
    let outbox = StatusOutbox::new(vec![sub.clone()]);

    // A subscription that is not stored: the outbox rows cannot be written, so nothing moves.
    let ghost = StatusOutbox::new(vec![subscription(
        fx.tenant.id,
        &[EventKind::MessageStatus],
    )]);
    match store.apply_statuses(fx.tenant.id, &updates, &ghost).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("an unknown subscription is NotFound, got {other:?}"),
    }
    let unmoved = store.get_message(fx.tenant.id, message).await.expect("get");
    assert_eq!(
        unmoved.status,
        MessageStatus::Sent,
        "a refused batch moves nothing"
    );
    assert!(payloads(store, fx.tenant.id).await.is_empty());

    let applied = store
        .apply_statuses(fx.tenant.id, &updates, &outbox)
        .await
        .expect("apply");
    let change = applied.changes[0].expect("known wamid");
    assert_eq!(
        (change.message_id, change.from, change.to),
        (message, MessageStatus::Sent, MessageStatus::Delivered)
    );
    assert_eq!(applied.changes[1], None, "an unknown wamid is kept");
    assert_eq!(applied.deliveries, 2);
    let recipient = store
        .get_recipient(fx.tenant.id, recipient)
        .await
        .expect("recipient");
    assert_eq!(recipient.status, RecipientStatus::Delivered);
    let p = payloads(store, fx.tenant.id).await;
    assert_eq!(p.len(), 2, "{p:?}");
    let status = p
        .iter()
        .find(|p| p["type"] == "message_status")
        .expect("message_status");
    assert_eq!(status["data"]["wamid"], wamid.as_str());
    assert_eq!(status["data"]["status"], "delivered");
    assert_eq!(status["data"]["to"], phone(5).as_str());
    assert_eq!(
        status["data"]["campaign_id"],
        serde_json::json!(campaign.id)
    );
    let progress = p
        .iter()
        .find(|p| p["type"] == "campaign_progress")
        .expect("campaign_progress");
    assert_eq!(
        progress["data"]["campaign_id"],
        serde_json::json!(campaign.id)
    );
    assert_eq!(
        progress["data"]["counters"]["delivered"], 1,
        "counters read after the recipient moved"
    );

    // Meta redelivers: nothing moves, nothing is written.
    let again = store
        .apply_statuses(fx.tenant.id, std::slice::from_ref(&delivered), &outbox)
        .await
        .expect("again");
    assert!(!again.changes[0].expect("known").moved());
    assert_eq!(again.deliveries, 0);
    assert_eq!(payloads(store, fx.tenant.id).await.len(), 2);
    assert!(payloads(store, fx.other.id).await.is_empty());

    // Without subscribers only the statuses are written.
    let read = WamidUpdate {
        wamid,
        update: StatusUpdate::new(MessageStatus::Read, Utc::now()),
    };
    let quiet = store
        .apply_statuses(fx.tenant.id, &[read], &StatusOutbox::none())
        .await
        .expect("quiet");
    assert_eq!(quiet.changes[0].expect("known").to, MessageStatus::Read);
    assert_eq!(quiet.deliveries, 0);
    assert_eq!(payloads(store, fx.tenant.id).await.len(), 2);
}

/// A campaign's final state and its `campaign_completed` row are stored together: a stale
/// version writes neither, an unknown subscription refuses both.
pub async fn campaign_completion_is_stored_with_its_state(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(fx.tenant.id, &[EventKind::CampaignCompleted]);
    store.create_subscription(&sub).await.expect("subscribe");
    let campaign = running_campaign(&fx);
    store.create_campaign(&campaign).await.expect("campaign");
    let counters = store
        .campaign_counters(fx.tenant.id, campaign.id)
        .await
        .expect("counters");

    // An event for a subscription that is not stored: neither is written.
    let mut done = campaign.clone();
    done.transition(CampaignState::Completed, "complete")
        .expect("completes");
    let ghost = subscription(fx.tenant.id, &[EventKind::CampaignCompleted]);
    let refused = store
        .update_campaign_with_deliveries(&done, &campaign_completed(&done, &counters, &[ghost]))
        .await;
    assert!(
        matches!(refused, Err(Error::NotFound { .. })),
        "{refused:?}"
    );
    let stored = store
        .get_campaign(fx.tenant.id, campaign.id)
        .await
        .expect("get");
    assert_eq!((stored.state, stored.version), (CampaignState::Running, 0));

    let events = campaign_completed(&done, &counters, std::slice::from_ref(&sub));
    assert_eq!(events.len(), 1);
    let version = store
        .update_campaign_with_deliveries(&done, &events)
        .await
        .expect("complete");
    assert_eq!(version, 1);
    let p = payloads(store, fx.tenant.id).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["type"], "campaign_completed");
    assert_eq!(p[0]["data"]["campaign_id"], serde_json::json!(campaign.id));
    assert_eq!(p[0]["data"]["state"], "completed");

    // A second writer with the version it read before: a conflict, and no second event.
    let stale = store
        .update_campaign_with_deliveries(
            &done,
            &campaign_completed(&done, &counters, std::slice::from_ref(&sub)),
        )
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    assert_eq!(payloads(store, fx.tenant.id).await.len(), 1);
    assert!(payloads(store, fx.other.id).await.is_empty());
}

/// A flow's end is saved with its `flow_completed` row: a delivery refused (unknown
/// subscription) saves neither, a stale version writes neither, and the event id is the same
/// for a re-run of the same turn.
pub async fn flow_events_are_stored_with_the_session_save(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(fx.tenant.id, &[EventKind::FlowCompleted]);
    let not_subscribed = subscription(fx.tenant.id, &[EventKind::FlowHandedOff]);
    for s in [&sub, &not_subscribed] {
        store.create_subscription(s).await.expect("subscribe");
    }
    let flow = FlowId::new();
    let mut session = ConversationSession::new(fx.tenant.id, fx.channel.id, phone(1));
    session.state = SessionState::Active;
    session.flow_id = Some(flow);
    session.flow_version = 2;
    session.node = Some("menu".into());
    session.version = store.save_session(&session).await.expect("create");
    let read_at_one = session.clone();

    let mut ended = session.clone();
    ended.state = SessionState::Ended;
    ended.node = None;
    ended
        .variables
        .insert("kode".into(), serde_json::json!("123456"));
    let events = [FlowEvent::Completed {
        flow,
        outcome: "completed".into(),
        node: "bill".into(),
    }];
    let subs = [sub.clone(), not_subscribed.clone()];
    let now = Utc::now();

    // A delivery to a subscription that is not stored: neither the session nor a row.
    let ghost = subscription(fx.tenant.id, &[EventKind::FlowCompleted]);
    let refused = store
        .save_session_with_deliveries(&ended, &[], &flow_outcome(&ended, &events, now, &[ghost]))
        .await;
    assert!(
        matches!(refused, Err(Error::NotFound { .. })),
        "{refused:?}"
    );
    let stored = store
        .get_session(fx.tenant.id, fx.channel.id, &phone(1))
        .await
        .expect("read")
        .expect("session");
    assert_eq!((stored.state, stored.version), (SessionState::Active, 1));
    assert!(payloads(store, fx.tenant.id).await.is_empty());

    let deliveries = flow_outcome(&ended, &events, now, &subs);
    assert_eq!(deliveries.len(), 1, "one subscriber of flow_completed");
    assert_eq!(deliveries[0].subscription_id, sub.id);
    let version = store
        .save_session_with_deliveries(&ended, &[], &deliveries)
        .await
        .expect("save");
    assert_eq!(version, 2);
    let p = payloads(store, fx.tenant.id).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["type"], "flow_completed");
    assert_eq!(p[0]["data"]["session_id"], serde_json::json!(session.id));
    assert_eq!(p[0]["data"]["flow_id"], serde_json::json!(flow));
    assert_eq!(p[0]["data"]["flow_version"], 2);
    assert_eq!(p[0]["data"]["node"], "bill");
    assert_eq!(p[0]["data"]["contact"], phone(1).e164());
    assert_eq!(p[0]["data"]["variables"]["kode"], "123456");

    // A re-run of the same turn carries the same event id; its save is stale and writes
    // nothing, and neither does another turn that read version 1.
    let again = flow_outcome(&ended, &events, Utc::now(), &subs);
    assert_eq!(again[0].payload["id"], p[0]["id"]);
    let stale = store
        .save_session_with_deliveries(&ended, &[], &again)
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    let mut handed = read_at_one.clone();
    handed.state = SessionState::HandedOff;
    let hand_off = [FlowEvent::HandedOff {
        flow,
        node: "human".into(),
    }];
    let stale = store
        .save_session_with_deliveries(&handed, &[], &flow_outcome(&handed, &hand_off, now, &subs))
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    assert_eq!(payloads(store, fx.tenant.id).await.len(), 1);
    let stored = store
        .get_session(fx.tenant.id, fx.channel.id, &phone(1))
        .await
        .expect("read")
        .expect("session");
    assert_eq!((stored.state, stored.version), (SessionState::Ended, 2));
    assert!(payloads(store, fx.other.id).await.is_empty());
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().expect("valid time")
}

/// Every attempt is logged with its time, status or error and duration, numbered on across a
/// replay, and only for its tenant.
pub async fn delivery_attempts_are_logged(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(fx.tenant.id, &[EventKind::MessageReceived]);
    store.create_subscription(&sub).await.expect("subscribe");
    let d = WebhookDelivery::new(
        fx.tenant.id,
        sub.id,
        EventKind::MessageReceived,
        serde_json::json!({"type": "message_received"}),
    );
    store
        .enqueue_deliveries(std::slice::from_ref(&d))
        .await
        .expect("enqueue");
    assert!(
        store
            .list_delivery_attempts(fx.tenant.id, d.id)
            .await
            .expect("none yet")
            .is_empty()
    );
    let timing = |secs: i64, ms: u64| AttemptTiming {
        started_at: at(secs),
        duration_ms: ms,
    };
    let outcomes = [
        (
            DeliveryOutcome::Retry {
                status: Some(503),
                error: "HTTP 503".into(),
                retry_at: Utc::now() + TimeDelta::minutes(1),
            },
            timing(1_764_000_000, 250),
        ),
        (
            DeliveryOutcome::Dead {
                status: None,
                error: "timed out after 10 s".into(),
            },
            timing(1_764_000_060, 10_000),
        ),
    ];
    for (outcome, timing) in &outcomes {
        store
            .record_delivery_attempt(fx.tenant.id, d.id, outcome, timing)
            .await
            .expect("attempt");
    }
    store
        .replay_delivery(fx.tenant.id, d.id, Utc::now())
        .await
        .expect("replay");
    let delivered = store
        .record_delivery_attempt(
            fx.tenant.id,
            d.id,
            &DeliveryOutcome::Delivered { status: 204 },
            &timing(1_764_000_120, 31),
        )
        .await
        .expect("delivered");
    assert_eq!(
        (delivered.state, delivered.attempts),
        (DeliveryState::Delivered, 3)
    );
    let log = store
        .list_delivery_attempts(fx.tenant.id, d.id)
        .await
        .expect("log");
    let seen: Vec<_> = log
        .iter()
        .map(|a| {
            (
                a.number,
                a.started_at,
                a.duration_ms,
                a.status,
                a.error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, at(1_764_000_000), 250, Some(503), Some("HTTP 503")),
            (
                2,
                at(1_764_000_060),
                10_000,
                None,
                Some("timed out after 10 s")
            ),
            (3, at(1_764_000_120), 31, Some(204), None),
        ]
    );
    assert!(
        log.iter()
            .all(|a| a.delivery_id == d.id && a.tenant_id == fx.tenant.id)
    );
    assert!(matches!(
        store.list_delivery_attempts(fx.other.id, d.id).await,
        Err(Error::NotFound { .. })
    ));
    // An attempt on another tenant's delivery is refused and logs nothing.
    assert!(matches!(
        store
            .record_delivery_attempt(
                fx.other.id,
                d.id,
                &DeliveryOutcome::Delivered { status: 200 },
                &timing(1_764_000_180, 5),
            )
            .await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        store
            .list_delivery_attempts(fx.tenant.id, d.id)
            .await
            .expect("log")
            .len(),
        3
    );
}

fn rule(tenant: TenantId, n: usize) -> AutoReplyRule {
    AutoReplyRule::new(
        tenant,
        format!("rule {n}"),
        vec![format!("kata{n}")],
        MessageContent::text("Terima kasih, pesan Anda kami terima."),
    )
}

/// Rules created concurrently never pass the limit together; other tenants count apart.
pub async fn rule_quota_holds_under_concurrent_creates(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let limit = 5;
    let rules: Vec<AutoReplyRule> = (0..24).map(|n| rule(fx.tenant.id, n)).collect();
    let results = join_all(rules.iter().map(|r| store.create_rule(r, Some(limit)))).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        assert!(
            matches!(r, Ok(()) | Err(Error::QuotaExceeded { limit: 5, .. })),
            "{r:?}"
        );
    }
    assert_eq!(created, 5, "exactly the limit is created");
    assert_eq!(store.list_rules(fx.tenant.id).await.expect("list").len(), 5);
    store
        .create_rule(&rule(fx.other.id, 0), Some(limit))
        .await
        .expect("another tenant has its own count");
    store
        .create_rule(&rule(fx.tenant.id, 99), None)
        .await
        .expect("no limit");
}

/// Ended cooldowns are deleted; running ones stay and keep silencing their rule.
pub async fn ended_cooldowns_are_pruned(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    // Times in 1990 keep this case apart from the cooldowns of cases sharing the database.
    let t0 = at(631_152_000);
    let take = |rule: RuleId,
                tenant: TenantId,
                channel: ChannelId,
                holder: &'static str,
                from: DateTime<Utc>,
                until: DateTime<Utc>| async move {
        store
            .take_cooldown(tenant, rule, channel, &phone(3), holder, from, until)
            .await
            .expect("cooldown")
    };
    let (ended, also_ended, running) = (RuleId::new(), RuleId::new(), RuleId::new());
    let (tenant, channel) = (fx.tenant.id, fx.channel.id);
    assert!(
        take(
            ended,
            tenant,
            channel,
            "wamid.A",
            t0,
            t0 + TimeDelta::minutes(5)
        )
        .await
    );
    assert!(
        take(
            also_ended,
            fx.other.id,
            fx.other_channel.id,
            "wamid.B",
            t0,
            t0 + TimeDelta::minutes(30)
        )
        .await
    );
    assert!(
        take(
            running,
            tenant,
            channel,
            "wamid.C",
            t0,
            t0 + TimeDelta::hours(2)
        )
        .await
    );
    let now = t0 + TimeDelta::hours(1);
    assert_eq!(
        store.prune_cooldowns(now).await.expect("prune"),
        2,
        "both ended ones, across tenants"
    );
    assert_eq!(store.prune_cooldowns(now).await.expect("again"), 0);
    assert!(
        !take(
            running,
            tenant,
            channel,
            "wamid.D",
            now,
            now + TimeDelta::minutes(5)
        )
        .await,
        "a running cooldown survives pruning"
    );
    assert!(
        take(
            ended,
            tenant,
            channel,
            "wamid.E",
            now,
            now + TimeDelta::minutes(5)
        )
        .await
    );
}
