//! Dispatch overhead.
//!
//! - `decision`: the rate decision for one message (pair limit, then the number's limiter)
//!   with 10,000 numbers and 1,000,000 distinct recipients in the limiters' state.
//! - `pipeline`: one message through the whole dispatcher on one core, in-process: reserve,
//!   load, campaign/channel/window/quota checks, pacing, record the attempt, send through the
//!   recording stub, record `sent`, acknowledge. 10,000 numbers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wagw_benches::phone;
use wagw_core::content::MessageContent;
use wagw_core::dispatch::{Dispatcher, DispatcherConfig, NewMessage, Pacer, PairLimit};
use wagw_core::ids::ChannelId;
use wagw_core::model::channel::{Channel, Throughput as Rate};
use wagw_core::model::tenant::{Plan, Tenant};
use wagw_core::store::{ChannelStore, TenantStore};
use wagw_core::testkit::StubTransport;
use wagw_store_memory::{MemoryQueue, MemoryStore};

const NUMBERS: usize = 10_000;
const RECIPIENTS: u64 = 1_000_000;

fn decision(c: &mut Criterion) {
    let pacer = Pacer::new(Some(PairLimit::default()));
    let channels: Vec<_> = (0..NUMBERS).map(|_| ChannelId::new()).collect();
    for ch in &channels {
        pacer.observe(*ch, 1_000_000);
    }
    let recipients: Vec<_> = (0..RECIPIENTS).map(phone).collect();
    // Warm the pair state so every recipient has an entry, as in a running blast.
    for (i, to) in recipients.iter().enumerate() {
        let _ = pacer.check_pair(channels[i % NUMBERS], to);
    }
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("decision", |b| {
        b.iter(|| {
            i = (i + 7_919) % RECIPIENTS as usize;
            let channel = channels[i % NUMBERS];
            let pair = pacer.check_pair(channel, &recipients[i]);
            let slot = pacer.check_channel(channel);
            std::hint::black_box((pair, slot))
        })
    });
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (store, tenant, channels) = runtime.block_on(async {
        let store = Arc::new(MemoryStore::new());
        let tenant = Tenant::new("bench", Plan::enterprise());
        store.create_tenant(&tenant).await.expect("tenant");
        let mut channels = Vec::new();
        for n in 0..NUMBERS {
            let mut ch = Channel::new(
                tenant.id,
                "n",
                n.to_string(),
                "waba",
                phone(5_000_000 + n as u64),
            );
            ch.throughput = Rate::per_second(1_000_000).expect("rate");
            store.create_channel(&ch).await.expect("channel");
            channels.push(ch);
        }
        (store, tenant, channels)
    });
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.bench_function("pipeline", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let queue = Arc::new(MemoryQueue::new());
                let stub = Arc::new(StubTransport::new_ok());
                let dispatcher = Dispatcher::new(
                    Arc::clone(&store),
                    queue,
                    stub,
                    DispatcherConfig {
                        enforce_window: false,
                        pair_limit: None,
                        idle_poll: Duration::from_millis(1),
                        ..DispatcherConfig::default()
                    },
                );
                let messages: Vec<_> = (0..iters)
                    .map(|i| {
                        let ch = &channels[(i as usize * 31) % NUMBERS];
                        let to = phone(i % RECIPIENTS);
                        NewMessage::new(tenant.id, ch.id, to, MessageContent::text("Halo"))
                    })
                    .collect();
                dispatcher.submit_many(messages).await.expect("submit");
                let started = Instant::now();
                let handle = dispatcher.start();
                while dispatcher.stats().sent < iters {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let elapsed = started.elapsed();
                handle.shutdown().await;
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, decision, pipeline);
criterion_main!(benches);
