//! Loading `tollgate.yaml`: YAML text → [`Config`], with errors that name the file, the
//! path in the document and what was expected.
//!
//! YAML crate: `serde_yaml_ng`, the maintained continuation of `serde_yaml` (deprecated
//! upstream) with the same data model, so errors keep line/column positions and
//! duplicate mapping keys are rejected. `serde_path_to_error` adds the document path.

use std::path::Path;

use tollgate_core::config::{Catalogue, Config, ConfigProblem};

/// Why a configuration file could not be used.
#[derive(Debug)]
pub enum LoadError {
    Read(String),
    /// YAML syntax or type errors: the path in the document and the message.
    Parse {
        path: String,
        message: String,
    },
    /// The document parsed but breaks cross-field rules.
    Invalid(Vec<ConfigProblem>),
}

impl LoadError {
    /// One line per problem, each prefixed with the file name.
    pub fn report(&self, file: &Path) -> String {
        let f = file.display();
        match self {
            LoadError::Read(e) => format!("{f}: cannot read: {e}"),
            LoadError::Parse { path, message } => format!("{f}: at `{path}`: {message}"),
            LoadError::Invalid(problems) => problems
                .iter()
                .map(|p| format!("{f}: at `{}`: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// A loaded, validated configuration and the warnings worth showing.
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigProblem>,
}

/// YAML text → `T`, with the path in the document of any error.
fn from_yaml<T: serde::de::DeserializeOwned>(text: &str, prefix: &str) -> Result<T, LoadError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        LoadError::Parse {
            path: match (prefix, path.as_str()) {
                ("", ".") => "(document)".into(),
                (p, ".") => p.to_string(),
                ("", _) => path,
                (p, _) => format!("{p}: {path}"),
            },
            message: e.into_inner().to_string(),
        }
    })
}

/// A configuration whose relative paths (`price_catalogue`) are relative to the
/// working directory.
#[cfg(test)]
pub fn parse(text: &str) -> Result<Loaded, LoadError> {
    parse_at(text, Path::new("tollgate.yaml"))
}

/// The text of the configuration file `file`: parsed, its price catalogue read
/// (relative to the file's directory), validated.
pub fn parse_at(text: &str, file: &Path) -> Result<Loaded, LoadError> {
    let mut config: Config = from_yaml(text, "")?;
    if let Some(name) = config.price_catalogue.as_deref() {
        let path = file.parent().unwrap_or(Path::new("")).join(name);
        config.catalogue = Some(read_catalogue(&path)?);
    }
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(LoadError::Invalid(problems));
    }
    let warnings = config.warnings();
    Ok(Loaded { config, warnings })
}

