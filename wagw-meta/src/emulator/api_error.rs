//! Graph API errors as the emulator answers them, in Meta's exact body shape.
//!
//! ```json
//! {"error":{"message":"(#131009) Parameter value is not valid","type":"OAuthException",
//!  "code":131009,"error_data":{"messaging_product":"whatsapp","details":"..."},
//!  "fbtrace_id":"..."}}
//! ```

use serde_json::{Value, json};

/// Error codes the emulator produces (Meta's `error.code`).
pub mod codes {
    /// Invalid or unsupported parameter; also unknown Graph objects (with subcode 33).
    pub const INVALID_PARAMETER: i64 = 100;
    /// Access token missing, invalid or expired.
    pub const ACCESS_TOKEN: i64 = 190;
    /// Permissions error: the token may not act on the asset.
    pub const PERMISSION: i64 = 200;
    /// Phone number not found.
    pub const PHONE_NOT_FOUND: i64 = 803;
    /// Cloud API throughput for the sending number reached.
    pub const RATE_LIMIT_HIT: i64 = 130_429;
    /// Something went wrong.
    pub const UNKNOWN: i64 = 131_000;
    /// Required parameter missing.
    pub const PARAMETER_MISSING: i64 = 131_008;
    /// Parameter value not valid.
    pub const PARAMETER_INVALID: i64 = 131_009;
    /// The user is part of a Meta experiment (asynchronous, `failed` status webhook).
    pub const EXPERIMENT: i64 = 130_472;
    /// Per-user marketing limit (asynchronous, `failed` status webhook).
    pub const MARKETING_LIMIT: i64 = 131_049;
    /// The user stopped marketing messages (asynchronous, `failed` status webhook).
    pub const MARKETING_OPT_OUT: i64 = 131_050;
    /// Message undeliverable (asynchronous, `failed` status webhook).
    pub const UNDELIVERABLE: i64 = 131_026;
    /// Media upload error: unsupported type or too large.
    pub const MEDIA_UPLOAD: i64 = 131_053;
    /// More than 24 hours since the user last wrote (asynchronous, `failed` status webhook).
    pub const REENGAGEMENT: i64 = 131_047;
    /// (business number, user) pair rate limit hit.
    pub const PAIR_RATE_LIMIT: i64 = 131_056;
    /// Template parameter count mismatch.
    pub const TEMPLATE_PARAM_COUNT: i64 = 132_000;
    /// Template parameter format mismatch (media header, named parameters, button types).
    pub const TEMPLATE_PARAM_FORMAT: i64 = 132_012;
    /// Template does not exist in that language, or is not approved.
    pub const TEMPLATE_MISSING: i64 = 132_001;
    /// Template paused.
    pub const TEMPLATE_PAUSED: i64 = 132_015;
    /// Template disabled.
    pub const TEMPLATE_DISABLED: i64 = 132_016;
    /// Two-step verification PIN mismatch.
    pub const PIN_MISMATCH: i64 = 133_005;
    /// Phone number needs verification before it can be registered.
    pub const NEEDS_VERIFICATION: i64 = 133_006;
    /// Phone number not registered on the Cloud API.
    pub const NOT_REGISTERED: i64 = 133_010;
    /// Register/deregister rate limit (10 per 72 hours).
    pub const REGISTER_RATE_LIMIT: i64 = 133_016;
    /// Template with that name and language already exists.
    pub const TEMPLATE_EXISTS: i64 = 2_388_024;
}

/// Meta's title for a code, as it appears in `message` (`(#code) Title`) and in webhook errors.
pub fn title(code: i64) -> &'static str {
    match code {
        codes::INVALID_PARAMETER => "Invalid parameter",
        codes::ACCESS_TOKEN => "Invalid OAuth access token - Cannot parse access token",
        codes::PHONE_NOT_FOUND => "Phone number not found",
        codes::PERMISSION => "Permissions error",
        codes::RATE_LIMIT_HIT => "Rate limit hit",
        codes::UNKNOWN => "Something went wrong",
        codes::PARAMETER_MISSING => "Required parameter is missing",
        codes::PARAMETER_INVALID => "Parameter value is not valid",
        codes::UNDELIVERABLE => "Message undeliverable",
        codes::EXPERIMENT => "User's number is part of an experiment",
        codes::MARKETING_LIMIT => "Message not delivered to maintain healthy ecosystem engagement.",
        codes::MARKETING_OPT_OUT => "User has stopped receiving marketing messages",
        codes::MEDIA_UPLOAD => "Media upload error",
        codes::REENGAGEMENT => "Re-engagement message",
        codes::PAIR_RATE_LIMIT => "(Business Account, Consumer Account) pair rate limit hit",
        codes::TEMPLATE_PARAM_COUNT => {
            "Number of parameters does not match the expected number of params"
        }
        codes::TEMPLATE_MISSING => "Template name does not exist in the translation",
        codes::TEMPLATE_PARAM_FORMAT => {
            "Parameter format does not match format in the created template"
        }
        codes::TEMPLATE_PAUSED => "Template is Paused",
        codes::TEMPLATE_DISABLED => "Template is Disabled",
        codes::PIN_MISMATCH => "Two step verification PIN Mismatch",
        codes::NEEDS_VERIFICATION => "Phone number re-verification needed",
        codes::NOT_REGISTERED => "Account not registered",
        codes::REGISTER_RATE_LIMIT => "Account register deregister rate limit exceeded",
        codes::TEMPLATE_EXISTS => "Content in this language already exists",
        _ => "Unknown error",
    }
}

