//! The user-facing configuration schema (`tollgate.yaml`).
//!
//! The shape starts from the published seed config (`version`, `providers`, `cache`,
//! `consumer_groups`, `cost_tracking`) and only ever extends it. Every struct denies
//! unknown keys so a typo is an error, not a silently ignored setting.
//!
//! Parsing the YAML text is the ledger's job (the filter receives the derived
//! [`filter_config::FilterConfig`] as JSON); this module owns the types and the
//! cross-field validation both sides rely on. Children: [`schema`] (the types),
//! [`validate`] (cross-field checks), [`calendar`] (dates), [`filter_config`] (the
//! filter's compiled view), [`price_coverage`] (lanes no price covers), [`azure_lane`] (an Azure OpenAI lane's
//! fields), [`google_lanes`] (what Gemini and Vertex AI lanes must name).

pub mod azure_lane;
mod calendar;
pub mod filter_config;
mod google_lanes;
pub mod price_coverage;
pub mod schema;
#[cfg(test)]
pub(crate) mod tests;
mod validate;

pub use calendar::{civil_from_days, days_from_civil, days_in_month, is_leap, parse_date_days};
pub use schema::*;
pub use validate::ConfigProblem;
