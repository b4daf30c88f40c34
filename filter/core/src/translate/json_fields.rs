//! Reading the JSON of requests and answers: absent and `null` fields alike, and the
//! errors that name what could not be translated.

use serde_json::{Map, Value};

use super::direction::Untranslatable;

/// A field's value, with JSON `null` read as absent (SDKs send explicit nulls for
/// unset options).
pub(super) fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(super) fn refuse(field: &str, lane: &str, why: &str) -> Untranslatable {
    Untranslatable(format!(
        "`{field}` cannot be translated for the {lane} model serving this request: {why}"
    ))
}

pub(super) fn invalid(what: &str) -> Untranslatable {
    Untranslatable(format!("invalid request: {what}"))
}

pub(super) fn unreadable(what: &str) -> Untranslatable {
    Untranslatable(format!(
        "the provider's answer could not be translated: {what}"
    ))
}

pub(super) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Untranslatable> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(unreadable("not a JSON object")),
    }
}
