//! SSE parsing and usage extraction on arbitrary bytes in arbitrary chunkings: no panic,
//! bounded memory, and chunking never changes the result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::event::ApiKind;
use tollgate_core::sse::SseParser;
use tollgate_core::usage::UsageTracker;

fn run(api: ApiKind, data: &[u8], chunk: usize) -> UsageTracker {
    let mut usage = UsageTracker::default();
    let mut parser = SseParser::new(4096);
    for part in data.chunks(chunk.max(1)) {
        parser.push(part, &mut |e| usage.observe_stream_event(api, &e.data));
    }
    parser.finish(&mut |e| usage.observe_stream_event(api, &e.data));
    usage
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let chunk = usize::from(data[0]) % 17 + 1;
    let body = &data[1..];
    for api in [
        ApiKind::ChatCompletions,
        ApiKind::Responses,
        ApiKind::Messages,
        ApiKind::Embeddings,
        ApiKind::Completions,
        ApiKind::CountTokens,
        ApiKind::Passthrough,
    ] {
        let whole = run(api, body, body.len().max(1));
        let pieces = run(api, body, chunk);
        assert_eq!(whole, pieces, "chunking changed the usage read from a stream");
        let mut json = UsageTracker::default();
        json.observe_body(api, body);
    }
});
