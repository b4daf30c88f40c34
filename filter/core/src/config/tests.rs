//! The configuration schema and its validation against the seed config and the
//! documented examples: every accepted shape, every rejected one with its path.

use super::*;

pub(crate) fn seed() -> Config {
    serde_json::from_value(serde_json::json!({
        "version": "1",
        "providers": {
            "routing": {"strategy": "usage_based"},
            "targets": [
                {"id": "openai-gpt4o-mini", "provider": "openai", "model": "gpt-5.4-mini-mini",
                 "secret_key_ref": {"env": "OPENAI_API_KEY"}},
                {"id": "anthropic-haiku", "provider": "anthropic", "model": "claude-haiku",
                 "secret_key_ref": {"env": "ANTHROPIC_API_KEY"}}
            ]
        },
        "cache": {"enabled": true, "ttl_seconds": 1800, "max_entries": 10000, "match_strategy": "exact"},
        "consumer_groups": [
            {"name": "support", "api_key": "kt_cg_support_prod", "wallet_team_id": "team_support"},
            {"name": "engineering", "api_key": "kt_cg_engineering_prod", "wallet_team_id": "team_engineering"}
        ],
        "cost_tracking": {"enabled": true, "wallet_enforcement": true}
    }))
    .unwrap()
}

#[test]
fn seed_shape_is_valid() {
    assert_eq!(seed().validate(), vec![]);
}

#[test]
fn duplicate_target_ids_and_keys_are_reported_with_paths() {
    let mut c = seed();
    c.providers.targets[1].id = c.providers.targets[0].id.clone();
    c.consumer_groups[1].api_key = c.consumer_groups[0].api_key.clone();
    let paths: Vec<_> = c.validate().into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        vec!["providers.targets[1].id", "consumer_groups[1].api_key"]
    );
}

#[test]
fn undefined_wallet_is_reported_only_when_wallets_are_declared() {
    let mut c = seed();
    c.wallets = Some(vec![WalletDef {
        team_id: "team_support".into(),
        initial_usd: Default::default(),
    }]);
    let problems = c.validate();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "consumer_groups[1].wallet_team_id");
    assert!(problems[0].message.contains("team_engineering"));
}

#[test]
fn digest_and_plain_key_are_equivalent_but_exclusive() {
    let mut c = seed();
    let digest = crate::keys::hex(&crate::keys::digest_key("kt_cg_support_prod"));
    c.consumer_groups[0].api_key = None;
    c.consumer_groups[0].api_key_sha256 = Some(digest);
    assert_eq!(c.validate(), vec![]);
    c.consumer_groups[0].api_key = Some("kt_cg_support_prod".into());
    assert_eq!(
        c.validate()[0].path,
        "consumer_groups[0].api_key_sha256".to_string()
    );
}

#[test]
fn ledger_failure_mode_has_a_global_default_and_group_overrides() {
    use crate::config::filter_config::FilterConfig;
    let modes = |c: &Config| -> Vec<LedgerFailureMode> {
        FilterConfig::from_config(c, "ledger:8080")
            .unwrap()
            .groups
            .iter()
            .map(|g| g.on_ledger_unavailable)
            .collect()
    };
    // The seed config says nothing: fail closed, as before the setting existed.
    let c = seed();
    assert_eq!(
        c.cost_tracking.on_ledger_unavailable,
        LedgerFailureMode::Closed
    );
    assert_eq!(modes(&c), vec![LedgerFailureMode::Closed; 2]);

    let mut v = serde_json::to_value(seed()).unwrap();
    v["cost_tracking"]["on_ledger_unavailable"] = "open".into();
    v["consumer_groups"][1]["on_ledger_unavailable"] = "closed".into();
    let c: Config = serde_json::from_value(v).unwrap();
    assert_eq!(c.validate(), vec![]);
    assert_eq!(
        modes(&c),
        vec![LedgerFailureMode::Open, LedgerFailureMode::Closed]
    );

    let mut v = serde_json::to_value(seed()).unwrap();
    v["consumer_groups"][0]["on_ledger_unavailable"] = "open".into();
    let c: Config = serde_json::from_value(v).unwrap();
    assert_eq!(
        modes(&c),
        vec![LedgerFailureMode::Open, LedgerFailureMode::Closed]
    );

    let mut v = serde_json::to_value(seed()).unwrap();
    v["consumer_groups"][0]["on_ledger_unavailable"] = "sometimes".into();
    let err = serde_json::from_value::<Config>(v).unwrap_err().to_string();
    assert!(err.contains("unknown variant `sometimes`"), "{err}");
}

