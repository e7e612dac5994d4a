//! The webhook-out worker against a real local receiver that fails, stalls and recovers.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use support::{Behaviour, Receiver};
use wagw_core::Store;
use wagw_core::ids::SubscriptionId;
use wagw_core::model::Secret;
use wagw_core::model::webhook::{DeliveryState, EventKind, WebhookDelivery, WebhookSubscription};
use wagw_core::net::NetPolicy;
use wagw_core::outbox::{
    self, EVENT_ID_HEADER, OutboxConfig, OutboxWorker, RetrySchedule, SIGNATURE_HEADER,
};
use wagw_core::store::{Page, WebhookStore};
use wagw_core::testkit::Fixture;
use wagw_store_memory::MemoryStore;

const SECRET: &str = "rahasia-toko";

struct Setup {
    store: Arc<MemoryStore>,
    fx: Fixture,
    subscription: WebhookSubscription,
}

async fn setup(url: String) -> Setup {
    let store = Arc::new(MemoryStore::new());
    let fx = Fixture::new(store.as_ref()).await;
    let subscription = WebhookSubscription {
        id: SubscriptionId::new(),
        tenant_id: fx.tenant.id,
        url,
        secret: Secret::new(SECRET),
        events: BTreeSet::from([EventKind::MessageReceived]),
        active: true,
        created_at: Utc::now(),
    };
    store.create_subscription(&subscription).await.unwrap();
    Setup {
        store,
        fx,
        subscription,
    }
}

/// Retries without waiting, so the test runs the whole schedule in moments.
fn worker(store: &Arc<MemoryStore>, retries: usize) -> OutboxWorker {
    let config = OutboxConfig {
        retry: RetrySchedule {
            delays: vec![Duration::ZERO; retries],
        },
        lease: Duration::from_secs(30),
        ..OutboxConfig::default()
    };
    let policy = NetPolicy::default()
        .allow("127.0.0.1/32")
        .unwrap()
        .with_total_timeout(Duration::from_millis(700));
    OutboxWorker::new(store.clone() as Arc<dyn Store>, policy, config).unwrap()
}

async fn enqueue(setup: &Setup, text: &str) -> WebhookDelivery {
    let delivery = WebhookDelivery::new(
        setup.fx.tenant.id,
        setup.subscription.id,
        EventKind::MessageReceived,
        serde_json::json!({"from": "628123456789", "text": text}),
    );
    setup
        .store
        .enqueue_deliveries(std::slice::from_ref(&delivery))
        .await
        .unwrap();
    delivery
}

/// Runs rounds until nothing is due any more (bounded).
async fn drain(worker: &OutboxWorker) {
    for _ in 0..50 {
        if worker.run_once(Utc::now()).await.unwrap().claimed == 0 {
            return;
        }
    }
    panic!("the outbox never drained");
}

async fn deliveries(setup: &Setup) -> Vec<WebhookDelivery> {
    setup
        .store
        .list_deliveries(setup.fx.tenant.id, None, Page::first(100))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn fails_times_out_then_delivers_signed_with_a_stable_event_id() {
    let receiver = Receiver::start(Behaviour::Status(200, "ok".into())).await;
    receiver.script([
        Behaviour::Status(500, "boom".into()),
        Behaviour::Stall(Duration::from_secs(5)),
        Behaviour::Status(404, "no route".into()),
    ]);
    let setup = setup(receiver.url("/hooks/wa")).await;
    let delivery = enqueue(&setup, "Halo").await;
    drain(&worker(&setup.store, 5)).await;

    let stored = &deliveries(&setup).await[0];
    assert_eq!(stored.state, DeliveryState::Delivered);
    assert_eq!(stored.attempts, 4, "500, timeout and 404 were retried");
    assert_eq!(stored.last_status, Some(200));
    let received = receiver.received();
    assert_eq!(received.len(), 4);
    let now = Utc::now().timestamp();
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/hooks/wa");
        assert_eq!(
            request.header(EVENT_ID_HEADER),
            Some(delivery.id.to_string().as_str())
        );
        let signature = request.header(SIGNATURE_HEADER).expect("signed");
        assert!(outbox::verify(SECRET, signature, &request.body, now, 300));
        assert!(!outbox::verify("wrong", signature, &request.body, now, 300));
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["event"], "message_received");
        assert_eq!(body["data"]["text"], "Halo");
    }
}

#[tokio::test]
async fn exhausted_retries_dead_letter_and_replay_one_by_one_and_in_bulk() {
    let receiver = Receiver::start(Behaviour::Status(400, "bad".into())).await;
    let setup = setup(receiver.url("/h")).await;
    let worker = worker(&setup.store, 2);
    let first = enqueue(&setup, "satu").await;
    drain(&worker).await;
    let dead = &deliveries(&setup).await[0];
    assert_eq!(dead.state, DeliveryState::Dead, "4xx is retried, then dead");
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_status, Some(400));

    receiver.set_default(Behaviour::Status(204, String::new()));
    outbox::replay(setup.store.as_ref(), setup.fx.tenant.id, first.id)
        .await
        .unwrap();
    drain(&worker).await;
    assert_eq!(deliveries(&setup).await[0].state, DeliveryState::Delivered);

    receiver.set_default(Behaviour::Status(503, String::new()));
    enqueue(&setup, "dua").await;
    enqueue(&setup, "tiga").await;
    drain(&worker).await;
    let states: Vec<_> = deliveries(&setup).await.iter().map(|d| d.state).collect();
    assert_eq!(
        states.iter().filter(|s| **s == DeliveryState::Dead).count(),
        2
    );
    receiver.set_default(Behaviour::Status(200, String::new()));
    let replayed = outbox::replay_dead(setup.store.as_ref(), setup.fx.tenant.id, None)
        .await
        .unwrap();
    assert_eq!(replayed, 2);
    drain(&worker).await;
    assert!(
        deliveries(&setup)
            .await
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
    );
    // Another tenant cannot replay this tenant's deliveries.
    let other = outbox::replay(setup.store.as_ref(), setup.fx.other.id, first.id).await;
    assert!(other.is_err());
}

#[tokio::test]
async fn refused_destinations_are_never_contacted() {
    let setup = setup("http://10.1.2.3/hooks".into()).await;
    enqueue(&setup, "rahasia").await;
    drain(&worker(&setup.store, 1)).await;
    let dead = &deliveries(&setup).await[0];
    assert_eq!(dead.state, DeliveryState::Dead);
    assert!(
        dead.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("private"),
        "{:?}",
        dead.last_error
    );
}

#[tokio::test]
async fn the_running_worker_delivers_and_stops_on_shutdown() {
    let receiver = Receiver::start(Behaviour::Status(200, String::new())).await;
    let setup = setup(receiver.url("/live")).await;
    let worker = worker(&setup.store, 3);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        worker
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    for i in 0..5 {
        enqueue(&setup, &format!("pesan {i}")).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while receiver.received().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker stops")
        .unwrap();
}
