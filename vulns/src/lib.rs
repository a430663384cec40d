//! Vulnerability intelligence, pure: vendor feeds read into one record form
//! (`debian.rs`: the Debian security tracker's JSON; `arch.rs`: Arch's), and exact matching of
//! a host's installed packages against them (`matcher.rs`). No I/O beyond
//! the reader it is given, no database, no HTTP.
//!
//! A record says, for one vulnerability, one source package and one release
//! of a distribution, what the vendor decided: fixed in a version, not fixed
//! (yet, or ever), not affected. Matching compares the host's *source*
//! package and version with it in the distribution's own version order.

pub mod arch;
pub mod csaf;
pub mod cvss;
pub mod debian;
pub mod matcher;
pub mod osv;
pub mod secdb;
pub mod support;
pub mod testing;
pub mod vex;

pub use matcher::{
    decide, fixed_by, match_host, module_stream, tracked_as, tracked_keys, worst, Finding,
    HostPackages, Index, KernelRole, Matcher,
};

use pakiti_report::Severity;

/// What the vendor says of one vulnerability in one package and release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Fixed in this version: older versions are affected.
    Fixed(String),
    /// Affected, no fix yet.
    Unfixed,
    /// Affected, and the vendor will not fix it in this release.
    WontFix,
    /// Affected, and this release (or package) is out of security support.
    EndOfLife,
    /// Not yet known whether it is affected.
    Undetermined,
    /// Never affected (Debian's fixed version "0").
    NotAffected,
}

impl Status {
    /// The name PRODUCT.md gives it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Fixed(_) => "fixed",
            Status::Unfixed => "unfixed",
            Status::WontFix => "wont_fix",
            Status::EndOfLife => "end_of_life",
            Status::Undetermined => "undetermined",
            Status::NotAffected => "not_affected",
        }
    }
}

/// One vulnerability in one source package of one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `CVE-2024-3094`, or a vendor's own id (`TEMP-0000000-A1B2C3`).
    pub id: String,
    pub source_package: String,
    /// The release as the vendor names it (Debian: the codename).
    pub release: String,
    pub status: Status,
    /// The vendor's rating as written (`high`, `low**`, `unimportant`, …).
    pub vendor_severity: Option<String>,
    /// That rating as one of the five severities.
    pub severity: Severity,
    pub description: Option<String>,
    /// The vendor's advisory that fixed it, where the feed is one of
    /// advisories (`DSA-5678-1`, `ALSA-2024:1234`); the record's `id` is
    /// then the CVE it names.
    pub advisory: Option<String>,
}

/// Why a feed could not be read. Nothing of a feed that fails is used.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the feed is not JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}
