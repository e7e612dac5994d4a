//! Template sends checked against the registered template: media headers, named parameters,
//! buttons (quick-reply payloads, dynamic URL suffixes, index and sub_type), with Meta's codes
//! (132000 count, 132012 format, 131008 a button parameter missing, 131009 no such button).
#![cfg(feature = "emulator")]

mod emulator_support;

use emulator_support::*;
use serde_json::{Value, json};
use wagw_meta::emulator::{Emulator, PairLimit, TemplateSpec, Throughput};

async fn emulator_with(templates: &[(&str, Value)]) -> (Emulator, Graph) {
    let emulator = builder(None)
        .throughput(Throughput::Off)
        .pair_limit(PairLimit::Off)
        .customer_window(None)
        .start()
        .await
        .unwrap();
    for (name, components) in templates {
        emulator.add_template(TemplateSpec::approved(
            WABA,
            *name,
            "en_US",
            components.clone(),
        ));
    }
    let graph = Graph::new(&emulator);
    (emulator, graph)
}

fn send(name: &str, components: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "template",
        "template": {"name": name, "language": {"code": "en_US"}, "components": components},
    })
}

async fn answer(graph: &Graph, name: &str, components: Value) -> (i64, String) {
    let (status, body) = graph.send(&send(name, components)).await;
    let code = code(&body);
    assert_eq!(status == 200, code == 0, "{body}");
    (code, details(&body))
}

fn body_text(text: &str) -> Value {
    json!({"type": "body", "parameters": [{"type": "text", "text": text}]})
}