#[test]
fn fail_open_without_wallet_enforcement_is_a_warning() {
    let about_mode = |c: &Config| -> Vec<String> {
        c.warnings()
            .into_iter()
            .map(|w| w.path)
            .filter(|p| p.ends_with("on_ledger_unavailable"))
            .collect()
    };
    let mut c = seed();
    c.consumer_groups[0].on_ledger_unavailable = Some(LedgerFailureMode::Open);
    assert!(about_mode(&c).is_empty());
    c.cost_tracking.wallet_enforcement = false;
    assert_eq!(
        about_mode(&c),
        vec!["consumer_groups[0].on_ledger_unavailable"]
    );
}

#[test]
fn event_buffer_settings_have_defaults_reach_the_filter_and_are_validated() {
    use crate::config::filter_config::FilterConfig;
    // Absent: the defaults, as before the settings existed.
    let events = FilterConfig::from_config(&seed(), "l:1").unwrap().events;
    assert_eq!(
        (
            events.max_buffered,
            events.max_batch,
            events.flush_interval_ms,
            events.ledger_timeout_ms
        ),
        (100_000, 500, 200, 5_000)
    );

    let mut v = serde_json::to_value(seed()).unwrap();
    v["cost_tracking"]["event_buffer"] =
        serde_json::json!({"max_events": 2000, "batch_size": 50, "flush_interval_ms": 1000});
    v["cost_tracking"]["ledger_timeout_ms"] = 1500.into();
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.validate(), vec![]);
    let events = FilterConfig::from_config(&c, "l:1").unwrap().events;
    assert_eq!(
        (
            events.max_buffered,
            events.max_batch,
            events.flush_interval_ms,
            events.ledger_timeout_ms
        ),
        (2000, 50, 1000, 1500)
    );

    // A partial block keeps the other defaults.
    let mut partial = v.clone();
    partial["cost_tracking"]["event_buffer"] = serde_json::json!({"batch_size": 100});
    let c: Config = serde_json::from_value(partial).unwrap();
    assert_eq!(c.cost_tracking.event_buffer.max_events, 100_000);

    let paths = |buffer: serde_json::Value, timeout: u32| -> Vec<(String, String)> {
        let mut v = v.clone();
        v["cost_tracking"]["event_buffer"] = buffer;
        v["cost_tracking"]["ledger_timeout_ms"] = timeout.into();
        serde_json::from_value::<Config>(v)
            .unwrap()
            .validate()
            .into_iter()
            .map(|p| (p.path, p.message))
            .collect()
    };
    let bad = paths(
        serde_json::json!({"max_events": 0, "batch_size": 0, "flush_interval_ms": 1}),
        10,
    );
    assert_eq!(
        bad.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        vec![
            "cost_tracking.event_buffer.max_events",
            "cost_tracking.event_buffer.batch_size",
            "cost_tracking.event_buffer.flush_interval_ms",
            "cost_tracking.ledger_timeout_ms",
        ]
    );
    assert_eq!(bad[0].1, "expected 1 to 1000000, found 0");
    let bad = paths(
        serde_json::json!({"max_events": 10, "batch_size": 20}),
        5000,
    );
    assert_eq!(
        bad,
        vec![(
            "cost_tracking.event_buffer.batch_size".to_string(),
            "expected at most max_events (10), found 20".to_string()
        )]
    );
    let mut v = v.clone();
    v["cost_tracking"]["event_buffer"]["batch"] = 5.into();
    let err = serde_json::from_value::<Config>(v).unwrap_err().to_string();
    assert!(err.contains("unknown field `batch`"), "{err}");
}

#[test]
fn unknown_keys_are_rejected() {
    let mut v = serde_json::to_value(seed()).unwrap();
    v["cache"]["ttl"] = 5.into();
    let err = serde_json::from_value::<Config>(v).unwrap_err().to_string();
    assert!(err.contains("unknown field `ttl`"), "{err}");
}

