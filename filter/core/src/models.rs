//! `GET /v1/models` and `GET /v1/models/{id}`, answered by the filter from its
//! configuration: the models a consumer group may ask for (its lanes' models and the
//! routing aliases that reach one of its lanes), in the shape of the client's provider.
//! No provider is called and nothing is charged.

use serde_json::{json, Value};

use crate::config::filter_config::{FilterConfig, GroupEntry};
use crate::config::ProviderKind;

/// What a models request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelsRequest {
    List,
    One(String),
}

impl ModelsRequest {
    /// The request for `path` (query string ignored), if it is a models path.
    pub fn from_path(path: &str) -> Option<ModelsRequest> {
        let path = path.split('?').next().unwrap_or_default();
        let rest = path.strip_prefix("/v1/models")?;
        match rest.trim_end_matches('/') {
            "" => Some(ModelsRequest::List),
            id => id
                .strip_prefix('/')
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .map(|id| ModelsRequest::One(id.to_string())),
        }
    }
}

/// A model a group may ask for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModelEntry {
    pub id: String,
    /// The provider of a lane's model; `tollgate` for a routing alias.
    pub owned_by: String,
}

/// Every model the group may ask for, sorted by id.
pub fn models_for(config: &FilterConfig, group: &GroupEntry) -> Vec<ModelEntry> {
    let allowed = |id: &str| {
        group
            .allowed_lanes
            .as_ref()
            .is_none_or(|a| a.iter().any(|l| l == id))
    };
    let mut out: Vec<ModelEntry> = config
        .lanes
        .iter()
        .filter(|l| allowed(&l.id))
        .map(|l| ModelEntry {
            id: l.model.clone(),
            owned_by: provider_name(l.provider).to_string(),
        })
        .collect();
    for (alias, lanes) in &config.routing.aliases {
        if lanes.iter().any(|l| allowed(l)) && !out.iter().any(|m| &m.id == alias) {
            out.push(ModelEntry {
                id: alias.clone(),
                owned_by: "tollgate".into(),
            });
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.id == b.id);
    out
}

fn provider_name(p: ProviderKind) -> &'static str {
    p.as_str()
}

/// The answer's body in the client's provider's shape: OpenAI's `{"object": "list",
/// "data": [...]}` or Anthropic's paginated `{"data": [...], "has_more": false, ...}`.
pub fn list_body(style: ProviderKind, models: &[ModelEntry]) -> Value {
    match style.wire() {
        // Clients speak OpenAI's or Anthropic's format, never Gemini's or Bedrock's:
        // OpenAI's is the default.
        ProviderKind::Openai
        | ProviderKind::OpenaiCompatible
        | ProviderKind::AzureOpenai
        | ProviderKind::Gemini
        | ProviderKind::VertexAi
        | ProviderKind::Bedrock => json!({
            "object": "list",
            "data": models.iter().map(openai_model).collect::<Vec<_>>(),
        }),
        ProviderKind::Anthropic => json!({
            "data": models.iter().map(anthropic_model).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|m| m.id.as_str()),
            "last_id": models.last().map(|m| m.id.as_str()),
        }),
    }
}

/// One model in the client's provider's shape.
pub fn model_body(style: ProviderKind, model: &ModelEntry) -> Value {
    match style.wire() {
        ProviderKind::Openai
        | ProviderKind::OpenaiCompatible
        | ProviderKind::AzureOpenai
        | ProviderKind::Gemini
        | ProviderKind::VertexAi
        | ProviderKind::Bedrock => openai_model(model),
        ProviderKind::Anthropic => anthropic_model(model),
    }
}

fn openai_model(m: &ModelEntry) -> Value {
    json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by})
}

fn anthropic_model(m: &ModelEntry) -> Value {
    json!({"type": "model", "id": m.id, "display_name": m.id, "created_at": "1970-01-01T00:00:00Z"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::filter_config::FilterConfig;

    fn config() -> FilterConfig {
        FilterConfig::from_config(&crate::config::tests::seed(), "tollgate_ledger").unwrap()
    }

    #[test]
    fn paths() {
        assert_eq!(
            ModelsRequest::from_path("/v1/models"),
            Some(ModelsRequest::List)
        );
        assert_eq!(
            ModelsRequest::from_path("/v1/models/?limit=20"),
            Some(ModelsRequest::List)
        );
        assert_eq!(
            ModelsRequest::from_path("/v1/models/gpt-4o-mini"),
            Some(ModelsRequest::One("gpt-4o-mini".into()))
        );
        assert_eq!(ModelsRequest::from_path("/v1/models/a/b"), None);
        assert_eq!(ModelsRequest::from_path("/v1/modelsx"), None);
        assert_eq!(ModelsRequest::from_path("/v1/chat/completions"), None);
    }

    #[test]
    fn a_group_sees_its_lanes_models_and_the_aliases_that_reach_them() {
        let mut c = config();
        let all: Vec<String> = c.lanes.iter().map(|l| l.model.clone()).collect();
        let group = c.groups[0].clone();
        let models = models_for(&c, &group);
        for m in &all {
            assert!(
                models.iter().any(|x| &x.id == m),
                "{m} missing from {models:?}"
            );
        }
        assert!(models.windows(2).all(|w| w[0].id < w[1].id));
        // Narrowed to one lane: only its model (and aliases that reach it).
        let mut narrow = group.clone();
        narrow.allowed_lanes = Some(vec![c.lanes[0].id.clone()]);
        c.routing
            .aliases
            .insert("fast".into(), vec![c.lanes[0].id.clone()]);
        c.routing
            .aliases
            .insert("other".into(), vec!["no-such-lane".into()]);
        let ids: Vec<String> = models_for(&c, &narrow).into_iter().map(|m| m.id).collect();
        let mut want = vec![c.lanes[0].model.clone(), "fast".to_string()];
        want.sort();
        assert_eq!(ids, want);
    }

    #[test]
    fn bodies_in_each_providers_shape() {
        let models = vec![
            ModelEntry {
                id: "a".into(),
                owned_by: "openai".into(),
            },
            ModelEntry {
                id: "b".into(),
                owned_by: "tollgate".into(),
            },
        ];
        let o = list_body(ProviderKind::Openai, &models);
        assert_eq!(o["object"], "list");
        assert_eq!(
            o["data"][1],
            json!({"id": "b", "object": "model", "created": 0, "owned_by": "tollgate"})
        );
        let a = list_body(ProviderKind::Anthropic, &models);
        assert_eq!(
            (
                a["has_more"].clone(),
                a["first_id"].clone(),
                a["last_id"].clone()
            ),
            (json!(false), json!("a"), json!("b"))
        );
        assert_eq!(a["data"][0]["type"], "model");
        assert_eq!(model_body(ProviderKind::Anthropic, &models[0])["id"], "a");
    }
}
