//! The emulator's limits: throughput (130429), pair limit (131056), the 24-hour window
//! (131047 `failed` status), template approval (132001, 132015, 132016) and parameter counts
//! (132000), and the per-number counters that record them.
#![cfg(feature = "emulator")]

mod emulator_support;

use std::time::Duration;

use emulator_support::*;
use serde_json::{Value, json};
use wagw_meta::emulator::{
    PairLimit, PhoneNumberSpec, StatusTiming, TemplateSpec, ThrottleStatus, Throughput,
};

fn template(name: &str, body_params: usize) -> Value {
    let parameters: Vec<Value> = (0..body_params)
        .map(|i| json!({"type": "text", "text": format!("p{i}")}))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": parameters}],
        },
    })
}

#[tokio::test]
async fn throughput_limit_answers_130429() {
    let emulator = builder(None)
        // A burst of 5, then one message every 500 ms.
        .throughput(Throughput::Limited {
            per_second: 2.0,
            burst: 5.0,
        })
        .pair_limit(PairLimit::Off)
        .customer_window(None)
        .number(PhoneNumberSpec::new("300", "300", WABA).throughput(Throughput::Off))
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let mut codes = Vec::new();
    for i in 0..8 {
        let (status, body) = graph.send(&text(&format!("1650555{i:04}"), "hi")).await;
        codes.push((status, code(&body)));
    }
    assert_eq!(&codes[..5], &[(200, 0); 5]);
    assert!(codes[5..].iter().all(|c| *c == (400, 130_429)), "{codes:?}");
    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.requests, 8);
    assert_eq!(counters.accepted, 5);
    assert_eq!(counters.error(130_429), 3);
    // The bucket refills: one more after 500 ms at 2/s.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, _) = graph.send(&text(USER, "again")).await;
    assert_eq!(status, 200);
    // A number without a limit is never throttled.
    for _ in 0..50 {
        let (status, _) = graph.post("/300/messages", &text(USER, "x")).await;
        assert_eq!(status, 200);
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn throttling_status_can_be_429() {
    let emulator = builder(None)
        .throughput(Throughput::per_second(1))
        .throttle_status(ThrottleStatus::TooManyRequests)
        .customer_window(None)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    assert_eq!(graph.send(&text(USER, "1")).await.0, 200);
    let (status, body) = graph.send(&text("16505550000", "2")).await;
    assert_eq!((status, code(&body)), (429, 130_429));
    assert_eq!(body["error"]["message"], "(#130429) Rate limit hit");
    emulator.shutdown().await;
}

#[tokio::test]
async fn pair_limit_answers_131056_per_recipient() {
    let emulator = builder(None)
        .pair_limit(PairLimit::Limited {
            burst: 3,
            refill: Duration::from_secs(3600),
        })
        .customer_window(None)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    for _ in 0..3 {
        assert_eq!(graph.send(&text(USER, "x")).await.0, 200);
    }
    let (status, body) = graph.send(&text(&format!("+{USER}"), "x")).await;
    assert_eq!(
        (status, code(&body)),
        (400, 131_056),
        "same wa_id however written"
    );
    assert!(details(&body).contains("same phone number"));
    // Other recipients are unaffected.
    assert_eq!(graph.send(&text("16505559999", "x")).await.0, 200);
    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.error(131_056), 1);
    assert_eq!(counters.accepted, 4);
    emulator.shutdown().await;
}

