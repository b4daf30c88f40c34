//! What the filter needs to know about a client request body, and the rewrite it makes
//! before the request goes to the provider.

use std::cell::OnceCell;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::event::ApiKind;

/// OpenAI's `max_tokens` default for the legacy completions endpoint.
pub const COMPLETIONS_DEFAULT_MAX_TOKENS: u64 = 16;

/// Longest accepted end-user or workflow label; longer values are cut, not rejected.
pub const MAX_LABEL_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    pub model: String,
    pub stream: bool,
    /// The client itself asked for usage in the stream (OpenAI chat).
    pub client_wants_stream_usage: bool,
    /// End user named in the body (`user`, `safety_identifier`, `metadata.user_id`).
    pub user: Option<String>,
    /// Output limit the client set, if any.
    pub max_output_tokens: Option<u64>,
    /// The OpenAI service tier the client asked for (`flex`, `priority`, …).
    pub service_tier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// A request body: the facts read from it, and the body itself, kept as the client sent
/// it and as a JSON object built on first use (the rewrite preserves every field the
/// filter does not know about). A request sent on to a lane of its own format, as it
/// is, with no cache key to compute, never needs the object.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    pub api: ApiKind,
    pub facts: RequestFacts,
    bytes: Vec<u8>,
    tree: OnceCell<Result<Map<String, Value>, BadRequest>>,
}

fn label(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).and_then(clean_label)
}

/// Trims a user or workflow label to printable text of bounded length.
pub fn clean_label(s: &str) -> Option<String> {
    let cleaned: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_LEN)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// The top-level members the facts are read from; every other member is checked to be
/// well-formed JSON and skipped, without building anything.
const FACT_MEMBERS: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "safety_identifier",
    "metadata",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "service_tier",
];

/// The body's [`FACT_MEMBERS`] (a later duplicate replaces an earlier one, as in a full
/// parse).
struct FactMembers(Map<String, Value>);

impl<'de> Deserialize<'de> for FactMembers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FactMembersVisitor)
    }
}

struct FactMembersVisitor;

impl<'de> Visitor<'de> for FactMembersVisitor {
    type Value = FactMembers;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FactMembers, A::Error> {
        let mut known = Map::new();
        while let Some(MemberName(name)) = map.next_key()? {
            match name {
                Some(name) => {
                    known.insert(name.to_string(), map.next_value()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(FactMembers(known))
    }
}

/// A member's name: one of [`FACT_MEMBERS`], or `None` for any other (read without
/// copying it).
struct MemberName(Option<&'static str>);

impl<'de> Deserialize<'de> for MemberName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(MemberNameVisitor)
    }
}

struct MemberNameVisitor;

impl Visitor<'_> for MemberNameVisitor {
    type Value = MemberName;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<MemberName, E> {
        Ok(MemberName(
            FACT_MEMBERS.iter().find(|m| **m == name).copied(),
        ))
    }
}

fn not_json(e: &serde_json::Error) -> BadRequest {
    BadRequest(format!("request body is not valid JSON: {e}"))
}

/// The whole body as a JSON object.
fn tree_of(bytes: &[u8]) -> Result<Map<String, Value>, BadRequest> {
    match serde_json::from_slice(bytes).map_err(|e| not_json(&e))? {
        Value::Object(body) => Ok(body),
        _ => Err(BadRequest("request body must be a JSON object".into())),
    }
}

impl ParsedRequest {
    /// Reads the facts in one pass over `bytes` that checks the whole body is JSON
    /// (UTF-8 throughout, well-formed) but builds only the members the facts need.
    pub fn parse(api: ApiKind, bytes: impl Into<Vec<u8>>) -> Result<ParsedRequest, BadRequest> {
        let bytes = bytes.into();
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(BadRequest(format!("request body is not valid JSON: {e}")));
        }
        let body = match serde_json::from_slice::<FactMembers>(&bytes) {
            Ok(FactMembers(known)) => known,
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                return Err(BadRequest("request body must be a JSON object".into()))
            }
            Err(e) => return Err(not_json(&e)),
        };
        let facts = facts_of(api, &body)?;
        Ok(ParsedRequest {
            api,
            facts,
            bytes,
            tree: OnceCell::new(),
        })
    }

