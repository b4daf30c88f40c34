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
    use super::*;

    #[test]
    fn bodies_that_are_not_json_keep_their_text() {
        let facts = read(b"<html>502 Bad Gateway</html>");
        assert_eq!(facts.message, "<html>502 Bad Gateway</html>");
        assert_eq!((facts.kind, facts.code), (None, None));
        assert_eq!(read(&vec![b'x'; 5000]).message.len(), MAX_RAW_MESSAGE);
        assert_eq!(read(b"").message, "the provider returned an error");
    }

    #[test]
    fn either_providers_error_object_is_read() {
        let facts = read(br#"{"error":{"message":"slow","type":"rate_limit_error","code":"x"}}"#);
        assert_eq!(facts.message, "slow");
        assert_eq!(facts.kind.as_deref(), Some("rate_limit_error"));
        assert_eq!(facts.code.as_deref(), Some("x"));
    }
}
