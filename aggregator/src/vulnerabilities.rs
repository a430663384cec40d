//! A host's vulnerabilities (`GET /api/v1/hosts/{hostname}/vulnerabilities`):
//! its stored inventory matched against the loaded feeds of its release, at
//! read time. A host no loaded feed covers (its release, or no inventory)
//! answers `"coverage": false` with the reason: unknown, never clean.
//!
//! Which releases a host is matched in: [`crate::releases::release_of`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use pakiti_report::Severity;
use pakiti_store::HostDetail;
use pakiti_vulns::{match_host, Finding, HostPackages, Index, KernelRole};

use crate::read::requested_host;
use crate::state::{error, ApiError, AppState};
use crate::web::iso;

/// Why a host is not covered, or its releases when it is.
fn coverage(d: &HostDetail) -> Result<crate::releases::Releases, String> {
    crate::releases::release_of(
        &d.summary.os_id,
        &d.summary.os_version,
        d.platform.codename.as_deref(),
        d.installed.is_some(),
    )
}

pub(crate) fn finding_json(f: &Finding) -> Value {
    json!({
        "id": f.id,
        "url": fleet_url(&f.id),
        // The advisory that fixed it, where the feed is one of advisories.
        "aliases": f.advisory.iter().collect::<Vec<_>>(),
        "package": f.package,
        "arch": f.arch,
        "installed_version": f.installed_version,
        "source_package": f.source_package,
        "source_version": f.source_version,
        "fixed_version": f.fixed_version,
        "status": f.status.as_str(),
        "fix_available": f.fix_available,
        "severity": f.severity.as_str(),
        "vendor_severity": f.vendor_severity,
        "kernel": match f.kernel {
            KernelRole::NotKernel => Value::Null,
            KernelRole::Running => "running".into(),
            KernelRole::NotRunning => "not_running".into(),
        },
        // Installed kernels that do not run are listed apart, not counted.
        "counted": f.kernel != KernelRole::NotRunning,
    })
}

/// What to fix first: counted ones, fixable now, by severity, then id.
fn order(f: &Finding) -> (bool, bool, usize, String, String) {
    let rank = Severity::ALL
        .iter()
        .position(|s| *s == f.severity)
        .unwrap_or(9);
    (
        f.kernel == KernelRole::NotRunning,
        !f.fix_available,
        rank,
        f.id.clone(),
        f.package.clone(),
    )
}

/// A host's vulnerabilities: the release a loaded feed covers, or why
/// none does (then there are no findings: unknown, not clean).
pub(crate) struct HostVulnerabilities {
    pub coverage: Result<String, String>,
    pub findings: Vec<Finding>,
    /// When each open finding was first seen, as the stored rematches
    /// recorded it, by (id, package, arch).
    pub first_seen: HashMap<(String, String, String), SystemTime>,
    /// (id, source package) fixed only in Ubuntu Pro, for a host without
    /// its sources: "fix needs ESM".
    pub needs_esm: HashSet<(String, String)>,
    /// The vendor whose tracker the ids link to.
    pub os_id: String,
    /// What is known and decided of each finding's vulnerability.
    pub decided: Decided,
}

/// A host's findings' priorities, exceptions and deadlines.
#[derive(Default)]
pub(crate) struct Decided {
    pub annotations: HashMap<String, crate::decisions::Annotation>,
    /// The host, its releases and version order, for exceptions.
    pub host: Option<(
        pakiti_store::HostSummary,
        Vec<String>,
        Option<pakiti_versions::Scheme>,
    )>,
    /// When each pending update's candidate was first reported, by (name, arch).
    pub fix_since: HashMap<(String, String), SystemTime>,
    pub deadlines: pakiti_decisions::Deadlines,
    pub now: Option<SystemTime>,
}

impl Decided {
    /// Fills a finding's `kev`, `epss`, `tags`, `exception` and `deadline`.
    fn fill(&self, f: &Finding, v: &mut Value) {
        let ann = self.annotations.get(&f.id).cloned().unwrap_or_default();
        let now = self.now.unwrap_or_else(crate::decisions::now);
        let covering = self.host.as_ref().and_then(|(h, chain, scheme)| {
            let t = crate::excepted::target(h, chain, *scheme, f);
            pakiti_decisions::exception::covering(&ann.exceptions, &t, now)
        });
        ann.fill(v, covering);
        let tags: Vec<String> = ann.tags.iter().map(|t| t.name.clone()).collect();
        let fix_since = f
            .fix_available
            .then(|| {
                self.fix_since
                    .get(&(f.package.clone(), f.arch.clone()))
                    .copied()
            })
            .flatten();
        let deadline = self.deadlines.of(&pakiti_decisions::deadline::Clock {
            severity: f.severity,
            tags: &tags,
            kev_due: ann.kev_due(),
            fix_since,
        });
        v["deadline"] = deadline.map(|d| iso(Some(d))).into();
        v["past_deadline"] = deadline.is_some_and(|d| d <= now).into();
    }
}

