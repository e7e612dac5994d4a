//! The sandbox: with no Meta credentials, the Cloud API emulator runs in-process, wired to
//! the gateway's own `/webhooks/meta`, with two numbers and an approved `hello_world`
//! template; a tenant, an admin and an API key are seeded so the whole system can be tried
//! with nothing installed. The emulator enforces Meta's rules (24-hour window, limits,
//! template checks), so what works here works the same in production.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagw_core::Store;
use wagw_core::ids::{ChannelId, TenantId};
use wagw_core::model::channel::{Channel, ChannelStatus};
use wagw_core::model::template::{Template, TemplateCategory, TemplateDraft, TemplateStatus};
use wagw_core::model::tenant::{ApiKey, Plan, Role, Scope, Tenant, User};
use wagw_core::phone::{PhoneNumber, normalize};
use wagw_meta::emulator::{Emulator, PhoneNumberSpec, TemplateSpec, UserMessage};

use crate::api::ok;
use crate::app::{AppState, Json};
use crate::auth::{Admin, Auth, hash_password};
use crate::error::{ApiError, ApiResult};
use crate::openapi::Envelope;

/// The sandbox business account.
pub const WABA: &str = "102290129340398";
/// The sandbox numbers: (Meta phone-number id, display number).
pub const NUMBERS: [(&str, &str); 2] = [
    ("106540352242922", "6281100000001"),
    ("106540352242923", "6281100000002"),
];
/// The seeded admin's e-mail.
pub const ADMIN_EMAIL: &str = "admin@sandbox.local";
/// The seeded admin's password (the sandbox listens on loopback by default).
pub const ADMIN_PASSWORD: &str = "sandbox-admin";

/// The running emulator and what was seeded.
#[derive(Debug)]
pub struct Sandbox {
    /// The emulator.
    pub emulator: Emulator,
    /// The seeded tenant.
    pub tenant: TenantId,
    /// The seeded channels, in the order of [`NUMBERS`].
    pub channels: Vec<ChannelId>,
}

/// What the seed produced, to print once.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The tenant.
    pub tenant: TenantId,
    /// A fresh admin API key (a new one at every start; older ones stay valid).
    pub api_key: String,
    /// The channels.
    pub channels: Vec<ChannelId>,
}

/// Starts the emulator, delivering webhooks to `webhook_url` signed with `app_secret`.
pub async fn start_emulator(
    webhook_url: &str,
    app_secret: &str,
    access_token: &str,
) -> Result<Emulator, wagw_meta::Error> {
    let mut builder = Emulator::builder()
        .access_token(access_token)
        .webhook(webhook_url, app_secret);
    for (pnid, display) in NUMBERS {
        builder = builder.number(PhoneNumberSpec::new(pnid, display, WABA));
    }
    builder.start().await
}

fn hello_world() -> TemplateDraft {
    TemplateDraft {
        name: "hello_world".into(),
        language: "en_US".into(),
        category: TemplateCategory::Utility,
        components: vec![json!({ "type": "BODY", "text": "Hello World" })],
    }
}

/// Seeds (or finds again, on a reused data file) the sandbox tenant, admin, channels and
/// template, and makes a fresh API key.
pub async fn seed(store: &dyn Store, emulator: &Emulator) -> wagw_core::Result<Seeded> {
    let tenant = match store.find_channel_by_phone_number_id(NUMBERS[0].0).await {
        Ok(channel) => store.get_tenant(channel.tenant_id).await?,
        Err(wagw_core::Error::NotFound { .. }) => {
            let tenant = Tenant::new("Sandbox", Plan::premium());
            store.create_tenant(&tenant).await?;
            let hash = hash_password(ADMIN_PASSWORD.to_owned())
                .await
                .map_err(|e| wagw_core::Error::invalid_input("password", e.message))?;
            store
                .create_user(&User {
                    id: wagw_core::ids::UserId::new(),
                    tenant_id: tenant.id,
                    email: ADMIN_EMAIL.into(),
                    name: "Sandbox Admin".into(),
                    role: Role::Admin,
                    password_hash: hash,
                    active: true,
                    created_at: chrono::Utc::now(),
                })
                .await?;
            tenant
        }
        Err(e) => return Err(e),
    };
    let mut channels = Vec::new();
    for (i, (pnid, display)) in NUMBERS.iter().enumerate() {
        let channel = match store.find_channel_by_phone_number_id(pnid).await {
            Ok(c) => c,
            Err(wagw_core::Error::NotFound { .. }) => {
                let mut c = Channel::new(
                    tenant.id,
                    format!("sandbox-{}", i + 1),
                    *pnid,
                    WABA,
                    PhoneNumber::from_wa_id(display)?,
                );
                c.status = ChannelStatus::Connected;
                store.create_channel(&c).await?;
                c
            }
            Err(e) => return Err(e),
        };
        channels.push(channel.id);
        // The emulator starts empty each time: register the template again and keep its id.
        let draft = hello_world();
        let remote = emulator.add_template(TemplateSpec::approved(
            WABA,
            draft.name.clone(),
            draft.language.clone(),
            Value::Array(draft.components.clone()),
        ));
        match store
            .find_template(tenant.id, channel.id, &draft.name, &draft.language)
            .await
        {
            Ok(mut t) => {
                t.remote_id = Some(remote);
                t.status = TemplateStatus::Approved;
                store.update_template(&t).await?;
            }
            Err(wagw_core::Error::NotFound { .. }) => {
                let mut t = Template::new(tenant.id, channel.id, draft);
                t.status = TemplateStatus::Approved;
                t.remote_id = Some(remote);
                store.create_template(&t).await?;
            }
            Err(e) => return Err(e),
        }
    }
    let scopes = BTreeSet::from([Scope::Read, Scope::Send, Scope::Write, Scope::Admin]);
    let (key, secret) = ApiKey::generate(tenant.id, "sandbox", scopes, None);
    store.create_api_key(&key).await?;
    Ok(Seeded {
        tenant: tenant.id,
        api_key: secret,
        channels,
    })
}

