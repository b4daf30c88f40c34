//! Which lane serves a request.
//!
//! The skeleton routes each API to a lane of its native provider: the lane whose model
//! the client asked for, else the first such lane in config order.

use crate::event::ApiKind;
use crate::filter_config::LaneEntry;

pub fn choose_lane<'a>(
    lanes: &'a [LaneEntry],
    api: ApiKind,
    requested_model: &str,
) -> Option<&'a LaneEntry> {
    let provider = api.native_provider();
    let mut candidates = lanes.iter().filter(|l| l.provider == provider);
    let first = candidates.clone().next();
    candidates.find(|l| l.model == requested_model).or(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKind;

    fn lane(id: &str, provider: ProviderKind, model: &str) -> LaneEntry {
        LaneEntry {
            id: id.into(),
            provider,
            model: model.into(),
            credential_env: "K".into(),
            cluster: "c".into(),
            authority: "a".into(),
            max_output_tokens: 100,
        }
    }

    #[test]
    fn prefers_the_requested_model_then_the_first_native_lane() {
        let lanes = vec![
            lane("oa", ProviderKind::Openai, "gpt-4o-mini"),
            lane("ob", ProviderKind::Openai, "gpt-4o"),
            lane("an", ProviderKind::Anthropic, "claude-haiku"),
        ];
        assert_eq!(
            choose_lane(&lanes, ApiKind::ChatCompletions, "gpt-4o")
                .unwrap()
                .id,
            "ob"
        );
        assert_eq!(
            choose_lane(&lanes, ApiKind::Responses, "other").unwrap().id,
            "oa"
        );
        assert_eq!(
            choose_lane(&lanes, ApiKind::Messages, "x").unwrap().id,
            "an"
        );
        assert!(choose_lane(&lanes[..2], ApiKind::Messages, "x").is_none());
    }
}
