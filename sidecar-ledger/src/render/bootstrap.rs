//! `tollgate-ledger render-envoy`: the Envoy bootstrap for a Tollgate config.
//!
//! One listener with the Tollgate wasm filter in front of the router, one cluster per
//! provider, the ledger cluster, and a singleton "flusher" wasm service that drains the
//! cost-event queue to the ledger in batches (see NOTES: every worker's root context
//! ticks, so the sender must be a singleton).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tollgate_core::config::filter_config::{
    lane_endpoint, provider_cluster, FilterConfig, FLUSHER_VM_ID, LEDGER_CLUSTER, LEDGER_TOKEN_ENV,
};
use tollgate_core::config::{Config, EndpointPolicy, ProviderKind};
use tollgate_core::endpoint::Endpoint;
use tollgate_core::other_endpoints::{policy_for, Family};

use crate::config_file;

/// The request header by which the filter tells Envoy's route table which provider
/// cluster serves the request.
pub const PROVIDER_HEADER: &str = "x-tollgate-provider";

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The Tollgate configuration (YAML).
    pub config: PathBuf,
    /// Where to write the bootstrap (default: standard output).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// The built filter (`tollgate_filter.wasm`).
    #[arg(
        long,
        default_value = "target/wasm32-wasip1/release/tollgate_filter.wasm"
    )]
    pub wasm: PathBuf,
    /// Address of the client listener.
    #[arg(long, default_value = "127.0.0.1:10000")]
    pub listen: String,
    /// Address of Envoy's admin interface.
    #[arg(long, default_value = "127.0.0.1:9901")]
    pub admin: String,
    /// Address of the ledger's HTTP API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub ledger: String,
    /// Send every provider's traffic to this simulator URL (e.g. http://127.0.0.1:9000).
    #[arg(long)]
    pub simulator: Option<String>,
    /// Override one provider's endpoint: `openai=http://127.0.0.1:9000`. Repeatable.
    #[arg(long = "provider-url", value_name = "PROVIDER=URL")]
    pub provider_urls: Vec<String>,
    /// Envoy worker threads are set on Envoy's command line; this only sizes buffers.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub buffer_limit_bytes: u32,
    /// Stats tags, metrics listener, hot reload (`options`).
    #[command(flatten)]
    pub ops: super::options::OpsArgs,
}

fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("'{addr}' must be HOST:PORT"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("'{addr}' has an invalid port"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

fn socket_address(addr: &str) -> Result<Value, String> {
    let (host, port) = split_host_port(addr)?;
    Ok(json!({"socket_address": {"address": host, "port_value": port}}))
}

fn string_value(json_text: String) -> Value {
    json!({"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json_text})
}

/// A cluster reaching `endpoint` (plain or TLS with SNI and system CAs).
fn cluster(name: &str, endpoint: &Endpoint, connect_timeout: &str, buffer_limit: u32) -> Value {
    let is_ip = endpoint.host.parse::<std::net::IpAddr>().is_ok();
    let mut c = json!({
        "name": name,
        "type": if is_ip { "STATIC" } else { "LOGICAL_DNS" },
        "dns_lookup_family": "V4_PREFERRED",
        "connect_timeout": connect_timeout,
        "per_connection_buffer_limit_bytes": buffer_limit,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": endpoint.host, "port_value": endpoint.port}
            }}}]}]
        }
    });
    if endpoint.tls {
        c["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": endpoint.host,
                "common_tls_context": {
                    // Offer HTTP/2 (both providers speak it) with HTTP/1.1 as fallback.
                    "alpn_protocols": ["h2", "http/1.1"],
                    "validation_context": {
                        "trusted_ca": {"filename": "/etc/ssl/certs/ca-certificates.crt"},
                        "match_typed_subject_alt_names": [{
                            "san_type": "DNS",
                            "matcher": {"exact": endpoint.host}
                        }]
                    }
                }
            }
        });
        // Use whichever protocol ALPN settles on; long generations need no idle cut.
        c["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "auto_config": {"http2_protocol_options": {}, "http_protocol_options": {}},
                "common_http_protocol_options": {"idle_timeout": "300s"}
            }
        });
    }
    c
}

/// The cluster carrying realtime WebSocket sessions to OpenAI.
pub const OPENAI_WEBSOCKET_CLUSTER: &str = "provider_openai_websocket";

