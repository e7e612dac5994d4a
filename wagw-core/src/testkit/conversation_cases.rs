//! Conformance cases for the inbound side of the [`Store`]: inbound messages stored once with
//! their contact, conversation job and outbox rows; conversation jobs; rule cooldowns; routing
//! by business account; analytics figures. Stamped by
//! [`store_conformance_tests!`](crate::store_conformance_tests) with the other store cases.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;

use super::fixtures::{Fixture, phone};
use crate::Store;
use crate::error::Error;
use crate::event::InboundMessage;
use crate::ids::*;
use crate::model::Secret;
use crate::model::channel::Channel;
use crate::model::contact::Contact;
use crate::model::conversation::{
    ContactProfile, HandledBy, InboundIngest, JobSettlement, JobState, PROFILE_NAME_FIELD,
    USER_ID_FIELD, VOLUME_BUCKET_SECS,
};
use crate::model::message::{Direction, MessageRecord, MessageStatus};
use crate::model::webhook::{EventKind, WebhookDelivery, WebhookSubscription};
use crate::store::Page;

fn text_message(from: u64, wamid: &str, at: DateTime<Utc>, body: &str) -> InboundMessage {
    let json = serde_json::json!({
        "from": phone(from).as_str(),
        "id": wamid,
        "timestamp": at.timestamp().to_string(),
        "type": "text",
        "text": { "body": body }
    });
    serde_json::from_value(json).expect("inbound text")
}

fn ingest(fx: &Fixture, from: u64, wamid: &str, at: DateTime<Utc>) -> InboundIngest {
    let mut message = MessageRecord::inbound(
        fx.tenant.id,
        fx.channel.id,
        phone(from),
        text_message(from, wamid, at, "Halo, info harga?"),
    );
    message.created_at = at;
    message.updated_at = at;
    InboundIngest {
        message,
        profile: ContactProfile {
            profile_name: Some("Budi".into()),
            user_id: Some("ID.1234567890".into()),
        },
        answer: true,
        deliveries: Vec::new(),
    }
}