/// An operator's price catalogue file (the format of the built-in
/// `filter/core/catalogue/prices.yaml`).
pub fn read_catalogue(path: &Path) -> Result<Catalogue, LoadError> {
    let at = format!("price_catalogue ({})", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| {
        LoadError::Invalid(vec![ConfigProblem {
            path: "price_catalogue".into(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    let catalogue: Catalogue = from_yaml(&text, &at)?;
    let problems: Vec<ConfigProblem> = catalogue
        .problems()
        .into_iter()
        .map(|p| ConfigProblem {
            path: format!("{at}: {}", p.path),
            message: p.message,
        })
        .collect();
    if !problems.is_empty() {
        return Err(LoadError::Invalid(problems));
    }
    Ok(catalogue)
}

pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read(e.to_string()))?;
    parse_at(&text, path)
}

/// Loads `path` or prints every problem and returns the failure, for CLI commands.
pub fn load_or_report(path: &Path) -> Result<Loaded, String> {
    load(path).map_err(|e| e.report(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../examples/seed-config.yaml");

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.report(Path::new("t.yaml")),
        }
    }

    #[test]
    fn seed_config_loads_unchanged() {
        let loaded = parse(SEED).expect("seed config must load");
        assert_eq!(loaded.config.consumer_groups.len(), 3);
        assert_eq!(
            loaded.config.providers.targets[0].model,
            "gpt-5.4-mini-mini"
        );
        assert!(loaded.config.cost_tracking.wallet_enforcement);
    }

    #[test]
    fn pricing_rules_are_written_in_yaml_and_checked() {
        let text = format!(
            "{SEED}pricing:
  gpt-5.4-mini-mini:
    input: 1.25
    cached_input: \"0.125\"
    cache_write_1h: \"2.5\"
    output: 10
    web_search_per_1k: \"10\"
    service_tiers:
      flex: {{input: \"0.625\", cached_input: \"0.0625\", output: 5}}
    long_context: {{above_input_tokens: 272000, input: \"2.5\", output: 15}}
"
        );
        let loaded = parse(&text).expect("pricing rules load");
        let price =
            tollgate_core::pricing::ModelPrice::from(&loaded.config.pricing["gpt-5.4-mini-mini"]);
        assert_eq!(
            price.base.cache_write, 1_562_500,
            "5-minute writes: 1.25 × input"
        );
        assert_eq!(price.base.cache_write_1h, 2_500_000);
        assert_eq!(price.service_tiers["flex"].output, 5_000_000);
        assert_eq!(price.long_context.unwrap().above_input_tokens, 272_000);
        assert_eq!(price.web_search_per_1k_nanos, 10_000_000_000);
        let e = parse_err(&text.replace("flex: {input", "flex: {inptu"));
        assert!(e.contains("service_tiers.flex"), "{e}");
    }

    #[test]
    fn an_operators_price_catalogue_is_read_beside_the_file_and_checked() {
        let dir = std::env::temp_dir().join(format!("tollgate-catalogue-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("prices")).unwrap();
        let config = dir.join("tollgate.yaml");
        std::fs::write(&config, format!("{SEED}price_catalogue: prices/ops.yaml\n")).unwrap();
        let catalogue = "version: ops-1
models:
  gpt-5.4-mini-mini:
    - {effective_from: \"2026-01-01\", input: \"1\", output: \"2\"}
    - {effective_from: \"2026-12-01\", input: \"0.5\", output: \"1\", batch: {input: \"0.25\", output: \"0.5\"}}
";
        std::fs::write(dir.join("prices/ops.yaml"), catalogue).unwrap();
        let loaded = load(&config).expect("loads with its catalogue");
        let c = loaded.config.catalogue.as_ref().expect("read");
        assert_eq!(c.version, "ops-1");
        assert_eq!(c.models["gpt-5.4-mini-mini"].len(), 2);
        // Its lane is now priced; the other seed lane still is not.
        let unpriced: Vec<&str> = loaded
            .warnings
            .iter()
            .filter(|w| w.message.contains("no price covers"))
            .map(|w| w.path.as_str())
            .collect();
        assert_eq!(unpriced, vec!["providers.targets[1].model"]);
        assert!(loaded.warnings[0].message.contains("'claude-haiku'"));
        // Two entries for one day, a bad date, a missing file: errors naming the file.
        let report = |text: &str| {
            std::fs::write(dir.join("prices/ops.yaml"), text).unwrap();
            match load(&config) {
                Ok(_) => panic!("expected an error"),
                Err(e) => e.report(&config),
            }
        };
        let dup = catalogue.replace("2026-12-01", "2026-01-01");
        assert!(report(&dup)
            .contains("models.gpt-5.4-mini-mini`: two prices take effect on the same day"));
        let bad = catalogue.replace("2026-12-01", "2026-13-01");
        let r = report(&bad);
        assert!(
            r.contains("price_catalogue (") && r.contains("YYYY-MM-DD"),
            "{r}"
        );
        std::fs::remove_file(dir.join("prices/ops.yaml")).unwrap();
        let missing = load(&config).err().expect("no catalogue file");
        assert!(missing
            .report(&config)
            .contains("at `price_catalogue`: cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shipped_example_loads_without_warnings() {
        let loaded = parse(include_str!("../../examples/tollgate.yaml")).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn unknown_key_names_file_path_and_expectation() {
        let text = SEED.replace("ttl_seconds: 1800", "ttl_seconds: 1800\n  ttl_minutes: 3");
        let e = parse_err(&text);
        assert!(e.starts_with("t.yaml: at `cache"), "{e}");
        assert!(e.contains("unknown field `ttl_minutes`"), "{e}");
        assert!(e.contains("expected one of"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_path() {
        let e = parse_err(&SEED.replace("max_entries: 10000", "max_entries: lots"));
        assert!(e.contains("at `cache.max_entries`"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn duplicate_yaml_keys_are_rejected() {
        let e =
            parse_err(&SEED.replace("ttl_seconds: 1800", "ttl_seconds: 1800\n  ttl_seconds: 60"));
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn duplicate_ids_and_undefined_wallets_are_all_reported() {
        let text = SEED
            .replace("id: anthropic-haiku", "id: openai-gpt4o-mini")
            .replace("api_key: kt_cg_finance_prod", "api_key: kt_cg_support_prod")
            + "wallets:\n  - team_id: team_support\n    initial_usd: 10\n";
        let e = parse_err(&text);
        assert!(
            e.contains("at `providers.targets[1].id`: duplicate target id"),
            "{e}"
        );
        assert!(
            e.contains("at `consumer_groups[2].api_key`: duplicate key"),
            "{e}"
        );
        assert!(e.contains("at `consumer_groups[1].wallet_team_id`: wallet 'team_engineering' has no definition"), "{e}");
        assert!(
            !e.contains("kt_cg_support_prod"),
            "keys must not be echoed: {e}"
        );
    }

    #[test]
    fn unknown_provider_and_strategy_are_type_errors() {
        let e = parse_err(&SEED.replace("provider: anthropic", "provider: mistral"));
        assert!(e.contains("at `providers.targets[1].provider`"), "{e}");
        assert!(e.contains("unknown variant `mistral`"), "{e}");
        let e = parse_err(&SEED.replace("strategy: usage_based", "strategy: fastest"));
        assert!(e.contains("at `providers.routing.strategy`"), "{e}");
    }
}
