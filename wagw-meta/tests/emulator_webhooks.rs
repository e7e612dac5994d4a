//! The emulator's webhooks: signed status progressions in Meta's envelope, failures for
//! unreachable numbers, redelivery with backoff, duplicates and reordering, template review
//! updates, injected inbound messages, and non-ASCII bodies.
#![cfg(feature = "emulator")]

mod emulator_support;

use std::time::Duration;

use emulator_support::*;
use serde_json::json;
use wagw_core::event::{InboundEvent, InboundKind};
use wagw_meta::emulator::{
    Redelivery, ReviewOutcome, StatusTiming, TemplateReview, UnicodeMode, UserMessage,
};

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
async fn statuses_are_signed_and_in_metas_envelope() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(always_read())
        .customer_window(None)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let mut message = text(USER, "hello");
    message["biz_opaque_callback_data"] = "campaign \"7\" \\ ü\n".into();
    let (_, body) = graph.send(&message).await;
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let statuses = sink.wait_statuses(3).await;
    let order: Vec<&str> = statuses.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(order, ["sent", "delivered", "read"]);
    for received in sink.received() {
        let signature = received.signature.as_deref();
        wagw_meta::webhook::verify(SECRET.as_bytes(), &received.body, signature)
            .expect("signature verifies");
        assert!(wagw_meta::webhook::verify(b"other", &received.body, signature).is_err());
        let json = &received.json;
        assert_eq!(json["object"], "whatsapp_business_account");
        assert_eq!(json["entry"][0]["id"], WABA);
        let change = &json["entry"][0]["changes"][0];
        assert_eq!(change["field"], "messages");
        assert_eq!(change["value"]["messaging_product"], "whatsapp");
        assert_eq!(change["value"]["metadata"]["display_phone_number"], DISPLAY);
        assert_eq!(change["value"]["metadata"]["phone_number_id"], PNID);
        let status = &change["value"]["statuses"][0];
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], USER);
        assert_eq!(status["biz_opaque_callback_data"], "campaign \"7\" \\ ü\n");
        assert!(status["timestamp"].as_str().unwrap().parse::<i64>().is_ok());
        assert_eq!(status["pricing"]["pricing_model"], "PMP");
        assert!(status["conversation"]["id"].is_string());
        // The client's parser reads them.
        let events = wagw_meta::webhook::parse(&received.body).expect("parses");
        assert!(
            matches!(events[0].event, InboundEvent::Status(_)),
            "{events:?}"
        );
    }
    assert!(statuses[0].2["conversation"]["expiration_timestamp"].is_string());
    // The sink records a delivery before the emulator has read its answer.
    assert!(emulator.webhooks_idle(Duration::from_secs(5)).await);
    let stats = emulator.webhook_stats();
    assert_eq!(stats.delivered, 3);
    assert_eq!(stats.status_items, 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn unreachable_numbers_fail_with_131026_and_reactions_only_get_sent() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(always_read())
        .customer_window(None)
        .unreachable("+1 650 555 0000")
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let (status, body) = graph.send(&text("16505550000", "x")).await;
    assert_eq!(status, 200);
    let failed = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let (_, body) = graph
        .send(
            &json!({"messaging_product": "whatsapp", "to": USER, "type": "reaction",
                      "reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
        )
        .await;
    let reaction = body["messages"][0]["id"].as_str().unwrap().to_owned();
    let statuses = sink.wait_statuses(2).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let statuses_now = sink.statuses();
    assert_eq!(statuses_now.len(), 2, "{statuses_now:?}");
    let failed_item = statuses.iter().find(|(id, _, _)| *id == failed).unwrap();
    assert_eq!(failed_item.1, "failed");
    assert_eq!(failed_item.2["errors"][0]["code"], 131026);
    assert!(failed_item.2.get("pricing").is_none());
    let reaction_item = statuses.iter().find(|(id, _, _)| *id == reaction).unwrap();
    assert_eq!(reaction_item.1, "sent");
    assert_eq!(emulator.counters(PNID).unwrap().failure(131_026), 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn refused_webhooks_are_redelivered_with_backoff() {
    let sink = Sink::refusing(2).await;
    let emulator = builder(Some(&sink))
        .statuses(StatusTiming {
            delivered_probability: 0.0,
            ..always_read()
        })
        .customer_window(None)
        .redelivery(Redelivery {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        })
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let started = std::time::Instant::now();
    graph.send(&text(USER, "x")).await;
    let statuses = sink.wait_statuses(1).await;
    assert_eq!(statuses[0].1, "sent");
    // Two refusals: 20 ms then 40 ms of backoff at least.
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(sink.attempts(), 3);
    assert!(emulator.webhooks_idle(Duration::from_secs(5)).await);
    let stats = emulator.webhook_stats();
    assert_eq!(
        (stats.failed_attempts, stats.delivered, stats.abandoned),
        (2, 1, 0)
    );

    // A receiver that never accepts: given up after max_attempts.
    let dead = Sink::refusing(usize::MAX).await;
    let emulator = builder(Some(&dead))
        .statuses(StatusTiming {
            delivered_probability: 0.0,
            ..always_read()
        })
        .customer_window(None)
        .redelivery(Redelivery {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        })
        .start()
        .await
        .unwrap();
    Graph::new(&emulator).send(&text(USER, "x")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(emulator.webhooks_idle(Duration::from_secs(5)).await);
    let stats = emulator.webhook_stats();
    assert_eq!((stats.failed_attempts, stats.abandoned), (3, 1));
    assert_eq!(dead.attempts(), 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn duplicates_and_out_of_order_when_configured() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(StatusTiming {
            delivered_after: Duration::from_millis(10),
            read_after: Duration::from_millis(30),
            ..always_read()
        })
        .customer_window(None)
        .duplicates(1.0)
        .out_of_order(1.0)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    graph.send(&text(USER, "x")).await;
    let statuses = sink.wait_statuses(6).await;
    let order: Vec<&str> = statuses.iter().map(|(_, s, _)| s.as_str()).collect();
    assert_eq!(order.iter().filter(|s| **s == "sent").count(), 2);
    assert_eq!(order.iter().filter(|s| **s == "delivered").count(), 2);
    assert_eq!(order.iter().filter(|s| **s == "read").count(), 2);
    let first_read = order.iter().position(|s| *s == "read").unwrap();
    let first_delivered = order.iter().position(|s| *s == "delivered").unwrap();
    assert!(
        first_read < first_delivered,
        "read before delivered: {order:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn template_review_sends_status_updates() {
    let sink = Sink::start().await;
    let mut review = TemplateReview {
        delay: Duration::from_millis(30),
        outcome: ReviewOutcome::Approve,
        ..Default::default()
    };
    review.reject_names.insert("bad_one".to_owned());
    let emulator = builder(Some(&sink))
        .template_review(review)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let path = format!("/{WABA}/message_templates");
    let mut ids = Vec::new();
    for name in ["good_one", "bad_one"] {
        let (_, body) = graph
            .post(
                &path,
                &json!({"name": name, "language": "en_US", "category": "UTILITY",
                        "components": [{"type": "BODY", "text": "Hi {{1}}"}]}),
            )
            .await;
        assert_eq!(body["status"], "PENDING");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let received = sink
        .wait_until(Duration::from_secs(5), "two template updates", |r| {
            r.len() >= 2
        })
        .await;
    let mut events = Vec::new();
    for r in &received {
        wagw_meta::webhook::verify(SECRET.as_bytes(), &r.body, r.signature.as_deref()).unwrap();
        let change = &r.json["entry"][0]["changes"][0];
        assert_eq!(change["field"], "message_template_status_update");
        assert_eq!(r.json["entry"][0]["id"], WABA);
        let value = &change["value"];
        assert!(value["message_template_id"].is_u64());
        events.push((
            value["message_template_name"].as_str().unwrap().to_owned(),
            value["event"].as_str().unwrap().to_owned(),
            value["reason"].as_str().unwrap().to_owned(),
        ));
        let parsed = wagw_meta::webhook::parse(&r.body).unwrap();
        assert!(
            matches!(parsed[0].event, InboundEvent::TemplateStatus(_)),
            "{parsed:?}"
        );
    }
    events.sort();
    assert_eq!(
        events,
        [
            (
                "bad_one".to_owned(),
                "REJECTED".to_owned(),
                "INVALID_FORMAT".to_owned()
            ),
            (
                "good_one".to_owned(),
                "APPROVED".to_owned(),
                "NONE".to_owned()
            ),
        ]
    );
    assert_eq!(
        emulator.template_status(&ids[0]).as_deref(),
        Some("APPROVED")
    );
    assert_eq!(
        emulator.template_status(&ids[1]).as_deref(),
        Some("REJECTED")
    );
    let (_, list) = graph.get(&format!("{path}?status=REJECTED")).await;
    assert_eq!(list["data"][0]["name"], "bad_one");
    emulator.shutdown().await;
}

#[tokio::test]
async fn injected_inbound_messages_arrive_signed_with_contacts() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink)).start().await.unwrap();
    let wamid = emulator
        .inject_inbound(
            PNID,
            UserMessage::text(USER, "Sheena Nelson", "Does it come in blue?"),
        )
        .unwrap();
    let button = emulator
        .inject_inbound(
            PNID,
            UserMessage::raw(
                USER,
                "Sheena Nelson",
                "interactive",
                json!({"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}),
            )
            .replying_to("wamid.previous"),
        )
        .unwrap();
    let received = sink
        .wait_until(Duration::from_secs(5), "two inbound", |r| r.len() >= 2)
        .await;
    let mut kinds = Vec::new();
    for r in &received {
        let events = wagw_meta::webhook::verify_and_parse(
            SECRET.as_bytes(),
            &r.body,
            r.signature.as_deref(),
        )
        .unwrap();
        let value = &r.json["entry"][0]["changes"][0]["value"];
        assert_eq!(value["contacts"][0]["profile"]["name"], "Sheena Nelson");
        assert_eq!(value["contacts"][0]["wa_id"], USER);
        match &events[0].event {
            InboundEvent::Message(message) => {
                assert_eq!(message.from, USER);
                assert_eq!(message.profile_name.as_deref(), Some("Sheena Nelson"));
                if message.id == wamid {
                    assert!(
                        matches!(&message.kind, InboundKind::Text(t) if t.body == "Does it come in blue?")
                    );
                } else {
                    assert_eq!(message.id, button);
                    assert_eq!(value["messages"][0]["context"]["id"], "wamid.previous");
                }
                kinds.push(message.kind.kind().to_owned());
            }
            other => panic!("not a message: {other:?}"),
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["interactive", "text"]);
    // The window is open now: free-form is delivered.
    emulator.shutdown().await;
}

#[tokio::test]
async fn non_ascii_bodies_are_escaped_or_signed_escaped() {
    for mode in [UnicodeMode::Escaped, UnicodeMode::RawSignedEscaped] {
        let sink = Sink::start().await;
        let emulator = builder(Some(&sink)).unicode(mode).start().await.unwrap();
        emulator
            .inject_inbound(PNID, UserMessage::text(USER, "Jürgen 😀", "äöå"))
            .unwrap();
        let received = sink
            .wait_until(Duration::from_secs(5), "inbound", |r| !r.is_empty())
            .await;
        let r = &received[0];
        assert_eq!(r.body.is_ascii(), mode == UnicodeMode::Escaped);
        assert_eq!(
            r.json["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"],
            "Jürgen 😀"
        );
        wagw_meta::webhook::verify(SECRET.as_bytes(), &r.body, r.signature.as_deref())
            .expect("verifies in both modes");
        emulator.shutdown().await;
    }
}

#[tokio::test]
async fn batches_group_statuses_of_one_number() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(StatusTiming {
            sent_after: Duration::from_millis(50),
            delivered_probability: 0.0,
            ..always_read()
        })
        .customer_window(None)
        .pair_limit(wagw_meta::emulator::PairLimit::Off)
        .webhook_batch(100)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..20 {
        let graph = Graph {
            base: graph.base.clone(),
            http: graph.http.clone(),
            token: graph.token.clone(),
        };
        sends.spawn(async move { graph.send(&text(&format!("1650555{i:04}"), "x")).await });
    }
    while let Some(sent) = sends.join_next().await {
        assert_eq!(sent.unwrap().0, 200);
    }
    let statuses = sink.wait_statuses(20).await;
    assert_eq!(statuses.len(), 20);
    assert!(sink.received().len() < 20, "some statuses were batched");
    emulator.shutdown().await;
}
