//! Alerts leaders see and act on: where each one goes (the config file's webhooks,
//! which hear every team, and the team's own channels), what on the dashboard explains
//! it and what answers it ([`guide`]), the team channels' rules ([`channels`]), spend
//! anomalies ([`anomaly`]), low wallets ([`wallet_low`]) and email ([`email`]).

pub mod anomaly;
pub mod channels;
pub mod email;
pub mod guide;
mod route;
pub mod wallet_low;

pub use channels::DIGESTS;
pub use route::{channel_targets, config_targets, record, ORGANISATION};
