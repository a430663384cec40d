//! The aggregator's metric names live here and nowhere else: the fleet for
//! `/federate` (`fleet.rs`, repeating the exporter's family names with `host`
//! and `site` labels) and the aggregator's own health for `/metrics`
//! (`health.rs`).

mod fleet;
mod health;

pub use fleet::{federate_into, federate_sites, open_counts, Decided, Watched, MAX_WATCHED};
pub use health::{ExceptionCounts, Health, TargetHealth};
