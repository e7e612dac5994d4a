//! Webhook throughput: signature verification plus parsing of a realistic status payload.
//!
//! `cargo bench -p wagw-meta --bench webhook -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wagw_meta::webhook;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A `sent` status as Meta delivers it: metadata, conversation, pricing, callback data.
fn status_payload() -> Vec<u8> {
    br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA","status":"sent","timestamp":"1750263773","recipient_id":"16505551234","biz_opaque_callback_data":"campaign-2025-06:recipient-8841","conversation":{"id":"7270432eae5f7bd4c77f2c8d8e76ea2d","expiration_timestamp":"1750350180","origin":{"type":"marketing"}},"pricing":{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}}]},"field":"messages"}]}]}"#
        .to_vec()
}

fn bench(c: &mut Criterion) {
    let body = status_payload();
    let header = webhook::sign(SECRET, &body);
    assert_eq!(
        webhook::verify_and_parse(SECRET, &body, Some(&header))
            .expect("valid")
            .len(),
        1
    );

    let mut group = c.benchmark_group("webhook_status");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_and_parse", |b| {
        b.iter(|| {
            webhook::verify_and_parse(SECRET, black_box(&body), Some(black_box(&header)))
                .expect("valid")
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| webhook::verify(SECRET, black_box(&body), Some(black_box(&header))))
    });
    group.bench_function("parse", |b| {
        b.iter(|| webhook::parse(black_box(&body)).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
