//! The emulator's routes: auth, messages, read receipts, media, templates, phone numbers and
//! registration, with Meta's response and error shapes.
#![cfg(feature = "emulator")]

mod emulator_support;

use emulator_support::*;
use serde_json::{Value, json};
use wagw_meta::emulator::{Emulator, PhoneNumberSpec, TemplateSpec, UserMessage};

#[tokio::test]
async fn auth_is_required_and_errors_have_metas_shape() {
    let emulator = builder(None).start().await.unwrap();
    let mut graph = Graph::new(&emulator);
    graph.token = None;
    let (status, body) = graph.send(&text(USER, "hi")).await;
    assert_eq!(status, 401);
    assert_eq!(code(&body), 190);
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["fbtrace_id"].as_str().unwrap().len() >= 20);

    graph.token = Some("wrong".to_owned());
    let (status, body) = graph.get(&format!("/{PNID}")).await;
    assert_eq!((status, code(&body)), (401, 190));

    // The token may also come as a query parameter, as Graph allows.
    graph.token = None;
    let (status, body) = graph.get(&format!("/{PNID}?access_token={TOKEN}")).await;
    assert_eq!(status, 200, "{body}");

    // A bad version is refused.
    let graph = Graph::new(&emulator);
    let url = format!("{}/latest/{PNID}", emulator.base_url());
    let response = graph.http.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // A broken body: Meta's exact error envelope, with the field named in the details.
    let (status, body) = graph
        .send(&json!({"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {}}))
        .await;
    assert_eq!(status, 400);
    let error = body["error"].as_object().unwrap();
    assert_eq!(error["message"], "(#131008) Required parameter is missing");
    assert_eq!(error["type"], "OAuthException");
    assert_eq!(error["code"], 131008);
    assert_eq!(error["error_data"]["messaging_product"], "whatsapp");
    assert!(details(&body).contains("text['body']"), "{body}");
    assert!(error.contains_key("fbtrace_id"));
    emulator.shutdown().await;
}

#[tokio::test]
async fn send_answers_like_meta_and_unknown_numbers_are_refused() {
    let emulator = builder(None).start().await.unwrap();
    let graph = Graph::new(&emulator);
    let (status, body) = graph.send(&text("+1 650-555-1234", "hello")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["contacts"][0]["input"], "+1 650-555-1234");
    assert_eq!(body["contacts"][0]["wa_id"], USER);
    let wamid = body["messages"][0]["id"].as_str().unwrap();
    assert!(wamid.starts_with("wamid.HBgL"), "{wamid}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");

    let (status, body) = graph.post("/999/messages", &text(USER, "x")).await;
    assert_eq!((status, code(&body)), (400, 100));
    assert_eq!(body["error"]["error_subcode"], 33);

    let (status, body) = graph
        .post(&format!("/{PNID}/messages"), &json!("not an object"))
        .await;
    assert_eq!((status, code(&body)), (400, 100));
    emulator.shutdown().await;
}

#[tokio::test]
async fn read_receipts_need_a_received_message() {
    let emulator = builder(None).start().await.unwrap();
    let graph = Graph::new(&emulator);
    let read = |id: &str| {
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": id,
               "typing_indicator": {"type": "text"}})
    };
    let (status, body) = graph.send(&read("wamid.unknown")).await;
    assert_eq!((status, code(&body)), (400, 131009));
    let wamid = emulator
        .inject_inbound(PNID, UserMessage::text(USER, "Sheena", "hi"))
        .unwrap();
    let (status, body) = graph.send(&read(&wamid)).await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (status, body) = graph
        .send(
            &json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
                      "typing_indicator": {"type": "audio"}}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, 131009));
    let counters = emulator.counters(PNID).unwrap();
    assert_eq!(counters.read_receipts, 1);
    assert_eq!(counters.error(131_009), 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn media_upload_get_download_delete() {
    let emulator = builder(None).start().await.unwrap();
    let graph = Graph::new(&emulator);
    let data = b"\x89PNG fake image bytes".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/png")
        .part(
            "file",
            reqwest::multipart::Part::bytes(data.clone())
                .file_name("a.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let response = graph
        .http
        .post(format!("{}/{PNID}/media", graph.base))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");

    let (status, info) = graph.get(&format!("/{id}")).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["messaging_product"], "whatsapp");
    assert_eq!(info["mime_type"], "image/png");
    assert_eq!(info["file_size"], data.len().to_string());
    assert_eq!(info["id"], id.as_str());
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
    let url = info["url"].as_str().unwrap();

    let unauthenticated = graph.http.get(url).send().await.unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let download = graph.http.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(download.status().as_u16(), 200);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(download.bytes().await.unwrap().to_vec(), data);
    let tampered = graph
        .http
        .get(url.replace("hash=", "hash=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status().as_u16(), 404);

    let (status, _) = graph.get(&format!("/{id}?phone_number_id=123")).await;
    assert_eq!(status, 400, "media of another number is not visible");
    let (status, body) = graph.delete(&format!("/{id}")).await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (status, body) = graph.get(&format!("/{id}")).await;
    assert_eq!((status, code(&body)), (400, 100));

    // Unsupported type and missing messaging_product.
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "application/x-msdownload")
        .part("file", reqwest::multipart::Part::bytes(vec![1, 2, 3]));
    let response = graph
        .http
        .post(format!("{}/{PNID}/media", graph.base))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(code(&body), 131053, "{body}");
    let form = reqwest::multipart::Form::new()
        .text("type", "image/png")
        .part("file", reqwest::multipart::Part::bytes(vec![1, 2, 3]));
    let response = graph
        .http
        .post(format!("{}/{PNID}/media", graph.base))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(code(&body), 131008, "{body}");
    emulator.shutdown().await;
}

#[tokio::test]
async fn templates_create_list_get_delete() {
    let emulator = builder(None).start().await.unwrap();
    let graph = Graph::new(&emulator);
    let path = format!("/{WABA}/message_templates");
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, body) = graph
            .post(
                &path,
                &json!({
                    "name": format!("order_update_{i}"),
                    "language": "en_US",
                    "category": "UTILITY",
                    "components": [{"type": "BODY", "text": "Order {{1}} is ready",
                                    "example": {"body_text": [["860198"]]}}],
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "PENDING");
        assert_eq!(body["category"], "UTILITY");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    // Duplicate name and language.
    let (status, body) = graph
        .post(
            &path,
            &json!({"name": "order_update_0", "language": "en_US", "category": "UTILITY",
                    "components": [{"type": "BODY", "text": "x"}]}),
        )
        .await;
    assert_eq!((status, code(&body)), (400, 2_388_024));
    // Bad name, bad category, missing components.
    for (bad, expected) in [
        (
            json!({"name": "Bad Name", "language": "en_US", "category": "UTILITY",
                "components": [{"type": "BODY", "text": "x"}]}),
            100,
        ),
        (
            json!({"name": "ok", "language": "en_US", "category": "SPAM",
                "components": [{"type": "BODY", "text": "x"}]}),
            100,
        ),
        (
            json!({"name": "ok", "language": "en_US", "category": "UTILITY"}),
            131008,
        ),
    ] {
        let (status, body) = graph.post(&path, &bad).await;
        assert_eq!((status, code(&body)), (400, expected), "{bad} → {body}");
    }

    // Pagination: 5 templates, 2 per page.
    let mut seen = Vec::new();
    let mut query = format!("{path}?limit=2");
    loop {
        let (status, page) = graph.get(&query).await;
        assert_eq!(status, 200, "{page}");
        for item in page["data"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["paging"]["next"].as_str() {
            Some(_) => {
                let after = page["paging"]["cursors"]["after"].as_str().unwrap();
                query = format!("{path}?limit=2&after={after}");
            }
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let (_, filtered) = graph.get(&format!("{path}?name=order_update_3")).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);

    let (status, one) = graph.get(&format!("/{}", ids[1])).await;
    assert_eq!(status, 200);
    assert_eq!(one["name"], "order_update_1");
    assert_eq!(one["language"], "en_US");

    let (status, body) = graph.delete(&format!("{path}?name=order_update_1")).await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (status, _) = graph.get(&format!("/{}", ids[1])).await;
    assert_eq!(status, 400);
    let (status, body) = graph.delete(&format!("{path}?name=order_update_1")).await;
    assert_eq!((status, code(&body)), (400, 100));
    let (status, body) = graph.delete(&path).await;
    assert_eq!((status, code(&body)), (400, 131008));
    emulator.shutdown().await;
}

#[tokio::test]
async fn phone_numbers_and_registration() {
    let emulator = builder(None)
        .number(PhoneNumberSpec::new("200000000000001", "+1 555-000-0001", WABA).unregistered())
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let (status, list) = graph.get(&format!("/{WABA}/phone_numbers")).await;
    assert_eq!(status, 200);
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert!(
        data.iter()
            .any(|n| n["id"] == PNID && n["display_phone_number"] == DISPLAY)
    );
    let (status, one) = graph.get(&format!("/{PNID}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["throughput"]["level"], "STANDARD");
    assert_eq!(one["quality_rating"], "GREEN");

    let new = "200000000000001";
    // Unregistered numbers cannot send.
    let (status, body) = graph
        .post(&format!("/{new}/messages"), &text(USER, "x"))
        .await;
    assert_eq!((status, code(&body)), (400, 133010));
    // Registering before verification fails.
    let register = |pin: &str| json!({"messaging_product": "whatsapp", "pin": pin});
    let (_, body) = graph
        .post(&format!("/{new}/register"), &register("123456"))
        .await;
    assert_eq!(code(&body), 133006);
    // Request a code (query parameters, as in Meta's docs), verify a wrong one, then the right one.
    let (status, body) = graph
        .post(
            &format!("/{new}/request_code?code_method=SMS&language=en_US"),
            &json!({}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (_, body) = graph
        .post(
            &format!("/{new}/request_code"),
            &json!({"code_method": "FAX", "language": "en"}),
        )
        .await;
    assert_eq!(code(&body), 100);
    let code_sent = emulator.verification_code(new).unwrap();
    assert_eq!(code_sent.len(), 6);
    let (_, body) = graph
        .post(&format!("/{new}/verify_code"), &json!({"code": "000000x"}))
        .await;
    assert_eq!(code(&body), 100);
    let (status, body) = graph
        .post(&format!("/{new}/verify_code"), &json!({"code": code_sent}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    // PIN must be 6 digits.
    let (_, body) = graph
        .post(&format!("/{new}/register"), &register("12ab"))
        .await;
    assert_eq!(code(&body), 100);
    let (status, _) = graph
        .post(&format!("/{new}/register"), &register("123456"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(emulator.is_registered(new), Some(true));
    emulator.open_window(new, USER).unwrap();
    let (status, _) = graph
        .post(&format!("/{new}/messages"), &text(USER, "x"))
        .await;
    assert_eq!(status, 200);
    // Deregister, then registering again with another PIN is a mismatch.
    let (status, _) = graph.post(&format!("/{new}/deregister"), &json!({})).await;
    assert_eq!(status, 200);
    let (_, body) = graph.post(&format!("/{new}/deregister"), &json!({})).await;
    assert_eq!(code(&body), 100);
    let (_, body) = graph
        .post(&format!("/{new}/register"), &register("654321"))
        .await;
    assert_eq!(code(&body), 133005);
    // 10 register/deregister calls per 72 hours.
    let mut last = Value::Null;
    for i in 0..11 {
        let edge = if i % 2 == 0 { "register" } else { "deregister" };
        last = graph
            .post(&format!("/{new}/{edge}"), &register("123456"))
            .await
            .1;
    }
    assert_eq!(code(&last), 133016, "{last}");
    // Unknown number.
    let (status, body) = graph
        .post(
            "/1/request_code",
            &json!({"code_method": "SMS", "language": "en"}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, 803));
    emulator.shutdown().await;
}

#[tokio::test]
async fn auto_numbers_and_bind_errors() {
    let emulator = Emulator::builder()
        .auto_numbers(true)
        .customer_window(None)
        .start()
        .await
        .unwrap();
    let graph = Graph::new(&emulator);
    let (status, _) = graph.post("/123456789/messages", &text(USER, "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(emulator.counters("123456789").unwrap().accepted, 1);
    // Binding a taken port reports an I/O error.
    let taken = Emulator::builder()
        .bind(emulator.local_addr())
        .start()
        .await;
    assert!(matches!(taken, Err(wagw_meta::Error::Io(_))));
    // Templates given up front are listed.
    let with_template = Emulator::builder()
        .number(number())
        .template(TemplateSpec::approved(
            WABA,
            "hello_world",
            "en_US",
            json!([{"type": "BODY", "text": "Hello"}]),
        ))
        .start()
        .await
        .unwrap();
    let (_, list) = Graph::new(&with_template)
        .get(&format!("/{WABA}/message_templates"))
        .await;
    assert_eq!(list["data"][0]["status"], "APPROVED");
    emulator.shutdown().await;
    with_template.shutdown().await;
}
