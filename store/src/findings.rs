//! Vulnerability findings as both stores keep them: one row per host ×
//! vulnerability × installed package, open while the host is exposed, kept
//! with its resolution time once it is not (so exposure time is measured),
//! and the host's counts by severity and fix state beside its other counts.
//!
//! A host's findings are replaced by a rematch (its report, a feed import):
//! what is new opens with the rematch's time as first seen, what is gone is
//! resolved at it, what stayed keeps its first-seen time. A host no loaded
//! feed covers has no open findings and no counts: unknown, never clean.

use std::collections::HashMap;
use std::time::SystemTime;

use pakiti_report::{Installed, Severity};
use pakiti_vulns::{Finding, KernelRole};

use crate::{severity_index, HostSummary, Platform};

/// A finding with its exposure times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFinding {
    pub finding: Finding,
    pub first_seen: SystemTime,
    /// `None` while the host is exposed.
    pub resolved_at: Option<SystemTime>,
}

/// A host's open findings that count (not those of installed kernels that
/// do not run), by severity (indexed like [`Severity::ALL`]) and by whether
/// the host's own candidate versions already fix them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VulnCounts {
    pub fixable: [u32; 5],
    pub unfixable: [u32; 5],
}

impl VulnCounts {
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> VulnCounts {
        let mut c = VulnCounts::default();
        for f in findings {
            if f.kernel == KernelRole::NotRunning {
                continue;
            }
            let side = if f.fix_available {
                &mut c.fixable
            } else {
                &mut c.unfixable
            };
            side[severity_index(f.severity)] += 1;
        }
        c
    }

    pub fn total(&self) -> u32 {
        self.fixable.iter().chain(&self.unfixable).sum()
    }

    /// The column form: `fixable;unfixable`, each five numbers.
    pub(crate) fn column(&self) -> String {
        format!(
            "{};{}",
            crate::join5(&self.fixable),
            crate::join5(&self.unfixable)
        )
    }

    pub(crate) fn from_column(s: &str) -> VulnCounts {
        let (a, b) = s.split_once(';').unwrap_or((s, ""));
        VulnCounts {
            fixable: crate::split5(a),
            unfixable: crate::split5(b),
        }
    }
}

/// One vulnerability across the fleet: its hosts exposed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetVulnerability {
    pub id: String,
    /// The worst severity any exposed host has it with.
    pub severity: Severity,
    /// Hosts exposed (counted findings only).
    pub hosts: u64,
    /// Of those, hosts whose candidate versions already fix it.
    pub fixable_hosts: u64,
    pub source_packages: Vec<String>,
    /// When the first host still exposed was first seen exposed.
    pub first_seen: SystemTime,
}

/// A host with a finding of one vulnerability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedHost {
    pub hostname: String,
    pub site: Option<String>,
    pub finding: StoredFinding,
}

/// Where a page of exposed hosts resumes: host name, site ("" for none),
/// package, arch.
pub type ExposedKey = (String, String, String, String);

impl ExposedHost {
    pub fn key(&self) -> ExposedKey {
        (
            self.hostname.clone(),
            self.site.clone().unwrap_or_default(),
            self.finding.finding.package.clone(),
            self.finding.finding.arch.clone(),
        )
    }
}

/// A page of one vulnerability's open findings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExposedPage {
    pub rows: Vec<ExposedHost>,
    /// Open findings of it, on every page.
    pub findings: u64,
    /// Hosts with an open finding of it.
    pub hosts: u64,
}

/// What matching one host needs, read in one go.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchingInput {
    pub summary: HostSummary,
    /// The stored report's content hash: findings are written only while
    /// it is still the host's ([`crate::Store::put_findings`]).
    pub basis: Vec<u8>,
    /// `None`: the host sends no inventory.
    pub installed: Option<Vec<Installed>>,
    /// [`digest`] of the open findings the last rematch wrote (`None`: no
    /// rematch wrote any).
    pub findings_digest: Option<Vec<u8>>,
    /// Pending updates: (name, arch) → candidate version.
    pub candidates: HashMap<(String, String), String>,
    pub platform: Platform,
}

/// SHA-256 of a rematch's findings (each once, in key order, every field):
/// equal digests, equal open findings, so an unchanged rematch is skipped.
pub fn digest(findings: &[Finding]) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut keyed = one_per_key(findings);
    keyed.sort_by(|a, b| key(a).cmp(&key(b)));
    let mut sha = Sha256::new();
    for f in keyed {
        let (status, fixed) = crate::vulns::status_columns(&f.status);
        for field in [
            f.id.as_str(),
            &f.package,
            &f.arch,
            &f.installed_version,
            &f.source_package,
            &f.source_version,
            status,
            fixed.unwrap_or(""),
            if f.fix_available { "1" } else { "0" },
            f.severity.as_str(),
            f.vendor_severity.as_deref().unwrap_or(""),
            kernel_column(f.kernel).unwrap_or(""),
        ] {
            sha.update(field.as_bytes());
            sha.update([0]);
        }
        sha.update([b'\n']);
    }
    sha.finalize().to_vec()
}