impl HostVulnerabilities {
    /// The findings as the API gives them.
    pub fn rows(&self) -> Vec<Value> {
        self.findings
            .iter()
            .map(|f| {
                let mut v = finding_json(f);
                v["url"] = vendor_url(&self.os_id, &f.id).into();
                v["fix_needs_esm"] = self
                    .needs_esm
                    .contains(&(f.id.clone(), f.source_package.clone()))
                    .into();
                let seen = self
                    .first_seen
                    .get(&(f.id.clone(), f.package.clone(), f.arch.clone()));
                v["first_seen"] = seen.map(|t| iso(Some(*t))).into();
                self.decided.fill(f, &mut v);
                v
            })
            .collect()
    }
}

/// Matches one host at read time, in what to fix first.
pub(crate) async fn of(
    state: &AppState,
    detail: &HostDetail,
) -> Result<HostVulnerabilities, ApiError> {
    let releases = match coverage(detail) {
        Ok(r) => r,
        Err(reason) => {
            return Ok(HostVulnerabilities {
                coverage: Err(reason),
                findings: Vec::new(),
                first_seen: HashMap::new(),
                needs_esm: HashSet::new(),
                os_id: detail.summary.os_id.to_string(),
                decided: Decided::default(),
            })
        }
    };
    let installed = detail.installed.clone().unwrap_or_default();
    let sources = crate::rematch::tracked(releases.scheme, &installed);
    let store = state.store.clone();
    let rel = releases.clone();
    let id = detail.summary.id;
    let (covered, records, stored) = tokio::task::spawn_blocking(move || {
        let mut records = Vec::new();
        for release in &rel.chain {
            records.extend(store.vulnerability_records(release, &sources)?);
        }
        Ok::<_, pakiti_store::StoreError>((
            rel.covered(&|r| store.covers_release(r))?,
            records,
            store.host_findings(id)?,
        ))
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    if !covered {
        return Ok(HostVulnerabilities {
            coverage: Err(crate::releases::not_loaded(&releases)),
            findings: Vec::new(),
            first_seen: HashMap::new(),
            needs_esm: HashSet::new(),
            os_id: detail.summary.os_id.to_string(),
            decided: Decided::default(),
        });
    }
    let candidates: HashMap<(String, String), String> = detail
        .updates
        .iter()
        .map(|u| {
            (
                (u.name.clone(), u.arch.clone()),
                u.candidate_version.clone(),
            )
        })
        .collect();
    let needs_esm = needs_esm(&records, &releases, detail.platform.esm_enabled);
    let host = HostPackages {
        scheme: releases.scheme,
        releases: &releases.chain,
        installed: &installed,
        candidates: &candidates,
        running_kernel: detail.platform.running_kernel.as_ref(),
    };
    let mut findings = match_host(&host, Index::new(records));
    findings.sort_by_key(order);
    let first_seen = stored
        .into_iter()
        .filter(|s| s.resolved_at.is_none())
        .map(|s| {
            (
                (s.finding.id, s.finding.package, s.finding.arch),
                s.first_seen,
            )
        })
        .collect();
    let ids: Vec<String> = findings.iter().map(|f| f.id.clone()).collect();
    let (store, book) = (state.store.clone(), state.decisions.clone());
    let now = crate::decisions::now();
    let annotations = tokio::task::spawn_blocking(move || {
        let loaded = crate::decisions::effective(&*store, &book)?;
        crate::decisions::annotations(&*store, &loaded, &ids, now)
    })
    .await
    .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let decided = Decided {
        annotations,
        host: Some((
            detail.summary.clone(),
            releases.chain.clone(),
            Some(releases.scheme),
        )),
        fix_since: detail
            .updates
            .iter()
            .map(|u| ((u.name.clone(), u.arch.clone()), u.candidate_first_seen))
            .collect(),
        deadlines: state.settings.deadlines.clone(),
        now: Some(now),
    };
    Ok(HostVulnerabilities {
        coverage: Ok(releases.release),
        findings,
        first_seen,
        needs_esm,
        os_id: detail.summary.os_id.to_string(),
        decided,
    })
}

/// Debian's tracker page for a vulnerability id.
pub(crate) fn tracker_url(id: &str) -> String {
    format!("https://security-tracker.debian.org/tracker/{id}")
}

/// The page of a vulnerability of the fleet, whose hosts may run several
/// distributions: the CVE record for a CVE, Debian's tracker for its
/// `TEMP-` ids, Arch's for its groups, OSV's page for an advisory's own id.
pub(crate) fn fleet_url(id: &str) -> String {
    if id.starts_with("CVE-") {
        format!("https://www.cve.org/CVERecord?id={id}")
    } else if id.starts_with("TEMP-") {
        tracker_url(id)
    } else if id.starts_with("AVG-") {
        vendor_url("arch", id)
    } else {
        format!("https://osv.dev/vulnerability/{id}")
    }
}

/// The page of the host's own vendor for a vulnerability id.
pub(crate) fn vendor_url(os_id: &str, id: &str) -> String {
    match os_id {
        "ubuntu" => format!("https://ubuntu.com/security/{id}"),
        "alpine" => format!("https://security.alpinelinux.org/vuln/{id}"),
        // The rebuilds publish their advisories to OSV, which has the CVE's.
        "almalinux" | "rocky" => format!("https://osv.dev/vulnerability/{id}"),
        "rhel" => format!("https://access.redhat.com/security/cve/{id}"),
        "sles" | "sled" | "sles_sap" | "opensuse-leap" => {
            format!("https://www.suse.com/security/cve/{id}/")
        }
        // Arch's tracker has a page per CVE and per group (AVG-…).
        "arch" => format!("https://security.archlinux.org/{id}"),
        _ => tracker_url(id),
    }
}

pub(crate) async fn host(
    State(state): State<AppState>,
    Path(hostname): Path<String>,
    Query(mut q): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    // `?tag=NAME`: only the vulnerabilities with that tag.
    let tag = q.remove("tag");
    if let Some(t) = &tag {
        pakiti_decisions::file::check_tag_name(t).map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    }
    let detail = requested_host(&state, &hostname, &q).await?;
    let v = of(&state, &detail).await?;
    let rows: Vec<Value> = v
        .rows()
        .into_iter()
        .filter(|r| {
            tag.as_ref().is_none_or(|t| {
                r["tags"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["name"] == t.as_str()))
            })
        })
        .collect();
    let mut out = json!({
        "hostname": detail.summary.hostname,
        "site": detail.summary.site,
        "coverage": v.coverage.is_ok(),
        "vulnerabilities": rows,
    });
    match &v.coverage {
        Ok(release) => out["release"] = release.as_str().into(),
        Err(reason) => out["reason"] = reason.as_str().into(),
    }
    Ok(Json(out).into_response())
}

/// Debian and Ubuntu hosts: the security updates apt could not rate (its
/// archive says "security", no more) get the severity and CVE ids of what they fix, from
/// the loaded feed: the records of the update's source package fixed in a
/// version its candidate reaches and its installed version does not. What
/// the exporter shows stays apt's. A store error leaves the report as it
/// came (logged): rating never refuses a report.
pub(crate) async fn rate_updates(state: &AppState, report: &mut pakiti_report::Report) {
    let Ok(releases) = crate::releases::release_of(
        &report.os.id,
        &report.os.version,
        report.os.codename.as_deref(),
        true,
    ) else {
        return;
    };
    let unrated: Vec<usize> = (0..report.inventory.updates.len())
        .filter(|i| report.inventory.updates[*i].security == Some(Severity::Unknown))
        .collect();
    if unrated.is_empty()
        || releases
            .chain
            .iter()
            .all(|r| state.covered.cached(r) == Some(false))
    {
        return;
    }
    let updates: Vec<pakiti_report::Update> = unrated
        .iter()
        .map(|i| report.inventory.updates[*i].clone())
        .collect();
    let sent: Option<Vec<pakiti_report::Installed>> = report.inventory.installed.clone();
    let (store, covered) = (state.store.clone(), state.covered.clone());
    let rated =
        tokio::task::spawn_blocking(move || rate(&*store, &covered, &releases, &updates, sent))
            .await;
    let rated = match rated {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "security updates not rated: the store did not answer");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "security updates not rated");
            return;
        }
    };
    for (i, (severity, cves)) in unrated.into_iter().zip(rated) {
        let u = &mut report.inventory.updates[i];
        u.security = Some(severity);
        let mut all: BTreeSet<String> = u.cves.drain(..).collect();
        all.extend(cves);
        u.cves = all.into_iter().collect();
    }
}