#[tokio::test]
async fn a_media_header_needs_its_media_of_the_right_type() {
    let (emulator, graph) = emulator_with(&[
        (
            "receipt",
            json!([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Thanks {{1}}"}]),
        ),
        ("plain", json!([{"type": "BODY", "text": "Hi {{1}}"}])),
    ])
    .await;
    let image = json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/r.jpg"}}]});
    assert_eq!(
        answer(&graph, "receipt", json!([image.clone(), body_text("Ani")]))
            .await
            .0,
        0
    );
    let (code, details) = answer(&graph, "receipt", json!([body_text("Ani")])).await;
    assert_eq!(code, 132_012, "{details}");
    assert!(
        details.contains("expected IMAGE, received UNKNOWN"),
        "{details}"
    );
    let video = json!({"type": "header", "parameters": [{"type": "video", "video": {"id": "1"}}]});
    let (code, details) = answer(&graph, "receipt", json!([video, body_text("Ani")])).await;
    assert_eq!(code, 132_012);
    assert!(
        details.contains("expected IMAGE, received VIDEO"),
        "{details}"
    );
    // A media parameter for a template without a media header.
    let (code, details) = answer(&graph, "plain", json!([image, body_text("Ani")])).await;
    assert_eq!(code, 132_012);
    assert!(
        details.contains("expected NONE, received IMAGE"),
        "{details}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn named_templates_need_their_parameter_names() {
    let (emulator, graph) = emulator_with(&[
        (
            "order_named",
            json!([{"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready"}]),
        ),
        (
            "order_positional",
            json!([{"type": "BODY", "text": "Hi {{1}}"}]),
        ),
    ])
    .await;
    let named = |a: &str, b: &str| {
        json!([{"type": "body", "parameters": [
            {"type": "text", "parameter_name": a, "text": "Ani"},
            {"type": "text", "parameter_name": b, "text": "A-1"}
        ]}])
    };
    assert_eq!(
        answer(&graph, "order_named", named("order_id", "first_name"))
            .await
            .0,
        0
    );
    // Positional parameters for a named template: a format mismatch.
    let positional = json!([{"type": "body", "parameters": [
        {"type": "text", "text": "Ani"}, {"type": "text", "text": "A-1"}
    ]}]);
    let (code, details) = answer(&graph, "order_named", positional).await;
    assert_eq!(code, 132_012, "{details}");
    assert!(details.contains("parameter_name"), "{details}");
    // A misspelled name: the names do not match.
    let (code, details) = answer(&graph, "order_named", named("first_name", "orderid")).await;
    assert_eq!(code, 132_000, "{details}");
    assert!(
        details.contains("unknown [orderid]") && details.contains("missing [order_id]"),
        "{details}"
    );
    // The same name twice.
    let (code, _) = answer(&graph, "order_named", named("first_name", "first_name")).await;
    assert_eq!(code, 132_000);
    // parameter_name on a positional template.
    let (code, details) = answer(
        &graph,
        "order_positional",
        json!([{"type": "body", "parameters": [{"type": "text", "parameter_name": "x", "text": "Ani"}]}]),
    )
    .await;
    assert_eq!(code, 132_012, "{details}");
    assert!(details.contains("positional"), "{details}");
    emulator.shutdown().await;
}

fn buttons_template() -> Value {
    json!([
        {"type": "BODY", "text": "Your parcel is on its way"},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Stop"},
            {"type": "URL", "text": "Track", "url": "https://example.com/track/{{1}}"},
            {"type": "URL", "text": "Shop", "url": "https://example.com"}
        ]}
    ])
}

fn url_button(index: Value, parameters: Value) -> Value {
    json!({"type": "button", "sub_type": "url", "index": index, "parameters": parameters})
}

#[tokio::test]
async fn button_parameters_match_the_templates_buttons() {
    let (emulator, graph) = emulator_with(&[("parcel", buttons_template())]).await;
    let suffix = json!([{"type": "text", "text": "JX123"}]);
    let quick = json!({"type": "button", "sub_type": "quick_reply", "index": "0",
                       "parameters": [{"type": "payload", "payload": "STOP"}]});
    assert_eq!(
        answer(
            &graph,
            "parcel",
            json!([quick.clone(), url_button("1".into(), suffix.clone())])
        )
        .await
        .0,
        0
    );
    // The dynamic URL button needs its suffix: 131008, naming the button.
    let (code, details) = answer(&graph, "parcel", json!([quick.clone()])).await;
    assert_eq!(code, 131_008, "{details}");
    assert!(
        details.contains("Button at index 1 of type Url requires a parameter"),
        "{details}"
    );
    // A suffix for the static URL button: a count mismatch.
    let (code, details) = answer(
        &graph,
        "parcel",
        json!([
            url_button("1".into(), suffix.clone()),
            url_button("2".into(), suffix.clone())
        ]),
    )
    .await;
    assert_eq!(code, 132_000, "{details}");
    assert!(details.contains("button at index 2"), "{details}");
    // The suffix given as a payload: a format mismatch.
    let (code, _) = answer(
        &graph,
        "parcel",
        json!([url_button(
            "1".into(),
            json!([{"type": "payload", "payload": "JX123"}])
        )]),
    )
    .await;
    assert_eq!(code, 132_012);
    // sub_type differs from the template's button at that index.
    let (code, details) = answer(
        &graph,
        "parcel",
        json!([
            url_button("0".into(), suffix.clone()),
            url_button("1".into(), suffix.clone())
        ]),
    )
    .await;
    assert_eq!(code, 132_012, "{details}");
    assert!(
        details.contains("index 0 is of type QuickReply, received Url"),
        "{details}"
    );
    // A quick reply without its payload.
    let (code, _) = answer(
        &graph,
        "parcel",
        json!([
            {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": []},
            url_button("1".into(), suffix.clone())
        ]),
    )
    .await;
    assert_eq!(code, 132_000);
    // An index the template does not have, and an index given twice.
    let (code, details) = answer(
        &graph,
        "parcel",
        json!([
            url_button("1".into(), suffix.clone()),
            url_button("5".into(), suffix.clone())
        ]),
    )
    .await;
    assert_eq!(code, 131_009, "{details}");
    assert!(details.contains("no button at index"), "{details}");
    let (code, _) = answer(
        &graph,
        "parcel",
        json!([
            url_button("1".into(), suffix.clone()),
            url_button(1.into(), suffix)
        ]),
    )
    .await;
    assert_eq!(code, 131_009);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_copy_code_button_needs_its_coupon_code() {
    let (emulator, graph) = emulator_with(&[(
        "promo",
        json!([
            {"type": "BODY", "text": "Use the code below"},
            {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SALE25"}]}
        ]),
    )])
    .await;
    let copy = |parameter: Value| json!([{"type": "button", "sub_type": "copy_code", "index": 0, "parameters": [parameter]}]);
    assert_eq!(
        answer(
            &graph,
            "promo",
            copy(json!({"type": "coupon_code", "coupon_code": "SALE25"}))
        )
        .await
        .0,
        0
    );
    assert_eq!(
        answer(
            &graph,
            "promo",
            copy(json!({"type": "text", "text": "SALE25"}))
        )
        .await
        .0,
        132_012
    );
    let (code, details) = answer(&graph, "promo", json!([])).await;
    assert_eq!(code, 131_008, "{details}");
    assert!(details.contains("CopyCode"), "{details}");
    emulator.shutdown().await;
}

/// wagw-core's template builder, sent through `MetaTransport`, satisfies every rule: media
/// header, named body parameters, quick reply and URL suffix; and the same send missing its
/// URL suffix is refused with 131008 as a permanent error.
#[tokio::test]
async fn wagw_templates_through_meta_transport_pass_the_template_rules() {
    use wagw_core::TransportErrorKind;
    use wagw_core::content::{
        Media, MessageContent, OutboundMessage, Template, TemplateComponent, TemplateParameter,
    };
    use wagw_core::transport::Transport;

    let (emulator, _graph) = emulator_with(&[(
        "tagihan",
        json!([
            {"type": "HEADER", "format": "DOCUMENT"},
            {"type": "BODY", "text": "Halo {{nama}}, tagihan {{bulan}} sudah terbit"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Berhenti"},
                {"type": "URL", "text": "Bayar", "url": "https://example.com/bayar/{{1}}"}
            ]}
        ]),
    )])
    .await;
    let transport = wagw_meta::MetaTransport::builder()
        .base_url(emulator.base_url())
        .access_token(TOKEN)
        .build()
        .unwrap();
    let channel = wagw_core::model::channel::Channel::new(
        wagw_core::ids::TenantId::new(),
        "templates",
        PNID,
        WABA,
        wagw_core::phone::PhoneNumber::from_wa_id(DISPLAY).unwrap(),
    );
    let template = |with_suffix: bool| {
        let mut template = Template::new("tagihan", "en_US")
            .with_component(TemplateComponent::header([TemplateParameter::document(
                Media::from_link("https://example.com/tagihan.pdf"),
            )]))
            .with_component(TemplateComponent::body([
                TemplateParameter::named_text("bulan", "November"),
                TemplateParameter::named_text("nama", "Budi"),
            ]))
            .with_component(TemplateComponent::quick_reply(0, "STOP"));
        if with_suffix {
            template = template.with_component(TemplateComponent::url_button(1, "INV-7"));
        }
        OutboundMessage::new("628123456789", MessageContent::template(template))
    };
    transport
        .send(&channel, &template(true))
        .await
        .expect("accepted");
    let error = transport
        .send(&channel, &template(false))
        .await
        .expect_err("refused");
    assert_eq!(error.code, Some(131_008), "{error:?}");
    assert_eq!(error.kind, TransportErrorKind::Permanent);
    emulator.shutdown().await;
}
