//! Reading a provider's error body, whichever provider wrote it: its message, type and
//! code.

use serde_json::Value;

/// Longest message taken from a body that is not JSON (an HTML page from a gateway).
const MAX_RAW_MESSAGE: usize = 512;

/// The message and type of an error body in either provider's shape (both nest an
/// `error` object with `message` and `type`; OpenAI adds `code`).
pub(super) struct ErrorFacts {
    pub(super) message: String,
    pub(super) kind: Option<String>,
    pub(super) code: Option<String>,
}

pub(super) fn read(body: &[u8]) -> ErrorFacts {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed
        .as_ref()
        .map(|v| &v["error"])
        .filter(|e| e.is_object());
    if let Some(e) = error {
        let text = |k: &str| e[k].as_str().map(str::to_string);
        return ErrorFacts {
            message: text("message").unwrap_or_else(|| "the provider returned an error".into()),
            kind: text("type"),
            code: text("code"),
        };
    }
    let raw = String::from_utf8_lossy(body);
    let raw: String = raw.trim().chars().take(MAX_RAW_MESSAGE).collect();
    ErrorFacts {
        message: if raw.is_empty() {
            "the provider returned an error".into()
        } else {
            raw
        },
        kind: None,
        code: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::translate::{error_to_anthropic, error_to_openai};

    fn parse(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn bodies_that_are_not_json_keep_their_text() {
        let out = parse(error_to_anthropic(b"<html>502 Bad Gateway</html>"));
        assert_eq!(out["error"]["message"], "<html>502 Bad Gateway</html>");
        assert_eq!(out["error"]["type"], "api_error");
        let out = parse(error_to_openai(&vec![b'x'; 5000]));
        assert_eq!(
            out["error"]["message"].as_str().unwrap().len(),
            MAX_RAW_MESSAGE
        );
        assert_eq!(out["error"]["type"], "server_error");
        let out = parse(error_to_openai(b""));
        assert_eq!(out["error"]["message"], "the provider returned an error");
    }
}