/// A cluster like [`cluster`] that speaks only HTTP/1.1: a WebSocket upgrade sent
/// over an HTTP/2 connection would need the provider to accept extended CONNECT
/// (RFC 8441), which Envoy asks for only with `allow_connect`, and OpenAI does not
/// document it. Over HTTP/1.1 the upgrade is the plain `Upgrade: websocket` request.
fn websocket_cluster(name: &str, endpoint: &Endpoint, buffer_limit: u32) -> Value {
    let mut c = cluster(name, endpoint, "10s", buffer_limit);
    if endpoint.tls {
        c["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"] =
            json!(["http/1.1"]);
        c["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http_protocol_options": {}},
                "common_http_protocol_options": {"idle_timeout": "300s"}
            }
        });
    }
    c
}

/// Realtime sessions (`GET /v1/realtime` upgraded to a WebSocket) are let through
/// and there is an OpenAI lane to carry them.
fn realtime_websockets(config: &Config, providers: &BTreeMap<ProviderKind, Endpoint>) -> bool {
    policy_for(&config.other_endpoints, Family::Realtime) == EndpointPolicy::Passthrough
        && providers.contains_key(&ProviderKind::Openai)
}

/// Applies `--simulator` / `--provider-url` overrides to the config's endpoints.
fn apply_endpoint_overrides(config: &mut Config, args: &RenderArgs) -> Result<(), String> {
    if let Some(sim) = &args.simulator {
        for kind in [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            ProviderKind::VertexAi,
            ProviderKind::Bedrock,
        ] {
            config.providers.endpoints.insert(kind, sim.clone());
        }
        // OpenAI-compatible and Azure lanes keep their base path on the simulator.
        for t in &mut config.providers.targets {
            if let Some(url) = t.base_url.as_mut() {
                let (_, path) = Endpoint::parse_base(url)?;
                *url = format!("{}{path}", sim.trim_end_matches('/'));
            }
        }
    }
    for spec in &args.provider_urls {
        let (name, url) = spec
            .split_once('=')
            .ok_or_else(|| format!("--provider-url '{spec}' must be PROVIDER=URL"))?;
        let kind: ProviderKind = serde_json::from_value(json!(name)).map_err(|_| {
            format!(
                "--provider-url: unknown provider '{name}' (openai, anthropic, gemini, vertex_ai, bedrock)"
            )
        })?;
        config.providers.endpoints.insert(kind, url.to_string());
    }
    for url in config.providers.endpoints.values() {
        Endpoint::parse(url)?;
    }
    Ok(())
}

