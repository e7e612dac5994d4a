//! Outbox events are written in the same store step as the change they report: a process that
//! dies after any store call of a status webhook or of a campaign's completion leaves either
//! both or neither, and the re-run (Meta's redelivery, the next engine tick) writes the event
//! exactly once. The dying process is a [`CrashingStore`] around the memory store.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use common::{Setup, phone, quick, wait_until};
use serde_json::json;
use wagw_core::campaign::CampaignEngine;
use wagw_core::conversation::{InboundPipeline, RoutedEvent};
use wagw_core::dispatch::Dispatcher;
use wagw_core::event::InboundEvent;
use wagw_core::ids::SubscriptionId;
use wagw_core::model::Secret;
use wagw_core::model::campaign::{Audience, Campaign, CampaignContent, CampaignState};
use wagw_core::model::message::{MessageStatus, Priority, StatusUpdate};
use wagw_core::model::webhook::{EventKind, WebhookSubscription};
use wagw_core::store::{CampaignStore, MessageStore, Page, WebhookStore};
use wagw_core::testkit::crashing_store::CrashingStore;
use wagw_store_memory::MemoryStore;

/// More store calls than either operation makes: the sweep ends when one run survives.
const MAX_CALLS: u64 = 40;

async fn subscribe(s: &Setup, events: &[EventKind]) {
    let sub = WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: s.tenant.id,
        url: "https://crm.example.co.id/wa".into(),
        secret: Secret::new("s3cret"),
        events: events.iter().copied().collect::<BTreeSet<_>>(),
        active: true,
        created_at: Utc::now(),
    };
    s.store.create_subscription(&sub).await.expect("subscribe");
}

async fn events_of(store: &MemoryStore, s: &Setup, kind: &str) -> Vec<serde_json::Value> {
    store
        .list_deliveries(s.tenant.id, None, Page::first(1_000))
        .await
        .expect("deliveries")
        .items
        .into_iter()
        .map(|d| d.payload)
        .filter(|p| p["type"] == kind)
        .collect()
}

/// A delivered-status webhook for the message sent as `wamid`.
fn delivered(s: &Setup, wamid: &str) -> RoutedEvent {
    let status: wagw_core::event::StatusUpdate = serde_json::from_value(json!({
        "id": wamid, "status": "delivered", "timestamp": Utc::now().timestamp().to_string(),
        "recipient_id": phone(1).as_str()
    }))
    .expect("status");
    RoutedEvent {
        waba_id: s.channel.waba_id.clone(),
        phone_number_id: Some(s.channel.phone_number_id.clone()),
        contact: None,
        event: InboundEvent::Status(status),
    }
}

#[tokio::test]
async fn a_crash_at_any_store_call_of_a_status_webhook_loses_no_status_event() {
    for survive in 0..MAX_CALLS {
        let s = Setup::new(80).await;
        subscribe(&s, &[EventKind::MessageStatus]).await;
        let inserted = s
            .dispatcher(quick())
            .submit(s.message(1, "Halo", Priority::Normal))
            .await
            .expect("submit");
        let mut sent = StatusUpdate::new(MessageStatus::Sent, Utc::now());
        sent.wamid = Some("wamid.OUT".into());
        s.store
            .update_status(s.tenant.id, inserted.id, &sent)
            .await
            .expect("sent");
        let webhook = delivered(&s, "wamid.OUT");

        let dying = Arc::new(CrashingStore::new(Arc::clone(&s.store), survive));
        let outcome = InboundPipeline::new(Arc::clone(&dying))
            .ingest(std::slice::from_ref(&webhook))
            .await;
        let crashed = dying.crashed();
        assert_eq!(
            outcome.is_err(),
            crashed,
            "after {survive} calls: {outcome:?}"
        );
        if crashed {
            // Not acknowledged, so Meta delivers the webhook again, to a process that lives.
            InboundPipeline::new(Arc::clone(&s.store))
                .ingest(std::slice::from_ref(&webhook))
                .await
                .expect("redelivery");
        }
        let message = s
            .store
            .get_message(s.tenant.id, inserted.id)
            .await
            .expect("message");
        assert_eq!(message.status, MessageStatus::Delivered);
        let events = events_of(&s.store, &s, "message_status").await;
        assert_eq!(
            events.len(),
            1,
            "a crash after {survive} store calls: the status is stored, its events are {events:?}"
        );
        assert_eq!(events[0]["data"]["status"], "delivered");
        if !crashed {
            return;
        }
    }
    panic!("the webhook never completed within {MAX_CALLS} store calls");
}

type Engine<S> =
    CampaignEngine<S, wagw_store_memory::MemoryQueue, wagw_core::testkit::StubTransport>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_store_call_of_a_campaigns_completion_loses_no_completion_event() {
    for survive in 0..MAX_CALLS {
        let s = Setup::new(500).await;
        subscribe(&s, &[EventKind::CampaignCompleted]).await;
        let engine: Engine<MemoryStore> = CampaignEngine::new(s.dispatcher(quick()));
        let campaign = Campaign::new(
            s.tenant.id,
            s.channel.id,
            "Tagihan Desember",
            CampaignContent::Text {
                body: "Halo {nama}".into(),
            },
            Audience::default(),
        );
        engine.create(&campaign).await.expect("create");
        let csv = "nama,nomor\nBudi,081200000001\nSiti,081200000002\nAni,081200000003\n";
        engine
            .import_csv(s.tenant.id, campaign.id, csv.as_bytes())
            .await
            .expect("import");
        engine
            .start(s.tenant.id, campaign.id, None)
            .await
            .expect("start");
        engine.tick().await.expect("feed");
        // Every recipient sent, the campaign not yet completed: the next tick completes it.
        let handle = s.dispatcher(quick()).start();
        wait_until("all sent", async || {
            engine
                .counters(s.tenant.id, campaign.id)
                .await
                .expect("counters")
                .reached_sent()
                == 3
        })
        .await;
        handle.shutdown().await;

        let dying = Arc::new(CrashingStore::new(Arc::clone(&s.store), survive));
        let dying_engine = CampaignEngine::new(Dispatcher::new(
            Arc::clone(&dying),
            Arc::clone(&s.queue),
            Arc::new(s.stub.clone()),
            quick(),
        ));
        let outcome = dying_engine.tick().await;
        let crashed = dying.crashed();
        // The engine goes on ticking after the restart; more ticks write nothing more.
        for _ in 0..3 {
            engine.tick().await.expect("tick");
        }
        let stored = s
            .store
            .get_campaign(s.tenant.id, campaign.id)
            .await
            .expect("campaign");
        assert_eq!(
            stored.state,
            CampaignState::Completed,
            "after {survive} calls"
        );
        let events = events_of(&s.store, &s, "campaign_completed").await;
        assert_eq!(
            events.len(),
            1,
            "a crash after {survive} store calls ({outcome:?}): completion events {events:?}"
        );
        assert_eq!(events[0]["data"]["state"], "completed");
        assert_eq!(events[0]["data"]["counters"]["sent"], 3);
        if !crashed {
            return;
        }
    }
    panic!("the tick never completed within {MAX_CALLS} store calls");
}
