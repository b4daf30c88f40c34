//! The whole plugin on the [`crate::fake_host`], for the shell's native tests: a root
//! context configured as Envoy would (plugin configuration, `root_id`), HTTP streams
//! driven phase by phase, and the flusher's view of the queued events.

use proxy_wasm::traits::{HttpContext, RootContext};
use proxy_wasm::types::{Action, MapType};
use serde_json::{json, Value};
use tollgate_core::config::filter_config::FilterConfig;
use tollgate_core::config::Config;
use tollgate_core::event::CostEvent;
use tollgate_core::outbox::split_event_batch;

use crate::fake_host::{self, LocalReply};
use crate::root::{TollgateRoot, FLUSHER_ROOT_ID, HTTP_ROOT_ID};

/// 2026-11-01T12:00:00Z.
pub const NOW_MS: u64 = 1_793_534_400_000;

/// The seed configuration (two lanes, three teams), as JSON, for tests to adjust.
pub fn seed_config() -> Value {
    json!({
        "version": "1",
        "providers": {
            "routing": {"strategy": "usage_based"},
            "targets": [
                {"id": "openai-gpt4o-mini", "provider": "openai", "model": "gpt-4o-mini",
                 "secret_key_ref": {"env": "TOLLGATE_TEST_OPENAI_KEY"}},
                {"id": "anthropic-haiku", "provider": "anthropic", "model": "claude-haiku-4-5",
                 "secret_key_ref": {"env": "TOLLGATE_TEST_ANTHROPIC_KEY"}}
            ]
        },
        "cache": {"enabled": false},
        "consumer_groups": [
            {"name": "support", "api_key": "kt_support", "wallet_team_id": "team_support"},
            {"name": "engineering", "api_key": "kt_engineering", "wallet_team_id": "team_engineering"}
        ],
        "cost_tracking": {"enabled": true, "wallet_enforcement": false}
    })
}

/// The request headers of an OpenAI chat request with the support team's key.
pub const CHAT_HEADERS: [(&str, &str); 5] = [
    (":method", "POST"),
    (":path", "/v1/chat/completions"),
    (":authority", "tollgate"),
    ("content-type", "application/json"),
    ("authorization", "Bearer kt_support"),
];

/// An OpenAI chat answer from the lane: "hello", 10 prompt and 2 completion tokens.
pub const CHAT_ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}"#;

/// The data plane's ledger token the tests put in the environment.
pub const LEDGER_TOKEN: &str = "tgk_test-ledger-token";

/// A configured HTTP plugin on a fresh fake host.
pub struct Plugin {
    pub root: TollgateRoot,
}

impl Plugin {
    /// Configures the plugin from `config` (the user's YAML shape, as JSON) the way
    /// `render-envoy` and Envoy do: the derived filter configuration as the plugin's
    /// configuration buffer. Returns what `on_configure` returned and the plugin.
    pub fn try_configure(config: &Value) -> (bool, Plugin) {
        fake_host::reset();
        std::env::set_var("TOLLGATE_TEST_OPENAI_KEY", "sk-openai-test");
        std::env::set_var("TOLLGATE_TEST_ANTHROPIC_KEY", "sk-ant-test");
        std::env::set_var("TOLLGATE_LEDGER_TOKEN", LEDGER_TOKEN);
        let config: Config = serde_json::from_value(config.clone()).expect("a valid config");
        assert_eq!(config.validate(), vec![], "the test config is valid");
        let filter = FilterConfig::from_config(&config, "127.0.0.1:8080").expect("derived");
        Self::try_configure_raw(serde_json::to_vec(&filter).expect("serialises"))
    }

    /// As [`Plugin::try_configure`], with the configuration buffer given as is.
    pub fn try_configure_raw(buffer: Vec<u8>) -> (bool, Plugin) {
        Self::configure_root(buffer, HTTP_ROOT_ID)
    }