fn subscription(tenant: TenantId) -> WebhookSubscription {
    WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: tenant,
        url: "https://crm.example.co.id/hooks/wa".into(),
        secret: Secret::new("s3cret"),
        events: BTreeSet::from([EventKind::MessageReceived]),
        active: true,
        created_at: Utc::now(),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// An inbound message is stored once with its contact, job and outbox rows; a redelivery
/// writes nothing at all.
pub async fn inbound_is_stored_once_with_its_contact_job_and_events(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let sub = subscription(fx.tenant.id);
    store.create_subscription(&sub).await.expect("subscribe");
    let now = Utc::now();
    let mut first = ingest(&fx, 1, "wamid.IN1", now);
    first.deliveries = vec![WebhookDelivery::new(
        fx.tenant.id,
        sub.id,
        EventKind::MessageReceived,
        serde_json::json!({"type": "message.received"}),
    )];
    let stored = store.ingest_inbound(&first).await.expect("ingest");
    assert!(stored.created);
    assert_eq!(stored.message_id, first.message.id);
    let contact_id = stored.contact_id.expect("contact");

    let contact = store
        .get_contact(fx.tenant.id, contact_id)
        .await
        .expect("contact");
    assert_eq!(contact.phone, phone(1));
    assert_eq!(contact.name.as_deref(), Some("Budi"));
    assert_eq!(
        contact.fields.get(PROFILE_NAME_FIELD).map(String::as_str),
        Some("Budi")
    );
    assert_eq!(
        contact.fields.get(USER_ID_FIELD).map(String::as_str),
        Some("ID.1234567890")
    );
    let message = store
        .find_message_by_wamid(fx.tenant.id, "wamid.IN1")
        .await
        .expect("stored by wamid");
    assert_eq!(message.direction, Direction::Inbound);
    let window = store
        .last_inbound_at(fx.tenant.id, fx.channel.id, &phone(1))
        .await
        .expect("window")
        .expect("opened");
    assert_eq!(window.timestamp_micros(), now.timestamp_micros());
    let job = store
        .get_conversation_job(fx.tenant.id, stored.message_id)
        .await
        .expect("job");
    assert_eq!(job.state, JobState::Pending);
    assert_eq!(job.wamid, "wamid.IN1");
    assert_eq!(job.contact_phone, phone(1));

    // Meta redelivers: a new record with the same wamid writes nothing.
    let mut again = ingest(&fx, 1, "wamid.IN1", now);
    again.deliveries = vec![WebhookDelivery::new(
        fx.tenant.id,
        sub.id,
        EventKind::MessageReceived,
        serde_json::json!({"type": "message.received"}),
    )];
    let second = store.ingest_inbound(&again).await.expect("redelivery");
    assert!(!second.created);
    assert_eq!(second.message_id, stored.message_id);
    assert_not_found(
        store
            .get_conversation_job(fx.tenant.id, again.message.id)
            .await,
        "no second job",
    );
    let deliveries = store
        .list_deliveries(fx.tenant.id, None, Page::first(10))
        .await
        .expect("deliveries");
    assert_eq!(deliveries.items.len(), 1, "one event, not two");
    let messages = store
        .list_messages(fx.tenant.id, &Default::default(), Page::first(10))
        .await
        .expect("messages");
    assert_eq!(messages.items.len(), 1);
}

/// An existing contact keeps the name the tenant gave it and gains the profile fields.
pub async fn inbound_keeps_a_named_contact_and_adds_profile_fields(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut known = Contact::new(fx.tenant.id, phone(2), Some("Ibu Sari".into()));
    known.fields.insert("node".into(), "ODP-001".into());
    store
        .upsert_contacts(fx.tenant.id, &[known.clone()])
        .await
        .expect("contact");
    let stored = store
        .ingest_inbound(&ingest(&fx, 2, "wamid.IN2", Utc::now()))
        .await
        .expect("ingest");
    assert_eq!(stored.contact_id, Some(known.id));
    let contact = store
        .get_contact(fx.tenant.id, known.id)
        .await
        .expect("get");
    assert_eq!(contact.name.as_deref(), Some("Ibu Sari"));
    assert_eq!(
        contact.fields.get("node").map(String::as_str),
        Some("ODP-001")
    );
    assert_eq!(
        contact.fields.get(PROFILE_NAME_FIELD).map(String::as_str),
        Some("Budi")
    );
}

/// A refused ingest (an unknown subscription, another tenant's channel) writes nothing.
pub async fn refused_inbound_changes_nothing(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let mut bad = ingest(&fx, 3, "wamid.IN3", Utc::now());
    bad.deliveries = vec![WebhookDelivery::new(
        fx.tenant.id,
        SubscriptionId::new(),
        EventKind::MessageReceived,
        serde_json::json!({}),
    )];
    assert!(
        store.ingest_inbound(&bad).await.is_err(),
        "unknown subscription"
    );
    let mut foreign = ingest(&fx, 3, "wamid.IN3", Utc::now());
    foreign.message.channel_id = fx.other_channel.id;
    assert!(
        store.ingest_inbound(&foreign).await.is_err(),
        "another tenant's channel"
    );
    assert_not_found(
        store.find_message_by_wamid(fx.tenant.id, "wamid.IN3").await,
        "message not stored",
    );
    assert_not_found(
        store.find_contact_by_phone(fx.tenant.id, &phone(3)).await,
        "contact not created",
    );
    assert_not_found(
        store
            .get_conversation_job(fx.tenant.id, bad.message.id)
            .await,
        "job not written",
    );
    // The same message, now fine, is stored: the failed attempts left no trace.
    assert!(
        store
            .ingest_inbound(&ingest(&fx, 3, "wamid.IN3", Utc::now()))
            .await
            .expect("ok")
            .created
    );
}

/// Only the oldest pending job of a contact can be claimed; claims hide jobs for the lease;
/// a retry comes back at its time; jobs are scoped by tenant.
pub async fn conversation_jobs_run_one_at_a_time_per_contact(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t0 = Utc::now() - TimeDelta::seconds(10);
    let a1 = ingest(&fx, 1, "wamid.A1", t0);
    let a2 = ingest(&fx, 1, "wamid.A2", t0 + TimeDelta::seconds(1));
    let b1 = ingest(&fx, 2, "wamid.B1", t0 + TimeDelta::seconds(2));
    for i in [&a1, &a2, &b1] {
        store.ingest_inbound(i).await.expect("ingest");
    }
    let now = Utc::now();
    let lease = Duration::from_secs(60);
    let first = store
        .claim_conversation_jobs(now, 10, lease)
        .await
        .expect("claim");
    let ids: Vec<_> = first.iter().map(|j| j.message_id).collect();
    assert_eq!(ids, vec![a1.message.id, b1.message.id], "A2 waits for A1");
    assert!(first.iter().all(|j| j.attempts == 1));
    assert!(
        store
            .claim_conversation_jobs(now, 10, lease)
            .await
            .expect("claim")
            .is_empty(),
        "claimed jobs are hidden and A2 still waits"
    );
    assert_not_found(
        store
            .settle_conversation_job(
                fx.other.id,
                a1.message.id,
                &JobSettlement::Done(HandledBy::Flow),
            )
            .await,
        "another tenant's job",
    );
    assert_not_found(
        store.get_conversation_job(fx.other.id, a1.message.id).await,
        "another tenant's job",
    );
    store
        .settle_conversation_job(
            fx.tenant.id,
            a1.message.id,
            &JobSettlement::Done(HandledBy::Flow),
        )
        .await
        .expect("done");
    let next = store
        .claim_conversation_jobs(now, 10, lease)
        .await
        .expect("claim");
    assert_eq!(
        next.iter().map(|j| j.message_id).collect::<Vec<_>>(),
        vec![a2.message.id]
    );
    let later = now + TimeDelta::seconds(30);
    store
        .settle_conversation_job(
            fx.tenant.id,
            a2.message.id,
            &JobSettlement::Retry {
                at: later,
                error: "store busy".into(),
            },
        )
        .await
        .expect("retry");
    assert!(
        store
            .claim_conversation_jobs(now, 10, lease)
            .await
            .expect("claim")
            .is_empty()
    );
    let again = store
        .claim_conversation_jobs(later, 10, lease)
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("store busy"));
    store
        .settle_conversation_job(
            fx.tenant.id,
            a2.message.id,
            &JobSettlement::Failed {
                error: "gave up".into(),
            },
        )
        .await
        .expect("failed");
    let done = store
        .get_conversation_job(fx.tenant.id, a1.message.id)
        .await
        .expect("get");
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.handled_by, Some(HandledBy::Flow));
    assert!(done.finished_at.is_some());
    let failed = store
        .get_conversation_job(fx.tenant.id, a2.message.id)
        .await
        .expect("get");
    assert_eq!(failed.state, JobState::Failed);
}

