//! The HTTP surface: Graph-style routes `/{version}/{id}` and `/{version}/{id}/{edge}`, and the
//! media download URL.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::api_error::{ApiError, codes};
use super::ids;
use super::state::{Media, MediaBody, SendOutcome, Shared, unix_now};

type Shr = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.config.max_upload_bytes.saturating_add(1 << 20);
    Router::new()
        .route("/whatsapp_business/attachments/", get(download))
        .route(
            "/{version}/{id}",
            get(object_get).post(object_post).delete(object_delete),
        )
        .route(
            "/{version}/{id}/{edge}",
            get(edge_get).post(edge_post).delete(edge_delete),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

fn reply(shared: &Shared, result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error_response(shared, &error),
    }
}

fn error_response(shared: &Shared, error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(status, &error.body(&shared.fbtrace()))
}

fn success() -> Value {
    json!({"success": true})
}

fn valid_version(version: &str) -> bool {
    version
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    let Some(query) = query else {
        return HashMap::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks the access token (header `Authorization: Bearer` or query `access_token`): known,
/// not expired, and (for a WABA-bound token) issued for the WABA owning `object`.
fn check_token(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
    object: Option<&str>,
) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .or_else(|| value.strip_prefix("OAuth "))
        })
        .map(|token| token.trim().to_owned())
        .or_else(|| query_map(query).remove("access_token"));
    let Some(token) = token else {
        return Err(ApiError::auth(
            "An access token is required to request this resource.",
        ));
    };
    if shared.expired_tokens.read().contains(&token) {
        return Err(ApiError::auth(
            "Error validating access token: Session has expired. The current time is after the \
             token's expiry.",
        )
        .with_subcode(463));
    }
    if shared.config.access_tokens.contains(&token) {
        return Ok(());
    }
    let Some(wabas) = shared.config.waba_tokens.get(&token) else {
        return Err(ApiError::auth(
            "Invalid OAuth access token - Cannot parse access token",
        ));
    };
    match object.and_then(|id| shared.owner_waba(id)) {
        Some(owner) if !wabas.contains(&owner) => Err(ApiError::permission(object.unwrap_or(""))),
        _ => Ok(()),
    }
}

/// Checks the access token, then the version.
fn gate(
    shared: &Shared,
    version: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    object: &str,
) -> Result<(), ApiError> {
    check_token(shared, headers, query, Some(object))?;
    if valid_version(version) {
        Ok(())
    } else {
        Err(ApiError::param(
            "Invalid version format. Use format like 'v23.0'",
        ))
    }
}

/// Reads a JSON (or form-encoded) body and merges query parameters into it.
fn params(headers: &HeaderMap, body: &[u8], query: Option<&str>) -> Result<Value, ApiError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut object = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else if form {
        let text = String::from_utf8_lossy(body);
        query_map(Some(&text))
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(ApiError::param("The request body must be a JSON object.")),
            Err(error) => {
                return Err(ApiError::param(format!(
                    "The request body is not valid JSON: {error}"
                )));
            }
        }
    };
    for (key, value) in query_map(query) {
        if key != "access_token" {
            object.entry(key).or_insert(Value::String(value));
        }
    }
    Ok(Value::Object(object))
}

fn string_param<'a>(params: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Err(ApiError::missing(key)),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(ApiError::param(format!(
            "Param {key} must be a non-empty string."
        ))),
    }
}

// ----- /{version}/{id}/{edge} -----------------------------------------------------------------

async fn edge_post(
    State(shared): Shr,
    Path((version, id, edge)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    request: Request,
) -> Response {
    if let Err(error) = gate(&shared, &version, &headers, query.as_deref(), &id) {
        return error_response(&shared, &error);
    }
    if edge == "media" {
        let Some(number) = shared.number(&id) else {
            return error_response(&shared, &ApiError::unknown_object(&id, "post"));
        };
        let result = match Multipart::from_request(request, &()).await {
            Ok(multipart) => upload(&shared, &number.id, multipart).await,
            Err(rejection) => Err(ApiError::param(format!(
                "Media uploads must be multipart/form-data: {rejection}"
            ))),
        };
        return reply(&shared, result);
    }
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => {
            return error_response(
                &shared,
                &ApiError::param(format!("Cannot read the request body: {rejection}")),
            );
        }
    };
    if edge == "messages" {
        return messages(&shared, &id, &body);
    }
    let params = match params(&headers, &body, query.as_deref()) {
        Ok(params) => params,
        Err(error) => return error_response(&shared, &error),
    };
    let result = match edge.as_str() {
        "message_templates" if shared.is_waba(&id) => shared.create_template(&id, &params),
        "subscribed_apps" if shared.is_waba(&id) => Ok(success()),
        "request_code" | "verify_code" | "register" | "deregister" => {
            registration(&shared, &id, &edge, &params)
        }
        "message_templates" | "subscribed_apps" => Err(ApiError::unknown_object(&id, "post")),
        other => Err(ApiError::param(format!(
            "Unknown path components: /{other}"
        ))),
    };
    reply(&shared, result)
}

