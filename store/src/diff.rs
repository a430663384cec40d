//! What storing a report does to a host, decided without a database: whether
//! anything changed (the content hash) and, when it did, the plan both stores
//! apply to the host's pending updates.

use std::collections::HashMap;

use pakiti_report::Report;

/// A pending update as stored, for comparison with a new report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub candidate: String,
    pub first_seen: i64,
    pub candidate_first_seen: i64,
    pub security_first_seen: Option<i64>,
    pub installed: String,
    pub severity: Option<String>,
    pub held: Option<String>,
    pub repository: Option<String>,
    pub advisories: String,
    pub cves: String,
}

/// One row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub name: String,
    pub arch: String,
    pub value: Stored,
}

#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// New or changed rows; unchanged ones are left alone.
    pub upserts: Vec<Row>,
    /// (name, arch) no longer pending.
    pub deletes: Vec<(String, String)>,
    /// Oldest first-seen time of a pending security update, overall and per severity.
    pub security_since: Option<i64>,
    pub since_by_severity: [Option<i64>; 5],
}

/// Keeps the first-seen times of what stays pending: `first_seen` across
/// candidate changes, `candidate_first_seen` for this candidate,
/// `security_first_seen` while it stays a security update.
pub(crate) fn plan(
    report: &Report,
    mut existing: HashMap<(String, String), Stored>,
    now: i64,
) -> Plan {
    let mut p = Plan::default();
    for u in &report.inventory.updates {
        let old = existing.remove(&(u.name.clone(), u.arch.clone()));
        let security_first_seen = u.security.map(|_| {
            old.as_ref()
                .and_then(|o| o.security_first_seen)
                .unwrap_or(now)
        });
        let value = Stored {
            candidate: u.candidate_version.clone(),
            first_seen: old.as_ref().map_or(now, |o| o.first_seen),
            candidate_first_seen: match &old {
                Some(o) if o.candidate == u.candidate_version => o.candidate_first_seen,
                _ => now,
            },
            security_first_seen,
            installed: u.installed_version.clone(),
            severity: u.security.map(|s| s.as_str().to_string()),
            held: u.held.map(|h| h.as_str().to_string()),
            repository: u.repository.clone(),
            advisories: u.advisories.join(" "),
            cves: u.cves.join(" "),
        };
        if let (Some(s), Some(sev)) = (security_first_seen, u.security) {
            p.security_since = Some(p.security_since.map_or(s, |m| m.min(s)));
            let slot = &mut p.since_by_severity[crate::severity_index(sev)];
            *slot = Some(slot.map_or(s, |m| m.min(s)));
        }
        if old.as_ref() != Some(&value) {
            p.upserts.push(Row {
                name: u.name.clone(),
                arch: u.arch.clone(),
                value,
            });
        }
    }
    p.deletes = existing.into_keys().collect();
    p
}

/// A 128-bit hash of everything in a report but its timing: equal hashes mean
/// "nothing changed since the previous report". A SipHash of all but the
/// installed inventory, then the inventory's own hash
/// ([`crate::inventory::hash`], one pass each over a report that may hold
/// 100,000 packages). Only the host's own report is compared with it: a
/// crafted collision can only hide that host's own change. A hash that changes
/// with a new Rust release costs one full (and correct) ingest per host.
pub(crate) fn content_hash(report: &Report) -> [u8; 16] {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    report.host.hash(&mut h);
    report.os.hash(&mut h);
    report.kernel.hash(&mut h);
    report.arch.hash(&mut h);
    report.manager.hash(&mut h);
    report.producer.hash(&mut h);
    let inv = &report.inventory;
    inv.updates.hash(&mut h);
    inv.installed_packages.hash(&mut h);
    inv.reboot.hash(&mut h);
    inv.metadata_updated_at.hash(&mut h);
    inv.security_metadata_available.hash(&mut h);
    inv.running_kernel.hash(&mut h);
    inv.esm_enabled.hash(&mut h);
    inv.running.hash(&mut h);
    inv.unentitled.hash(&mut h);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h.finish().to_le_bytes());
    if let Some(d) = crate::inventory::hash(report) {
        for (o, b) in out[8..].iter_mut().zip(&d) {
            *o = *b;
        }
    }
    out
}
