//! A listener that serves only Envoy's `/stats/prometheus`, for scrapers that must not
//! reach the admin interface.

use serde_json::{json, Value};

/// Name of the cluster that reaches Envoy's own admin interface (metrics listener).
pub const ADMIN_CLUSTER: &str = "envoy_admin";

fn host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("'{addr}' must be HOST:PORT"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("'{addr}' has an invalid port"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// A listener answering `GET /stats/prometheus` from the admin interface, 404 otherwise.
pub fn metrics_listener(listen: &str, admin: &str) -> Result<(Value, Value), String> {
    let (host, port) = host_port(listen)?;
    let (admin_host, admin_port) = host_port(admin)?;
    let admin_host = match admin_host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" => "::1".to_string(),
        _ => admin_host,
    };
    let listener = json!({
        "name": "tollgate_metrics",
        "address": {"socket_address": {"address": host, "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "tollgate_metrics",
                "route_config": {"virtual_hosts": [{
                    "name": "metrics",
                    "domains": ["*"],
                    "routes": [
                        {"match": {"path": "/stats/prometheus", "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
                         "route": {"cluster": ADMIN_CLUSTER}},
                        {"match": {"prefix": "/"}, "direct_response": {"status": 404}}
                    ]
                }]},
                "http_filters": [{
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
                }]
            }
        }]}]
    });
    let cluster = json!({
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": admin_host, "port_value": admin_port}
            }}}]}]
        }
    });
    Ok((listener, cluster))
}
