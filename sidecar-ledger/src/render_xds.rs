//! Operator options of `render-envoy`: Prometheus labels for the filter's counters,
//! a metrics-only listener, and a bootstrap whose listeners and clusters live in
//! files Envoy watches, so a re-render reaches a running Envoy without a restart.
//!
//! Hot reload (`--xds-dir`): the bootstrap keeps only what never changes at run time
//! (admin, stats tags, the singleton event flusher) and points `dynamic_resources` at
//! `lds.yaml` and `cds.yaml` in one directory. Re-running `render-envoy` with the same
//! arguments rewrites those two files atomically (write, then rename); Envoy notices
//! the move, applies the new clusters, then the new listener. A changed listener is
//! updated in place: new connections get the new filter configuration (new teams,
//! lanes, prices), connections already open finish on the old one and are drained,
//! so no request is dropped. The Wasm VM is reused (same `vm_id` and code), so the
//! response cache, lane statistics and leased credit in shared data survive.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tollgate_core::stats::{tag_regex, LABELS};

/// Name of the cluster that reaches Envoy's own admin interface (metrics listener).
pub const ADMIN_CLUSTER: &str = "envoy_admin";
pub const LDS_FILE: &str = "lds.yaml";
pub const CDS_FILE: &str = "cds.yaml";

#[derive(clap::Args, Debug, Default)]
pub struct OpsArgs {
    /// Hot reload: write listeners to DIR/lds.yaml and clusters to DIR/cds.yaml, and a
    /// bootstrap that makes Envoy watch them. Re-rendering into DIR then updates a
    /// running Envoy without a restart or dropped requests.
    #[arg(long, value_name = "DIR")]
    pub xds_dir: Option<PathBuf>,
    /// Where Envoy sees the --xds-dir directory (e.g. a ConfigMap mount in a pod);
    /// default: --xds-dir made absolute.
    #[arg(long, value_name = "PATH", requires = "xds_dir")]
    pub xds_mount: Option<PathBuf>,
    /// Add a listener at HOST:PORT that serves only Envoy's `/stats/prometheus`
    /// (for scrapers that must not reach the admin interface).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,
}

/// `stats_config` turning the labels encoded in the filter's metric names into tags
/// (Prometheus labels), next to Envoy's default tags.
pub fn stats_config() -> Value {
    let tags: Vec<Value> = LABELS
        .iter()
        .map(|l| json!({"tag_name": l, "regex": tag_regex(l)}))
        .collect();
    json!({"use_all_default_tags": true, "stats_tags": tags})
}

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
fn metrics_listener(listen: &str, admin: &str) -> Result<(Value, Value), String> {
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

/// Writes `bytes` to `dir/name` atomically: readers (Envoy) see the old file or the
/// new one, never half of one.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let dest = dir.join(name);
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &dest).map_err(|e| format!("{}: {e}", dest.display()))
}

fn discovery_file(type_url: &str, resources: Vec<Value>) -> Result<String, String> {
    let resources: Vec<Value> = resources
        .into_iter()
        .map(|mut r| {
            if let Some(obj) = r.as_object_mut() {
                let mut typed = serde_json::Map::new();
                typed.insert("@type".into(), json!(type_url));
                typed.extend(std::mem::take(obj));
                *obj = typed;
            }
            r
        })
        .collect();
    let doc = json!({"resources": resources});
    Ok(format!(
        "# Generated by `tollgate-ledger render-envoy --xds-dir`: Envoy reloads this file when it is replaced.\n{}",
        serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?
    ))
}

