//! OpenAI <-> Anthropic and both <- Bedrock Converse translation of requests, responses,
//! errors and streams (SSE, or AWS event-stream frames for Converse) on arbitrary
//! input: never a panic, and whatever is produced is valid JSON / SSE.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::translate::{
    translate_error, translate_request, translate_response, Direction, StreamTranslator,
};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let direction = match data[0] & 3 {
        0 => Direction::ChatClientMessagesLane,
        1 => Direction::MessagesClientChatLane,
        2 => Direction::ChatClientConverseLane,
        _ => Direction::MessagesClientConverseLane,
    };
    let body = &data[1..];
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        if let Ok(out) = translate_request(direction, &map, "model", 1024) {
            serde_json::to_vec(&serde_json::Value::Object(out)).expect("translated request serialises");
        }
    }
    if let Ok(out) = translate_response(direction, body, "client-model", 1) {
        serde_json::from_slice::<serde_json::Value>(&out).expect("translated response is JSON");
    }
    serde_json::from_slice::<serde_json::Value>(&translate_error(direction, body))
        .expect("translated error is JSON");
    let mut t = StreamTranslator::new(direction, "client-model", data[0] & 4 == 0);
    let chunk = usize::from(data[0] >> 3) % 13 + 1;
    for part in body.chunks(chunk) {
        let _ = t.push(part);
    }
    let _ = t.finish();
});
