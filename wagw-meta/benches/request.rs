//! Building a send request: validation, serialisation and the `reqwest::Request`.
//!
//! `cargo bench -p wagw-meta --bench request -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::model::channel::Channel;
use wagw_meta::MetaTransport;

fn channel() -> Channel {
    Channel::new(
        wagw_core::ids::TenantId::new(),
        "bench",
        "106540352242922",
        "102290129340398",
        wagw_core::phone::PhoneNumber::from_wa_id("6281299990001").expect("valid"),
    )
}

fn template_message() -> OutboundMessage {
    let body = serde_json::json!({
        "messaging_product": "whatsapp", "to": "6281234567890", "type": "template",
        "template": {"name": "order_shipped", "language": {"code": "id"},
            "components": [
                {"type": "header", "parameters": [{"type": "image",
                    "image": {"link": "https://cdn.example.com/banner.jpg"}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Budi"},
                    {"type": "text", "text": "INV-2025-00042"},
                    {"type": "currency", "currency": {"fallback_value": "Rp150.000",
                        "code": "IDR", "amount_1000": 150_000_000}}]},
                {"type": "button", "sub_type": "url", "index": "0",
                    "parameters": [{"type": "text", "text": "track/INV-2025-00042"}]}]}
    });
    serde_json::from_value(body).expect("template message parses")
}

fn bench(c: &mut Criterion) {
    let meta = MetaTransport::new("EAAG-bench-token").expect("transport");
    let channel = channel();
    let text = OutboundMessage::new(
        "6281234567890",
        MessageContent::text("Halo Budi, pesanan INV-2025-00042 sudah dikirim. Terima kasih!"),
    );
    let template = template_message();

    let mut group = c.benchmark_group("send_request");
    group.throughput(Throughput::Elements(1));
    for (name, message) in [("text", &text), ("template", &template)] {
        group.bench_function(format!("{name}/build"), |b| {
            b.iter(|| {
                meta.send_request(black_box(&channel), black_box(message))
                    .expect("builds")
            })
        });
        group.bench_function(format!("{name}/serialise"), |b| {
            b.iter(|| serde_json::to_vec(black_box(message)).expect("serialises"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
