//! Sending by business-scoped user id: `MetaTransport` writes `recipient` for a `to` holding a
//! user id, the emulator accepts it (answering `contacts[0].user_id`, no `wa_id`) and its status
//! webhooks name the user in `recipient_user_id`, which `wagw_meta::webhook` reads back.
#![cfg(feature = "emulator")]

mod emulator_support;

use std::time::Duration;

use emulator_support::*;
use serde_json::{Value, json};
use wagw_core::content::{MessageContent, OutboundMessage};
use wagw_core::event::{DeliveryStatus, InboundEvent};
use wagw_core::model::channel::Channel;
use wagw_core::transport::Transport;
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{PairLimit, StatusTiming, Throughput};

const USER_ID: &str = "ID.13491208655302741918";

fn channel() -> Channel {
    Channel::new(
        wagw_core::ids::TenantId::new(),
        "bsuid",
        PNID,
        WABA,
        wagw_core::phone::PhoneNumber::from_wa_id(DISPLAY).expect("valid number"),
    )
}

fn transport(base_url: &str) -> MetaTransport {
    MetaTransport::builder()
        .base_url(base_url)
        .access_token(TOKEN)
        .build()
        .expect("transport builds")
}

#[test]
fn the_request_names_the_user_in_recipient() {
    let transport = transport("http://127.0.0.1:9");
    let request = transport
        .send_request(
            &channel(),
            &OutboundMessage::new(USER_ID, MessageContent::text("Halo")),
        )
        .unwrap();
    let body: Value = serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
    assert_eq!(body["recipient"], USER_ID, "{body}");
    assert!(body.get("to").is_none(), "{body}");
    // A phone number still goes in `to`.
    let request = transport
        .send_request(
            &channel(),
            &OutboundMessage::new("628123456789", MessageContent::text("Halo")),
        )
        .unwrap();
    let body: Value = serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
    assert_eq!(body["to"], "628123456789");
    assert!(body.get("recipient").is_none());
}

#[tokio::test]
async fn a_send_by_user_id_is_accepted_and_its_statuses_name_the_user() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .throughput(Throughput::Off)
        .pair_limit(PairLimit::Off)
        .customer_window(None)
        .statuses(StatusTiming {
            sent_after: Duration::from_millis(1),
            delivered_after: Duration::from_millis(5),
            read_after: Duration::from_millis(5),
            read_probability: 1.0,
            ..StatusTiming::default()
        })
        .start()
        .await
        .unwrap();

    // The raw answer: the user id echoed as `input` and `user_id`, no phone number.
    let graph = Graph::new(&emulator);
    let (status, answer) = graph
        .send(
            &json!({"messaging_product": "whatsapp", "recipient": USER_ID, "type": "text",
                      "text": {"body": "Halo"}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["contacts"][0],
        json!({"input": USER_ID, "user_id": USER_ID})
    );

    let receipt = transport(emulator.base_url())
        .send(
            &channel(),
            &OutboundMessage::new(USER_ID, MessageContent::text("Halo lagi")),
        )
        .await
        .expect("accepted");
    assert_eq!(receipt.wa_id, None);

    sink.wait_until(
        Duration::from_secs(10),
        "the user-id statuses",
        |received| {
            statuses_of(received)
                .iter()
                .filter(|(id, _, _)| *id == receipt.wamid)
                .count()
                >= 3
        },
    )
    .await;
    let mut seen = Vec::new();
    for received in sink.received() {
        for event in wagw_meta::webhook::verify_and_parse(
            SECRET.as_bytes(),
            &received.body,
            received.signature.as_deref(),
        )
        .expect("signed and parseable")
        {
            if let InboundEvent::Status(status) = event.event
                && status.id == receipt.wamid
            {
                assert_eq!(status.recipient_user_id(), Some(USER_ID));
                assert_eq!(status.recipient_id, None);
                seen.push(status.status.clone());
            }
        }
    }
    assert!(seen.contains(&DeliveryStatus::Sent), "{seen:?}");
    assert!(seen.contains(&DeliveryStatus::Read), "{seen:?}");
    emulator.shutdown().await;
}