fn messages(shared: &Shared, id: &str, body: &[u8]) -> Response {
    let Some(number) = shared.number(id) else {
        return error_response(shared, &ApiError::unknown_object(id, "post"));
    };
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(value) => value,
        Err(error) => {
            let error = ApiError::param(format!("The request body is not valid JSON: {error}"));
            return error_response(shared, &shared.count_error(&number, error));
        }
    };
    match shared.send(&number, &value) {
        Ok(SendOutcome::Read) => json_response(StatusCode::OK, &success()),
        Ok(SendOutcome::Message {
            input,
            wa_id,
            user_id,
            wamid,
            message_status,
        }) => {
            let mut contact = json!({"input": input});
            if let Some(wa_id) = wa_id {
                contact["wa_id"] = wa_id.into();
            }
            if let Some(user_id) = user_id {
                contact["user_id"] = user_id.into();
            }
            json_response(
                StatusCode::OK,
                &json!({
                    "messaging_product": "whatsapp",
                    "contacts": [contact],
                    "messages": [{"id": wamid, "message_status": message_status}],
                }),
            )
        }
        Err(error) => error_response(shared, &error),
    }
}

fn registration(shared: &Shared, id: &str, edge: &str, params: &Value) -> Result<Value, ApiError> {
    let number = shared.number(id).ok_or_else(ApiError::phone_not_found)?;
    match edge {
        "request_code" => {
            let method = string_param(params, "code_method")?;
            string_param(params, "language")?;
            shared.request_code(&number, &method.to_ascii_uppercase())?;
        }
        "verify_code" => {
            let code = match params.get("code") {
                Some(Value::Number(n)) => n.to_string(),
                _ => string_param(params, "code")?.to_owned(),
            };
            shared.verify_code(&number, &code)?;
            return Ok(json!({"success": true, "id": &*number.id}));
        }
        "register" => {
            if let Some(product) = params.get("messaging_product")
                && product.as_str() != Some("whatsapp")
            {
                return Err(ApiError::param(
                    "Param messaging_product must be 'whatsapp'.",
                ));
            }
            let pin = match params.get("pin") {
                Some(Value::Number(n)) => n.to_string(),
                _ => string_param(params, "pin")?.to_owned(),
            };
            shared.register(&number, &pin)?;
        }
        _ => shared.deregister(&number)?,
    }
    Ok(success())
}

async fn edge_get(
    State(shared): Shr,
    Path((version, id, edge)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = gate(&shared, &version, &headers, query.as_deref(), &id) {
        return error_response(&shared, &error);
    }
    let query = query_map(query.as_deref());
    let result = match edge.as_str() {
        "message_templates" if shared.is_waba(&id) => {
            list_templates(&shared, &version, &id, &query)
        }
        "phone_numbers" if shared.is_waba(&id) => {
            let data: Vec<Value> = shared
                .numbers_of_waba(&id)
                .iter()
                .map(|n| shared.number_json(n))
                .collect();
            let cursors = data
                .first()
                .zip(data.last())
                .map(|(first, last)| {
                    json!({
                        "before": ids::base64(first["id"].as_str().unwrap_or("").as_bytes()),
                        "after": ids::base64(last["id"].as_str().unwrap_or("").as_bytes()),
                    })
                })
                .unwrap_or_else(|| json!({}));
            Ok(json!({"data": data, "paging": {"cursors": cursors}}))
        }
        "message_templates" | "phone_numbers" => Err(ApiError::unknown_object(&id, "get")),
        other => Err(ApiError::param(format!(
            "Unknown path components: /{other}"
        ))),
    };
    reply(&shared, result)
}

fn list_templates(
    shared: &Shared,
    version: &str,
    waba: &str,
    query: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let limit = match query.get("limit") {
        None => 25,
        Some(limit) => match limit.parse::<usize>() {
            Ok(limit) if (1..=1000).contains(&limit) => limit,
            _ => {
                return Err(ApiError::param(
                    "Param limit must be a number from 1 to 1000.",
                ));
            }
        },
    };
    let name = query.get("name");
    let status = query.get("status").map(|s| s.to_ascii_uppercase());
    let language = query.get("language");
    let category = query.get("category").map(|s| s.to_ascii_uppercase());
    let all = shared.list_templates(waba, |t| {
        name.is_none_or(|n| t.name.contains(n.as_str()))
            && status.as_ref().is_none_or(|s| t.status == *s)
            && language.is_none_or(|l| t.language == *l)
            && category.as_ref().is_none_or(|c| t.category == *c)
    });
    let start = match query.get("after") {
        None => 0,
        Some(cursor) => {
            let position = all
                .iter()
                .position(|t| ids::base64(t.id.as_bytes()) == *cursor)
                .ok_or_else(|| ApiError::param("Param after is not a valid cursor."))?;
            position + 1
        }
    };
    let page: Vec<_> = all.iter().skip(start).take(limit).collect();
    let data: Vec<Value> = page.iter().map(|t| t.to_json()).collect();
    let mut paging = json!({});
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        let after = ids::base64(last.id.as_bytes());
        paging["cursors"] = json!({
            "before": ids::base64(first.id.as_bytes()),
            "after": after,
        });
        if start + page.len() < all.len() {
            paging["next"] = format!(
                "{}/{version}/{waba}/message_templates?limit={limit}&after={after}",
                shared.base_url
            )
            .into();
        }
    }
    Ok(json!({"data": data, "paging": paging}))
}