/// Builds the bootstrap as a JSON value (written out as YAML).
pub fn bootstrap(config: &Config, args: &RenderArgs, wasm: &Path) -> Result<Value, String> {
    let ledger_authority = args.ledger.clone();
    let filter_config = FilterConfig::from_config(config, &ledger_authority)?;
    let filter_json = serde_json::to_string(&filter_config).map_err(|e| e.to_string())?;
    let wasm_file = wasm.display().to_string();

    let vm_config = |vm_id: &str, env_keys: Vec<String>| {
        let mut vm = json!({
            "vm_id": vm_id,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": wasm_file}},
        });
        if !env_keys.is_empty() {
            vm["environment_variables"] = json!({"host_env_keys": env_keys});
        }
        vm
    };

    let providers: BTreeMap<ProviderKind, Endpoint> = config
        .providers
        .targets
        .iter()
        .filter(|t| !t.provider.has_lane_cluster())
        .map(|t| {
            Ok((
                t.provider,
                Endpoint::parse(config.endpoint_for(t.provider))?,
            ))
        })
        .collect::<Result<_, String>>()?;

    let websockets = realtime_websockets(config, &providers);
    let mut routes: Vec<Value> = Vec::new();
    if websockets {
        // Checked before the OpenAI route: only upgrades take the HTTP/1.1 cluster.
        routes.push(json!({
            "match": {"prefix": "/", "headers": [
                {"name": PROVIDER_HEADER, "string_match": {"exact": ProviderKind::Openai.as_str()}},
                {"name": "upgrade", "string_match": {"exact": "websocket", "ignore_case": true}}
            ]},
            "route": {"cluster": OPENAI_WEBSOCKET_CLUSTER, "timeout": "0s", "idle_timeout": "300s"},
            "request_headers_to_remove": [PROVIDER_HEADER]
        }));
    }
    routes.extend(providers.keys().map(|kind| {
        json!({
            "match": {"prefix": "/", "headers": [{
                "name": PROVIDER_HEADER,
                "string_match": {"exact": kind.as_str()}
            }]},
            // Long generations stream for minutes: no route timeout, an idle one instead.
            "route": {"cluster": provider_cluster(*kind), "timeout": "0s", "idle_timeout": "300s"},
            // Routing detail, not the provider's business.
            "request_headers_to_remove": [PROVIDER_HEADER]
        })
    }));
    // Each OpenAI-compatible or Azure OpenAI lane has its own cluster at its own base URL,
    // each Vertex AI lane at its location's endpoint, each Bedrock lane at its region's
    // runtime endpoint.
    let compatible: Vec<(String, Endpoint)> = config
        .providers
        .targets
        .iter()
        .filter(|t| t.provider.has_lane_cluster())
        .map(|t| {
            let (endpoint, _, cluster) = lane_endpoint(config, t)?;
            Ok((cluster, endpoint))
        })
        .collect::<Result<_, String>>()?;
    for (name, _) in &compatible {
        routes.push(json!({
            "match": {"prefix": "/", "headers": [{
                "name": PROVIDER_HEADER,
                "string_match": {"exact": name}
            }]},
            "route": {"cluster": name, "timeout": "0s", "idle_timeout": "300s"},
            "request_headers_to_remove": [PROVIDER_HEADER]
        }));
    }
    routes.push(json!({
        "match": {"prefix": "/"},
        "direct_response": {"status": 404, "body": {"inline_string":
            "{\"error\":{\"message\":\"Tollgate serves /v1/chat/completions, /v1/responses and /v1/messages\",\"type\":\"invalid_request_error\",\"code\":\"unsupported_endpoint\"}}"
        }}
    }));

    let mut clusters: Vec<Value> = providers
        .iter()
        .map(|(kind, ep)| cluster(&provider_cluster(*kind), ep, "10s", args.buffer_limit_bytes))
        .chain(
            compatible
                .iter()
                .map(|(name, ep)| cluster(name, ep, "10s", args.buffer_limit_bytes)),
        )
        .collect();
    if let (true, Some(openai)) = (websockets, providers.get(&ProviderKind::Openai)) {
        clusters.push(websocket_cluster(
            OPENAI_WEBSOCKET_CLUSTER,
            openai,
            args.buffer_limit_bytes,
        ));
    }
    let (ledger_host, ledger_port) = split_host_port(&args.ledger)?;
    clusters.push(cluster(
        LEDGER_CLUSTER,
        &Endpoint {
            tls: false,
            host: ledger_host,
            port: ledger_port,
        },
        "2s",
        args.buffer_limit_bytes,
    ));

    let mut manager = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "tollgate",
        "codec_type": "AUTO",
        "stream_idle_timeout": "300s",
        "route_config": {
            "name": "providers",
            "virtual_hosts": [{"name": "providers", "domains": ["*"], "routes": routes}]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.wasm",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                    "config": {
                        "name": "tollgate",
                        "root_id": "tollgate_http",
                        // Without this Envoy turns Pause into "stop everything" and
                        // the body is never delivered (NOTES).
                        "allow_on_headers_stop_iteration": true,
                        "fail_open": false,
                        "configuration": string_value(filter_json.clone()),
                        "vm_config": vm_config("tollgate", {
                            let mut envs = filter_config.credential_envs();
                            envs.push(LEDGER_TOKEN_ENV.to_string());
                            envs
                        }),
                    }
                }
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
            }
        ]
    });
    // WebSocket handshakes always reach the filter, so one it refuses (realtime not let
    // through, an unknown key, an empty wallet) gets its JSON error instead of Envoy's
    // bare 403; only with realtime let through is there a route and a cluster to carry
    // them. The upgraded stream's data passes through the same filter chain, so the
    // Tollgate filter reads the session's server messages for usage.
    manager["upgrade_configs"] = json!([{"upgrade_type": "websocket"}]);

    Ok(json!({
        "admin": {"address": socket_address(&args.admin)?},
        "bootstrap_extensions": [{
            "name": "envoy.bootstrap.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
                "singleton": true,
                "config": {
                    "name": "tollgate-flusher",
                    "root_id": "tollgate_flusher",
                    "configuration": string_value(filter_json.clone()),
                    // The data plane's ledger token: read from Envoy's environment, so
                    // it is never in this file or in config_dump.
                    "vm_config": vm_config(FLUSHER_VM_ID, vec![LEDGER_TOKEN_ENV.to_string()]),
                }
            }
        }],
        "static_resources": {
            "listeners": [{
                "name": "tollgate",
                "address": socket_address(&args.listen)?,
                "per_connection_buffer_limit_bytes": args.buffer_limit_bytes,
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": manager
                }]}]
            }],
            "clusters": clusters
        }
    }))
}

