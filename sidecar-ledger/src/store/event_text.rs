//! The cost event's enums as stored text. The names are the events' own JSON names
//! (checked against serde in the tests), so the database reads like the wire format
//! and a SQL user can filter with the values they see in the API.

use tollgate_core::event::{ApiKind, CacheStatus, Outcome, UsageSource};

use crate::store::error::StoreError;

// Exhaustive matches, not serde: a new variant in the core fails compilation here
// instead of being stored under a name the reader cannot parse back.

pub fn api_str(v: ApiKind) -> &'static str {
    match v {
        ApiKind::ChatCompletions => "chat_completions",
        ApiKind::Responses => "responses",
        ApiKind::Messages => "messages",
        ApiKind::Embeddings => "embeddings",
        ApiKind::Completions => "completions",
        ApiKind::CountTokens => "count_tokens",
        ApiKind::Passthrough => "passthrough",
        ApiKind::GenerateContent => "generate_content",
        ApiKind::Converse => "converse",
    }
}

pub fn api_from(s: &str) -> Result<ApiKind, StoreError> {
    Ok(match s {
        "chat_completions" => ApiKind::ChatCompletions,
        "responses" => ApiKind::Responses,
        "messages" => ApiKind::Messages,
        "embeddings" => ApiKind::Embeddings,
        "completions" => ApiKind::Completions,
        "count_tokens" => ApiKind::CountTokens,
        "passthrough" => ApiKind::Passthrough,
        "generate_content" => ApiKind::GenerateContent,
        "converse" => ApiKind::Converse,
        _ => return Err(unknown("api", s)),
    })
}

pub fn usage_source_str(v: UsageSource) -> &'static str {
    match v {
        UsageSource::Reported => "reported",
        UsageSource::Estimated => "estimated",
        UsageSource::None => "none",
    }
}

pub fn usage_source_from(s: &str) -> Result<UsageSource, StoreError> {
    Ok(match s {
        "reported" => UsageSource::Reported,
        "estimated" => UsageSource::Estimated,
        "none" => UsageSource::None,
        _ => return Err(unknown("usage_source", s)),
    })
}

pub fn outcome_str(v: Outcome) -> &'static str {
    match v {
        Outcome::Ok => "ok",
        Outcome::ProviderError => "provider_error",
        Outcome::Incomplete => "incomplete",
        Outcome::Refused => "refused",
        Outcome::BadRequest => "bad_request",
    }
}

pub fn outcome_from(s: &str) -> Result<Outcome, StoreError> {
    Ok(match s {
        "ok" => Outcome::Ok,
        "provider_error" => Outcome::ProviderError,
        "incomplete" => Outcome::Incomplete,
        "refused" => Outcome::Refused,
        "bad_request" => Outcome::BadRequest,
        _ => return Err(unknown("outcome", s)),
    })
}

pub fn cache_str(v: CacheStatus) -> &'static str {
    match v {
        CacheStatus::Off => "off",
        CacheStatus::Miss => "miss",
        CacheStatus::Hit => "hit",
        CacheStatus::Bypass => "bypass",
    }
}

pub fn cache_from(s: &str) -> Result<CacheStatus, StoreError> {
    Ok(match s {
        "off" => CacheStatus::Off,
        "miss" => CacheStatus::Miss,
        "hit" => CacheStatus::Hit,
        "bypass" => CacheStatus::Bypass,
        _ => return Err(unknown("cache", s)),
    })
}

fn unknown(field: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {field} value '{value}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_name<T: serde::Serialize>(v: T) -> String {
        serde_json::to_value(v)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn names_match_the_wire_format_and_round_trip() {
        for v in [
            ApiKind::ChatCompletions,
            ApiKind::Responses,
            ApiKind::Messages,
        ] {
            assert_eq!(api_str(v), serde_name(v));
            assert_eq!(api_from(api_str(v)).unwrap(), v);
        }
        for v in [
            UsageSource::Reported,
            UsageSource::Estimated,
            UsageSource::None,
        ] {
            assert_eq!(usage_source_str(v), serde_name(v));
            assert_eq!(usage_source_from(usage_source_str(v)).unwrap(), v);
        }
        for v in [
            Outcome::Ok,
            Outcome::ProviderError,
            Outcome::Incomplete,
            Outcome::Refused,
            Outcome::BadRequest,
        ] {
            assert_eq!(outcome_str(v), serde_name(v));
            assert_eq!(outcome_from(outcome_str(v)).unwrap(), v);
        }
        for v in [
            CacheStatus::Off,
            CacheStatus::Miss,
            CacheStatus::Hit,
            CacheStatus::Bypass,
        ] {
            assert_eq!(cache_str(v), serde_name(v));
            assert_eq!(cache_from(cache_str(v)).unwrap(), v);
        }
        assert!(cache_from("warm").is_err());
    }
}