/// The severity and CVE ids of what each of `updates` fixes (blocking):
/// the records of its source package fixed in a version its candidate
/// reaches and its installed version does not; none where no loaded feed
/// covers the host's releases.
fn rate(
    store: &dyn pakiti_store::Store,
    covered: &crate::covered::Covered,
    releases: &crate::releases::Releases,
    updates: &[pakiti_report::Update],
    sent: Option<Vec<pakiti_report::Installed>>,
) -> Result<Vec<(Severity, Vec<String>)>, pakiti_store::StoreError> {
    if !releases.covered(&|r| covered.covers(store, r))? {
        return Ok(Vec::new());
    }
    let scheme = releases.scheme;
    // Each update's package as installed: from the report, else from
    // the packages stored for earlier reports.
    let installed: Vec<pakiti_report::Installed> = match sent {
        Some(list) => list,
        None => {
            let names: Vec<String> = updates.iter().map(|u| u.name.clone()).collect();
            store
                .package_sources(&names)?
                .into_iter()
                .map(|(name, arch, version, source)| pakiti_report::Installed {
                    source_name: source,
                    ..pakiti_report::Installed::new(&name, &version, &arch)
                })
                .collect()
        }
    };
    let tracked: Vec<String> = updates
        .iter()
        .map(|u| {
            installed
                .iter()
                .find(|p| p.name == u.name && p.arch == u.arch && p.version == u.installed_version)
                .map_or(u.name.clone(), |p| {
                    pakiti_vulns::tracked_as(scheme, p).0.to_string()
                })
        })
        .collect();
    let sources: Vec<String> = tracked
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut records = Vec::new();
    for release in &releases.chain {
        records.extend(store.vulnerability_records(release, &sources)?);
    }
    let index = Index::new(records);
    Ok::<_, pakiti_store::StoreError>(
        updates
            .iter()
            .zip(&tracked)
            .map(|(u, source)| fixes(&index, releases, source, u))
            .collect::<Vec<_>>(),
    )
}