async fn edge_delete(
    State(shared): Shr,
    Path((version, id, edge)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = gate(&shared, &version, &headers, query.as_deref(), &id) {
        return error_response(&shared, &error);
    }
    let query = query_map(query.as_deref());
    let result = match edge.as_str() {
        "message_templates" if shared.is_waba(&id) => match query.get("name") {
            None => Err(ApiError::missing("name")),
            Some(name) => {
                let hsm_id = query.get("hsm_id").map(String::as_str);
                if shared.delete_templates(&id, name, hsm_id) == 0 {
                    Err(ApiError::param(format!(
                        "Message template \"{name}\" does not exist."
                    )))
                } else {
                    Ok(success())
                }
            }
        },
        "message_templates" => Err(ApiError::unknown_object(&id, "delete")),
        other => Err(ApiError::param(format!(
            "Unknown path components: /{other}"
        ))),
    };
    reply(&shared, result)
}

// ----- /{version}/{id} ------------------------------------------------------------------------

async fn object_get(
    State(shared): Shr,
    Path((version, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = gate(&shared, &version, &headers, query.as_deref(), &id) {
        return error_response(&shared, &error);
    }
    if let Some(number) = shared.number(&id) {
        return reply(&shared, Ok(shared.number_json(&number)));
    }
    if let Some(template) = shared.template(&id) {
        return reply(&shared, Ok(template.to_json()));
    }
    let media = shared.media.read().get(&id).cloned();
    let query = query_map(query.as_deref());
    let result = match media {
        Some(media)
            if query
                .get("phone_number_id")
                .is_none_or(|p| **p == *media.owner) =>
        {
            let exp = unix_now() + shared.config.media_url_ttl.as_secs() as i64;
            let hash = ids::hex64(ids::draw(shared.config.seed, &media.id, exp as u64));
            Ok(json!({
                "messaging_product": "whatsapp",
                "url": format!(
                    "{}/whatsapp_business/attachments/?mid={}&ext={exp}&hash={hash}",
                    shared.base_url, media.id
                ),
                "mime_type": media.mime_type,
                "sha256": media.sha256,
                "file_size": media.body.len().to_string(),
                "id": media.id,
            }))
        }
        _ => Err(ApiError::unknown_object(&id, "get")),
    };
    reply(&shared, result)
}

async fn object_post(
    State(shared): Shr,
    Path((version, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(error) = gate(&shared, &version, &headers, query.as_deref(), &id) {
        return error_response(&shared, &error);
    }
    let params = match params(&headers, &body, query.as_deref()) {
        Ok(params) => params,
        Err(error) => return error_response(&shared, &error),
    };
    let result = if let Some(number) = shared.number(&id) {
        match params.get("pin") {
            Some(Value::String(pin)) => shared.set_pin(&number, pin).map(|()| success()),
            _ => Ok(success()),
        }
    } else if shared.template(&id).is_some() {
        match params.get("components") {
            Some(Value::Array(components)) => {
                shared.update_template_components(&id, Value::Array(components.clone()));
                Ok(success())
            }
            _ => Ok(success()),
        }
    } else {
        Err(ApiError::unknown_object(&id, "post"))
    };
    reply(&shared, result)
}

async fn object_delete(
    State(shared): Shr,
    Path((version, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(error) = gate(&shared, &version, &headers, query.as_deref(), &id) {
        return error_response(&shared, &error);
    }
    let query = query_map(query.as_deref());
    let mut media = shared.media.write();
    let owned = media
        .get(&id)
        .is_some_and(|m| query.get("phone_number_id").is_none_or(|p| **p == *m.owner));
    let result = if owned {
        media.remove(&id);
        Ok(success())
    } else {
        Err(ApiError::unknown_object(&id, "delete"))
    };
    drop(media);
    reply(&shared, result)
}

// ----- media ----------------------------------------------------------------------------------

/// Supported MIME types and their size limits (reference §2.5).
fn media_limit(mime: &str) -> Option<usize> {
    const MB: usize = 1024 * 1024;
    let base = mime.split(';').next().unwrap_or(mime).trim();
    match base {
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => Some(16 * MB),
        "text/plain"
        | "application/pdf"
        | "application/vnd.ms-powerpoint"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => Some(100 * MB),
        "image/jpeg" | "image/png" => Some(5 * MB),
        "image/webp" => Some(500 * 1024),
        "video/mp4" | "video/3gp" | "video/3gpp" => Some(16 * MB),
        _ => None,
    }
}

async fn upload(
    shared: &Shared,
    owner: &Arc<str>,
    mut multipart: Multipart,
) -> Result<Value, ApiError> {
    let (mut file, mut file_type, mut mime, mut product) = (None, None, None, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                return Err(ApiError::param(format!(
                    "Malformed multipart body: {error}"
                )));
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let content_type = field.content_type().map(str::to_owned);
        let data = field
            .bytes()
            .await
            .map_err(|error| ApiError::param(format!("Malformed multipart body: {error}")))?;
        match name.as_str() {
            "file" => {
                file = Some(data);
                file_type = content_type;
            }
            "type" => mime = Some(String::from_utf8_lossy(&data).into_owned()),
            "messaging_product" => product = Some(String::from_utf8_lossy(&data).into_owned()),
            _ => {}
        }
    }
    match product.as_deref() {
        None => return Err(ApiError::missing("messaging_product")),
        Some("whatsapp") => {}
        Some(_) => {
            return Err(ApiError::param(
                "Param messaging_product must be 'whatsapp'.",
            ));
        }
    }
    let file = file.ok_or_else(|| ApiError::missing("file"))?;
    let mime = mime
        .or(file_type)
        .ok_or_else(|| ApiError::missing("type"))?;
    let limit = media_limit(&mime).ok_or_else(|| {
        ApiError::new(
            codes::MEDIA_UPLOAD,
            format!("Param file must be a file of a supported type; '{mime}' is not supported."),
        )
    })?;
    if file.is_empty() || file.len() > limit.min(shared.config.max_upload_bytes) {
        return Err(ApiError::new(
            codes::MEDIA_UPLOAD,
            format!(
                "Param file must be between 1 and {limit} bytes for {mime}, got {}.",
                file.len()
            ),
        ));
    }
    let sha256 = Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let id = shared.next_object_id("media");
    shared.media.write().insert(
        id.clone(),
        Arc::new(Media {
            id: id.clone(),
            owner: Arc::clone(owner),
            mime_type: mime,
            sha256,
            body: MediaBody::Stored(file),
        }),
    );
    Ok(json!({"id": id}))
}

async fn download(State(shared): Shr, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    if let Err(error) = check_token(&shared, &headers, None, None) {
        return error_response(&shared, &error);
    }
    let query = query_map(query.as_deref());
    let (Some(id), Some(exp), Some(hash)) = (query.get("mid"), query.get("ext"), query.get("hash"))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let exp: i64 = exp.parse().unwrap_or(0);
    let valid =
        exp >= unix_now() && *hash == ids::hex64(ids::draw(shared.config.seed, id, exp as u64));
    let media = shared.media.read().get(id).cloned();
    match media {
        Some(media) if valid => {
            let mut response = match &media.body {
                MediaBody::Stored(data) => (StatusCode::OK, data.clone()).into_response(),
                MediaBody::Generated(generated) => {
                    let mut response =
                        axum::body::Body::from_stream(generated.stream()).into_response();
                    if let Ok(length) = HeaderValue::from_str(&generated.size.to_string()) {
                        response
                            .headers_mut()
                            .insert(header::CONTENT_LENGTH, length);
                    }
                    response
                }
            };
            if let Ok(value) = HeaderValue::from_str(&media.mime_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
