//! Rate precision: 50 numbers at 80 messages/s each, for 10 seconds, through the dispatcher,
//! `MetaTransport` and the emulator (which answers 130429 above 80/s). Prints each number's
//! achieved rate against its limit and the emulator's throughput errors.
//!
//! `cargo bench -p wagw-benches --bench rate_precision`

use std::time::{Duration, Instant};

use wagw_benches::emulated::Rig;

const NUMBERS: usize = 50;
const RATE: u32 = 80;
const WARM_UP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(10);

fn accepted(rig: &Rig) -> Vec<u64> {
    rig.channels
        .iter()
        .map(|ch| {
            rig.emulator
                .counters(&ch.phone_number_id)
                .map_or(0, |c| c.accepted)
        })
        .collect()
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
        let rig = Rig::new(NUMBERS, Some(RATE)).await;
        // More than the window can carry, so every number stays saturated throughout.
        let per_number = u64::from(RATE) * (WINDOW + WARM_UP * 3).as_secs();
        let messages = rig.messages(per_number * NUMBERS as u64);
        rig.dispatcher.submit_many(messages).await.expect("submit");
        let handle = rig.dispatcher.start();
        tokio::time::sleep(WARM_UP).await;
        let start = accepted(&rig);
        let started = Instant::now();
        tokio::time::sleep(WINDOW).await;
        let end = accepted(&rig);
        let elapsed = started.elapsed().as_secs_f64();
        handle.shutdown().await;

        let mut rates: Vec<f64> = start
            .iter()
            .zip(&end)
            .map(|(a, b)| (b - a) as f64 / elapsed)
            .collect();
        rates.sort_by(f64::total_cmp);
        let limit = f64::from(RATE);
        let worst = rates
            .iter()
            .map(|r| (r - limit).abs() / limit * 100.0)
            .fold(0.0, f64::max);
        let errors: u64 = rig
            .channels
            .iter()
            .filter_map(|ch| rig.emulator.counters(&ch.phone_number_id))
            .map(|c| c.error(130429))
            .sum();
        println!(
            "rate_precision: {NUMBERS} numbers at {RATE}/s over {elapsed:.2} s: \
             min {:.2}/s, median {:.2}/s, max {:.2}/s, worst deviation {worst:.2} %, \
             130429 errors {errors}",
            rates[0],
            rates[rates.len() / 2],
            rates[rates.len() - 1],
        );
    });
}