/// Routes (`/v1/sandbox*`); without a sandbox they answer 404.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(inbound))
}

/// The sandbox, when it runs for `tenant`; 404 otherwise.
pub fn sandbox_of(state: &AppState, tenant: TenantId) -> ApiResult<&Arc<Sandbox>> {
    state
        .sandbox
        .as_ref()
        .filter(|s| s.tenant == tenant)
        .ok_or_else(ApiError::not_found)
}

/// What the sandbox offers.
#[derive(Debug, Serialize, ToSchema)]
struct Overview {
    /// The emulator's base URL.
    emulator: String,
    numbers: Vec<SandboxNumber>,
    /// Approved templates.
    templates: Vec<&'static str>,
    admin: SandboxAdmin,
}

/// A sandbox number and its registration code.
#[derive(Debug, Serialize, ToSchema)]
struct SandboxNumber {
    #[schema(value_type = uuid::Uuid)]
    channel_id: ChannelId,
    phone_number_id: &'static str,
    /// E.164 with `+`.
    display_number: String,
    /// The OTP the emulator expects when registering.
    otp_code: Option<String>,
}

/// The sandbox's admin login.
#[derive(Debug, Serialize, ToSchema)]
struct SandboxAdmin {
    email: &'static str,
    password: &'static str,
    #[schema(value_type = uuid::Uuid)]
    tenant: TenantId,
}

#[utoipa::path(get, path = "/sandbox", tag = "sandbox", summary = "The sandbox: numbers, OTP codes, admin login",
    responses(
        (status = 200, description = "The sandbox", body = Envelope<Overview>),
        (status = 404, description = "No sandbox (or another tenant's)", body = crate::openapi::ErrorBody),
    ))]
async fn overview(State(state): State<AppState>, auth: Auth<Admin>) -> ApiResult<Json<Value>> {
    let sandbox = sandbox_of(&state, auth.tenant())?;
    let numbers = NUMBERS
        .iter()
        .zip(&sandbox.channels)
        .map(|((pnid, display), channel)| SandboxNumber {
            channel_id: *channel,
            phone_number_id: pnid,
            display_number: format!("+{display}"),
            otp_code: sandbox.emulator.verification_code(pnid),
        })
        .collect();
    Ok(ok(Overview {
        emulator: sandbox.emulator.base_url().to_string(),
        numbers,
        templates: vec!["hello_world (en_US)"],
        admin: SandboxAdmin {
            email: ADMIN_EMAIL,
            password: ADMIN_PASSWORD,
            tenant: sandbox.tenant,
        },
    }))
}

/// A user's message to inject.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Inbound {
    channel_id: uuid::Uuid,
    /// The user's number, in any format of the tenant's region.
    from: String,
    text: String,
    name: Option<String>,
}

/// The injected message.
#[derive(Debug, Serialize, ToSchema)]
struct Injected {
    /// Its WhatsApp message id.
    wamid: String,
    /// The sender's wa_id.
    #[schema(value_type = String)]
    from: PhoneNumber,
    #[schema(value_type = uuid::Uuid)]
    channel_id: ChannelId,
}

#[utoipa::path(post, path = "/sandbox/inbound", tag = "sandbox", summary = "Inject a user's message",
    request_body = Inbound,
    responses(
        (status = 200, description = "Injected; the signed webhook follows", body = Envelope<Injected>),
        (status = 404, description = "No sandbox, or no such channel", body = crate::openapi::ErrorBody),
    ))]
/// Injects a user's message: the emulator opens the user's 24-hour window and posts a signed
/// webhook to `/webhooks/meta`, exactly as Meta would.
async fn inbound(
    State(state): State<AppState>,
    auth: Auth<Admin>,
    Json(body): Json<Inbound>,
) -> ApiResult<Json<Value>> {
    let (wamid, from, channel) = inject(
        &state,
        auth.tenant(),
        ChannelId(body.channel_id),
        &body.from,
        body.text,
        body.name,
    )
    .await?;
    Ok(ok(Injected {
        wamid,
        from,
        channel_id: channel,
    }))
}

/// Injects a user's text to one of the tenant's sandbox numbers (the API's
/// `/v1/sandbox/inbound` and the dashboard's panel). Returns the wamid, the sender as
/// normalized, and the channel. 404 without a sandbox of this tenant.
pub async fn inject(
    state: &AppState,
    tenant: TenantId,
    channel: ChannelId,
    from: &str,
    text: String,
    name: Option<String>,
) -> ApiResult<(String, PhoneNumber, ChannelId)> {
    let sandbox = sandbox_of(state, tenant)?;
    let tenant = state.store.get_tenant(tenant).await?;
    let channel = state.store.get_channel(tenant.id, channel).await?;
    let from = normalize(from, tenant.default_region)?;
    if text.is_empty() || text.chars().count() > 4_096 {
        return Err(ApiError::invalid("text", "must have 1 to 4096 characters"));
    }
    let message = UserMessage::text(
        from.as_str(),
        name.unwrap_or_else(|| "Sandbox User".into()),
        text,
    );
    let wamid = sandbox
        .emulator
        .inject_inbound(&channel.phone_number_id, message)
        .map_err(|e| ApiError::invalid("channel_id", format!("the emulator refused: {e:?}")))?;
    Ok((wamid, from, channel.id))
}