#[tokio::test]
async fn free_form_outside_the_window_fails_with_131047() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(StatusTiming {
            read_probability: 0.0,
            ..StatusTiming::default()
        })
        .template(TemplateSpec::approved(
            WABA,
            "hello_world",
            "en_US",
            json!([{"type": "BODY", "text": "Hello World"}]),
        ))
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    // No inbound message: accepted with 200, then a failed status with 131047.
    let (status, body) = graph.send(&text(USER, "outside")).await;
    assert_eq!(status, 200, "{body}");
    let outside = body["messages"][0]["id"].as_str().unwrap().to_owned();
    // A template is allowed outside the window.
    let (status, body) = graph.send(&template("hello_world", 0)).await;
    assert_eq!(status, 200, "{body}");
    let template_wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
    // A window opened more than 24 hours ago has closed.
    emulator
        .backdate_window(PNID, "16505550001", Duration::from_secs(25 * 3600))
        .unwrap();
    let (_, body) = graph.send(&text("16505550001", "stale window")).await;
    let stale = body["messages"][0]["id"].as_str().unwrap().to_owned();
    // Inside the window: delivered.
    emulator
        .inject_inbound(
            PNID,
            wagw_meta::emulator::UserMessage::text(USER, "Sheena", "hi"),
        )
        .unwrap();
    let (_, body) = graph.send(&text(USER, "inside")).await;
    let inside = body["messages"][0]["id"].as_str().unwrap().to_owned();

    let statuses = sink.wait_statuses(6).await;
    let of = |wamid: &str| -> Vec<(String, Value)> {
        statuses
            .iter()
            .filter(|(id, _, _)| id == wamid)
            .map(|(_, s, item)| (s.clone(), item.clone()))
            .collect()
    };
    for failed in [&outside, &stale] {
        let items = of(failed);
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0].0, "failed");
        let error = &items[0].1["errors"][0];
        assert_eq!(error["code"], 131047);
        assert_eq!(error["title"], "Re-engagement message");
        assert!(
            error["error_data"]["details"]
                .as_str()
                .unwrap()
                .contains("24 hours")
        );
    }
    // Webhooks are POSTed concurrently: on a loaded machine `delivered` may arrive first.
    let mut template_statuses: Vec<String> =
        of(&template_wamid).into_iter().map(|(s, _)| s).collect();
    template_statuses.sort();
    assert_eq!(template_statuses, ["delivered", "sent"]);
    let inside_statuses = of(&inside);
    let (_, inside_sent) = inside_statuses
        .iter()
        .find(|(s, _)| s == "sent")
        .expect("inside the window: sent");
    assert_eq!(inside_sent["pricing"]["category"], "service");
    assert_eq!(inside_sent["pricing"]["type"], "free_customer_service");
    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.failure(131_047), 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn templates_must_exist_be_approved_and_match_parameter_counts() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .template(TemplateSpec::approved(
            WABA,
            "order_ready",
            "en_US",
            json!([
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is ready"},
            ]),
        ))
        .template(
            TemplateSpec::approved(
                WABA,
                "paused_one",
                "en_US",
                json!([{"type": "BODY", "text": "x"}]),
            )
            .status("PAUSED"),
        )
        .template(
            TemplateSpec::approved(
                WABA,
                "disabled_one",
                "en_US",
                json!([{"type": "BODY", "text": "x"}]),
            )
            .status("DISABLED"),
        )
        .template_review(wagw_meta::emulator::TemplateReview {
            delay: Duration::from_secs(3600),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let with_header = |body_params: usize, header_params: usize| {
        let mut message = template("order_ready", body_params);
        let header: Vec<Value> = (0..header_params)
            .map(|_| json!({"type": "text", "text": "A1"}))
            .collect();
        message["template"]["components"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "header", "parameters": header}));
        message
    };
    let (status, body) = graph.send(&with_header(2, 1)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = graph.send(&with_header(3, 1)).await;
    assert_eq!((status, code(&body)), (400, 132_000));
    assert!(details(&body).contains("body"), "{body}");
    let (_, body) = graph.send(&with_header(2, 0)).await;
    assert_eq!(code(&body), 132_000);
    assert!(details(&body).contains("header"), "{body}");
    let (status, body) = graph.send(&template("no_such_template", 0)).await;
    assert_eq!((status, code(&body)), (404, 132_001));
    let mut wrong_language = template("order_ready", 2);
    wrong_language["template"]["language"]["code"] = "id".into();
    assert_eq!(code(&graph.send(&wrong_language).await.1), 132_001);
    assert_eq!(
        code(&graph.send(&template("paused_one", 0)).await.1),
        132_015
    );
    assert_eq!(
        code(&graph.send(&template("disabled_one", 0)).await.1),
        132_016
    );

    // A template created through the API is PENDING until reviewed: not sendable.
    let (_, created) = graph
        .post(
            &format!("/{WABA}/message_templates"),
            &json!({"name": "fresh", "language": "en_US", "category": "MARKETING",
                    "components": [{"type": "BODY", "text": "Hello {{1}}"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(emulator.template_status(id).as_deref(), Some("PENDING"));
    assert_eq!(code(&graph.send(&template("fresh", 1)).await.1), 132_001);
    assert!(emulator.set_template_status(id, "APPROVED"));
    assert_eq!(graph.send(&template("fresh", 1)).await.0, 200);

    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.error(132_000), 2);
    assert_eq!(counters.error(132_001), 3);
    assert_eq!(counters.error(132_015), 1);
    assert_eq!(counters.error(132_016), 1);
    assert_eq!(counters.accepted, 2);
    assert_eq!(counters.requests, 9);
    // Marketing templates are priced as marketing.
    sink.wait_until(
        Duration::from_secs(10),
        "a marketing sent status",
        |received| {
            statuses_of(received)
                .iter()
                .any(|(_, s, item)| s == "sent" && item["pricing"]["category"] == "marketing")
        },
    )
    .await;
    emulator.shutdown().await;
}
