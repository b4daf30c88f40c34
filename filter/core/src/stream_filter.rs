//! Removing the usage chunk Tollgate asked for from an OpenAI chat stream.
//!
//! To account a streamed chat completion the filter sets
//! `stream_options.include_usage`, which makes OpenAI append a chunk with an empty
//! `choices` array and the usage. A client that did not ask for it may not expect a
//! chunk without choices, so the filter re-emits the stream without it. Events are
//! re-emitted whole (`data: ...\n\n`), so chunk boundaries never split one.

use crate::json_scan::{self, Kind};
use crate::sse::SseParser;

/// True for the chunk carrying only usage (`choices: []` and a usage that is not
/// `null`). Scanned, not deserialised: it is asked of every chunk of the stream.
pub fn is_usage_only_chunk(data: &[u8]) -> bool {
    // Most chunks say `"usage":null` or nothing: only a non-null usage needs a look at
    // the rest.
    let Some([choices, usage]) = json_scan::object_fields(data, [b"choices", b"usage"]) else {
        return false;
    };
    usage.is_some_and(|u| json_scan::kind(u) != Kind::Null)
        && choices.is_some_and(json_scan::is_empty_array)
}

#[derive(Debug)]
pub struct UsageChunkStripper {
    parser: SseParser,
}

impl UsageChunkStripper {
    pub fn new(max_event: usize) -> Self {
        UsageChunkStripper {
            parser: SseParser::new(max_event),
        }
    }

    fn emit(out: &mut Vec<u8>, data: &[u8]) {
        if !is_usage_only_chunk(data) {
            write_event(out, data);
        }
    }

    /// Feeds upstream bytes; returns the complete events to pass on now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        self.parser
            .push(chunk, &mut |e| Self::emit(&mut out, &e.data));
        out
    }

    /// Ends the stream: whatever was still buffered.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.parser.finish(&mut |e| Self::emit(&mut out, &e.data));
        out
    }
}

/// Writes one upstream event's data for the client as the stripper re-emits events.
pub fn write_event(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}

/// A whole stream held in memory (a cached answer, a fallback lane's answer) without
/// its usage-only chunks.
pub fn strip_usage_chunks(stream: &[u8]) -> Vec<u8> {
    let mut stripper = UsageChunkStripper::new(stream.len());
    let mut out = stripper.push(stream);
    out.extend(stripper.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n",
        "data: [DONE]\n\n"
    );

    #[test]
    fn strips_only_the_usage_chunk_whatever_the_chunking() {
        let expected = STREAM.replace(
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n",
            "",
        );
        for size in 1..STREAM.len() {
            let mut s = UsageChunkStripper::new(1 << 16);
            let mut out = Vec::new();
            for part in STREAM.as_bytes().chunks(size) {
                out.extend(s.push(part));
            }
            out.extend(s.finish());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected,
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn a_whole_stream_loses_only_its_usage_chunk() {
        let out = strip_usage_chunks(STREAM.as_bytes());
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.matches("data: ").count(), 3);
        assert!(!out.contains("prompt_tokens"));
        assert!(out.starts_with(
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]"
        ));
        assert!(out.ends_with("data: [DONE]\n\n"));
        // A stream without a usage chunk is passed on event for event.
        let plain = STREAM.replace(
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n",
            "",
        );
        assert_eq!(strip_usage_chunks(plain.as_bytes()), plain.as_bytes());
        assert!(strip_usage_chunks(b"").is_empty());
    }

    #[test]
    fn recognises_usage_only_chunks() {
        assert!(is_usage_only_chunk(
            br#"{"choices":[],"usage":{"prompt_tokens":1}}"#
        ));
        assert!(!is_usage_only_chunk(br#"{"choices":[],"usage":null}"#));
        assert!(!is_usage_only_chunk(
            br#"{"choices":[{"index":0}],"usage":{"a":1}}"#
        ));
        assert!(!is_usage_only_chunk(b"[DONE]"));
        // Azure's first chunk has no choices either, but it is the prompt's filter
        // verdict, which Azure clients read: it stays.
        let azure_first = br#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}"#;
        assert!(!is_usage_only_chunk(azure_first));
        assert!(!is_usage_only_chunk(br#"{"usage":{"a":1}}"#));
        assert!(!is_usage_only_chunk(br#"{"choices":null,"usage":{"a":1}}"#));
        assert!(!is_usage_only_chunk(br#"{"choices":{},"usage":{"a":1}}"#));
        assert!(!is_usage_only_chunk(br#"{"choices":[],"usage":{"a":1}"#));
        assert!(is_usage_only_chunk(
            br#" {"usage":{"completion_tokens":1},"id":"c","choices":[ ]} "#
        ));
    }
}
