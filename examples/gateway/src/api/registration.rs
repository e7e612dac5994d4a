//! Number registration with Meta (the Cloud API's replacement for the seeds' QR login):
//! request a code by SMS or voice, verify it, register with the two-step PIN. A registered
//! number becomes `connected` and can send.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::ids::ChannelId;
use wagw_core::model::channel::{Channel, ChannelStatus};
use wagw_core::transport::CodeMethod;

use super::envelope::{Data, ErrorBody, data};
use super::touched;
use crate::app::{AppState, Json, Path};
use crate::auth::{Admin, Auth};
use crate::error::{ApiError, ApiResult};

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_code))
        .routes(routes!(verify_code))
        .routes(routes!(register))
}

/// A registration step's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    /// The channel.
    pub channel_id: uuid::Uuid,
    /// The step done: `code_requested`, `code_verified` or `registered`.
    pub step: String,
    /// The channel's status after it (`pending`, `connected` …).
    pub status: String,
}

fn view(channel: &Channel, step: &str) -> Json<Data<RegistrationView>> {
    let status = serde_json::to_value(channel.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    data(RegistrationView {
        channel_id: channel.id.0,
        step: step.into(),
        status,
    })
}

async fn channel_of(state: &AppState, auth: &Auth<Admin>, id: uuid::Uuid) -> ApiResult<Channel> {
    let channel = state
        .store
        .get_channel(auth.tenant(), ChannelId(id))
        .await?;
    if !state.transport.capabilities().registration {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "NOT_SUPPORTED",
            "this transport cannot register numbers",
        ));
    }
    Ok(channel)
}

/// How to deliver the code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCode {
    /// `SMS` (default) or `VOICE`.
    #[schema(schema_with = method_schema)]
    pub method: Option<CodeMethod>,
    /// The language of the message or call (default `id`).
    pub language: Option<String>,
}

/// Asks Meta to send the number a registration code.
#[utoipa::path(post, path = "/channels/{id}/request-code", tag = "channels",
    params(("id" = uuid::Uuid, Path, description = "Channel id")), request_body = RequestCode,
    responses((status = 200, body = Data<RegistrationView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn request_code(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<RequestCode>,
) -> ApiResult<Response> {
    let channel = channel_of(&state, &auth, id).await?;
    let language = body.language.unwrap_or_else(|| "id".into());
    if language.is_empty()
        || language.len() > 10
        || !language
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
    {
        return Err(ApiError::invalid(
            "language",
            "a language code like id or en_US",
        ));
    }
    state
        .transport
        .request_code(&channel, body.method.unwrap_or(CodeMethod::Sms), &language)
        .await
        .map_err(wagw_core::Error::from)?;
    Ok(touched(channel.id, view(&channel, "code_requested")))
}

/// The code received.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCode {
    /// The 6-digit code (a dash in the middle is allowed).
    pub code: String,
}

/// Verifies the code Meta sent.
#[utoipa::path(post, path = "/channels/{id}/verify-code", tag = "channels",
    params(("id" = uuid::Uuid, Path, description = "Channel id")), request_body = VerifyCode,
    responses((status = 200, body = Data<RegistrationView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn verify_code(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<VerifyCode>,
) -> ApiResult<Response> {
    let channel = channel_of(&state, &auth, id).await?;
    let code: String = body.code.chars().filter(|c| *c != '-').collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid("code", "must be 6 digits"));
    }
    state
        .transport
        .verify_code(&channel, &code)
        .await
        .map_err(wagw_core::Error::from)?;
    Ok(touched(channel.id, view(&channel, "code_verified")))
}

/// The two-step verification PIN.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// 6 digits; set as the number's two-step PIN on first registration.
    pub pin: String,
}

/// Registers the number for the Cloud API; the channel becomes `connected`.
#[utoipa::path(post, path = "/channels/{id}/register", tag = "channels",
    params(("id" = uuid::Uuid, Path, description = "Channel id")), request_body = Register,
    responses((status = 200, body = Data<RegistrationView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<Register>,
) -> ApiResult<Response> {
    let mut channel = channel_of(&state, &auth, id).await?;
    if body.pin.len() != 6 || !body.pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid("pin", "must be 6 digits"));
    }
    state
        .transport
        .register(&channel, &body.pin)
        .await
        .map_err(wagw_core::Error::from)?;
    channel.status = ChannelStatus::Connected;
    channel.updated_at = Utc::now();
    state.store.update_channel(&channel).await?;
    Ok(touched(channel.id, view(&channel, "registered")))
}

/// `CodeMethod`'s wire values, for the OpenAPI document.
fn method_schema() -> utoipa::openapi::schema::Object {
    crate::openapi::nullable_string_enum(&["SMS", "VOICE"])
}