/// Applies the operator options to a rendered bootstrap; with `--xds-dir`, moves its
/// listeners and clusters into the watched files (written here).
pub fn apply(bootstrap: &mut Value, ops: &OpsArgs, admin: &str) -> Result<(), String> {
    bootstrap["stats_config"] = stats_config();
    if let Some(listen) = &ops.metrics_listen {
        let (listener, cluster) = metrics_listener(listen, admin)?;
        let statics = &mut bootstrap["static_resources"];
        for (key, value) in [("listeners", listener), ("clusters", cluster)] {
            match statics[key].as_array_mut() {
                Some(list) => list.push(value),
                None => statics[key] = json!([value]),
            }
        }
    }
    let Some(dir) = &ops.xds_dir else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mount = match &ops.xds_mount {
        Some(m) => m.clone(),
        None => std::path::absolute(dir).map_err(|e| format!("--xds-dir: {e}"))?,
    };
    let statics = bootstrap["static_resources"]
        .as_object_mut()
        .ok_or("bootstrap has no static_resources")?;
    let take = |statics: &mut serde_json::Map<String, Value>, key: &str| match statics.remove(key) {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let listeners = take(statics, "listeners");
    let clusters = take(statics, "clusters");
    if statics.is_empty() {
        bootstrap
            .as_object_mut()
            .map(|b| b.remove("static_resources"));
    }
    // Clusters first: a new listener may route to a new cluster.
    write_atomically(
        dir,
        CDS_FILE,
        discovery_file(
            "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            clusters,
        )?
        .as_bytes(),
    )?;
    write_atomically(
        dir,
        LDS_FILE,
        discovery_file(
            "type.googleapis.com/envoy.config.listener.v3.Listener",
            listeners,
        )?
        .as_bytes(),
    )?;
    let source = |file: &str| {
        json!({
            "resource_api_version": "V3",
            "path_config_source": {
                "path": mount.join(file).display().to_string(),
                // Watching the directory also catches Kubernetes' ConfigMap updates,
                // which swap a symlink rather than the file.
                "watched_directory": {"path": mount.display().to_string()}
            }
        })
    };
    // Envoy requires a node identity for any dynamic resource, file-based included.
    if bootstrap.get("node").is_none() {
        bootstrap["node"] = json!({"id": "tollgate", "cluster": "tollgate"});
    }
    bootstrap["dynamic_resources"] = json!({
        "lds_config": source(LDS_FILE),
        "cds_config": source(CDS_FILE),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({
            "admin": {},
            "static_resources": {
                "listeners": [{"name": "tollgate"}],
                "clusters": [{"name": "ledger"}, {"name": "provider_openai"}]
            }
        })
    }

    #[test]
    fn stats_tags_cover_every_label() {
        let mut b = sample();
        apply(&mut b, &OpsArgs::default(), "127.0.0.1:9901").unwrap();
        let tags = b["stats_config"]["stats_tags"].as_array().unwrap();
        assert_eq!(tags.len(), LABELS.len());
        assert!(tags.contains(&json!({"tag_name": "team", "regex": r"(\.team=([^.]+))"})));
        // Nothing else changes without --xds-dir.
        assert_eq!(b["static_resources"], sample()["static_resources"]);
    }

    #[test]
    fn metrics_listener_reaches_the_admin_interface() {
        let mut b = sample();
        let ops = OpsArgs {
            metrics_listen: Some("0.0.0.0:9902".into()),
            ..Default::default()
        };
        apply(&mut b, &ops, "0.0.0.0:9901").unwrap();
        let clusters = b["static_resources"]["clusters"].as_array().unwrap();
        let admin = clusters
            .iter()
            .find(|c| c["name"] == ADMIN_CLUSTER)
            .unwrap();
        let addr = &admin["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
            ["address"]["socket_address"];
        assert_eq!(addr["address"], "127.0.0.1");
        assert_eq!(addr["port_value"], 9901);
        assert_eq!(
            b["static_resources"]["listeners"][1]["name"],
            "tollgate_metrics"
        );
    }

    #[test]
    fn xds_dir_moves_listeners_and_clusters_into_watched_files() {
        let dir = std::env::temp_dir().join(format!("tollgate-xds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut b = sample();
        let ops = OpsArgs {
            xds_dir: Some(dir.clone()),
            xds_mount: Some(PathBuf::from("/etc/tollgate/xds")),
            ..Default::default()
        };
        apply(&mut b, &ops, "127.0.0.1:9901").unwrap();
        assert!(b.get("static_resources").is_none());
        assert_eq!(
            b["dynamic_resources"]["lds_config"]["path_config_source"]["path"],
            "/etc/tollgate/xds/lds.yaml"
        );
        let lds: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join(LDS_FILE)).unwrap()).unwrap();
        assert_eq!(
            lds["resources"][0]["@type"],
            "type.googleapis.com/envoy.config.listener.v3.Listener"
        );
        assert_eq!(lds["resources"][0]["name"], "tollgate");
        let cds: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join(CDS_FILE)).unwrap()).unwrap();
        assert_eq!(cds["resources"].as_array().unwrap().len(), 2);
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
