//! A streamed answer read once: each upstream event is parsed from the lane's framing
//! (SSE, or a Bedrock lane's AWS event-stream messages) one time, its usage read, then
//! it becomes the client's bytes (passed on as it is, without the usage chunk Tollgate
//! asked for, or translated).
//!
//! The filter calls [`ResponseStream::push`] with every body chunk. Its buffers are kept
//! from chunk to chunk, and it tells the filter whether the client's bytes differ from
//! the chunk at all: a chunk whose events all pass unchanged is left in place instead
//! of being written back to Envoy.

use crate::event::ApiKind;
use crate::lane_stream::LaneStream;
use crate::stream_filter;
use crate::translate::StreamTranslator;
use crate::usage::UsageTracker;

/// What the client receives of the upstream stream.
#[derive(Debug)]
pub enum ClientStream {
    /// The upstream's bytes, untouched.
    AsIs,
    /// The upstream's events without the usage-only chunk the client did not ask for.
    WithoutUsageChunk,
    /// The upstream's events translated into the client's format.
    Translated(Box<StreamTranslator>),
}

#[derive(Debug)]
pub struct ResponseStream {
    /// The API the upstream answers in: its events are read as this API's.
    api: ApiKind,
    framing: LaneStream,
    client: ClientStream,
    /// The client's bytes for the current chunk (reused).
    out: Vec<u8>,
}

impl ResponseStream {
    /// `max_event`: the largest upstream event read; a larger one is skipped (and
    /// counted in [`Self::oversized_events`]).
    pub fn new(api: ApiKind, client: ClientStream, max_event: usize) -> Self {
        ResponseStream {
            api,
            framing: LaneStream::for_api(api, max_event),
            client,
            out: Vec::new(),
        }
    }

