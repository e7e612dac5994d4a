//! Emulator fidelity: WABA-bound and expiring tokens, the asynchronous policy failures
//! (131049, 131050, 130472), `played`, `held_for_quality_assessment`, and status times in
//! true order under reordered and duplicated delivery.
#![cfg(feature = "emulator")]

mod emulator_support;

use std::collections::HashMap;
use std::time::Duration;

use emulator_support::*;
use serde_json::{Value, json};
use wagw_core::TransportErrorKind;
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::model::channel::Channel;
use wagw_core::transport::Transport;
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{PhoneNumberSpec, StatusTiming, TemplateSpec};

const OTHER_PNID: &str = "206540352242922";
const OTHER_WABA: &str = "519561257915477";

fn channel(pnid: &str, waba: &str, token: &str) -> Channel {
    let mut channel = Channel::new(
        wagw_core::ids::TenantId::new(),
        "fidelity",
        pnid,
        waba,
        wagw_core::phone::PhoneNumber::from_wa_id(DISPLAY).expect("valid number"),
    );
    channel.access_token = Some(wagw_core::model::Secret::new(token));
    channel
}

fn always_read() -> StatusTiming {
    StatusTiming {
        sent_after: Duration::from_millis(1),
        delivered_after: Duration::from_millis(5),
        read_after: Duration::from_millis(5),
        delivered_probability: 1.0,
        read_probability: 1.0,
        undeliverable_probability: 0.0,
    }
}

#[tokio::test]
async fn a_token_works_only_for_its_own_waba() {
    let emulator = builder(None)
        .number(PhoneNumberSpec::new(OTHER_PNID, "15550000002", OTHER_WABA))
        .waba_token("waba-a-token", WABA)
        .customer_window(None)
        .start()
        .await
        .unwrap();
    let mut graph = Graph::new(&emulator);
    graph.token = Some("waba-a-token".to_owned());
    let (status, body) = graph.send(&text(USER, "Halo")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = graph
        .post(&format!("/{OTHER_PNID}/messages"), &text(USER, "Halo"))
        .await;
    assert_eq!((status, code(&body)), (403, 200), "{body}");
    assert!(details(&body).contains(OTHER_PNID), "{body}");
    let (status, body) = graph.get(&format!("/{OTHER_WABA}/phone_numbers")).await;
    assert_eq!((status, code(&body)), (403, 200), "{body}");
    let (status, _) = graph.get(&format!("/{WABA}/phone_numbers")).await;
    assert_eq!(status, 200);

    // Through the transport: a permission error is permanent, not an auth problem.
    let meta = MetaTransport::builder()
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let message = OutboundMessage::new(USER, MessageContent::text("Halo"));
    let error = meta
        .send(&channel(OTHER_PNID, OTHER_WABA, "waba-a-token"), &message)
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Permanent, "{error}");
    assert_eq!(error.code, Some(200));
}

#[tokio::test]
async fn a_token_expired_at_run_time_answers_190() {
    let emulator = builder(None).customer_window(None).start().await.unwrap();
    let graph = Graph::new(&emulator);
    assert_eq!(graph.send(&text(USER, "before")).await.0, 200);
    emulator.expire_token(TOKEN);
    let (status, body) = graph.send(&text(USER, "after")).await;
    assert_eq!((status, code(&body)), (401, 190), "{body}");
    assert_eq!(body["error"]["error_subcode"], 463, "{body}");
    let meta = MetaTransport::builder()
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let error = meta
        .send(
            &channel(PNID, WABA, TOKEN),
            &OutboundMessage::new(USER, MessageContent::text("x")),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Auth, "{error}");
}

fn template_send(to: &str, name: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
        "template": {"name": name, "language": {"code": "id"}}})
}

#[tokio::test]
async fn policy_failures_arrive_as_failed_statuses() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(always_read())
        .template(
            TemplateSpec::approved(
                WABA,
                "promo",
                "id",
                json!([{"type": "BODY", "text": "Diskon!"}]),
            )
            .category("MARKETING"),
        )
        .template(TemplateSpec::approved(
            WABA,
            "tagihan",
            "id",
            json!([{"type": "BODY", "text": "Tagihan Anda"}]),
        ))
        .marketing_limited("628111000001")
        .marketing_opted_out("628111000002")
        .in_experiment("628111000003")
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let mut expected = HashMap::new();
    for (to, name, outcome) in [
        ("628111000001", "promo", "failed/131049"),
        ("628111000002", "promo", "failed/131050"),
        ("628111000003", "tagihan", "failed/130472"),
        // Utility templates are not marketing: the marketing limits do not apply.
        ("628111000001", "tagihan", "sent"),
        ("628111000002", "tagihan", "sent"),
    ] {
        let (status, body) = graph.send(&template_send(to, name)).await;
        assert_eq!(status, 200, "{body}");
        let wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
        expected.insert(wamid, outcome);
    }
    let statuses = sink
        .wait_until(Duration::from_secs(20), "the first statuses", |r| {
            let seen: std::collections::HashSet<String> =
                statuses_of(r).into_iter().map(|(w, _, _)| w).collect();
            expected.keys().all(|w| seen.contains(w))
        })
        .await;
    for (wamid, outcome) in &expected {
        let mine: Vec<(String, Value)> = statuses_of(&statuses)
            .into_iter()
            .filter(|(w, _, _)| w == wamid)
            .map(|(_, s, item)| (s, item))
            .collect();
        let failed: Vec<String> = mine
            .iter()
            .filter(|(s, _)| s == "failed")
            .map(|(_, item)| format!("failed/{}", item["errors"][0]["code"]))
            .collect();
        if outcome.starts_with("failed") {
            assert_eq!(failed, [*outcome], "{mine:?}");
            assert_eq!(
                mine.len(),
                1,
                "a failed message has no other status: {mine:?}"
            );
        } else {
            assert!(failed.is_empty(), "{mine:?}");
            assert!(mine.iter().any(|(s, _)| s == "sent"), "{mine:?}");
        }
    }
}