#[test]
fn alert_settings_have_defaults_and_are_validated() {
    let seed = seed();
    let a = &seed.alerts;
    assert_eq!(a.wallet_low_pct, 20);
    assert!(a.anomaly.enabled && a.digests.weekly && a.digests.monthly);
    assert_eq!(
        (
            a.anomaly.sensitivity,
            a.anomaly.min_excess_usd.0,
            a.digests.hour_utc
        ),
        (3, 10_000_000_000, 7)
    );
    assert_eq!((a.dashboard_url.as_deref(), a.email.as_ref()), (None, None));

    let mut v = serde_json::to_value(&seed).unwrap();
    v["alerts"] = serde_json::json!({
        "wallet_low_pct": 10,
        "anomaly": {"sensitivity": 6, "min_excess_usd": "25.00"},
        "digests": {"monthly": false},
        "dashboard_url": "https://tollgate.example.com",
        "email": {"host": "smtp.example.com", "port": 587, "from": "Tollgate <t@example.com>",
                  "tls": "starttls", "password_file": "/run/secrets/smtp"}
    });
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.validate(), vec![]);
    assert_eq!(c.alerts.anomaly.min_excess_usd.0, 25_000_000_000);
    assert!(c.alerts.anomaly.enabled && c.alerts.digests.weekly && !c.alerts.digests.monthly);
    assert_eq!(c.alerts.email.unwrap().tls, Some(SmtpTls::Starttls));

    v["alerts"] = serde_json::json!({
        "wallet_low_pct": 100,
        "anomaly": {"sensitivity": 0, "min_excess_usd": "0"},
        "digests": {"hour_utc": 24},
        "dashboard_url": "tollgate.example.com",
        "email": {"host": " ", "port": 0, "from": "nobody"}
    });
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    let paths: Vec<String> = c.validate().into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "alerts.wallet_low_pct",
            "alerts.anomaly.sensitivity",
            "alerts.anomaly.min_excess_usd",
            "alerts.digests.hour_utc",
            "alerts.dashboard_url",
            "alerts.email.host",
            "alerts.email.port",
            "alerts.email.from"
        ]
    );
    // A password in the file is refused: it belongs in the environment or a secret file.
    v["alerts"] = serde_json::json!({"email": {"host": "h", "password": "hunter2"}});
    assert!(serde_json::from_value::<Config>(v).is_err());
}

#[test]
fn lane_modes_and_other_endpoint_policies_parse_and_default() {
    let c = seed();
    assert!(c.providers.targets.iter().all(|t| t.mode == LaneMode::Chat));
    assert!(c.other_endpoints.is_default());
    let text = serde_json::to_string(&c).unwrap();
    assert!(
        !text.contains("other_endpoints") && !text.contains("\"mode\""),
        "defaults are not written back: {text}"
    );
    let mut v = serde_json::to_value(&c).unwrap();
    v["providers"]["targets"][0]["mode"] = serde_json::json!("embedding");
    v["other_endpoints"] =
        serde_json::json!({"default": "passthrough", "audio": "refuse", "batches": "passthrough"});
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.providers.targets[0].mode, LaneMode::Embedding);
    assert_eq!(c.other_endpoints.default, EndpointPolicy::Passthrough);
    assert_eq!(c.other_endpoints.audio, Some(EndpointPolicy::Refuse));
    assert_eq!(c.other_endpoints.batches, Some(EndpointPolicy::Passthrough));
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    assert_eq!(f.lanes[0].mode, LaneMode::Embedding);
    assert_eq!(f.other_endpoints, c.other_endpoints);
    // A typo is an error, not a silently refused (or passed) family.
    v["other_endpoints"] = serde_json::json!({"image": "passthrough"});
    assert!(serde_json::from_value::<Config>(v.clone()).is_err());
    v["other_endpoints"] = serde_json::json!({"images": "allow"});
    assert!(serde_json::from_value::<Config>(v).is_err());
}

