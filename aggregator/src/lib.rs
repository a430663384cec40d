//! pakiti-aggregator as a library: `main.rs` is glue over these modules.

pub mod affected;
pub mod app;
mod bounded;
pub mod config;
pub mod covered;
pub mod decide;
pub mod decisions;
pub mod excepted;
pub mod export;
pub mod exposure;
pub mod federate;
pub mod feed_dir;
pub mod feed_fetch;
pub mod feeds;
pub mod fleet;
pub mod fleet_list;
pub mod forward;
pub mod host_page;
mod host_updates;
pub mod hosts_page;
pub mod memory;
pub mod metrics;
pub mod packages;
pub mod page;
pub mod read;
pub mod receive;
pub mod releases;
pub mod rematch;
pub mod scrape;
pub mod selector;
pub mod state;
pub mod trust;
pub mod vulnerabilities;
pub mod web;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("PAKITI_REVISION");