pub fn render_envoy_command(args: &RenderArgs) -> Result<(), String> {
    let mut config = config_file::load_or_report(&args.config)?.config;
    apply_endpoint_overrides(&mut config, args)?;
    let wasm = std::path::absolute(&args.wasm).map_err(|e| format!("--wasm: {e}"))?;
    let mut value = bootstrap(&config, args, &wasm)?;
    super::options::apply(&mut value, &args.ops, &args.admin)?;
    let yaml = format!(
        "# Generated by `tollgate-ledger render-envoy {}`: edit the Tollgate config, not this file.\n{}",
        args.config.display(),
        serde_yaml_ng::to_string(&value).map_err(|e| e.to_string())?
    );
    match &args.out {
        Some(path) => std::fs::write(path, yaml).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            print!("{yaml}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RenderArgs,
    }

    fn render(extra: &[&str]) -> Value {
        render_with(extra, |_| {})
    }

    /// [`render`] with the example configuration changed by `change`.
    fn render_with(extra: &[&str], change: impl FnOnce(&mut Config)) -> Value {
        let mut argv = vec!["x", "../examples/tollgate.yaml"];
        argv.extend_from_slice(extra);
        let cli = Cli::parse_from(argv);
        let mut config = config_file::load(&cli.args.config)
            .map_err(|e| e.report(&cli.args.config))
            .unwrap()
            .config;
        change(&mut config);
        apply_endpoint_overrides(&mut config, &cli.args).unwrap();
        bootstrap(&config, &cli.args, Path::new("/x/f.wasm")).unwrap()
    }

    fn manager(b: &Value) -> &Value {
        &b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    }

    fn find<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
        list.as_array()?.iter().find(|c| c["name"] == name)
    }

    #[test]
    fn realtime_let_through_allows_websocket_upgrades_over_an_http1_cluster() {
        use tollgate_core::config::OtherEndpoints;
        // Refused (the default): upgrades reach the filter (which refuses them in JSON),
        // but no route or cluster carries them.
        let refused = render(&[]);
        assert_eq!(
            manager(&refused)["upgrade_configs"],
            json!([{"upgrade_type": "websocket"}])
        );
        let routes = manager(&refused)["route_config"]["virtual_hosts"][0]["routes"].clone();
        assert!(routes.as_array().is_some_and(|r| !r.is_empty()));
        assert!(!routes.to_string().contains("\"upgrade\""), "{routes}");
        let clusters = &refused["static_resources"]["clusters"];
        assert!(find(clusters, OPENAI_WEBSOCKET_CLUSTER).is_none());

        for other in [
            OtherEndpoints {
                realtime: Some(EndpointPolicy::Passthrough),
                ..OtherEndpoints::default()
            },
            OtherEndpoints {
                default: EndpointPolicy::Passthrough,
                ..OtherEndpoints::default()
            },
        ] {
            let b = render_with(&[], |c| c.other_endpoints = other);
            assert_eq!(
                manager(&b)["upgrade_configs"],
                json!([{"upgrade_type": "websocket"}])
            );
            let clusters = &b["static_resources"]["clusters"];
            let ws = find(clusters, OPENAI_WEBSOCKET_CLUSTER).expect("websocket cluster");
            let tls = &ws["transport_socket"]["typed_config"]["common_tls_context"];
            assert_eq!(tls["alpn_protocols"], json!(["http/1.1"]));
            assert_eq!(
                tls["validation_context"]["match_typed_subject_alt_names"][0]["matcher"]["exact"],
                json!("api.openai.com")
            );
            let options = &ws["typed_extension_protocol_options"]
                ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
            assert!(options["explicit_http_config"]["http_protocol_options"].is_object());
            assert!(options.get("auto_config").is_none());
            // The chat cluster keeps HTTP/2.
            let openai = find(clusters, "provider_openai").unwrap();
            assert!(openai["typed_extension_protocol_options"]
                ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["auto_config"]
                .is_object());
            // Upgrades to OpenAI take it; the route comes before the plain OpenAI one.
            let routes = &manager(&b)["route_config"]["virtual_hosts"][0]["routes"];
            let first = &routes[0];
            assert_eq!(first["route"]["cluster"], json!(OPENAI_WEBSOCKET_CLUSTER));
            assert_eq!(first["match"]["headers"][1]["name"], json!("upgrade"));
            assert_eq!(routes[1]["route"]["cluster"], json!("provider_openai"));
        }

        // On the simulator the cluster is plain HTTP/1.1 to the same address.
        let b = render_with(&["--simulator", "http://127.0.0.1:9000"], |c| {
            c.other_endpoints.realtime = Some(EndpointPolicy::Passthrough);
        });
        let ws = find(&b["static_resources"]["clusters"], OPENAI_WEBSOCKET_CLUSTER).unwrap();
        assert!(ws.get("transport_socket").is_none());
        assert!(ws.get("typed_extension_protocol_options").is_none());
        assert_eq!(
            ws["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"],
            json!(9000)
        );
    }

    #[test]
    fn keys_never_appear_in_the_bootstrap_only_their_digests() {
        let text = render(&[]).to_string();
        assert!(!text.contains("kt_cg_support_prod"));
        let digest =
            tollgate_core::keys::hex(&tollgate_core::keys::digest_key("kt_cg_support_prod"));
        assert!(text.contains(&digest));
    }

    #[test]
    fn public_providers_get_tls_clusters_and_simulator_plain_ones() {
        let v = render(&[]);
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        let openai = clusters
            .iter()
            .find(|c| c["name"] == "provider_openai")
            .unwrap();
        assert_eq!(
            openai["transport_socket"]["typed_config"]["sni"],
            "api.openai.com"
        );
        assert!(clusters.iter().any(|c| c["name"] == LEDGER_CLUSTER));

        let v = render(&["--simulator", "http://127.0.0.1:9000"]);
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        let openai = clusters
            .iter()
            .find(|c| c["name"] == "provider_openai")
            .unwrap();
        assert!(openai.get("transport_socket").is_none());
        assert_eq!(openai["type"], "STATIC");
    }

    #[test]
    fn a_bedrock_lane_gets_a_tls_cluster_at_its_regional_runtime_endpoint() {
        let mut config = config_file::load(Path::new("../examples/tollgate.yaml"))
            .unwrap()
            .config;
        let mut nova = config.providers.targets[0].clone();
        nova.id = "nova".into();
        nova.provider = ProviderKind::Bedrock;
        nova.model = "amazon.nova-lite-v1:0".into();
        nova.secret_key_ref.env = "AWS_SECRET_ACCESS_KEY".into();
        nova.aws = Some(tollgate_core::config::AwsLane {
            region: "eu-west-3".into(),
            access_key_id_ref: tollgate_core::config::SecretKeyRef {
                env: "AWS_ACCESS_KEY_ID".into(),
            },
            session_token_ref: None,
        });
        config.providers.targets.push(nova);
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        let cli = Cli::parse_from(["x", "f"]);
        let v = bootstrap(&config, &cli.args, Path::new("/x/f.wasm")).unwrap();
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        let lane = clusters.iter().find(|c| c["name"] == "lane_nova").unwrap();
        assert_eq!(
            lane["transport_socket"]["typed_config"]["sni"],
            "bedrock-runtime.eu-west-3.amazonaws.com"
        );
        let text = v.to_string();
        assert!(text.contains(r#"{"exact":"lane_nova"}"#));
        assert!(!text.contains("provider_bedrock"));
        // The VM may read the key id and secret, whose names (not values) are rendered.
        assert!(text.contains("AWS_ACCESS_KEY_ID") && text.contains("AWS_SECRET_ACCESS_KEY"));

        let cli = Cli::parse_from(["x", "f", "--simulator", "http://127.0.0.1:9000"]);
        apply_endpoint_overrides(&mut config, &cli.args).unwrap();
        let v = bootstrap(&config, &cli.args, Path::new("/x/f.wasm")).unwrap();
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        let lane = clusters.iter().find(|c| c["name"] == "lane_nova").unwrap();
        assert!(lane.get("transport_socket").is_none());
    }

    #[test]
    fn each_openai_compatible_lane_gets_its_own_cluster_and_route() {
        let mut config = config_file::load(Path::new("../examples/tollgate.yaml"))
            .unwrap()
            .config;
        let mut vllm = config.providers.targets[0].clone();
        vllm.id = "vllm".into();
        vllm.provider = ProviderKind::OpenaiCompatible;
        vllm.base_url = Some("https://llm.internal:8443/v1".into());
        config.providers.targets.push(vllm);
        let cli = Cli::parse_from(["x", "f"]);
        let v = bootstrap(&config, &cli.args, Path::new("/x/f.wasm")).unwrap();
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        let lane = clusters.iter().find(|c| c["name"] == "lane_vllm").unwrap();
        assert_eq!(
            lane["transport_socket"]["typed_config"]["sni"],
            "llm.internal"
        );
        let text = v.to_string();
        assert!(
            text.contains(r#"{"exact":"lane_vllm"}"#),
            "routed by the lane's key"
        );
        assert!(!text.contains("provider_openai_compatible"));

        // Under the simulator the lane keeps its base path on the simulator's address.
        let cli = Cli::parse_from(["x", "f", "--simulator", "http://127.0.0.1:9000"]);
        apply_endpoint_overrides(&mut config, &cli.args).unwrap();
        assert_eq!(
            config.providers.targets[2].base_url.as_deref(),
            Some("http://127.0.0.1:9000/v1")
        );
    }

    #[test]
    fn each_azure_lane_gets_a_tls_cluster_for_its_resource_and_only_its_key_env_name() {
        let mut config = config_file::load(Path::new("../examples/tollgate.yaml"))
            .unwrap()
            .config;
        let mut azure = config.providers.targets[0].clone();
        azure.id = "azure-mini".into();
        azure.provider = ProviderKind::AzureOpenai;
        azure.base_url = Some("https://myres.openai.azure.com".into());
        azure.deployment = Some("mini-prod".into());
        azure.api_version = Some("2024-10-21".into());
        azure.secret_key_ref.env = "AZURE_OPENAI_KEY".into();
        config.providers.targets.push(azure);
        assert_eq!(config.validate(), vec![]);
        let cli = Cli::parse_from(["x", "f"]);
        let v = bootstrap(&config, &cli.args, Path::new("/x/f.wasm")).unwrap();
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        let lane = clusters
            .iter()
            .find(|c| c["name"] == "lane_azure-mini")
            .unwrap();
        let tls = &lane["transport_socket"]["typed_config"];
        assert_eq!(tls["sni"], "myres.openai.azure.com");
        assert_eq!(
            tls["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0]
                ["matcher"]["exact"],
            "myres.openai.azure.com"
        );
        assert_eq!(lane["type"], "LOGICAL_DNS");
        assert_eq!(
            lane["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
                ["socket_address"]["port_value"],
            443
        );
        let text = v.to_string();
        assert!(text.contains(r#"{"exact":"lane_azure-mini"}"#));
        assert!(!text.contains("provider_azure_openai"));
        let hcm = &v["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"];
        let wasm = &hcm["http_filters"][0]["typed_config"]["config"];
        let envs = wasm["vm_config"]["environment_variables"]["host_env_keys"]
            .as_array()
            .unwrap();
        assert!(envs.contains(&json!("AZURE_OPENAI_KEY")));
        let fc: FilterConfig =
            serde_json::from_str(wasm["configuration"]["value"].as_str().unwrap()).unwrap();
        let lane = fc.lanes.iter().find(|l| l.id == "azure-mini").unwrap();
        assert_eq!(lane.azure.as_ref().unwrap().deployment, "mini-prod");
        assert_eq!(lane.credential_env, "AZURE_OPENAI_KEY");

        // Under the simulator the lane is called at the simulator's address.
        let cli = Cli::parse_from(["x", "f", "--simulator", "http://127.0.0.1:9000"]);
        apply_endpoint_overrides(&mut config, &cli.args).unwrap();
        assert_eq!(
            config.providers.targets[2].base_url.as_deref(),
            Some("http://127.0.0.1:9000")
        );
    }

    #[test]
    fn gemini_and_vertex_lanes_get_tls_clusters_and_name_only_their_key_variables() {
        let mut config = config_file::load(Path::new("../examples/tollgate.yaml"))
            .unwrap()
            .config;
        let mut gemini = config.providers.targets[0].clone();
        gemini.id = "flash".into();
        gemini.provider = ProviderKind::Gemini;
        gemini.model = "gemini-2.5-flash".into();
        gemini.secret_key_ref.env = "GEMINI_API_KEY".into();
        let mut vertex = gemini.clone();
        vertex.id = "vertex-pro".into();
        vertex.provider = ProviderKind::VertexAi;
        vertex.model = "gemini-2.5-pro".into();
        vertex.project = Some("acme-ml".into());
        vertex.location = Some("europe-west4".into());
        vertex.secret_key_ref.env = "VERTEX_ACCESS_TOKEN".into();
        config.providers.targets.extend([gemini, vertex]);
        assert!(config.validate().is_empty(), "{:?}", config.validate());
        let cli = Cli::parse_from(["x", "f"]);
        let v = bootstrap(&config, &cli.args, Path::new("/x/f.wasm")).unwrap();
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        let sni = |name: &str| {
            let c = clusters.iter().find(|c| c["name"] == name).unwrap();
            c["transport_socket"]["typed_config"]["sni"].clone()
        };
        assert_eq!(
            sni("provider_gemini"),
            json!("generativelanguage.googleapis.com")
        );
        assert_eq!(
            sni("lane_vertex-pro"),
            json!("europe-west4-aiplatform.googleapis.com")
        );
        let text = v.to_string();
        assert!(text.contains(r#"{"exact":"gemini"}"#));
        assert!(text.contains(r#"{"exact":"lane_vertex-pro"}"#));
        let hcm = &v["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"];
        let wasm = &hcm["http_filters"][0]["typed_config"]["config"];
        let envs = wasm["vm_config"]["environment_variables"]["host_env_keys"].to_string();
        assert!(envs.contains("GEMINI_API_KEY") && envs.contains("VERTEX_ACCESS_TOKEN"));
        let fc: FilterConfig =
            serde_json::from_str(wasm["configuration"]["value"].as_str().unwrap()).unwrap();
        let vertex = fc.lanes.iter().find(|l| l.id == "vertex-pro").unwrap();
        assert_eq!(
            vertex.generate_content_path(true),
            "/v1/projects/acme-ml/locations/europe-west4/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(vertex.authority, "europe-west4-aiplatform.googleapis.com");
        let flash = fc.lanes.iter().find(|l| l.id == "flash").unwrap();
        assert_eq!(
            flash.generate_content_path(false),
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );

        // Under the simulator both go to its address, keeping their paths.
        let cli = Cli::parse_from(["x", "f", "--simulator", "http://127.0.0.1:9000"]);
        apply_endpoint_overrides(&mut config, &cli.args).unwrap();
        let v = bootstrap(&config, &cli.args, Path::new("/x/f.wasm")).unwrap();
        let clusters = v["static_resources"]["clusters"].as_array().unwrap();
        for name in ["provider_gemini", "lane_vertex-pro"] {
            let c = clusters.iter().find(|c| c["name"] == name).unwrap();
            assert!(c.get("transport_socket").is_none(), "{name}");
        }
    }

    #[test]
    fn filter_gets_its_config_and_the_credential_env_names() {
        let v = render(&["--ledger", "127.0.0.1:7777"]);
        let hcm = &v["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"];
        let wasm = &hcm["http_filters"][0]["typed_config"]["config"];
        assert_eq!(wasm["allow_on_headers_stop_iteration"], true);
        assert_eq!(
            wasm["vm_config"]["environment_variables"]["host_env_keys"],
            json!([
                "ANTHROPIC_API_KEY",
                "OPENAI_API_KEY",
                "TOLLGATE_LEDGER_TOKEN"
            ])
        );
        let flusher = &v["bootstrap_extensions"][0]["typed_config"]["config"];
        assert_eq!(
            flusher["vm_config"]["environment_variables"]["host_env_keys"],
            json!(["TOLLGATE_LEDGER_TOKEN"])
        );
        let fc: FilterConfig =
            serde_json::from_str(wasm["configuration"]["value"].as_str().unwrap()).unwrap();
        assert_eq!(fc.lanes.len(), 2);
        assert_eq!(fc.events.ledger_authority, "127.0.0.1:7777");
    }

    #[test]
    fn bad_overrides_are_errors() {
        let cli = Cli::parse_from(["x", "f", "--provider-url", "mistral=http://x"]);
        let mut config = config_file::parse(include_str!("../../../examples/tollgate.yaml"))
            .unwrap()
            .config;
        assert!(apply_endpoint_overrides(&mut config, &cli.args)
            .unwrap_err()
            .contains("unknown provider"));
    }
}