#[test]
fn openai_compatible_lanes_name_their_base_url_and_may_be_fixed_cost() {
    let mut v = serde_json::to_value(seed()).unwrap();
    v["providers"]["targets"][0] = serde_json::json!({
        "id": "vllm", "provider": "openai_compatible", "model": "llama-3.1-8b-instruct",
        "base_url": "http://vllm.internal:8000/v1", "fixed_cost": true,
        "secret_key_ref": {"env": "VLLM_KEY"}});
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.validate(), vec![]);
    assert!(
        c.warnings()
            .iter()
            .all(|w| w.path != "providers.targets[0].model"),
        "a fixed-cost lane needs no price"
    );
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    let lane = &f.lanes[0];
    assert_eq!(
        (
            lane.cluster.as_str(),
            lane.authority.as_str(),
            lane.fixed_cost
        ),
        ("lane_vllm", "vllm.internal:8000", true)
    );
    assert_eq!(lane.route_key(), "lane_vllm");
    assert_eq!(
        lane.path_for("/v1/chat/completions"),
        "/v1/chat/completions"
    );
    assert_eq!(f.lanes[1].route_key(), "anthropic");
    assert_eq!(f.lanes[1].path_for("/v1/messages"), "/v1/messages");

    let mut groq = v.clone();
    groq["providers"]["targets"][0]["base_url"] =
        serde_json::json!("https://api.groq.com/openai/v1");
    let c: Config = serde_json::from_value(groq).unwrap();
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    assert_eq!(
        f.lanes[0].path_for("/v1/embeddings"),
        "/openai/v1/embeddings"
    );

    let mut missing = v.clone();
    missing["providers"]["targets"][0]
        .as_object_mut()
        .unwrap()
        .remove("base_url");
    assert_eq!(problem_paths(&missing), ["providers.targets[0].base_url"]);
    let mut misplaced = v.clone();
    misplaced["providers"]["targets"][1]["base_url"] = serde_json::json!("http://x/v1");
    assert_eq!(problem_paths(&misplaced), ["providers.targets[1].base_url"]);
    let mut bad = v;
    bad["providers"]["targets"][0]["base_url"] = serde_json::json!("vllm:8000/v1");
    assert_eq!(problem_paths(&bad), ["providers.targets[0].base_url"]);
}

#[test]
fn azure_openai_lanes_name_their_resource_deployment_and_api_version() {
    let mut v = serde_json::to_value(seed()).unwrap();
    v["providers"]["targets"][0] = serde_json::json!({
        "id": "azure-mini", "provider": "azure_openai", "model": "gpt-4o-mini",
        "base_url": "https://myres.openai.azure.com/", "deployment": "mini-prod",
        "api_version": "2024-10-21", "secret_key_ref": {"env": "AZURE_OPENAI_KEY"}});
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.validate(), vec![]);
    assert!(
        c.warnings()
            .iter()
            .all(|w| w.path != "providers.targets[0].model"),
        "gpt-4o-mini (OpenAI's price) prices the lane"
    );
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    let lane = &f.lanes[0];
    assert_eq!(
        (lane.cluster.as_str(), lane.authority.as_str()),
        ("lane_azure-mini", "myres.openai.azure.com")
    );
    assert_eq!(lane.route_key(), "lane_azure-mini");
    assert_eq!(
        lane.upstream_path(crate::event::ApiKind::ChatCompletions),
        "/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(lane.body_model(), "gpt-4o-mini");
    let azure = lane.azure.as_ref().unwrap();
    assert_eq!(azure.auth, AzureAuth::ApiKey);
    // Other lanes keep their paths.
    assert_eq!(
        f.lanes[1].upstream_path(crate::event::ApiKind::Messages),
        "/v1/messages"
    );
    // The filter's view round-trips; lanes without Azure fields do not carry them.
    let json = serde_json::to_string(&f).unwrap();
    assert_eq!(json.matches("\"azure\"").count(), 1);
    assert_eq!(
        serde_json::from_str::<filter_config::FilterConfig>(&json).unwrap(),
        f
    );

    // The v1 API behind a gateway's base path, with an Entra ID token.
    let mut v1 = v.clone();
    let lane = &mut v1["providers"]["targets"][0];
    lane["api_version"] = serde_json::json!("v1");
    lane["auth"] = serde_json::json!("entra");
    lane["base_url"] = serde_json::json!("https://apim.example.com/aoai");
    let c: Config = serde_json::from_value(v1).unwrap();
    assert_eq!(c.validate(), vec![]);
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    assert_eq!(
        f.lanes[0].upstream_path(crate::event::ApiKind::Embeddings),
        "/aoai/openai/v1/embeddings"
    );
    assert_eq!(f.lanes[0].body_model(), "mini-prod");
    assert_eq!(f.lanes[0].azure.as_ref().unwrap().auth, AzureAuth::Entra);

    let problems = |v: &serde_json::Value| -> Vec<String> {
        serde_json::from_value::<Config>(v.clone())
            .unwrap()
            .validate()
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    };
    let mut missing = v.clone();
    let lane = missing["providers"]["targets"][0].as_object_mut().unwrap();
    for field in ["base_url", "deployment", "api_version"] {
        lane.remove(field);
    }
    let found = problems(&missing);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0]
        .starts_with("providers.targets[0].base_url: expected the Azure OpenAI resource endpoint"));
    assert!(found[1].starts_with(
        "providers.targets[0].deployment: expected the name of the Azure OpenAI deployment"
    ));
    assert!(found[2]
        .starts_with("providers.targets[0].api_version: expected the Azure OpenAI api-version"));
    let mut bad = v.clone();
    let lane = &mut bad["providers"]["targets"][0];
    lane["base_url"] = serde_json::json!("https://myres.openai.azure.com/openai");
    lane["deployment"] = serde_json::json!("mini prod");
    lane["api_version"] = serde_json::json!("2024-10-21&x=1");
    let found = problems(&bad);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].contains("without /openai"));
    // Azure fields on another provider's lane are a mistake, not ignored.
    let mut misplaced = v.clone();
    misplaced["providers"]["targets"][1]["deployment"] = serde_json::json!("x");
    misplaced["providers"]["targets"][1]["auth"] = serde_json::json!("entra");
    assert_eq!(
        problems(&misplaced),
        [
            "providers.targets[1].deployment: only azure_openai lanes take this field",
            "providers.targets[1].auth: only azure_openai lanes take this field"
        ]
    );
    let mut endpoint = v;
    endpoint["providers"]["endpoints"] =
        serde_json::json!({"azure_openai": "https://myres.openai.azure.com"});
    assert_eq!(
        problems(&endpoint),
        ["providers.endpoints.azure_openai: each azure_openai lane names its own base_url"]
    );
}

