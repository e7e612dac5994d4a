//! Shared helpers for the transport tests: channels, a transport pointed at a mock server,
//! and a stateful responder that answers like Meta's Cloud API.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wagw_core::model::Secret;
use wagw_core::model::channel::Channel;
use wagw_meta::MetaTransport;
use wiremock::{Request, Respond, ResponseTemplate};

pub const PNID: &str = "106540352242922";
pub const WABA: &str = "102290129340398";
pub const DEFAULT_TOKEN: &str = "default-token";

pub fn channel(token: Option<&str>) -> Channel {
    let mut channel = Channel::new(
        wagw_core::ids::TenantId::new(),
        "test",
        PNID,
        WABA,
        wagw_core::phone::PhoneNumber::from_wa_id("6281299990001").expect("valid number"),
    );
    channel.access_token = token.map(Secret::new);
    channel
}

pub fn transport(base: &str) -> MetaTransport {
    MetaTransport::builder()
        .base_url(base)
        .access_token(DEFAULT_TOKEN)
        .build()
        .expect("transport builds")
}

pub fn meta_error(code: Value, message: &str) -> Value {
    json!({"error": {"message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": "details here"},
        "fbtrace_id": "AbCdEfGh"}})
}

/// The parts of a `multipart/form-data` body: name → (content type, bytes).
pub fn multipart_parts(request: &Request) -> HashMap<String, (Option<String>, Vec<u8>)> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("multipart boundary")
        .trim_matches('"')
        .to_owned();
    let delimiter = format!("--{boundary}");
    let body = &request.body;
    let mut parts = HashMap::new();
    let positions: Vec<usize> = find_all(body, delimiter.as_bytes());
    for window in positions.windows(2) {
        let part = &body[window[0] + delimiter.len()..window[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split = find_all(part, b"\r\n\r\n")[0];
        let headers = String::from_utf8_lossy(&part[..split]).to_string();
        let data = part[split + 4..].to_vec();
        let name = headers
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("part name")
            .to_owned();
        let ctype = headers.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        });
        let filename = headers
            .split("filename=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_owned);
        if let Some(filename) = filename {
            parts.insert(format!("{name}.filename"), (None, filename.into_bytes()));
        }
        parts.insert(name, (ctype, data));
    }
    parts
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Uploaded media by id: (MIME type, bytes).
type MediaStore = HashMap<String, (String, Vec<u8>)>;

/// Answers like Meta: sends get fresh wamids, media is stored, looked up, downloaded and
/// deleted; unknown media ids get Meta's error 100.
#[derive(Clone)]
pub struct MetaLike {
    base: String,
    next: Arc<AtomicU64>,
    media: Arc<Mutex<MediaStore>>,
}

impl MetaLike {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            next: Arc::new(AtomicU64::new(1)),
            media: Arc::default(),
        }
    }
}

impl Respond for MetaLike {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let segments: Vec<&str> = request
            .url
            .path()
            .trim_start_matches('/')
            .split('/')
            .collect();
        let authorised = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
        if !authorised {
            return ResponseTemplate::new(401).set_body_json(meta_error(json!(190), "no token"));
        }
        let not_found = || {
            ResponseTemplate::new(400).set_body_json(meta_error(
                json!(100),
                "(#100) Unsupported get request. Object does not exist",
            ))
        };
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["v23.0", _pnid, "messages"]) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                if body.get("status").is_some() {
                    return ResponseTemplate::new(200).set_body_json(json!({"success": true}));
                }
                let to = body["to"].as_str().unwrap_or_default().trim_start_matches('+');
                ResponseTemplate::new(200).set_body_json(json!({
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body["to"], "wa_id": to}],
                    "messages": [{"id": format!("wamid.HBgL{n:016}"), "message_status": "accepted"}]
                }))
            }
            ("POST", ["v23.0", _pnid, "media"]) => {
                let parts = multipart_parts(request);
                let (ctype, data) = parts.get("file").cloned().expect("file part");
                let mime = ctype.unwrap_or_default();
                let id = format!("{}", 900_000 + n);
                self.media.lock().unwrap().insert(id.clone(), (mime, data));
                ResponseTemplate::new(200).set_body_json(json!({"id": id}))
            }
            ("GET", ["v23.0", id]) => match self.media.lock().unwrap().get(*id) {
                Some((mime, data)) => ResponseTemplate::new(200).set_body_json(json!({
                    "messaging_product": "whatsapp",
                    "url": format!("{}/download/{id}", self.base),
                    "mime_type": mime, "sha256": "abc", "file_size": data.len().to_string(), "id": id
                })),
                None => not_found(),
            },
            ("DELETE", ["v23.0", id]) => match self.media.lock().unwrap().remove(*id) {
                Some(_) => ResponseTemplate::new(200).set_body_json(json!({"success": true})),
                None => not_found(),
            },
            ("GET", ["download", id]) => match self.media.lock().unwrap().get(*id) {
                Some((mime, data)) => ResponseTemplate::new(200)
                    .insert_header("content-type", mime.as_str())
                    .set_body_bytes(data.clone()),
                None => ResponseTemplate::new(404),
            },
            _ => not_found(),
        }
    }
}
