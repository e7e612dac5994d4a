//! One number pinned at 1,000 messages/s through the dispatcher, `MetaTransport` and the
//! emulator (which answers 130429 above 1,000/s), with the dispatcher's default `idle_poll`
//! (20 ms) and, for comparison, a 2 ms poll. With a lane of two jobs per number, the rate
//! depends on a freed lane slot waking the reservation loop at once rather than at the next
//! poll.
//!
//! `cargo bench -p wagw-benches --bench fast_number`

use std::sync::Arc;
use std::time::{Duration, Instant};

use wagw_benches::emulated::{Rig, TOKEN};
use wagw_core::dispatch::{Dispatcher, DispatcherConfig};
use wagw_meta::MetaTransport;
use wagw_store_memory::MemoryQueue;

const RATE: u32 = 1_000;
const WARM_UP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(10);

async fn run(idle_poll: Duration) -> (f64, u64) {
    let rig = Rig::new(1, Some(RATE)).await;
    let transport = MetaTransport::builder()
        .base_url(rig.emulator.base_url())
        .access_token(TOKEN)
        .build()
        .expect("transport");
    let dispatcher = Dispatcher::new(
        Arc::clone(&rig.store),
        Arc::new(MemoryQueue::new()),
        Arc::new(transport),
        DispatcherConfig {
            enforce_window: false,
            pair_limit: None,
            idle_poll,
            ..DispatcherConfig::default()
        },
    );
    let channel = &rig.channels[0];
    let per_number = u64::from(RATE) * (WINDOW + WARM_UP * 3).as_secs();
    dispatcher
        .submit_many(rig.messages(per_number))
        .await
        .expect("submit");
    let accepted = || {
        rig.emulator
            .counters(&channel.phone_number_id)
            .map_or(0, |c| c.accepted)
    };
    let handle = dispatcher.start();
    tokio::time::sleep(WARM_UP).await;
    let start = accepted();
    let started = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let end = accepted();
    let elapsed = started.elapsed().as_secs_f64();
    handle.shutdown().await;
    let throttled = rig
        .emulator
        .counters(&channel.phone_number_id)
        .map_or(0, |c| c.error(130429));
    ((end - start) as f64 / elapsed, throttled)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, briefly.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (label, poll) in [
            (
                "default idle_poll (20 ms)",
                DispatcherConfig::default().idle_poll,
            ),
            ("idle_poll 2 ms", Duration::from_millis(2)),
        ] {
            let (rate, throttled) = run(poll).await;
            println!(
                "fast_number: one number at {RATE}/s, {label}: {rate:.1}/s over {} s, \
                 130429 errors {throttled}",
                WINDOW.as_secs()
            );
        }
    });
}