#[test]
fn the_count_before_a_wallet_refusal_is_on_unless_switched_off() {
    use crate::config::filter_config::FilterConfig;
    let c = seed();
    assert!(c.cost_tracking.count_tokens_precheck);
    assert!(
        FilterConfig::from_config(&c, "l:1")
            .unwrap()
            .count_tokens_precheck
    );
    let off: CostTracking = serde_json::from_value(serde_json::json!({
        "wallet_enforcement": true, "count_tokens_precheck": false
    }))
    .unwrap();
    assert!(!off.count_tokens_precheck);
    let mut c = seed();
    c.cost_tracking = off;
    assert!(
        !FilterConfig::from_config(&c, "l:1")
            .unwrap()
            .count_tokens_precheck
    );
}

#[test]
fn gemini_and_vertex_lanes_name_what_their_urls_need() {
    let mut v = serde_json::to_value(seed()).unwrap();
    v["providers"]["targets"][0] = serde_json::json!({
        "id": "flash", "provider": "gemini", "model": "gemini-2.5-flash",
        "secret_key_ref": {"env": "GEMINI_API_KEY"}});
    v["providers"]["targets"][1] = serde_json::json!({
        "id": "pro", "provider": "vertex_ai", "model": "gemini-2.5-pro",
        "project": "acme-ml", "location": "global",
        "secret_key_ref": {"env": "VERTEX_TOKEN"}});
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.validate(), vec![]);
    assert!(
        c.warnings()
            .iter()
            .all(|w| !w.path.starts_with("providers.targets")),
        "the built-in catalogue prices both models: {:?}",
        c.warnings()
    );
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    let (flash, pro) = (&f.lanes[0], &f.lanes[1]);
    assert_eq!(
        (flash.route_key(), flash.authority.as_str()),
        ("gemini", "generativelanguage.googleapis.com")
    );
    assert_eq!(flash.max_output_tokens, 65_536);
    assert_eq!(
        (pro.route_key(), pro.authority.as_str()),
        ("lane_pro", "aiplatform.googleapis.com")
    );
    assert_eq!(
        pro.generate_content_path(false),
        "/v1/projects/acme-ml/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"
    );

    let mut missing = v.clone();
    missing["providers"]["targets"][1]
        .as_object_mut()
        .unwrap()
        .remove("location");
    assert_eq!(problem_paths(&missing), ["providers.targets[1].location"]);
    let mut misplaced = v.clone();
    misplaced["providers"]["targets"][0]["project"] = serde_json::json!("acme-ml");
    assert_eq!(problem_paths(&misplaced), ["providers.targets[0].project"]);
    let mut modes = v.clone();
    modes["providers"]["targets"][0]["mode"] = serde_json::json!("embedding");
    assert_eq!(
        problem_paths(&modes),
        Vec::<String>::new(),
        "the Gemini API embeds"
    );
    modes["providers"]["targets"][1]["mode"] = serde_json::json!("embedding");
    assert_eq!(problem_paths(&modes), ["providers.targets[1].mode"]);
    let mut bad = v;
    bad["providers"]["targets"][0]["model"] =
        serde_json::json!("gemini-2.5-flash:generateContent?x=");
    bad["providers"]["targets"][1]["project"] = serde_json::json!("acme/other");
    assert_eq!(
        problem_paths(&bad),
        ["providers.targets[0].model", "providers.targets[1].project"]
    );
}

