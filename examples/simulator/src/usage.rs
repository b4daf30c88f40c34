//! The deterministic rules that let tests predict every token count (and so every cost):
//!
//! * input tokens  = ceil(UTF-8 bytes of all request text / 4), at least 1;
//! * the answer    = "Simulated answer from <model>: ..." cut to `min(limit, 24)` words
//!   (at least 1), where `limit` is the request's max-tokens field (`x-sim-answer-words`
//!   asks for a longer or shorter answer than 24 words, the filler repeating);
//! * output tokens = the number of whitespace-separated words in the answer.
//!
//! Cache reads/writes requested through control headers are carved out of the input.

use serde_json::Value;

/// Words in an answer when the request sets no (or a larger) output limit.
pub const DEFAULT_ANSWER_WORDS: u64 = 24;

/// Bytes of request text that count as one input token (a common rule of thumb).
const BYTES_PER_TOKEN: usize = 4;

/// Filler after the "Simulated answer from <model>:" preamble; 20 words, so a full answer
/// (4 preamble words + filler) has exactly `DEFAULT_ANSWER_WORDS`.
const FILLER: [&str; 20] = [
    "this",
    "is",
    "a",
    "deterministic",
    "reply",
    "from",
    "the",
    "Tollgate",
    "provider",
    "simulator",
    "so",
    "tests",
    "can",
    "predict",
    "usage",
    "and",
    "cost",
    "for",
    "every",
    "request",
];

/// Input tokens for `bytes` of request text.
pub fn input_tokens_for_bytes(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN).max(1) as u64
}

/// UTF-8 byte length of the text inside a content value, whatever shape it has:
/// a plain string, or an array of parts where text parts carry `"text"` and nested
/// containers (Anthropic tool results, Responses input items) carry `"content"`.
/// Images, tool schemas and other non-text parts count as nothing.
pub fn text_bytes(content: &Value) -> usize {
    match content {
        Value::String(text) => text.len(),
        Value::Array(parts) => parts.iter().map(text_bytes).sum(),
        Value::Object(part) => {
            if let Some(Value::String(text)) = part.get("text") {
                text.len()
            } else {
                part.get("content").map_or(0, text_bytes)
            }
        }
        _ => 0,
    }
}

/// The deterministic answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    /// Whether the request's output limit cut the answer short ("length" / "max_tokens").
    pub truncated: bool,
}

impl Answer {
    /// The answer for `model` under an optional output-token `limit`.
    #[cfg(test)]
    pub fn new(model: &str, limit: Option<u64>) -> Self {
        Self::sized(model, limit, DEFAULT_ANSWER_WORDS)
    }

    /// An answer of `words` words (the filler repeating), cut to `limit`.
    pub fn sized(model: &str, limit: Option<u64>, words: u64) -> Self {
        // A model name with spaces would add words and break the count rule.
        let model_word = format!(
            "{}:",
            model.split_whitespace().collect::<Vec<_>>().join("_")
        );
        let full = words.max(1);
        let wanted = limit.map_or(full, |l| l.clamp(1, full));
        let text = ["Simulated", "answer", "from", model_word.as_str()]
            .into_iter()
            .chain(FILLER.into_iter().cycle())
            .take(wanted as usize)
            .collect::<Vec<_>>()
            .join(" ");
        Answer {
            text,
            truncated: wanted < full,
        }
    }

    pub fn output_tokens(&self) -> u64 {
        self.text.split_whitespace().count() as u64
    }

    /// The text cut into streaming deltas of a few words each; concatenated they give
    /// back `text` exactly (each piece but the last keeps its trailing space).
    pub fn deltas(&self, words_per_delta: usize) -> Vec<String> {
        let words: Vec<&str> = self.text.split(' ').collect();
        let count = words.chunks(words_per_delta.max(1)).count();
        words
            .chunks(words_per_delta.max(1))
            .enumerate()
            .map(|(i, chunk)| {
                let mut piece = chunk.join(" ");
                if i + 1 < count {
                    piece.push(' ');
                }
                piece
            })
            .collect()
    }
}

/// Token counts for one exchange, before each provider lays them out its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenUsage {
    /// Every prompt token, cached or not (OpenAI's `prompt_tokens` / `input_tokens`).
    pub prompt_total: u64,
    /// Prompt tokens served from the cache.
    pub cache_read: u64,
    /// Prompt tokens written to the cache (for 5 minutes, on Anthropic).
    pub cache_write: u64,
    /// Prompt tokens written to Anthropic's cache for 1 hour.
    pub cache_write_1h: u64,
    /// Web searches run for the request (server-side tool use).
    pub web_searches: u64,
    pub output: u64,
}

impl TokenUsage {
    /// `counted_input` comes from `input_tokens_for_bytes`; the cache figures come from
    /// control headers and are always reported exactly as asked, so when they exceed the
    /// counted prompt the prompt is taken to be that large instead.
    pub fn new(counted_input: u64, cache_read: u64, cache_write: u64, output: u64) -> Self {
        TokenUsage {
            prompt_total: counted_input.max(cache_read + cache_write),
            cache_read,
            cache_write,
            cache_write_1h: 0,
            web_searches: 0,
            output,
        }
    }

