//! What a chat turn answers with, decided the same way for every provider from the
//! tools offered, the client's tool choice, whose turn it is and the requested output
//! format:
//!
//! * a named tool choice calls that tool; "required" (`any`) calls the first tool;
//! * "auto" (or no choice) calls the first tool when the conversation ends with the
//!   user asking, and answers in text once a tool result is the last thing said;
//! * "none" never calls a tool;
//! * otherwise a requested JSON format is answered with a minimal instance of its
//!   schema, and anything else with the deterministic text answer.
//!
//! Tool arguments and JSON answers are minimal instances of the schema
//! ([`crate::schema_instance`]); they count `ceil(bytes / 4)` output tokens and are
//! never cut short by the output limit.

use serde_json::Value;

use crate::schema_instance::instance;
use crate::usage::{input_tokens_for_bytes, Answer};

/// The client's tool choice, in provider-neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice<'a> {
    Auto,
    Never,
    Required,
    Named(&'a str),
}

/// A tool the client offered: its name and the JSON Schema of its input.
#[derive(Debug, Clone, Copy)]
pub struct Tool<'a> {
    pub name: &'a str,
    pub schema: &'a Value,
}

/// Everything in a request that decides the kind of answer.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub tools: Vec<Tool<'a>>,
    pub choice: Choice<'a>,
    /// Whether the conversation ends with the user asking (not with a tool result).
    pub user_asks: bool,
    /// The schema a JSON answer must follow, when the client asked for JSON.
    pub format: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Text(Answer),
    /// A JSON document as the answer's text.
    Json(String),
    ToolCall {
        name: String,
        arguments: String,
    },
}

/// Characters per streamed JSON or argument fragment.
const CHARS_PER_FRAGMENT: usize = 12;

impl Output {
    /// The answer to `ask`; `text` is the deterministic text answer, used when neither a
    /// tool call nor JSON is due. An `Err` names a tool choice that matches no tool.
    pub fn decide(ask: &Ask, text: impl FnOnce() -> Answer) -> Result<Output, String> {
        let call = match ask.choice {
            Choice::Never => None,
            Choice::Named(name) => Some(
                ask.tools
                    .iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| format!("tool_choice names `{name}`, which is not in tools"))?,
            ),
            Choice::Required => ask.tools.first(),
            Choice::Auto => ask.tools.first().filter(|_| ask.user_asks),
        };
        if let Some(tool) = call {
            return Ok(Output::ToolCall {
                name: tool.name.to_owned(),
                arguments: instance(tool.schema).to_string(),
            });
        }
        if let Some(schema) = &ask.format {
            return Ok(Output::Json(instance(schema).to_string()));
        }
        Ok(Output::Text(text()))
    }

    pub fn output_tokens(&self) -> u64 {
        match self {
            Output::Text(answer) => answer.output_tokens(),
            Output::Json(json) => input_tokens_for_bytes(json.len()),
            Output::ToolCall { arguments, .. } => input_tokens_for_bytes(arguments.len()),
        }
    }

    /// Whether the output limit cut the answer short.
    pub fn truncated(&self) -> bool {
        matches!(self, Output::Text(answer) if answer.truncated)
    }

    /// The answer's text, if it answers in text (plain or JSON).
    pub fn text(&self) -> Option<&str> {
        match self {
            Output::Text(answer) => Some(&answer.text),
            Output::Json(json) => Some(json),
            Output::ToolCall { .. } => None,
        }
    }

    /// The text cut into stream deltas (`words_per_delta` words for plain text).
    pub fn text_deltas(&self, words_per_delta: usize) -> Vec<String> {
        match self {
            Output::Text(answer) => answer.deltas(words_per_delta),
            Output::Json(json) => fragments(json),
            Output::ToolCall { .. } => Vec::new(),
        }
    }
}

/// `text` in pieces of a few characters (on character boundaries), as providers stream
/// JSON: concatenated they give back `text`.
pub fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(CHARS_PER_FRAGMENT)
        .map(|c| c.iter().collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ask<'a>(tools: Vec<Tool<'a>>, choice: Choice<'a>, user_asks: bool) -> Ask<'a> {
        Ask {
            tools,
            choice,
            user_asks,
            format: None,
        }
    }

    #[test]
    fn tool_choice_decides_the_call() {
        let weather = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let time = json!({"type": "object", "properties": {}});
        let tools = vec![
            Tool {
                name: "weather",
                schema: &weather,
            },
            Tool {
                name: "time",
                schema: &time,
            },
        ];
        let text = || Answer::sized("m", None, 3);
        let called =
            |choice, user_asks| match Output::decide(&ask(tools.clone(), choice, user_asks), text)
                .unwrap()
            {
                Output::ToolCall { name, arguments } => Some((name, arguments)),
                _ => None,
            };
        let weather_call = Some(("weather".to_owned(), r#"{"city":"sim"}"#.to_owned()));
        assert_eq!(called(Choice::Auto, true), weather_call);
        // After a tool result, auto answers in text; required still calls.
        assert_eq!(called(Choice::Auto, false), None);
        assert_eq!(called(Choice::Required, false), weather_call);
        assert_eq!(
            called(Choice::Named("time"), true),
            Some(("time".into(), "{}".into()))
        );
        assert_eq!(called(Choice::Never, true), None);
        assert!(Output::decide(&ask(tools, Choice::Named("nope"), true), text).is_err());
        // No tools, no call, whatever the choice.
        assert_eq!(
            Output::decide(&ask(vec![], Choice::Required, true), text).unwrap(),
            Output::Text(text())
        );
    }

    #[test]
    fn a_json_format_answers_with_an_instance() {
        let mut a = ask(vec![], Choice::Auto, true);
        a.format = Some(
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
        );
        let out = Output::decide(&a, || Answer::sized("m", None, 3)).unwrap();
        assert_eq!(out.text(), Some(r#"{"n":0}"#));
        assert_eq!(out.output_tokens(), 2);
        assert_eq!(out.text_deltas(4).concat(), r#"{"n":0}"#);
    }

    #[test]
    fn fragments_join_back_on_character_boundaries() {
        let text = "{\"name\":\"héllo wörld, a long value\"}";
        let pieces = fragments(text);
        assert!(pieces.len() > 1);
        assert_eq!(pieces.concat(), text);
    }
}