/// What one update fixes: its worst severity and its CVE ids. A
/// vulnerability is decided by the first release with a record of it, as
/// in matching.
fn fixes(
    index: &Index,
    releases: &crate::releases::Releases,
    source: &str,
    u: &pakiti_report::Update,
) -> (Severity, Vec<String>) {
    let mut decided: HashSet<&str> = HashSet::new();
    let mut fixed = Vec::new();
    for release in &releases.chain {
        let of = index.of(release, source);
        fixed.extend(
            pakiti_vulns::fixed_by(
                releases.scheme,
                of,
                &u.installed_version,
                &u.candidate_version,
            )
            .into_iter()
            .filter(|r| !decided.contains(r.id.as_str())),
        );
        decided.extend(of.iter().map(|r| r.id.as_str()));
    }
    let cves: Vec<String> = fixed
        .iter()
        .map(|r| r.id.clone())
        .filter(|id| id.starts_with("CVE-"))
        .collect();
    (pakiti_vulns::worst(fixed.iter().map(|r| r.severity)), cves)
}

/// (id, source package) fixed in Ubuntu Pro and not in the release's own
/// archive, for a host without ESM sources: it cannot install that fix.
fn needs_esm(
    records: &[pakiti_vulns::Record],
    releases: &crate::releases::Releases,
    esm_enabled: Option<bool>,
) -> HashSet<(String, String)> {
    let fixed_in = |release: &str| -> HashSet<(String, String)> {
        records
            .iter()
            .filter(|r| r.release == release && matches!(r.status, pakiti_vulns::Status::Fixed(_)))
            .map(|r| (r.id.clone(), r.source_package.clone()))
            .collect()
    };
    match (&releases.pro, esm_enabled) {
        (Some(pro), esm) if esm != Some(true) => {
            let own = fixed_in(&releases.release);
            fixed_in(pro)
                .into_iter()
                .filter(|k| !own.contains(k))
                .collect()
        }
        _ => HashSet::new(),
    }
}