/// The details Meta attaches to the asynchronous failures the emulator produces.
pub fn async_details(code: i64) -> &'static str {
    match code {
        codes::REENGAGEMENT => {
            "Message failed to send because more than 24 hours have passed since the customer \
             last replied to this number."
        }
        codes::UNDELIVERABLE => "Message Undeliverable.",
        _ => "Message failed to send.",
    }
}

/// One error answer: an HTTP status and Meta's error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Meta's `error.code`.
    pub code: i64,
    /// `error.error_subcode`, when Meta sends one.
    pub subcode: Option<i64>,
    /// `error.type` (`OAuthException`, `GraphMethodException`).
    pub kind: &'static str,
    /// `error.message`; `None` means `(#code) Title`.
    pub message: Option<String>,
    /// `error.error_data.details`, naming the field at fault.
    pub details: Option<String>,
}

impl ApiError {
    /// An `OAuthException` with HTTP 400 and the standard message.
    pub fn new(code: i64, details: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            subcode: None,
            kind: "OAuthException",
            message: None,
            details: Some(details.into()),
        }
    }

    /// 131008: a required parameter is missing.
    pub fn missing(path: &str) -> Self {
        Self::new(
            codes::PARAMETER_MISSING,
            format!("The parameter {path} is required."),
        )
    }

    /// 131008 with details of its own (what requires the missing parameter).
    pub fn missing_details(details: impl Into<String>) -> Self {
        Self::new(codes::PARAMETER_MISSING, details)
    }

    /// 131009: a parameter value is not valid.
    pub fn invalid(details: impl Into<String>) -> Self {
        Self::new(codes::PARAMETER_INVALID, details)
    }

    /// 100: an invalid or unsupported parameter.
    pub fn param(details: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMETER, details)
    }

    /// 190 with HTTP 401: missing or wrong access token.
    pub fn auth(message: &str) -> Self {
        Self {
            status: 401,
            code: codes::ACCESS_TOKEN,
            subcode: None,
            kind: "OAuthException",
            message: Some(message.to_owned()),
            details: None,
        }
    }

    /// 100 subcode 33: the object does not exist (Graph's answer for unknown ids).
    pub fn unknown_object(id: &str, method: &str) -> Self {
        Self {
            status: 400,
            code: codes::INVALID_PARAMETER,
            subcode: Some(33),
            kind: "GraphMethodException",
            message: Some(format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation."
            )),
            details: None,
        }
    }

    /// 200 with HTTP 403: the token may not act on this object (another WABA's asset).
    pub fn permission(id: &str) -> Self {
        Self {
            status: 403,
            code: codes::PERMISSION,
            subcode: None,
            kind: "OAuthException",
            message: Some("(#200) Permissions error".to_owned()),
            details: Some(format!(
                "The access token does not have permission to access object {id}: it was \
                 issued for another WhatsApp Business Account."
            )),
        }
    }

    /// 803 with HTTP 404: phone number not found.
    pub fn phone_not_found() -> Self {
        Self {
            status: 404,
            code: codes::PHONE_NOT_FOUND,
            subcode: None,
            kind: "GraphMethodException",
            message: Some("Phone number not found".to_owned()),
            details: None,
        }
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets the subcode.
    pub fn with_subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// The JSON body with the given `fbtrace_id`.
    pub fn body(&self, fbtrace_id: &str) -> Value {
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| format!("(#{}) {}", self.code, title(self.code)));
        let mut error = json!({
            "message": message,
            "type": self.kind,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = subcode.into();
        }
        error["fbtrace_id"] = fbtrace_id.into();
        json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(#{}) {}", self.code, title(self.code))?;
        if let Some(details) = &self.details {
            write!(f, ": {details}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The `errors[]` item of a `failed` status webhook.
pub(crate) fn webhook_error(code: i64) -> Value {
    json!({
        "code": code,
        "title": title(code),
        "message": title(code),
        "error_data": {"details": async_details(code)},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_meta_shape() {
        let body = ApiError::invalid("text['body'] too long").body("Az8or2yhqkZfEZ-_4Qn_Bam");
        assert_eq!(
            body,
            json!({"error": {
                "message": "(#131009) Parameter value is not valid",
                "type": "OAuthException",
                "code": 131009,
                "error_data": {"messaging_product": "whatsapp", "details": "text['body'] too long"},
                "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
            }})
        );
    }
}