/// The identity of a finding within its host.
pub(crate) type Key<'a> = (&'a str, &'a str, &'a str);

pub(crate) fn key(f: &Finding) -> Key<'_> {
    (&f.id, &f.package, &f.arch)
}

/// What a rematch writes: the findings new or changed (upserted; an
/// unchanged one is not written), and the keys of open findings that are
/// gone (resolved).
pub(crate) struct Plan<'a> {
    pub upsert: Vec<&'a Finding>,
    pub resolve: Vec<Key<'a>>,
}

/// The findings once per key (vulnerability, package, arch), in their
/// order: the first of each, but a counted one over an installed kernel
/// that does not run (the RPM family installs several versions of one
/// kernel package; the running one is what counts).
pub(crate) fn one_per_key(findings: &[Finding]) -> Vec<&Finding> {
    let mut at: foldhash::HashMap<Key<'_>, usize> = Default::default();
    let mut out: Vec<&Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match at.get(&key(f)) {
            None => {
                at.insert(key(f), out.len());
                out.push(f);
            }
            Some(&i) => {
                if out[i].kernel == KernelRole::NotRunning && f.kernel != KernelRole::NotRunning {
                    out[i] = f;
                }
            }
        }
    }
    out
}

/// Compares the host's open findings with the rematch's. A finding twice
/// in `new` is taken once ([`one_per_key`]).
pub(crate) fn plan<'a>(open: &'a [Finding], new: &'a [Finding]) -> Plan<'a> {
    let stored: foldhash::HashMap<Key<'_>, &Finding> = open.iter().map(|f| (key(f), f)).collect();
    let mut seen = foldhash::HashSet::default();
    let mut upsert = Vec::new();
    for f in one_per_key(new) {
        seen.insert(key(f));
        if stored.get(&key(f)) != Some(&f) {
            upsert.push(f);
        }
    }
    let resolve = open.iter().map(key).filter(|k| !seen.contains(k)).collect();
    Plan { upsert, resolve }
}

/// What a rematch's plan detects and resolves, by severity (in
/// `Severity::ALL` order): findings new to the host's open ones, and open
/// ones it resolves; installed kernels that do not run are not counted.
pub(crate) fn events(open: &[Finding], plan: &Plan<'_>) -> [(u64, u64); 5] {
    let stored: foldhash::HashSet<Key<'_>> = open.iter().map(key).collect();
    let resolved: foldhash::HashSet<&Key<'_>> = plan.resolve.iter().collect();
    let mut out = [(0u64, 0u64); 5];
    for f in &plan.upsert {
        if f.kernel != KernelRole::NotRunning && !stored.contains(&key(f)) {
            out[severity_index(f.severity)].0 += 1;
        }
    }
    for f in open {
        if f.kernel != KernelRole::NotRunning && resolved.contains(&key(f)) {
            out[severity_index(f.severity)].1 += 1;
        }
    }
    out
}

/// The `kernel` column.
pub(crate) fn kernel_column(k: KernelRole) -> Option<&'static str> {
    match k {
        KernelRole::NotKernel => None,
        KernelRole::Running => Some("running"),
        KernelRole::NotRunning => Some("not_running"),
    }
}

pub(crate) fn kernel_from(s: Option<&str>) -> Result<KernelRole, String> {
    match s {
        None => Ok(KernelRole::NotKernel),
        Some("running") => Ok(KernelRole::Running),
        Some("not_running") => Ok(KernelRole::NotRunning),
        Some(other) => Err(format!("stored kernel role {other:?}")),
    }
}

/// The worst of severities stored as text, joined by commas.
pub(crate) fn worst_of(joined: &str) -> Severity {
    pakiti_vulns::worst(joined.split(',').filter_map(|s| s.parse().ok()))
}