    /// The singleton event flusher, on the same host as the HTTP plugin configured
    /// before it (so it drains that plugin's queue).
    pub fn flusher(config: &Value) -> Plugin {
        let config: Config = serde_json::from_value(config.clone()).expect("a valid config");
        let filter = FilterConfig::from_config(&config, "127.0.0.1:8080").expect("derived");
        let (ok, plugin) =
            Self::configure_root(serde_json::to_vec(&filter).unwrap(), FLUSHER_ROOT_ID);
        assert!(ok, "the flusher accepted the configuration");
        plugin
    }

    fn configure_root(buffer: Vec<u8>, root_id: &str) -> (bool, Plugin) {
        fake_host::with(|h| {
            h.now_ns = NOW_MS * 1_000_000;
            h.plugin_configuration = buffer;
            h.properties
                .insert("plugin_root_id".into(), root_id.as_bytes().to_vec());
        });
        let mut root = TollgateRoot::default();
        let ok = root.on_configure(0);
        (ok, Plugin { root })
    }

    pub fn configure(config: &Value) -> Plugin {
        let (ok, plugin) = Self::try_configure(config);
        assert!(ok, "on_configure accepted the configuration");
        plugin
    }

    /// A new HTTP stream with these request headers and body (not yet run).
    pub fn stream(&self, headers: &[(&str, &str)], body: &str) -> Stream {
        fake_host::with(|h| {
            h.request_headers = headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            h.request_body = body.as_bytes().to_vec();
            h.response_headers.clear();
            h.response_body.clear();
            h.local_reply = None;
        });
        let flow = self
            .root
            .create_http_context(2)
            .expect("the HTTP root creates streams");
        Stream { flow }
    }

    /// The records for the ledger this VM handed to the flusher's queue (after its
    /// tick), as JSON.
    pub fn queued_records(&mut self) -> Vec<Value> {
        self.root.on_tick();
        fake_host::with(|h| h.queued("tollgate.events"))
            .iter()
            .flat_map(|item| {
                split_event_batch(item)
                    .map(|e| serde_json::from_slice(e).expect("a JSON record"))
                    .collect::<Vec<Value>>()
            })
            .collect()
    }

    /// The cost events among [`Plugin::queued_records`].
    pub fn queued_events(&mut self) -> Vec<CostEvent> {
        self.queued_records()
            .into_iter()
            .filter(|r| r.get("lease_closed").is_none())
            .map(|r| serde_json::from_value(r).expect("a cost event"))
            .collect()
    }

    /// Answers an HTTP call the root context dispatched (the policy poll).
    pub fn answer_root_call(&mut self, token: u32, status: u16, body: &str) {
        use proxy_wasm::traits::Context;
        fake_host::with(|h| {
            h.call_response_headers = vec![(":status".to_string(), status.to_string())];
            h.call_response_body = body.as_bytes().to_vec();
        });
        self.root.on_http_call_response(token, 0, body.len(), 0);
    }

    /// The HTTP calls dispatched so far (by the root or any stream).
    pub fn http_calls(&self) -> Vec<fake_host::HttpCall> {
        fake_host::with(|h| h.http_calls.clone())
    }

    /// Moves the host's clock forward.
    pub fn advance_ms(&self, ms: u64) {
        fake_host::with(|h| h.now_ns += ms * 1_000_000);
    }

    /// The value of a counter or gauge the plugin defined.
    pub fn metric(&self, name: &str) -> Option<u64> {
        fake_host::with(|h| h.metrics.iter().find(|(n, _)| n == name).map(|m| m.1))
    }
}

/// One HTTP stream through the filter.
pub struct Stream {
    pub flow: Box<dyn HttpContext>,
}

