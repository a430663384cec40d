//! The pakiti report: what one host says about its pending updates.
//!
//! [`model`] holds the domain types; they are plain data, validated on
//! construction, and know nothing of JSON. [`wire`] is the only module that
//! knows the JSON format (schema version 1, documented by
//! `report/schema/report-v1.schema.json`).

pub mod clean;
pub mod digest;
pub mod entitlement;
pub mod model;
pub mod running;
pub mod testing;
pub mod time;
pub mod wire;

pub use clean::clean;
pub use digest::{digest_of_fields, installed_delta, installed_digest, is_digest};
pub use entitlement::Unentitled;
pub use model::*;
pub use running::{LivePatch, Restart, RestartUnit, Running};
pub use time::parse_rfc3339;
pub use wire::{
    from_json, to_json, to_json_pretty, to_json_without_installed, WireError, SCHEMA_VERSION,
};