    /// Adds 1-hour cache writes (carved out of the prompt like the other cache
    /// figures) and web searches.
    pub fn with_server_side(mut self, cache_write_1h: u64, web_searches: u64) -> Self {
        self.cache_write_1h = cache_write_1h;
        self.web_searches = web_searches;
        self.prompt_total = self
            .prompt_total
            .max(self.cache_read + self.cache_write + cache_write_1h);
        self
    }

    /// Anthropic's `input_tokens`: only the prompt tokens neither read from nor written
    /// to the cache (the API reports those separately and they add up to the prompt).
    pub fn uncached_input(&self) -> u64 {
        self.prompt_total - self.cache_read - self.cache_write - self.cache_write_1h
    }

    pub fn total(&self) -> u64 {
        self.prompt_total + self.output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_tokens_round_up_and_never_hit_zero() {
        assert_eq!(input_tokens_for_bytes(0), 1);
        assert_eq!(input_tokens_for_bytes(1), 1);
        assert_eq!(input_tokens_for_bytes(4), 1);
        assert_eq!(input_tokens_for_bytes(5), 2);
        assert_eq!(input_tokens_for_bytes(400), 100);
    }

    #[test]
    fn text_bytes_counts_utf8_bytes_in_every_content_shape() {
        assert_eq!(text_bytes(&json!("héllo")), 6);
        assert_eq!(
            text_bytes(
                &json!([{"type": "text", "text": "abc"}, {"type": "image_url"}, {"type": "input_text", "text": "de"}])
            ),
            5
        );
        // Anthropic tool_result blocks nest their content.
        assert_eq!(
            text_bytes(
                &json!([{"type": "tool_result", "content": [{"type": "text", "text": "1234"}]}])
            ),
            4
        );
        assert_eq!(text_bytes(&json!(null)), 0);
        assert_eq!(text_bytes(&json!(42)), 0);
    }

    #[test]
    fn full_answer_has_24_words_and_stops_naturally() {
        let answer = Answer::new("gpt-4o-mini", None);
        assert!(answer
            .text
            .starts_with("Simulated answer from gpt-4o-mini: this is"));
        assert_eq!(answer.output_tokens(), 24);
        assert!(!answer.truncated);
        assert_eq!(Answer::new("m", Some(24)), Answer::new("m", None));
        assert_eq!(Answer::new("m", Some(1000)), Answer::new("m", None));
    }

    #[test]
    fn limit_cuts_the_answer_to_that_many_words() {
        let answer = Answer::new("claude-haiku", Some(10));
        assert_eq!(answer.output_tokens(), 10);
        assert!(answer.truncated);
        assert_eq!(Answer::new("m", Some(2)).text, "Simulated answer");
        // A zero limit still yields one word, so usage is never empty.
        assert_eq!(Answer::new("m", Some(0)).output_tokens(), 1);
    }

    #[test]
    fn model_names_with_spaces_do_not_change_the_word_count() {
        assert_eq!(Answer::new("my model", None).output_tokens(), 24);
        // A longer answer asked for by x-sim-answer-words: the filler repeats.
        let long = Answer::sized("m", None, 4000);
        assert_eq!(long.output_tokens(), 4000);
        assert!(!long.truncated);
        assert_eq!(long.deltas(4).len(), 1000);
        let cut = Answer::sized("m", Some(100), 4000);
        assert_eq!((cut.output_tokens(), cut.truncated), (100, true));
    }

    #[test]
    fn deltas_concatenate_back_to_the_text() {
        for limit in [1, 3, 4, 5, 24] {
            let answer = Answer::new("gpt-4o", Some(limit));
            let deltas = answer.deltas(4);
            assert_eq!(deltas.concat(), answer.text);
            assert_eq!(deltas.len(), (limit as usize).div_ceil(4));
        }
    }

    #[test]
    fn cache_tokens_are_carved_out_of_the_prompt() {
        let usage = TokenUsage::new(100, 64, 0, 24);
        assert_eq!(
            (usage.prompt_total, usage.uncached_input(), usage.total()),
            (100, 36, 124)
        );
        let usage = TokenUsage::new(10, 5, 3, 7);
        assert_eq!((usage.prompt_total, usage.uncached_input()), (10, 2));
        let usage = TokenUsage::new(10, 5, 3, 7).with_server_side(4, 2);
        assert_eq!((usage.prompt_total, usage.uncached_input()), (12, 0));
    }

    #[test]
    fn cache_tokens_beyond_the_prompt_grow_the_prompt() {
        let usage = TokenUsage::new(3, 5, 2, 1);
        assert_eq!(
            (usage.prompt_total, usage.cache_read, usage.cache_write),
            (7, 5, 2)
        );
        assert_eq!(usage.uncached_input(), 0);
    }
}
