//! `MetaTransport` over HTTP/1.1 and over HTTP/2 (h2c, prior knowledge) against the
//! emulator: sends per second with many sends in flight, as a blast does.
//!
//! `cargo bench -p wagw-meta --features emulator --bench http_version`
//! (`WAGW_BENCH_SENDS`, `WAGW_BENCH_CONCURRENCY`, `WAGW_BENCH_ROUNDS` change the load).
//!
//! Rounds alternate the versions so that machine noise hits both; the medians and their
//! ratio (HTTP/2 over HTTP/1.1) are printed, with the connections each version opened.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::model::channel::Channel;
use wagw_core::transport::Transport;
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{Emulator, PairLimit, PhoneNumberSpec, Throughput};
use wagw_meta::transport::HttpVersion;

const PNID: &str = "106540352242922";
const WABA: &str = "419561257915477";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn round(meta: &MetaTransport, channel: &Channel, sends: usize, concurrency: usize) -> f64 {
    let started = Instant::now();
    let ok = stream::iter(0..sends)
        .map(|i| async move {
            let to = format!("62812{:08}", i % 50_000);
            let message = OutboundMessage::new(to, MessageContent::text("Halo, pesanan dikirim"));
            meta.send(channel, &message).await.is_ok()
        })
        .buffer_unordered(concurrency)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    assert_eq!(ok, sends, "every send is accepted");
    sends as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let sends = env("WAGW_BENCH_SENDS", 4_000);
    let concurrency = env("WAGW_BENCH_CONCURRENCY", 64);
    let rounds = env("WAGW_BENCH_ROUNDS", 5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let emulator = Emulator::builder()
            .seed(7)
            .number(PhoneNumberSpec::new(PNID, "15550783881", WABA))
            .throughput(Throughput::Off)
            .pair_limit(PairLimit::Off)
            .customer_window(None)
            .start()
            .await
            .expect("emulator starts");
        let channel = Channel::new(
            wagw_core::ids::TenantId::new(),
            "bench",
            PNID,
            WABA,
            wagw_core::phone::PhoneNumber::from_wa_id("15550783881").expect("number"),
        );
        let versions = [
            ("HTTP/1.1", HttpVersion::Http1Only),
            ("HTTP/2 (h2c)", HttpVersion::Http2PriorKnowledge),
        ];
        let transports: Vec<Arc<MetaTransport>> = versions
            .iter()
            .map(|(_, version)| {
                Arc::new(
                    MetaTransport::builder()
                        .base_url(emulator.base_url())
                        .access_token(emulator.access_token())
                        .http_version(*version)
                        .timeout(Duration::from_secs(60))
                        .build()
                        .expect("transport"),
                )
            })
            .collect();
        // Warm-up: open the connections, fill the caches.
        for meta in &transports {
            round(meta, &channel, sends / 10 + 1, concurrency).await;
        }
        let mut rates = vec![Vec::new(); versions.len()];
        for _ in 0..rounds {
            for (i, meta) in transports.iter().enumerate() {
                rates[i].push(round(meta, &channel, sends, concurrency).await);
            }
        }
        println!(
            "http_version: {sends} text sends per round, {concurrency} in flight, {rounds} rounds"
        );
        let medians: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
        for ((name, _), (median, all)) in versions.iter().zip(medians.iter().zip(&rates)) {
            let all: Vec<String> = all.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "  {name:<13} median {median:>8.0} sends/s  (rounds: {})",
                all.join(", ")
            );
        }
        println!("  ratio HTTP/2 / HTTP/1.1 = {:.2}", medians[1] / medians[0]);
        emulator.shutdown().await;
    });
}
