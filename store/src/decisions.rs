//! Decisions recorded in the web UI and the audit log of every change, as
//! both stores keep them. The store knows no decision's meaning: a body is
//! the decision's fields as JSON (`pakiti-decisions` reads them), an audit
//! entry what was before and after.

use std::time::SystemTime;

/// A decision recorded in the web UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDecision {
    pub id: i64,
    /// `exception` or `tag`.
    pub kind: String,
    pub vulnerability: String,
    /// Its fields, as JSON.
    pub body: String,
    pub created_at: SystemTime,
    pub created_by: String,
}

/// One change of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: SystemTime,
    /// The operator, or `decisions file`.
    pub who: String,
    /// `added`, `removed`, `changed`.
    pub action: String,
    pub kind: String,
    pub vulnerability: String,
    pub before: Option<String>,
    pub after: Option<String>,
}
