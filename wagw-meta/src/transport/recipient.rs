//! Addressing a user by business-scoped user id (BSUID) instead of by phone number.
//!
//! Meta gives each user a business-scoped id (`US.13491208655302741918`: the user's country,
//! a dot, an opaque id; parent ids add a segment) next to, and eventually instead of, the
//! phone number in webhooks. A send names such a user in `recipient` instead of `to`. wagw's
//! [`OutboundMessage::to`](wagw_core::content::OutboundMessage::to) holds either form: the
//! transport writes `recipient` when it holds a user id, so a gateway can answer a user whose
//! webhooks carried no phone number.

use serde_json::Value;

/// Whether `to` is a business-scoped user id rather than a phone number or a group id: a
/// two-letter upper-case country code, then one or more `.`-separated segments of ASCII
/// letters and digits (`US.13491208655302741918`, `ID.ENT.8812`).
pub fn is_business_scoped_user_id(to: &str) -> bool {
    let mut segments = to.split('.');
    let country = segments.next().unwrap_or_default();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return false;
    }
    let mut rest = segments.peekable();
    rest.peek().is_some()
        && rest.all(|segment| {
            !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Rewrites a serialised send body addressed to a business-scoped user id: `to` becomes
/// `recipient`. Bodies addressed to a phone number or group, and bodies that already name a
/// `recipient` of their own, are left as they are. Returns whether the body was rewritten.
pub(crate) fn address_by_user_id(body: &mut Value) -> bool {
    let Some(object) = body.as_object_mut() else {
        return false;
    };
    if object.contains_key("recipient") {
        return false;
    }
    let user_id = match object.get("to").and_then(Value::as_str) {
        Some(to) if is_business_scoped_user_id(to) => to.to_owned(),
        _ => return false,
    };
    object.remove("to");
    object.insert("recipient".to_owned(), Value::String(user_id));
    true
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn user_ids_and_phone_numbers() {
        for id in ["US.13491208655302741918", "ID.ENT.8812", "BR.abc123"] {
            assert!(is_business_scoped_user_id(id), "{id}");
        }
        for not in [
            "628123456789",
            "+628123456789",
            "120363027497523030@g.us",
            "us.1349",
            "USA.1349",
            "US.",
            "US..1",
            "US.13-49",
            "",
        ] {
            assert!(!is_business_scoped_user_id(not), "{not}");
        }
    }

    #[test]
    fn rewrites_only_user_ids() {
        let mut body = json!({"to": "US.1349", "type": "text"});
        assert!(address_by_user_id(&mut body));
        assert_eq!(body, json!({"recipient": "US.1349", "type": "text"}));
        let mut phone = json!({"to": "628123456789"});
        assert!(!address_by_user_id(&mut phone));
        assert_eq!(phone, json!({"to": "628123456789"}));
    }
}