    /// [`ParsedRequest::parse`] for a request whose body will be needed as an object
    /// (its answer may be cached): one full parse, the facts read from the object.
    pub fn parse_whole(
        api: ApiKind,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<ParsedRequest, BadRequest> {
        let bytes = bytes.into();
        let tree = tree_of(&bytes)?;
        let facts = facts_of(api, &tree)?;
        Ok(ParsedRequest {
            api,
            facts,
            bytes,
            tree: OnceCell::from(Ok(tree)),
        })
    }

    /// The body as the client sent it.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The body as a JSON object, built on first use. Fails only for what the first
    /// pass lets through as well-formed but a full parse refuses (a number out of
    /// range, an escaped lone surrogate): a caller that needs the object refuses the
    /// request with this error.
    pub fn tree(&self) -> Result<&Map<String, Value>, BadRequest> {
        self.tree
            .get_or_init(|| tree_of(&self.bytes))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// [`ParsedRequest::tree`] where the request was already admitted with it (or where
    /// an empty body only loses an estimate): empty if the body cannot be built.
    pub fn body(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.tree().unwrap_or_else(|_| EMPTY.get_or_init(Map::new))
    }

    /// Whether the client's body can go upstream byte for byte: it names the served
    /// model already and needs no `include_usage` added (saves re-encoding it).
    pub fn sent_unchanged(&self, served_model: &str) -> bool {
        !self.adds_stream_usage() && self.facts.model == served_model
    }

    /// Whether Tollgate asks an OpenAI chat stream for `include_usage` the client did
    /// not ask for: the usage-only chunk that brings must not reach the client, on any
    /// path (the lane's stream, a cached stream, a fallback lane's stream).
    pub fn adds_stream_usage(&self) -> bool {
        self.api.chat_stream_shape() && self.facts.stream && !self.facts.client_wants_stream_usage
    }

    /// The body to send upstream: the lane's model, and for OpenAI chat streams,
    /// `stream_options.include_usage` so the stream reports what it cost.
    pub fn upstream_body(&self, served_model: &str) -> Vec<u8> {
        let body = UpstreamBody {
            body: self.body(),
            model: served_model,
            include_usage: self.api.chat_stream_shape() && self.facts.stream,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// The facts of a body, from its [`FACT_MEMBERS`].
fn facts_of(api: ApiKind, body: &Map<String, Value>) -> Result<RequestFacts, BadRequest> {
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(_) => return Err(BadRequest("`model` must be a non-empty string".into())),
        None => return Err(BadRequest("`model` is required".into())),
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(BadRequest("`stream` must be a boolean".into())),
    };
    let client_wants_stream_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let user = match api {
        ApiKind::Messages | ApiKind::CountTokens => {
            label(body.get("metadata").and_then(|m| m.get("user_id")))
        }
        _ => label(body.get("user")).or_else(|| label(body.get("safety_identifier"))),
    };
    let limit_field = match api {
        ApiKind::ChatCompletions => Some(if body.contains_key("max_completion_tokens") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        }),
        ApiKind::Responses => Some("max_output_tokens"),
        ApiKind::Messages | ApiKind::Completions => Some("max_tokens"),
        ApiKind::Embeddings
        | ApiKind::CountTokens
        | ApiKind::Passthrough
        | ApiKind::GenerateContent => None,
        // Clients never call Converse: its limit is `inferenceConfig.maxTokens`.
        ApiKind::Converse => None,
    };
    let max_output_tokens = match limit_field.map(|f| (f, body.get(f))) {
        None | Some((_, None | Some(Value::Null))) => None,
        Some((field, Some(v))) => Some(
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| BadRequest(format!("`{field}` must be a positive integer")))?,
        ),
    };
    // Legacy completions answer 16 tokens at most unless told otherwise.
    let max_output_tokens = match api {
        ApiKind::Completions => max_output_tokens.or(Some(COMPLETIONS_DEFAULT_MAX_TOKENS)),
        ApiKind::Embeddings | ApiKind::CountTokens => Some(0),
        _ => max_output_tokens,
    };
    // Anthropic's request `service_tier` (`auto`, `standard_only`) is a capacity
    // preference, not a price: its usage reports the tier that served.
    let service_tier = match api {
        ApiKind::ChatCompletions | ApiKind::Responses | ApiKind::Completions => body
            .get("service_tier")
            .and_then(Value::as_str)
            .and_then(clean_label),
        _ => None,
    };
    Ok(RequestFacts {
        model,
        stream,
        client_wants_stream_usage,
        user,
        max_output_tokens,
        service_tier,
    })
}

/// The client's body with the lane's model (and `stream_options.include_usage`)
/// written in place as it is serialised, instead of editing a copy of the body: every
/// other member is written from the client's parsed body as it is. Members come out in
/// the map's order, with `model` and `stream_options` where the map would put them.
struct UpstreamBody<'a> {
    body: &'a Map<String, Value>,
    model: &'a str,
    include_usage: bool,
}

impl Serialize for UpstreamBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let options = self.include_usage.then(|| StreamOptions {
            client: self.body.get("stream_options").and_then(Value::as_object),
        });
        let model = Value::String(self.model.to_string());
        let replaced = [
            ("model", Replacement::Model(&model)),
            ("stream_options", Replacement::Options(options)),
        ];
        write_with(s, self.body, &replaced)
    }
}