#[tokio::test]
async fn voice_messages_are_played_and_held_templates_say_so() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(always_read())
        .customer_window(None)
        .held_template("promo_baru")
        .template(
            TemplateSpec::approved(
                WABA,
                "promo_baru",
                "id",
                json!([{"type": "BODY", "text": "Baru!"}]),
            )
            .category("MARKETING"),
        )
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let (status, body) = graph
        .send(
            &json!({"messaging_product": "whatsapp", "to": USER, "type": "audio",
            "audio": {"link": "https://example.com/voice.ogg"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    let audio = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let (_, body) = graph.send(&text(USER, "teks")).await;
    let text_wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let statuses = sink
        .wait_until(Duration::from_secs(20), "played", |r| {
            statuses_of(r)
                .iter()
                .any(|(w, s, _)| *w == audio && s == "played")
                && statuses_of(r)
                    .iter()
                    .any(|(w, s, _)| *w == text_wamid && s == "read")
        })
        .await;
    let of = |wamid: &str| -> Vec<String> {
        statuses_of(&statuses)
            .into_iter()
            .filter(|(w, _, _)| w == wamid)
            .map(|(_, s, _)| s)
            .collect()
    };
    assert_eq!(of(&audio), ["sent", "delivered", "read", "played"]);
    assert!(emulator.webhooks_idle(Duration::from_secs(10)).await);
    assert!(!of(&text_wamid).contains(&"played".to_owned()));

    let (status, body) = graph.send(&template_send(USER, "promo_baru")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["messages"][0]["message_status"],
        "held_for_quality_assessment"
    );
    let meta = MetaTransport::builder()
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let message: OutboundMessage =
        serde_json::from_value(template_send(USER, "promo_baru")).unwrap();
    let receipt = meta
        .send(&channel(PNID, WABA, TOKEN), &message)
        .await
        .unwrap();
    assert_eq!(
        receipt.accepted_status.as_deref(),
        Some("held_for_quality_assessment")
    );
}

#[tokio::test]
async fn status_times_stay_in_true_order_when_delivery_is_reordered_and_duplicated() {
    let sink = Sink::start().await;
    // `read` happens 1.1 s after `delivered` but is delivered first, and every webhook
    // twice: the timestamps must still say delivered ≤ read, identical in both copies.
    let emulator = builder(Some(&sink))
        .statuses(StatusTiming {
            sent_after: Duration::from_millis(1),
            delivered_after: Duration::from_millis(5),
            read_after: Duration::from_millis(1_100),
            delivered_probability: 1.0,
            read_probability: 1.0,
            undeliverable_probability: 0.0,
        })
        .out_of_order(1.0)
        .duplicates(1.0)
        .customer_window(None)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let (_, body) = graph.send(&text(USER, "Halo")).await;
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let received = sink
        .wait_until(Duration::from_secs(20), "two copies of each status", |r| {
            statuses_of(r)
                .iter()
                .filter(|(w, _, _)| *w == wamid)
                .count()
                >= 6
        })
        .await;
    let mine: Vec<(String, i64)> = statuses_of(&received)
        .into_iter()
        .filter(|(w, _, _)| *w == wamid)
        .map(|(_, s, item)| (s, item["timestamp"].as_str().unwrap().parse().unwrap()))
        .collect();
    let arrival: Vec<&str> = mine.iter().map(|(s, _)| s.as_str()).collect();
    let read_first = arrival.iter().position(|s| *s == "read").unwrap()
        < arrival.iter().position(|s| *s == "delivered").unwrap();
    assert!(read_first, "delivery is reordered: {arrival:?}");
    let times = |status: &str| -> Vec<i64> {
        mine.iter()
            .filter(|(s, _)| s == status)
            .map(|(_, t)| *t)
            .collect()
    };
    let (sent, delivered, read) = (times("sent"), times("delivered"), times("read"));
    for copies in [&sent, &delivered, &read] {
        assert!(
            copies.len() >= 2 && copies.iter().all(|t| *t == copies[0]),
            "{mine:?}"
        );
    }
    assert!(
        sent[0] <= delivered[0] && delivered[0] <= read[0],
        "{mine:?}"
    );
}

#[tokio::test]
async fn inbound_messages_and_read_receipts_are_counted() {
    let emulator = builder(None).customer_window(None).start().await.unwrap();
    let inbound = emulator
        .inject_inbound(
            PNID,
            wagw_meta::emulator::UserMessage::text(USER, "Sari", "Halo, saya mau pesan"),
        )
        .unwrap();
    let graph = Graph::new(&emulator);
    let (status, body) = graph
        .send(&json!({"messaging_product": "whatsapp", "status": "read", "message_id": inbound}))
        .await;
    assert_eq!(status, 200, "{body}");
    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.inbound, 1, "{counters:?}");
    assert_eq!(counters.read_receipts, 1, "{counters:?}");
}