/// Concurrent claimers never take the same job.
pub async fn conversation_job_claims_do_not_overlap(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let t0 = Utc::now() - TimeDelta::seconds(10);
    for n in 0..40u64 {
        let i = ingest(&fx, 100 + n, &format!("wamid.C{n}"), t0);
        store.ingest_inbound(&i).await.expect("ingest");
    }
    let now = Utc::now();
    let claims = join_all((0..4).map(|_| async move {
        let mut mine = Vec::new();
        loop {
            let got = store
                .claim_conversation_jobs(now, 3, Duration::from_secs(60))
                .await
                .expect("claim");
            if got.is_empty() {
                break mine;
            }
            mine.extend(got.into_iter().map(|j| j.message_id));
        }
    }))
    .await;
    let all: Vec<MessageId> = claims.into_iter().flatten().collect();
    let unique: HashSet<MessageId> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every job claimed");
    assert_eq!(unique.len(), 40, "no job claimed twice");
}

/// A cooldown is taken once until it ends, per rule, channel and contact.
pub async fn rule_cooldown_is_taken_once_until_it_ends(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let rule = RuleId::new();
    let now = Utc::now();
    let until = now + TimeDelta::minutes(10);
    let take_as = |holder: &'static str, at: DateTime<Utc>, contact: u64, rule: RuleId| {
        let (tenant, channel) = (fx.tenant.id, fx.channel.id);
        async move {
            store
                .take_cooldown(
                    tenant,
                    rule,
                    channel,
                    &phone(contact),
                    holder,
                    at,
                    at + TimeDelta::minutes(10),
                )
                .await
                .expect("cooldown")
        }
    };
    let take =
        |at: DateTime<Utc>, contact: u64, rule: RuleId| take_as("wamid.X", at, contact, rule);
    assert!(take_as("wamid.FIRST", now, 1, rule).await);
    assert!(
        take_as("wamid.FIRST", now + TimeDelta::seconds(1), 1, rule).await,
        "a re-run of the job that took it takes it again"
    );
    assert!(
        !take(now + TimeDelta::minutes(5), 1, rule).await,
        "still cooling"
    );
    assert!(take(now, 2, rule).await, "another contact");
    assert!(take(now, 1, RuleId::new()).await, "another rule");
    assert!(take(until + TimeDelta::seconds(1), 1, rule).await, "ended");
    // Under concurrency exactly one caller wins.
    let fresh = RuleId::new();
    let holders = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let wins = join_all(holders.iter().map(|h| take_as(h, now, 7, fresh))).await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
}

