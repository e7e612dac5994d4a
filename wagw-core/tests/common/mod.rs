//! Shared set-up for the dispatcher and campaign tests: memory backends, a stub transport,
//! one tenant with one channel.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Backoff, Dispatcher, DispatcherConfig, NewMessage};
use wagw_core::ids::MessageId;
use wagw_core::model::channel::{Channel, Throughput};
use wagw_core::model::message::{MessageRecord, Priority};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::phone::PhoneNumber;
use wagw_core::store::{ChannelStore, MessageStore, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_store_memory::{MemoryQueue, MemoryStore};

pub type Stub = Dispatcher<MemoryStore, MemoryQueue, StubTransport>;

pub struct Setup {
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub stub: StubTransport,
    pub tenant: Tenant,
    pub channel: Channel,
}

pub fn phone(n: u64) -> PhoneNumber {
    PhoneNumber::from_wa_id(&(6_281_200_000_000u64 + n).to_string()).expect("number")
}

pub fn quick() -> DispatcherConfig {
    DispatcherConfig {
        enforce_window: false,
        idle_poll: Duration::from_millis(5),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        ..DispatcherConfig::default()
    }
}

impl Setup {
    pub async fn new(throughput: u32) -> Self {
        let store = Arc::new(MemoryStore::new());
        let tenant = Tenant::new("Toko Maju", Plan::enterprise());
        store.create_tenant(&tenant).await.expect("tenant");
        let mut channel = Channel::new(
            tenant.id,
            "cs",
            "106540352242922",
            "102290129340398",
            phone(9_000),
        );
        channel.throughput = Throughput::per_second(throughput).expect("rate");
        store.create_channel(&channel).await.expect("channel");
        Self {
            store,
            queue: Arc::new(MemoryQueue::new()),
            stub: StubTransport::new_ok(),
            tenant,
            channel,
        }
    }

    pub fn dispatcher(&self, config: DispatcherConfig) -> Stub {
        Dispatcher::new(
            Arc::clone(&self.store),
            Arc::clone(&self.queue),
            Arc::new(self.stub.clone()),
            config,
        )
    }

    pub fn message(&self, to: u64, body: &str, priority: Priority) -> NewMessage {
        NewMessage::new(
            self.tenant.id,
            self.channel.id,
            phone(to),
            MessageContent::text(body),
        )
        .priority(priority)
    }

    /// `count` normal-priority texts to distinct numbers, submitted through `d`.
    pub async fn submit_texts(&self, d: &Stub, count: u64) -> Vec<MessageId> {
        let messages: Vec<_> = (0..count)
            .map(|n| self.message(n, "Halo", Priority::Normal))
            .collect();
        let inserted = d.submit_many(messages).await.expect("submit");
        inserted.iter().map(|i| i.id).collect()
    }

    pub async fn status(&self, message: MessageId) -> MessageRecord {
        self.store
            .get_message(self.tenant.id, message)
            .await
            .expect("message")
    }
}

pub async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
