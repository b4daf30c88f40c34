//! Leaders' runtime policy on the fake host: the root polls the ledger for it, and the
//! next requests are paused, downgraded, refused or pinned accordingly.

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::Action;
use serde_json::{json, Value};
use tollgate_core::event::Outcome;

use crate::test_plugin::{reply_json, seed_config, Plugin, CHAT_ANSWER};

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

fn headers(workflow: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":path", "/v1/chat/completions".into()),
        (":authority", "tollgate".into()),
        ("content-type", "application/json".into()),
        ("authorization", "Bearer kt_support".into()),
        ("x-tollgate-workflow", workflow.into()),
    ]
}

fn refs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// The model may be served by either lane, the premium OpenAI one first.
fn premium_first() -> Value {
    let mut config = seed_config();
    config["providers"]["routing"] = json!({"strategy": "priority",
        "aliases": {"gpt-4o-mini": ["openai-gpt4o-mini", "anthropic-haiku"]}});
    config["providers"]["targets"][0]["premium"] = json!(true);
    config
}

/// Runs the root's tick, answers the policy poll it dispatches with `status` and
/// `body`, and returns the poll's path.
fn poll(plugin: &mut Plugin, status: u16, body: &Value) -> String {
    let before = plugin.http_calls().len();
    plugin.root.on_tick();
    let calls = plugin.http_calls();
    assert_eq!(calls.len(), before + 1, "one poll per interval");
    let call = calls.last().unwrap();
    assert_eq!(call.upstream, "tollgate_ledger");
    assert_eq!(
        tollgate_core::headers::find(&call.headers, "authorization"),
        Some(format!("Bearer {}", crate::test_plugin::LEDGER_TOKEN).as_str()),
        "the data plane's token from the environment"
    );
    let path = tollgate_core::headers::find(&call.headers, ":path")
        .unwrap()
        .to_string();
    let text = if status == 200 {
        body.to_string()
    } else {
        String::new()
    };
    plugin.answer_root_call(call.token, status, &text);
    path
}

fn pause_of(workflow: &str, version: i64) -> Value {
    json!({"version": version, "teams": {"team_support": {"pauses": [{
        "id": version, "scope": {"kind": "workflow", "value": workflow},
        "reason": "runaway retry loop", "by": "support lead"}]}}})
}

/// Sends a request and returns where it went (`Ok(provider)`) or the refusal.
fn send(plugin: &Plugin, workflow: &str) -> Result<String, (u32, Value)> {
    let mut s = plugin.stream(&refs(&headers(workflow)), CHAT);
    let (h, _) = s.send_request();
    match s.local_reply() {
        Some(reply) => {
            assert_eq!(h, Action::Pause);
            s.finish();
            Err((reply.status, reply_json(&reply)))
        }
        None => Ok(s.upstream_header("x-tollgate-provider").unwrap()),
    }
}

#[test]
fn a_pause_polled_from_the_ledger_refuses_the_workflow_until_it_is_lifted() {
    let mut plugin = Plugin::configure(&seed_config());
    assert_eq!(send(&plugin, "draft-reply").map(|_| ()), Ok(()));

    let path = poll(&mut plugin, 200, &pause_of("draft-reply", 7));
    assert_eq!(path, "/v1/policy?after=0");
    let (status, body) = send(&plugin, "draft-reply").unwrap_err();
    assert_eq!(status, 403);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("paused workflow 'draft-reply' of team team_support")
            && message.contains("pause #7, by support lead")
            && message.contains("runaway retry loop"),
        "{message}"
    );
    assert_eq!(body["error"]["code"], "paused");
    // Other workflows of the team are served.
    assert!(send(&plugin, "ticket-summarise").is_ok());
    let refused = plugin.queued_events();
    let paused: Vec<_> = refused
        .iter()
        .filter(|e| e.workflow.as_deref() == Some("draft-reply"))
        .collect();
    assert_eq!(paused.len(), 1, "the refusal is recorded for the team");
    assert_eq!(paused[0].outcome, Outcome::Refused);
    assert_eq!(paused[0].reason.as_deref(), Some("paused"));
    assert_eq!(paused[0].cost_nanos, 0);

    // The next poll waits for the interval, then asks for anything newer; 304 keeps
    // the pause.
    plugin.root.on_tick();
    let calls = plugin.http_calls().len();
    plugin.root.on_tick();
    assert_eq!(
        plugin.http_calls().len(),
        calls,
        "no poll before the interval"
    );
    plugin.advance_ms(tollgate_core::policy::POLL_INTERVAL_MS as u64);
    assert_eq!(poll(&mut plugin, 304, &Value::Null), "/v1/policy?after=7");
    assert!(send(&plugin, "draft-reply").is_err());

    plugin.advance_ms(tollgate_core::policy::POLL_INTERVAL_MS as u64);
    poll(&mut plugin, 200, &json!({"version": 8, "teams": {}}));
    assert!(send(&plugin, "draft-reply").is_ok(), "lifted");
}

#[test]
fn an_expired_pause_stops_refusing_without_a_new_version() {
    let mut plugin = Plugin::configure(&seed_config());
    let now = crate::test_plugin::NOW_MS as i64;
    let mut policy = pause_of("draft-reply", 3);
    policy["teams"]["team_support"]["pauses"][0]["until_ms"] = json!(now + 60_000);
    poll(&mut plugin, 200, &policy);
    let (_, body) = send(&plugin, "draft-reply").unwrap_err();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("until 2026-11-01 12:01 UTC"));
    plugin.advance_ms(60_000);
    assert!(send(&plugin, "draft-reply").is_ok());
}

