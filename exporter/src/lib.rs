//! pakiti-exporter as a library: the binary in `main.rs` is glue over these modules.

pub mod cli;
pub mod config;
pub mod metrics;
pub mod push;
pub mod snapshot;
pub mod text;
pub mod textfile;
pub mod web;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("PAKITI_REVISION");