/// `stream_options` with `include_usage: true`, the client's other options kept.
struct StreamOptions<'a> {
    client: Option<&'a Map<String, Value>>,
}

impl Serialize for StreamOptions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = Map::new();
        let yes = Value::Bool(true);
        write_with(
            s,
            self.client.unwrap_or(&empty),
            &[("include_usage", Replacement::Model(&yes))],
        )
    }
}

enum Replacement<'a> {
    Model(&'a Value),
    /// `None`: the member is written as the client sent it.
    Options(Option<StreamOptions<'a>>),
}

impl Replacement<'_> {
    fn present(&self) -> bool {
        !matches!(self, Replacement::Options(None))
    }
}

impl Serialize for Replacement<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Replacement::Model(v) => v.serialize(s),
            Replacement::Options(Some(o)) => o.serialize(s),
            Replacement::Options(None) => s.serialize_unit(),
        }
    }
}

/// Writes `map` as an object with the members of `replaced` (sorted by key) written
/// instead of the map's own, or added where the map's order would put them.
fn write_with<S: Serializer>(
    s: S,
    map: &Map<String, Value>,
    replaced: &[(&str, Replacement<'_>)],
) -> Result<S::Ok, S::Error> {
    let mut out = s.serialize_map(None)?;
    let mut pending = replaced.iter().filter(|(_, r)| r.present()).peekable();
    for (key, value) in map {
        while let Some((k, r)) = pending.next_if(|(k, _)| *k < key.as_str()) {
            out.serialize_entry(k, r)?;
        }
        match pending.next_if(|(k, _)| *k == key.as_str()) {
            Some((k, r)) => out.serialize_entry(k, r)?,
            None => out.serialize_entry(key, value)?,
        }
    }
    for (k, r) in pending {
        out.serialize_entry(k, r)?;
    }
    out.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_facts_of_each_api() {
        let r = ParsedRequest::parse(
            ApiKind::ChatCompletions,
            br#"{"model":"gpt-4o","stream":true,"user":"alice","max_tokens":50,"messages":[]}"#,
        )
        .unwrap();
        assert_eq!(r.facts.model, "gpt-4o");
        assert!(r.facts.stream && !r.facts.client_wants_stream_usage);
        assert_eq!(r.facts.user.as_deref(), Some("alice"));
        assert_eq!(r.facts.max_output_tokens, Some(50));

        let r = ParsedRequest::parse(
            ApiKind::Messages,
            br#"{"model":"claude","max_tokens":9,"metadata":{"user_id":" bob\n"},"messages":[]}"#,
        )
        .unwrap();
        assert_eq!(r.facts.user.as_deref(), Some("bob"));
        assert!(!r.facts.stream);
    }

    #[test]
    fn rejects_bad_bodies_with_reasons() {
        let err = |b: &[u8]| {
            ParsedRequest::parse(ApiKind::ChatCompletions, b)
                .unwrap_err()
                .0
        };
        assert!(err(b"{").contains("not valid JSON"));
        assert!(err(b"[]").contains("JSON object"));
        assert!(err(b"{}").contains("`model` is required"));
        assert!(err(br#"{"model":3}"#).contains("non-empty string"));
        assert!(err(br#"{"model":"m","stream":"yes"}"#).contains("boolean"));
        assert!(err(br#"{"model":"m","max_tokens":-1}"#).contains("positive integer"));
        assert!(err(b"\xff\xfe").contains("not valid JSON"));
    }

    #[test]
    fn facts_come_from_one_pass_that_checks_the_whole_body() {
        let body = br#"{"messages":[{"role":"user","content":"h\u00e9"}],"model":"a","n":1,"model":"b","tools":[{"x":[1,2.5,null,true]}]}"#;
        let r = ParsedRequest::parse(ApiKind::ChatCompletions, &body[..]).unwrap();
        // A repeated member: the later one counts, as in the full parse.
        assert_eq!(r.facts.model, "b");
        assert_eq!(r.bytes(), &body[..]);
        let full: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(r.tree().unwrap(), full.as_object().unwrap());
        assert_eq!(r.tree().unwrap()["model"], "b");
        // Members the facts do not read must still be JSON, and UTF-8.
        let err = |b: &[u8]| {
            ParsedRequest::parse(ApiKind::ChatCompletions, b)
                .unwrap_err()
                .0
        };
        assert!(err(br#"{"model":"m","messages":[1,]}"#).contains("not valid JSON"));
        assert!(err(br#"{"model":"m","x":"\q"}"#).contains("not valid JSON"));
        assert!(err(b"{\"model\":\"m\",\"x\":\"\xff\"}").contains("not valid JSON"));
        assert!(err(br#"{"model":"m"} {}"#).contains("not valid JSON"));
    }

    #[test]
    fn both_parses_read_the_same_facts_and_object() {
        for (api, body) in [
            (ApiKind::ChatCompletions, &br#"{"model":"a","stream":true,"stream_options":{"include_usage":true},"user":" u ","max_completion_tokens":5,"max_tokens":9,"service_tier":"flex","messages":[]}"#[..]),
            (ApiKind::Messages, br#"{"model":"c","max_tokens":7,"metadata":{"user_id":"bob"},"messages":[{"role":"user","content":"hi"}]}"#),
            (ApiKind::Responses, br#"{"model":"r","max_output_tokens":3,"safety_identifier":"s","input":"hi","model":"r2"}"#),
            (ApiKind::Completions, br#"{"model":"m","prompt":"hi"}"#),
        ] {
            let quick = ParsedRequest::parse(api, body).unwrap();
            let whole = ParsedRequest::parse_whole(api, body).unwrap();
            assert_eq!(quick.facts, whole.facts);
            assert_eq!(quick.tree().unwrap(), whole.tree().unwrap());
        }
        for bad in [
            &b"[]"[..],
            b"{",
            br#"{"model":""}"#,
            br#"{"model":"m","temperature":1e400}"#,
        ] {
            assert!(ParsedRequest::parse_whole(ApiKind::ChatCompletions, bad).is_err());
        }
    }

    #[test]
    fn a_body_only_the_full_parse_refuses_fails_when_its_object_is_needed() {
        for body in [
            &br#"{"model":"m","temperature":1e400}"#[..],
            br#"{"model":"m","messages":[{"content":"\ud800"}]}"#,
        ] {
            let r = ParsedRequest::parse(ApiKind::ChatCompletions, body).unwrap();
            assert!(r.sent_unchanged("m"));
            assert!(r.tree().unwrap_err().0.contains("not valid JSON"));
            assert!(r.body().is_empty());
        }
    }

    #[test]
    fn upstream_body_sets_model_and_stream_usage() {
        let r = ParsedRequest::parse(
            ApiKind::ChatCompletions,
            br#"{"model":"alias","stream":true,"stream_options":{"include_usage":false},"temperature":0.7}"#,
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&r.upstream_body("gpt-4o-mini")).unwrap();
        assert_eq!(out["model"], "gpt-4o-mini");
        assert_eq!(out["stream_options"]["include_usage"], true);
        assert_eq!(out["temperature"], 0.7);

        let r = ParsedRequest::parse(ApiKind::Messages, br#"{"model":"a","stream":true}"#).unwrap();
        let out: Value = serde_json::from_slice(&r.upstream_body("b")).unwrap();
        assert!(out.get("stream_options").is_none());
    }

    /// The upstream body as a copy of the client's, edited.
    fn edited_copy(r: &ParsedRequest, served_model: &str) -> Vec<u8> {
        let mut body = r.body().clone();
        body.insert("model".into(), Value::String(served_model.to_string()));
        if r.api.chat_stream_shape() && r.facts.stream {
            let options = body
                .entry("stream_options")
                .or_insert_with(|| Value::Object(Map::new()));
            if !options.is_object() {
                *options = Value::Object(Map::new());
            }
            if let Value::Object(o) = options {
                o.insert("include_usage".into(), Value::Bool(true));
            }
        }
        serde_json::to_vec(&Value::Object(body)).unwrap()
    }

    #[test]
    fn upstream_bodies_are_the_bytes_of_an_edited_copy() {
        for (api, body) in [
            (
                ApiKind::ChatCompletions,
                r#"{"model":"a","messages":[{"role":"user","content":"hi"}],"temperature":0}"#,
            ),
            (
                ApiKind::ChatCompletions,
                r#"{"model":"a","stream":true,"messages":[]}"#,
            ),
            (
                ApiKind::ChatCompletions,
                r#"{"model":"a","stream":true,"stream_options":{"include_usage":false,"x":1},"z":2}"#,
            ),
            (
                ApiKind::ChatCompletions,
                r#"{"model":"a","stream":true,"stream_options":"odd","a":1}"#,
            ),
            (
                ApiKind::ChatCompletions,
                r#"{"aaa":1,"model":"a","stream":true,"zzz":{"n":[1,2.5,"é"]}}"#,
            ),
            (
                ApiKind::Completions,
                r#"{"model":"a","prompt":"hi","stream":true}"#,
            ),
            (
                ApiKind::Messages,
                r#"{"model":"a","stream":true,"max_tokens":5,"stream_options":{"y":1}}"#,
            ),
            (
                ApiKind::Responses,
                r#"{"model":"a","input":"hi","stream":true}"#,
            ),
        ] {
            let r = ParsedRequest::parse(api, body.as_bytes()).unwrap();
            for served in ["a", "lane-model", "with \"quote\""] {
                assert_eq!(
                    String::from_utf8(r.upstream_body(served)).unwrap(),
                    String::from_utf8(edited_copy(&r, served)).unwrap(),
                    "{body} served as {served}"
                );
            }
        }
    }

    #[test]
    fn bodies_go_upstream_unchanged_only_when_nothing_would_change() {
        let parse = |api, body: &str| ParsedRequest::parse(api, body.as_bytes()).unwrap();
        let chat = ApiKind::ChatCompletions;
        assert!(parse(chat, r#"{"model":"m","messages":[]}"#).sent_unchanged("m"));
        assert!(!parse(chat, r#"{"model":"alias","messages":[]}"#).sent_unchanged("m"));
        // A chat stream without include_usage gets it added; with it, nothing changes.
        assert!(!parse(chat, r#"{"model":"m","stream":true}"#).sent_unchanged("m"));
        let asked = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#;
        assert!(parse(chat, asked).sent_unchanged("m"));
        assert!(parse(ApiKind::Messages, r#"{"model":"m","stream":true}"#).sent_unchanged("m"));
        // Whenever it says unchanged, re-encoding would give the same JSON value.
        for (api, body) in [
            (chat, asked),
            (ApiKind::Messages, r#"{"model":"m","stream":true}"#),
        ] {
            let r = parse(api, body);
            let reencoded: Value = serde_json::from_slice(&r.upstream_body("m")).unwrap();
            assert_eq!(reencoded, serde_json::from_str::<Value>(body).unwrap());
        }
    }

    #[test]
    fn embeddings_completions_and_token_counting() {
        let e = ParsedRequest::parse(
            ApiKind::Embeddings,
            br#"{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","user":"u"}"#,
        )
        .unwrap();
        assert_eq!(
            e.facts.max_output_tokens,
            Some(0),
            "embeddings produce no output"
        );
        assert_eq!(e.facts.user.as_deref(), Some("u"));
        assert!(e.sent_unchanged("text-embedding-3-small"));

        let c = ParsedRequest::parse(
            ApiKind::Completions,
            br#"{"model":"gpt-3.5-turbo-instruct","prompt":"hi","stream":true}"#,
        )
        .unwrap();
        assert_eq!(
            c.facts.max_output_tokens,
            Some(COMPLETIONS_DEFAULT_MAX_TOKENS)
        );
        // Streamed like chat: usage is asked for.
        assert!(!c.sent_unchanged("gpt-3.5-turbo-instruct"));
        let out: Value =
            serde_json::from_slice(&c.upstream_body("gpt-3.5-turbo-instruct")).unwrap();
        assert_eq!(out["stream_options"]["include_usage"], true);
        let c = ParsedRequest::parse(
            ApiKind::Completions,
            br#"{"model":"m","prompt":"hi","max_tokens":40}"#,
        )
        .unwrap();
        assert_eq!(c.facts.max_output_tokens, Some(40));

        let t = ParsedRequest::parse(
            ApiKind::CountTokens,
            br#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(t.facts.max_output_tokens, Some(0));
        assert!(!t.facts.stream);
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(clean_label(&"x".repeat(500)).unwrap().len(), MAX_LABEL_LEN);
        assert_eq!(clean_label("  "), None);
    }
}