impl Stream {
    /// Runs the request phases: headers, then the whole body.
    pub fn send_request(&mut self) -> (Action, Action) {
        let size = fake_host::with(|h| h.request_body.len());
        let headers = self.flow.on_http_request_headers(0, size == 0);
        if headers != Action::Pause || self.local_reply().is_some() {
            return (headers, Action::Pause);
        }
        (headers, self.flow.on_http_request_body(size, true))
    }

    /// Runs the response phases with the provider's status, headers and body.
    pub fn receive(&mut self, status: u16, headers: &[(&str, &str)], body: &str) -> Action {
        fake_host::with(|h| {
            h.response_headers = std::iter::once((":status".to_string(), status.to_string()))
                .chain(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())))
                .collect();
            h.response_body = body.as_bytes().to_vec();
        });
        let action = self.flow.on_http_response_headers(0, body.is_empty());
        if body.is_empty() {
            return action;
        }
        let size = body.len();
        self.flow.on_http_response_body(size, true)
    }

    /// Runs the response phases for a streamed answer delivered in `chunks`; returns
    /// the bytes the client receives (each chunk as the filter left it).
    pub fn receive_stream(&mut self, status: u16, chunks: &[&str]) -> Vec<u8> {
        let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
        self.receive_stream_of(status, "text/event-stream", &chunks)
    }

    /// [`Stream::receive_stream`] for a stream of any `content_type` (Bedrock's binary
    /// event stream among them).
    pub fn receive_stream_of(
        &mut self,
        status: u16,
        content_type: &str,
        chunks: &[&[u8]],
    ) -> Vec<u8> {
        fake_host::with(|h| {
            h.response_headers = vec![
                (":status".to_string(), status.to_string()),
                ("content-type".to_string(), content_type.to_string()),
            ];
        });
        self.flow.on_http_response_headers(0, false);
        let mut client = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            fake_host::with(|h| h.response_body = chunk.to_vec());
            self.flow
                .on_http_response_body(chunk.len(), i + 1 == chunks.len());
            client.extend(fake_host::with(|h| std::mem::take(&mut h.response_body)));
        }
        client
    }

    /// The HTTP calls the filter has dispatched so far.
    pub fn http_calls(&self) -> Vec<fake_host::HttpCall> {
        fake_host::with(|h| h.http_calls.clone())
    }

    /// Answers the filter's HTTP call `token` (a lease request or a fallback attempt).
    pub fn answer_call(&mut self, token: u32, status: u16, headers: &[(&str, &str)], body: &str) {
        fake_host::with(|h| {
            h.call_response_headers = std::iter::once((":status".to_string(), status.to_string()))
                .chain(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())))
                .collect();
            h.call_response_body = body.as_bytes().to_vec();
        });
        self.flow.on_http_call_response(token, 0, body.len(), 0);
    }

    /// Whether the filter resumed the paused request or response.
    pub fn resumed(&self, stream: proxy_wasm::types::StreamType) -> bool {
        fake_host::with(|h| h.resumed.contains(&stream))
    }

    /// The end of the stream (Envoy's access-log callback).
    pub fn finish(mut self) {
        self.flow.on_log();
    }

    pub fn local_reply(&self) -> Option<LocalReply> {
        fake_host::with(|h| h.local_reply.clone())
    }

    pub fn upstream_header(&self, name: &str) -> Option<String> {
        fake_host::with(|h| h.header(MapType::HttpRequestHeaders, name))
    }

    pub fn response_header(&self, name: &str) -> Option<String> {
        fake_host::with(|h| h.header(MapType::HttpResponseHeaders, name))
    }

    pub fn upstream_body(&self) -> Value {
        fake_host::with(|h| serde_json::from_slice(&h.request_body).expect("JSON body"))
    }

    pub fn response_body(&self) -> Value {
        fake_host::with(|h| serde_json::from_slice(&h.response_body).expect("JSON body"))
    }
}

/// A local reply's JSON body.
pub fn reply_json(reply: &LocalReply) -> Value {
    serde_json::from_slice(&reply.body).expect("a JSON error body")
}