#[test]
fn a_premium_restriction_downgrades_or_refuses_workflows_it_does_not_allow() {
    let mut plugin = Plugin::configure(&premium_first());
    assert_eq!(send(&plugin, "ticket-summarise").unwrap(), "openai");

    let restrict = |action: &str, version: i64| {
        json!({"version": version, "teams": {"team_support": {"premium": {
            "allowed_workflows": ["code-review"], "action": action,
            "reason": "premium drift", "by": "finance"}}}})
    };
    poll(&mut plugin, 200, &restrict("downgrade", 1));
    assert_eq!(send(&plugin, "ticket-summarise").unwrap(), "anthropic");
    assert_eq!(send(&plugin, "code-review").unwrap(), "openai", "allowed");

    plugin.advance_ms(tollgate_core::policy::POLL_INTERVAL_MS as u64);
    poll(&mut plugin, 200, &restrict("refuse", 2));
    let (status, body) = send(&plugin, "ticket-summarise").unwrap_err();
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("premium drift"),
        "{body}"
    );
    assert_eq!(send(&plugin, "code-review").unwrap(), "openai");
}

#[test]
fn a_pinned_workflow_is_served_by_its_lane_only() {
    let mut plugin = Plugin::configure(&premium_first());
    poll(
        &mut plugin,
        200,
        &json!({"version": 4, "teams": {"team_support": {"pins": {"draft-reply": "anthropic-haiku"}}}}),
    );
    assert_eq!(send(&plugin, "draft-reply").unwrap(), "anthropic");
    assert_eq!(send(&plugin, "ticket-summarise").unwrap(), "openai");
}

#[test]
fn an_unreadable_policy_answer_keeps_the_policy_in_force() {
    let mut plugin = Plugin::configure(&seed_config());
    poll(&mut plugin, 200, &pause_of("draft-reply", 5));
    plugin.advance_ms(tollgate_core::policy::POLL_INTERVAL_MS as u64);
    poll(&mut plugin, 200, &json!({"version": "later"}));
    assert!(send(&plugin, "draft-reply").is_err());
    plugin.advance_ms(tollgate_core::policy::POLL_INTERVAL_MS as u64);
    poll(&mut plugin, 503, &Value::Null);
    assert!(send(&plugin, "draft-reply").is_err());
}

fn ticket(id: &str, at: &str) -> String {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user",
        "content": format!("Ticket {id} opened {at}:  reset my password")}]})
    .to_string()
}

/// Sends `body`; answers it upstream if it was not served from the cache. Returns
/// whether it was a cache hit.
fn ask(plugin: &Plugin, body: &str) -> bool {
    let mut s = plugin.stream(&refs(&headers("draft")), body);
    s.send_request();
    let hit = s.local_reply().is_some_and(|r| r.status == 200);
    if !hit {
        s.receive(200, &[("content-type", "application/json")], CHAT_ANSWER);
    }
    s.finish();
    hit
}

#[test]
fn normalised_caching_turned_on_by_policy_answers_near_repeats_from_the_cache() {
    let mut config = seed_config();
    config["cache"] = json!({"enabled": true, "ttl_seconds": 600, "max_entries": 100});
    let mut plugin = Plugin::configure(&config);
    let a = ticket(
        "11111111-2222-3333-4444-555555555555",
        "2026-12-04T09:00:00Z",
    );
    let b = ticket(
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "2026-12-04T09:05:10Z",
    );
    let c = ticket("99999999-8888-7777-6666-555555555555", "2026-12-05 10:00");
    // Exact matching: an exact repeat hits, a near-repeat does not.
    assert!(!ask(&plugin, &a));
    assert!(ask(&plugin, &a));
    assert!(!ask(&plugin, &b));
    // The near-repeat's miss is flagged: normalised matching would have answered it.
    let events = plugin.queued_events();
    let flags: Vec<_> = events.iter().map(|e| (e.cache, e.near_repeat)).collect();
    use tollgate_core::event::CacheStatus::{Hit, Miss};
    assert_eq!(flags, vec![(Miss, false), (Hit, false), (Miss, true)]);

    // A leader turns normalised matching on for the workflow.
    let policy = json!({"version": 1, "teams": {"team_support": {
        "normalized_cache": {"workflows": ["draft"]}}}});
    plugin.advance_ms(tollgate_core::policy::POLL_INTERVAL_MS as u64);
    plugin.root.on_tick();
    let call = plugin
        .http_calls()
        .into_iter()
        .rev()
        .find(|c| {
            tollgate_core::headers::find(&c.headers, ":path")
                .is_some_and(|p| p.starts_with("/v1/policy"))
        })
        .expect("the root polls for the policy");
    plugin.answer_root_call(call.token, 200, &policy.to_string());
    assert!(
        !ask(&plugin, &b),
        "stored under the normalised key from now on"
    );
    assert!(ask(&plugin, &c), "a near-repeat is now a hit");
    assert!(ask(&plugin, &a));
    // Another workflow of the team keeps exact matching.
    let mut s = plugin.stream(&refs(&headers("other")), &c);
    s.send_request();
    assert!(s.local_reply().is_none());
}
