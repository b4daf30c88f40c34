//! Operator options of `render-envoy`: Prometheus labels for the filter's counters,
//! a metrics-only listener, and hot reload through watched files.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::hot_reload;
use super::metrics_listener::metrics_listener;
use super::stats_tags::stats_config;

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
    match &ops.xds_dir {
        Some(dir) => hot_reload::move_to_watched_files(bootstrap, dir, ops.xds_mount.as_deref()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::hot_reload::{CDS_FILE, LDS_FILE};
    use super::super::metrics_listener::ADMIN_CLUSTER;
    use super::*;
    use tollgate_core::metric_names::LABELS;

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
