//! Media upload: a multipart file or a URL fetched through wagw's SSRF guard, its real type
//! read from its bytes (never trusted from the name or the declared type), checked against
//! Meta's per-type size limits, then uploaded to Meta through the transport. The answer is
//! the media id a message then names (`{"type": "image", "image": {"id": …}}`).
//!
//! These routes sit with the imports (50 MiB bodies), so a document between 50 and 100 MB is
//! refused by the body limit before its type is read.

use std::sync::OnceLock;

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::ChannelId;
use wagw_core::net::{GuardedClient, HttpRequest, NetPolicy};
use wagw_core::transport::MediaUpload;

use super::envelope::{Data, ErrorBody, data};
use super::touched;
use crate::app::{AppState, Json};
use crate::auth::{Auth, Send};
use crate::error::{ApiError, ApiResult};

/// Routes (mounted with the large-body routes).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(from_url))
}

/// The largest file the gateway fetches from a URL (the large-body limit of uploads).
pub const FETCH_MAX_BYTES: usize = 50 * 1024 * 1024;

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// Meta's media kinds and what each accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// JPEG or PNG, 5 MB.
    Image,
    /// MP4 or 3GP, 16 MB.
    Video,
    /// AAC, AMR, MP3, M4A or OGG (Opus), 16 MB.
    Audio,
    /// PDF, plain text, Word, Excel, PowerPoint, 100 MB.
    Document,
    /// WebP, 100 KB static, 500 KB animated.
    Sticker,
}

/// What the bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The MIME type Meta is told.
    pub mime_type: &'static str,
    /// The kind it is sent as.
    pub kind: MediaKind,
    /// Meta's size limit for it, in bytes.
    pub limit: u64,
}

/// Reads the type from the bytes and maps it to the types and sizes Meta's media upload
/// accepts. `None`: a type Meta does not take.
pub fn detect(bytes: &[u8]) -> Option<Detected> {
    let found = |mime_type, kind, limit| {
        Some(Detected {
            mime_type,
            kind,
            limit,
        })
    };
    let Some(t) = infer::get(bytes) else {
        // Plain text has no magic number: valid UTF-8 without control bytes counts as text.
        let text = std::str::from_utf8(bytes).is_ok_and(|s| {
            !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        });
        return if text {
            found("text/plain", MediaKind::Document, 100 * MB)
        } else {
            None
        };
    };
    match t.mime_type() {
        "image/jpeg" => found("image/jpeg", MediaKind::Image, 5 * MB),
        "image/png" => found("image/png", MediaKind::Image, 5 * MB),
        "image/webp" if animated_webp(bytes) => found("image/webp", MediaKind::Sticker, 500 * KB),
        "image/webp" => found("image/webp", MediaKind::Sticker, 100 * KB),
        "video/mp4" => found("video/mp4", MediaKind::Video, 16 * MB),
        "video/3gpp" => found("video/3gpp", MediaKind::Video, 16 * MB),
        "audio/aac" => found("audio/aac", MediaKind::Audio, 16 * MB),
        "audio/amr" => found("audio/amr", MediaKind::Audio, 16 * MB),
        "audio/mpeg" => found("audio/mpeg", MediaKind::Audio, 16 * MB),
        "audio/m4a" | "audio/mp4" => found("audio/mp4", MediaKind::Audio, 16 * MB),
        "audio/ogg" | "audio/opus" => found("audio/ogg", MediaKind::Audio, 16 * MB),
        "application/pdf" => found("application/pdf", MediaKind::Document, 100 * MB),
        "application/msword" => found("application/msword", MediaKind::Document, 100 * MB),
        "application/vnd.ms-excel" => {
            found("application/vnd.ms-excel", MediaKind::Document, 100 * MB)
        }
        "application/vnd.ms-powerpoint" => found(
            "application/vnd.ms-powerpoint",
            MediaKind::Document,
            100 * MB,
        ),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => found(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            MediaKind::Document,
            100 * MB,
        ),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => found(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            MediaKind::Document,
            100 * MB,
        ),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => found(
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            MediaKind::Document,
            100 * MB,
        ),
        _ => None,
    }
}

/// An extended WebP (`VP8X`) with the animation flag set.
fn animated_webp(bytes: &[u8]) -> bool {
    bytes.get(12..16) == Some(b"VP8X") && bytes.get(20).is_some_and(|flags| flags & 0x02 != 0)
}