#[test]
fn bedrock_lanes_name_their_region_and_credential_variables() {
    let mut v = serde_json::to_value(seed()).unwrap();
    v["providers"]["targets"][0] = serde_json::json!({
        "id": "nova", "provider": "bedrock", "model": "amazon.nova-lite-v1:0",
        "secret_key_ref": {"env": "AWS_SECRET_ACCESS_KEY"},
        "aws": {"region": "us-east-1", "access_key_id_ref": {"env": "AWS_ACCESS_KEY_ID"},
                "session_token_ref": {"env": "AWS_SESSION_TOKEN"}}});
    let c: Config = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.validate(), vec![]);
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    let lane = &f.lanes[0];
    assert_eq!(
        (
            lane.cluster.as_str(),
            lane.authority.as_str(),
            lane.route_key()
        ),
        (
            "lane_nova",
            "bedrock-runtime.us-east-1.amazonaws.com",
            "lane_nova"
        )
    );
    let aws = lane.aws.as_ref().unwrap();
    assert_eq!(
        (aws.region.as_str(), aws.session_token_env.as_deref()),
        ("us-east-1", Some("AWS_SESSION_TOKEN"))
    );
    // The VM reads all three variables; their values are never in the config.
    let envs = f.credential_envs();
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        assert!(envs.contains(&name.to_string()), "{name}");
    }
    // One endpoint override serves every region (a simulator, a VPC endpoint).
    let mut sim = v.clone();
    sim["providers"]["endpoints"] = serde_json::json!({"bedrock": "http://127.0.0.1:9000"});
    let c: Config = serde_json::from_value(sim).unwrap();
    let f = filter_config::FilterConfig::from_config(&c, "l").unwrap();
    assert_eq!(f.lanes[0].authority, "127.0.0.1:9000");

    let mut missing = v.clone();
    missing["providers"]["targets"][0]
        .as_object_mut()
        .unwrap()
        .remove("aws");
    assert_eq!(problem_paths(&missing), ["providers.targets[0].aws"]);
    let mut bad = v.clone();
    bad["providers"]["targets"][0]["aws"]["region"] = serde_json::json!("US East");
    bad["providers"]["targets"][0]["aws"]["access_key_id_ref"]["env"] = serde_json::json!("1X");
    assert_eq!(
        problem_paths(&bad),
        [
            "providers.targets[0].aws.region",
            "providers.targets[0].aws.access_key_id_ref.env"
        ]
    );
    let mut misplaced = v;
    misplaced["providers"]["targets"][1]["aws"] =
        misplaced["providers"]["targets"][0]["aws"].clone();
    assert_eq!(problem_paths(&misplaced), ["providers.targets[1].aws"]);
}

/// The paths of the problems `validate` finds in a configuration given as JSON.
fn problem_paths(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value::<Config>(v.clone())
        .unwrap()
        .validate()
        .into_iter()
        .map(|p| p.path)
        .collect()
}