    /// Reads one upstream body chunk into `usage`. Returns the bytes the client must
    /// get instead of `chunk`, or `None` when the chunk goes on as it is.
    /// `end_of_stream`: the last chunk; the stream is finished with it.
    pub fn push(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
        usage: &mut UsageTracker,
    ) -> Option<&[u8]> {
        let ResponseStream {
            api,
            framing,
            client,
            out,
        } = self;
        let api = *api;
        out.clear();
        let parser = match framing {
            LaneStream::Sse(parser) => parser,
            LaneStream::Events(decoder) => {
                // No client speaks Converse: its messages are only ever translated.
                let ClientStream::Translated(t) = client else {
                    let _ = decoder.push(chunk, &mut |m| {
                        if m.message_type() == "event" {
                            usage.observe_stream_event(api, &m.payload);
                        }
                    });
                    return None;
                };
                let read = decoder.push(chunk, &mut |m| {
                    if m.message_type() == "event" {
                        usage.observe_stream_event(api, &m.payload);
                    }
                    t.on_message(&m, out);
                });
                if let Err(e) = read {
                    t.broken(&e.to_string(), out);
                }
                if end_of_stream {
                    t.finish_into(out);
                }
                return Some(out.as_slice());
            }
        };
        let mut on_event = |e: crate::sse::SseEventRef<'_>| {
            // The usage reader's look at the event also says whether it is the usage
            // chunk.
            let usage_only = usage.observe_stream_event_usage_only(api, e.data);
            match client {
                ClientStream::AsIs => {}
                ClientStream::WithoutUsageChunk if usage_only => {}
                ClientStream::WithoutUsageChunk => stream_filter::write_event(out, e.data),
                ClientStream::Translated(t) => t.on_event(e, out),
            }
        };
        parser.push_borrowed(chunk, &mut on_event);
        if end_of_stream {
            parser.finish_borrowed(&mut on_event);
            if let ClientStream::Translated(t) = client {
                t.finish_into(out);
            }
        }
        match client {
            ClientStream::AsIs => None,
            _ if out.as_slice() == chunk => None,
            _ => Some(out.as_slice()),
        }
    }

    /// Upstream events skipped for exceeding the size limit.
    pub fn oversized_events(&self) -> u32 {
        match &self.framing {
            LaneStream::Sse(parser) => parser.oversized_events,
            // A message over the limit ends the decoding instead (the client's stream
            // then ends with an error).
            LaneStream::Events(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_filter::strip_usage_chunks;
    use crate::translate::Direction;

    const CHAT: &str = concat!(
        "data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n",
        "data: [DONE]\n\n"
    );

    const MESSAGES: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n"
    );

    /// Feeds `input` in chunks of `size`; returns the client's bytes, the usage, and
    /// how many chunks were passed on untouched.
    fn run(
        api: ApiKind,
        make: impl Fn() -> ClientStream,
        input: &str,
        size: usize,
    ) -> (Vec<u8>, UsageTracker, usize) {
        let mut stream = ResponseStream::new(api, make(), 1 << 16);
        let mut usage = UsageTracker::default();
        let mut client = Vec::new();
        let mut untouched = 0;
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            match stream.push(chunk, i + 1 == chunks.len(), &mut usage) {
                Some(replaced) => client.extend_from_slice(replaced),
                None => {
                    untouched += 1;
                    client.extend_from_slice(chunk);
                }
            }
        }
        (client, usage, untouched)
    }

    fn events(input: &str) -> Vec<String> {
        input.split_inclusive("\n\n").map(String::from).collect()
    }

    #[test]
    fn usage_is_read_and_only_the_usage_chunk_is_taken_out_whatever_the_chunking() {
        let expected = strip_usage_chunks(CHAT.as_bytes());
        for size in 1..=CHAT.len() {
            let (client, usage, _) = run(
                ApiKind::ChatCompletions,
                || ClientStream::WithoutUsageChunk,
                CHAT,
                size,
            );
            assert_eq!(client, expected, "chunk size {size}");
            assert_eq!((usage.tokens.input, usage.tokens.output), (3, 1));
            assert_eq!(usage.model.as_deref(), Some("gpt-4o"));
        }
    }

    #[test]
    fn chunks_of_whole_unchanged_events_are_left_in_place() {
        // One event a chunk, as providers flush them: only the usage chunk changes.
        let mut stream = ResponseStream::new(
            ApiKind::ChatCompletions,
            ClientStream::WithoutUsageChunk,
            1 << 16,
        );
        let mut usage = UsageTracker::default();
        let chunks = events(CHAT);
        let replaced: Vec<Option<Vec<u8>>> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                stream
                    .push(c.as_bytes(), i + 1 == chunks.len(), &mut usage)
                    .map(<[u8]>::to_vec)
            })
            .collect();
        assert_eq!(replaced, vec![None, None, Some(Vec::new()), None]);
        assert!(usage.reported);

        // A client that asked for usage gets every chunk untouched, usage still read.
        let (client, usage, untouched) =
            run(ApiKind::ChatCompletions, || ClientStream::AsIs, CHAT, 7);
        assert_eq!(client, CHAT.as_bytes());
        assert_eq!(untouched, CHAT.len().div_ceil(7));
        assert_eq!(usage.tokens.output, 1);
    }

    #[test]
    fn usage_in_the_last_chunk_without_a_blank_line_is_read() {
        let cut = CHAT.trim_end_matches("data: [DONE]\n\n").trim_end();
        let (client, usage, _) = run(
            ApiKind::ChatCompletions,
            || ClientStream::WithoutUsageChunk,
            cut,
            cut.len(),
        );
        assert_eq!(usage.tokens.output, 1, "read at the end of the stream");
        assert!(!String::from_utf8(client).unwrap().contains("prompt_tokens"));
    }

    #[test]
    fn usage_on_every_chunk_keeps_the_latest() {
        let input: String = (1..=3)
            .map(|n| {
                format!(
                    "data: {{\"model\":\"llama\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"ab\"}}}}],\"usage\":{{\"prompt_tokens\":9,\"completion_tokens\":{n}}}}}\n\n"
                )
            })
            .collect::<String>()
            + "data: [DONE]\n\n";
        let (client, usage, untouched) = run(
            ApiKind::ChatCompletions,
            || ClientStream::WithoutUsageChunk,
            &input,
            input.len(),
        );
        assert_eq!(client, input.as_bytes(), "chunks with choices are kept");
        assert_eq!(untouched, 1);
        assert_eq!((usage.tokens.input, usage.tokens.output), (9, 3));
    }

    #[test]
    fn translated_streams_read_the_lanes_usage_and_give_the_clients_events() {
        let direction = Direction::ChatClientMessagesLane;
        let translator = || {
            ClientStream::Translated(Box::new(StreamTranslator::new(
                direction,
                "client-model",
                true,
            )))
        };
        let mut whole = StreamTranslator::new(direction, "client-model", true);
        let mut expected = whole.push(MESSAGES.as_bytes());
        expected.extend(whole.finish());
        for size in [1, 7, 64, MESSAGES.len()] {
            let (client, usage, _) = run(ApiKind::Messages, translator, MESSAGES, size);
            assert_eq!(
                String::from_utf8(client).unwrap(),
                String::from_utf8(expected.clone()).unwrap(),
                "chunk size {size}"
            );
            assert_eq!((usage.tokens.input, usage.tokens.output), (25, 15));
            assert!(usage.output_reported);
        }
        // A cut stream still closes the client's stream at its end.
        let cut = &MESSAGES[..MESSAGES.find("event: content_block_stop").unwrap()];
        let (client, usage, _) = run(ApiKind::Messages, translator, cut, 50);
        let client = String::from_utf8(client).unwrap();
        assert!(client.contains("incomplete_stream"));
        assert!(!usage.output_reported);
    }

    /// A Bedrock ConverseStream answer in its event-stream framing.
    fn converse_stream() -> Vec<u8> {
        use crate::aws::event_stream::encode_event;
        [
            ("messageStart", r#"{"role":"assistant"}"#),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hi "}}"#,
            ),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"there"}}"#,
            ),
            ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            ("messageStop", r#"{"stopReason":"end_turn"}"#),
            (
                "metadata",
                r#"{"usage":{"inputTokens":8,"outputTokens":2,"totalTokens":10,"cacheReadInputTokens":5},"metrics":{"latencyMs":5}}"#,
            ),
        ]
        .iter()
        .flat_map(|(kind, payload)| encode_event(kind, payload.as_bytes()))
        .collect()
    }

    /// Feeds `input` in chunks of `size` through a stream translated for `direction`.
    fn run_converse(direction: Direction, input: &[u8], size: usize) -> (String, UsageTracker) {
        let translator = || {
            StreamTranslator::new(direction, "client-model", true)
                .with_created(7)
                .with_answer_id("req-1")
        };
        let mut stream = ResponseStream::new(
            ApiKind::Converse,
            ClientStream::Translated(Box::new(translator())),
            1 << 16,
        );
        let mut usage = UsageTracker::default();
        let mut client = Vec::new();
        let chunks: Vec<&[u8]> = input.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let replaced = stream.push(chunk, i + 1 == chunks.len(), &mut usage);
            client.extend_from_slice(replaced.expect("a Converse stream is always rewritten"));
        }
        // The same bytes as the translator reading the framing itself.
        let mut whole = translator();
        let mut expected = whole.push(input);
        expected.extend(whole.finish());
        assert_eq!(client, expected, "chunk size {size}");
        (String::from_utf8(client).unwrap(), usage)
    }

    #[test]
    fn bedrock_event_streams_are_read_once_for_usage_and_the_clients_events() {
        let input = converse_stream();
        for direction in [
            Direction::ChatClientConverseLane,
            Direction::MessagesClientConverseLane,
        ] {
            for size in [1, 13, input.len()] {
                let (client, usage) = run_converse(direction, &input, size);
                assert_eq!(
                    (
                        usage.tokens.input,
                        usage.tokens.cached_input,
                        usage.tokens.output
                    ),
                    (8, 5, 2)
                );
                assert!(usage.output_reported);
                assert!(!usage.delivered.is_empty());
                assert!(client.contains("Hi "), "{client}");
                if direction == Direction::ChatClientConverseLane {
                    assert!(client.ends_with("data: [DONE]\n\n"), "{client}");
                } else {
                    assert!(client.contains("event: message_stop"), "{client}");
                }
            }
        }
        // A corrupt message ends the client's stream with an error; the usage after it
        // is not read.
        let mut corrupt = input.clone();
        let n = corrupt.len();
        corrupt[n - 1] ^= 0xff;
        let (client, usage) = run_converse(Direction::MessagesClientConverseLane, &corrupt, 40);
        assert!(client.contains("event: error"), "{client}");
        assert!(client.contains("CRC"), "{client}");
        assert!(!usage.reported);
        // Cut before the answer stopped: an error, not an answer that looks complete.
        let cut = &input[..input.len() / 2];
        let (client, _) = run_converse(Direction::ChatClientConverseLane, cut, 9);
        assert!(client.contains("\"error\""), "{client}");
    }

    #[test]
    fn anthropic_streams_pass_untouched() {
        let (client, usage, untouched) =
            run(ApiKind::Messages, || ClientStream::AsIs, MESSAGES, 100);
        assert_eq!(client, MESSAGES.as_bytes());
        assert_eq!(untouched, MESSAGES.len().div_ceil(100));
        assert_eq!(usage.model.as_deref(), Some("claude-haiku-4-5"));
        assert_eq!(usage.tokens.output, 15);
    }
}
