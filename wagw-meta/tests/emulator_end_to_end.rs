//! End to end: wagw's `MetaTransport` against the emulator, and the emulator's status
//! webhooks verified and parsed with `wagw_meta::webhook`.
#![cfg(feature = "emulator")]

mod emulator_support;

use std::time::Duration;

use bytes::Bytes;
use emulator_support::*;
use serde_json::json;
use wagw_core::TransportErrorKind;
use wagw_core::content::{
    MessageContent, OutboundMessage, Template, TemplateComponent, TemplateParameter,
};
use wagw_core::event::{DeliveryStatus, InboundEvent};
use wagw_core::model::channel::Channel;
use wagw_core::model::template::{TemplateCategory, TemplateDraft, TemplateStatus};
use wagw_core::transport::{CodeMethod, MediaUpload, Transport};
use wagw_meta::MetaTransport;
use wagw_meta::emulator::{
    PairLimit, PhoneNumberSpec, StatusTiming, TemplateReview, TemplateSpec, Throughput, UserMessage,
};

fn channel(pnid: &str) -> Channel {
    Channel::new(
        wagw_core::ids::TenantId::new(),
        "e2e",
        pnid,
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

/// Status updates received so far, verified and parsed by the client's webhook module.
fn parsed_statuses(sink: &Sink) -> Vec<wagw_core::event::StatusUpdate> {
    let mut out = Vec::new();
    for received in sink.received() {
        let events = wagw_meta::webhook::verify_and_parse(
            SECRET.as_bytes(),
            &received.body,
            received.signature.as_deref(),
        )
        .expect("signed and parseable");
        for event in events {
            if let InboundEvent::Status(status) = event.event {
                assert_eq!(event.phone_number_id.as_deref(), Some(PNID));
                assert_eq!(event.waba_id, WABA);
                out.push(status);
            }
        }
    }
    out
}

#[tokio::test]
async fn send_through_meta_transport_and_receive_statuses() {
    let sink = Sink::start().await;
    let emulator = builder(Some(&sink))
        .statuses(StatusTiming {
            sent_after: Duration::from_millis(1),
            delivered_after: Duration::from_millis(5),
            read_after: Duration::from_millis(5),
            read_probability: 1.0,
            ..StatusTiming::default()
        })
        .template(TemplateSpec::approved(
            WABA,
            "order_ready",
            "en_US",
            json!([{"type": "BODY", "text": "Hi {{1}}, order {{2}} is ready"}]),
        ))
        .start()
        .await
        .unwrap();
    let transport = transport(emulator.base_url());
    let channel = channel(PNID);

    // The user writes first: the window opens and the message can be marked read.
    let inbound = emulator
        .inject_inbound(PNID, UserMessage::text(USER, "Sheena", "hi"))
        .unwrap();
    transport
        .mark_read(&channel, &inbound, true)
        .await
        .expect("read receipt");

    let mut message = OutboundMessage::new(format!("+{USER}"), MessageContent::text("Hello!"));
    message.biz_opaque_callback_data = Some("e2e-1".to_owned());
    let receipt = transport
        .send(&channel, &message)
        .await
        .expect("text accepted");
    assert!(receipt.wamid.starts_with("wamid."));
    assert_eq!(receipt.wa_id.as_deref(), Some(USER));
    assert_eq!(receipt.accepted_status.as_deref(), Some("accepted"));

    let template = Template::new("order_ready", "en_US").with_component(TemplateComponent::body([
        TemplateParameter::text("Pablo"),
        TemplateParameter::text("860198"),
    ]));
    let template_receipt = transport
        .send(
            &channel,
            &OutboundMessage::new("16505550002", MessageContent::template(template)),
        )
        .await
        .expect("template accepted outside the window");

    // Free-form outside the window: accepted, then failed with 131047.
    let outside = transport
        .send(
            &channel,
            &OutboundMessage::new("16505550003", MessageContent::text("late")),
        )
        .await
        .expect("accepted");

    sink.wait_until(Duration::from_secs(10), "all statuses", |_| {
        let statuses = parsed_statuses(&sink);
        statuses.len() >= 7
    })
    .await;
    let statuses = parsed_statuses(&sink);
    let of = |wamid: &str| -> Vec<DeliveryStatus> {
        let mut list: Vec<_> = statuses
            .iter()
            .filter(|s| s.id == wamid)
            .map(|s| s.status.clone())
            .collect();
        list.sort_by_key(|s| format!("{s:?}"));
        list
    };
    let mut expected = vec![
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
    ];
    expected.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(of(&receipt.wamid), expected);
    assert_eq!(of(&template_receipt.wamid), expected);
    assert_eq!(of(&outside.wamid), vec![DeliveryStatus::Failed]);
    let failed = statuses.iter().find(|s| s.id == outside.wamid).unwrap();
    assert_eq!(failed.errors[0].code, 131_047);
    let sent = statuses
        .iter()
        .find(|s| s.id == receipt.wamid && s.status == DeliveryStatus::Sent)
        .unwrap();
    assert_eq!(sent.biz_opaque_callback_data.as_deref(), Some("e2e-1"));
    assert_eq!(sent.recipient_id.as_deref(), Some(USER));
    assert!(sent.pricing.is_some() && sent.conversation.is_some());
    emulator.shutdown().await;
}

#[tokio::test]
async fn limits_and_errors_are_classified_by_the_transport() {
    let emulator = builder(None)
        .throughput(Throughput::per_second(2))
        .pair_limit(PairLimit::Limited {
            burst: 1,
            refill: Duration::from_secs(3600),
        })
        .customer_window(None)
        .number(PhoneNumberSpec::new("300", "300", WABA).throughput(Throughput::Off))
        .start()
        .await
        .unwrap();
    let transport = transport(emulator.base_url());
    let main = channel(PNID);
    let text = |to: &str| OutboundMessage::new(to, MessageContent::text("x"));

    transport.send(&main, &text("16505550001")).await.unwrap();
    transport.send(&main, &text("16505550002")).await.unwrap();
    let error = transport
        .send(&main, &text("16505550003"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::ThrottledNumber, "{error}");
    assert_eq!(error.code, Some(130_429));

    let unthrottled = channel("300");
    transport.send(&unthrottled, &text(USER)).await.unwrap();
    let error = transport.send(&unthrottled, &text(USER)).await.unwrap_err();
    assert_eq!(
        error.kind,
        TransportErrorKind::ThrottledRecipient,
        "{error}"
    );
    assert_eq!(error.code, Some(131_056));

    let missing = Template::new("no_such_template", "en_US");
    let error = transport
        .send(
            &unthrottled,
            &OutboundMessage::new("16505550009", MessageContent::template(missing)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Permanent, "{error}");
    assert_eq!(error.code, Some(132_001));

    let bad_token = MetaTransport::builder()
        .base_url(emulator.base_url())
        .access_token("wrong")
        .build()
        .unwrap();
    let error = bad_token
        .send(&unthrottled, &text("16505550010"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Auth, "{error}");
    assert_eq!(error.code, Some(190));

    let counters = emulator.counters(PNID).unwrap();
    assert_eq!((counters.accepted, counters.error(130_429)), (2, 1));
    emulator.shutdown().await;
}

#[tokio::test]
async fn media_templates_and_registration_through_the_transport() {
    let emulator = builder(None)
        .template_review(TemplateReview {
            delay: Duration::from_millis(20),
            ..TemplateReview::default()
        })
        .number(PhoneNumberSpec::new("400", "400", WABA).unregistered())
        .start()
        .await
        .unwrap();
    let transport = transport(emulator.base_url());
    let main = channel(PNID);

    let data = Bytes::from_static(b"%PDF-1.4 fake");
    let id = transport
        .upload_media(
            &main,
            MediaUpload {
                mime_type: "application/pdf".to_owned(),
                file_name: "invoice.pdf".to_owned(),
                data: data.clone(),
            },
        )
        .await
        .expect("upload");
    let info = transport.get_media(&main, &id).await.expect("media info");
    assert_eq!(info.mime_type, "application/pdf");
    assert_eq!(info.file_size, data.len() as u64);
    let downloaded = transport
        .download_media(&main, &id)
        .await
        .expect("download");
    assert_eq!(downloaded, data);
    transport.delete_media(&main, &id).await.expect("delete");
    assert!(transport.get_media(&main, &id).await.is_err());

    let draft = TemplateDraft {
        name: "shipping_update".to_owned(),
        language: "en_US".to_owned(),
        category: TemplateCategory::Utility,
        components: vec![json!({"type": "BODY", "text": "Order {{1}} shipped"})],
    };
    let created = transport
        .create_template(&main, &draft)
        .await
        .expect("created");
    assert_eq!(created.status, TemplateStatus::Pending);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fetched = transport
        .get_template(&main, &created.id)
        .await
        .expect("fetched");
    assert_eq!(fetched.status, TemplateStatus::Approved);
    assert_eq!(fetched.name, "shipping_update");
    let page = transport.list_templates(&main, None).await.expect("listed");
    assert!(page.templates.iter().any(|t| t.id == created.id));
    transport
        .delete_template(&main, "shipping_update")
        .await
        .expect("deleted");
    assert!(transport.get_template(&main, &created.id).await.is_err());

    let new = channel("400");
    assert!(
        transport
            .send(&new, &OutboundMessage::new(USER, MessageContent::text("x")))
            .await
            .is_err()
    );
    transport
        .request_code(&new, CodeMethod::Sms, "en_US")
        .await
        .expect("code requested");
    let code = emulator.verification_code("400").expect("a code was sent");
    assert!(transport.verify_code(&new, "000000").await.is_err() || code == "000000");
    transport.verify_code(&new, &code).await.expect("verified");
    transport
        .register(&new, "123456")
        .await
        .expect("registered");
    assert_eq!(emulator.is_registered("400"), Some(true));
    emulator.open_window("400", USER).unwrap();
    transport
        .send(&new, &OutboundMessage::new(USER, MessageContent::text("x")))
        .await
        .expect("registered numbers send");
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_transport_speaks_http2_to_the_emulator_over_h2c() {
    let emulator = builder(None).start().await.unwrap();
    for version in [
        wagw_meta::transport::HttpVersion::Http2PriorKnowledge,
        wagw_meta::transport::HttpVersion::Http1Only,
    ] {
        let meta = MetaTransport::builder()
            .base_url(emulator.base_url())
            .access_token(TOKEN)
            .http_version(version)
            .build()
            .unwrap();
        let message = OutboundMessage::new(USER, MessageContent::text("Halo"));
        let receipt = meta.send(&channel(PNID), &message).await.unwrap();
        assert!(receipt.wamid.starts_with("wamid."), "{version:?}");
    }
}
