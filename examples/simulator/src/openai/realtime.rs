//! `GET /v1/realtime?model=...`: an OpenAI Realtime session over WebSocket, an
//! endpoint Tollgate passes through rather than governs. The bearer key is checked
//! before the upgrade, as for the other OpenAI routes. The server opens with
//! `session.created`; each client `response.create` is answered with
//! `response.created`, a few `response.output_text.delta` events,
//! `response.output_text.done` and a `response.done` carrying the response's usage.
//! Every response's input is the conversation so far; what earlier responses read
//! counts as cached, as the provider's prompt cache would serve it.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::OpenAi;
use crate::exchange::{self, Failure};
use crate::state::Sim;
use crate::usage::input_tokens_for_bytes;

pub const PATH: &str = "/v1/realtime";

/// The words of every answer, one `response.output_text.delta` each.
const ANSWER: [&str; 4] = ["Hello", " from", " the", " simulator."];

pub async fn connect(
    State(sim): State<Arc<Sim>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let target = uri.path_and_query().map(|p| p.as_str().to_string());
    let exchange =
        match exchange::admit_at::<OpenAi>(&sim, PATH, target.as_deref(), &headers, None).await {
            Ok(exchange) => exchange,
            Err(refusal) => return refusal,
        };
    let model = uri
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("model=")))
        .unwrap_or("gpt-realtime")
        .to_string();
    match upgrade {
        Ok(upgrade) => upgrade.on_upgrade(move |socket| session(sim, socket, model)),
        Err(_) => exchange.fail(Failure::InvalidRequest(
            "The realtime API is served over WebSocket: send `Upgrade: websocket`.".into(),
        )),
    }
    .into_response()
}

async fn send(socket: &mut WebSocket, event: Value) -> bool {
    socket
        .send(Message::Text(event.to_string().into()))
        .await
        .is_ok()
}

async fn session(sim: Arc<Sim>, mut socket: WebSocket, model: String) {
    let session_id = sim.new_id("sess_");
    let created = json!({
        "type": "session.created",
        "event_id": sim.new_id("event_"),
        "session": {
            "object": "realtime.session",
            "type": "realtime",
            "id": session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
        }
    });
    if !send(&mut socket, created).await {
        return;
    }
    // Tokens of the conversation read by earlier responses (cached for the next).
    let mut conversation = 0u64;
    while let Some(Ok(message)) = socket.recv().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => {
                // Sends the closing frame answering the client's, as the protocol asks.
                let _ = futures_util::SinkExt::close(&mut socket).await;
                return;
            }
            _ => continue,
        };
        let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else {
            let error = json!({
                "type": "error",
                "event_id": sim.new_id("event_"),
                "error": {"type": "invalid_request_error", "code": "invalid_json",
                    "message": "The event is not valid JSON.", "param": null, "event_id": null}
            });
            if !send(&mut socket, error).await {
                return;
            }
            continue;
        };
        match event["type"].as_str() {
            Some("conversation.item.create") => {
                conversation += input_tokens_for_bytes(text.len());
            }
            Some("response.create") => {
                let read = conversation + input_tokens_for_bytes(text.len());
                let audio = event["response"]["output_modalities"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|v| v == "audio"));
                if !respond(&sim, &mut socket, read, conversation, audio).await {
                    return;
                }
                conversation = read + ANSWER.len() as u64;
            }
            _ => {}
        }
    }
}

/// One response: its events, then `response.done` with `input` tokens read (of them
/// `cached` from earlier turns) and one output token per word (audio tokens when the
/// client asked for audio).
async fn respond(sim: &Sim, socket: &mut WebSocket, input: u64, cached: u64, audio: bool) -> bool {
    let response_id = sim.new_id("resp_");
    let item_id = sim.new_id("item_");
    let response = |status: &str, usage: Value| {
        json!({
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": null,
            "output": [],
            "conversation_id": "conv_sim",
            "output_modalities": [if audio { "audio" } else { "text" }],
            "max_output_tokens": "inf",
            "usage": usage,
            "metadata": null,
        })
    };
    let mut events = vec![json!({
        "type": "response.created",
        "event_id": sim.new_id("event_"),
        "response": response("in_progress", Value::Null),
    })];
    for word in ANSWER {
        events.push(json!({
            "type": "response.output_text.delta",
            "event_id": sim.new_id("event_"),
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": word,
        }));
    }
    events.push(json!({
        "type": "response.output_text.done",
        "event_id": sim.new_id("event_"),
        "response_id": response_id,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "text": ANSWER.concat(),
    }));
    let output = ANSWER.len() as u64;
    let (text_out, audio_out) = if audio { (0, output) } else { (output, 0) };
    events.push(json!({
        "type": "response.done",
        "event_id": sim.new_id("event_"),
        "response": response("completed", json!({
            "total_tokens": input + output,
            "input_tokens": input,
            "output_tokens": output,
            "input_token_details": {
                "text_tokens": input,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": cached,
                "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0, "image_tokens": 0}
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out}
        })),
    }));
    for event in events {
        if !send(socket, event).await {
            return false;
        }
    }
    true
}