/// Checks `bytes` against what the caller declared (a MIME type or a kind name, either
/// optional) and Meta's limit for the real type.
pub fn check(bytes: &[u8], declared: Option<&str>) -> ApiResult<Detected> {
    let Some(detected) = detect(bytes) else {
        return Err(wagw_core::Error::InvalidContent {
            field: "file".into(),
            reason: "not a type WhatsApp accepts (JPEG, PNG, WebP, MP4, 3GP, AAC, AMR, MP3, \
                     M4A, OGG, PDF, text, Office documents)"
                .into(),
        }
        .into());
    };
    if let Some(declared) = declared.map(|d| d.split(';').next().unwrap_or(d).trim()) {
        let generic = declared.is_empty() || declared == "application/octet-stream";
        let kind_name = serde_json::to_value(detected.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let same = declared.eq_ignore_ascii_case(detected.mime_type)
            || declared.eq_ignore_ascii_case(&kind_name)
            || (declared == "audio/opus" && detected.mime_type == "audio/ogg")
            || (declared == "video/3gp" && detected.mime_type == "video/3gpp");
        if !generic && !same {
            return Err(wagw_core::Error::InvalidContent {
                field: "type".into(),
                reason: format!(
                    "declared {declared} but the bytes are {}",
                    detected.mime_type
                ),
            }
            .into());
        }
    }
    let size = bytes.len() as u64;
    if size > detected.limit {
        return Err(wagw_core::Error::FileTooLarge {
            size,
            limit: detected.limit,
            media_type: detected.mime_type.into(),
        }
        .into());
    }
    Ok(detected)
}

/// Uploaded media.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// Meta's media id (valid 30 days).
    pub id: String,
    /// The channel it was uploaded for.
    pub channel_id: uuid::Uuid,
    /// The type read from the bytes.
    pub mime_type: String,
    /// What to send it as.
    pub kind: MediaKind,
    /// Size in bytes.
    pub size: u64,
    /// The file name given to Meta.
    pub file_name: String,
}

async fn upload_checked(
    state: &AppState,
    tenant: wagw_core::ids::TenantId,
    channel: uuid::Uuid,
    file_name: String,
    declared: Option<&str>,
    bytes: Bytes,
) -> ApiResult<Response> {
    let channel = state.store.get_channel(tenant, ChannelId(channel)).await?;
    let detected = check(&bytes, declared)?;
    let size = bytes.len() as u64;
    let id = state
        .transport
        .upload_media(
            &channel,
            MediaUpload {
                mime_type: detected.mime_type.into(),
                file_name: file_name.clone(),
                data: bytes,
            },
        )
        .await
        .map_err(wagw_core::Error::from)?;
    Ok(touched(
        &id,
        (
            StatusCode::CREATED,
            data(MediaView {
                id: id.clone(),
                channel_id: channel.id.0,
                mime_type: detected.mime_type.into(),
                kind: detected.kind,
                size,
                file_name,
            }),
        ),
    ))
}

/// The multipart form of an upload (for the OpenAPI document; `Deserialize` only carries
/// `deny_unknown_fields` into it, as `read_form` refuses other parts).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UploadForm {
    /// The channel (number) the media is for.
    channel_id: uuid::Uuid,
    /// The file; its part's content type, when given, must match the bytes.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// Optional: the MIME type or kind (`image`, `document` …) the caller expects.
    r#type: Option<String>,
}

fn multipart_error(e: &MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "FILE_TOO_LARGE",
            "the request body is larger than this route accepts",
        );
    }
    ApiError::bad_request(e.body_text())
}

/// Uploads a file (multipart fields `channel_id`, `file`, optional `type`); its real type is
/// read from the bytes and must be one Meta takes, within Meta's limit for it.
#[utoipa::path(post, path = "/media", tag = "media",
    request_body(content = inline(UploadForm), content_type = "multipart/form-data"),
    responses((status = 201, body = Data<MediaView>), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    auth: Auth<Send>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut multipart = multipart.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "FILE_TOO_LARGE",
                "the request body is larger than this route accepts",
            )
        } else {
            ApiError::bad_request(r.body_text())
        }
    })?;
    let (mut channel, mut file, mut declared) = (None, None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e))?
    {
        match field.name().unwrap_or_default() {
            "channel_id" => {
                let text = field.text().await.map_err(|e| multipart_error(&e))?;
                channel = Some(
                    text.trim()
                        .parse::<uuid::Uuid>()
                        .map_err(|_| ApiError::invalid("channel_id", "is not an id"))?,
                );
            }
            "type" => declared = Some(field.text().await.map_err(|e| multipart_error(&e))?),
            "file" => {
                let name = field
                    .file_name()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or("file")
                    .to_owned();
                let part_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|e| multipart_error(&e))?;
                file = Some((name, part_type, bytes));
            }
            other => {
                return Err(ApiError::invalid(
                    other,
                    "unknown field (channel_id, file, type)",
                ));
            }
        }
    }
    let channel = channel.ok_or_else(|| ApiError::invalid("channel_id", "is required"))?;
    let (name, part_type, bytes) = file.ok_or_else(|| ApiError::invalid("file", "is required"))?;
    if bytes.is_empty() {
        return Err(ApiError::invalid("file", "is empty"));
    }
    // An explicit `type` field wins; else the part's own content type is the declaration.
    let declared = declared.or(part_type);
    upload_checked(
        &state,
        auth.tenant(),
        channel,
        name,
        declared.as_deref(),
        bytes,
    )
    .await
}

