//! The dashboard's data: `/v1/insights/*` and `/v1/session`.
//!
//! Every insights endpoint needs a token (see [`crate::auth`]); a team token is
//! confined to its team (`team=` of another team is 403). All are answered from the
//! daily rollups (`bucket=hour` from the hourly ones), so they stay fast as events
//! accumulate. Money is integer nanodollars; sentences state what a leader acts on.

mod args;
mod budget;
mod cache;
mod delivery;
pub mod digest;
mod drivers;
pub mod evidence;
mod grouping;
mod live;
mod mix;
mod near_repeats;
mod now;
mod premium;
mod recommendations;
mod scope;
mod series;
mod session;
mod teams;
#[cfg(test)]
mod tests;
mod top;
mod wallet;

pub use budget::get_budget;
pub use cache::get_cache;
pub use delivery::get_delivery;
pub use drivers::get_drivers;
pub use live::get_live;
pub use mix::get_mix;
pub use premium::get_premium;
pub use recommendations::get_recommendations;
pub use series::get_series;
pub use session::{delete_session, get_session, post_session};
pub use teams::get_teams;
pub use top::get_top;
pub use wallet::get_wallet;
