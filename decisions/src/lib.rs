//! What operators decide about vulnerability findings, pure: the priorities
//! others publish (CISA's Known Exploited Vulnerabilities catalog, `kev.rs`;
//! FIRST's EPSS scores, `epss.rs`), the decisions operators record (`file.rs`:
//! tags and exceptions as the decisions file writes them, validated entry by
//! entry; `exception.rs`: which findings an exception covers, and until
//! when), the deadlines that follow (`deadline.rs`) and the one "fix first"
//! order (`priority.rs`). Dates are whole UTC days (`date.rs`).
//!
//! Knows no store, no HTTP, no file system beyond the reader or text it is
//! given, and no feed of packages: a finding is described to it by the
//! caller ([`exception::Target`]).

pub mod date;
pub mod deadline;
pub mod epss;
pub mod exception;
pub mod file;
pub mod kev;
pub mod priority;

pub use date::Date;
pub use deadline::Deadlines;
pub use exception::{Exception, Scope, State, Target};
pub use file::{Decisions, Tag};