/// Account-level webhooks find the channels of their business account, across tenants.
pub async fn channels_are_found_by_business_account(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let waba = format!("waba-{}", uuid::Uuid::new_v4().simple());
    let mut mine = Channel::new(
        fx.tenant.id,
        "cs",
        format!("{}", fastrand::u64(1..u64::MAX / 2)),
        &waba,
        phone(9_500),
    );
    mine.name = "customer service".into();
    store.create_channel(&mine).await.expect("channel");
    let found = store.channels_by_waba_id(&waba).await.expect("lookup");
    assert_eq!(found, vec![mine]);
    assert!(
        store
            .channels_by_waba_id("waba-none")
            .await
            .expect("lookup")
            .is_empty()
    );
}

/// Message volume counts per 15-minute bucket; handled counts per answer; campaign replies
/// within the window only; every figure scoped by tenant.
pub async fn analytics_figures_count_what_is_stored(store: &dyn Store) {
    let fx = Fixture::new(store).await;
    let base = DateTime::from_timestamp(1_790_000_000 / VOLUME_BUCKET_SECS * VOLUME_BUCKET_SECS, 0)
        .expect("time");
    let campaign = CampaignId::new();
    // Three campaign messages at base, to contacts 1, 2 and 3.
    for n in 1..=3u64 {
        let mut m = fx.message(n, "Promo");
        m.campaign_id = Some(campaign);
        m.status = MessageStatus::Delivered;
        m.created_at = base;
        store.insert_message(&m).await.expect("campaign message");
    }
    let mut other_tenant = fx.other_message(1, "Promo");
    other_tenant.created_at = base;
    store.insert_message(&other_tenant).await.expect("other");
    // Contact 1 replies after an hour, contact 2 after four days, contact 3 never.
    let reply1 = ingest(&fx, 1, "wamid.R1", base + TimeDelta::hours(1));
    let reply2 = ingest(&fx, 2, "wamid.R2", base + TimeDelta::days(4));
    store.ingest_inbound(&reply1).await.expect("reply");
    store.ingest_inbound(&reply2).await.expect("reply");
    let replied = store
        .campaign_replies(fx.tenant.id, campaign, Duration::from_secs(72 * 3600))
        .await
        .expect("replies");
    assert_eq!(replied, 1);
    assert_eq!(
        store
            .campaign_replies(fx.other.id, campaign, Duration::from_secs(72 * 3600))
            .await
            .expect("isolated"),
        0
    );

    let volume = store
        .message_volume(fx.tenant.id, base, base + TimeDelta::days(1))
        .await
        .expect("volume");
    let at_base: u64 = volume
        .iter()
        .filter(|b| b.start == base && b.direction == Direction::Outbound)
        .map(|b| b.count)
        .sum();
    assert_eq!(at_base, 3, "{volume:?}");
    let inbound: Vec<_> = volume
        .iter()
        .filter(|b| b.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 1, "the second reply is outside the range");
    assert_eq!(inbound[0].start, base + TimeDelta::hours(1));
    assert_eq!(inbound[0].status, MessageStatus::Received);
    assert_eq!(inbound[0].count, 1);
    assert!(volume.iter().all(|b| b.channel_id == fx.channel.id));

    let rule = RuleId::new();
    store
        .settle_conversation_job(
            fx.tenant.id,
            reply1.message.id,
            &JobSettlement::Done(HandledBy::Rule(rule)),
        )
        .await
        .expect("settle");
    store
        .settle_conversation_job(
            fx.tenant.id,
            reply2.message.id,
            &JobSettlement::Done(HandledBy::Unanswered),
        )
        .await
        .expect("settle");
    let handled = store
        .handled_counts(fx.tenant.id, base, base + TimeDelta::days(1))
        .await
        .expect("handled");
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert_eq!(handled[0].handled_by, HandledBy::Rule(rule));
    assert_eq!(handled[0].count, 1);
    assert!(
        store
            .handled_counts(fx.other.id, base, base + TimeDelta::days(10))
            .await
            .expect("isolated")
            .is_empty()
    );
}
