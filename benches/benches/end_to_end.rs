//! End to end on loopback with limits off: messages submitted, dispatched through
//! `MetaTransport` over HTTP to the Cloud API emulator, accepted, and recorded as sent.
//! Everything (dispatcher, HTTP client, emulator) shares this machine's two cores.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wagw_benches::emulated::Rig;

const NUMBERS: usize = 50;
const BATCH: u64 = 20_000;

fn end_to_end(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rig = runtime.block_on(Rig::new(NUMBERS, None));
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("20k_messages_50_numbers_limits_off", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += runtime.block_on(async {
                    let messages = rig.messages(BATCH);
                    let before = rig.dispatcher.stats().sent;
                    rig.dispatcher.submit_many(messages).await.expect("submit");
                    let started = Instant::now();
                    let handle = rig.dispatcher.start();
                    while rig.dispatcher.stats().sent < before + BATCH {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    let elapsed = started.elapsed();
                    handle.shutdown().await;
                    elapsed
                });
            }
            total
        })
    });
    group.finish();
    let throttled: u64 = rig
        .channels
        .iter()
        .filter_map(|ch| rig.emulator.counters(&ch.phone_number_id))
        .map(|c| c.errors.values().sum::<u64>())
        .sum();
    eprintln!("end_to_end: emulator errors during the run: {throttled}");
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