/// A file to fetch and upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromUrl {
    /// The channel (number) the media is for.
    pub channel_id: uuid::Uuid,
    /// An http(s) URL on the public internet (private, loopback and metadata addresses are
    /// refused).
    pub url: String,
    /// The file name given to Meta (default: the URL's last path segment).
    pub file_name: Option<String>,
    /// Optional: the MIME type or kind the caller expects; a mismatch is refused.
    pub r#type: Option<String>,
}

fn guarded_client() -> ApiResult<&'static GuardedClient> {
    static CLIENT: OnceLock<GuardedClient> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = GuardedClient::new(
        NetPolicy::default()
            .with_max_body_bytes(FETCH_MAX_BYTES)
            .with_total_timeout(std::time::Duration::from_secs(25)),
    )?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Fetches a file through the SSRF guard, reads its real type from the bytes, checks Meta's
/// limit for it and uploads it.
#[utoipa::path(post, path = "/media/from-url", tag = "media", request_body = FromUrl,
    responses((status = 201, body = Data<MediaView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn from_url(
    State(state): State<AppState>,
    auth: Auth<Send>,
    Json(body): Json<FromUrl>,
) -> ApiResult<Response> {
    // The channel first: another tenant's id answers 404 before anything is fetched.
    state
        .store
        .get_channel(auth.tenant(), ChannelId(body.channel_id))
        .await?;
    let url = url::Url::parse(&body.url)
        .map_err(|e| ApiError::invalid("url", format!("not a URL: {e}")))?;
    let response = guarded_client()?
        .send(HttpRequest::new("GET", url.as_str()))
        .await
        .map_err(|failure| match failure {
            wagw_core::net::FetchFailure::TooLarge => {
                ApiError::from(wagw_core::Error::FileTooLarge {
                    size: FETCH_MAX_BYTES as u64 + 1,
                    limit: FETCH_MAX_BYTES as u64,
                    media_type: "unknown".into(),
                })
            }
            other => wagw_core::Error::from(other).into(),
        })?;
    if !(200..300).contains(&response.status) {
        return Err(ApiError::invalid(
            "url",
            format!("the server answered HTTP {}", response.status),
        ));
    }
    let file_name = body.file_name.unwrap_or_else(|| {
        url.path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "file".to_owned())
    });
    upload_checked(
        &state,
        auth.tenant(),
        body.channel_id,
        file_name,
        body.r#type.as_deref(),
        Bytes::from(response.body),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn the_type_comes_from_the_bytes() {
        let d = check(PNG, Some("image/png")).expect("a PNG");
        assert_eq!((d.mime_type, d.kind), ("image/png", MediaKind::Image));
        assert_eq!(
            check(b"%PDF-1.7\n", None).expect("pdf").kind,
            MediaKind::Document
        );
        assert_eq!(
            check(b"halo\n", None).expect("text").mime_type,
            "text/plain"
        );
    }

    #[test]
    fn a_declared_type_that_lies_is_refused() {
        let e = check(PNG, Some("application/pdf")).expect_err("mismatch");
        assert_eq!(e.code, "INVALID_CONTENT");
        let e = check(b"%PDF-1.7\n", Some("image")).expect_err("mismatch");
        assert_eq!(e.code, "INVALID_CONTENT");
        check(PNG, Some("application/octet-stream")).expect("generic is no declaration");
    }

    #[test]
    fn meta_limits_apply_per_type() {
        let mut big = PNG.to_vec();
        big.resize((5 * MB + 1) as usize, 0);
        let e = check(&big, None).expect_err("over 5 MB");
        assert_eq!(e.code, "FILE_TOO_LARGE");
        let mut webp = b"RIFF\0\0\0\0WEBPVP8 ".to_vec();
        webp.resize((100 * KB + 1) as usize, 0);
        assert_eq!(
            check(&webp, None).expect_err("static sticker").code,
            "FILE_TOO_LARGE"
        );
        let mut animated = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\x02".to_vec();
        animated.resize((100 * KB + 1) as usize, 0);
        assert_eq!(
            check(&animated, None).expect("animated").kind,
            MediaKind::Sticker
        );
    }

    #[test]
    fn unknown_binaries_are_refused() {
        let e = check(&[0u8, 1, 2, 3, 0xff], None).expect_err("binary");
        assert_eq!(e.code, "INVALID_CONTENT");
    }
}