/// [`COLUMNS`] prefixed with a table alias.
pub(crate) fn columns_of(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a finding row, in this order, after `host_id`.
pub(crate) const COLUMNS: &str = "id, package, arch, installed_version, source_package, source_version, status, fixed_version, fix_available, severity, vendor_severity, kernel, first_seen, resolved_at";

/// A finding row's values as read, in [`COLUMNS`] order.
pub(crate) struct Row {
    pub id: String,
    pub package: String,
    pub arch: String,
    pub installed_version: String,
    pub source_package: String,
    pub source_version: String,
    pub status: String,
    pub fixed_version: Option<String>,
    pub fix_available: bool,
    pub severity: String,
    pub vendor_severity: Option<String>,
    pub kernel: Option<String>,
    pub first_seen: i64,
    pub resolved_at: Option<i64>,
}

impl Row {
    /// The row as a finding; a row no rematch could have written is an
    /// error, never a guess.
    pub(crate) fn finding(self) -> Result<StoredFinding, String> {
        let what = format!("finding {} of {}", self.id, self.package);
        let status = crate::vulns::status_from(&self.status, self.fixed_version.clone())
            .map_err(|(s, v)| format!("{what}: stored status {s:?} with fixed version {v:?}"))?;
        let severity: Severity = self
            .severity
            .parse()
            .map_err(|_| format!("{what}: stored severity {:?}", self.severity))?;
        let kernel = kernel_from(self.kernel.as_deref()).map_err(|e| format!("{what}: {e}"))?;
        Ok(StoredFinding {
            finding: Finding {
                id: self.id,
                package: self.package,
                arch: self.arch,
                installed_version: self.installed_version,
                source_package: self.source_package,
                source_version: self.source_version,
                status,
                fixed_version: self.fixed_version,
                fix_available: self.fix_available,
                severity,
                vendor_severity: self.vendor_severity,
                // Not stored: the host's own list matches live and names it.
                advisory: None,
                kernel,
            },
            first_seen: crate::from_millis(self.first_seen),
            resolved_at: self.resolved_at.map(crate::from_millis),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pakiti_vulns::Status;

    fn f(id: &str, package: &str, fix: bool) -> Finding {
        Finding {
            id: id.into(),
            package: package.into(),
            arch: "amd64".into(),
            installed_version: "1".into(),
            source_package: package.into(),
            source_version: "1".into(),
            status: Status::Fixed("2".into()),
            fixed_version: Some("2".into()),
            fix_available: fix,
            severity: Severity::Important,
            vendor_severity: Some("high".into()),
            advisory: None,
            kernel: KernelRole::NotKernel,
        }
    }

    #[test]
    fn a_rematch_writes_only_what_changed() {
        let open = [f("CVE-1", "a", false), f("CVE-2", "a", false)];
        let new = [
            f("CVE-1", "a", false),
            f("CVE-2", "a", true),
            f("CVE-3", "b", false),
            f("CVE-3", "b", false),
        ];
        let p = plan(&open, &new);
        let ids: Vec<&str> = p.upsert.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["CVE-2", "CVE-3"], "unchanged CVE-1 is not written");
        assert!(p.resolve.is_empty());
        let p = plan(&open, &new[1..3]);
        assert_eq!(p.resolve, [("CVE-1", "a", "amd64")], "gone: resolved");
        assert_eq!(p.upsert.len(), 2);
    }

    #[test]
    fn the_digest_follows_the_findings_not_their_order() {
        let a = [f("CVE-1", "a", false), f("CVE-2", "b", true)];
        let b = [
            f("CVE-2", "b", true),
            f("CVE-1", "a", false),
            f("CVE-1", "a", false),
        ];
        assert_eq!(digest(&a), digest(&b));
        let mut c = a.clone();
        c[1].fix_available = false;
        assert_ne!(digest(&a), digest(&c), "every field counts");
        assert_ne!(digest(&a), digest(&a[..1]));
    }

    #[test]
    fn counts_leave_out_kernels_that_do_not_run() {
        let mut k = f("CVE-9", "linux-image-6.1.0-17-amd64", false);
        k.kernel = KernelRole::NotRunning;
        let mut low = f("CVE-4", "c", false);
        low.severity = Severity::Low;
        let c = VulnCounts::of(&[f("CVE-1", "a", true), low, k]);
        assert_eq!(c.fixable, [0, 1, 0, 0, 0]);
        assert_eq!(c.unfixable, [0, 0, 0, 1, 0]);
        assert_eq!(c.total(), 2);
        assert_eq!(VulnCounts::from_column(&c.column()), c);
        assert_eq!(worst_of("low,important,unknown"), Severity::Important);
    }

    #[test]
    fn of_one_kernel_package_in_several_versions_the_running_one_is_kept() {
        let mut old = f("CVE-9", "kernel-core", false);
        old.kernel = KernelRole::NotRunning;
        old.installed_version = "5.14.0-427.13.1.el9_4".into();
        let mut running = old.clone();
        running.kernel = KernelRole::Running;
        running.installed_version = "5.14.0-427.31.1.el9_4".into();
        let new = [old.clone(), running.clone()];
        let p = plan(&[], &new);
        assert_eq!(p.upsert, [&running]);
        assert_eq!(digest(&new), digest(&[running.clone()]));
        // Stored as running, matched again: nothing to write.
        assert!(plan(&[running.clone()], &new).upsert.is_empty());
    }
}
