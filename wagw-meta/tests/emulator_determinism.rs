//! The same seed yields the same wamids, outcomes and per-message webhook sequences; another
//! seed yields other ones. Counters agree with what was sent.
#![cfg(feature = "emulator")]

mod emulator_support;

use std::collections::BTreeMap;
use std::time::Duration;

use emulator_support::*;
use serde_json::json;
use wagw_meta::emulator::{
    Emulator, PairLimit, StatusTiming, TemplateSpec, Throughput, UserMessage,
};

/// What one run observed: the wamids in send order, and per wamid the statuses received.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    wamids: Vec<String>,
    statuses: BTreeMap<String, Vec<String>>,
    media_id: String,
    template_id: String,
    code: String,
}

async fn run(seed: u64) -> Run {
    let sink = Sink::start().await;
    let emulator = Emulator::builder()
        .seed(seed)
        .number(number())
        .webhook(sink.url(), SECRET)
        .throughput(Throughput::Off)
        .pair_limit(PairLimit::Off)
        .statuses(StatusTiming {
            sent_after: Duration::from_millis(1),
            delivered_after: Duration::from_millis(2),
            read_after: Duration::from_millis(2),
            delivered_probability: 0.8,
            read_probability: 0.5,
            undeliverable_probability: 0.1,
        })
        .out_of_order(0.3)
        .unreachable("16505550003")
        .template(TemplateSpec::approved(
            WABA,
            "hello_world",
            "en_US",
            json!([{"type": "BODY", "text": "Hi"}]),
        ))
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    // Half the recipients have an open window.
    for i in (0..40).step_by(2) {
        emulator
            .inject_inbound(
                PNID,
                UserMessage::text(format!("1650555{i:04}"), "User", "hi"),
            )
            .unwrap();
    }
    let mut wamids = Vec::new();
    for i in 0..40 {
        let to = format!("1650555{i:04}");
        let body = if i % 5 == 0 {
            json!({"messaging_product": "whatsapp", "to": to, "type": "template",
                   "template": {"name": "hello_world", "language": {"code": "en_US"}}})
        } else {
            text(&to, "hello")
        };
        let (status, answer) = graph.send(&body).await;
        assert_eq!(status, 200, "{answer}");
        wamids.push(answer["messages"][0]["id"].as_str().unwrap().to_owned());
    }
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "text/plain")
        .part("file", reqwest::multipart::Part::bytes(b"hello".to_vec()));
    let response = graph
        .http
        .post(format!("{}/{PNID}/media", graph.base))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let media: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let (_, template) = graph
        .post(
            &format!("/{WABA}/message_templates"),
            &json!({"name": "later", "language": "en_US", "category": "UTILITY",
                    "components": [{"type": "BODY", "text": "x"}]}),
        )
        .await;
    graph
        .post(
            &format!("/{PNID}/request_code"),
            &json!({"code_method": "SMS", "language": "en"}),
        )
        .await;
    assert!(emulator.webhooks_idle(Duration::from_secs(10)).await);
    let mut statuses = BTreeMap::<String, Vec<String>>::new();
    for (wamid, status, _) in sink.statuses() {
        statuses.entry(wamid).or_default().push(status);
    }
    // Arrival order between a message's own statuses is timing; compare them sorted.
    for list in statuses.values_mut() {
        list.sort();
    }
    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.accepted, 40);
    let failed: u64 = counters.failed.values().sum();
    let failed_seen = statuses
        .values()
        .filter(|s| s.iter().any(|s| s == "failed"))
        .count() as u64;
    assert_eq!(failed, failed_seen);
    assert!(counters.failure(131_047) >= 10, "{counters:?}");
    assert!(counters.failure(131_026) >= 1, "{counters:?}");
    let run = Run {
        wamids,
        statuses,
        media_id: media["id"].as_str().unwrap().to_owned(),
        template_id: template["id"].as_str().unwrap().to_owned(),
        code: emulator.verification_code(PNID).unwrap(),
    };
    emulator.shutdown().await;
    run
}

#[tokio::test]
async fn same_seed_same_run() {
    let first = run(7).await;
    let second = run(7).await;
    assert_eq!(first, second);
    let other = run(8).await;
    assert_ne!(first.wamids, other.wamids);
    assert_ne!(first.media_id, other.media_id);
    // Outcomes vary with the seed: not every message ends the same way.
    let ends = |run: &Run| -> Vec<Vec<String>> { run.statuses.values().cloned().collect() };
    assert_ne!(ends(&first), ends(&other));
    let distinct: std::collections::BTreeSet<_> = first.statuses.values().collect();
    assert!(distinct.len() >= 3, "varied outcomes: {distinct:?}");
}
